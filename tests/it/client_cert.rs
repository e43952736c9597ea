//! Client certificates and smart cards at the IdP (issue 14, item 2), in the real window
//! (WebKitGTK on a private Xvfb) against the emulator's certificate host
//! (`--idp-login client-cert`): a PEM file, a PKCS#12 file, a SoftHSM2 smart card with its PIN
//! from `--pin-stdin` (through `login` and through a background agent), a wrong PIN, a
//! certificate from another CA, and none configured.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support;
use crate::support::softhsm::{SoftHsm, TestCa, write_pem, write_pkcs12};
use finesse_sso_emulator::Emulator;

const PIN: &str = "471193";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The emulator with the certificate host trusting `ca`.
async fn emulator(dir: &Path, ca: &TestCa) -> Emulator {
    let ca_file = dir.join("client-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    support::emulator(&[
        "--idp-login",
        "client-cert",
        "--idp-client-ca",
        ca_file.to_str().unwrap(),
    ])
    .await
}

/// Writes the user's config.toml under `home` with this `[client_certificate]` body.
fn configure(home: &Path, table: &str) {
    let dir = home.join("config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("[client_certificate]\n{table}\n"),
    )
    .unwrap();
}

/// `finesse-sso -vvv login --non-interactive` with no display: the product starts its own Xvfb.
fn login(home: &Path, emu: &Emulator, extra: &[&str]) -> Command {
    let mut c = support::login_command(home, emu, "agent1", &["--non-interactive"]);
    c.arg("--timeout").arg("60").args(extra);
    c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    c.arg("-vvv");
    c
}

async fn run_with_stdin(mut c: Command, input: &'static str) -> Output {
    tokio::task::spawn_blocking(move || support::run_with_stdin(&mut c, input))
        .await
        .unwrap()
}

/// The token JSON on success, after checking the emulator issued it through the certificate.
fn signed_in(o: &Output, emu: &Emulator) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let token = v["token"].as_str().unwrap().to_string();
    assert_eq!(emu.issued_access_tokens(), vec![token]);
    assert_eq!(v["user_id"], "agent1");
    assert_eq!(
        emu.request_count("/idp/certauth"),
        1,
        "signed in by certificate"
    );
    assert_eq!(emu.request_count("/idp/login"), 0, "no password form");
    v
}

/// No secret (the PIN or password) on stderr (at -vvv) or in the home's files.
fn nowhere(o: &Output, home: &Path, secrets: &[&str]) {
    let err = text(&o.stderr);
    assert!(err.contains("TRACE") || err.contains("DEBUG"), "-vvv ran");
    nowhere_in(&err, home, secrets);
}

