//! The one integration-test binary (links the library once instead of once per file): each
//! module tests one area against real processes, sockets and the emulator; `support` is shared.
//! Run one area with a filter: `cargo test --test it emulator::` (a module) or one test by name.

mod agent;
mod agent_bench;
mod agent_process;
mod agent_window;
mod cli;
#[cfg(target_os = "linux")] // WebKitGTK's client-certificate path and SoftHSM2
mod client_cert;
mod closed_stdio;
mod desktop;
mod desktop_confirm;
mod desktop_pipe;
mod dialog;
mod doctor;
mod emulator;
mod failover;
// The window's start under Xvfb, and the certificates allowed ahead: WebKitGTK's.
#[cfg(target_os = "linux")]
mod first_request;
mod hostile;
#[cfg(target_os = "linux")]
mod kerberos;
mod login;
mod notify;
mod notify_bench;
mod notify_bosh;
mod notify_nonsso;
mod notify_watch;
#[cfg(target_os = "linux")]
mod placement;
#[cfg(target_os = "linux")]
mod popup;
mod properties;
mod proxy;
mod refresh;
#[cfg(target_os = "linux")]
mod rendering;
mod secrets;
mod security_cli;
mod security_jwt;
mod security_key;
mod security_lifetimes;
mod security_pipe;
mod security_settings;
mod security_state;
#[cfg(unix)] // its window program wrapper is a shell script
mod silent;
mod state_faults;
mod support;
mod throttle;
mod vpnless;
