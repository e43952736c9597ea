//! Unit tests of the keeper's lifecycle (injected clock, fake browser and refresh call) and of
//! one connection's protocol handling (in-memory duplex).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, watch};

use super::clock::{Clock, ManualClock};
use super::connection::{self, Context, Limits};
use super::keeper::{Change, Keeper, KeeperOptions, Refresher, Trigger};
use crate::error::{Error, ErrorKind, Result};
use crate::finesse::client::Refreshed;
use crate::finesse::token_response::TokenResponse;
use crate::redact::Secret;
use crate::signin::{BoxFuture, SignInBrowser, SignInOptions, Target};
use crate::window::{Placement, WindowHandle};

fn tr(token: &str, refresh: Option<&str>, expires_in: u64) -> TokenResponse {
    TokenResponse {
        token: Secret::new(token.into()),
        refresh_token: refresh.map(|r| Secret::new(r.into())),
        expires_in,
        user_id: Some("agent1".into()),
        realm: None,
        user_principal: None,
    }
}

/// A browser that answers from a script, records whether each call was interactive, and can
/// be held at a gate until the test opens it.
#[derive(Default)]
struct FakeAuth {
    script: Mutex<VecDeque<Result<TokenResponse>>>,
    calls: Mutex<Vec<bool>>,
    /// Where each call's window was to open.
    placements: Mutex<Vec<Placement>>,
    gate: Option<Arc<Semaphore>>,
}

impl FakeAuth {
    fn answers(items: Vec<Result<TokenResponse>>) -> Self {
        FakeAuth {
            script: Mutex::new(items.into()),
            ..Default::default()
        }
    }
    fn calls(&self) -> Vec<bool> {
        self.calls.lock().unwrap().clone()
    }
}

impl SignInBrowser for FakeAuth {
    fn authenticate<'a>(
        &'a self,
        target: &'a Target,
        opts: &'a SignInOptions,
    ) -> BoxFuture<'a, Result<TokenResponse>> {
        Box::pin(async move {
            assert_eq!(target.user, "agent1");
            self.calls.lock().unwrap().push(opts.interactive);
            self.placements.lock().unwrap().push(opts.placement.clone());
            if let Some(g) = &self.gate {
                let _ = g.acquire().await.unwrap();
            }
            self.script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| Err(Error::Internal("fake browser: script exhausted".into())))
        })
    }
}

/// A refresh endpoint that answers from a script and records what it was sent.
#[derive(Default)]
struct FakeRefresh {
    script: Mutex<VecDeque<Result<Refreshed>>>,
    seen: Mutex<Vec<(String, String)>>,
}

impl FakeRefresh {
    fn answers(items: Vec<Result<Refreshed>>) -> Self {
        FakeRefresh {
            script: Mutex::new(items.into()),
            ..Default::default()
        }
    }
    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Refresher for FakeRefresh {
    fn refresh<'a>(
        &'a self,
        _: &'a url::Url,
        user: &'a str,
        token: &'a Secret<String>,
        refresh: &'a Secret<String>,
    ) -> BoxFuture<'a, Result<Refreshed>> {
        Box::pin(async move {
            assert_eq!(user, "agent1");
            self.seen
                .lock()
                .unwrap()
                .push((token.expose().clone(), refresh.expose().clone()));
            self.script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| Err(Error::Internal("fake refresh: script exhausted".into())))
        })
    }
}

struct Rig {
    keeper: Arc<Keeper>,
    clock: Arc<ManualClock>,
    auth: Arc<FakeAuth>,
    refresh: Arc<FakeRefresh>,
    dir: tempfile::TempDir,
}

