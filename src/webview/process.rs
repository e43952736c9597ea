//! The parent side of the window process: spawn it (under Xvfb when asked), feed it the request,
//! read its one line, enforce the timeout, and turn the outcome into a token or a typed error.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use super::{SavedCookie, WindowOutcome, WindowRequest};
use crate::error::{Error, ErrorKind, Result};
use crate::finesse::token_response::TokenResponse;

/// How to start the window process.
#[derive(Debug, Clone, Default)]
pub struct Spawn {
    /// Run it under `xvfb-run -a` (no display: demos, CI).
    pub xvfb: bool,
    /// Verbosity and log format passed on to the child, so its stderr matches ours.
    pub verbosity: u8,
    pub json_logs: bool,
}

/// A successful window sign-in.
#[derive(Debug)]
pub struct WindowToken {
    pub token: TokenResponse,
    pub cookies: Vec<SavedCookie>,
}

/// Whether a graphical session is reachable from here.
pub fn have_display() -> bool {
    if cfg!(any(windows, target_os = "macos")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Whether `xvfb-run` is on PATH.
pub fn have_xvfb() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("xvfb-run").is_file()))
}

/// Overrides where the window program is (tests, unusual installs).
pub const WEBVIEW_EXE_ENV: &str = "FINESSE_SSO_WEBVIEW";

/// The window program: `$FINESSE_SSO_WEBVIEW`, else `finesse-sso-webview` beside this executable
/// (or one directory up, where cargo puts binaries next to its test executables).
pub fn webview_exe() -> Result<std::path::PathBuf> {
    if let Some(p) = std::env::var_os(WEBVIEW_EXE_ENV).filter(|p| !p.is_empty()) {
        return Ok(p.into());
    }
    let me = std::env::current_exe()
        .map_err(|e| Error::Internal(format!("cannot find own executable: {e}")))?;
    let name = format!("finesse-sso-webview{}", std::env::consts::EXE_SUFFIX);
    let dir = me.parent();
    [dir, dir.and_then(std::path::Path::parent)]
        .into_iter()
        .flatten()
        .map(|d| d.join(&name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::NoDisplay(format!(
                "the window program {name} is not installed beside {} (set {WEBVIEW_EXE_ENV} to its path)",
                me.display()
            ))
        })
}

/// A started window process. It builds its (hidden) window at once but loads nothing until
/// [`Window::go`], so callers overlap their own checks with WebKit's start-up. Dropping it
/// ends the process group.
pub struct Window {
    req: WindowRequest,
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: Option<tokio::process::ChildStdout>,
    /// The group's id, until the child is reaped: from then on the id is free for reuse by
    /// another process group (another sign-in's window), and must not be signalled.
    pid: Option<u32>,
}

