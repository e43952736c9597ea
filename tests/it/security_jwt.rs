//! Issue 12, finding 8: `finesse-sso decode --public-key` against a token the emulator really
//! signed: its own served key verifies it; another valid key, `alg` confusion (HS256 keyed
//! with the public key) and `alg: none` do not (exit 10, shown as `invalid`).

use crate::support;

use std::path::Path;
use std::time::Duration;

use crate::support::run_with_stdin;
use base64::Engine as _;
use finesse_sso::flow::Flow;
use finesse_sso::http::HttpOptions;
use finesse_sso::testing::HttpDriver;
use finesse_sso_emulator::Emulator;

fn opts(e: &Emulator) -> HttpOptions {
    HttpOptions {
        ca_pem: e.ca_pem().map(|p| p.as_bytes().to_vec()),
        timeout: Some(Duration::from_secs(20)),
        ..Default::default()
    }
}

/// The PEM public key the emulated IdS serves for its tokens.
async fn served_key(e: &Emulator) -> String {
    let c = finesse_sso::http::client(&opts(e), None).unwrap();
    let r = c
        .get(e.ids_url().join("/ids/v1/keys/token/public").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pem = r.text().await.unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    pem
}

/// `decode --json --public-key <pem>` with the token on stdin: (exit code, stdout JSON).
fn decode(dir: &Path, name: &str, pem: &str, token: &str) -> (Option<i32>, serde_json::Value) {
    let key = dir.join(name);
    std::fs::write(&key, pem).unwrap();
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_finesse-sso"));
    c.env("FINESSE_SSO_HOME", dir.join("home"))
        .args(["decode", "--json", "--public-key"])
        .arg(&key);
    let o = run_with_stdin(&mut c, token);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains(token), "the token reached stderr");
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); stderr: {stderr}"));
    (o.status.code(), v)
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[tokio::test]
async fn signatures_verify_only_with_the_issuers_key_and_algorithm() {
    let emu = support::emulator(&[]).await;
    // A second emulator has its own RSA key pair: another valid key, not the issuer's.
    let other = support::emulator(&[]).await;
    let d = HttpDriver::new(&opts(&emu), Some(("agent1".into(), "demo-password".into()))).unwrap();
    let t = d
        .sign_in(&mut Flow::new(emu.finesse_url()), "agent1")
        .await
        .unwrap();
    let token = t.token.expose().clone();
    let (good, wrong) = (served_key(&emu).await, served_key(&other).await);
    assert_ne!(good, wrong);
    let dir = tempfile::tempdir().unwrap();

    let (code, v) = decode(dir.path(), "good.pem", &good, &token);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["signature"], "verified");
    assert_eq!(v["claims"]["sub"]["user_id"], "agent1");
    assert_eq!(v["header"]["alg"], "RS256");

    let (code, v) = decode(dir.path(), "other.pem", &wrong, &token);
    assert_eq!(code, Some(10), "another valid key: {v}");
    assert_eq!(v["signature"], "invalid");

    // The token with one payload byte changed, under the issuer's key.
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let last = payload.len() - 2;
    payload[last] ^= 0x01;
    let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    let (code, _) = decode(dir.path(), "good.pem", &good, &tampered);
    assert_eq!(code, Some(10), "a changed payload");

    // `alg` confusion: HS256 keyed with the issuer's public key bytes, which anyone can fetch.
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(good.as_bytes()),
    )
    .unwrap();
    let (code, v) = decode(dir.path(), "good.pem", &good, &confused);
    assert_eq!(code, Some(10), "HS256 with the public key as secret: {v}");
    assert_ne!(v["signature"], "verified");

    // `alg: none`, with the real claims, without and with the real signature.
    let none = b64(br#"{"alg":"none","typ":"JWT"}"#);
    for forged in [
        format!("{none}.{}.", parts[1]),
        format!("{none}.{}.{}", parts[1], parts[2]),
    ] {
        let (code, v) = decode(dir.path(), "good.pem", &good, &forged);
        assert_eq!(code, Some(10), "alg none: {v}");
        assert_ne!(v["signature"], "verified");
    }
    emu.shutdown().await;
    other.shutdown().await;
}
