//! The pipe benchmark's measuring, the same on every platform (see `main.rs`): the clients, the
//! interleaved rounds, the echo floor's answering, the table. How a connection is opened, the
//! echo listens and the agent's memory is read is the platform file's (`unix.rs`, `windows.rs`).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::platform::{self, EchoListener, EchoPlace, Stream};

const HELLO: &[u8] = b"{\"op\":\"hello\",\"v\":1,\"client\":\"pipe_bench\"}\n";
const ASK: &[u8] = b"{\"op\":\"token\",\"id\":1}\n";
/// What every answer of a cached `token` starts with (the echo answers the same line).
const ANSWER: &[u8] = b"{\"id\":1,\"result\":{\"token\":\"";
const RESULT: &[u8] = b"\"result\"";

pub type Fail = Box<dyn std::error::Error + Send + Sync>;

pub fn main() -> Result<(), Fail> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("echo") => rt.block_on(echo_server(Path::new(&args[1]))),
        Some("--self-test") => rt.block_on(self_test()),
        _ => rt.block_on(bench(Options::parse(&args)?)),
    }
}

struct Options {
    socket: PathBuf,
    rounds: usize,
    secs: f64,
    clients: Vec<usize>,
    json: Option<PathBuf>,
    also: Vec<(String, PathBuf)>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, Fail> {
        let mut o = Options {
            socket: PathBuf::new(),
            rounds: 5,
            secs: 1.0,
            clients: vec![1, 16, 256],
            json: None,
            also: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut v = || it.next().ok_or(format!("{a} needs a value"));
            match a.as_str() {
                "--socket" => o.socket = v()?.into(),
                "--rounds" => o.rounds = v()?.parse()?,
                "--secs" => o.secs = v()?.parse()?,
                "--clients" => {
                    o.clients = v()?.split(',').map(str::parse).collect::<Result<_, _>>()?
                }
                "--json" => o.json = Some(v()?.into()),
                "--also" => {
                    let (name, path) = v()?.split_once('=').ok_or("--also NAME=PATH")?;
                    o.also.push((name.to_string(), path.into()));
                }
                _ => return Err(format!("unknown argument {a:?}").into()),
            }
        }
        if o.socket.as_os_str().is_empty() {
            return Err("--socket PATH is required".into());
        }
        Ok(o)
    }
}

/// The floor: accept, then per connection read a line and write the canned answer. Nothing
/// else: no peer check, no parsing, no limits (the agent's checks are what the ratio prices).
async fn echo_server(path: &Path) -> Result<(), Fail> {
    let mut reply = String::new();
    std::io::stdin().lock().read_line(&mut reply)?;
    let reply: Arc<[u8]> = reply.into_bytes().into();
    let mut listener = EchoListener::bind(path)?;
    println!("ready");
    std::io::stdout().flush()?;
    loop {
        let stream = listener.accept().await?;
        tokio::spawn(answer_lines(stream, reply.clone()));
    }
}

/// One echo connection: each line read is answered with `reply`, until the client leaves.
async fn answer_lines(stream: impl AsyncRead + AsyncWrite + Unpin, reply: Arc<[u8]>) {
    // One buffered stream for both directions: the client waits for each answer before it
    // writes again, so reading and writing never overlap.
    let mut s = BufReader::with_capacity(8 * 1024, stream);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match s.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if s.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// The echo server as a child process (its own runtime and process, as the agent has).
struct Echo {
    child: std::process::Child,
    place: EchoPlace,
}

impl Echo {
    fn start(reply: &[u8]) -> Result<Echo, Fail> {
        let place = EchoPlace::new()?;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .arg("echo")
            .arg(&place.path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        // The answer holds a token: it goes over stdin, never argv.
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin.write_all(reply)?;
        drop(stdin);
        let mut ready = String::new();
        std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut ready)?;
        if ready.trim() != "ready" {
            let _ = child.kill();
            return Err("the echo server did not start".into());
        }
        Ok(Echo { child, place })
    }

    fn path(&self) -> &Path {
        &self.place.path
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client connection. Requests and answers alternate, so one buffered stream serves both.
struct Conn {
    s: BufReader<Stream>,
    line: Vec<u8>,
}

impl Conn {
    async fn open(path: &Path) -> Result<Conn, Fail> {
        let mut c = Conn {
            s: BufReader::with_capacity(8 * 1024, platform::connect(path).await?),
            line: Vec::with_capacity(4096),
        };
        c.round_trip(HELLO).await?;
        if !c.line.windows(RESULT.len()).any(|w| w == RESULT) {
            return Err(format!("hello refused: {}", String::from_utf8_lossy(&c.line)).into());
        }
        Ok(c)
    }

    async fn round_trip(&mut self, request: &[u8]) -> Result<(), Fail> {
        self.s.write_all(request).await?;
        self.line.clear();
        if self.s.read_until(b'\n', &mut self.line).await? == 0 {
            return Err("the server closed the connection".into());
        }
        Ok(())
    }

    /// One `token` request; the answer must be a token (a cached one: no sign-in is timed).
    async fn ask(&mut self) -> Result<(), Fail> {
        self.round_trip(ASK).await?;
        if !self.line.starts_with(ANSWER) || !self.line.ends_with(b"\n") {
            let shown: String = String::from_utf8_lossy(&self.line)
                .chars()
                .take(80)
                .collect();
            return Err(format!("not a token answer: {shown}").into());
        }
        Ok(())
    }
}

/// One timed phase: `conns` clients ask back to back until `secs` have passed.
struct Phase {
    latencies_ns: Vec<u64>,
    answers: usize,
    elapsed: Duration,
}

async fn phase(conns: Vec<Conn>, secs: f64) -> Result<(Phase, Vec<Conn>), Fail> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(16 * 1024);
                loop {
                    let t = Instant::now();
                    c.ask().await?;
                    let end = Instant::now();
                    lat.push((end - t).as_nanos() as u64);
                    if end >= deadline {
                        return Ok::<_, Fail>((lat, end, c));
                    }
                }
            })
        })
        .collect();
    let mut out = Phase {
        latencies_ns: Vec::new(),
        answers: 0,
        elapsed: Duration::ZERO,
    };
    let mut back = Vec::new();
    for t in tasks {
        let (lat, end, c) = t.await??;
        out.answers += lat.len();
        out.latencies_ns.extend(lat);
        out.elapsed = out.elapsed.max(end - start);
        back.push(c);
    }
    Ok((out, back))
}

