//! Our background agent process (`finesse-sso agent`): keeps one profile's token fresh in
//! memory and serves it to the user's local clients over the private pipe (`ipc`). See
//! `docs/protocol.md` and `docs/security.md`. In this module "agent" is always this process,
//! never a Finesse agent (a contact-center person signed in at an extension).

pub mod answer;
pub mod calls;
pub mod clock;
mod confirm;
pub mod connection;
pub mod desktop;
pub mod feed;
pub mod held;
pub mod instance;
pub mod keeper;
pub mod listener;
pub mod notifications;
mod out;
pub mod policy;
#[cfg(test)]
mod properties;
pub mod push;
pub mod runner;
pub mod side;
#[cfg(test)]
mod tests;

pub use keeper::{Keeper, KeeperOptions, Refresher, Trigger};
pub use listener::{AgentListener, ServeOptions};
