//! The binary's contract without a server: help, version, exit-code table, decode, early failures.

use crate::support::run_with_stdin;
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finesse-sso"));
    let home = std::env::temp_dir().join(format!("finesse-sso-cli-{}", std::process::id()));
    c.env("FINESSE_SSO_HOME", home)
        .env_remove("FINESSE_SSO_SERVER")
        .env_remove("FINESSE_SSO_USER");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_and_version() {
    let o = bin().arg("--help").output().unwrap();
    assert!(o.status.success());
    for verb in ["login", "decode", "emulate"] {
        assert!(text(&o.stdout).contains(verb), "help lacks {verb}");
    }
    assert!(
        !text(&o.stdout).contains("webview"),
        "the internal verb is hidden"
    );
    let o = bin().arg("--version").output().unwrap();
    assert_eq!(
        text(&o.stdout).trim(),
        format!("finesse-sso {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn exit_code_table_matches_readme() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let o = bin().arg("exit-codes").output().unwrap();
    assert!(o.status.success());
    let listed = text(&o.stdout);
    assert!(listed.lines().count() >= 14);
    for line in listed.lines() {
        let (code, meaning) = line.trim().split_once("  ").unwrap();
        let row = format!("| {code} | {} |", meaning.trim());
        assert!(readme.contains(&row), "README lacks the row {row:?}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let o = bin()
        .args([
            "login",
            "--server",
            "http://finesse.example.com",
            "--user",
            "a",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("plain http is refused"));
    let o = bin()
        .args(["login", "--server", "finesse.example.com"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--user is required"));
    let o = bin().args(["login", "--bogus"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = bin()
        .args([
            "login",
            "--server",
            "x.example",
            "--user",
            "a",
            "--ca-file",
            "/nonexistent/ca.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("/nonexistent/ca.pem"));
    assert!(o.stdout.is_empty());
}

#[test]
fn unreachable_server_names_host_and_step() {
    // A port we just closed: connection refused, deterministic and local.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = bin()
        .args([
            "login",
            "--server",
            &format!("https://127.0.0.1:{port}"),
            "--user",
            "agent1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("SystemInfo"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn decode_cisco_token_from_stdin_as_json() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let sub = r#"{"user_id":"sjefferson","expiry":4102444800000,"usage":"access"}"#;
    let jwt = format!(
        "{}.{}.c2ln",
        b64(r#"{"cty":"JWT","alg":"RS256"}"#),
        b64(&serde_json::json!({"iss":"ids","sub":sub,"iat":1}).to_string())
    );
    let o = run_with_stdin(bin().arg("decode"), &format!("Bearer {jwt}\n"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["claims"]["sub"]["user_id"], "sjefferson");
    assert_eq!(v["signature"], "unverified");
    assert_eq!(v["expires_at"], 4102444800i64);
    assert_eq!(v["expired"], false);
}

#[test]
fn decode_opaque_and_bad_key() {
    let o = run_with_stdin(bin().arg("decode"), "not-a-jwt-at-all");
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["jwt"], false);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    std::fs::write(&key, "garbage").unwrap();
    let o = run_with_stdin(bin().args(["decode", "--public-key"]).arg(&key), "a.b.c");
    assert_ne!(o.status.code(), Some(0));
    let o = run_with_stdin(bin().arg("decode"), "");
    assert_eq!(o.status.code(), Some(2));
}
