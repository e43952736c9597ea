//! The parent side of the window process: spawn it (under Xvfb when asked), feed it the request,
//! give it its rendering variables (`rendering`), read its one answer from the answer channel,
//! enforce the timeout, and turn the outcome into a token, a rendering failure or a typed error.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::channel::{self, Ends, Pipes, ReadError};
use super::program::webview_exe;
use super::rendering::{self, Facts, Var};
use super::tree::Tree;
use super::wire::{GoFacts, MAX_LINE, SavedCookie, WindowOutcome, WindowRequest};
use super::xvfb::Xvfb;
use crate::error::{Error, ErrorKind, Result, Throttle};
use crate::finesse::token_response::TokenResponse;

/// How to start the window process.
#[derive(Debug, Clone, Default)]
pub struct Spawn {
    /// Run it on a private Xvfb display of its own (no display: demos, CI).
    pub xvfb: bool,
    /// Verbosity and log format passed on to the child, so its stderr matches ours.
    pub verbosity: u8,
    pub json_logs: bool,
    /// The restart after a rendering failure: every safer rendering variable the user left
    /// unset (`rendering::safer`), instead of the first window's (`rendering::first`).
    pub safer_rendering: bool,
}

/// A successful window sign-in.
#[derive(Debug)]
pub struct WindowToken {
    pub token: TokenResponse,
    pub cookies: Vec<SavedCookie>,
}

