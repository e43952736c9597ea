//! One module per platform behind one interface, chosen at build time. Each exposes the same
//! functions: `prepare_process` (before the toolkit starts), `display_problem`, `build_webview`
//! (the webview inside the window), `trust_ca` (`--ca-file`), `attach_hooks` (engine hooks the
//! portable wry API lacks) and `read_document` (the engine's record of the finished main
//! document, for the capture rule; where the hooks hand it over themselves, as on Windows, it
//! does nothing), plus the window's placement in front of its caller: `place_builder` (before
//! the window exists), `place` (after) and `bring_to_front` (on reveal), and `with_proxy` (the
//! proxy route, where the engine takes it before the view exists). Windows' `attach_hooks`
//! also takes the navigation decision: its hooks call it
//! for top-level and frame navigations alike (wry asks only about top-level ones there).
//! The `*_popup` modules add what pop-up windows need (`relate_popup`, `popup_response`,
//! `attach_popup_hooks`, `relate_popup_window`) and the notice shown above the page
//! (`show_notice`). `linux_paint` looks at what the visible Linux window shows (the
//! nothing-painted check; the other engines have no such check yet). `linux_gate` stores the saved
//! cookies without blocking and starts the token URL's load once they and the certificates
//! allowed ahead are in.
//! Imports run one way: platform modules see only `event`.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
mod linux_place;
#[cfg(target_os = "linux")]
pub use linux::*;
#[cfg(target_os = "linux")]
pub use linux_place::*;
#[cfg(target_os = "linux")]
pub mod linux_negotiate;
#[cfg(target_os = "linux")]
pub mod linux_paint;
#[cfg(target_os = "linux")]
mod linux_popup;
#[cfg(target_os = "linux")]
pub use linux_popup::*;
#[cfg(target_os = "linux")]
mod linux_auth;
#[cfg(target_os = "linux")]
mod linux_gate;
#[cfg(target_os = "linux")]
mod linux_proxy;
#[cfg(target_os = "linux")]
pub use linux_gate::StartGate;
#[cfg(target_os = "linux")]
pub use linux_proxy::with_proxy;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
mod windows_place;
#[cfg(windows)]
pub use windows::*;
#[cfg(windows)]
pub use windows_place::*;
#[cfg(windows)]
mod windows_popup;
#[cfg(windows)]
pub use windows_popup::*;
#[cfg(windows)]
mod windows_cert;
#[cfg(windows)]
mod windows_proxy;
#[cfg(windows)]
pub use windows_proxy::with_proxy;

#[cfg(target_os = "macos")]
mod capture_delegate;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
mod macos_cert;
#[cfg(target_os = "macos")]
pub use macos::*;
#[cfg(target_os = "macos")]
mod macos_popup;
#[cfg(target_os = "macos")]
pub use macos_popup::*;

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
compile_error!("the sign-in window supports Linux, Windows and macOS");
