//! The events the webview's callbacks, the platform hooks and the timer threads send to the
//! session's loop (a leaf: it imports nothing of the window program).

use finesse_sso::error::ErrorKind;

/// One thing that happened, for the loop to decide on. (`Clone` only because tao's window
/// target, which pop-ups are built with, is `Clone` only for `Clone` events.)
#[derive(Debug, Clone)]
pub enum Ev {
    PageStarted(String),
    PageFinished(String),
    /// The engine's own record of a finished document (WebKitGTK's main resource, WebView2's
    /// recorded response, the macOS isolated-world read of the judged response).
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
    /// The parent's checks passed, with what it learnt meanwhile: the sign-in's requests may
    /// start (the window was built meanwhile).
    Go(finesse_sso::window::GoFacts),
    /// The main load of this URL was cancelled (WebKitGTK and WKWebView report it), by a newer navigation
    /// or by the engine itself.
    MainLoadCancelled(String),
    /// No navigation followed that cancellation (the `seq` then is unchanged): it was final.
    MaybeStranded {
        seq: u64,
        url: String,
    },
    /// Load this URL again: its certificate was just allowed (Linux `--ca-file`).
    #[cfg_attr(
        not(target_os = "linux"),
        allow(
            dead_code,
            reason = "only WebKitGTK needs certificates allowed one by one"
        )
    )]
    Reload(String),
    /// Whether the reload asked for as attempt `n` has started a load by now.
    ReloadCheck(u32),
    /// The engine's renderer ended (how, in words) while the sign-in was open.
    #[cfg_attr(
        not(target_os = "linux"),
        allow(dead_code, reason = "only WebKitGTK reports its renderer's end so far")
    )]
    RendererGone(&'static str),
    Fail {
        kind: ErrorKind,
        message: String,
    },
    /// A pop-up window was built (hidden) for the page's `window.open`: show it, or reveal.
    PopupOpened(u32),
    /// Still open after the reveal debounce while the main window is hidden: it needs the user.
    MaybeShowPopup(u32),
    /// A pop-up's page started loading (for its title).
    PopupPage {
        id: u32,
        url: String,
    },
    /// Close this pop-up (its page called `window.close()`, or it went somewhere refused).
    PopupClose {
        id: u32,
        why: String,
    },
    /// Time to look at what the visible window shows of the page of this `seq`.
    #[cfg_attr(
        not(target_os = "linux"),
        allow(
            dead_code,
            reason = "only the Linux window looks at its own pixels so far"
        )
    )]
    PaintCheck(u64),
    /// What the window showed of the page of this `seq` (`platform::linux_paint`).
    #[cfg_attr(
        not(target_os = "linux"),
        allow(
            dead_code,
            reason = "only the Linux window looks at its own pixels so far"
        )
    )]
    Paint {
        seq: u64,
        seen: Seen,
    },
    /// A page asked for a security key the engine cannot use (a forgeable IPC message: it
    /// may only lead to the notice). The URL is the engine's, of the page that asked.
    SecurityKeyAsked(String),
}

/// What a look at the visible window found.
#[derive(Debug, Clone)]
#[cfg_attr(
    not(target_os = "linux"),
    allow(
        dead_code,
        reason = "only the Linux window looks at its own pixels so far"
    )
)]
pub enum Seen {
    /// More than one colour: the engine paints.
    Painted,
    /// One flat colour (RGB) while the document has text: nothing painted.
    Blank([u8; 3]),
    /// One flat colour, and the document has no text to show: nothing to judge.
    EmptyPage,
    /// Another window covers part of this one (or it is not mapped): its pixels are not its
    /// own, so this look does not count.
    Obscured,
    /// The window's pixels cannot be read here (why, in words): the check stops.
    Unreadable(String),
}