/// Latencies and throughput of one server at one concurrency, over all rounds.
#[derive(Default)]
struct Row {
    latencies_ns: Vec<u64>,
    per_second: Vec<f64>,
}

impl Row {
    fn add(&mut self, p: Phase) {
        self.per_second
            .push(p.answers as f64 / p.elapsed.as_secs_f64());
        self.latencies_ns.extend(p.latencies_ns);
    }
    fn pct_us(&mut self, p: f64) -> f64 {
        self.latencies_ns.sort_unstable();
        let i = ((self.latencies_ns.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_ns[i] as f64 / 1e3
    }
    fn median_per_second(&self) -> f64 {
        let mut v = self.per_second.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}

/// Runs every server at every concurrency, interleaved (A B C, then C B A, …), after a warm-up.
async fn compare(
    servers: &[(&str, &Path)],
    clients: &[usize],
    rounds: usize,
    secs: f64,
) -> Result<Vec<(String, usize, Row)>, Fail> {
    let most = clients.iter().copied().max().unwrap_or(1);
    let mut pools = Vec::new();
    for (_, path) in servers.iter().copied() {
        let mut pool = Vec::with_capacity(most);
        for _ in 0..most {
            pool.push(Conn::open(path).await?);
        }
        pools.push(pool);
    }
    let mut rows: Vec<(String, usize, Row)> = clients
        .iter()
        .flat_map(|&c| {
            servers
                .iter()
                .map(move |(n, _)| (n.to_string(), c, Row::default()))
        })
        .collect();
    for round in 0..=rounds {
        for &c in clients {
            let mut order: Vec<usize> = (0..servers.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for s in order {
                let rest = pools[s].split_off(c);
                let (p, mut conns) = if round == 0 {
                    phase(std::mem::take(&mut pools[s]), secs.min(0.2)).await? // warm-up
                } else {
                    phase(std::mem::take(&mut pools[s]), secs).await?
                };
                conns.extend(rest);
                pools[s] = conns;
                if round > 0 {
                    let row = rows
                        .iter_mut()
                        .find(|(n, k, _)| n == servers[s].0 && *k == c)
                        .ok_or("row")?;
                    row.2.add(p);
                }
            }
        }
    }
    Ok(rows)
}

/// The 1/5/15-minute load (Linux's `/proc/loadavg`; under Wine the same file, through its Z:
/// drive; empty where there is none).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Polls `cond` every 10 ms until it holds, or fails after `limit`.
async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Result<(), Fail> {
    let end = Instant::now() + limit;
    while !cond() {
        if Instant::now() > end {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn table(rows: &mut [(String, usize, Row)], floor: &str) -> (String, Vec<serde_json::Value>) {
    let mut out = String::from(
        "| server | clients | p50 µs | p99 µs | answers/s (median of rounds) | p50 ratio to floor |\n|---|---:|---:|---:|---:|---:|\n",
    );
    let mut json = Vec::new();
    let floors: Vec<(usize, f64)> = rows
        .iter_mut()
        .filter(|(n, _, _)| n == floor)
        .map(|(_, c, r)| (*c, r.pct_us(0.5)))
        .collect();
    for (name, c, r) in rows.iter_mut() {
        let (p50, p99, ps) = (r.pct_us(0.5), r.pct_us(0.99), r.median_per_second());
        let f = floors
            .iter()
            .find(|(k, _)| k == c)
            .map_or(f64::NAN, |x| x.1);
        out += &format!(
            "| {name} | {c} | {p50:.1} | {p99:.1} | {ps:.0} | {:.2}× |\n",
            p50 / f
        );
        json.push(serde_json::json!({
            "server": name, "clients": c, "p50_us": p50, "p99_us": p99,
            "answers_per_s": ps, "answers": r.latencies_ns.len(), "floor_p50_us": f,
        }));
    }
    (out, json)
}

async fn bench(o: Options) -> Result<(), Fail> {
    let load_before = load();
    let mut first = Conn::open(&o.socket).await?;
    let hello: serde_json::Value = serde_json::from_slice(&first.line)?;
    let pid = hello["result"]["pid"].as_u64().ok_or("hello without pid")? as u32;
    let idle_lazy = platform::rss_kib(pid)?;
    let t = Instant::now();
    first.ask().await?; // the sign-in (the agent was started --lazy)
    let sign_in = t.elapsed();
    wait_for(
        "the window process to leave",
        Duration::from_secs(30),
        || !platform::has_children(pid),
    )
    .await?;
    let idle_signed_in = platform::rss_kib(pid)?;
    first.ask().await?;
    let reply = first.line.clone();
    let echo = Echo::start(&reply)?;

    let mut servers = vec![("agent", o.socket.as_path())];
    servers.extend(o.also.iter().map(|(n, p)| (n.as_str(), p.as_path())));
    servers.push(("echo", echo.path()));
    let mut rows = compare(&servers, &o.clients, o.rounds, o.secs).await?;
    let crowd = platform::rss_kib(pid)?;
    // Every bench connection is closed by now; wait until the agent has counted them out
    // (then it has handed the crowd's memory back, `agent::listener`).
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        first.round_trip(b"{\"op\":\"status\",\"id\":2}\n").await?;
        let status: serde_json::Value = serde_json::from_slice(&first.line)?;
        if status["result"]["clients"].as_u64() == Some(1) {
            break;
        }
        if Instant::now() > end {
            return Err(format!("the bench clients did not leave: {status}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = platform::rss_kib(pid)?;
    let load_after = load();
    drop(echo);

    let (md, json_rows) = table(&mut rows, "echo");
    println!(
        "pipe: {} rounds × {} s per server and concurrency, load {load_before} → {load_after}",
        o.rounds, o.secs
    );
    println!("{md}");
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "agent {}: idle before sign-in {:.1} MiB, idle signed in {:.1} MiB, with {} clients {:.1} MiB, after they left {:.1} MiB; sign-in through the window {:.0} ms",
        platform::MEMORY,
        mib(idle_lazy),
        mib(idle_signed_in),
        o.clients.iter().max().unwrap_or(&0),
        mib(crowd),
        mib(after),
        sign_in.as_secs_f64() * 1e3
    );
    if let Some(path) = o.json {
        let j = serde_json::json!({
            "load_before": load_before, "load_after": load_after, "rows": json_rows,
            "rss_kib": {"idle_lazy": idle_lazy, "idle_signed_in": idle_signed_in,
                        "crowd": crowd, "after_crowd": after},
            "sign_in_ms": sign_in.as_secs_f64() * 1e3,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&j)?)?;
    }
    Ok(())
}

/// The measuring itself, echo against echo: every phase counts answers, both sides get the same
/// rounds, and a wrong answer is an error (not a fast answer).
async fn self_test() -> Result<(), Fail> {
    let reply = b"{\"id\":1,\"result\":{\"token\":\"x\"}}\n";
    let (a, b) = (Echo::start(reply)?, Echo::start(reply)?);
    // The platform's process probes, on ourselves: the echoes are our children, and we use memory.
    let me = std::process::id();
    assert!(platform::has_children(me), "the echo children are not seen");
    assert!(platform::rss_kib(me)? > 0, "no {}", platform::MEMORY);
    let servers = [("a", a.path()), ("b", b.path())];
    let mut rows = compare(&servers, &[1, 4], 2, 0.1).await?;
    for (n, c, r) in rows.iter_mut() {
        assert_eq!(r.per_second.len(), 2, "{n}/{c}: one entry per round");
        assert!(r.latencies_ns.len() >= 2 * *c, "{n}/{c}: answers counted");
        assert!(r.median_per_second() > 0.0 && r.pct_us(0.99) >= r.pct_us(0.5));
    }
    let (md, _) = table(&mut rows, "b");
    assert!(md.contains("| a | 4 |") && md.contains("| b | 1 |"), "{md}");
    let wrong = Echo::start(b"{\"id\":1,\"error\":{\"kind\":\"busy\"}}\n")?;
    let mut c = Conn::open(wrong.path()).await;
    // The echo answers hello with the canned line, which has no result: refused as it should be.
    assert!(c.is_err(), "a hello without a result was accepted");
    let bad = Echo::start(b"{\"id\":1,\"result\":{\"ok\":true}}\n")?;
    c = Conn::open(bad.path()).await;
    let mut c = c?;
    assert!(
        c.ask().await.is_err(),
        "an answer without a token was counted"
    );
    println!("pipe_bench self-test: ok");
    Ok(())
}