fn rig(auth: FakeAuth, refresh: FakeRefresh, prompts_per_hour: u32) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let auth = Arc::new(auth);
    let refresh = Arc::new(refresh);
    let target = Target {
        server: url::Url::parse("https://f.example:8445/").unwrap(),
        other_sides: Vec::new(),
        user: "agent1".into(),
        ca_pem: None,
        proxy: Default::default(),
        profile: "t".into(),
        kerberos_hosts: Vec::new(),
        client_cert: None,
    };
    let keeper = Keeper::new(
        target,
        dir.path().to_path_buf(),
        refresh.clone(),
        auth.clone(),
        clock.clone(),
        KeeperOptions {
            sign_in: SignInOptions::default(),
            prompts_per_hour,
            sign_in_at_start: false,
        },
    );
    Rig {
        keeper,
        clock,
        auth,
        refresh,
        dir,
    }
}

fn net_error() -> Error {
    Error::Network {
        step: "token refresh",
        host: "f.example:8445".into(),
        cause: "connection refused".into(),
    }
}

const S: fn(u64) -> Duration = Duration::from_secs;

#[tokio::test]
async fn refreshes_at_75_percent_and_keeps_or_rotates_the_refresh_token() {
    let r = rig(
        FakeAuth::answers(vec![Ok(tr("t1", Some("r1"), 300))]),
        FakeRefresh::answers(vec![
            Ok(Refreshed::Token(tr("t2", None, 300))),
            Ok(Refreshed::Token(tr("t3", Some("r2"), 300))),
            Ok(Refreshed::Token(tr("t4", None, 300))),
        ]),
        3,
    );
    let t = r.keeper.token(S(0)).await.unwrap();
    assert_eq!((t.token.expose().as_str(), t.serial), ("t1", 1));
    assert_eq!(r.auth.calls(), [false]); // silent sign-in was enough
    assert_eq!(r.keeper.next_wake().unwrap() - r.clock.now(), S(225));
    assert!(!r.keeper.tick().await);
    r.clock.advance(S(224));
    assert!(!r.keeper.tick().await);
    // Still valid: served without any call.
    assert_eq!(r.keeper.token(S(60)).await.unwrap().serial, 1);
    r.clock.advance(S(1));
    assert!(r.keeper.tick().await);
    for _ in 0..2 {
        r.clock.advance(S(225));
        assert!(r.keeper.tick().await);
    }
    let seen = r.refresh.seen();
    let pairs: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    // No refresh_token in the answer keeps r1; a rotated r2 replaces it.
    assert_eq!(pairs, [("t1", "r1"), ("t2", "r1"), ("t3", "r2")]);
    let st = r.keeper.status("t");
    assert_eq!(
        (st.state.as_str(), st.refreshes, st.sign_ins),
        ("valid", 3, 1)
    );
    assert_eq!(r.keeper.token(S(0)).await.unwrap().token.expose(), "t4");
}

/// The VPN-less proxy's 418/429 on a refresh: nothing reaches the server again (timer or
/// client) until the wait is over, the clients get the typed refusal meanwhile, then one
/// refresh goes out.
#[tokio::test]
async fn a_throttled_refresh_holds_every_attempt_off_until_the_wait_is_over() {
    use crate::error::Throttle;
    for (status, retry_after, wait) in [(429, Some("600"), S(600)), (418, None, S(300))] {
        let r = rig(
            FakeAuth::answers(vec![Ok(tr("t1", Some("r1"), 3600))]),
            FakeRefresh::answers(vec![
                Err(
                    Throttle::error("token refresh", "p:8445".into(), status, retry_after).unwrap(),
                ),
                Ok(Refreshed::Token(tr("t2", None, 300))),
            ]),
            3,
        );
        r.keeper.token(S(0)).await.unwrap();
        r.clock.advance(S(2700));
        assert!(r.keeper.tick().await);
        assert_eq!(r.refresh.seen().len(), 1);
        assert_eq!(r.keeper.next_wake().unwrap() - r.clock.now(), wait);
        let kind = if status == 418 {
            ErrorKind::ProxyBlocked
        } else {
            ErrorKind::RateLimited
        };
        // A client that insists gets the refusal from memory, with the time left, and so does
        // the timer: no request goes out during the wait.
        r.clock.advance(wait - S(1));
        for _ in 0..5 {
            let e = r.keeper.refresh().await.unwrap_err();
            assert_eq!(e.kind, kind, "{}", e.message);
            assert!(e.message.contains("not retried for 1 s"), "{}", e.message);
        }
        assert!(!r.keeper.tick().await);
        assert_eq!(r.refresh.seen().len(), 1, "HTTP {status}");
        assert_eq!(r.keeper.status("t").last_error.unwrap().kind, kind);
        r.clock.advance(S(1));
        assert!(r.keeper.tick().await);
        assert_eq!(r.refresh.seen().len(), 2);
        assert_eq!(r.keeper.token(S(0)).await.unwrap().token.expose(), "t2");
    }
}

