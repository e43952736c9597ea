//! Pop-up windows (issue 14, item 4) in a real window (WebKitGTK under Xvfb) against the
//! emulator's `--idp-login popup-mfa`: the second factor approved in a pop-up completes the
//! sign-in and the pop-up closes itself; closing the sign-in window closes its pop-up, leaving no
//! window or process behind. Also the IdP's side without a window: no approval, no assertion.
//! (Pop-ups that try the token URL or a refused place: `hostile.rs`, `--forge popup`.)

use std::time::Duration;

use crate::support;
use crate::support::output;
use finesse_sso::flow::Flow;
use finesse_sso::http::HttpOptions;
use finesse_sso::testing::{Hop, HttpDriver, Step, Walked};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn mfa_in_a_pop_up_completes_the_sign_in_and_the_pop_up_closes() {
    support::need_display();
    let emu = support::emulator(&["--idp-login", "popup-mfa", "--auto-login", "agent1"]).await;
    let home = tempfile::tempdir().unwrap();
    let o = output(support::login_command(
        home.path(),
        &emu,
        "agent1",
        &["-v", "--timeout", "60"],
    ))
    .await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        emu.issued_access_tokens(),
        vec![v["token"].as_str().unwrap().to_string()]
    );
    // The approval happened in the pop-up, once, and the opener went on after it.
    assert_eq!(emu.request_count("/idp/mfa/popup"), 1, "{err}");
    assert_eq!(emu.request_count("/idp/mfa/approve"), 1, "{err}");
    assert_eq!(emu.request_count("/idp/mfa/finish"), 1, "{err}");
    assert!(err.contains("opened a pop-up window for"), "{err}");
    // Closed by its own page, or with the sign-in when the opener finished first (the page
    // closes itself 100 ms after telling its opener: either may win).
    assert!(
        err.contains("closed a pop-up window: its page closed it")
            || err.contains("closed 1 pop-up window(s): the sign-in ended"),
        "{err}"
    );
    // The MFA transaction id is a secret: redacted in every logged URL.
    for (what, value) in emu.issued_secrets() {
        assert!(!err.contains(&value), "{what} on stderr: {err}");
    }
    emu.shutdown().await;
}

/// The IdP's rule, without a window: the MFA page's own form is refused until the pop-up's
/// approval is recorded for that transaction, and asserts after it.
#[tokio::test(flavor = "multi_thread")]
async fn the_idp_asserts_only_after_the_pop_ups_approval() {
    let emu = support::emulator(&["--idp-login", "popup-mfa"]).await;
    let driver = HttpDriver::new(
        &HttpOptions {
            ca_pem: emu.ca_pem().map(|p| p.as_bytes().to_vec()),
            follow_redirects: false,
            timeout: Some(Duration::from_secs(20)),
            ..Default::default()
        },
        Some(("agent1".into(), "demo-password".into())),
    )
    .unwrap();
    let mut flow = Flow::new(emu.finesse_url());
    let url = flow.token_url("agent1");
    // The driver submits the MFA page's form as script would: stop before it.
    let walked = driver
        .walk(&mut flow, url, |s, _| match s {
            Step::Post(u, _) if u.path() == "/idp/mfa/finish" => Hop::Stop,
            _ => Hop::Send,
        })
        .await
        .expect("walk");
    let Walked::Stopped(finish) = walked else {
        panic!("the MFA page posts nothing");
    };
    let m = finish
        .form()
        .iter()
        .find(|(k, _)| k == "m")
        .map(|(_, v)| v.clone())
        .expect("the form names its transaction");
    let client = finesse_sso::http::client(
        &HttpOptions {
            ca_pem: emu.ca_pem().map(|p| p.as_bytes().to_vec()),
            follow_redirects: false,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let r = finish.send(&client).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("not approved"));
    let idp = emu.idp_url().clone();
    let approve = client
        .post(idp.join("/idp/mfa/approve").unwrap())
        .form(&[("m", m.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status(), 200);
    let body = approve.text().await.unwrap();
    assert!(body.contains("window.opener.postMessage") && body.contains("window.close()"));
    let r = finish.send(&client).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("SAMLResponse"));
    // Once: the transaction is spent.
    assert_eq!(finish.send(&client).await.unwrap().status(), 400);
    emu.shutdown().await;
}

/// Closing the sign-in window (X11 under Xvfb; `/proc` for the processes left behind).
#[cfg(target_os = "linux")]
mod closing {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::text;
    use crate::support;
    use finesse_sso_emulator::Emulator;

    /// The IdP's `host:port` (both windows' titles name it; unique per test, as tests share Xvfb).
    fn idp_hostport(emu: &Emulator) -> String {
        format!(
            "{}:{}",
            emu.idp_url().host_str().unwrap(),
            emu.idp_url().port().unwrap()
        )
    }

    /// Visible windows whose title contains `name` (`xdotool`), with their titles.
    fn windows_named(name: &str) -> Vec<(String, String)> {
        let pattern = name
            .replace('.', "\\.")
            .replace('(', "\\(")
            .replace(')', "\\)");
        let o = Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", &pattern])
            .output()
            .expect("xdotool runs (Debian xdotool, installed by .ci/deps.sh)");
        text(&o.stdout)
            .lines()
            .map(|id| {
                let t = Command::new("xdotool")
                    .args(["getwindowname", id.trim()])
                    .output()
                    .map(|o| text(&o.stdout).trim().to_string())
                    .unwrap_or_default();
                (id.trim().to_string(), t)
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    #[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
    async fn closing_the_sign_in_window_closes_its_pop_up() {
        support::need_display();
        // The pop-up's page never arrives: it stays open, loading, until the sign-in ends.
        let emu = support::emulator(&[
            "--idp-login",
            "popup-mfa",
            "--auto-login",
            "agent1",
            "--delay",
            "/idp/mfa/popup=120000",
        ])
        .await;
        let home = tempfile::tempdir().unwrap();
        let child =
            support::login_command(home.path(), &emu, "agent1", &["-v", "--timeout", "120"])
                .spawn()
                .unwrap();
        let pid = child.id();
        let host = idp_hostport(&emu);
        let deadline = Instant::now() + Duration::from_secs(60);
        let (main, popup) = loop {
            let found = windows_named(&host);
            let popup = found.iter().find(|(_, t)| t.ends_with("(pop-up)"));
            let main = found.iter().find(|(_, t)| !t.ends_with("(pop-up)"));
            if let (Some(m), Some(p)) = (main, popup) {
                break (m.0.clone(), p.clone());
            }
            assert!(
                Instant::now() < deadline,
                "no sign-in window and pop-up in 60 s: {found:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // The pop-up's title names the host that asks, like the main window's.
        assert_eq!(popup.1, format!("Sign in — {host} (pop-up)"));
        let processes = support::x11::descendants_named(pid, "WebKitWebProces");
        assert!(!processes.is_empty(), "no WebKit process under the sign-in");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/support/close_window.py"
        );
        assert!(
            Command::new("/usr/bin/python3")
                .args([script, &main])
                .status()
                .unwrap()
                .success()
        );
        let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
        assert!(o.stdout.is_empty());
        // Nothing stays: no pop-up window, no WebKit process of that sign-in.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let windows = windows_named(&host);
            let alive: Vec<&u32> = processes
                .iter()
                .filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
                .collect();
            if windows.is_empty() && alive.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "left behind after the sign-in ended: windows {windows:?}, processes {alive:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        emu.shutdown().await;
    }
}
