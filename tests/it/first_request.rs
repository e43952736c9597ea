//! The window's start (issue 16): the window is built while the parent asks Finesse for the
//! auth mode, yet nothing of the sign-in reaches Finesse before the parent's `go`; and the
//! `--ca-file` certificate the auth-mode check verified is allowed before the first request
//! instead of after a failed one.

use std::time::Duration;

use crate::support;

/// The window program's debug line once its webview is built and the cookies are handed over:
/// from then on it waits for `go`.
const BUILT: &str = "restoring 1 cookies";
/// The certificate allowed ahead, and the older allowance after a failed load.
const AHEAD: &str = "(seen by the auth-mode check); allowing it for this host";
const AFTER_FAILURE: &str = "certificate chains to --ca-file; allowing it for this host";

/// `login -vvv` with SystemInfo held unanswered until the window is built and has had time to
/// connect if it would; then SystemInfo is answered. Returns the exit code, stdout and stderr.
async fn login_with_a_slow_auth_mode_check(
    emu: &finesse_sso_emulator::Emulator,
) -> (Option<i32>, Vec<u8>, String) {
    emu.faults().set_held("systeminfo", true).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut login = support::login_command(home.path(), emu, "agent1", &["-vvv"])
        .spawn()
        .unwrap();
    let stderr = support::LogBuffer::default();
    let copier = {
        let mut from = login.stderr.take().unwrap();
        let mut to = stderr.clone();
        std::thread::spawn(move || std::io::copy(&mut from, &mut to))
    };
    stderr.wait_for(BUILT, Duration::from_secs(60)).await;
    // Time for a window that loaded early to show it (WebKit connects within ms of a load).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let so_far = stderr.text();
    assert_eq!(
        emu.connection_count("finesse"),
        1,
        "only the helper's own (held) auth-mode request may have connected: {so_far}"
    );
    emu.faults().set_held("systeminfo", false).unwrap();
    let o = tokio::task::spawn_blocking(move || login.wait_with_output().unwrap())
        .await
        .unwrap();
    copier.join().unwrap().unwrap();
    (o.status.code(), o.stdout, stderr.text())
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_non_sso_answer_ends_the_built_window_before_it_connects() {
    support::need_display();
    let emu = support::emulator(&["--auth-mode", "NON_SSO"]).await;
    let (code, stdout, err) = login_with_a_slow_auth_mode_check(&emu).await;
    assert_eq!(code, Some(3), "{err}");
    assert!(stdout.is_empty());
    assert!(err.contains("NON_SSO"), "{err}");
    assert_eq!(emu.connection_count("finesse"), 1, "{err}");
    assert_eq!(emu.request_count("/desktop/sso/token"), 0, "{err}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn the_sign_in_starts_after_the_check_with_its_certificate_allowed_ahead() {
    support::need_display();
    let emu = support::emulator(&["--auto-login", "agent1"]).await;
    let (code, stdout, err) = login_with_a_slow_auth_mode_check(&emu).await;
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(
        emu.issued_access_tokens(),
        vec![v["token"].as_str().unwrap().to_string()]
    );
    // The emulator's three servers share one host and one certificate: allowed once, ahead,
    // and no load failed for it (the barrier orders the allowance before the first request).
    assert_eq!(err.matches(AHEAD).count(), 1, "{err}");
    assert!(!err.contains(AFTER_FAILURE), "{err}");
    // The first request went once, after `go` (no failed load before it); the second is the
    // return from IdS.
    assert_eq!(emu.request_count("/desktop/sso/token"), 2, "{err}");
    emu.shutdown().await;
}
