//! Windows (WebView2): process set-up, the webview in the window, `--ca-file` (the OS store
//! only), engine hooks, and reading the finished document. Native capture
//! (`WebResourceResponseReceived` + `GetContent`) goes here; today the document is read by
//! script after load (`script_read`).

use std::cell::RefCell;
use std::rc::Rc;

use tao::event_loop::EventLoopProxy;
use tao::window::Window;
use wry::{WebView, WebViewBuilder};

use finesse_sso::flow::DenyReason;
use finesse_sso::window::WindowRequest;

use crate::event::Ev;

pub use super::script_read::read_document;

/// Nothing to set before the toolkit starts: WebView2 keeps its files in the data directory
/// the request names, which the parent made private.
pub fn prepare_process() {}

/// A desktop session always has a display.
pub fn display_problem() -> Option<String> {
    None
}

pub fn build_webview(builder: WebViewBuilder<'_>, window: &Window) -> Result<WebView, String> {
    builder.build(window).map_err(|e| e.to_string())
}

/// WebView2 verifies TLS against the Windows store only; a customer CA is added there.
pub fn trust_ca(_webview: &WebView, ca_pem: Option<String>, _proxy: EventLoopProxy<Ev>) {
    if ca_pem.is_some() {
        tracing::debug!("--ca-file is not used by the window here: it trusts the Windows store");
    }
}

/// No hooks beyond wry's yet (refused navigations are not fatal by themselves here).
pub fn attach_hooks(
    _webview: &WebView,
    _req: &WindowRequest,
    _proxy: EventLoopProxy<Ev>,
    _last_denied: Rc<RefCell<Option<DenyReason>>>,
) {
}
