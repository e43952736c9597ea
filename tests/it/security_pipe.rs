//! Issue 13, finding 1, the Unix side: a client talks only to an agent of its own user. A socket
//! at the agent's path served by another user's process (a squatter posing as the agent) is
//! refused with exit 21 before a byte is sent: the squatter receives nothing, not even `hello`.
//! Needs root (to serve as `nobody`, uid 65534); CI runs as root. The Windows side (server
//! process's user SID) is decided by `winsec::pipe_peer`, unit-tested on every platform.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::support;

const NOBODY: u32 = 65534;

/// Binds, says so, accepts one connection, and reports how many bytes it was sent.
const SQUATTER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(1)
print("listening", flush=True)
s.settimeout(30)
c, _ = s.accept()
c.settimeout(30)
n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
print("received", n, flush=True)
"#;

#[test]
#[cfg_attr(skip_root_tests, ignore = "FINESSE_SSO_SKIP_ROOT_TESTS is set")]
fn a_socket_served_by_another_user_is_refused_before_anything_is_sent() {
    support::need_root();
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The squatter binds where it may write; the socket is then put at the agent's path (as if
    // the runtime directory had been open to others when it was planted).
    let nest = tempfile::tempdir().unwrap();
    std::fs::set_permissions(nest.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let planted = nest.path().join("s.sock");
    let mut squatter = Command::new("python3")
        .arg("-c")
        .arg(SQUATTER)
        .arg(&planted)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the squatter");
    let mut said = BufReader::new(squatter.stdout.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening", "the squatter did not start");
    std::fs::rename(&planted, run.join("default.sock")).unwrap();

    let o = Command::new(env!("CARGO_BIN_EXE_finesse-sso"))
        .env("FINESSE_SSO_HOME", home.path())
        .env_remove("FINESSE_SSO_PROFILE")
        .args(["agent", "status"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(21), "{err}");
    assert!(
        err.contains(&format!("is served by uid {NOBODY}")) && err.contains("not by us (uid 0)"),
        "{err}"
    );
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(o.stdout.is_empty());

    line.clear();
    said.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "received 0", "the squatter was sent something");
    assert!(squatter.wait().unwrap().success());
}
