//! Fuzzes the JWT decoder: the raw input as a token, and the input split into a header and a
//! payload that are base64url-encoded into a compact JWS, so the fuzzer reaches the claims and
//! Cisco's nested `sub` JSON without having to learn base64. Also `decode_verified` with a key.
#![no_main]

use base64::Engine as _;
use finesse_sso::jwt;
use libfuzzer_sys::fuzz_target;

/// A fixed RSA public key (SPKI PEM), 2048 bits; signatures from the fuzzer never verify.
const KEY: &[u8] = include_bytes!("../keys/rsa_public.pem");

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let d = jwt::decode(&raw);
    assert!(d.jwt || d.reason.is_some());

    let (header, payload) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&br#"{"alg":"RS256","cty":"JWT"}"#[..], data),
    };
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let token = format!("{}.{}.c2ln", b64(header), b64(payload));
    let d = jwt::decode(&token);
    if d.jwt {
        assert!(d.claims.as_ref().is_some_and(|c| c.is_object()));
        // `exp` is whatever the issuer wrote: describing it never overflows.
        if let Some(exp) = d.expires_at {
            for now in [i64::MIN, 0, i64::MAX] {
                assert!(!jwt::describe_expiry(exp, now).is_empty());
            }
        }
        // The decoded form never carries the token itself.
        let shown = serde_json::to_string(&d).unwrap();
        assert!(!shown.contains(&token));
    }
    // Never "verified": the fuzzer does not hold the private key.
    if let Ok(v) = jwt::decode_verified(&token, KEY) {
        panic!("forged token verified: {:?}", v.header);
    }
    let _ = jwt::decode_verified(&raw, KEY).map(|v| panic!("verified: {:?}", v.header));
});
