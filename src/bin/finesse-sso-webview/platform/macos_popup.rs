//! macOS (WKWebView): what pop-up windows and the notice need beyond wry's portable API: the
//! pop-up's view built on the configuration WebKit hands over (it must be, for
//! `window.opener`), and the notice in the title. wry's delegate does not forward
//! `webViewDidClose:`, so a pop-up's `window.close()` leaves its window open until the user or
//! the sign-in closes it. Compile-checked only: no macOS runs here.

use std::rc::Rc;

use tao::event_loop::EventLoopProxy;
use tao::window::Window;
use wry::{
    NewWindowOpener, NewWindowResponse, WebView, WebViewBuilder, WebViewBuilderExtMacos,
    WebViewExtMacOS,
};

use crate::event::Ev;

/// WKWebView's `javaScriptCanOpenWindowsAutomatically` is not set here: only pop-ups that
/// follow a click open (compile-checked only; no macOS runs here to prove the setting).
pub fn allow_script_popups(_webview: &WebView) {}

pub fn relate_popup(builder: WebViewBuilder<'_>, opener: NewWindowOpener) -> WebViewBuilder<'_> {
    builder.with_webview_configuration(opener.target_configuration)
}

pub fn popup_response(webview: &WebView) -> NewWindowResponse {
    NewWindowResponse::Create {
        webview: objc2::rc::Retained::into_super(webview.webview()),
    }
}

/// Navigations go through wry's handler here; nothing more to attach.
pub fn attach_popup_hooks(
    _webview: &WebView,
    _id: u32,
    _proxy: EventLoopProxy<Ev>,
    _decide: Rc<dyn Fn(String) -> bool>,
) {
}

/// tao's macOS windows take a parent only when built; the pop-up stays a window of its own.
pub fn relate_popup_window(_popup: &Window, _parent: &Window) {}

/// WKWebView has WebAuthn (with the browser entitlement); the title carries the notice if it
/// comes.
pub fn show_notice(window: &Window, text: &str) {
    window.set_title(&format!("{} — {text}", window.title()));
}
