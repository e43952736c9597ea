//! The Finesse + IdS client side: URLs, auth-mode discovery, token responses, refresh.

pub mod token_response;
