//! The emulator-driving HTTP test driver for tests on every platform: its HTTP options (trusting
//! the emulator's CA) and a token pair through the emulator's whole SSO chain.

use std::time::Duration;

use finesse_sso::finesse::token_response::TokenResponse;
use finesse_sso::flow::Flow;
use finesse_sso::http::HttpOptions;
use finesse_sso::testing::HttpDriver;
use finesse_sso_emulator::Emulator;

pub fn http_options(emu: &Emulator) -> HttpOptions {
    HttpOptions {
        ca_pem: emu.ca_pem().map(|p| p.as_bytes().to_vec()),
        timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    }
}

/// A token pair for `user` through the emulator's whole SSO chain (HTTP driver).
pub async fn token(emu: &Emulator, user: &str, password: &str) -> TokenResponse {
    let d = HttpDriver::new(&http_options(emu), Some((user.into(), password.into()))).unwrap();
    d.sign_in(&mut Flow::new(emu.finesse_url()), user)
        .await
        .unwrap()
}
