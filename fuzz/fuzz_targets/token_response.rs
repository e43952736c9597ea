//! Fuzzes Finesse's token JSON parser (`TokenResponse::parse`): no panic, and what it accepts
//! obeys the documented rules.
#![no_main]

use finesse_sso::finesse::token_response::{MAX_TOKEN_RESPONSE_BYTES, TokenResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = TokenResponse::parse(data) {
        assert!(data.len() <= MAX_TOKEN_RESPONSE_BYTES);
        assert!(t.expires_in > 0);
        let tok = t.token.expose();
        assert!(!tok.is_empty() && tok.bytes().all(|b| b.is_ascii_graphic()));
        // What we accept survives our own serialisation (the window's outcome line).
        let again = TokenResponse::parse(&serde_json::to_vec(&t).unwrap()).unwrap();
        assert_eq!(again, t);
    }
});
