//! No secret leaks: every command at `-vvv` through a full sign-in, the agent's token, a
//! refresh and logout, with the emulator's own trace logs captured too. All output, logs and
//! files are searched for every secret the emulator handed out (tokens, refresh tokens, codes,
//! `state`, cookie values, SAML messages, transaction ids) and the password. The only places
//! one may appear are those `docs/security.md` names: tokens on the stdout of `login`/`token`
//! (the API), cookie values in the saved web session and WebKit's store until `logout`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support;
use crate::support::output;
use finesse_sso_emulator::Emulator;

const EXE: &str = env!("CARGO_BIN_EXE_finesse-sso");

/// A private world for one user: `FINESSE_SSO_HOME`, `HOME` and every XDG directory under one
/// temporary directory, so whatever any process writes (WebKit included) is searched.
struct World {
    root: tempfile::TempDir,
    server: String,
    ca: String,
}

impl World {
    fn cmd(&self, args: &[&str]) -> Command {
        let r = self.root.path();
        let mut c = Command::new(EXE);
        c.args(args)
            .env("FINESSE_SSO_HOME", r.join("finesse-sso"))
            .env("HOME", r.join("home"))
            .env("XDG_CACHE_HOME", r.join("cache"))
            .env("XDG_DATA_HOME", r.join("data"))
            .env("XDG_CONFIG_HOME", r.join("config"))
            .env("XDG_STATE_HOME", r.join("state"))
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("FINESSE_SSO_SERVER")
            .env_remove("FINESSE_SSO_USER")
            .env_remove("FINESSE_SSO_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// `args` plus the server, user and CA flags.
    fn with_server<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = args.to_vec();
        v.extend([
            "--server",
            &self.server,
            "--user",
            "agent1",
            "--ca-file",
            &self.ca,
        ]);
        v
    }

    fn files(&self) -> Vec<PathBuf> {
        support::files_under(self.root.path())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Never leave a background agent behind, whatever failed.
        let _ = self.cmd(&["agent", "stop"]).output();
    }
}

/// One command's run, kept for the search at the end.
struct Ran {
    what: &'static str,
    out: Output,
}

async fn run(w: &World, what: &'static str, args: &[&str], stdin: Option<&str>) -> Ran {
    let mut c = w.cmd(args);
    let out = match stdin {
        None => output(c).await,
        Some(input) => {
            let input = input.to_string();
            tokio::task::spawn_blocking(move || support::run_with_stdin(&mut c, &input))
                .await
                .unwrap()
        }
    };
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ran { what, out }
}

fn json(r: &Ran) -> serde_json::Value {
    serde_json::from_slice(&r.out.stdout)
        .unwrap_or_else(|e| panic!("{}: stdout is not JSON: {e}", r.what))
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every (what, value) the emulator handed out, plus the password the page typed and the
/// SASL PLAIN message each access token makes for the notification service (agent1 is 1001).
fn secrets(emu: &Emulator) -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let mut s = emu.issued_secrets();
    s.push(("password", "demo-password".into()));
    for t in emu.issued_access_tokens() {
        let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{t}", "1001"));
        s.push(("SASL PLAIN payload", plain));
    }
    s
}

/// `desktop watch` until the first `user` event, then Ctrl-C: its output, kept for the search.
/// (Unix: the interrupt is a signal.)
#[cfg(unix)]
async fn watch(w: &World) -> Ran {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::from(w.cmd(&w.with_server(&[
        "-vvv",
        "desktop",
        "watch",
        "--no-start",
    ])))
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    loop {
        let Ok(l) = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await else {
            let log = w.root.path().join("finesse-sso/state/agent-default.log");
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "no watch event in 30 s; the agent's log ends:\n{}",
                tail.join("\n")
            );
        };
        let l = l.unwrap().expect("watch runs");
        stdout.extend_from_slice(l.as_bytes());
        stdout.push(b'\n');
        if serde_json::from_str::<serde_json::Value>(&l).unwrap()["event"] == "user" {
            break;
        }
    }
    let pid = child.id().unwrap() as i32;
    // SAFETY: kill(2) on our own child, not reaped yet (we hold it).
    let rc = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(rc, 0);
    let mut out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "desktop watch: {:?}", out.status);
    stdout.extend_from_slice(&out.stdout);
    out.stdout = stdout;
    Ran {
        what: "desktop watch",
        out,
    }
}

fn is_token(what: &str) -> bool {
    what == "access token"
}

fn is_cookie(what: &str) -> bool {
    what.ends_with("cookie")
}

/// Where the docs allow cookie values at rest: the saved web session and WebKit's data.
fn may_hold_cookies(world: &World, f: &Path) -> bool {
    let profile = world.root.path().join("finesse-sso/state/profiles/default");
    f == profile.join("web-session.json") || f.starts_with(profile.join("webview"))
}

