//! The rendering fallback in a real window (WebKitGTK under Xvfb): a renderer killed under the
//! IdP's page (as a crash or the OOM killer would) restarts the window once with the safer
//! rendering variables the user left unset, reported once on stderr; the sign-in then goes on
//! in the new window; a second death ends it with a clear error, not at the timeout.

use std::time::{Duration, Instant};

use crate::support;
use crate::support::x11::{environ, kill_renderers, next_visible_window};

const DMABUF: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";
const COMPOSITING: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
const GDK_BACKEND: &str = "GDK_BACKEND";

/// The warning the restart gives: what it changed (COMPOSITING is the user's, kept).
const RESTARTED: &str = "restarting the sign-in window once with safer rendering settings: \
                         WEBKIT_DISABLE_DMABUF_RENDERER=1, GDK_BACKEND=x11";

/// `login` waiting at the IdP's page (nobody types), with the user's own compositing choice.
fn login(emu: &finesse_sso_emulator::Emulator, home: &std::path::Path) -> std::process::Command {
    let mut c = support::login_command(home, emu, "agent1", &["--timeout", "90"]);
    c.env_remove(DMABUF)
        .env_remove(GDK_BACKEND)
        .env(COMPOSITING, "0");
    c
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_renderer_that_dies_twice_ends_the_sign_in_after_one_safer_restart() {
    support::need_display();
    let started = Instant::now();
    let emu = support::emulator(&[]).await;
    let home = tempfile::tempdir().unwrap();
    let login = login(&emu, home.path()).spawn().unwrap();
    let pid = login.id();

    let first = next_visible_window(pid, &[], Duration::from_secs(60)).await;
    let env = environ(first);
    let nvidia = std::path::Path::new("/sys/module/nvidia").exists();
    assert_eq!(
        env.get(DMABUF).map(String::as_str),
        nvidia.then_some("1"),
        "the first window sets the DMA-BUF variable only where NVIDIA's driver is loaded"
    );
    assert_eq!(env.get(GDK_BACKEND), None);
    kill_renderers(first);

    let second = next_visible_window(pid, &[first], Duration::from_secs(60)).await;
    let env = environ(second);
    assert_eq!(env.get(DMABUF).map(String::as_str), Some("1"));
    assert_eq!(env.get(GDK_BACKEND).map(String::as_str), Some("x11"));
    assert_eq!(
        env.get(COMPOSITING).map(String::as_str),
        Some("0"),
        "a value the user set is never overridden"
    );
    assert_eq!(
        emu.request_count("/idp/login"),
        2,
        "the same sign-in, again"
    );
    kill_renderers(second);

    let o = tokio::task::spawn_blocking(move || login.wait_with_output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // 1 (the window failed), not 5 (the 90 s timeout).
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.matches(RESTARTED).count(), 1, "{err}");
    assert!(
        err.contains(
            "WebKit's web process crashed, again after a restart with safer rendering settings"
        ),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    assert!(started.elapsed() < Duration::from_secs(80));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_renderer_crash_is_recovered_from_once_and_reported() {
    support::need_display();
    let emu = support::emulator(&[]).await;
    let home = tempfile::tempdir().unwrap();
    let login = login(&emu, home.path()).spawn().unwrap();
    let pid = login.id();
    let first = next_visible_window(pid, &[], Duration::from_secs(60)).await;
    kill_renderers(first);
    let second = next_visible_window(pid, &[first], Duration::from_secs(60)).await;
    // The person signs in in the restarted window.
    let win = String::from_utf8_lossy(
        &std::process::Command::new("xdotool")
            .args(["search", "--onlyvisible", "--pid", &second.to_string()])
            .output()
            .unwrap()
            .stdout,
    )
    .lines()
    .next()
    .unwrap()
    .trim()
    .to_string();
    let xdo = |args: &[&str]| {
        let ok = std::process::Command::new("xdotool")
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{args:?}");
    };
    // Give the page a moment to focus the field, as a person would.
    tokio::time::sleep(Duration::from_millis(300)).await;
    xdo(&["windowfocus", "--sync", &win]);
    xdo(&["type", "--delay", "15", "agent1"]);
    xdo(&["key", "Tab"]);
    xdo(&["type", "--delay", "15", "demo-password"]);
    xdo(&["key", "Return"]);
    let o = tokio::task::spawn_blocking(move || login.wait_with_output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        emu.issued_access_tokens().last().map(String::as_str),
        v["token"].as_str()
    );
    assert_eq!(err.matches(RESTARTED).count(), 1, "{err}");
    assert!(err.contains("WebKit's web process crashed"), "{err}");
    emu.shutdown().await;
}
