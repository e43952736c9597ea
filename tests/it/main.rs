//! The one integration-test binary (links the library once instead of once per file): each
//! module tests one area against real processes, sockets and the emulator; `support` is shared.
//! Run one area with a filter: `cargo test --test it emulator::` (a module) or one test by name.

mod agent;
mod agent_bench;
mod agent_process;
mod agent_window;
mod cli;
mod closed_stdio;
mod desktop;
mod desktop_pipe;
mod doctor;
mod emulator;
mod hostile;
mod login;
mod notify;
mod notify_watch;
mod properties;
mod refresh;
mod secrets;
mod security_cli;
mod security_jwt;
mod security_lifetimes;
mod security_pipe;
mod security_settings;
mod security_state;
mod state_faults;
mod support;
