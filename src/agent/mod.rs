//! The token agent: keeps one profile's token fresh in memory and serves it to the user's
//! local clients over the private pipe (`ipc`). See `docs/protocol.md` and `docs/security.md`.

pub mod clock;
pub mod connection;
pub mod desktop;
pub mod held;
pub mod instance;
pub mod keeper;
pub mod policy;
#[cfg(test)]
mod properties;
pub mod runner;
pub mod server;
#[cfg(test)]
mod tests;

pub use keeper::{Keeper, KeeperOptions, Refresher, Trigger};
pub use server::{ServeOptions, Server};