/// How a window ended, short of a typed error.
#[derive(Debug)]
pub enum Ended {
    Token(WindowToken),
    /// The engine could not render (`WindowOutcome::RenderingFailed`): worth one restart.
    RenderingFailed(String),
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

/// A started window process. It builds its (hidden) window at once but loads nothing until
/// [`Window::go`], so callers overlap their own checks with WebKit's start-up. Dropping it
/// ends its whole process tree.
pub struct Window {
    req: WindowRequest,
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    ends: Option<Ends>,
    /// Every process the window started (a process group, a job object).
    tree: Tree,
    /// The window's own display, when it has one; ended after the window.
    _xvfb: Option<Xvfb>,
    /// The rendering variables this window was started with (beyond the inherited ones).
    rendering: Vec<Var>,
}

impl Window {
    /// Starts the window process and hands it the request.
    pub async fn spawn(req: &WindowRequest, spawn: &Spawn) -> Result<Window> {
        let exe = webview_exe()?;
        let xvfb = match spawn.xvfb {
            true => {
                let dir = req.data_dir.parent().unwrap_or(&req.data_dir);
                Some(Xvfb::start(dir).await?)
            }
            false => None,
        };
        let mut cmd = Command::new(&exe);
        if let Some(x) = &xvfb {
            x.configure(&mut cmd);
        }
        // Set before the window starts GTK: WebKit reads them once, its web process inherits
        // them. Only variables the user left unset.
        let facts = Facts::probe(xvfb.is_some());
        let env = |k: &str| std::env::var_os(k);
        let vars = match spawn.safer_rendering {
            true => rendering::safer(env, facts),
            false => rendering::first(env, facts),
        };
        if let (false, false, Some(why)) = (
            vars.is_empty(),
            spawn.safer_rendering,
            rendering::why_first(facts),
        ) {
            tracing::info!("{why}: the window runs with {}", rendering::describe(&vars));
        }
        cmd.envs(vars.iter().copied());
        if spawn.verbosity > 0 {
            cmd.arg(format!("-{}", "v".repeat(spawn.verbosity.min(4) as usize)));
        }
        if spawn.json_logs {
            cmd.args(["--log-format", "json"]);
        }
        // The answer comes on its own pipe (`channel`); stdout, which WebKit's helpers inherit,
        // carries nothing we read.
        let pipes = Pipes::new()
            .map_err(|e| Error::Webview(format!("cannot make the answer pipe: {e}")))?;
        pipes.configure(&mut cmd);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // So a timeout can end the window and WebKit's (or WebView2's) processes together.
        Tree::prepare(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| {
            Error::Webview(format!(
                "cannot start the window process {}: {e}",
                exe.display()
            ))
        })?;
        #[cfg(windows)]
        if let Some(pid) = child.id() {
            // The foreground right a caller gave us (`AllowSetForegroundWindow`) is ours alone:
            // only a process that may set the foreground can hand it on to the window's.
            // SAFETY: no preconditions; without the right it fails, harmlessly.
            unsafe { windows_sys::Win32::UI::WindowsAndMessaging::AllowSetForegroundWindow(pid) };
        }
        let ends = pipes.into_ends();
        // Before the request goes out: the child starts nothing until it has read it.
        let tree = Tree::adopt(&child);
        let mut w = Window {
            req: req.clone(),
            tree,
            stdin: child.stdin.take(),
            ends: None,
            child,
            _xvfb: xvfb,
            rendering: vars,
        };
        // Dropping `w` on this error ends the process tree.
        w.ends = Some(ends.map_err(|e| Error::Webview(format!("the answer pipe: {e}")))?);
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
    pub async fn go(&mut self, facts: &GoFacts) -> Result<()> {
        self.send(&facts.line()).await
    }

    /// The rendering variables this window was started with.
    pub fn rendering(&self) -> &[Var] {
        &self.rendering
    }

    /// Waits for the window's one answer; a rendering failure is an error like any other.
    pub async fn wait(self) -> Result<WindowToken> {
        match self.finish().await? {
            Ended::Token(t) => Ok(t),
            Ended::RenderingFailed(message) => Err(Error::Webview(message)),
        }
    }

    /// Waits for the window's one answer, telling a rendering failure apart.
    pub async fn finish(mut self) -> Result<Ended> {
        let mut ends = self
            .ends
            .take()
            .ok_or_else(|| Error::Internal("no answer pipe".into()))?;
        let read = channel::read_outcome(&mut ends.answer);
        // The child enforces the timeout itself; this guard covers a wedged engine.
        let guard = Duration::from_secs(self.req.timeout_secs.saturating_add(10));
        let outcome = tokio::select! {
            o = tokio::time::timeout(guard, read) => o,
            _ = tokio::signal::ctrl_c() => return Err(Error::Cancelled),
        };
        let Ok(outcome) = outcome else {
            return Err(Error::TimedOut(self.req.timeout_secs, String::new()));
        };
        if !matches!(outcome, Err(ReadError::Closed)) {
            // The answer is in (or the window misbehaves): end the window and all it started
            // now. WebKit's helpers would wind down for ≈ 35 ms more, holding the profile's
            // files. They all hold the life pipe, so its EOF says they are gone (Windows: the
            // job's process count).
            self.tree.end();
            await_helpers(ends, &self.tree).await;
        }
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        if matches!(status, Ok(Ok(_))) {
            self.tree.reaped();
        }
        match outcome {
            Ok(WindowOutcome::Ok { token, cookies }) => {
                Ok(Ended::Token(WindowToken { token, cookies }))
            }
            Ok(WindowOutcome::RenderingFailed { message }) => Ok(Ended::RenderingFailed(message)),
            Ok(WindowOutcome::Error { kind, message }) => {
                Err(error_from(&kind, message, &self.req))
            }
            Err(ReadError::Closed) => {
                let code = match status {
                    Ok(Ok(s)) => s.to_string(),
                    _ => "no exit status".into(),
                };
                Err(Error::Webview(format!(
                    "the window process ended without an answer ({code})"
                )))
            }
            Err(ReadError::TooLong) => Err(Error::Webview(format!(
                "the window's answer was over the {MAX_LINE}-byte limit"
            ))),
            Err(ReadError::Unreadable) => Err(Error::Webview(
                "the window's answer was not a valid outcome".into(),
            )),
            Err(ReadError::Io(kind)) => Err(Error::Webview(format!(
                "reading the window's answer: {kind}"
            ))),
        }
    }
}

/// Waits (bounded) until every process holding the life pipe is gone; what it carries, if
/// anything, is discarded.
#[cfg(unix)]
async fn await_helpers(mut ends: Ends, _tree: &Tree) {
    let mut sink = tokio::io::sink();
    let drain = tokio::io::copy(&mut ends.life, &mut sink);
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
}

/// Windows: no life pipe (helpers inherit no handle of ours); the job counts its processes.
#[cfg(windows)]
async fn await_helpers(_ends: Ends, tree: &Tree) {
    tree.gone(Duration::from_secs(5)).await;
}

impl Drop for Window {
    fn drop(&mut self) {
        // Cancelled, timed out or never told to go: nothing of the window outlives it
        // (WebKit's or WebView2's helpers, then its Xvfb). An answered window's tree is ended
        // in `wait`.
        self.tree.end();
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
        // The client certificate's outcomes (docs/administrators.md).
        ErrorKind::AuthRejected => Error::AuthRejected {
            step: "sign-in window",
            host: message_host(&message).unwrap_or(host),
            detail: message,
        },
        ErrorKind::PasswordRequired => Error::PasswordRequired(message),
        ErrorKind::Usage => Error::Usage(message),
        ErrorKind::ProxyAuth => Error::ProxyAuth(message),
        // The engine's record has no `Retry-After`: the refusal's own wait applies.
        ErrorKind::ProxyBlocked | ErrorKind::RateLimited => {
            let status = if *kind == ErrorKind::ProxyBlocked {
                418
            } else {
                429
            };
            Throttle::error("sign-in window", host.clone(), status, None).unwrap_or(Error::Server {
                step: "sign-in window",
                host,
                detail: message,
            })
        }
        _ => Error::Webview(message),
    }
}

// Messages from the child start with "host:port: ..." when they concern one host.
fn message_host(message: &str) -> Option<String> {
    let (h, _) = message.split_once(": ")?;
    (!h.contains(' ')).then(|| h.to_string())
}
