//! Issue 14, item 3: proxies, through a real authenticating proxy on loopback (Debian's
//! tinyproxy, `support::tinyproxy`). The window's sign-in and the agent's refresh both tunnel
//! through it (counted in its log), with the proxy password asked for once and handed over on
//! stdin only; the environment's `https_proxy` is the default for both the window and the
//! helper, and `no_proxy` bypasses it; a wrong proxy password is its own error at once.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support;
use crate::support::tinyproxy::Tinyproxy;
use finesse_sso_emulator::Emulator;

const USER: &str = "proxyuser";
const PASSWORD: &str = "Pr0xyS3cretPw";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hostport(u: &url::Url) -> String {
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap())
}

/// The three origins the sign-in visits.
fn origins(emu: &Emulator) -> [String; 3] {
    [
        hostport(emu.finesse_url()),
        hostport(emu.ids_url()),
        hostport(emu.idp_url()),
    ]
}

/// `finesse-sso ARGS` with private state under `home`, none of the caller's proxy settings,
/// and no display (the window then runs on an Xvfb of its own with `--non-interactive`).
fn cli(home: &Path, args: &[&str]) -> Command {
    let mut c = support::cli(home);
    c.args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn server_args(emu: &Emulator) -> Vec<String> {
    vec![
        "--server".into(),
        emu.finesse_url().to_string(),
        "--user".into(),
        "agent1".into(),
        "--ca-file".into(),
        emu.ca_file().unwrap().display().to_string(),
    ]
}

fn write_config(home: &Path, text: &str) {
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(home.join("config/config.toml"), text).unwrap();
}

/// Runs `c` with `stdin` as its input while watching every process of this home (found by
/// `FINESSE_SSO_HOME` in its environment): their command lines and environments, read from
/// `/proc` as they live. Returns the output and what was seen (`comm`, cmdline + environ).
/// One process seen: its `comm`, then its command line and environment.
type Seen = (String, Vec<u8>);

async fn run_watching(mut c: Command, home: &Path, stdin: &str) -> (Output, Vec<Seen>) {
    let marker = format!("FINESSE_SSO_HOME={}", home.display()).into_bytes();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (seen, done) = (seen.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let p = e.path();
                    let Ok(environ) = std::fs::read(p.join("environ")) else {
                        continue;
                    };
                    if !environ.split(|&b| b == 0).any(|v| v == marker.as_slice()) {
                        continue;
                    }
                    let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
                    let mut both = std::fs::read(p.join("cmdline")).unwrap_or_default();
                    both.extend_from_slice(&environ);
                    seen.lock().unwrap().push((comm.trim().to_string(), both));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let input = stdin.to_string();
    let out = tokio::task::spawn_blocking(move || support::run_with_stdin(&mut c, &input))
        .await
        .unwrap();
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    (out, seen)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The proxy password never reached a command line or environment of anything we started.
fn assert_no_password_in(seen: &[Seen], expect: &str) {
    assert!(
        seen.iter().any(|(comm, _)| comm.starts_with(expect)),
        "no {expect} process was seen: {:?}",
        seen.iter().map(|(c, _)| c).collect::<Vec<_>>()
    );
    for (comm, both) in seen {
        assert!(
            !contains(both, PASSWORD),
            "the proxy password is in the command line or environment of {comm}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn the_sign_in_and_the_agents_refresh_tunnel_through_the_authenticating_proxy() {
    support::need_xvfb();
    let proxy = Tinyproxy::start(Some((USER, PASSWORD)));
    let emu = support::emulator(&["--auto-login", "agent1", "--access-ttl", "20s"]).await;
    let home = tempfile::tempdir().unwrap();
    // The user in the URL, the password nowhere on disk: asked for once, here on stdin.
    write_config(
        home.path(),
        &format!("proxy = \"{}\"\n", proxy.url(Some(USER))),
    );
    let mut args = vec![
        "-vvv".to_string(),
        "login".into(),
        "--non-interactive".into(),
    ];
    args.extend(server_args(&emu));
    args.extend([
        "--proxy-password-stdin".into(),
        "--timeout".into(),
        "60".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let (o, seen) = run_watching(
        cli(home.path(), &args),
        home.path(),
        &format!("{PASSWORD}\n"),
    )
    .await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        emu.issued_access_tokens()
            .contains(&v["token"].as_str().unwrap().to_string())
    );
    // Every origin of the sign-in went through the proxy, and the window answered its
    // challenge itself (WebKit's first CONNECT carries no credentials).
    for origin in origins(&emu) {
        assert!(
            proxy.connects_to(&origin) > 0,
            "no CONNECT {origin}:\n{}",
            proxy.log()
        );
    }
    assert!(
        err.contains(&format!(
            "answering the proxy 127.0.0.1:{} with the proxy URL's user and password",
            proxy.port
        )),
        "{err}"
    );
    assert!(
        !err.contains(PASSWORD),
        "the proxy password is on stderr at -vvv"
    );
    assert_no_password_in(&seen, "finesse-sso-web");
    eprintln!("proxied sign-in in {:?}", started.elapsed());

    // The agent: started from a CLI that asks for the password once and hands it over on the
    // agent's stdin. Its first sign-in (the saved web session) opens its window on the test's
    // display; the refresh after it is the helper's client alone.
    support::need_display();
    let display = std::env::var("DISPLAY").unwrap();
    let mut start = vec!["-vvv".to_string(), "agent".into(), "start".into()];
    start.extend(server_args(&emu));
    start.extend([
        "--proxy-password-stdin".into(),
        "--sign-in-timeout".into(),
        "60".into(),
    ]);
    let start: Vec<&str> = start.iter().map(String::as_str).collect();
    let mut c = cli(home.path(), &start);
    c.env("DISPLAY", &display);
    let _stop = StopAgent(home.path().to_path_buf());
    let (o, seen) = run_watching(c, home.path(), &format!("{PASSWORD}\n")).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains(PASSWORD));
    // The agent lives on: its command line and environment, read again now.
    let (st, _) = run_watching(cli(home.path(), &["agent", "status"]), home.path(), "").await;
    let status: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let pid = status["pid"].as_u64().unwrap();
    let mut both = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    both.extend(std::fs::read(format!("/proc/{pid}/environ")).unwrap());
    assert!(
        !contains(&both, PASSWORD),
        "the password is in the agent's cmdline or environment"
    );
    assert!(
        contains(&both, "--proxy-password-stdin"),
        "not started with the hand-over"
    );
    assert_no_password_in(&seen, "finesse-sso");

    // A token (the agent's sign-in), then one refreshed: asking for more validity than a 20 s
    // token has left makes the agent refresh it through the proxy.
    let finesse = hostport(emu.finesse_url());
    let token = |min_valid: &'static str| {
        let mut c = cli(home.path(), &["token", "--min-valid", min_valid]);
        c.env("DISPLAY", &display);
        support::output(c)
    };
    let o = token("1").await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let held: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Until less than 19 s of the held token are left (from its `exp`), so asking for 19
    // refreshes.
    let exp = exp_of(held["token"].as_str().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // `exp` is whole seconds and the agent counts from receipt: up to a second more is left.
    let wait = (exp as f64 - 17.5 - now).max(0.0);
    assert!(wait < 20.0, "the held token lives {wait} s too long");
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    let tunnels = proxy.connects_to(&finesse);
    let sign_ins = emu.request_count("/desktop/sso/authcode");
    let o = token("19").await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let fresh: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let agent_log =
        || std::fs::read_to_string(home.path().join("state/agent-default.log")).unwrap();
    assert_ne!(
        fresh["token"],
        held["token"],
        "not refreshed; the agent's log:\n{}",
        agent_log()
    );
    assert_eq!(
        emu.request_count("/desktop/sso/authcode"),
        sign_ins,
        "a refresh, not a sign-in"
    );
    assert!(
        proxy.connects_to(&finesse) > tunnels,
        "the refresh did not tunnel through the proxy:\n{}",
        proxy.log()
    );
    let log = std::fs::read_to_string(home.path().join("state/agent-default.log")).unwrap();
    assert!(
        !log.contains(PASSWORD),
        "the proxy password is in the agent's log"
    );
    for f in support::files_under(home.path()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !contains(&bytes, PASSWORD),
            "the proxy password is in {}",
            f.display()
        );
    }
    emu.shutdown().await;
}

/// A JWT's `exp` claim.
fn exp_of(jwt: &str) -> i64 {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["exp"]
        .as_i64()
        .unwrap()
}

/// Stops the home's agent when the test ends, however it ends.
struct StopAgent(std::path::PathBuf);

impl Drop for StopAgent {
    fn drop(&mut self) {
        let _ = support::cli(&self.0).args(["agent", "stop"]).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn the_environments_proxy_is_the_default_and_no_proxy_bypasses_it() {
    support::need_xvfb();
    let proxy = Tinyproxy::start(None);
    let emu = support::emulator(&["--auto-login", "agent1"]).await;
    let home = tempfile::tempdir().unwrap();
    let login = |no_proxy: Option<&str>| {
        let mut args = vec![
            "login".to_string(),
            "--non-interactive".into(),
            "--no-session".into(),
        ];
        args.extend(server_args(&emu));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = cli(home.path(), &args);
        // Upper case, as some desktops set it; no `proxy` setting anywhere.
        c.env("HTTPS_PROXY", proxy.url(None));
        if let Some(n) = no_proxy {
            c.env("no_proxy", n);
        }
        support::output(c)
    };
    let o = login(None).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // The helper's auth-mode request and the window's loads: two tunnels to Finesse at least,
    // and the window's to the IdS and the IdP.
    let [finesse, ids, idp] = origins(&emu);
    assert!(proxy.connects_to(&finesse) >= 2, "{}", proxy.log());
    assert!(
        proxy.connects_to(&ids) > 0 && proxy.connects_to(&idp) > 0,
        "{}",
        proxy.log()
    );
    let before = proxy
        .log()
        .lines()
        .filter(|l| l.contains("CONNECT "))
        .count();
    let o = login(Some("localhost,127.0.0.1")).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let after = proxy
        .log()
        .lines()
        .filter(|l| l.contains("CONNECT "))
        .count();
    assert_eq!(before, after, "no_proxy was not honoured:\n{}", proxy.log());
    emu.shutdown().await;
}

/// A wrong password is said as such, quickly, never retried into a lock-out or waited on;
/// a proxy that wants credentials none were given for says so too. Neither needs a window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_proxy_password_is_a_clear_error_at_once() {
    let proxy = Tinyproxy::start(Some((USER, PASSWORD)));
    let emu = support::emulator(&["--auto-login", "agent1"]).await;
    let home = tempfile::tempdir().unwrap();
    let wrong = "Wr0ngPr0xyPw";
    write_config(
        home.path(),
        &format!("proxy = \"{}\"\n", proxy.url(Some(USER))),
    );
    let mut args = vec![
        "-vvv".to_string(),
        "login".into(),
        "--non-interactive".into(),
    ];
    args.extend(server_args(&emu));
    args.extend(["--proxy-password-stdin".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let (o, _) = run_watching(cli(home.path(), &args), home.path(), &format!("{wrong}\n")).await;
    let took = started.elapsed();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(23), "{err}");
    assert!(
        err.contains(&format!(
            "the proxy 127.0.0.1:{} rejected the proxy password",
            proxy.port
        )),
        "{err}"
    );
    assert!(
        !err.contains(wrong) && !err.contains(PASSWORD) && !err.contains(USER),
        "{err}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // The auth-mode request and the one look at why its tunnel was refused; nothing more.
    let tried = proxy.connects_to(&hostport(emu.finesse_url()));
    assert!(
        (1..=2).contains(&tried),
        "tried {tried} times:\n{}",
        proxy.log()
    );

    // No user in the URL: the proxy's demand is explained, not reported as unreachable.
    write_config(home.path(), &format!("proxy = \"{}\"\n", proxy.url(None)));
    let mut args = vec!["login".to_string(), "--non-interactive".into()];
    args.extend(server_args(&emu));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = support::output(cli(home.path(), &args)).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(23), "{err}");
    assert!(err.contains("asks for a user name and password"), "{err}");

    // A user without a password and no terminal to ask on: says how to give it.
    write_config(
        home.path(),
        &format!("proxy = \"{}\"\n", proxy.url(Some(USER))),
    );
    let o = support::output(cli(home.path(), &args)).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(23), "{err}");
    assert!(err.contains("--proxy-password-stdin"), "{err}");
    emu.shutdown().await;
}