#[tokio::test]
async fn refresh_needing_the_browser_signs_in_silently_then_interactively() {
    let r = rig(
        FakeAuth::answers(vec![
            Ok(tr("t1", Some("r1"), 100)),
            Ok(tr("t2", Some("r2"), 100)),
            Err(Error::InteractionRequired("IdP login page".into())),
            Ok(tr("t3", Some("r3"), 100)),
        ]),
        FakeRefresh::answers(vec![
            Ok(Refreshed::NeedsBrowser("HTTP 302 redirect".into())),
            Ok(Refreshed::NeedsBrowser("HTML page".into())),
        ]),
        3,
    );
    r.keeper.token(S(0)).await.unwrap();
    r.clock.advance(S(75));
    assert!(r.keeper.tick().await);
    assert_eq!(r.keeper.token(S(0)).await.unwrap().token.expose(), "t2");
    assert_eq!(r.auth.calls(), [false, false]);
    r.clock.advance(S(75));
    assert!(r.keeper.tick().await);
    assert_eq!(r.keeper.token(S(0)).await.unwrap().token.expose(), "t3");
    // The hidden window could not finish; the interactive one did (within the budget).
    assert_eq!(r.auth.calls(), [false, false, false, true]);
}

#[tokio::test]
async fn the_asking_clients_window_places_the_interactive_sign_in_once() {
    let r = rig(
        FakeAuth::answers(vec![
            Err(Error::InteractionRequired("IdP login page".into())),
            Ok(tr("t1", Some("r1"), 100)),
            Err(Error::InteractionRequired("IdP login page".into())),
            Ok(tr("t2", Some("r2"), 100)),
        ]),
        FakeRefresh::answers(vec![Ok(Refreshed::NeedsBrowser("HTML page".into()))]),
        3,
    );
    let placed = Placement {
        parent_window: Some(WindowHandle(0x1a0_0004)),
        activation_token: Some("token-1".into()),
    };
    r.keeper.place_next_window(placed.clone());
    r.keeper.token(S(0)).await.unwrap();
    // The silent attempt shows nothing to place; the interactive one opens over the client.
    assert_eq!(r.auth.calls(), [false, true]);
    assert_eq!(
        *r.auth.placements.lock().unwrap(),
        [Placement::default(), placed]
    );
    // Used once: a later sign-in no client placed opens wherever the desktop puts it.
    r.clock.advance(S(101));
    r.keeper.token(S(0)).await.unwrap();
    assert_eq!(r.auth.placements.lock().unwrap()[3], Placement::default());
}

