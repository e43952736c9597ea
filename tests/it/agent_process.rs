//! The agent as a real process (`finesse-sso agent run`, signing in through the real window
//! under Xvfb): 500 concurrent clients while the emulator answers 500s, cuts answers, stalls
//! and restarts, with the agent process's own `VmRSS` measured; and a state directory that
//! turns read-only or full under a running agent. The emulator runs in this test process.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support;
use finesse_sso::dirs::Dirs;
use finesse_sso::error::Result;
use finesse_sso::ipc::client::Client;
use finesse_sso::ipc::protocol::TokenInfo;
use finesse_sso::ipc::transport::Endpoint;
use finesse_sso_emulator::Emulator;
use tokio::io::{AsyncBufReadExt, BufReader};

const EXE: &str = env!("CARGO_BIN_EXE_finesse-sso");

/// A running `finesse-sso agent run` with its stderr collected.
struct Agent {
    child: tokio::process::Child,
    ep: Endpoint,
    log: Arc<Mutex<String>>,
}

impl Agent {
    /// Starts the agent against `emu` with everything under `home`; returns once it is ready.
    async fn start(emu: &Emulator, home: &Path) -> Agent {
        let mut c = tokio::process::Command::new(EXE);
        c.args(["-v", "agent", "run", "--server", emu.finesse_url().as_str()])
            .args(["--user", "agent1", "--sign-in-timeout", "60"])
            .env("FINESSE_SSO_HOME", home)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env_remove("FINESSE_SSO_SERVER")
            .env_remove("FINESSE_SSO_USER")
            .env_remove("FINESSE_SSO_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(ca) = emu.ca_file() {
            c.arg("--ca-file").arg(ca);
        }
        let mut child = c.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            while let Ok(Some(l)) = lines.next_line().await {
                if l.contains("ready on")
                    && let Some(tx) = ready.take()
                {
                    let _ = tx.send(());
                }
                sink.lock().unwrap().push_str(&(l + "\n"));
            }
        });
        tokio::time::timeout(Duration::from_secs(30), ready_rx)
            .await
            .expect("the agent is ready within 30 s")
            .expect("the agent printed its ready line");
        let ep = Endpoint::of(&Dirs::under(home), "default").unwrap();
        Agent { child, ep, log }
    }

    async fn client(&self) -> Client {
        Client::connect(&self.ep, "default", "test").await.unwrap()
    }

    /// The agent process's resident memory (its window processes are separate), in KiB.
    fn rss_kib(&self) -> u64 {
        let pid = self.child.id().unwrap();
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The agent's log once `done` holds for it: a reader task copies the agent's stderr into
    /// `log` a moment after the agent writes it, so a line may lag the reply it precedes.
    async fn log_when(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            if done(&log) {
                return log;
            }
            assert!(Instant::now() < deadline, "{what} within 20 s:\n{log}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the agent is idle with at most `clients` connections.
    async fn settle(&self, clients: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "the agent never went idle");
            if let Ok(mut c) = Client::connect(&self.ep, "default", "probe").await
                && let Ok(st) = c.status().await
                && st.activity == "idle"
                && st.clients <= clients
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.client().await.stop().await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// `n` clients at once, each on its own connection, once the last crowd has left (the agent
/// counts a connection until it has seen it close); their results in order.
async fn storm(agent: &Agent, n: usize, refresh: bool) -> Vec<Result<TokenInfo>> {
    agent.settle(1).await;
    let ep = &agent.ep;
    // Every client is connected before any asks, so one acquisition serves them all however
    // long 500 connections take on a loaded machine (a late `refresh` would rightly start another).
    let gate = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let ep = ep.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                let c = Client::connect(&ep, "default", "storm").await;
                gate.wait().await;
                let mut c = c?;
                if refresh {
                    c.refresh().await
                } else {
                    c.token(0).await
                }
            })
        })
        .collect();
    let mut out = vec![];
    for t in tasks {
        let r = tokio::time::timeout(Duration::from_secs(90), t)
            .await
            .expect("no client hangs")
            .unwrap();
        out.push(r);
    }
    out
}

