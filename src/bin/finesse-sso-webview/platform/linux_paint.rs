//! Linux (WebKitGTK on X11): whether the visible sign-in window shows its page. The web view's
//! pixels come from the X server (what the person sees, after WebKit's and GTK's compositing);
//! one flat colour there while the document has text is "nothing painted". Only a window the
//! X server reports unobscured is judged: the pixels of a window covered by another are that
//! other window's. Wayland keeps a window's pixels in the compositor, out of a client's reach:
//! there the check says so and stops.

use std::cell::Cell;

use gdkx11::gdk;
use gtk::prelude::{Cast, WidgetExt, WidgetExtManual};
use javascriptcore::ValueExt;
use tao::event_loop::EventLoopProxy;
use tao::platform::unix::WindowExtUnix;
use tao::window::Window;
use webkit2gtk::WebViewExt;
use wry::{WebView, WebViewExtUnix};

use finesse_sso::window::paint::{Image, Shown, shown};

use crate::event::{Ev, Seen};

/// The page's visible text, asked in a world of our own so page script cannot answer for it.
/// Layout alone decides `innerText`, so a renderer that paints nothing still counts the text.
const TEXT_LENGTH: &str = "document.body ? document.body.innerText.trim().length : 0";
const WORLD: &str = "finesse-sso-paint-check";

thread_local! {
    /// Whether the sign-in window is unobscured, as the X server last said (one sign-in window
    /// per process, on GTK's one thread).
    static UNOBSCURED: Cell<bool> = const { Cell::new(false) };
}

/// Follows the X server's visibility notices for the sign-in window (before it is shown).
pub fn watch_visibility(window: &Window) {
    let gtk_window = window.gtk_window();
    gtk_window.add_events(gdk::EventMask::VISIBILITY_NOTIFY_MASK);
    gtk_window.connect_event(|_, ev| {
        if let Some(v) = ev.downcast_ref::<gdk::EventVisibility>() {
            UNOBSCURED.set(v.state() == gdk::VisibilityState::Unobscured);
        }
        gtk::glib::Propagation::Proceed
    });
}

/// Looks at the web view's pixels now and, when they are one colour, asks the page whether it
/// has text; answers `Ev::Paint` for `seq`.
pub fn check_paint(webview: &WebView, proxy: EventLoopProxy<Ev>, seq: u64) {
    let send = move |seen: Seen| {
        let _ = proxy.send_event(Ev::Paint { seq, seen });
    };
    let wk = webview.webview();
    if wk.display().downcast_ref::<gdkx11::X11Display>().is_none() {
        return send(Seen::Unreadable(
            "not an X11 display (Wayland keeps window pixels in the compositor)".into(),
        ));
    }
    if !UNOBSCURED.get() {
        return send(Seen::Obscured);
    }
    let Some(window) = wk.window() else {
        return send(Seen::Unreadable("the web view has no window".into()));
    };
    let area = wk.allocation();
    // A widget without a window of its own draws at its allocation in its parent's.
    let (x, y) = if wk.has_window() {
        (0, 0)
    } else {
        (area.x(), area.y())
    };
    let Some(pixbuf) =
        gdk::prelude::WindowExtManual::pixbuf(&window, x, y, area.width(), area.height())
    else {
        return send(Seen::Unreadable("the X server gave no image".into()));
    };
    let bytes = pixbuf.read_pixel_bytes();
    let colour = match shown(Image {
        pixels: &bytes,
        width: usize::try_from(pixbuf.width()).unwrap_or(0),
        height: usize::try_from(pixbuf.height()).unwrap_or(0),
        rowstride: usize::try_from(pixbuf.rowstride()).unwrap_or(0),
        channels: usize::try_from(pixbuf.n_channels()).unwrap_or(0),
    }) {
        Shown::Painted => return send(Seen::Painted),
        Shown::Unknown => return send(Seen::Unreadable("an empty image".into())),
        Shown::Flat(colour) => colour,
    };
    #[allow(
        deprecated,
        reason = "the isolated-world call of the WebKitGTK 2.38 API we build against (2.40 \
                  renamed it); it runs on every later release"
    )]
    wk.run_javascript_in_world(TEXT_LENGTH, WORLD, None::<&webkit2gtk::gio::Cancellable>, {
        move |r| {
            let text = r.ok().and_then(|r| r.js_value()).map(|v| v.to_int32());
            send(match text {
                Some(n) if n > 0 => Seen::Blank(colour),
                Some(_) => Seen::EmptyPage,
                // The page went away under the question (a navigation): nothing to judge.
                None => Seen::EmptyPage,
            })
        }
    });
}
