//! The VPN-less proxy's 418 (client blocked) and 429 (rate limited) against the agent: the
//! refresh timer, clients that insist and the notification session each send one request,
//! then nothing until the wait is over. The emulator counts what reaches it; each test waits
//! (with a deadline) for the refusal to be seen, then watches the count over a window.
#![cfg(unix)]

use std::time::Duration;

use finesse_sso::error::{Error, ErrorKind};
use finesse_sso::notify::runner::Options;
use finesse_sso_emulator::Emulator;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::agent_rig::{AgentRig, RigOptions};
use crate::support::emulator;

/// How long a test watches for requests that must not come (the agent's own backoffs at
/// these settings are 100–400 ms, so a loop would show many times over).
const WATCH: Duration = Duration::from_secs(3);

/// Waits until `cond` holds, failing the test after `within`.
async fn until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn rig(e: &Emulator) -> AgentRig {
    AgentRig::start(
        e,
        RigOptions {
            notify: Options {
                ping_every: Duration::from_millis(300),
                backoff_min: Duration::from_millis(100),
                backoff_max: Duration::from_millis(400),
                refused_backoff: Duration::from_millis(400),
                ..Options::default()
            },
            ..RigOptions::default()
        },
    )
    .await
}

/// A refresh answered 429 (Retry-After: 3600), then 418: one request each, the typed error to
/// every client that asks meanwhile, and the wait in `status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_refresh_is_not_retried_by_the_timer_or_by_clients() {
    for (status, retry_after, kind, at_least) in [
        (429, Some(3600), ErrorKind::RateLimited, 3500),
        (418, None, ErrorKind::ProxyBlocked, 290),
    ] {
        let e = emulator(&["--access-ttl", "3s"]).await;
        let rig = rig(&e).await;
        let mut c = rig.client().await;
        c.token(1).await.unwrap();
        const TOKEN: &str = "/desktop/sso/token";
        let before = e.request_count(TOKEN);
        e.faults().set_retry_after(retry_after);
        e.faults().set_status("token", Some(status)).unwrap();
        // The timer refreshes at 75 % of 3 s: one request, refused.
        until(
            "the refresh reaches the proxy",
            Duration::from_secs(20),
            || e.request_count(TOKEN) > before,
        )
        .await;
        let mut st = c.status().await.unwrap();
        for _ in 0..100 {
            if st.last_error.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            st = c.status().await.unwrap();
        }
        let last = st.last_error.clone().expect("the refusal is recorded");
        assert_eq!(last.kind, kind, "{}", last.message);
        assert!(
            st.next_refresh_in.is_some_and(|s| s >= at_least),
            "HTTP {status}: {:?}",
            st.next_refresh_in
        );
        // Clients that insist: the same typed error, from memory.
        for _ in 0..20 {
            let err = c.refresh().await.unwrap_err();
            let Error::FromAgent { kind: got, message } = &err else {
                panic!("{err}")
            };
            assert_eq!(*got, kind, "{message}");
            assert!(message.contains("not retried for"), "{message}");
            assert_eq!(
                err.exit_code(),
                if status == 418 { 24 } else { 25 },
                "{err}"
            );
        }
        let sent = e.request_count(TOKEN);
        tokio::time::sleep(WATCH).await;
        assert_eq!(
            (sent, e.request_count(TOKEN)),
            (before + 1, before + 1),
            "HTTP {status}: the agent retried the refresh"
        );
        rig.stop();
        e.shutdown().await;
    }
}

/// The notification WebSocket answered 429 or 418: one upgrade, a `disconnected` event with
/// the wait, and no reconnect during it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_notification_session_waits_before_it_reconnects() {
    for (status, retry_after, at_least_ms) in [(429, Some(600), 600_000), (418, None, 300_000)] {
        let e = emulator(&[]).await;
        e.faults().set_retry_after(retry_after);
        e.faults().set_status("ws", Some(status)).unwrap();
        let rig = rig(&e).await;
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
        let down = loop {
            let l = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("a line in time")
                .unwrap()
                .expect("the agent kept the connection");
            let v: Value = serde_json::from_str(&l).unwrap();
            if v["event"] == "notifications" && v["state"] == "disconnected" {
                break v;
            }
        };
        let reason = down["reason"].as_str().unwrap_or("");
        assert!(
            reason.contains(&format!("HTTP {status}")) && reason.contains("VPN-less proxy"),
            "{down}"
        );
        assert!(
            down["retry_in_ms"]
                .as_u64()
                .is_some_and(|ms| ms >= at_least_ms),
            "{down}"
        );
        assert_eq!(e.request_count("/ws/"), 1);
        tokio::time::sleep(WATCH).await;
        assert_eq!(
            e.request_count("/ws/"),
            1,
            "HTTP {status}: the session reconnected during the wait"
        );
        drop(w);
        rig.stop();
        e.shutdown().await;
    }
}

/// The proxy's 429 on REST: a desktop request fails at once with `rate_limited` after one
/// request (no retry), and a notification session whose SystemInfo call is refused waits the
/// default 2 minutes (no `Retry-After`) before its next attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_rest_call_is_not_repeated() {
    use finesse_sso::ipc::desktop::{SignInRequest, UserResult};
    use finesse_sso::ipc::protocol::Request;

    let e = emulator(&[]).await;
    let rig = rig(&e).await;
    let mut c = rig.client().await;
    c.token(60).await.unwrap();
    e.faults().set_status("user", Some(429)).unwrap();
    let before = e.request_count("/finesse/api/User/agent1");
    let err = c
        .call::<UserResult>(Request::DesktopSignIn(SignInRequest {
            extension: "1001001".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    let Error::FromAgent { kind, message } = &err else {
        panic!("{err}")
    };
    assert_eq!(*kind, ErrorKind::RateLimited, "{message}");
    assert_eq!(err.exit_code(), 25);
    assert_eq!(e.request_count("/finesse/api/User/agent1") - before, 1);
    // The same through the CLI (it uses the running agent): its own exit code, 418 too.
    for (status, code, needle) in [(429, 25, "HTTP 429"), (418, 24, "HTTP 418")] {
        e.faults().set_status("user", Some(status)).unwrap();
        let mut args = vec!["user".to_string()];
        args.extend(crate::support::desktop::server_args(&e, "agent1"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = crate::support::output(crate::support::desktop::desktop_command(
            rig.home.path(),
            &args,
        ))
        .await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{err}");
        assert!(
            err.contains(needle) && err.contains("VPN-less proxy"),
            "{err}"
        );
        assert!(o.stdout.is_empty());
    }
    e.faults().set_status("user", None).unwrap();

    const SYSTEM_INFO: &str = "/finesse/api/SystemInfo";
    e.faults().set_status("systeminfo", Some(429)).unwrap();
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
    let down = loop {
        let l = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("the agent kept the connection");
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["event"] == "notifications" && v["state"] == "disconnected" {
            break v;
        }
    };
    assert!(
        down["retry_in_ms"].as_u64().is_some_and(|ms| ms >= 120_000),
        "{down}"
    );
    let sent = e.request_count(SYSTEM_INFO);
    tokio::time::sleep(WATCH).await;
    assert_eq!(
        e.request_count(SYSTEM_INFO),
        sent,
        "SystemInfo was asked again"
    );
    assert_eq!(e.request_count("/ws/"), 0);
    drop(w);
    rig.stop();
    e.shutdown().await;
}
