//! The local pipe between our background agent and its clients: wire types, transport, client.

pub mod acqueon;
pub mod client;
pub mod desktop;
pub mod events;
mod plain_token;
pub mod protocol;
pub mod stream;
pub mod transport;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;