fn nowhere_in(err: &str, home: &Path, secrets: &[&str]) {
    for s in secrets {
        assert!(!err.contains(s), "a secret on stderr");
        for f in support::files_under(home) {
            let bytes = std::fs::read(&f).unwrap_or_default();
            assert!(!text(&bytes).contains(s), "a secret in {}", f.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_pem_certificate_file_signs_in_with_no_window_and_no_password() {
    support::need_xvfb();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Contoso Issuing CA");
    let emu = emulator(dir.path(), &ca).await;
    let home = tempfile::tempdir().unwrap();
    let pem = write_pem(dir.path(), "agent1.pem", &ca.client("agent1"));
    configure(home.path(), &format!("file = {:?}", pem.to_str().unwrap()));
    let o = support::output(login(home.path(), &emu, &[])).await;
    signed_in(&o, &emu);
    assert!(text(&o.stderr).contains("asks for a client certificate"));
    assert_eq!(emu.client_cert_refusals(), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_pkcs12_file_opens_with_its_password_from_stdin() {
    support::need_xvfb();
    support::softhsm::need_smart_card_tools();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Contoso Issuing CA");
    let emu = emulator(dir.path(), &ca).await;
    let home = tempfile::tempdir().unwrap();
    let p12 = write_pkcs12(
        dir.path(),
        "agent1.p12",
        &ca.client("agent1"),
        "P12-pass-8812",
    );
    // Relative to the config file's directory, as `ca_file` is.
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::copy(&p12, home.path().join("config/agent1.p12")).unwrap();
    configure(home.path(), "file = \"agent1.p12\"");
    let o = run_with_stdin(
        login(home.path(), &emu, &["--pin-stdin"]),
        "P12-pass-8812\n",
    )
    .await;
    signed_in(&o, &emu);
    nowhere(&o, home.path(), &["P12-pass-8812"]);

    // Without the password: a clear error naming the way to give it, exit 20.
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(other.path().join("config")).unwrap();
    std::fs::copy(&p12, other.path().join("config/agent1.p12")).unwrap();
    configure(other.path(), "file = \"agent1.p12\"");
    let o = support::output(login(other.path(), &emu, &[])).await;
    assert_eq!(o.status.code(), Some(20), "stderr: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("--pin-stdin"),
        "{}",
        text(&o.stderr)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_smart_card_signs_in_with_its_pin_from_stdin() {
    support::need_xvfb();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Contoso Issuing CA");
    let emu = emulator(dir.path(), &ca).await;
    let card = SoftHsm::new(
        dir.path(),
        "finesse-card",
        "agent1",
        PIN,
        &ca.client("agent1"),
    );
    let home = tempfile::tempdir().unwrap();
    configure(home.path(), &format!("pkcs11_uri = {:?}", card.uri));
    let mut c = login(home.path(), &emu, &["--pin-stdin"]);
    card.configure(&mut c);
    let o = run_with_stdin(c, "471193\n").await;
    signed_in(&o, &emu);
    nowhere(&o, home.path(), &[PIN]);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_wrong_pin_is_offered_once_and_ends_the_sign_in_clearly() {
    support::need_xvfb();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Contoso Issuing CA");
    let emu = emulator(dir.path(), &ca).await;
    let card = SoftHsm::new(
        dir.path(),
        "finesse-card",
        "agent1",
        PIN,
        &ca.client("agent1"),
    );
    // No PIN at all: the card's request ends the sign-in, naming how to give one (exit 20).
    let home = tempfile::tempdir().unwrap();
    configure(home.path(), &format!("pkcs11_uri = {:?}", card.uri));
    let mut c = login(home.path(), &emu, &[]);
    card.configure(&mut c);
    let o = support::output(c).await;
    assert_eq!(o.status.code(), Some(20), "stderr: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("needs its PIN"),
        "{}",
        text(&o.stderr)
    );
    // The wrong PIN on a card of its own: after a sign-in through one SoftHSM2 token, later
    // processes sometimes could not list its certificate at all, even 10 s on (root cause not
    // found; a one-sign-in-per-token setup never showed it). One token per sign-in here, as
    // in every other smart-card test.
    let card_dir = dir.path().join("second-card");
    std::fs::create_dir_all(&card_dir).unwrap();
    let card = SoftHsm::new(
        &card_dir,
        "finesse-card",
        "agent1",
        PIN,
        &ca.client("agent1"),
    );
    let home = tempfile::tempdir().unwrap();
    configure(home.path(), &format!("pkcs11_uri = {:?}", card.uri));
    let mut c = login(home.path(), &emu, &["--pin-stdin"]);
    card.configure(&mut c);
    let started = Instant::now();
    let o = run_with_stdin(c, "000000\n").await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(13), "stderr: {err}");
    assert!(err.contains("refused the PIN"), "{err}");
    assert!(err.contains("not tried again"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "no hang: {:?}",
        started.elapsed()
    );
    // One PIN offered, whatever the engine asked afterwards: no loop toward the card's lockout.
    assert_eq!(err.matches("answering the PIN request").count(), 1, "{err}");
    assert!(!err.contains("000000"), "the wrong PIN on stderr");
    assert!(emu.issued_access_tokens().is_empty());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn no_certificate_or_a_foreign_one_is_a_clear_error() {
    support::need_xvfb();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Contoso Issuing CA");
    let emu = emulator(dir.path(), &ca).await;

    // None configured: the sign-in stops at the certificate host's request (exit 2).
    let home = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let o = support::output(login(home.path(), &emu, &[])).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.contains("asks for a client certificate and none is configured")
            && err.contains("[client_certificate]"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(45), "no hang");

    // One from a CA the IdP does not trust: refused in the handshake, named as such (exit 13).
    let foreign = TestCa::new("Fabrikam CA");
    let pem = write_pem(dir.path(), "foreign.pem", &foreign.client("agent1"));
    let home = tempfile::tempdir().unwrap();
    configure(home.path(), &format!("file = {:?}", pem.to_str().unwrap()));
    let o = support::output(login(home.path(), &emu, &[])).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(13), "stderr: {err}");
    assert!(err.contains("client certificate was refused"), "{err}");
    assert!(emu.client_cert_refusals() >= 1);
    assert!(emu.issued_access_tokens().is_empty());
    emu.shutdown().await;
}

/// The agent path: `token --pin-stdin` starts a background agent and hands it the PIN on its
/// stdin; the agent signs in with the card. The PIN is in no argument of any process.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn token_hands_the_pin_to_the_agent_it_starts() {
    support::need_display();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Contoso Issuing CA");
    let emu = emulator(dir.path(), &ca).await;
    let card = SoftHsm::new(
        dir.path(),
        "finesse-card",
        "agent1",
        PIN,
        &ca.client("agent1"),
    );
    let home = tempfile::tempdir().unwrap();
    configure(home.path(), &format!("pkcs11_uri = {:?}", card.uri));
    let mut c = support::cli(home.path());
    card.configure(&mut c);
    c.args(["-vvv", "token", "--pin-stdin", "--server"])
        .arg(emu.finesse_url().as_str())
        .args(["--user", "agent1", "--ca-file"])
        .arg(emu.ca_file().unwrap());
    let o = run_with_stdin(c, "471193\n").await;
    let err = text(&o.stderr);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: stderr: {err}"));
    assert!(
        emu.issued_access_tokens()
            .contains(&v["token"].as_str().unwrap().to_string())
    );
    assert_eq!(emu.request_count("/idp/certauth"), 1);
    // The agent runs on: its command line holds `--pin-stdin`, never the PIN.
    let mut found = false;
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(p.path().join("environ")).unwrap_or_default();
        let cmd = text(&cmdline);
        if cmd.contains("--pin-stdin") && text(&environ).contains(home.path().to_str().unwrap()) {
            found = true;
            assert!(!cmd.contains(PIN) && !text(&environ).contains(PIN));
        }
    }
    assert!(found, "the agent was started with --pin-stdin");
    let mut stop = support::cli(home.path());
    stop.args(["agent", "stop"]);
    let s = support::output(stop).await;
    assert!(s.status.success(), "{}", text(&s.stderr));
    let log = std::fs::read_to_string(home.path().join("state/agent-default.log")).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the agent logged at -vvv"
    );
    assert!(log.contains("answering the PIN request"), "{log}");
    nowhere_in(&err, home.path(), &[PIN]);
    emu.shutdown().await;
}
