//! Benchmark of a refresh (issue 16, item 5): the agent's `refresh` round trip (the product's
//! pipe client asks a running `agent run`, which POSTs the refresh form to Finesse and answers the
//! new token), against a bare `curl` POST of the same form to the same emulator (the floor), and
//! curl's cost per POST on a warm connection (11 POSTs in one process, minus one), interleaved.
//!
//! Usage (bench/all.sh runs it): a `login` JSON on stdin (its token and refresh token, for curl),
//!   refresh_bench --socket PATH --server FINESSE_URL --ca-file CA [--user agent1] [--runs 21]
//!                 [--json FILE]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use finesse_sso::ipc::client::Client;
use finesse_sso::ipc::transport::Endpoint;

type Fail = Box<dyn std::error::Error + Send + Sync>;

/// POSTs in the warm-connection curl run (the first pays the start and the handshake).
const WARM: usize = 11;

fn main() -> Result<(), Fail> {
    let mut socket = PathBuf::new();
    let (mut server, mut ca, mut user) = (String::new(), String::new(), "agent1".to_string());
    let (mut runs, mut json) = (21usize, None::<PathBuf>);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut v = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--socket" => socket = v()?.into(),
            "--server" => server = v()?,
            "--ca-file" => ca = v()?,
            "--user" => user = v()?,
            "--runs" => runs = v()?.parse()?,
            "--json" => json = Some(v()?.into()),
            _ => return Err(format!("unknown argument {a:?}").into()),
        }
    }
    let mut login = String::new();
    std::io::stdin().read_to_string(&mut login)?;
    let login: serde_json::Value = serde_json::from_str(&login)?;
    let (Some(token), Some(refresh)) = (login["token"].as_str(), login["refresh_token"].as_str())
    else {
        return Err("stdin: a login JSON with token and refresh_token".into());
    };
    // The form holds both tokens: a private file, never argv.
    let dir = tempfile::tempdir()?;
    let form = dir.path().join("form");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .append_pair("refresh-token", refresh)
        .append_pair("return_user", "yes")
        .append_pair("return_refresh_token", "true")
        .finish();
    std::fs::write(&form, body)?;
    let url = format!(
        "{}/desktop/sso/token?cc_username={user}",
        server.trim_end_matches('/')
    );
    let curl = |posts: usize| {
        let mut c = Command::new("curl");
        for i in 0..posts {
            if i > 0 {
                c.arg("--next");
            }
            c.args(["-sS", "--fail", "--cacert", &ca, "--data"])
                .arg(format!("@{}", form.display()))
                .arg(&url);
        }
        c.stdout(Stdio::piped()).stderr(Stdio::inherit());
        c
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ep = Endpoint {
        path: socket,
        lock: PathBuf::new(),
    };
    let mut client = rt.block_on(Client::connect(&ep, "default", "refresh_bench"))?;
    let load_before = load();
    let (mut agent, mut one, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    let mut serial = 0;
    for i in 0..=runs {
        let t = Instant::now();
        let got = rt.block_on(client.refresh())?;
        let a = t.elapsed().as_secs_f64() * 1e3;
        if got.serial <= serial {
            return Err(format!("refresh {i}: serial {} did not grow", got.serial).into());
        }
        serial = got.serial;
        let t = Instant::now();
        check(curl(1).output()?, 1)?;
        let b = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        check(curl(WARM).output()?, WARM)?;
        let c = t.elapsed().as_secs_f64() * 1e3;
        if i > 0 {
            // Run 0 warms the caches and the agent's connection.
            agent.push(a);
            one.push(b);
            warm.push(c);
        }
    }
    let load_after = load();
    let (a, b, c) = (median(&agent), median(&one), median(&warm));
    let per_warm = (c - b) / (WARM - 1) as f64;
    println!("refresh: {runs} runs each, interleaved, load {load_before} → {load_after}");
    println!("| command | runs | median ms [min–max] | ratio to floor |\n|---|---:|---:|---:|");
    println!(
        "| agent `refresh` over the pipe (warm connection to Finesse) | {runs} | {} | {:.2}× |",
        cell(&agent),
        a / b
    );
    println!(
        "| curl POST of the same form, one process (floor) | {runs} | {} | 1.00× |",
        cell(&one)
    );
    println!(
        "| curl, per POST on a warm connection ((T{WARM} − T1)/{}) | {runs} | {per_warm:.2} | {:.2}× |",
        WARM - 1,
        per_warm / b
    );
    if let Some(path) = json {
        let j = serde_json::json!({
            "load_before": load_before, "load_after": load_after, "runs": runs,
            "agent_ms": a, "curl_ms": b, "curl_warm_per_post_ms": per_warm,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&j)?)?;
    }
    rt.block_on(async { drop(client) });
    Ok(())
}

/// Every POST of a curl run answered a token (`--fail` makes an HTTP error a non-zero exit).
fn check(out: std::process::Output, posts: usize) -> Result<(), Fail> {
    let answers = String::from_utf8_lossy(&out.stdout)
        .matches("\"token\"")
        .count();
    if !out.status.success() || answers != posts {
        return Err(format!("curl ({posts} POSTs) failed: {}", out.status).into());
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn cell(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("{:.2} [{lo:.2}–{hi:.2}]", median(v))
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
