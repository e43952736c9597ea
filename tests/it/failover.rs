//! Issue 15, two Finesse sides: the emulator's second side (one IdS, one CTI state, its own
//! SystemInfo status and notification service, a knob to take it out of service), and the
//! agent's failover to the other side with the token it holds: no window, the same token, a
//! `system` event naming both sides, and the state changes made there heard after it.
#![cfg(unix)]

use finesse_sso::finesse::client::Finesse;
use finesse_sso::flow::Flow;
use finesse_sso::ipc::desktop::{SignInRequest, UserResult};
use finesse_sso::ipc::protocol::Request;
use finesse_sso::testing::HttpDriver;
use finesse_sso_emulator::Emulator;
use serde_json::{Value, json};
use url::Url;

use crate::notify::{Sub, rig, state};
use crate::support::agent_rig::AgentRig;
use crate::support::driver::http_options;
use crate::support::emulator;

fn http(e: &Emulator) -> reqwest::Client {
    finesse_sso::http::client(&http_options(e), None).unwrap()
}

fn name(u: &Url) -> String {
    u.as_str().trim_end_matches('/').to_string()
}

/// A PUT to the User on `side` with `token`, as another desktop or a supervisor makes it.
async fn put_on(rig: &AgentRig, side: &Url, token: &str, body: &str) {
    let r = rig
        .target
        .http()
        .unwrap()
        .put(side.join("/finesse/api/User/1001").unwrap())
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{body} on {side}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sides_share_ids_and_a_side_out_of_service_answers_only_systeminfo() {
    let e = emulator(&["--sides", "2"]).await;
    let sides = e.side_urls().to_vec();
    assert_eq!(sides.len(), 2);
    assert_ne!(sides[0], sides[1]);
    let ready = e.ready_line();
    assert_eq!(ready["sides"][1], sides[1].as_str(), "{ready}");
    let h = http(&e);
    // Signed in through side 2 (IdS sends the browser back there), the token works on side 1.
    let d = HttpDriver::new(
        &http_options(&e),
        Some(("agent1".into(), "demo-password".into())),
    )
    .unwrap();
    let t = d
        .sign_in(&mut Flow::new(&sides[1]), "agent1")
        .await
        .unwrap();
    for side in &sides {
        let f = Finesse::new(side.clone(), h.clone());
        assert_eq!(
            f.system_info().await.unwrap().status.as_deref(),
            Some("IN_SERVICE")
        );
        f.user("agent1", &t.token).await.unwrap();
    }
    e.set_in_service(1, false);
    let a = Finesse::new(sides[0].clone(), h.clone());
    assert_eq!(
        a.system_info().await.unwrap().status.as_deref(),
        Some("OUT_OF_SERVICE")
    );
    assert!(e.xmpp().violations().is_empty(), "SystemInfo is allowed");
    let err = a.user("agent1", &t.token).await.unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(
        e.xmpp().violations().len(),
        1,
        "{:?}",
        e.xmpp().violations()
    );
    let b = Finesse::new(sides[1].clone(), h.clone());
    assert_eq!(
        b.system_info().await.unwrap().status.as_deref(),
        Some("IN_SERVICE")
    );
    b.user("agent1", &t.token).await.unwrap();
    e.set_in_service(1, true);
    a.user("agent1", &t.token).await.unwrap();
    e.shutdown().await;

    let bad =
        finesse_sso_emulator::start(crate::support::emulator_config(&["--out-of-service", "2"]))
            .await;
    assert!(bad.is_err(), "side 2 of a one-side emulator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_other_side_with_no_window_and_the_same_token() {
    let e = emulator(&["--sides", "2"]).await;
    let (a, b) = (e.side_urls()[0].clone(), e.side_urls()[1].clone());
    let rig = rig(&e, 8).await;
    let mut c = rig.client().await;
    assert_eq!(
        c.hello.server,
        name(&a),
        "the agent is named by the first side"
    );
    let token = c.token(60).await.unwrap().token.expose().clone();
    let windows = rig.auth.calls();
    let issued = e.issued_access_tokens().len();
    let mut sub = Sub::new(&rig.ep, json!({"notifications": true, "tokens": false})).await;
    sub.connected().await;
    assert_eq!(sub.state().await, "LOGOUT");
    let _: UserResult = c
        .call(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(sub.state().await, "NOT_READY");
    put_on(&rig, &a, &token, "<User><state>READY</state></User>").await;
    assert_eq!(sub.state().await, "READY", "heard from side A");
    assert_eq!(e.xmpp().sessions().last().unwrap().side, 1);

    e.set_in_service(1, false);
    let (out, _) = sub.until("system").await;
    assert_eq!(
        (
            out["system"]["status"].as_str(),
            out["system"]["side"].as_str()
        ),
        (Some("OUT_OF_SERVICE"), Some(name(&a).as_str())),
        "{out}"
    );
    let (moved, _) = sub.until("system").await;
    assert_eq!(
        (
            moved["system"]["status"].as_str(),
            moved["system"]["side"].as_str(),
            moved["system"]["failover_from"].as_str()
        ),
        (
            Some("IN_SERVICE"),
            Some(name(&b).as_str()),
            Some(name(&a).as_str())
        ),
        "{moved}"
    );
    let (up, between) = sub.connected().await;
    assert!(between.iter().all(|v| v["event"] != "user"), "{between:?}");
    assert!(up["jid"].as_str().unwrap().starts_with("1001@"), "{up}");
    let last = e.xmpp().sessions().last().unwrap().clone();
    assert_eq!((last.side, last.auth), (2, "token"), "{last:?}");
    let status = c.status().await.unwrap();
    assert_eq!(
        (status.server.as_str(), status.side.as_deref()),
        (name(&a).as_str(), Some(name(&b).as_str())),
        "the agent's name stays; the side in use moved"
    );

    // Changes made on side B reach the subscriber; the agent's own calls go to side B too.
    put_on(
        &rig,
        &b,
        &token,
        "<User><state>NOT_READY</state><reasonCodeId>17</reasonCodeId></User>",
    )
    .await;
    assert_eq!(sub.state().await, "NOT_READY", "heard from side B");
    let _: UserResult = c.call(state("READY", None)).await.unwrap();
    assert_eq!(sub.state().await, "READY");

    assert_eq!(
        rig.auth.calls(),
        windows,
        "no sign-in window for the failover"
    );
    assert_eq!(e.issued_access_tokens().len(), issued, "no new token");
    assert_eq!(c.token(60).await.unwrap().token.expose(), &token);
    // A refresh goes to the side in use (side A would answer 503 and record a violation).
    let refreshed = c.refresh().await.unwrap();
    assert_ne!(refreshed.token.expose(), &token);
    assert_eq!(rig.auth.calls(), windows, "refreshed, not signed in");
    assert!(
        e.xmpp().violations().is_empty(),
        "nothing used side A while out: {:?}",
        e.xmpp().violations()
    );
    drop(sub);
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_side_out_of_service_at_start_is_never_used() {
    let e = emulator(&["--sides", "2", "--out-of-service", "1"]).await;
    let (a, b) = (e.side_urls()[0].clone(), e.side_urls()[1].clone());
    let rig = rig(&e, 8).await;
    let mut c = rig.client().await;
    assert_eq!(c.hello.server, name(&a));
    let token = c.token(60).await.unwrap().token.expose().clone();
    let mut sub = Sub::new(&rig.ep, json!({"notifications": true, "tokens": false})).await;
    sub.connected().await;
    assert_eq!(sub.state().await, "LOGOUT");
    put_on(
        &rig,
        &b,
        &token,
        "<User><state>LOGIN</state><extension>1001001</extension></User>",
    )
    .await;
    assert_eq!(sub.state().await, "NOT_READY");
    let sessions = e.xmpp().sessions();
    assert!(
        !sessions.is_empty() && sessions.iter().all(|s| s.side == 2),
        "{sessions:?}"
    );
    assert_eq!(e.request_count("/ws/"), sessions.len());
    assert!(
        e.xmpp().violations().is_empty(),
        "side A was only asked for SystemInfo: {:?}",
        e.xmpp().violations()
    );
    drop(sub);
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_between_sides_wait_out_the_backoff_and_never_loop() {
    use finesse_sso::agent::side::{MOVE_BACKOFF, SideInUse};
    use std::time::{Duration, Instant};

    let e = emulator(&["--sides", "2"]).await;
    let (a, b) = (e.side_urls()[0].clone(), e.side_urls()[1].clone());
    let h = http(&e);
    let sides = SideInUse::new(vec![a.clone(), b.clone()]);
    let t0 = Instant::now();
    let s = sides.settle(&h, t0).await.unwrap();
    assert_eq!(
        (&s.side, &s.moved_from),
        (&a, &None),
        "both in service: the first"
    );

    e.set_in_service(1, false);
    let s = sides.settle(&h, t0).await.unwrap();
    assert_eq!((&s.side, s.moved_from.as_ref()), (&b, Some(&a)));
    assert_eq!(sides.current(), b);

    // A side that cannot be reached counts as out.
    let dead = Url::parse("http://127.0.0.1:1/").unwrap();
    let other = SideInUse::new(vec![dead, b.clone()]);
    let s = other.settle(&h, t0).await.unwrap();
    assert_eq!(s.side, b, "an unreachable first side is left");

    // Side B fails soon after and A is back: no move back before the backoff is over.
    e.set_in_service(1, true);
    e.set_in_service(2, false);
    let soon = t0 + MOVE_BACKOFF - Duration::from_secs(1);
    let err = sides.settle(&h, soon).await.unwrap_err();
    assert!(
        err.to_string().contains("waits before moving again"),
        "{err}"
    );
    assert_eq!(sides.current(), b, "stayed");
    let later = t0 + MOVE_BACKOFF;
    let s = sides.settle(&h, later).await.unwrap();
    assert_eq!((&s.side, s.moved_from.as_ref()), (&a, Some(&b)));

    // Both out: an error that names what each side said, and no move.
    e.set_in_service(1, false);
    let err = sides
        .settle(&h, later + MOVE_BACKOFF)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no Finesse side is IN_SERVICE"), "{err}");
    assert!(err.contains("OUT_OF_SERVICE"), "{err}");
    assert_eq!(sides.current(), a);
    // No side fully in service but both partly: the side in use goes on, no error.
    e.xmpp().set_system_status("PARTIAL_SERVICE");
    let s = sides.settle(&h, later + MOVE_BACKOFF).await.unwrap();
    assert_eq!((&s.side, &s.moved_from), (&a, &None));
    assert_eq!(s.info.status.as_deref(), Some("PARTIAL_SERVICE"));
    assert!(
        e.xmpp().violations().is_empty(),
        "only SystemInfo was asked: {:?}",
        e.xmpp().violations()
    );
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_calls_leave_a_side_gone_out_without_a_notification_session() {
    let e = emulator(&["--sides", "2"]).await;
    let rig = rig(&e, 8).await;
    let mut c = rig.client().await;
    let token = c.token(60).await.unwrap().token.expose().clone();
    let windows = rig.auth.calls();
    e.set_in_service(1, false);
    let u: UserResult = c
        .call(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(u.user.state, "NOT_READY");
    assert_eq!(c.token(60).await.unwrap().token.expose(), &token);
    assert_eq!(rig.auth.calls(), windows);
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    rig.stop();
    e.shutdown().await;
}

/// `login --server A,B` with side A out: the window signs in on side B and the output names it.
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn login_and_desktop_with_both_sides_use_the_side_in_service() {
    crate::support::need_display();
    let e = emulator(&[
        "--auto-login",
        "agent1",
        "--sides",
        "2",
        "--out-of-service",
        "1",
    ])
    .await;
    let (a, b) = (e.side_urls()[0].clone(), e.side_urls()[1].clone());
    let home = tempfile::tempdir().unwrap();
    let mut cmd = crate::support::cli(home.path());
    cmd.arg("login")
        .args(["--server", &format!("{},{}", name(&a), name(&b))])
        .args(["--user", "agent1"])
        .arg("--ca-file")
        .arg(e.ca_file().unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let o = crate::support::output(cmd).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "stderr: {err}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["server"].as_str().map(|s| s.trim_end_matches('/')),
        Some(name(&b).as_str()),
        "{v}"
    );
    assert_eq!(
        e.issued_access_tokens(),
        vec![v["token"].as_str().unwrap().to_string()]
    );
    // `desktop` without an agent signs in and calls the User API on the side in service too.
    let mut cmd = crate::support::cli(home.path());
    cmd.args(["desktop", "user"])
        .args(["--server", &format!("{},{}", name(&a), name(&b))])
        .args(["--user", "agent1"])
        .arg("--ca-file")
        .arg(e.ca_file().unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let o = crate::support::output(cmd).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "stderr: {err}");
    let u: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(u["loginId"], "1001", "{u}");
    assert!(
        e.xmpp().violations().is_empty(),
        "side A was only asked for SystemInfo: {:?}",
        e.xmpp().violations()
    );
    e.shutdown().await;
}
