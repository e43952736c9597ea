//! One module per platform behind one interface, chosen at build time. Each exposes the same
//! functions: `prepare_process` (before the toolkit starts), `display_problem`, `build_webview`
//! (the webview inside the window), `trust_ca` (`--ca-file`), `attach_hooks` (engine hooks the
//! portable wry API lacks) and `read_document` (the engine's record of the finished main
//! document, for the capture rule; where the hooks hand it over themselves, as on Windows, it
//! does nothing), `with_proxy` (the proxy route, where the engine takes it before the view
//! exists). Windows' `attach_hooks` also takes the navigation decision: its hooks call it
//! for top-level and frame navigations alike (wry asks only about top-level ones there).
//! Imports run one way: platform modules see only `event`.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;
#[cfg(target_os = "linux")]
mod linux_proxy;
#[cfg(target_os = "linux")]
pub use linux_proxy::with_proxy;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;
#[cfg(windows)]
mod windows_proxy;
#[cfg(windows)]
pub use windows_proxy::with_proxy;

#[cfg(target_os = "macos")]
mod capture_delegate;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub use macos::*;

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
compile_error!("the sign-in window supports Linux, Windows and macOS");