impl Window {
    /// Starts the window process and hands it the request.
    pub async fn spawn(req: &WindowRequest, spawn: &Spawn) -> Result<Window> {
        let exe = webview_exe()?;
        let mut cmd = if spawn.xvfb {
            let mut c = Command::new("xvfb-run");
            c.args(["-a", "-s", "-screen 0 1280x1024x24 -nolisten tcp"])
                .arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        if spawn.verbosity > 0 {
            cmd.arg(format!("-{}", "v".repeat(spawn.verbosity.min(4) as usize)));
        }
        if spawn.json_logs {
            cmd.args(["--log-format", "json"]);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0); // so a timeout can end xvfb-run, Xvfb and WebKit's processes together
        let mut child = cmd.spawn().map_err(|e| {
            if spawn.xvfb {
                Error::NoDisplay(format!("cannot run xvfb-run: {e}"))
            } else {
                Error::Webview(format!(
                    "cannot start the window process {}: {e}",
                    exe.display()
                ))
            }
        })?;
        let mut w = Window {
            req: req.clone(),
            pid: child.id(),
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            child,
        };
        let mut line = serde_json::to_string(req).map_err(|e| Error::Internal(e.to_string()))?;
        line.push('\n');
        w.send(&line).await?;
        // stdin stays open until we are done: its EOF tells the child we are gone.
        Ok(w)
    }

    async fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| Error::Internal("no stdin pipe".into()))?;
        stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| Error::Webview(format!("window process stdin: {e}")))?;
        stdin
            .flush()
            .await
            .map_err(|e| Error::Webview(format!("window process stdin: {e}")))
    }

    /// Lets the window load the token URL.
    pub async fn go(&mut self) -> Result<()> {
        self.send(&format!("{}\n", super::GO)).await
    }

    /// Waits for the window's one answer.
    pub async fn wait(mut self) -> Result<WindowToken> {
        let stdout = self
            .stdout
            .take()
            .ok_or_else(|| Error::Internal("no stdout pipe".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let read = async {
            while let Ok(Some(l)) = lines.next_line().await {
                if let Some(o) = WindowOutcome::from_line(&l) {
                    return Some(o);
                }
            }
            None
        };
        // The child enforces the timeout itself; this guard covers a wedged engine.
        let guard = Duration::from_secs(self.req.timeout_secs.saturating_add(10));
        let outcome = tokio::select! {
            o = tokio::time::timeout(guard, read) => o,
            _ = tokio::signal::ctrl_c() => return Err(Error::Cancelled),
        };
        let Ok(outcome) = outcome else {
            return Err(Error::TimedOut(self.req.timeout_secs, String::new()));
        };
        if outcome.is_some() {
            // The answer is in: end the window and all it started now. WebKit's helpers would
            // wind down for ≈ 35 ms more, holding the profile's files. They all hold our pipe,
            // so its EOF says they are gone.
            kill_group(self.pid);
            let (mut rest, mut sink) = (lines.into_inner(), tokio::io::sink());
            let drain = tokio::io::copy(&mut rest, &mut sink);
            let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        }
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        if matches!(status, Ok(Ok(_))) {
            self.pid = None;
        }
        match outcome {
            Some(WindowOutcome::Ok { token, cookies }) => Ok(WindowToken { token, cookies }),
            Some(WindowOutcome::Error { kind, message }) => {
                Err(error_from(&kind, message, &self.req))
            }
            None => {
                let code = match status {
                    Ok(Ok(s)) => s.to_string(),
                    _ => "no exit status".into(),
                };
                Err(Error::Webview(format!(
                    "the window process ended without an answer ({code})"
                )))
            }
        }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // Cancelled, timed out or never told to go: nothing of the window outlives it
        // (xvfb-run, Xvfb, WebKit's helpers). An answered window's group is ended in `wait`.
        kill_group(self.pid);
    }
}

fn error_from(kind: &ErrorKind, message: String, req: &WindowRequest) -> Error {
    let host = crate::error::host_of(&req.finesse);
    match kind {
        ErrorKind::Cancelled => Error::Cancelled,
        ErrorKind::TimedOut => Error::TimedOut(req.timeout_secs, format!("; {message}")),
        ErrorKind::NoDisplay => Error::NoDisplay(message),
        ErrorKind::Tls => Error::Tls {
            step: "sign-in window",
            host: message_host(&message).unwrap_or(host),
            cause: message,
        },
        ErrorKind::Network => Error::Network {
            step: "sign-in window",
            host: message_host(&message).unwrap_or(host),
            cause: message,
        },
        ErrorKind::Server => Error::Server {
            step: "sign-in window",
            host,
            detail: message,
        },
        ErrorKind::InteractionRequired => Error::InteractionRequired(message),
        _ => Error::Webview(message),
    }
}

// Messages from the child start with "host:port: ..." when they concern one host.
fn message_host(message: &str) -> Option<String> {
    let (h, _) = message.split_once(": ")?;
    (!h.contains(' ')).then(|| h.to_string())
}

fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: signalling our own child's process group.
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}
