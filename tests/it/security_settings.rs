//! Issue 12, finding 3: proxy credentials stay off command lines and out of messages. The
//! background agent gets its server settings in its environment (readable by the same user
//! only), not in its arguments (`/proc/<pid>/cmdline`, readable by every local user); parse
//! errors of `--proxy` and of config files never echo the secret.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

const SECRET: &str = "S3cretProxyPw";

fn bin(home: &Path) -> Command {
    let mut c = support::cli(home);
    // No display: the agent's first sign-in stops after the auth-mode request, which is what
    // reaches the proxy; no window is started.
    c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A proxy that records each request head and closes the connection.
fn fake_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = String::new();
            let mut r = BufReader::new(s);
            while r.read_line(&mut head).is_ok_and(|n| n > 2) {}
            log.lock().unwrap().push(head);
        }
    });
    (port, seen)
}

/// Stops the profile's agent when the test ends, however it ends.
struct StopAgent(PathBuf);

impl Drop for StopAgent {
    fn drop(&mut self) {
        let _ = bin(&self.0).args(["agent", "stop"]).output();
    }
}

/// Found by the security review: `agent start` and `token` re-ran the executable with
/// `--proxy http://user:password@…` on its command line.
#[test]
fn the_background_agent_gets_the_proxy_but_not_on_its_command_line() {
    let home = tempfile::tempdir().unwrap();
    let (port, seen) = fake_proxy();
    let proxy = format!("http://proxyuser:{SECRET}@127.0.0.1:{port}");
    // The proxy comes from the environment of `agent start` (so not on this command line).
    let o = bin(home.path())
        .env("FINESSE_SSO_PROXY", &proxy)
        .args([
            "agent",
            "start",
            "--server",
            "finesse.invalid",
            "--user",
            "agent1",
        ])
        .output()
        .unwrap();
    let _stop = StopAgent(home.path().to_path_buf());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains(SECRET), "{}", text(&o.stderr));

    let status = bin(home.path()).args(["agent", "status"]).output().unwrap();
    assert!(status.status.success(), "{}", text(&status.stderr));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let pid = v["pid"].as_u64().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert!(args.iter().any(|a| a == "run"), "not the agent: {args:?}");
    assert!(
        !args
            .iter()
            .any(|a| a.contains(SECRET) || a.contains("proxyuser")),
        "the proxy's credentials are on the agent's command line: {args:?}"
    );

    // The agent did get the proxy: its first sign-in asks Finesse for the auth mode through it,
    // with the credentials.
    let auth = format!(
        "proxy-authorization: basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("proxyuser:{SECRET}"))
    )
    .to_ascii_lowercase();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let heads = seen.lock().unwrap().clone();
        if heads.iter().any(|h| {
            let h = h.to_ascii_lowercase();
            h.starts_with("connect finesse.invalid:8445 ") && h.contains(&auth)
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never used the proxy with its credentials; seen: {heads:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its log names the failure without the password.
    let log = std::fs::read_to_string(home.path().join("state/agent-default.log")).unwrap();
    assert!(!log.contains(SECRET), "{log}");
}

#[test]
fn bad_proxies_and_bad_config_files_do_not_echo_the_password() {
    let home = tempfile::tempdir().unwrap();
    for bad in [
        format!("http://proxyuser:{SECRET}@[::1"),
        format!("http://proxyuser:{SECRET}@proxy.example:99999"),
        format!("proxyuser:{SECRET}@proxy.example:3128"),
    ] {
        let o = bin(home.path())
            .args([
                "login",
                "--server",
                "finesse.example.com",
                "--user",
                "a",
                "--proxy",
                &bad,
            ])
            .output()
            .unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--proxy"), "{err}");
        assert!(!err.contains(SECRET) && !err.contains("proxyuser"), "{err}");
    }
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    let file = home.path().join("config/config.toml");
    std::fs::write(
        &file,
        format!(
            "server = \"finesse.example.com\"\nproxy = \"http://proxyuser:{SECRET}@proxy:3128\" 3128\n"
        ),
    )
    .unwrap();
    let o = bin(home.path()).args(["login"]).output().unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
}