/// Searches every file of the world; cookie values are allowed where `may_hold_cookies`.
fn search_files(world: &World, secrets: &[(&'static str, String)], when: &str) -> usize {
    let files = world.files();
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_default();
        for (what, v) in secrets {
            if is_cookie(what) && may_hold_cookies(world, f) {
                continue;
            }
            assert!(
                !contains(&bytes, v),
                "{when}: a {what} is in {}",
                f.display()
            );
        }
    }
    files.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn no_secret_in_any_output_log_or_file() {
    support::need_display();
    // The emulator runs in this process: its logs (at trace) land in the binary's buffer.
    let emu_log = support::logs();
    let emu_dir = tempfile::tempdir().unwrap();
    let requests = emu_dir.path().join("requests.jsonl");
    let emu = support::emulator(&[
        "--auto-login",
        "agent1",
        "--access-ttl",
        "20s",
        "--log",
        requests.to_str().unwrap(),
    ])
    .await;
    let world = World {
        root: tempfile::tempdir().unwrap(),
        server: emu.finesse_url().as_str().to_string(),
        ca: emu.ca_file().unwrap().to_str().unwrap().to_string(),
    };
    let mut ran = vec![];

    // The sign-in window; its token decoded.
    let login = run(
        &world,
        "login",
        &world.with_server(&["-vvv", "login", "--timeout", "60"]),
        None,
    )
    .await;
    let first = json(&login)["token"].as_str().unwrap().to_string();
    ran.push(login);
    ran.push(
        run(
            &world,
            "decode",
            &["-vvv", "decode", "--json"],
            Some(&first),
        )
        .await,
    );

    // The agent: start (silent sign-in from the saved session), a token, then a refresh
    // forced by asking for more validity than the held token has left.
    let start = world.with_server(&["-vvv", "agent", "start", "--sign-in-timeout", "60"]);
    ran.push(run(&world, "agent start", &start, None).await);
    let args = world.with_server(&["-vvv", "--log-format", "json", "token", "--min-valid", "1"]);
    let t1 = run(&world, "token", &args, None).await;
    let held = json(&t1)["token"].as_str().unwrap().to_string();
    ran.push(t1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sign_ins = emu.request_count("/desktop/sso/authcode");
    let args = world.with_server(&["-vvv", "token", "--min-valid", "19"]);
    let t2 = run(&world, "token (refresh)", &args, None).await;
    let fresh = json(&t2)["token"].as_str().unwrap().to_string();
    ran.push(t2);
    assert_ne!(fresh, held, "--min-valid 19 on a 20 s token refreshes it");
    assert!(emu.issued_access_tokens().contains(&fresh));
    assert_eq!(
        emu.request_count("/desktop/sso/authcode"),
        sign_ins,
        "a refresh, not a new sign-in"
    );
    let status = run(&world, "agent status", &["-vvv", "agent", "status"], None).await;
    assert_eq!(json(&status)["state"], "valid");
    ran.push(status);
    // The agent's notification session (SASL PLAIN with its token), seen through `watch`.
    #[cfg(unix)]
    ran.push(watch(&world).await);

    // While signed in: tokens, codes and the rest are in no file; cookie values only where
    // the docs store them.
    let secrets = secrets(&emu);
    for what in [
        "access token",
        "refresh token",
        "authorization code",
        "SAMLResponse",
    ] {
        assert!(secrets.iter().any(|(w, _)| *w == what), "no {what} issued");
    }
    let n = search_files(&world, &secrets, "signed in");
    assert!(n > 3, "the world holds the profile's files ({n})");
    // The search sees what is there: the saved web session does hold the IdP's cookie.
    let saved = std::fs::read(
        world
            .root
            .path()
            .join("finesse-sso/state/profiles/default/web-session.json"),
    )
    .unwrap();
    assert!(
        secrets
            .iter()
            .any(|(w, v)| *w == "IdP session cookie" && contains(&saved, v)),
        "the saved web session holds the IdP session cookie"
    );

    ran.push(run(&world, "logout", &["-vvv", "logout"], None).await);
    ran.push(run(&world, "agent stop", &["-vvv", "agent", "stop"], None).await);

    // Every secret, now including the refresh: nowhere on stderr, and on stdout only the
    // access tokens `login` and `token` print (and `login`'s refresh token).
    let secrets = self::secrets(&emu);
    for r in &ran {
        for (what, v) in &secrets {
            assert!(
                !contains(&r.out.stderr, v),
                "{}: a {what} on stderr",
                r.what
            );
            let allowed = match r.what {
                "login" => is_token(what) || *what == "refresh token",
                "token" | "token (refresh)" => is_token(what),
                _ => false,
            };
            assert!(
                allowed || !contains(&r.out.stdout, v),
                "{}: a {what} on stdout",
                r.what
            );
        }
    }
    let agent_log = world
        .root
        .path()
        .join("finesse-sso/state/agent-default.log");
    let log = std::fs::read_to_string(&agent_log).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the agent logged at -vvv"
    );
    // After logout nothing is left anywhere, cookie values included.
    for f in world.files() {
        let bytes = std::fs::read(&f).unwrap_or_default();
        for (what, v) in &secrets {
            assert!(
                !contains(&bytes, v),
                "after logout: a {what} is in {}",
                f.display()
            );
        }
    }
    // The emulator at trace level and its request log name no value either.
    let emu_text = emu_log.bytes();
    // The buffer is the whole binary's: this emulator's own ready line proves it was captured.
    let ours = format!("finesse={}", emu.finesse_url());
    assert!(
        String::from_utf8_lossy(&emu_text).contains(&ours),
        "the emulator's logs were captured"
    );
    let request_log = std::fs::read(&requests).unwrap();
    assert!(!request_log.is_empty());
    for (what, v) in &secrets {
        assert!(!contains(&emu_text, v), "emulator log: a {what}");
        assert!(!contains(&request_log, v), "emulator request log: a {what}");
    }
    emu.shutdown().await;
}
