//! Running our background agent: in the foreground (bind, say ready, serve until a stop request or a
//! signal), or in the background (re-run this executable detached, wait until it answers).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::clock::SystemClock;
use super::connection::Limits;
use super::keeper::{Keeper, KeeperOptions};
use super::listener::{AgentListener, ServeOptions};
use crate::dirs::{Dirs, ensure_private_dir, set_aside_foreign, write_private};
use crate::error::{Error, Result};
use crate::ipc::client::Client;
use crate::ipc::transport::Endpoint;
use crate::redact::Secret;
use crate::signin::{SignInOptions, Target, WindowBrowser};

/// Everything `agent run` needs, resolved from flags, environment and config.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub dirs: Dirs,
    pub target: Target,
    pub sign_in: SignInOptions,
    pub prompts_per_hour: u32,
    pub max_clients: usize,
    pub notifications: crate::notify::transport::Choice,
    pub lazy: bool,
}

/// Runs the agent in the foreground until stopped.
pub async fn run_foreground(cfg: RunConfig) -> Result<()> {
    let profile = cfg.target.profile.clone();
    let profile_dir = cfg.dirs.profile(&profile)?;
    let server = AgentListener::bind(&cfg.dirs, &profile).await?;
    let finesse = cfg.target.finesse()?;
    let keeper = Keeper::new(
        cfg.target.clone(),
        profile_dir,
        Arc::new(finesse),
        Arc::new(WindowBrowser {
            dirs: cfg.dirs.clone(),
        }),
        Arc::new(SystemClock),
        KeeperOptions {
            sign_in: cfg.sign_in.clone(),
            prompts_per_hour: cfg.prompts_per_hour,
            sign_in_at_start: !cfg.lazy,
        },
    );
    let (stop, _) = watch::channel(false);
    spawn_signal_watch(stop.clone());
    crate::stdio::note(format_args!(
        "finesse-sso agent: ready on {} (profile {profile}, {} as {}, pid {})",
        server.endpoint().display(),
        keeper.server(),
        cfg.target.user,
        std::process::id()
    ));
    notify_systemd();
    server
        .serve(
            keeper,
            ServeOptions {
                profile,
                limits: Limits::default(),
                max_clients: cfg.max_clients,
                notify: crate::notify::runner::Options {
                    transport: cfg.notifications,
                    ..Default::default()
                },
            },
            stop,
        )
        .await;
    Ok(())
}

fn spawn_signal_watch(stop: watch::Sender<bool>) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                let _ = tokio::signal::ctrl_c().await;
                let _ = stop.send(true);
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("signal received: stopping");
        let _ = stop.send(true);
    });
}

/// `sd_notify(READY=1)` when started by systemd with `Type=notify`.
fn notify_systemd() {
    #[cfg(target_os = "linux")]
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let bytes = path.as_bytes();
        let addr = match bytes.strip_prefix(b"@") {
            Some(abs) => SocketAddr::from_abstract_name(abs),
            None => SocketAddr::from_pathname(std::path::Path::new(&path)),
        };
        let sent = addr.and_then(|a| UnixDatagram::unbound()?.send_to_addr(b"READY=1", &a));
        if let Err(e) = sent {
            tracing::warn!("could not notify systemd: {e}");
        }
    }
}

/// The private log file of a background agent.
pub fn log_file(dirs: &Dirs, profile: &str) -> PathBuf {
    dirs.state.join(format!("agent-{profile}.log"))
}

/// How to start a background agent: arguments (readable by every local user: nothing secret),
/// environment variables to set (`Some`) or remove (`None`) in the child (private to the user),
/// and a secret line for its stdin (the proxy password it cannot ask for).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub args: Vec<OsString>,
    pub env: Vec<(&'static str, Option<OsString>)>,
    /// Lines for the agent's stdin, in the order `agent run` reads them: the proxy password
    /// (`--proxy-password-stdin`), then the client certificate's PIN (`--pin-stdin`).
    pub stdin_lines: Vec<Secret<String>>,
}

