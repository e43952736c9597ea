//! Notification benchmark, issue 15 (ignored by default; numbers go to `docs/benchmarks.md`):
//!
//! ```sh
//! xvfb-run -a cargo test --release --test it notify_bench -- --ignored --nocapture
//! ```
//!
//! A real `finesse-sso agent run` process against the emulator, signed in through its window
//! (the emulator's IdP signs `agent1` in without typing). For each state change made through
//! Finesse's User API (a PUT with the token, as a supervisor's desktop would), the time from
//! just before the PUT to the `user` event on the pipe, at 1 and at 200 subscribed clients,
//! beside the floor measured on the same change: the same XMPP message reaching a bare
//! WebSocket client of the emulator's notification service. Then the agent's RSS with its
//! notification session held and 200 subscribers (goal: under 20 MiB).
#![cfg(all(target_os = "linux", feature = "webview"))]

use std::time::{Duration, Instant};

use finesse_sso::ipc::client::Client;
use finesse_sso::ipc::transport::Endpoint;
use finesse_sso_emulator::{self as emulator, EmulatorConfig};
use serde_json::json;
use tokio::sync::mpsc;

use crate::agent_bench::{pct, rss_kib};
use crate::emulator::xmpp::Raw;
use crate::notify::Sub;

const EXE: &str = env!("CARGO_BIN_EXE_finesse-sso");

/// The body of change `i`: READY and NOT_READY (with a reason) in turn.
fn change(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "<User><state>READY</state></User>"
    } else {
        "<User><state>NOT_READY</state><reasonCodeId>17</reasonCodeId></User>"
    }
}

/// Latencies of `rounds` changes: the bare client's (the floor) and every subscriber's.
async fn measure(
    http: &reqwest::Client,
    put_url: &url::Url,
    token: &str,
    bare: &mut Raw,
    subs: Vec<Sub>,
    first: usize,
    rounds: usize,
) -> (Vec<Duration>, Vec<Duration>, Vec<Sub>) {
    let n = subs.len();
    // Each subscriber reads on its own task and reports (round, arrival).
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let readers: Vec<_> = subs
        .into_iter()
        .map(|mut s| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for r in 0..rounds {
                    // A snapshot emitted when the session came up carries no requestId.
                    let rid = format!("bench-{}", first + r);
                    loop {
                        let (v, _) = s.until("user").await;
                        if v["request_id"] == rid.as_str() {
                            break;
                        }
                        assert!(v["request_id"].is_null(), "round {r}: {v}");
                    }
                    tx.send((r, Instant::now())).unwrap();
                }
                s
            })
        })
        .collect();
    drop(tx);
    let mut floor = Vec::with_capacity(rounds);
    let mut pipe = Vec::with_capacity(rounds * n);
    for r in 0..rounds {
        let rid = format!("bench-{}", first + r);
        let t0 = Instant::now();
        let put = http
            .put(put_url.clone())
            .bearer_auth(token)
            .header("content-type", "application/xml")
            .header("requestId", &rid)
            .body(change(first + r))
            .send();
        let bare_got = async {
            loop {
                let f = bare.recv().await.expect("the bare client's session ended");
                if f.contains(&format!("&lt;requestId&gt;{rid}&lt;/requestId&gt;")) {
                    return Instant::now();
                }
            }
        };
        let (put, bare_at) = tokio::join!(put, bare_got);
        assert_eq!(put.unwrap().status(), 202);
        floor.push(bare_at - t0);
        for _ in 0..n {
            let (round, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("every subscriber's event in time")
                .expect("a subscriber ended");
            assert_eq!(round, r, "an event of another round");
            pipe.push(at - t0);
        }
    }
    let mut back = Vec::with_capacity(n);
    for h in readers {
        back.push(h.await.unwrap());
    }
    floor.sort();
    pipe.sort();
    (floor, pipe, back)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored under xvfb-run"]
async fn notification_latency_and_memory() {
    let emu = emulator::start(EmulatorConfig {
        auto_login: Some("agent1".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(EXE)
        .args(["agent", "run", "--lazy", "--user", "agent1", "--server"])
        .arg(emu.finesse_url().as_str())
        .arg("--ca-file")
        .arg(emu.ca_file().unwrap())
        .args(["--max-clients", "512"])
        .env("FINESSE_SSO_HOME", home.path())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let dirs = finesse_sso::dirs::Dirs::under(home.path());
    let ep = Endpoint::of(&dirs, "default").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut c = loop {
        match Client::connect(&ep, "default", "bench").await {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "no agent: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await
            }
        }
    };
    let token = c.token(0).await.unwrap().token.expose().clone();
    // The helper's own client (its TLS provider and trust), as a supervisor's desktop's PUT.
    let http = finesse_sso::http::client(
        &finesse_sso::http::HttpOptions {
            ca_pem: emu.ca_pem().map(|p| p.as_bytes().to_vec()),
            follow_redirects: false,
            timeout: Some(Duration::from_secs(20)),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let put_url = emu.finesse_url().join("/finesse/api/User/1001").unwrap();
    let r = http
        .put(put_url.clone())
        .bearer_auth(&token)
        .header("content-type", "application/xml")
        .body("<User><state>LOGIN</state><extension>1001001</extension></User>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    // The floor: a bare client of the notification service (what the agent's session is).
    let mut bare = Raw::online(&emu, "1001", &token).await;
    let sub = || Sub::new(&ep, json!({"notifications": true, "tokens": false}));
    let first = sub().await;
    // The agent's session is up once it is present at the emulator beside the bare client.
    let deadline = Instant::now() + Duration::from_secs(20);
    while emu.xmpp().present("1001") < 2 {
        assert!(
            Instant::now() < deadline,
            "the agent's session never came up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    const ROUNDS_1: usize = 200;
    let (floor1, pipe1, mut subs) =
        measure(&http, &put_url, &token, &mut bare, vec![first], 0, ROUNDS_1).await;
    for _ in 1..200 {
        subs.push(sub().await);
    }
    const ROUNDS_200: usize = 50;
    let (floor200, pipe200, subs) = measure(
        &http, &put_url, &token, &mut bare, subs, ROUNDS_1, ROUNDS_200,
    )
    .await;
    let rss_200 = rss_kib(pid);
    drop(subs);

    println!("| measure | p50 | p99 | ratio p50 to the floor |");
    println!("|---|---|---|---|");
    for (name, floor, pipe, rounds) in [
        ("1 subscriber", &floor1, &pipe1, ROUNDS_1),
        ("200 subscribers", &floor200, &pipe200, ROUNDS_200),
    ] {
        println!(
            "| floor (bare XMPP client), {name} run, N={rounds} | {:.0} µs | {:.0} µs | 1 |",
            pct(floor, 0.5),
            pct(floor, 0.99)
        );
        println!(
            "| `user` event on the pipe, {name}, N={} | {:.0} µs | {:.0} µs | {:.2} |",
            pipe.len(),
            pct(pipe, 0.5),
            pct(pipe, 0.99),
            pct(pipe, 0.5) / pct(floor, 0.5)
        );
    }
    println!(
        "| agent RSS, notification session held, 200 subscribers | {:.1} MiB | | goal < 20 MiB |",
        rss_200 as f64 / 1024.0
    );
    c.stop().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    emu.shutdown().await;
}
