//! Agent benchmark (ignored by default; numbers go to `docs/benchmarks.md`):
//!
//! ```sh
//! xvfb-run -a cargo test --release --test it agent_bench -- --ignored --nocapture
//! ```
//!
//! A real `finesse-sso agent run` process against the emulator: its RSS idle, after a sign-in
//! through the window (WebKit lives in the window's child process and must leave with it), and
//! with 200 clients connected; `token` round-trip latency over the socket, on one connection
//! and with a new connection (connect + hello + token) per request.
#![cfg(all(target_os = "linux", feature = "webview"))]

use std::time::{Duration, Instant};

use finesse_sso::ipc::client::Client;
use finesse_sso::ipc::transport::Endpoint;
use finesse_sso_emulator::{self as emulator, EmulatorConfig};

const EXE: &str = env!("CARGO_BIN_EXE_finesse-sso");

pub(crate) fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

pub(crate) fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored under xvfb-run"]
async fn agent_latency_and_memory() {
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
        .env("FINESSE_SSO_HOME", home.path())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let dirs = finesse_sso::dirs::Dirs::under(home.path());
    let ep = Endpoint::of(&dirs, "default").unwrap();
    let mut c = loop {
        match Client::connect(&ep, "default", "bench").await {
            Ok(c) => break c,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(pid);
    let t0 = Instant::now();
    c.token(0).await.unwrap();
    let sign_in = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_sign_in = rss_kib(pid);

    const N: usize = 5000;
    let mut one_conn = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        c.token(0).await.unwrap();
        one_conn.push(t.elapsed());
    }
    one_conn.sort();
    const M: usize = 1000;
    let mut fresh = Vec::with_capacity(M);
    for _ in 0..M {
        let t = Instant::now();
        let mut k = Client::connect(&ep, "default", "bench").await.unwrap();
        k.token(0).await.unwrap();
        fresh.push(t.elapsed());
    }
    fresh.sort();

    let mut many = Vec::new();
    for _ in 0..200 {
        many.push(Client::connect(&ep, "default", "bench").await.unwrap());
    }
    let t = Instant::now();
    let asks: Vec<_> = many
        .into_iter()
        .map(|mut k| {
            tokio::spawn(async move {
                k.token(0).await.unwrap();
                k
            })
        })
        .collect();
    let mut held = Vec::new();
    for a in asks {
        held.push(a.await.unwrap());
    }
    let burst = t.elapsed();
    let with_200 = rss_kib(pid);
    drop(held);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_200 = rss_kib(pid);

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| sign-in through the window (spawn → token), once | {:.0} ms |",
        sign_in.as_secs_f64() * 1e3
    );
    println!(
        "| `token`, one connection, N={N}: p50 / p99 | {:.0} µs / {:.0} µs |",
        pct(&one_conn, 0.5),
        pct(&one_conn, 0.99)
    );
    println!(
        "| connect + hello + `token`, N={M}: p50 / p99 | {:.0} µs / {:.0} µs |",
        pct(&fresh, 0.5),
        pct(&fresh, 0.99)
    );
    println!(
        "| 200 connected clients ask at once: all answered in | {:.1} ms |",
        burst.as_secs_f64() * 1e3
    );
    println!(
        "| agent RSS idle, before any sign-in | {:.1} MiB |",
        idle as f64 / 1024.0
    );
    println!(
        "| agent RSS after a window sign-in | {:.1} MiB |",
        after_sign_in as f64 / 1024.0
    );
    println!(
        "| agent RSS with 200 clients connected | {:.1} MiB |",
        with_200 as f64 / 1024.0
    );
    println!(
        "| agent RSS after they left | {:.1} MiB |",
        after_200 as f64 / 1024.0
    );
    // WebKit must not stay resident in the agent (it lives in the window's process).
    assert!(
        after_sign_in < idle + 32 * 1024,
        "{idle} KiB → {after_sign_in} KiB"
    );
    c.stop().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    emu.shutdown().await;
}
