//! Issue 15 end to end: the agent's one Finesse notification session (XMPP over WebSocket
//! against the emulator) and its events on the pipe. Changes made through the agent and
//! outside it (another desktop, a supervisor: a PUT with the token) reach 1 and 200
//! subscribers in order, once each; a dropped session comes back and the User re-read emits
//! what changed meanwhile; a token refresh renews the session without a gap; malformed and
//! hostile stanzas change nothing; CTI errors and SystemInfo arrive as events.
#![cfg(unix)]

use std::time::Duration;

use finesse_sso::ipc::desktop::{SignInRequest, StateRequest, UserResult};
use finesse_sso::ipc::protocol::Request;
use finesse_sso::notify::runner::Options;
use finesse_sso_emulator::Emulator;
use serde_json::json;

use crate::support::agent_rig::{AgentRig, RigOptions};
pub(crate) use crate::support::subscriber::Sub;
use crate::support::{emulator, logs};

/// Fast timings, so that drops and missed pings show within a test.
pub(crate) fn fast() -> Options {
    Options {
        ping_every: Duration::from_millis(300),
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        refused_backoff: Duration::from_secs(1),
        presence_wait: Duration::from_secs(2),
        drain: Duration::from_secs(1),
        ..Options::default()
    }
}

pub(crate) async fn rig(e: &Emulator, max_clients: usize) -> AgentRig {
    AgentRig::start(
        e,
        RigOptions {
            max_clients,
            notify: fast(),
            ..RigOptions::default()
        },
    )
    .await
}

pub(crate) async fn put(rig: &AgentRig, token: &str, body: &str, request_id: &str) {
    let url = rig.target.server.join("/finesse/api/User/1001").unwrap();
    let r = rig
        .target
        .http()
        .unwrap()
        .put(url)
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .header("requestId", request_id)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{body}");
}

