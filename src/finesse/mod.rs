//! The Finesse + IdS client side: server URLs, auth-mode discovery, token responses, refresh,
//! and the User API (sign-in, state, reason codes).

/// Path of Finesse's Fetch Access Token endpoint.
pub const TOKEN_PATH: &str = "/desktop/sso/token";

pub mod address;
pub mod client;
pub mod sides;
pub mod token_response;
pub mod user;
pub mod user_api;
pub mod user_xml;
pub mod xml;
