//! macOS (WKWebView): process set-up, the webview in the window, `--ca-file` (the keychain
//! only), and native capture: the navigation delegate that judges WebKit's main-frame response
//! before it renders and reads the token body in an isolated content world for that navigation
//! only, and answers client-certificate challenges from the keychain (`capture_delegate`,
//! `macos_cert`).

use std::cell::RefCell;
use std::rc::Rc;

use tao::event_loop::EventLoopProxy;
use tao::window::Window;
use wry::{WebView, WebViewBuilder, WebViewExtMacOS};

use finesse_sso::flow::{DenyReason, Flow};
use finesse_sso::window::WindowRequest;

use super::capture_delegate::CaptureDelegate;
use crate::event::Ev;

/// Private files from WebKit, before it starts.
pub fn prepare_process() {
    // SAFETY: umask has no preconditions.
    unsafe {
        libc::umask(0o077);
    }
}

/// No caller's window to attach to: an NSWindow handle of another process cannot own ours.
pub fn place_builder(
    builder: tao::window::WindowBuilder,
    placement: &finesse_sso::window::Placement,
) -> tao::window::WindowBuilder {
    if let Some(handle) = placement.parent_window {
        tracing::warn!("--parent-window {handle} ignored: not supported on macOS");
    }
    builder
}

pub fn place(_window: &Window, _placement: &finesse_sso::window::Placement) {}

/// The window comes to the front as the active application's key window.
pub fn bring_to_front(window: &Window, _placement: &finesse_sso::window::Placement) {
    window.set_focus();
}

/// A desktop session always has a display.
pub fn display_problem() -> Option<String> {
    None
}

pub fn build_webview(builder: WebViewBuilder<'_>, window: &Window) -> Result<WebView, String> {
    builder.build(window).map_err(|e| e.to_string())
}

/// WKWebView verifies TLS against the macOS keychain only; a customer CA is added there.
pub fn trust_ca(_webview: &WebView, ca_pem: Option<String>, _proxy: EventLoopProxy<Ev>) {
    if ca_pem.is_some() {
        tracing::debug!("--ca-file is not used by the window here: it trusts the keychain");
    }
}

/// Puts the capture delegate in front of wry's navigation delegate: responses judged before
/// they render, the token body read for its own navigation, load failures and cancellations
/// reported as on Linux.
pub fn attach_hooks(
    webview: &WebView,
    req: &WindowRequest,
    proxy: EventLoopProxy<Ev>,
    last_denied: Rc<RefCell<Option<DenyReason>>>,
) {
    let wk = webview.webview();
    let certificate = (req.client_certificate.clone(), req.interactive);
    if !CaptureDelegate::install(
        &wk,
        Flow::new(&req.finesse),
        proxy.clone(),
        last_denied,
        certificate,
    ) {
        // Without it nothing could be captured: say so now rather than time out.
        let _ = proxy.send_event(Ev::Fail {
            kind: finesse_sso::error::ErrorKind::Webview,
            message: "the webview has no navigation delegate to capture through".into(),
        });
    }
}

/// Nothing to do when the token page finishes: the capture delegate reads it from
/// `webView:didFinishNavigation:`, where it can tell that the finished navigation is the one
/// whose response it judged (this page-load event carries only a URL).
pub fn read_document(_webview: &WebView, _proxy: EventLoopProxy<Ev>) {}

/// WKWebView follows the system's proxy settings (PAC included): wry sets a per-view proxy only
/// with its `mac-proxy` feature on macOS 14+, which this build leaves off, and proxy challenges
/// are WebKit's own. A resolved route is said so, not silently dropped.
pub fn with_proxy<'a>(builder: WebViewBuilder<'a>, req: &WindowRequest) -> WebViewBuilder<'a> {
    let route = &req.proxy;
    if !matches!(route, finesse_sso::proxy::ProxyRoute::System) {
        tracing::warn!(
            "proxy {}: the macOS window follows the system's proxy settings instead",
            route.describe()
        );
    }
    builder
}