pub(crate) fn state(s: &str, reason: Option<&str>) -> Request {
    Request::DesktopState(StateRequest {
        state: s.into(),
        reason: reason.map(str::to_string),
        password: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_subscriber_in_order_and_a_drop_loses_nothing() {
    let e = emulator(&[]).await;
    let rig = rig(&e, 64).await;
    let mut c = rig.client().await;
    let token = c.token(60).await.unwrap().token.expose().clone();
    let mut sub = Sub::new(&rig.ep, json!({"notifications": true, "tokens": false})).await;
    let (up, skipped) = sub.until("notifications").await;
    assert_eq!(
        (up["state"].as_str(), up["id"].as_str()),
        (Some("connected"), Some("s")),
        "{up}"
    );
    assert!(
        up["jid"]
            .as_str()
            .unwrap()
            .starts_with("1001@127.0.0.1/finesse-sso-"),
        "{up}"
    );
    assert!(skipped.is_empty(), "no token events: {skipped:?}");
    // The User as it is now, then every change: through the agent and outside it.
    assert_eq!(sub.state().await, "LOGOUT");
    let _: UserResult = c
        .call(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(sub.state().await, "NOT_READY");
    let _: UserResult = c.call(state("READY", None)).await.unwrap();
    assert_eq!(sub.state().await, "READY");
    put(
        &rig,
        &token,
        "<User><state>NOT_READY</state><reasonCodeId>17</reasonCodeId></User>",
        "outside-1",
    )
    .await;
    let (v, _) = sub.until("user").await;
    assert_eq!(
        (
            v["user"]["state"].as_str(),
            v["user"]["reasonCodeId"].as_i64(),
            v["request_id"].as_str()
        ),
        (Some("NOT_READY"), Some(17), Some("outside-1")),
        "{v}"
    );
    assert_eq!(v["user"]["ReasonCode"]["label"], "Break");

    // Dropped, and kept down (SystemInfo fails) while the agent changes outside the session.
    e.faults().set_status("systeminfo", Some(503)).unwrap();
    e.xmpp().drop_all();
    let (down, _) = sub.until("notifications").await;
    assert_eq!(down["state"], "disconnected", "{down}");
    put(
        &rig,
        &token,
        "<User><state>READY</state></User>",
        "in-the-gap",
    )
    .await;
    e.faults().set_status("systeminfo", None).unwrap();
    let (up, missed) = sub.connected().await;
    assert!(missed.iter().all(|s| s["event"] != "user"), "{missed:?}");
    assert_eq!(up["state"], "connected");
    // The re-read: the change made while no session was up, once.
    assert_eq!(sub.state().await, "READY");
    let _: UserResult = c.call(state("NOT_READY", Some("Lunch"))).await.unwrap();
    assert_eq!(sub.state().await, "NOT_READY");
    let sessions = e.xmpp().sessions();
    assert!(
        sessions.len() >= 2 && sessions.iter().all(|s| s.rest_before && s.auth == "token"),
        "{sessions:?}"
    );
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    // The last subscriber leaves: the session ends (the agent's presence with it).
    drop(sub);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while e.xmpp().present("1001") > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session outlived its subscribers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_subscribers_share_one_session_and_get_every_event_in_order() {
    let e = emulator(&[]).await;
    let rig = rig(&e, 256).await;
    let mut c = rig.client().await;
    let token = c.token(60).await.unwrap().token.expose().clone();
    let mut subs = Vec::new();
    for _ in 0..200 {
        subs.push(Sub::new(&rig.ep, json!({"notifications": true, "tokens": false})).await);
    }
    // Everyone has heard the session come up and the User, before the changes start.
    for s in &mut subs {
        assert_eq!(s.until("notifications").await.0["state"], "connected");
        assert_eq!(s.state().await, "LOGOUT");
    }
    assert_eq!(e.xmpp().present("1001"), 1, "one session for all");
    let _: UserResult = c
        .call(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let _: UserResult = c.call(state("READY", None)).await.unwrap();
    put(
        &rig,
        &token,
        "<User><state>NOT_READY</state><reasonCodeId>16</reasonCodeId></User>",
        "x",
    )
    .await;
    put(&rig, &token, "<User><state>READY</state></User>", "y").await;
    let want = ["NOT_READY", "READY", "NOT_READY", "READY"];
    let mut all = tokio::task::JoinSet::new();
    for mut s in subs {
        all.spawn(async move {
            let mut got = Vec::new();
            for _ in 0..4 {
                got.push(s.state().await);
            }
            got
        });
    }
    while let Some(got) = all.join_next().await {
        assert_eq!(got.unwrap(), want);
    }
    assert_eq!(e.xmpp().sessions().len(), 1);
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_refresh_renews_the_session_without_a_gap() {
    let e = emulator(&[]).await;
    let rig = rig(&e, 64).await;
    let mut c = rig.client().await;
    let first = c.token(60).await.unwrap().token.expose().clone();
    let mut sub = Sub::new(&rig.ep, json!({"notifications": true})).await;
    sub.until("notifications").await;
    assert_eq!(sub.state().await, "LOGOUT");
    put(
        &rig,
        &first,
        "<User><state>LOGIN</state><extension>1001001</extension></User>",
        "a",
    )
    .await;
    assert_eq!(sub.state().await, "NOT_READY");
    let fresh = c.refresh().await.unwrap();
    assert_ne!(fresh.token.expose(), &first);
    // The renewal: a second session with the new token, then the first one closes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while e
        .xmpp()
        .sessions()
        .first()
        .is_none_or(|s| s.ended.is_none())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            e.xmpp().sessions()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    put(
        &rig,
        fresh.token.expose(),
        "<User><state>READY</state></User>",
        "b",
    )
    .await;
    let (v, skipped) = sub.until("user").await;
    assert_eq!(v["user"]["state"], "READY");
    // No `notifications` event: for subscribers the session never went away.
    assert!(skipped.iter().all(|s| s["event"] == "token"), "{skipped:?}");
    assert!(
        skipped.iter().any(|s| s["event"] == "token"),
        "the new token was pushed"
    );
    let s = e.xmpp().sessions();
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s[0].ended.as_deref(), Some("<close/>"));
    assert!(s[1].ended.is_none());
    assert_eq!(e.xmpp().present("1001"), 1);
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_stanzas_change_nothing_and_cti_errors_and_system_status_arrive() {
    let log = logs();
    let e = emulator(&["--xmpp-malformed"]).await;
    let rig = rig(&e, 64).await;
    let mut c = rig.client().await;
    let token = c.token(60).await.unwrap().token.expose().clone();
    let mut sub = Sub::new(&rig.ep, json!({"notifications": true, "tokens": false})).await;
    let mut acq = Sub::new(
        &rig.ep,
        json!({"notifications": true, "tokens": false, "format": "acqueon"}),
    )
    .await;
    sub.until("notifications").await;
    assert_eq!(sub.state().await, "LOGOUT");
    // Six hostile frames before each real notification: only the real change is told.
    put(
        &rig,
        &token,
        "<User><state>LOGIN</state><extension>1001001</extension></User>",
        "m1",
    )
    .await;
    assert_eq!(sub.state().await, "NOT_READY");
    put(&rig, &token, "<User><state>READY</state></User>", "m2").await;
    let (v, skipped) = sub.until("user").await;
    assert_eq!(
        (v["user"]["state"].as_str(), v["user"]["extension"].as_str()),
        (Some("READY"), Some("1001001"))
    );
    assert!(skipped.is_empty(), "{skipped:?}");
    log.wait_for("skipped a frame: a stanza of", Duration::from_secs(5))
        .await;
    log.wait_for("skipped an item of another node", Duration::from_secs(5))
        .await;
    log.wait_for("skipped an unreadable update", Duration::from_secs(5))
        .await;
    log.wait_for("does not belong to its node", Duration::from_secs(5))
        .await;
    e.xmpp().set_malformed(false);

    // Acqueon's envelopes for the same events: the session's state, the User as it was, Login,
    // then the state.
    let up = acq.next().await;
    assert_eq!(
        (
            up["topic"].as_str(),
            up["subtopic"].as_str(),
            up["message"]["data"]["status"].as_str()
        ),
        (
            Some("Connection"),
            Some("SetConnectionStatus"),
            Some("connected")
        ),
        "{up}"
    );
    let before = acq.next_but_connection().await;
    assert_eq!(
        (
            before["subtopic"].as_str(),
            before["message"]["data"]["state"].as_str()
        ),
        (Some("SetAgentState"), Some("LOGOUT")),
        "{before}"
    );
    let login = acq.next_but_connection().await;
    assert_eq!(
        (login["channel"].as_str(), login["subtopic"].as_str()),
        (Some("Finesse"), Some("Login")),
        "{login}"
    );
    let ready = acq.next_but_connection().await;
    assert_eq!(ready["subtopic"], "SetAgentState");
    assert_eq!(ready["message"]["data"]["state"], "READY");

    // An asynchronous Device Busy after a sign-in, with the request's id.
    put(
        &rig,
        &token,
        "<User><state>NOT_READY</state><reasonCodeId>16</reasonCodeId></User>",
        "m3",
    )
    .await;
    put(
        &rig,
        &token,
        "<User><state>LOGOUT</state><reasonCodeId>55</reasonCodeId></User>",
        "m4",
    )
    .await;
    assert_eq!(sub.state().await, "NOT_READY");
    assert_eq!(sub.state().await, "LOGOUT");
    e.xmpp().set_device_busy(true);
    put(
        &rig,
        &token,
        "<User><state>LOGIN</state><extension>1001001</extension></User>",
        "busy-1",
    )
    .await;
    let (err, skipped) = sub.until("desktop_error").await;
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(
        (
            err["error"]["errorType"].as_str(),
            err["error"]["requestId"].as_str(),
            err["error"]["source"].as_str()
        ),
        (
            Some("Device Busy"),
            Some("busy-1"),
            Some("/finesse/api/User/1001")
        )
    );
    e.xmpp().set_system_status("OUT_OF_SERVICE");
    let (sys, _) = sub.until("system").await;
    assert_eq!(sys["system"]["status"], "OUT_OF_SERVICE");
    loop {
        let v = acq.next_but_connection().await;
        if v["subtopic"] == "Error" {
            assert_eq!(v["message"]["data"]["kind"], "desktop_error");
            assert_eq!(v["message"]["data"]["errorType"], "Device Busy");
            break;
        }
    }
    assert_eq!(
        acq.next_but_connection().await["message"]["data"]["systemInfo"]["status"],
        "OUT_OF_SERVICE"
    );
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_pings_reconnect_and_a_refused_token_says_so() {
    let e = emulator(&["--xmpp-no-pong"]).await;
    let rig = rig(&e, 64).await;
    let mut sub = Sub::new(&rig.ep, json!({"notifications": true, "tokens": false})).await;
    assert_eq!(sub.until("notifications").await.0["state"], "connected");
    // Two pings (300 ms apart) without an answer: the session is given up and made again.
    let (down, _) = sub.until("notifications").await;
    assert_eq!(down["state"], "disconnected");
    assert!(
        down["reason"]
            .as_str()
            .unwrap()
            .contains("2 pings in a row went unanswered"),
        "{down}"
    );
    e.xmpp().set_no_pong(false);
    loop {
        let (v, _) = sub.until("notifications").await;
        if v["state"] == "connected" {
            break;
        }
    }

    // SASL with a token that is not valid: the clear message, from the session itself.
    use finesse_sso::notify::connection::Connection;
    use finesse_sso::notify::session::{Credential, Login};
    use finesse_sso::notify::transport::Reach;
    let reach = Reach {
        ca_pem: e.ca_pem().map(|p| p.as_bytes().to_vec()),
        proxy: Default::default(),
        transport: Default::default(),
    };
    let login = Login {
        login_id: "1001".into(),
        domain: "127.0.0.1".into(),
        resource: Login::fresh_resource(),
        credential: Credential::SsoToken("eyJhbGciOiJub25lIn0.e30.".to_string().into()),
    };
    let err = Connection::establish(
        &e.xmpp_url(),
        &reach,
        login,
        Duration::from_secs(10),
        Duration::from_secs(2),
    )
    .await
    .err()
    .expect("refused");
    assert!(
        err.to_string()
            .contains("the notification service refused the SSO token"),
        "{err}"
    );
    assert!(!err.to_string().contains("eyJhbGci"), "{err}");
    assert_eq!(err.exit_code(), 13);
    rig.stop();
    e.shutdown().await;
}