/// Starts `exe <args>` detached with `env`, stdio to /dev/null and the private log, and waits
/// until it answers `hello` (or another agent of the profile does: two starters may race).
pub async fn start_background(
    dirs: &Dirs,
    profile: &str,
    launch: &Launch,
    wait: Duration,
) -> Result<Client> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Internal(format!("cannot find own executable: {e}")))?;
    let log = log_file(dirs, profile);
    // The log is appended to: one someone else planted (and could read) is not used.
    ensure_private_dir(&dirs.state)?;
    set_aside_foreign(&log)?;
    if !log.exists() {
        write_private(&log, b"")?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NOFOLLOW);
    }
    let log_handle = open.open(&log).map_err(|e| Error::state(&log, e))?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(&launch.args)
        .stdin(match launch.stdin_lines.is_empty() {
            false => Stdio::piped(),
            true => Stdio::null(),
        })
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_handle));
    for (name, value) in &launch.env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe; it detaches the agent from our terminal
        // session so closing the terminal does not end it.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        cmd.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW);
        // Windows hands a child every inheritable handle, whatever its stdio is set to: our own
        // stdin/stdout/stderr would stay open in the agent for its whole life, and a caller
        // reading `agent start`'s output (an installer, a script) would wait for ever.
        use std::os::windows::io::AsRawHandle;
        use windows_sys::Win32::Foundation::{HANDLE_FLAG_INHERIT, SetHandleInformation};
        for h in [
            std::io::stdin().as_raw_handle(),
            std::io::stdout().as_raw_handle(),
            std::io::stderr().as_raw_handle(),
        ] {
            if !h.is_null() {
                // SAFETY: clears a flag on this process's own standard handles; a handle that
                // is not valid (no console) only makes the call fail, which changes nothing.
                unsafe { SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0) };
            }
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Agent(format!("cannot start {}: {e}", exe.display())))?;
    if let (false, Some(mut pipe)) = (launch.stdin_lines.is_empty(), child.stdin.take()) {
        use std::io::Write;
        // A few short lines into an empty pipe: it does not block; then EOF (the pipe is
        // dropped). The agent reads them before anything else.
        for secret in &launch.stdin_lines {
            let line = format!("{}\n", secret.expose());
            if let Err(e) = pipe.write_all(line.as_bytes()) {
                return Err(Error::Agent(format!(
                    "cannot hand a secret (proxy password or PIN) to the background agent: {e}"
                )));
            }
        }
    }
    let ep = Endpoint::of(dirs, profile)?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut exited = None;
    loop {
        match Client::connect(&ep, profile, "finesse-sso start").await {
            Ok(c) => {
                // Reap the child later without blocking: it lives on, detached.
                std::thread::spawn(move || child.wait());
                return Ok(c);
            }
            Err(Error::AgentNotRunning(_)) => {}
            Err(e) => return Err(e),
        }
        if exited.is_none()
            && let Ok(Some(status)) = child.try_wait()
        {
            // Exit 21: another user's process holds the pipe; waiting would never end well.
            if status.code() == Some(crate::error::exit::FOREIGN_PIPE) {
                return Err(Error::ForeignPipe(format!(
                    "the background agent could not take {} (see {})",
                    ep.display(),
                    log.display()
                )));
            }
            // Exit 15: another agent won the race; keep waiting for it to answer.
            if status.code() != Some(crate::error::exit::AGENT_RUNNING) {
                return Err(Error::Agent(format!(
                    "the background agent exited ({status}) before it was ready; see {}{}",
                    log.display(),
                    tail(&log)
                )));
            }
            exited = Some(status);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Agent(format!(
                "the background agent did not answer within {} s; see {}",
                wait.as_secs(),
                log.display()
            )));
        }
        // The agent listens within ≈ 5–20 ms of its start: a coarse poll here was most of a
        // cold `token`'s wait beyond the sign-in itself (docs/benchmarks.md, issue 16 goal 3).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The last lines of the log, for an error message.
fn tail(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from(":");
    for l in lines.into_iter().rev() {
        out.push_str("\n  ");
        out.push_str(l);
    }
    out
}
