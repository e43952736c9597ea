//! finesse-sso: acquire Cisco Finesse SSO tokens in an embedded browser and hand them to thick clients.
//!
//! See `docs/architecture.md` for how the modules fit together.

pub mod agent;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dirs;
pub mod error;
pub mod finesse;
pub mod flow;
pub mod http;
pub mod ipc;
pub mod jwt;
pub mod logging;
pub mod machine_file;
pub mod redact;
pub mod signin;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wallclock;
pub mod websession;
pub mod window;
pub mod winsec;
