//! The Finesse + IdS client side: server addresses, auth-mode discovery, token responses, refresh.

pub mod address;
pub mod client;
pub mod token_response;
pub mod xml;
