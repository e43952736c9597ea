//! Through the VPN-less reverse proxy (Finesse 12.6/15.0; reference §7): the emulator's
//! `--vpnless` serves Finesse, IdS and the IdP behind one proxy origin, routed by path, and
//! every redirect names the proxy. With the proxy configured as the server, sign-in (HTTP
//! driver and a real window), the notification session and the desktop work unchanged; a
//! token answer on a look-alike origin (the same proxy under another name) is never taken.

use finesse_sso::flow::{CaptureRefusal, Flow};
use finesse_sso::testing::{DriverError, HttpDriver};

use crate::support;
use crate::support::driver::http_options;
use crate::support::{emulator, output};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_sign_in_runs_through_one_proxy_origin() {
    let e = emulator(&["--vpnless"]).await;
    assert_eq!(e.ids_url(), e.finesse_url());
    assert_eq!(e.idp_url(), e.finesse_url());
    let d = HttpDriver::new(
        &http_options(&e),
        Some(("agent1".into(), "demo-password".into())),
    )
    .unwrap();
    let t = d
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap();
    assert_eq!(e.issued_access_tokens(), vec![t.token.expose().clone()]);
    // Each server saw its part of the chain, all through the proxy.
    for path in [
        "/desktop/sso/token",
        "/ids/v1/oauth/authorize",
        "/idp/sso",
        "/ids/saml/response",
        "/desktop/sso/authcode",
    ] {
        assert!(e.request_count(path) >= 1, "{path}");
    }
    let http = finesse_sso::http::client(&http_options(&e), None).unwrap();
    let finesse = finesse_sso::finesse::client::Finesse::new(e.finesse_url().clone(), http);
    finesse.user("agent1", &t.token).await.unwrap();
    e.shutdown().await;
}

/// A token-shaped answer at the token path of the same proxy under another name: the capture
/// rule refuses it (the driver calls the same `Flow` decisions as the window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_alike_proxy_origin_yields_no_token_http_driver() {
    let e = emulator(&["--vpnless", "--forge", "look-alike"]).await;
    let d = HttpDriver::new(
        &http_options(&e),
        Some(("agent1".into(), "demo-password".into())),
    )
    .unwrap();
    let got = d.sign_in(&mut Flow::new(e.finesse_url()), "agent1").await;
    match got {
        Err(DriverError::Capture {
            reason: CaptureRefusal::NotTokenEndpoint,
            ..
        }) => {}
        Ok(_) => panic!("a token was taken from the look-alike origin"),
        Err(other) => panic!("{other}"),
    }
    assert!(e.issued_access_tokens().is_empty());
    e.shutdown().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_the_desktop_work_through_the_proxy() {
    use std::time::Duration;

    use finesse_sso::ipc::desktop::{SignInRequest, UserResult};
    use finesse_sso::ipc::protocol::Request;
    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use crate::support::agent_rig::{AgentRig, RigOptions};

    let e = emulator(&["--vpnless"]).await;
    let rig = AgentRig::start(&e, RigOptions::default()).await;
    let mut c = rig.client().await;
    c.token(60).await.unwrap();
    let s = tokio::net::UnixStream::connect(&rig.ep.path).await.unwrap();
    let (r, mut w) = s.into_split();
    let mut lines = BufReader::new(r).lines();
    w.write_all(
        format!(
            "{}\n{}\n",
            json!({"op":"hello","v":1}),
            json!({"op":"subscribe","id":"s","notifications":true,"tokens":false})
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut next = async || -> Value {
        let l = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("the agent kept the connection");
        serde_json::from_str(&l).unwrap()
    };
    while next().await["state"] != "connected" {}
    assert_eq!(e.request_count("/ws/"), 1);
    let r: UserResult = c
        .call(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(r.user.state, "NOT_READY");
    loop {
        let v = next().await;
        if v["event"] == "user" && v["user"]["state"] == "NOT_READY" {
            break;
        }
    }
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    drop(w);
    rig.stop();
    e.shutdown().await;
}

/// `finesse-sso login --server <proxy>` in a real window: Finesse, IdS and the IdP all on the
/// proxy origin, the token captured there.
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_window_signs_in_through_the_proxy() {
    support::need_display();
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("requests.jsonl");
    let e = emulator(&[
        "--vpnless",
        "--auto-login",
        "agent1",
        "--log",
        log.to_str().unwrap(),
    ])
    .await;
    let o = output(support::login_command(
        home.path(),
        &e,
        "agent1",
        &["-v", "--timeout", "30"],
    ))
    .await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        e.issued_access_tokens(),
        vec![v["token"].as_str().unwrap().to_string()]
    );
    assert_eq!(v["server"], e.finesse_url().as_str().trim_end_matches('/'));
    assert!(e.request_count("/idp/login") >= 1, "{err}");
    // The user name cookie goes to Finesse's paths only, not to IdS or the IdP behind the
    // same proxy origin (the request log has cookie names, never values).
    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has_user = |x: &serde_json::Value| {
        x["cookies"]
            .as_array()
            .is_some_and(|c| c.iter().any(|n| n == "cc_username"))
    };
    assert!(
        entries
            .iter()
            .any(|x| x["path"] == "/desktop/sso/token" && has_user(x)),
        "{entries:?}"
    );
    for x in &entries {
        if x["origin"] == "ids" || x["origin"] == "idp" {
            assert!(!has_user(x), "cc_username reached {x}");
        }
    }
    assert!(entries.iter().any(|x| x["origin"] == "idp"));
    e.shutdown().await;
}

/// The same look-alike in a real window: nothing is captured or printed; the sign-in ends as
/// for any foreign JSON page (a page needs the user, or the timeout).
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_window_refuses_the_token_on_a_look_alike_proxy_origin() {
    support::need_display();
    let e = emulator(&[
        "--vpnless",
        "--auto-login",
        "agent1",
        "--forge",
        "look-alike",
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let o = output(support::login_command(
        home.path(),
        &e,
        "agent1",
        &["-v", "--timeout", "15", "--non-interactive"],
    ))
    .await;
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(out.is_empty(), "{out}");
    assert!(!err.contains("FORGED"), "{err}");
    assert!(
        matches!(o.status.code(), Some(5) | Some(14)),
        "exit {:?}: {err}",
        o.status.code()
    );
    // The browser did reach the look-alike: it was the capture rule that refused it.
    assert!(err.contains("localhost"), "{err}");
    assert!(e.issued_access_tokens().is_empty());
    e.shutdown().await;
}

/// The proxy's 429 and 418 on the token URL in a real window: exits 25 and 24, naming the
/// proxy's refusal, and no token.
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_window_reports_the_proxys_rate_limit_and_block() {
    support::need_display();
    for (status, code, needle) in [
        ("429", 25, "rate-limiting this client (HTTP 429)"),
        (
            "418",
            24,
            "blocks this client after repeated failures (HTTP 418)",
        ),
    ] {
        let fail = format!("token={status}");
        let e = emulator(&["--vpnless", "--auto-login", "agent1", "--fail", &fail]).await;
        let home = tempfile::tempdir().unwrap();
        let o = output(support::login_command(
            home.path(),
            &e,
            "agent1",
            &["--timeout", "30"],
        ))
        .await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(o.stdout.is_empty());
        assert_eq!(e.request_count("/desktop/sso/token"), 1, "{err}");
        e.shutdown().await;
    }
}
