//! Helpers shared by the integration tests: the emulator from its CLI flags, the `finesse-sso
//! login` command against it, what a test needs from the machine (display, root, node: fail or
//! opt out), running commands beside the emulator's runtime, a tmpfs to turn read-only or fill,
//! stdin and log plumbing, and waiting for a newer token.

#[cfg(unix)] // its users (agent, desktop, desktop_pipe) are Unix-only
pub mod agent_rig;
#[cfg(unix)]
pub mod desktop;
pub mod driver;
#[cfg(target_os = "linux")]
pub mod kdc;
#[cfg(target_os = "linux")] // its users (client_cert) are Linux-only
pub mod softhsm;
#[cfg(target_os = "linux")] // its one user, tests/it/proxy.rs, runs on Linux
pub mod tinyproxy;
#[cfg(target_os = "linux")] // /proc and X11: its users (placement, rendering, popup) are Linux's
pub mod x11;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use clap::Parser;
use finesse_sso_emulator::{self as emulator, Emulator, EmulatorConfig};

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    config: EmulatorConfig,
}

/// The emulator's configuration from its own CLI flags (its public contract).
pub fn emulator_config(flags: &[&str]) -> EmulatorConfig {
    Flags::try_parse_from(std::iter::once("emulate").chain(flags.iter().copied()))
        .expect("test flags parse")
        .config
}

/// An emulator configured by its own CLI flags.
pub async fn emulator(flags: &[&str]) -> Emulator {
    emulator::start(emulator_config(flags))
        .await
        .expect("emulator starts")
}

/// The binary with its state under `home` and none of the caller's settings (no server, user,
/// proxy, CA, profile or machine-wide config from the environment), stdin closed.
pub fn cli(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finesse-sso"));
    c.env("FINESSE_SSO_HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .stdin(Stdio::null());
    for v in [
        "FINESSE_SSO_SERVER",
        "FINESSE_SSO_USER",
        "FINESSE_SSO_PROXY",
        "FINESSE_SSO_CA_FILE",
        "FINESSE_SSO_PROFILE",
        "FINESSE_SSO_SYSTEM_CONFIG",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "http_proxy",
        "no_proxy",
        "NO_PROXY",
        "FINESSE_SSO_PROXY_BYPASS",
    ] {
        c.env_remove(v);
    }
    c
}

/// `finesse-sso login` against `emu`, trusting its CA, with private state under `home`.
pub fn login_command(home: &Path, emu: &Emulator, user: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finesse-sso"));
    c.env("FINESSE_SSO_HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .arg("login")
        .arg("--server")
        .arg(emu.finesse_url().as_str())
        .args(["--user", user])
        .arg("--ca-file")
        .arg(emu.ca_file().unwrap())
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

// What some tests need from the machine. Each such test carries
// `#[cfg_attr(skip_<what>_tests, ignore = "...")]` (the cfg comes from build.rs and the
// `FINESSE_SSO_SKIP_<WHAT>_TESTS` variable) and calls one of these first: without the
// requirement and without the opt-out it fails, naming the fix, so it never passes unrun.

/// Fails the test when there is no display for a real window.
pub fn need_display() {
    assert!(
        std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()),
        "no DISPLAY for this real-window test: run the suite under Xvfb \
         (xvfb-run -a -s -noreset cargo test --workspace), as .ci/test does, or set \
         FINESSE_SSO_SKIP_WINDOW_TESTS=1 to report these tests as ignored"
    );
}

/// Fails the test when `Xvfb` (which the product starts itself, with no display) is not
/// installed.
pub fn need_xvfb() {
    assert!(
        finesse_sso::window::xvfb::available(),
        "Xvfb is not installed (this test runs a window on a display of its own): install xvfb \
         (.ci/deps.sh does), or set FINESSE_SSO_SKIP_WINDOW_TESTS=1 to report these tests as ignored"
    );
}

/// Fails the test when not running as root.
#[cfg(unix)]
pub fn need_root() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "this test needs root (to mount, or to act as another user): run as root (CI does), \
         or set FINESSE_SSO_SKIP_ROOT_TESTS=1 to report these tests as ignored"
    );
}

