//! The sign-in window, seen from the parent: wire types, the answer channel, where the window
//! program is, and the process that runs it.
//!
//! The window runs in its own process and its own executable, `finesse-sso-webview` (installed
//! beside `finesse-sso`), so WebKit's memory and crashes stay out of the caller, and the main
//! binary (and the agent) never even map WebKit's libraries. The parent writes one
//! [`WindowRequest`] JSON line on the child's stdin, then `go` once its own checks pass (the child
//! builds its window meanwhile), and keeps stdin open: EOF means the parent died or gave up. The
//! child writes exactly one [`WindowOutcome`] JSON line on the answer channel ([`channel`]), a
//! pipe WebKit's helper processes never hold; its stdout is not read.

pub mod channel;
pub mod cookies;
pub mod negotiate;
pub mod paint;
pub mod placement;
pub mod process;
pub mod program;
pub mod rendering;
pub mod tree;
pub mod wire;
pub mod xvfb;

pub use placement::{Placement, WindowHandle};
pub use wire::{GO, GoFacts, KnownChain, MAX_LINE, SavedCookie, WindowOutcome, WindowRequest};
