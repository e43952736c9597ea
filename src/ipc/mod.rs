//! The local pipe between the agent and its clients: wire types, transport, client.

pub mod acqueon;
pub mod client;
pub mod desktop;
pub mod protocol;
pub mod transport;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;
