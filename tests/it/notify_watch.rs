//! `finesse-sso desktop watch` at `-vvv` against an agent holding a notification session: one
//! JSON line per event on stdout (a call's `dialog` too) until Ctrl-C (exit 0), never a token; and no token or SASL
//! PLAIN payload in the watch's or the agent's logs, where the inferred credential form is
//! named.
#![cfg(unix)]

use std::time::Duration;

use base64::Engine as _;
use finesse_sso::ipc::desktop::{SignInRequest, UserResult};
use finesse_sso::ipc::protocol::Request;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::agent_rig::{AgentRig, RigOptions};
use crate::support::desktop::{desktop_command, server_args};
use crate::support::{emulator, logs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_events_until_interrupted_and_logs_no_secret() {
    let log = logs();
    let e = emulator(&[]).await;
    let rig = AgentRig::start(&e, RigOptions::default()).await;
    let mut c = rig.client().await;
    c.token(60).await.unwrap();
    let mut args = vec!["watch".to_string()];
    args.extend(server_args(&e, "agent1"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = desktop_command(rig.home.path(), &args);
    cmd.arg("-vvv");
    let mut child = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let l = tokio::time::timeout(Duration::from_secs(20), out.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("watch still runs");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not one JSON line ({e}): {l}"))
    };
    let first = next().await;
    assert_eq!(
        (first["event"].as_str(), first["state"].as_str()),
        (Some("notifications"), Some("connected")),
        "{first}"
    );
    assert_eq!(next().await["user"]["state"], "LOGOUT");
    let _: UserResult = c
        .call(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let ev = next().await;
    assert_eq!(
        (ev["event"].as_str(), ev["user"]["state"].as_str()),
        (Some("user"), Some("NOT_READY")),
        "{ev}"
    );
    // A call: the `dialog` line as the agent sent it, then the agent's RESERVED.
    let _: UserResult = c
        .call(Request::DesktopState(
            finesse_sso::ipc::desktop::StateRequest {
                state: "READY".into(),
                reason: None,
                password: None,
            },
        ))
        .await
        .unwrap();
    assert_eq!(next().await["user"]["state"], "READY");
    let id = e.ring("1001", "5551234", "6000").unwrap();
    let ev = next().await;
    assert_eq!(
        (
            ev["event"].as_str(),
            ev["dialog"]["kind"].as_str(),
            ev["dialog"]["id"].as_str(),
            ev["dialog"]["from"].as_str()
        ),
        (
            Some("dialog"),
            Some("new"),
            Some(id.as_str()),
            Some("5551234")
        ),
        "{ev}"
    );
    assert_eq!(next().await["user"]["state"], "RESERVED");
    // Ctrl-C ends it cleanly.
    // SAFETY: kill(2) on our own child's pid, which has not been reaped (we hold it).
    let rc = unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let done = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("watch ends on SIGINT")
        .unwrap();
    assert!(
        done.status.success(),
        "{:?}: {}",
        done.status,
        String::from_utf8_lossy(&done.stderr)
    );
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("desktop watch: agent1"), "{stderr}");

    // The agent (in this process) said how it signs in to the notification service.
    let agent_log = log
        .wait_for(
            "SASL PLAIN as 1001 with the IdS access token as the password",
            Duration::from_secs(5),
        )
        .await;
    assert!(agent_log.contains("inferred, not documented"));
    for t in e.issued_access_tokens() {
        let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{t}", "1001"));
        for (what, text) in [
            ("watch stderr", stderr.as_ref()),
            ("agent log", agent_log.as_str()),
        ] {
            assert!(!text.contains(&t), "{what}: a token");
            assert!(!text.contains(&plain), "{what}: the SASL PLAIN payload");
        }
    }
    rig.stop();
    e.shutdown().await;
}

/// `desktop watch --acqueon`, end to end through the pipe: the session's state, the User as it
/// is, Acqueon's `Finesse / Agent / Login` after the sign-in (confirmed by its notification),
/// the state change as `SetAgentState`, and an asynchronous Device Busy as an `Error`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_acqueon_speaks_acqueons_envelopes() {
    use finesse_sso::ipc::desktop::{SignOutRequest, StateRequest};

    let e = emulator(&[]).await;
    let rig = AgentRig::start(&e, RigOptions::default()).await;
    let mut c = rig.client().await;
    c.token(60).await.unwrap();
    let mut args = vec!["watch".to_string(), "--acqueon".to_string()];
    args.extend(server_args(&e, "agent1"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = tokio::process::Command::from(desktop_command(rig.home.path(), &args))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let l = tokio::time::timeout(Duration::from_secs(20), out.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("watch still runs");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not one JSON line ({e}): {l}"))
    };
    let route = |v: &Value| {
        format!(
            "{}/{}/{}",
            v["channel"].as_str().unwrap_or("?"),
            v["topic"].as_str().unwrap_or("?"),
            v["subtopic"].as_str().unwrap_or("?")
        )
    };
    let up = next().await;
    assert_eq!(route(&up), "Cisco/Connection/SetConnectionStatus", "{up}");
    assert_eq!(up["message"]["data"]["status"], "connected");
    let now = next().await;
    assert_eq!(route(&now), "Cisco/Agent/SetAgentState", "{now}");
    assert_eq!(now["message"]["data"]["state"], "LOGOUT");

    let _: UserResult = c
        .call(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let login = next().await;
    assert_eq!(route(&login), "Finesse/Agent/Login", "{login}");
    assert_eq!(
        (
            login["message"]["event"].as_str(),
            login["message"]["data"]["loginID"].as_str(),
            login["message"]["data"]["state"].as_str()
        ),
        (Some("login"), Some("1001"), Some("Login"))
    );
    let _: UserResult = c
        .call(Request::DesktopState(StateRequest {
            state: "READY".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let ready = next().await;
    assert_eq!(route(&ready), "Cisco/Agent/SetAgentState", "{ready}");
    assert_eq!(ready["message"]["data"]["state"], "READY");

    // Signed out, then a sign-in the CTI server fails: Acqueon's Error.
    let _: UserResult = c
        .call(Request::DesktopState(StateRequest {
            state: "NOT_READY".into(),
            reason: Some("16".into()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let _: UserResult = c
        .call(Request::DesktopSignOut(SignOutRequest {
            reason: Some("55".into()),
            password: None,
        }))
        .await
        .unwrap();
    for want in ["NOT_READY", "LOGOUT"] {
        let v = next().await;
        assert_eq!(
            (route(&v), v["message"]["data"]["state"].as_str()),
            ("Cisco/Agent/SetAgentState".to_string(), Some(want)),
            "{v}"
        );
    }
    e.xmpp().set_device_busy(true);
    let refused = c
        .call::<UserResult>(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("Device Busy"), "{refused}");
    let err = next().await;
    assert_eq!(route(&err), "Cisco/Agent/Error", "{err}");
    assert_eq!(err["message"]["data"]["errorType"], "Device Busy");
    drop(out);
    let _ = child.start_kill();
    rig.stop();
    e.shutdown().await;
}
