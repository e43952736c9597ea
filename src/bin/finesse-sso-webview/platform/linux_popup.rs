//! Linux (WebKitGTK): what pop-up windows and the notice bar need beyond wry's portable API: the
//! pop-up's view related to its opener (same web process and session, so `window.opener`
//! works), its `window.close()`, its window kept above the sign-in window, and a notice bar
//! above the page (GTK, outside the page: the page cannot hide or restyle it).

use std::rc::Rc;

use gtk::prelude::{BoxExt, ContainerExt, GtkWindowExt, InfoBarExt, LabelExt, WidgetExt};
use tao::event_loop::EventLoopProxy;
use tao::platform::unix::WindowExtUnix;
use tao::window::Window;
use webkit2gtk::WebViewExt;
use wry::WebViewExtUnix;
use wry::{NewWindowOpener, NewWindowResponse, WebView, WebViewBuilder, WebViewBuilderExtUnix};

use crate::event::Ev;

/// Lets page script open pop-ups without a click (WebKit's default blocks them): MFA pages open
/// theirs after a request, when the click is long gone, and every pop-up is under the flow's
/// rules anyway (`popup`).
pub fn allow_script_popups(webview: &WebView) {
    use webkit2gtk::SettingsExt;
    if let Some(settings) = WebViewExt::settings(&webview.webview()) {
        settings.set_javascript_can_open_windows_automatically(true);
    }
}

/// WebKitGTK wants the new view related to the opener's.
pub fn relate_popup(builder: WebViewBuilder<'_>, opener: NewWindowOpener) -> WebViewBuilder<'_> {
    builder.with_related_view(opener.webview)
}

/// The engine view handed back to WebKit, which loads the pop-up's request into it.
pub fn popup_response(webview: &WebView) -> NewWindowResponse {
    NewWindowResponse::Create {
        webview: webview.webview(),
    }
}

/// `window.close()` in the pop-up: wry's `close` handler destroys the view (which disconnects
/// any later `close` handler), so its `destroy` is what tells the session to close the window.
/// Navigations go through wry's handler here (`decide` is for the platforms that need hooks).
pub fn attach_popup_hooks(
    webview: &WebView,
    id: u32,
    proxy: EventLoopProxy<Ev>,
    _decide: Rc<dyn Fn(String) -> bool>,
) {
    webview.webview().connect_destroy(move |_| {
        let _ = proxy.send_event(Ev::PopupClose {
            id,
            why: "its page closed it".into(),
        });
    });
}

/// Keeps the pop-up above the sign-in window (and minimised, closed, with it by the WM).
pub fn relate_popup_window(popup: &Window, parent: &Window) {
    popup
        .gtk_window()
        .set_transient_for(Some(parent.gtk_window()));
}

/// A bar above the page with `text`, shown once.
pub fn show_notice(window: &Window, text: &str) {
    let Some(vbox) = window.default_vbox() else {
        window.set_title(&format!("{} — {text}", window.title()));
        return;
    };
    let bar = gtk::InfoBar::new();
    bar.set_message_type(gtk::MessageType::Warning);
    let label = gtk::Label::new(Some(text));
    label.set_line_wrap(true);
    label.set_xalign(0.0);
    bar.content_area().add(&label);
    vbox.pack_start(&bar, false, false, 0);
    vbox.reorder_child(&bar, 0);
    bar.show_all();
}