#[tokio::test]
async fn unattended_prompts_are_capped_but_a_client_may_prompt() {
    let r = rig(
        FakeAuth::answers(vec![
            Ok(tr("t1", Some("r1"), 100)),
            Err(Error::InteractionRequired("login page".into())),
            Err(Error::InteractionRequired("login page".into())),
            Ok(tr("t2", Some("r2"), 100)),
        ]),
        FakeRefresh::answers(vec![Err(Error::AuthRejected {
            step: "token refresh",
            host: "f".into(),
            detail: "HTTP 401".into(),
        })]),
        0,
    );
    r.keeper.token(S(0)).await.unwrap();
    r.clock.advance(S(75));
    assert!(r.keeper.tick().await);
    // Budget 0: no window without a client; the agent parks and says why.
    assert_eq!(r.auth.calls(), [false, false]);
    let st = r.keeper.status("t");
    assert_eq!(st.last_error.unwrap().kind, ErrorKind::InteractionRequired);
    assert_eq!(r.keeper.next_wake(), None);
    // The old token is still served while valid.
    assert_eq!(r.keeper.token(S(0)).await.unwrap().token.expose(), "t1");
    r.clock.advance(S(30));
    // Expired: a client asks, so the window may show.
    assert_eq!(r.keeper.token(S(0)).await.unwrap().token.expose(), "t2");
    assert_eq!(r.auth.calls(), [false, false, false, true]);
    assert!(r.keeper.status("t").last_error.is_none());
}

#[tokio::test]
async fn finesse_down_serves_the_valid_token_and_backs_off() {
    let r = rig(
        FakeAuth::answers(vec![Ok(tr("t1", Some("r1"), 300))]),
        FakeRefresh::answers(vec![
            Err(net_error()),
            Err(net_error()),
            Ok(Refreshed::Token(tr("t2", None, 300))),
        ]),
        3,
    );
    r.keeper.token(S(0)).await.unwrap();
    r.clock.advance(S(225));
    assert!(r.keeper.tick().await);
    let st = r.keeper.status("t");
    assert_eq!(st.state, "valid");
    assert_eq!(st.last_error.as_ref().unwrap().kind, ErrorKind::Network);
    assert!(st.last_error.unwrap().message.contains("f.example:8445"));
    assert_eq!(r.keeper.token(S(10)).await.unwrap().token.expose(), "t1");
    assert_eq!(r.keeper.next_wake().unwrap() - r.clock.now(), S(1));
    r.clock.advance(S(1));
    assert!(r.keeper.tick().await);
    assert_eq!(r.keeper.next_wake().unwrap() - r.clock.now(), S(2));
    r.clock.advance(S(1));
    assert!(!r.keeper.tick().await);
    r.clock.advance(S(1));
    assert!(r.keeper.tick().await);
    assert_eq!(r.keeper.token(S(0)).await.unwrap().token.expose(), "t2");
    assert!(r.keeper.status("t").last_error.is_none());
    assert_eq!(r.auth.calls().len(), 1);
}

#[tokio::test]
async fn an_expired_pair_is_not_refreshed_but_replaced_by_a_sign_in() {
    let r = rig(
        FakeAuth::answers(vec![
            Ok(tr("t1", Some("r1"), 60)),
            Ok(tr("t2", Some("r2"), 60)),
        ]),
        FakeRefresh::default(),
        3,
    );
    r.keeper.token(S(0)).await.unwrap();
    r.clock.advance(S(61));
    assert_eq!(r.keeper.status("t").state, "expired");
    assert_eq!(r.keeper.token(S(0)).await.unwrap().token.expose(), "t2");
    assert!(r.refresh.seen().is_empty());
}

#[tokio::test]
async fn fifty_simultaneous_requests_share_one_sign_in() {
    let gate = Arc::new(Semaphore::new(0));
    let auth = FakeAuth {
        script: Mutex::new(vec![Ok(tr("t1", Some("r1"), 300))].into()),
        gate: Some(gate.clone()),
        ..Default::default()
    };
    let r = rig(auth, FakeRefresh::default(), 3);
    let mut waiting = Vec::new();
    for _ in 0..50 {
        let k = r.keeper.clone();
        waiting.push(tokio::spawn(async move { k.token(S(0)).await }));
    }
    // Let every request reach the flight before the browser answers.
    while r.auth.calls().is_empty() {
        tokio::task::yield_now().await;
    }
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(1);
    for w in waiting {
        let t = w.await.unwrap().unwrap();
        assert_eq!((t.token.expose().as_str(), t.serial), ("t1", 1));
    }
    assert_eq!(r.auth.calls(), [false]);
}