/// The token works at Finesse (`GET /finesse/api/User/agent1`).
async fn accepted(emu: &Emulator, token: &str) -> bool {
    let target = finesse_sso::signin::Target {
        server: emu.finesse_url().clone(),
        other_sides: Vec::new(),
        user: "agent1".into(),
        ca_pem: emu.ca_pem().map(|p| p.as_bytes().to_vec()),
        proxy: Default::default(),
        profile: "default".into(),
        kerberos_hosts: Vec::new(),
        client_cert: None,
    };
    let f = target.finesse().unwrap();
    f.user("agent1", &token.to_string().into()).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn five_hundred_clients_ride_out_faults_and_a_restart() {
    support::need_display();
    // Plain http on loopback, so the restarted emulator is the same server to the agent.
    let flags = ["--no-tls", "--auto-login", "agent1", "--access-ttl", "300s"];
    let emu = support::emulator(&flags).await;
    let ports: Vec<String> = [emu.finesse_url(), emu.ids_url(), emu.idp_url()]
        .iter()
        .map(|u| u.port().unwrap().to_string())
        .collect();
    let home = tempfile::tempdir().unwrap();
    let agent = Agent::start(&emu, home.path()).await;
    let first = agent.client().await.token(0).await.unwrap();
    agent.settle(1).await;
    let idle = agent.rss_kib();
    assert!(idle > 0);
    let mut peak = idle;

    let faults = emu.faults();
    faults.set_status("token", Some(500)).unwrap();
    let got = storm(&agent, 500, true).await;
    assert!(got.iter().all(|r| r.is_err()), "a 500 yields no token");
    peak = peak.max(agent.rss_kib());
    faults.set_status("token", None).unwrap();
    faults.set_cut("token", true).unwrap();
    let got = storm(&agent, 500, true).await;
    assert!(
        got.iter().all(|r| r.is_err()),
        "a cut answer yields no token"
    );
    faults.set_cut("token", false).unwrap();
    // A stall longer than the clients wait: each gives up after 2 s and hangs up mid-wait.
    faults
        .set_delay("token", Some(Duration::from_secs(4)))
        .unwrap();
    agent.settle(1).await;
    let impatient: Vec<_> = (0..500)
        .map(|_| {
            let ep = agent.ep.clone();
            tokio::spawn(async move {
                let mut c = Client::connect(&ep, "default", "impatient").await.unwrap();
                tokio::time::timeout(Duration::from_secs(2), c.refresh())
                    .await
                    .is_err()
            })
        })
        .collect();
    for h in impatient {
        assert!(
            h.await.unwrap(),
            "the stall outlasted the client's patience"
        );
    }
    peak = peak.max(agent.rss_kib());
    faults.clear();
    agent.settle(1).await;

    // The servers go away: the held token is still served from memory to everyone.
    emu.shutdown().await;
    let held = agent.client().await.token(0).await.unwrap();
    let got = storm(&agent, 500, false).await;
    assert!(
        got.iter()
            .all(|r| r.as_ref().is_ok_and(|t| t.serial == held.serial)),
        "the held token is served while the servers are down"
    );
    let got = storm(&agent, 500, true).await;
    assert!(
        got.iter().all(|r| r.is_err()),
        "no refresh without a server"
    );
    // Back on the same ports with a new state: the old refresh token means nothing there, so
    // the next refresh fails and a sign-in through the window takes over.
    let mut again = flags.to_vec();
    for (flag, port) in ["--finesse-port", "--ids-port", "--idp-port"]
        .iter()
        .zip(&ports)
    {
        again.extend([*flag, port.as_str()]);
    }
    let emu = support::emulator(&again).await;
    agent.settle(1).await;
    let got = storm(&agent, 500, true).await;
    peak = peak.max(agent.rss_kib());
    let tokens: std::collections::HashSet<String> = got
        .into_iter()
        .map(|r| {
            r.expect("a token once the server is back")
                .token
                .expose()
                .clone()
        })
        .collect();
    assert_eq!(tokens.len(), 1, "one refresh or sign-in serves all 500");
    let fresh = tokens.into_iter().next().unwrap();
    assert_ne!(&fresh, first.token.expose());
    assert!(accepted(&emu, &fresh).await, "the new server accepts it");
    let got = storm(&agent, 500, false).await;
    assert!(
        got.iter()
            .all(|r| r.as_ref().is_ok_and(|t| t.token.expose() == &fresh))
    );
    let st = agent.client().await.status().await.unwrap();
    assert_eq!(st.state, "valid");
    assert!(st.sign_ins >= 2, "the restart needed a sign-in");

    // Memory back near idle: the numbers go to docs/benchmarks.md.
    agent.settle(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = agent.rss_kib();
    eprintln!("agent VmRSS: idle {idle} KiB, peak seen {peak} KiB, after {after} KiB");
    assert!(
        after < idle + 4 * 1024,
        "RSS grew from {idle} KiB to {after} KiB"
    );
    assert!(!agent.log().contains("panicked"));
    agent.stop().await;
    emu.shutdown().await;
}

/// A state directory that turns read-only, then full, under a running agent: the token is
/// served from memory, refreshes go on (they touch no file), a sign-in still works and says
/// the web session was not saved, and `logout` on a read-only disk is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
#[cfg_attr(skip_root_tests, ignore = "FINESSE_SSO_SKIP_ROOT_TESTS is set")]
async fn a_read_only_or_full_state_dir_keeps_the_token_served() {
    support::need_display();
    support::need_root();
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let disk = support::Mount::tmpfs(&state, "16m");
    let emu = support::emulator(&["--auto-login", "agent1", "--access-ttl", "6s"]).await;
    let agent = Agent::start(&emu, home.path()).await;
    let first = agent.client().await.token(0).await.unwrap();
    let saved = state.join("profiles/default/web-session.json");
    assert!(saved.exists(), "the sign-in saved the web session");
    let mut sub = agent.client().await;
    sub.subscribe().await.unwrap();

    disk.remount("ro");
    let held = agent.client().await.token(0).await.unwrap();
    assert_eq!(held.serial, first.serial, "served from memory");
    // The scheduled refresh (at 75 % of 6 s) needs no disk.
    let refreshed = support::newer_token(&mut sub, first.serial, Duration::from_secs(20)).await;
    assert!(accepted(&emu, refreshed.token.expose()).await);
    // Logout forgets the tokens but cannot delete the saved session: it says so.
    let err = agent.client().await.logout().await.unwrap_err().to_string();
    assert!(
        err.contains("web-session") || err.contains("profiles/default"),
        "names what it could not delete: {err}"
    );
    assert!(err.contains("Read-only file system"), "{err}");
    // A sign-in still works on a read-only disk (silent, from the session still there).
    let t = agent.client().await.token(0).await.unwrap();
    assert!(accepted(&emu, t.token.expose()).await);

    // Full instead: the next sign-in needs the password after a logout (auto-login types it)
    // and cannot save its session, and says so.
    disk.remount("rw");
    agent.client().await.logout().await.unwrap();
    assert!(!saved.exists());
    disk.fill();
    let t = agent.client().await.token(0).await.unwrap();
    assert!(accepted(&emu, t.token.expose()).await);
    let t2 = agent.client().await.refresh().await.unwrap();
    assert!(accepted(&emu, t2.token.expose()).await);
    for why in ["Read-only file system", "No space left on device"] {
        let says = |log: &str| {
            log.lines()
                .any(|l| l.contains("the web session was not saved") && l.contains(why))
        };
        let what = format!("the log says the session was not saved ({why})");
        agent.log_when(&what, says).await;
    }
    assert!(!agent.log().contains("panicked"));
    agent.stop().await;
    emu.shutdown().await;
    drop(disk);
}
