//! The Finesse + IdS client side: server URLs, auth-mode discovery, token responses, refresh.

pub mod client;
pub mod server;
pub mod token_response;
pub mod xml;
