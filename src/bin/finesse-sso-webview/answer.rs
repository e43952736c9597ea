//! The window's one answer: written on the answer channel the parent gave it (never stdout,
//! which WebKit's helpers share), then the process exits with the matching code.

use std::fs::File;
use std::sync::{Mutex, OnceLock};

use finesse_sso::window::WindowOutcome;
use finesse_sso::window::channel;

static CHANNEL: OnceLock<Mutex<File>> = OnceLock::new();

/// Keeps the channel taken at start-up for [`finish`].
pub fn install(channel: File) {
    let _ = CHANNEL.set(Mutex::new(channel));
}

/// Writes the one outcome line and exits with the matching code.
pub fn finish(outcome: WindowOutcome) -> ! {
    if let Some(ch) = CHANNEL.get() {
        let mut ch = ch.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = channel::write_outcome(&mut ch, &outcome) {
            tracing::warn!("could not answer the parent: {e}");
        }
    }
    std::process::exit(exit_code(&outcome))
}

fn exit_code(outcome: &WindowOutcome) -> i32 {
    use finesse_sso::error::{ErrorKind, exit};
    match outcome {
        WindowOutcome::Ok { .. } => exit::OK,
        WindowOutcome::Error { kind, .. } => kind.exit_code(),
        WindowOutcome::RenderingFailed { .. } => ErrorKind::Webview.exit_code(),
    }
}
