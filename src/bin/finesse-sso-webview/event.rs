//! The events the webview's callbacks, the platform hooks and the timer threads send to the
//! session's loop (a leaf: it imports nothing of the window program).

use finesse_sso::error::ErrorKind;

/// One thing that happened, for the loop to decide on.
#[derive(Debug)]
pub enum Ev {
    PageStarted(String),
    PageFinished(String),
    /// The engine's own record of a finished document (Linux main resource, macOS
    /// isolated-world read of the judged response, script read on Windows).
    Document {
        url: String,
        status: u16,
        mime: String,
        body: Vec<u8>,
    },
    MaybeReveal(u64),
    Reveal,
    Timeout,
    ParentGone,
    /// The parent's checks passed: load the token URL (the window was built meanwhile).
    Go,
    /// The main load of this URL was cancelled (WebKitGTK and WKWebView report it), by a newer navigation
    /// or by the engine itself.
    #[cfg_attr(
        windows,
        allow(
            dead_code,
            reason = "the Windows window does not report cancellations yet"
        )
    )]
    MainLoadCancelled(String),
    /// No navigation followed that cancellation (the `seq` then is unchanged): it was final.
    MaybeStranded {
        seq: u64,
        url: String,
    },
    Fail {
        kind: ErrorKind,
        message: String,
    },
}
