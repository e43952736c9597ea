//! `desktop_sign_in` and `desktop_state` through the agent are confirmed by the notification
//! that echoes the PUT's `requestId` while a notification session is up (no GET User after
//! the PUT), and by reading the User back without one; an asynchronous Device Busy with the
//! sign-in's `requestId` fails the sign-in with a typed error naming it.
#![cfg(unix)]

use std::time::Duration;

use finesse_sso::error::{Error, ErrorKind};
use finesse_sso::ipc::client::Client;
use finesse_sso::ipc::desktop::{SignInRequest, StateRequest, UserResult};
use finesse_sso::ipc::protocol::Request;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::agent_rig::{AgentRig, RigOptions};
use crate::support::emulator;

/// The User's path at the emulator: GETs and PUTs both count here.
const USER: &str = "/finesse/api/User/1001";

fn sign_in() -> Request {
    Request::DesktopSignIn(SignInRequest {
        extension: "1001001".into(),
        ..Default::default()
    })
}

fn ready() -> Request {
    Request::DesktopState(StateRequest {
        state: "READY".into(),
        ..Default::default()
    })
}

fn not_ready() -> Request {
    Request::DesktopState(StateRequest {
        state: "NOT_READY".into(),
        reason: Some("16".into()),
        ..Default::default()
    })
}

/// Subscribes with `notifications` and waits for the session to be up; the subscriber stays
/// (and the session with it) while the returned halves live.
async fn hold_session(
    rig: &AgentRig,
) -> (
    tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    tokio::net::unix::OwnedWriteHalf,
) {
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
    loop {
        let l = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the session comes up in time")
            .unwrap()
            .expect("the agent kept the connection");
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["event"] == "notifications" && v["state"] == "connected" {
            return (lines, w);
        }
    }
}

/// Runs `req` and returns its User and how many requests it made to the User's path.
async fn counted(
    e: &finesse_sso_emulator::Emulator,
    c: &mut Client,
    req: Request,
) -> (String, usize) {
    let before = e.request_count(USER);
    let r: UserResult = c.call(req).await.unwrap();
    (r.user.state, e.request_count(USER) - before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_session_confirms_sign_in_and_state_without_reading_the_user() {
    let e = emulator(&[]).await;
    let rig = AgentRig::start(&e, RigOptions::default()).await;
    let mut c = rig.client().await;
    c.token(60).await.unwrap();

    // No session: each change is read back (the PUT, then at least one GET).
    let (state, n) = counted(&e, &mut c, sign_in()).await;
    assert_eq!(state, "NOT_READY");
    let (state, n2) = counted(&e, &mut c, ready()).await;
    assert_eq!(state, "READY");
    assert!(n >= 2 && n2 >= 2, "polling made {n} and {n2} requests");

    // With a session: the PUT alone; the notification with its requestId confirms it.
    let _held = hold_session(&rig).await;
    let (state, n) = counted(&e, &mut c, not_ready()).await;
    assert_eq!((state.as_str(), n), ("NOT_READY", 1));
    let (state, n) = counted(&e, &mut c, ready()).await;
    assert_eq!((state.as_str(), n), ("READY", 1));
    rig.stop();
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asynchronous_device_busy_fails_the_sign_in_by_name() {
    let e = emulator(&[]).await;
    let rig = AgentRig::start(&e, RigOptions::default()).await;
    let mut c = rig.client().await;
    c.token(60).await.unwrap();
    let _held = hold_session(&rig).await;
    e.xmpp().set_device_busy(true);
    let before = e.request_count(USER);
    let err = c.call::<UserResult>(sign_in()).await.unwrap_err();
    let Error::FromAgent { kind, message } = &err else {
        panic!("{err}")
    };
    assert_eq!(*kind, ErrorKind::DesktopRefused, "{message}");
    assert!(
        message.contains("Device Busy") && message.contains("Device already in use"),
        "{message}"
    );
    assert_eq!(err.exit_code(), 18);
    // The login id mapping (one GET) and the PUT; no reading back.
    assert!(e.request_count(USER) - before <= 2);
    rig.stop();
    e.shutdown().await;
}
