//! Fuzzes Finesse's token JSON parser (`TokenResponse::parse`): no panic, what it accepts obeys
//! the documented rules, and what it accepts goes through the agent's lifecycle maths and the
//! printed output without a panic (a huge `expires_in` once overflowed `Instant + Duration`).
#![no_main]

use std::time::{Duration, Instant};

use finesse_sso::agent::held::Held;
use finesse_sso::cli::OutputFormat;
use finesse_sso::commands::output;
use finesse_sso::finesse::token_response::{
    MAX_EXPIRES_IN, MAX_TOKEN_RESPONSE_BYTES, TokenResponse,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = TokenResponse::parse(data) {
        assert!(data.len() <= MAX_TOKEN_RESPONSE_BYTES);
        assert!(t.expires_in > 0 && t.expires_in <= MAX_EXPIRES_IN);
        let tok = t.token.expose();
        assert!(!tok.is_empty() && tok.bytes().all(|b| b.is_ascii_graphic()));
        // What we accept survives our own serialisation (the window's outcome line).
        let again = TokenResponse::parse(&serde_json::to_vec(&t).unwrap()).unwrap();
        assert_eq!(again, t);

        // The agent's maths on it: held, refreshed at 75 %, reported, at any wall clock.
        let mut eight = [0u8; 8];
        for (d, s) in eight.iter_mut().zip(data) {
            *d = *s;
        }
        let wall = i64::from_le_bytes(eight);
        let now = Instant::now();
        let h = Held::from_response(t.clone(), None, now, wall, 1);
        assert!(h.refresh_due() <= h.expires_at());
        for later in [Duration::ZERO, h.lifetime / 2, h.lifetime, Duration::from_secs(MAX_EXPIRES_IN)] {
            let at = now + later;
            let info = h.info(at, wall, "https://f.example:8445");
            assert!(info.expires_in <= info.lifetime);
            let _ = h.valid_for(at, Duration::from_secs(info.expires_in));
        }
        // What `login` and `token` print.
        // (The `Url` type is inferred from `write`: the fuzz crate does not name `url` itself.)
        let server = serde_json::from_value(serde_json::json!("https://f.example:8445/")).unwrap();
        for f in [OutputFormat::Json, OutputFormat::Env] {
            let mut out = Vec::new();
            output::write(&mut out, f, &t, &server, output::expires_at(wall, t.expires_in)).unwrap();
        }
    }
});
