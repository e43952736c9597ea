//! Issue 15 over BOSH (Finesse 12.0/12.5): an agent in `auto` against an emulator that serves
//! no WebSocket finds BOSH at `/http-bind/`, its subscriber gets the `user` events in order,
//! and a dropped BOSH session comes back; the token reaches no log. Also `bosh` chosen outright.
#![cfg(unix)]

use finesse_sso::ipc::desktop::{SignInRequest, UserResult};
use finesse_sso::ipc::protocol::Request;
use finesse_sso::notify::transport::Choice;
use finesse_sso_emulator::Emulator;
use serde_json::json;

use crate::notify::{Sub, fast, put, state};
use crate::support::agent_rig::{AgentRig, RigOptions};
use crate::support::{emulator, logs};

async fn rig(e: &Emulator, transport: Choice) -> AgentRig {
    AgentRig::start(
        e,
        RigOptions {
            max_clients: 8,
            notify: finesse_sso::notify::runner::Options {
                transport,
                ..fast()
            },
            ..RigOptions::default()
        },
    )
    .await
}

#[tokio::test]
async fn auto_finds_bosh_and_events_arrive_in_order_across_a_drop() {
    let log = logs();
    let e = emulator(&["--xmpp-transport", "bosh", "--xmpp-bosh-wait", "1s"]).await;
    let rig = rig(&e, Choice::Auto).await;
    let mut c = rig.client().await;
    let token = c.token(60).await.unwrap().token.expose().clone();
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
    let _: UserResult = c.call(state("READY", None)).await.unwrap();
    assert_eq!(sub.state().await, "READY");
    put(
        &rig,
        &token,
        "<User><state>NOT_READY</state><reasonCodeId>17</reasonCodeId></User>",
        "outside-1",
    )
    .await;
    assert_eq!(sub.state().await, "NOT_READY");
    // The BOSH session is dropped: the agent comes back over BOSH and hears what follows.
    e.xmpp().drop_all();
    let (down, _) = sub.until("notifications").await;
    assert_eq!(down["state"], "disconnected", "{down}");
    sub.connected().await;
    let _: UserResult = c.call(state("READY", None)).await.unwrap();
    loop {
        // The re-read after the reconnect may repeat NOT_READY first.
        let s = sub.state().await;
        if s == "READY" {
            break;
        }
        assert_eq!(s, "NOT_READY");
    }
    let sessions = e.xmpp().sessions();
    assert!(sessions.len() >= 2, "{sessions:?}");
    assert!(sessions.iter().all(|s| s.auth == "token"), "{sessions:?}");
    // Auto tried the WebSocket first (a 404 here), then BOSH.
    assert!(e.request_count("/ws/") >= 1);
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    log.wait_for("no WebSocket (", std::time::Duration::from_secs(5))
        .await;
    // The token (the SASL PLAIN password) never reaches the logs, plain or base64.
    use base64::Engine as _;
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\01001\0{token}"));
    let text = log.text();
    assert!(!text.contains(&token) && !text.contains(&plain));
    rig.stop();
    e.shutdown().await;
}

#[tokio::test]
async fn bosh_chosen_outright_never_tries_the_websocket() {
    let e = emulator(&["--xmpp-bosh-wait", "1s"]).await;
    let rig = rig(&e, Choice::Bosh).await;
    let mut c = rig.client().await;
    let _ = c.token(60).await.unwrap();
    let mut sub = Sub::new(&rig.ep, json!({"notifications": true, "tokens": false})).await;
    sub.connected().await;
    assert_eq!(sub.state().await, "LOGOUT");
    assert_eq!(e.request_count("/ws/"), 0);
    assert!(e.request_count("/http-bind/") >= 3);
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    rig.stop();
    e.shutdown().await;
}