/// Fails the test when `node` is not installed.
#[cfg(unix)]
pub fn need_node() {
    assert!(
        runs("node", "--version"),
        "node is not installed (this test runs the Node.js client): install nodejs \
         (.ci/deps.sh does), or set FINESSE_SSO_SKIP_NODE_TESTS=1 to report these tests as ignored"
    );
}

/// Whether `program arg` starts and exits 0.
#[cfg(unix)]
fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a blocking command without stalling the emulator's runtime.
pub async fn output(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

/// A tmpfs mounted over `dir` for a test (root only, see `need_root`), unmounted on drop.
#[cfg(target_os = "linux")]
pub struct Mount(std::path::PathBuf);

#[cfg(target_os = "linux")]
impl Mount {
    /// Mounts, or fails the test saying why: a root test that cannot mount must not pass.
    pub fn tmpfs(dir: &Path, size: &str) -> Self {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=700"),
                "tmpfs",
            ])
            .arg(dir)
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => Mount(dir.to_path_buf()),
            Ok(o) => panic!(
                "cannot mount a tmpfs on {} ({}; needs root and CAP_SYS_ADMIN): run as root \
                 (CI does), or set FINESSE_SSO_SKIP_ROOT_TESTS=1 to report these tests as ignored",
                dir.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("cannot run mount: {e}"),
        }
    }

    /// `mount -o remount,<opts>`: `ro` or `rw`. A failure names the processes with files open
    /// there (the usual reason: `EBUSY`).
    pub fn remount(&self, opts: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {opts}: {}; open there: {:?}",
            String::from_utf8_lossy(&out.stderr).trim(),
            self.open_files()
        );
    }

    /// (pid, command, path) of every open file under the mount.
    fn open_files(&self) -> Vec<(String, String, String)> {
        let mut out = vec![];
        for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let pid = p.file_name().to_string_lossy().into_owned();
            let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            for fd in std::fs::read_dir(p.path().join("fd"))
                .into_iter()
                .flatten()
                .flatten()
            {
                if let Ok(target) = std::fs::read_link(fd.path())
                    && target.starts_with(&self.0)
                {
                    let t = target.display().to_string();
                    out.push((pid.clone(), comm.trim().to_string(), t));
                }
            }
        }
        out
    }

    /// Fills the filesystem to the last byte with one file.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        while f.write_all(&[0]).is_ok() {}
    }
}

#[cfg(target_os = "linux")]
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Runs `c` with `input` on its stdin; stdout and stderr captured.
pub fn run_with_stdin(c: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// An in-memory log sink for a tracing subscriber in this test process (clones share it).
#[derive(Clone, Default)]
pub struct LogBuffer(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

#[cfg(unix)] // used by the agent's tests only
impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// The whole log once it holds `needle`: the line may come from another task or thread
    /// (an accept loop, a handler) a moment after the event that causes it. Fails after `within`.
    pub async fn wait_for(&self, needle: &str, within: std::time::Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log line with {needle:?} within {within:?}; the log:\n{text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Everything logged in this test process, for tests that prove no secret reaches a log or wait
/// for a line: our crates (`finesse_sso*`) at trace, as `-vvv` logs them, every other crate at
/// debug. A process has one global subscriber, so the whole binary shares this one buffer; the
/// first call installs it.
pub fn logs() -> LogBuffer {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    static BUF: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    BUF.get_or_init(|| {
        let buf = LogBuffer::default();
        let writer = buf.clone();
        let filter = Targets::new()
            .with_default(tracing::Level::DEBUG)
            .with_target("finesse_sso", tracing::Level::TRACE);
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            )
            .try_init()
            .expect("only support::logs installs a global subscriber in the test binary");
        buf
    })
    .clone()
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)] // the agent's tests, which run where its Unix socket does
/// The next token a subscription pushes with a serial above `serial`, within `within`.
pub async fn newer_token(
    sub: &mut finesse_sso::ipc::client::Client,
    serial: u64,
    within: std::time::Duration,
) -> finesse_sso::ipc::protocol::TokenInfo {
    loop {
        let ev = tokio::time::timeout(within, sub.next_event())
            .await
            .unwrap_or_else(|_| panic!("no token newer than #{serial} within {within:?}"))
            .unwrap();
        if let Some(t) = ev.result.filter(|t| t.serial > serial) {
            return t;
        }
    }
}

/// Every regular file under `dir`, at any depth (symbolic links followed).
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => todo.push(p),
                Ok(m) if m.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out
}
