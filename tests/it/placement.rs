//! The sign-in window in front of its caller, under a real window manager: on a private Xvfb
//! display with openbox, a stand-in thick client maps its window, `login --parent-window <id>`
//! opens the sign-in window, which must map transient for that window, above it in the window
//! manager's stacking order, with a title naming the host that asks. A handle that names no
//! window is ignored with a warning.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

use crate::support;
use crate::support::x11::{need_programs, need_python_xlib};
use finesse_sso::window::xvfb::Xvfb;

/// Runs `program args` on the display; its stdout.
async fn on(x: &Xvfb, program: &str, args: &[&str]) -> String {
    let mut c = Command::new(program);
    x.configure(&mut c);
    let o = c.args(args).output().await.unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// An authority file python-xlib can use for the display (it skips the wildcard entry
/// `Xvfb` is given): the same cookie, for this host's local connections.
fn python_xauthority(x: &Xvfb, dir: &std::path::Path) -> std::path::PathBuf {
    let mut probe = Command::new("true");
    x.configure(&mut probe);
    let env = |k: &str| {
        probe
            .as_std()
            .get_envs()
            .find(|(n, _)| *n == k)
            .and_then(|(_, v)| v)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let number = env("DISPLAY").trim_start_matches(':').to_string();
    let raw = std::fs::read(env("XAUTHORITY")).unwrap();
    // libXau: family (u16), then address, number, name, data, each a u16 length and bytes.
    let mut fields = vec![];
    let mut at = 2;
    for _ in 0..4 {
        let len = u16::from_be_bytes([raw[at], raw[at + 1]]) as usize;
        fields.push(raw[at + 2..at + 2 + len].to_vec());
        at += 2 + len;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut out = 256u16.to_be_bytes().to_vec(); // FamilyLocal
    for f in [
        host.trim().as_bytes(),
        number.as_bytes(),
        &fields[2],
        &fields[3],
    ] {
        out.extend((f.len() as u16).to_be_bytes());
        out.extend(f);
    }
    let path = dir.join("python.xauth");
    std::fs::write(&path, out).unwrap();
    path
}

/// Polls `check` until it gives a value, failing after `within`.
async fn until<T, F: Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Window ids in a root property (`xprop -root NAME`), in order.
fn ids(xprop_line: &str) -> Vec<u64> {
    xprop_line
        .split('#')
        .nth(1)
        .unwrap_or("")
        .split(',')
        .filter_map(|s| u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn the_sign_in_window_maps_transient_for_and_above_its_callers_window() {
    support::need_xvfb();
    need_programs(&[
        ("openbox", "openbox"),
        ("wmctrl", "wmctrl"),
        ("xprop", "x11-utils"),
        ("xdotool", "xdotool"),
    ]);
    need_python_xlib();
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start(dir.path()).await.unwrap();

    let mut wm = Command::new("openbox");
    x.configure(&mut wm);
    let mut wm = wm
        .arg("--sm-disable")
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    until(
        "openbox manages the display",
        Duration::from_secs(20),
        || async {
            on(&x, "wmctrl", &["-m"])
                .await
                .contains("Openbox")
                .then_some(())
        },
    )
    .await;

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/support/parent_window.py"
    );
    let py_auth = python_xauthority(&x, dir.path());
    let mut parent = Command::new("/usr/bin/python3");
    x.configure(&mut parent);
    let mut parent = parent
        .env("XAUTHORITY", &py_auth)
        .args([script, "Thick client"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    tokio::io::BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut line)
        .await
        .unwrap();
    let parent_id = u64::from_str_radix(line.trim().trim_start_matches("0x"), 16).unwrap();
    until(
        "the window manager lists the parent",
        Duration::from_secs(20),
        || async {
            let list = on(&x, "xprop", &["-root", "_NET_CLIENT_LIST"]).await;
            ids(&list).contains(&parent_id).then_some(())
        },
    )
    .await;

    let emu = support::emulator(&[]).await; // nobody types: the IdP's page waits
    let idp = format!(
        "{}:{}",
        emu.idp_url().host_str().unwrap(),
        emu.idp_url().port().unwrap()
    );
    let home = tempfile::tempdir().unwrap();
    let handle = format!("{parent_id:#x}");
    let login = support::login_command(
        home.path(),
        &emu,
        "agent1",
        &["-v", "--timeout", "60", "--parent-window", &handle],
    );
    let mut login = Command::from(login);
    x.configure(&mut login);
    let login = login.kill_on_drop(true).spawn().unwrap();

    // Ours: the managed window that is not the parent and whose title names the IdP.
    let ours = until(
        "the sign-in window is managed",
        Duration::from_secs(60),
        || async {
            let list = on(&x, "wmctrl", &["-l"]).await;
            list.lines()
                .find(|l| l.contains(&idp))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|id| u64::from_str_radix(id.trim_start_matches("0x"), 16).ok())
                .filter(|id| *id != parent_id)
        },
    )
    .await;
    let id = format!("{ours:#x}");
    let title = on(&x, "xprop", &["-id", &id, "_NET_WM_NAME"]).await;
    assert!(
        title.contains("Sign in") && title.contains(&idp),
        "the title names the host asking: {title}"
    );
    let transient = on(&x, "xprop", &["-id", &id, "WM_TRANSIENT_FOR"]).await;
    assert_eq!(
        ids(&transient),
        vec![parent_id],
        "transient for the caller's window: {transient}"
    );
    let stacking = until("both windows stacked", Duration::from_secs(10), || async {
        let s = ids(&on(&x, "xprop", &["-root", "_NET_CLIENT_LIST_STACKING"]).await);
        (s.contains(&ours) && s.contains(&parent_id)).then_some(s)
    })
    .await;
    let at = |w: u64| stacking.iter().position(|s| *s == w).unwrap();
    assert!(
        at(ours) > at(parent_id),
        "ours above the parent (bottom to top): {stacking:x?}"
    );

    // Closed as a person would: the sign-in ends as cancelled.
    let close = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/support/close_window.py"
    );
    let mut closer = Command::new("/usr/bin/python3");
    x.configure(&mut closer);
    let closed = closer
        .env("XAUTHORITY", &py_auth)
        .args([close, &id])
        .status()
        .await
        .unwrap();
    assert!(closed.success());
    let o = tokio::time::timeout(Duration::from_secs(30), login.wait_with_output())
        .await
        .expect("login ends once its window is closed")
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(finesse_sso::error::exit::CANCELLED),
        "{err}"
    );
    assert!(!err.contains("ignored"), "{err}");
    drop(parent.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(5), parent.wait()).await;
    wm.start_kill().unwrap();
    let _ = wm.wait().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_parent_window_that_does_not_exist_is_ignored_with_a_warning() {
    support::need_display();
    let emu = support::emulator(&["--auto-login", "agent1"]).await;
    let home = tempfile::tempdir().unwrap();
    // A free id on any X server: far beyond the ids the server hands out.
    let login = support::login_command(
        home.path(),
        &emu,
        "agent1",
        &["--timeout", "30", "--parent-window", "0x7ffffffe"],
    );
    let o = support::output(login).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("--parent-window 0x7ffffffe ignored: no such X11 window"),
        "{err}"
    );
    for bad in ["0", "window", "-1"] {
        let o = support::output(support::login_command(
            home.path(),
            &emu,
            "agent1",
            &[&format!("--parent-window={bad}")],
        ))
        .await;
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--parent-window"));
    }
    emu.shutdown().await;
}
