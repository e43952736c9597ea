//! finesse-sso: acquire Cisco Finesse SSO tokens in an embedded browser and hand them to thick clients.
//!
//! See `docs/architecture.md` for how the modules fit together.

pub mod browser;
pub mod commands;
pub mod emulator;
pub mod finesse;
pub mod flow;
pub mod http;
pub mod redact;
