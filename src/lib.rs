//! finesse-sso: acquire Cisco Finesse SSO tokens in an embedded browser and hand them to thick clients.
//!
//! See `docs/architecture.md` for how the modules fit together.

// Stdout is the API and often outlives its reader: lines go through `stdio`, because the print
// macros panic when the reader has gone.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod agent;
pub mod cli;
pub mod client_cert;
pub mod commands;
pub mod config;
pub mod dirs;
pub mod doctor;
pub mod error;
pub mod finesse;
pub mod flow;
pub mod http;
pub mod ipc;
pub mod jwt;
pub mod logging;
pub mod machine_file;
pub mod notify;
pub mod prompt;
pub mod proxy;
pub mod redact;
pub mod signin;
pub mod stdio;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wallclock;
pub mod websession;
pub mod window;
pub mod winsec;
