//! The real binary with stdout or stderr a pipe whose reader has gone: no panic, the documented
//! exit code (141 for a closed stdout, the command's own code for a closed stderr), and the
//! agent keeps serving and stops on request. Platform-neutral: runs under Wine too.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use finesse_sso::dirs::Dirs;
use finesse_sso::error::exit;
use finesse_sso::ipc::client::Client;
use finesse_sso::ipc::transport::Endpoint;

const EXE: &str = env!("CARGO_BIN_EXE_finesse-sso");

/// A Finesse address nothing is asked of: the agent runs `--lazy`, so it signs in only on demand.
const SERVER: &str = "https://127.0.0.1:9";

/// A pipe whose read end is already closed: the first write to it fails (EPIPE, ERROR_NO_DATA).
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    writer.into()
}

fn bin(home: &Path) -> Command {
    let mut c = Command::new(EXE);
    c.env("FINESSE_SSO_HOME", home)
        .env_remove("FINESSE_SSO_SERVER")
        .env_remove("FINESSE_SSO_USER")
        .env_remove("FINESSE_SSO_PROFILE")
        .stdin(Stdio::null());
    c
}

/// Runs `c` with stdout a closed pipe and stderr captured.
fn with_closed_stdout(mut c: Command) -> Output {
    c.stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("the binary starts")
}

/// The exit code, or a failure naming what a panic (101) or a signal looks like.
fn code(s: ExitStatus, what: &str, stderr: &[u8]) -> i32 {
    let text = String::from_utf8_lossy(stderr);
    assert!(!text.contains("panicked"), "{what} panicked: {text}");
    let c = s
        .code()
        .unwrap_or_else(|| panic!("{what} died of a signal: {s:?}"));
    assert_ne!(c, 101, "{what} exited with a panic's code: {text}");
    c
}

#[test]
fn exit_codes_into_a_closed_stdout_ends_quietly_with_141() {
    let home = tempfile::tempdir().unwrap();
    let mut c = bin(home.path());
    c.arg("exit-codes");
    let o = with_closed_stdout(c);
    assert_eq!(code(o.status, "exit-codes", &o.stderr), exit::STDOUT_CLOSED);
    assert_eq!(exit::STDOUT_CLOSED, 141);
    assert!(
        o.stderr.is_empty(),
        "not quiet: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn decode_into_a_closed_stdout_ends_quietly_with_141() {
    // A readable (unsigned) JWT: decode prints its header and claims.
    let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZ2VudDEiLCJleHAiOjQxMDI0NDQ4MDB9.";
    let home = tempfile::tempdir().unwrap();
    for json in [false, true] {
        let mut c = bin(home.path());
        c.args(["decode", jwt]);
        if json {
            c.arg("--json");
        }
        let o = with_closed_stdout(c);
        assert_eq!(code(o.status, "decode", &o.stderr), exit::STDOUT_CLOSED);
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn a_closed_stderr_changes_no_exit_code() {
    let home = tempfile::tempdir().unwrap();
    // Success: the table still reaches stdout.
    let o = bin(home.path())
        .arg("exit-codes")
        .stdout(Stdio::piped())
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(code(o.status, "exit-codes", b""), 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("141  stdout was closed"));
    // A failure whose message cannot be written keeps its own code (usage: 2).
    let o = bin(home.path())
        .args([
            "login",
            "--server",
            "http://finesse.example.com",
            "--user",
            "a",
        ])
        .stdout(Stdio::piped())
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(code(o.status, "login", b""), exit::USAGE);
    assert!(o.stdout.is_empty());
}

/// A `finesse-sso agent run` whose stdout and stderr readers are gone: it logs (`-vv`) into the
/// closed stderr, serves `agent status` (whose own stdout is closed: 141), and exits 0 when
/// `agent stop` asks.
#[test]
fn the_agent_outlives_its_closed_stdout_and_stderr() {
    let home = tempfile::tempdir().unwrap();
    // A profile of this test's own: Windows pipe names are per user, not per FINESSE_SSO_HOME.
    let profile = format!("closed-stdio-{}", std::process::id());
    let agent = bin(home.path())
        .args(["-vv", "agent", "run", "--lazy", "--server", SERVER])
        .args(["--user", "agent1", "--profile", &profile])
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .spawn()
        .expect("agent run starts");
    let mut agent = KillOnDrop(agent);
    wait_until_answering(home.path(), &profile, Duration::from_secs(30));

    let mut status = bin(home.path());
    status.args(["agent", "status", "--profile", &profile]);
    let o = with_closed_stdout(status);
    assert_eq!(
        code(o.status, "agent status", &o.stderr),
        exit::STDOUT_CLOSED
    );

    let o = bin(home.path())
        .args(["agent", "stop", "--profile", &profile])
        .stdout(Stdio::piped())
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(code(o.status, "agent stop", b""), 0);
    let s = wait_exit(&mut agent.0, Duration::from_secs(20));
    assert_eq!(
        code(s, "agent run", b""),
        0,
        "the agent did not exit cleanly"
    );
}

/// Polls the profile's pipe until the agent answers `hello`, or fails after `within`.
fn wait_until_answering(home: &Path, profile: &str, within: Duration) {
    let ep = Endpoint::of(&Dirs::under(home), profile).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + within;
    rt.block_on(async {
        loop {
            match Client::connect(&ep, profile, "closed-stdio test").await {
                Ok(_) => return,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "the agent did not answer on {} within {within:?}: {e}",
                    ep.display()
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// Waits for `child` to exit, or kills it and fails after `within`.
fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the agent did not exit within {within:?} of agent stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the agent if the test fails before it exits.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