#[tokio::test]
async fn a_failed_sign_in_is_shared_too_not_retried_per_waiter() {
    let gate = Arc::new(Semaphore::new(0));
    let auth = FakeAuth {
        script: Mutex::new(vec![Err(Error::Cancelled)].into()),
        gate: Some(gate.clone()),
        ..Default::default()
    };
    let r = rig(auth, FakeRefresh::default(), 3);
    let mut waiting = Vec::new();
    for _ in 0..20 {
        let k = r.keeper.clone();
        waiting.push(tokio::spawn(async move { k.token(S(0)).await }));
    }
    while r.auth.calls().is_empty() {
        tokio::task::yield_now().await;
    }
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(1);
    for w in waiting {
        assert_eq!(w.await.unwrap().unwrap_err().kind, ErrorKind::Cancelled);
    }
    assert_eq!(r.auth.calls().len(), 1);
}

#[tokio::test]
async fn logout_forgets_tokens_and_the_web_session_and_tells_subscribers() {
    let r = rig(
        FakeAuth::answers(vec![Ok(tr("t1", Some("r1"), 300))]),
        FakeRefresh::default(),
        3,
    );
    let session = crate::websession::path(r.dir.path());
    std::fs::write(&session, b"{}").unwrap();
    let mut changes = r.keeper.subscribe();
    r.keeper.token(S(0)).await.unwrap();
    assert!(matches!(changes.recv().await.unwrap(), Change::Token(h) if h.serial == 1));
    r.keeper.logout().await.unwrap();
    assert!(matches!(changes.recv().await.unwrap(), Change::LoggedOut));
    assert!(!session.exists());
    assert_eq!(r.keeper.status("t").state, "signed_out");
    assert!(r.keeper.current(S(0)).is_none());
    assert_eq!(
        r.keeper.next_wake(),
        None,
        "no unattended sign-in after logout"
    );
}

