//! Issue 15's `dialog` events end to end: the emulator rings a call at the signed-in agent,
//! the agent answers and hangs up, and a `notifications` subscriber gets each Dialogs update
//! as a `dialog` event (new → update → ended, with the caller, the called number and the
//! direction), interleaved in order with the `user` events of RESERVED → TALKING → READY;
//! an Acqueon-format subscriber gets the same calls as `CallsStateChange`. With the emulator
//! sending hostile frames (a call of another user, one without an id) before each notification,
//! nothing else arrives.
#![cfg(unix)]

use finesse_sso::ipc::desktop::{SignInRequest, UserResult};
use finesse_sso::ipc::protocol::Request;
use serde_json::{Value, json};

use crate::notify::{Sub, rig, state};
use crate::support::emulator;

/// The next event that is not the session's own state.
async fn next_event(sub: &mut Sub) -> Value {
    loop {
        let v = sub.next().await;
        if v["event"] != "notifications" && v["subtopic"] != "SetConnectionStatus" {
            return v;
        }
    }
}

/// `(kind, id, state, from, to, direction, callType, mediaType)` of a `dialog` event.
fn call(v: &Value) -> [&str; 8] {
    assert_eq!(v["event"], "dialog", "{v}");
    let d = &v["dialog"];
    [
        "kind",
        "id",
        "state",
        "from",
        "to",
        "direction",
        "callType",
        "mediaType",
    ]
    .map(|k| d[k].as_str().unwrap_or_else(|| panic!("{k} in {v}")))
}

fn user_state(v: &Value) -> &str {
    assert_eq!(v["event"], "user", "{v}");
    v["user"]["state"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_rings_is_answered_and_ends_as_dialog_events_between_the_user_events() {
    let e = emulator(&[]).await;
    let rig = rig(&e, 16).await;
    let mut c = rig.client().await;
    c.token(60).await.unwrap();
    let mut sub = Sub::new(&rig.ep, json!({"notifications": true, "tokens": false})).await;
    let mut acq = Sub::new(
        &rig.ep,
        json!({"notifications": true, "tokens": false, "format": "acqueon"}),
    )
    .await;
    let (up, _) = sub.until("notifications").await;
    assert_eq!(up["state"], "connected", "{up}");
    assert_eq!(sub.state().await, "LOGOUT");

    // No call reaches an agent that is signed out, or signed in but not READY.
    assert!(e.ring("1001", "5551234", "6000").is_err());
    let _: UserResult = c
        .call(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(sub.state().await, "NOT_READY");
    assert!(e.ring("1001", "5551234", "6000").is_err());
    let _: UserResult = c.call(state("READY", None)).await.unwrap();
    assert_eq!(sub.state().await, "READY");

    // Hostile frames before each notification from here on: they must change nothing.
    e.xmpp().set_malformed(true);
    let id = e.ring("1001", "5551234", "6000").unwrap();
    let id = id.as_str();
    let ringing = next_event(&mut sub).await;
    assert_eq!(
        call(&ringing),
        [
            "new", id, "ALERTING", "5551234", "6000", "inbound", "ACD_IN", "Voice"
        ]
    );
    assert_eq!(user_state(&next_event(&mut sub).await), "RESERVED");
    // On a call, the agent's own state changes are refused (Finesse would hold them pending).
    assert!(
        c.call::<UserResult>(state("NOT_READY", Some("Lunch")))
            .await
            .is_err()
    );
    e.answer("1001").unwrap();
    assert_eq!(
        call(&next_event(&mut sub).await),
        [
            "update", id, "ACTIVE", "5551234", "6000", "inbound", "ACD_IN", "Voice"
        ]
    );
    assert_eq!(user_state(&next_event(&mut sub).await), "TALKING");
    e.hang_up("1001").unwrap();
    assert_eq!(
        call(&next_event(&mut sub).await),
        [
            "ended", id, "DROPPED", "5551234", "6000", "inbound", "ACD_IN", "Voice"
        ]
    );
    let ready = next_event(&mut sub).await;
    assert_eq!(user_state(&ready), "READY");
    assert!(e.hang_up("1001").is_err(), "no call left");

    // The Acqueon subscriber: the same calls and states, in the same order.
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let v = next_event(&mut acq).await;
        let m = &v["message"]["data"];
        if v["subtopic"] == "CallsStateChange" {
            assert_eq!(
                (v["channel"].as_str(), v["topic"].as_str()),
                (Some("Cisco"), Some("Agent"))
            );
            assert_eq!(
                (m["id"].as_str(), m["direction"].as_str()),
                (Some(id), Some("inbound")),
                "{v}"
            );
            seen.push(m["kind"].as_str().unwrap().to_string());
        } else if !seen.is_empty() {
            // After the call's first event, only the agent's states come between.
            assert_eq!(v["subtopic"], "SetAgentState", "{v}");
            seen.push(m["state"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        seen,
        ["new", "RESERVED", "update", "TALKING", "ended", "READY"]
    );

    // The hostile frames' call (from 666) never surfaced, and nothing else is pending.
    e.xmpp().set_malformed(false);
    let _: UserResult = c.call(state("NOT_READY", Some("Lunch"))).await.unwrap();
    assert_eq!(user_state(&next_event(&mut sub).await), "NOT_READY");
    assert!(
        e.xmpp().violations().is_empty(),
        "{:?}",
        e.xmpp().violations()
    );
    rig.stop();
    e.shutdown().await;
}
