//! Windows (WebView2): what pop-up windows and the notice need beyond wry's portable API: the
//! pop-up's webview in its opener's environment (as `NewWindowRequested` requires, so
//! `window.opener` works), its top-level and frame navigations asked of the flow here (wry asks
//! only about top-level ones), and the notice in the title. `window.close()` ends the pop-up's
//! window (wry destroys it; the session sees the window go). Compile-checked only: no WebView2
//! runtime runs here.

use std::rc::Rc;

use tao::event_loop::EventLoopProxy;
use tao::window::Window;
use webview2_com::Microsoft::Web::WebView2::Win32::ICoreWebView2;
use webview2_com::{NavigationStartingEventHandler, take_pwstr};
use windows::core::PWSTR;
use wry::{
    NewWindowOpener, NewWindowResponse, WebView, WebViewBuilder, WebViewBuilderExtWindows,
    WebViewExtWindows,
};

use crate::event::Ev;

/// WebView2 asks `NewWindowRequested` about script pop-ups already.
pub fn allow_script_popups(_webview: &WebView) {}

pub fn relate_popup(builder: WebViewBuilder<'_>, opener: NewWindowOpener) -> WebViewBuilder<'_> {
    builder.with_environment(opener.environment)
}

/// The webview handed to `NewWindowRequested` (`SetNewWindow`), which loads the request in it.
pub fn popup_response(webview: &WebView) -> NewWindowResponse {
    NewWindowResponse::Create {
        webview: webview.webview(),
    }
}

/// Every navigation of the pop-up, top level and frames, through `decide`. Without these hooks
/// the pop-up would be unchecked: it is closed at once instead.
pub fn attach_popup_hooks(
    webview: &WebView,
    id: u32,
    proxy: EventLoopProxy<Ev>,
    decide: Rc<dyn Fn(String) -> bool>,
) {
    let core = webview.webview();
    if let Err(e) = attach(&core, decide) {
        let _ = proxy.send_event(Ev::PopupClose {
            id,
            why: format!("its navigations cannot be checked ({e})"),
        });
    }
}

fn attach(core: &ICoreWebView2, decide: Rc<dyn Fn(String) -> bool>) -> windows::core::Result<()> {
    let handler = || {
        let decide = decide.clone();
        NavigationStartingEventHandler::create(Box::new(move |_, args| {
            let Some(args) = args else { return Ok(()) };
            let mut uri = PWSTR::null();
            // SAFETY: a valid out-pointer; the string is ours to free (take_pwstr).
            unsafe { args.Uri(&mut uri)? };
            let allow = decide(take_pwstr(uri));
            // SAFETY: the event's own args, inside its handler.
            unsafe { args.SetCancel(!allow) }
        }))
    };
    let mut token = 0i64;
    // SAFETY: a live webview and handlers it keeps a reference to.
    unsafe {
        core.add_NavigationStarting(&handler(), &mut token)?;
        core.add_FrameNavigationStarting(&handler(), &mut token)?;
    }
    Ok(())
}

/// tao sets a window's owner only when building it; the pop-up is built before the session
/// hands it its parent, so it stays a window of its own here.
pub fn relate_popup_window(_popup: &Window, _parent: &Window) {}

/// WebView2 has WebAuthn, so this is not expected here; the title carries it if it comes.
pub fn show_notice(window: &Window, text: &str) {
    window.set_title(&format!("{} — {text}", window.title()));
}
