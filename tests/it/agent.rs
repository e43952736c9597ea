//! End-to-end tests of the token agent over its real Unix socket, against the emulator:
//! refreshes pushed to subscribers (rotation on and off), refresh needing the browser, one
//! sign-in for 50 simultaneous requests, 200 clients among hostile ones, a client that stops
//! reading, another user refused,
//! the emulator restarting under the agent, the Python and Node clients, and no token in logs.
//!
//! The browser here is the emulator-driving HTTP test driver behind the `SignInBrowser` seam
//! (it keeps its cookies between sign-ins like the saved web session); `agent_window.rs` runs
//! the real window, `agent_process.rs` the 500-client fault storm on a real agent process.
#![cfg(unix)]

use std::time::Duration;

use crate::support::agent_rig::{AgentRig, RigOptions};
use crate::support::{self, newer_token};
use finesse_sso::error::{Error, ErrorKind};
use finesse_sso::ipc::client::Client;
use finesse_sso::ipc::transport::Endpoint;
use finesse_sso_emulator::{self as emulator, Emulator, EmulatorConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The shared rig, plus the emulator it runs against (tests stop and restart it).
struct Rig {
    emu: Option<Emulator>,
    agent: AgentRig,
}

impl std::ops::Deref for Rig {
    type Target = AgentRig;
    fn deref(&self) -> &AgentRig {
        &self.agent
    }
}

async fn start_emulator(cfg: EmulatorConfig) -> Emulator {
    emulator::start(cfg).await.expect("emulator starts")
}

fn short(access: u64, refresh: u64) -> EmulatorConfig {
    EmulatorConfig {
        access_ttl: Duration::from_secs(access),
        refresh_ttl: Duration::from_secs(refresh),
        ..Default::default()
    }
}

async fn rig(emu: Emulator, max_clients: usize) -> Rig {
    // Installed before the agent starts, so its first lines are kept.
    support::logs();
    let opts = RigOptions {
        max_clients,
        read_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let agent = AgentRig::start(&emu, opts).await;
    Rig {
        emu: Some(emu),
        agent,
    }
}

impl Rig {
    fn emu(&self) -> &Emulator {
        self.emu.as_ref().unwrap()
    }
    async fn shutdown(mut self) {
        self.agent.stop();
        if let Some(e) = self.emu.take() {
            e.shutdown().await;
        }
    }
}

async fn subscription_sees_refreshes(rotate: bool) {
    let mut cfg = short(3, 600);
    cfg.rotate_refresh = rotate;
    let r = rig(start_emulator(cfg).await, 64).await;
    let mut sub = r.client().await;
    sub.subscribe().await.unwrap();
    let first = r.client().await.token(0).await.unwrap();
    let mut seen = vec![first.serial];
    assert!(r.accepted(first.token.expose()).await);
    while seen.len() < 4 {
        let ev = tokio::time::timeout(Duration::from_secs(20), sub.next_event())
            .await
            .expect("a pushed token within 20 s")
            .unwrap();
        assert_eq!(ev.event, "token");
        let t = ev.result.unwrap();
        if seen.contains(&t.serial) {
            continue; // the current token pushed at subscribe time
        }
        assert!(
            r.accepted(t.token.expose()).await,
            "token #{} rejected",
            t.serial
        );
        seen.push(t.serial);
    }
    assert_eq!(seen, [1, 2, 3, 4]);
    let st = r.client().await.status().await.unwrap();
    assert_eq!((st.sign_ins, st.state.as_str()), (1, "valid"));
    assert!(st.refreshes >= 3);
    assert_eq!(
        r.auth.calls(),
        [false, true],
        "one sign-in, then refreshes only"
    );
    assert!(r.emu().request_count("/desktop/sso/token") >= 4);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_sees_each_refresh_without_rotation() {
    subscription_sees_refreshes(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_sees_each_refresh_with_rotation() {
    subscription_sees_refreshes(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_needing_the_browser_is_done_silently() {
    let r = rig(start_emulator(short(300, 600)).await, 64).await;
    let mut c = r.client().await;
    let first = c.token(0).await.unwrap();
    let logins = r.emu().request_count("/idp/login");
    r.emu().faults().set_refresh_redirect(true);
    let second = c.refresh().await.unwrap();
    assert_eq!(second.serial, first.serial + 1);
    assert_ne!(second.token.expose(), first.token.expose());
    assert!(r.accepted(second.token.expose()).await);
    // The hidden sign-in used the saved session: no login page, no password.
    assert_eq!(r.auth.calls(), [false, true, false]);
    assert_eq!(r.emu().request_count("/idp/login"), logins);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_refresh_token_means_one_sign_in_for_fifty_clients() {
    let r = rig(start_emulator(short(60, 1)).await, 128).await;
    let first = r.client().await.token(0).await.unwrap();
    let tokens_before = r.emu().issued_access_tokens().len();
    // Let the refresh token expire (1 s), then ask 50 clients at once for more validity than
    // the held token has left: the refresh is refused (401) and a sign-in takes over.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(r.client().await);
    }
    let min_valid = first.lifetime - 1;
    let asks: Vec<_> = clients
        .into_iter()
        .map(|mut c| tokio::spawn(async move { c.token(min_valid).await }))
        .collect();
    let mut serials = std::collections::BTreeSet::new();
    for a in asks {
        let t = a.await.unwrap().unwrap();
        serials.insert(t.serial);
    }
    assert_eq!(serials.into_iter().collect::<Vec<_>>(), [2]);
    assert_eq!(
        r.auth.calls(),
        [false, true, false],
        "exactly one more sign-in"
    );
    assert_eq!(r.emu().issued_access_tokens().len(), tokens_before + 1);
    r.shutdown().await;
}

/// Clients that misbehave, running while the good ones ask.
async fn hostile(ep: Endpoint, kind: usize) {
    let Ok(mut s) = UnixStream::connect(&ep.path).await else {
        return;
    };
    match kind {
        0 => {
            let _ = s.write_all(b"\x00\xff garbage {{{\n[]\n").await;
        }
        1 => {
            let _ = s.write_all(&vec![b'x'; 200 * 1024]).await;
        }
        2 => {
            for b in b"{\"op\":\"hel" {
                let _ = s.write_all(&[*b]).await;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }
        _ => {
            let _ = s
                .write_all(b"{\"op\":\"hello\",\"v\":1}\n{\"op\":\"tok")
                .await;
            let _ = s.shutdown().await;
        }
    }
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut sink),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_among_hostile_ones_all_get_the_token() {
    let r = rig(start_emulator(short(300, 600)).await, 512).await;
    let want = r.client().await.token(0).await.unwrap();
    let bad: Vec<_> = (0..40)
        .map(|i| tokio::spawn(hostile(r.ep.clone(), i % 4)))
        .collect();
    let good: Vec<_> = (0..200)
        .map(|_| {
            let ep = r.ep.clone();
            tokio::spawn(async move {
                let mut c = Client::connect(&ep, "default", "many").await?;
                let t = c.token(30).await?;
                let st = c.status().await?;
                Ok::<_, Error>((t, st))
            })
        })
        .collect();
    for g in good {
        let (t, st) = g.await.unwrap().unwrap();
        assert_eq!(t.token.expose(), want.token.expose());
        assert_eq!(st.user, "agent1");
    }
    for b in bad {
        b.await.unwrap();
    }
    // Still healthy, and no client caused a sign-in or a refresh.
    let st = r.client().await.status().await.unwrap();
    assert_eq!((st.sign_ins, st.refreshes), (1, 0));
    r.shutdown().await;
}

/// A client that asks and never reads fills the socket; the agent gives up on it after its
/// write timeout (it is counted out) while another client is answered all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_others_are_served() {
    support::logs();
    let emu = start_emulator(short(300, 600)).await;
    let opts = RigOptions {
        write_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let r = AgentRig::start(&emu, opts).await;
    let mut good = r.client().await;
    good.token(0).await.unwrap();
    let mut deaf = UnixStream::connect(&r.ep.path).await.unwrap();
    let mut asks = b"{\"op\":\"hello\",\"v\":1}\n".to_vec();
    for i in 0..4000 {
        asks.extend_from_slice(format!("{{\"op\":\"token\",\"id\":{i}}}\n").as_bytes());
    }
    // The agent stops reading too once its answers back up: write from a task.
    let writer = tokio::spawn(async move {
        let _ = deaf.write_all(&asks).await;
        deaf
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        good.token(0).await.unwrap();
        let st = good.status().await.unwrap();
        if st.clients == 1 && writer.is_finished() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the client that does not read is still connected ({} clients)",
            st.clients
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(writer.await.unwrap());
    r.stop();
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_get_busy() {
    let r = rig(start_emulator(short(300, 600)).await, 2).await;
    let _a = r.client().await;
    let _b = r.client().await;
    let s = UnixStream::connect(&r.ep.path).await.unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).await.unwrap();
    assert!(line.contains("\"busy\""), "{line}");
    r.shutdown().await;
}

fn python_client() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/clients/client.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_root_tests, ignore = "FINESSE_SSO_SKIP_ROOT_TESTS is set")]
async fn another_user_is_refused() {
    support::need_root();
    let r = rig(start_emulator(short(300, 600)).await, 64).await;
    let want = r.client().await.token(0).await.unwrap();
    let as_nobody = || {
        std::process::Command::new("runuser")
            .args(["-u", "nobody", "--", "python3"])
            .arg(python_client())
            .arg(&r.ep.path)
            .output()
            .expect("runuser runs")
    };
    // The 0700 runtime directory keeps others from even reaching the socket.
    let out = as_nobody();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
    // Were the directory and socket opened up by mistake, the peer-uid check still refuses.
    use std::os::unix::fs::PermissionsExt;
    let open = |p: &std::path::Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let run = r.ep.path.parent().unwrap();
    for d in [r.home.path(), run] {
        open(d, 0o711);
    }
    open(&r.ep.path, 0o666);
    let out = as_nobody();
    assert!(!out.status.success(), "nobody got an answer");
    assert!(out.stdout.is_empty());
    // The accept loop logs the refusal on its own task, possibly after the client has exited.
    support::logs()
        .wait_for(
            "refused a connection from uid 65534",
            Duration::from_secs(10),
        )
        .await;
    // We still get served.
    assert_eq!(r.client().await.token(0).await.unwrap().token, want.token);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_node_tests, ignore = "FINESSE_SSO_SKIP_NODE_TESTS is set")]
async fn python_and_node_clients_print_the_token() {
    support::need_node();
    let r = rig(start_emulator(short(300, 600)).await, 64).await;
    let want = r.client().await.token(0).await.unwrap();
    let node = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/clients/client.mjs");
    for (prog, script) in [("python3", python_client()), ("node", node)] {
        let out = tokio::process::Command::new(prog)
            .arg(&script)
            .arg(&r.ep.path)
            .args(["--min-valid", "30"])
            .output()
            .await
            .unwrap_or_else(|e| panic!("{prog}: {e}"));
        assert!(
            out.status.success(),
            "{prog}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want.token.expose(),
            "{prog}"
        );
    }
    // A typed error reaches the client as one: min_valid beyond the lifetime.
    let out = tokio::process::Command::new("python3")
        .arg(python_client())
        .arg(&r.ep.path)
        .args(["--min-valid", "100000"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad_request"));
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_recovers_when_the_emulator_restarts() {
    let mut cfg = short(3, 600);
    cfg.no_tls = true;
    let emu = start_emulator(cfg.clone()).await;
    let port = emu.finesse_url().port().unwrap();
    let (ids, idp) = (emu.ids_url().port().unwrap(), emu.idp_url().port().unwrap());
    let mut r = rig(emu, 64).await;
    let mut sub = r.client().await;
    sub.subscribe().await.unwrap();
    let first = r.client().await.token(0).await.unwrap();
    r.emu.take().unwrap().shutdown().await;
    // The scheduled refresh fails; status says why; the still-valid token is served.
    let mut c = r.client().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let st = loop {
        let st = c.status().await.unwrap();
        if st.last_error.is_some() {
            break st;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed refresh within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(st.last_error.unwrap().kind, ErrorKind::Network);
    if let Ok(t) = c.token(0).await {
        assert_eq!(t.serial, first.serial, "only the held token can be served");
    }
    // Same ports, new process state (keys, sessions): refresh fails, a sign-in takes over.
    cfg.finesse_port = port;
    cfg.ids_port = ids;
    cfg.idp_port = idp;
    r.emu = Some(start_emulator(cfg).await);
    // The agent recovers on its own.
    let t = newer_token(&mut sub, first.serial, Duration::from_secs(30)).await;
    assert!(r.accepted(t.token.expose()).await);
    let st = c.status().await.unwrap();
    assert!(st.last_error.is_none(), "{:?}", st.last_error);
    // The log never carried a token, at debug level either.
    let log = support::logs().text();
    for tok in r.emu().issued_access_tokens() {
        assert!(!log.contains(&tok), "a token reached the log");
    }
    assert!(!log.contains(first.token.expose()));
    r.shutdown().await;
}
