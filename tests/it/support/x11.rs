//! Linux process and X11 helpers for the window tests: a process tree by command name, a
//! process's environment, the X11 tools a test needs (failing by package name when missing),
//! and waiting for a window to show, with deadlines.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// Pids below `root` whose command name (`/proc/<pid>/stat`, 15 characters) is `comm`.
pub fn descendants_named(root: u32, comm: &str) -> Vec<u32> {
    let mut procs = vec![]; // (pid, ppid, comm)
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; the name may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        if let Some(ppid) = ppid.and_then(|p| p.parse::<u32>().ok()) {
            procs.push((pid, ppid, stat[open + 1..close].to_string()));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    procs
        .iter()
        .filter(|p| p.2 == comm && tree.contains(&p.0))
        .map(|p| p.0)
        .collect()
}

/// The window program's command name as `/proc` shows it (15 characters).
pub const WINDOW_COMM: &str = "finesse-sso-web";
/// WebKit's renderer's command name.
pub const RENDERER_COMM: &str = "WebKitWebProces";

/// A process's environment (`/proc/<pid>/environ`).
pub fn environ(pid: u32) -> HashMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Fails the test naming the Debian packages whose programs are missing (CI installs them:
/// `.ci/deps.sh`).
pub fn need_programs(programs: &[(&str, &str)]) {
    let missing: Vec<&str> = programs
        .iter()
        .filter(|(program, _)| {
            !std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
        })
        .map(|(_, package)| *package)
        .collect();
    assert!(
        missing.is_empty(),
        "this test needs the Debian packages {missing:?} (.ci/deps.sh installs them), or set \
         FINESSE_SSO_SKIP_WINDOW_TESTS=1 to report the window tests as ignored"
    );
}

/// Fails the test when Debian's python3-xlib is missing (the helper scripts use it).
pub fn need_python_xlib() {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import Xlib"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "this test needs the Debian package python3-xlib (.ci/deps.sh installs it), or set \
         FINESSE_SSO_SKIP_WINDOW_TESTS=1 to report the window tests as ignored"
    );
}

/// Waits until a window program below `login` that is not one of `seen` has a visible window;
/// its pid.
pub async fn next_visible_window(login: u32, seen: &[u32], within: Duration) -> u32 {
    let deadline = Instant::now() + within;
    loop {
        for pid in descendants_named(login, WINDOW_COMM) {
            if seen.contains(&pid) {
                continue;
            }
            let o = Command::new("xdotool")
                .args(["search", "--onlyvisible", "--pid", &pid.to_string()])
                .output()
                .unwrap();
            let renderer = !descendants_named(pid, RENDERER_COMM).is_empty();
            if renderer && !String::from_utf8_lossy(&o.stdout).trim().is_empty() {
                return pid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new visible sign-in window in {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGKILLs WebKit's renderers below `window`, as a crash or the OOM killer would end them.
pub fn kill_renderers(window: u32) {
    let renderers = descendants_named(window, RENDERER_COMM);
    assert!(!renderers.is_empty(), "no renderer below window {window}");
    for pid in renderers {
        // SAFETY: signalling a process of this test's own tree.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}