#[tokio::test]
async fn min_valid_beyond_the_lifetime_is_a_typed_error() {
    let r = rig(
        FakeAuth::answers(vec![Ok(tr("t1", Some("r1"), 30))]),
        FakeRefresh::default(),
        3,
    );
    let e = r.keeper.token(S(60)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert!(e.message.contains("30 s"), "{}", e.message);
}

/// The pipe's fast path (`held_answer`, serialised once per second) answers with exactly the
/// bytes of the slow path (`token`'s answer through `ok_line`), within a second and across
/// seconds, for every kind of id, and only when the slow path would answer from memory too.
#[tokio::test]
async fn the_cached_token_answer_is_the_slow_paths_bytes() {
    use crate::ipc::protocol::{ResultBody, ok_line, ok_line_json};
    let r = rig(
        FakeAuth::answers(vec![Ok(tr("t1.a\"b\\c", Some("r1"), 300))]),
        FakeRefresh::default(),
        3,
    );
    assert!(r.keeper.held_answer(S(0)).is_none(), "nothing held yet");
    r.keeper.token(S(0)).await.unwrap();
    let ids = [None, Some(Value::from(7)), Some(Value::from("a \"q\"\n"))];
    let mut compared = 0;
    for step in [0, 400, 700, 2_000, 60_000] {
        r.clock.advance(Duration::from_millis(step));
        for id in &ids {
            for min in [0, 100, 250] {
                let fast = r.keeper.held_answer(S(min));
                assert_eq!(
                    fast.is_some(),
                    r.keeper.current(S(min)).is_some(),
                    "min {min}"
                );
                let Some(fast) = fast else { continue };
                let slow = r.keeper.token(S(min)).await.unwrap();
                assert_eq!(
                    ok_line_json(id.as_ref(), &fast),
                    ok_line(id.clone(), ResultBody::Token(slow)),
                    "after {step} ms, min {min}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 30, "{compared} answers compared");
    assert!(
        r.keeper.held_answer(S(250)).is_none(),
        "237 s left is not 250"
    );
    assert_eq!(r.auth.calls().len(), 1, "every answer came from memory");
}

#[tokio::test]
async fn a_scheduled_flight_refused_for_budget_is_retried_for_a_waiting_client() {
    let r = rig(
        FakeAuth::answers(vec![
            Err(Error::InteractionRequired("login".into())),
            Err(Error::InteractionRequired("login".into())),
            Ok(tr("t1", Some("r1"), 300)),
        ]),
        FakeRefresh::default(),
        0,
    );
    let (res, joined) = r.keeper.acquire(Trigger::Scheduled).await;
    assert_eq!(joined, Trigger::Scheduled);
    assert_eq!(res.unwrap_err().kind, ErrorKind::InteractionRequired);
    assert_eq!(r.keeper.token(S(0)).await.unwrap().token.expose(), "t1");
    assert_eq!(r.auth.calls(), [false, false, true]);
}

// ---- one connection over an in-memory pipe ----

struct Peer {
    lines: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
    w: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    async fn send(&mut self, s: &str) {
        self.w.write_all(s.as_bytes()).await.unwrap();
    }
    async fn recv(&mut self) -> Option<Value> {
        self.lines
            .next_line()
            .await
            .ok()
            .flatten()
            .map(|l| serde_json::from_str(&l).unwrap())
    }
}

fn connect(keeper: Arc<Keeper>, limits: Limits) -> (Peer, watch::Receiver<bool>) {
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (stop, stopped) = watch::channel(false);
    let ctx = Arc::new(Context {
        keeper,
        profile: "t".into(),
        limits,
        stop,
        desktop: Default::default(),
        notifications: super::notifications::Notifications::new(Default::default()),
    });
    let task = tokio::spawn(connection::serve(theirs, ctx));
    let (r, w) = tokio::io::split(ours);
    (
        Peer {
            lines: BufReader::new(r).lines(),
            w,
            task,
        },
        stopped,
    )
}

fn one_token_rig() -> Rig {
    rig(
        FakeAuth::answers(vec![Ok(tr("t1", Some("r1"), 300))]),
        FakeRefresh::answers(vec![Ok(Refreshed::Token(tr("t2", None, 300)))]),
        3,
    )
}

#[tokio::test]
async fn hello_first_then_requests_with_ids_and_typed_errors() {
    let r = one_token_rig();
    let (mut p, mut stopped) = connect(r.keeper.clone(), Limits::default());
    p.send("{\"op\":\"hello\",\"v\":1,\"client\":\"test\",\"id\":0}\n")
        .await;
    let h = p.recv().await.unwrap();
    assert_eq!(h["id"], 0);
    assert_eq!(h["result"]["v"], 1);
    assert_eq!(h["result"]["user"], "agent1");
    assert!(
        h["result"]["capabilities"]
            .as_array()
            .unwrap()
            .contains(&"subscribe".into())
    );
    p.send("not json\n").await;
    assert_eq!(p.recv().await.unwrap()["error"]["kind"], "bad_request");
    p.send("\n{\"op\":\"dance\",\"id\":\"x\"}\n").await;
    let e = p.recv().await.unwrap();
    assert_eq!(
        (e["id"].as_str(), e["error"]["kind"].as_str()),
        (Some("x"), Some("unknown_op"))
    );
    p.send("{\"op\":\"token\",\"id\":1,\"min_valid\":5,\"later\":true}\n")
        .await;
    let t = p.recv().await.unwrap();
    assert_eq!(t["id"], 1);
    assert_eq!(t["result"]["token"], "t1");
    assert_eq!(t["result"]["expires_in"], 300);
    assert!(
        t["result"].get("refresh_token").is_none(),
        "the refresh token stays inside"
    );
    p.send("{\"op\":\"subscribe\",\"id\":2}\n").await;
    // The current token is pushed at once; the ack may come before or after it.
    let mut got = [p.recv().await.unwrap(), p.recv().await.unwrap()];
    got.sort_by_key(|v| v.get("event").is_some());
    assert_eq!(got[0]["result"]["ok"], true);
    assert_eq!(
        (
            got[1]["event"].as_str(),
            got[1]["result"]["serial"].as_u64()
        ),
        (Some("token"), Some(1))
    );
    p.send("{\"op\":\"refresh\",\"id\":3}\n").await;
    let mut got = [p.recv().await.unwrap(), p.recv().await.unwrap()];
    got.sort_by_key(|v| v.get("event").is_some());
    assert_eq!(
        (got[0]["id"].as_u64(), got[0]["result"]["token"].as_str()),
        (Some(3), Some("t2"))
    );
    assert_eq!(got[1]["result"]["token"], "t2");
    p.send("{\"op\":\"status\",\"id\":4}\n").await;
    let st = p.recv().await.unwrap();
    assert_eq!(st["result"]["state"], "valid");
    assert_eq!(st["result"]["refreshes"], 1);
    p.send("{\"op\":\"stop\",\"id\":5}\n").await;
    assert_eq!(p.recv().await.unwrap()["result"]["ok"], true);
    assert!(p.recv().await.is_none(), "the stopping connection closes");
    stopped.wait_for(|s| *s).await.unwrap();
}

#[tokio::test]
async fn no_hello_or_wrong_version_is_refused_and_closed() {
    let r = one_token_rig();
    let (mut p, _s) = connect(r.keeper.clone(), Limits::default());
    p.send("{\"op\":\"token\",\"id\":1}\n").await;
    assert_eq!(p.recv().await.unwrap()["error"]["kind"], "hello_required");
    assert!(p.recv().await.is_none());
    let (mut p, _s) = connect(r.keeper.clone(), Limits::default());
    p.send("{\"op\":\"hello\",\"v\":2}\n").await;
    let e = p.recv().await.unwrap();
    assert_eq!(e["error"]["kind"], "version_mismatch");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("protocol 1")
    );
    assert!(p.recv().await.is_none());
    assert!(r.auth.calls().is_empty());
}

#[tokio::test]
async fn oversized_slow_and_silent_clients_are_dropped() {
    let r = one_token_rig();
    let limits = Limits {
        max_line: 1024,
        read_timeout: Duration::from_millis(200),
        hello_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(300),
        write_timeout: Duration::from_secs(1),
    };
    // Oversized.
    let (mut p, _s) = connect(r.keeper.clone(), limits.clone());
    p.send(&format!(
        "{{\"op\":\"hello\",\"v\":1,\"client\":\"{}\"}}\n",
        "x".repeat(2000)
    ))
    .await;
    assert_eq!(p.recv().await.unwrap()["error"]["kind"], "line_too_long");
    assert!(p.recv().await.is_none());
    // Half a line, then nothing.
    let (mut p, _s) = connect(r.keeper.clone(), limits.clone());
    p.send("{\"op\":\"hel").await;
    assert_eq!(p.recv().await.unwrap()["error"]["kind"], "read_timeout");
    assert!(p.recv().await.is_none());
    // Never says hello.
    let (mut p, _s) = connect(r.keeper.clone(), limits.clone());
    assert_eq!(p.recv().await.unwrap()["error"]["kind"], "hello_required");
    // Says hello, then idles.
    let (mut p, _s) = connect(r.keeper.clone(), limits.clone());
    p.send("{\"op\":\"hello\",\"v\":1}\n").await;
    assert!(p.recv().await.unwrap().get("result").is_some());
    assert_eq!(p.recv().await.unwrap()["error"]["kind"], "read_timeout");
    assert!(p.recv().await.is_none());
    // Hangs up mid-line: the task ends quietly.
    let (mut p, _s) = connect(r.keeper.clone(), limits);
    p.send("{\"op\":\"hello\",\"v\":1}\n{\"op\":\"tok").await;
    assert!(p.recv().await.is_some());
    let Peer { lines, w, task } = p;
    drop((lines, w));
    task.await.unwrap();
    assert!(r.auth.calls().is_empty());
}
