//! Linux: what the token URL's load waits for after the parent's `go`. The saved cookies are
//! handed to WebKit's store without waiting (wry's `set_cookie` blocks until the network process
//! has started and stored each one, and the window's assembly is on the sign-in's critical path),
//! and the certificates allowed ahead (`allow_known_chains`) are followed by a network-process
//! round trip on the same connection, which it handles in order; the load starts once both are
//! confirmed, so no request leaves before the cookies or the allowance are in.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use webkit2gtk::{CookieManagerExt, WebViewExt, WebsiteDataManagerExt, gio, glib};
use wry::{WebView, WebViewExtUnix};

/// How long the load waits for the engine before it goes on without the missing pieces
/// (milliseconds normally; only a wedged network process takes longer).
const ENGINE_LIMIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    /// Engine work not yet confirmed: cookies handed to the store, the certificate barrier.
    pending: usize,
    /// The load asked for by `go`, started once nothing is pending.
    load: Option<(webkit2gtk::WebView, String)>,
}

/// Shared by the cookie store's callbacks and the session.
#[derive(Clone, Default)]
pub struct StartGate(Rc<RefCell<State>>);

impl StartGate {
    /// Hands `cookies` to the engine's cookie store; the load waits until all are stored.
    pub fn store_cookies(&self, webview: &WebView, cookies: &[cookie::Cookie<'static>]) {
        let Some(manager) = cookie_manager(webview) else {
            tracing::warn!("no cookie store: the saved web session is not restored");
            return;
        };
        self.0.borrow_mut().pending += cookies.len();
        for c in cookies {
            let (gate, name) = (self.clone(), c.name().to_string());
            manager.add_cookie(&mut soup_cookie(c), None::<&gio::Cancellable>, move |r| {
                if let Err(e) = r {
                    tracing::warn!("could not restore cookie {name}: {e}");
                }
                gate.done();
            });
        }
        self.limit();
    }

    /// After [`ENGINE_LIMIT`], whatever is still pending is given up on.
    fn limit(&self) {
        let gate = self.clone();
        glib::timeout_add_local_once(ENGINE_LIMIT, move || {
            let left = std::mem::take(&mut gate.0.borrow_mut().pending);
            if left > 0 {
                tracing::warn!(
                    "the engine did not confirm {left} step(s) within {} s; signing in without \
                     waiting",
                    ENGINE_LIMIT.as_secs()
                );
                gate.start();
            }
        });
    }

    /// Loads `url` once the cookies are stored and, with `barrier` (certificates were just
    /// allowed), once the network process has answered a request sent after the allowance.
    pub fn load(&self, webview: &WebView, url: &str, barrier: bool) {
        self.0.borrow_mut().load = Some((webview.webview(), url.to_string()));
        if let (true, Some(manager)) = (barrier, cookie_manager(webview)) {
            self.0.borrow_mut().pending += 1;
            let gate = self.clone();
            manager.accept_policy(None::<&gio::Cancellable>, move |_| gate.done());
            self.limit();
        }
        self.start();
    }

    /// One piece of engine work confirmed.
    fn done(&self) {
        {
            let mut s = self.0.borrow_mut();
            s.pending = s.pending.saturating_sub(1);
        }
        self.start();
    }

    fn start(&self) {
        let load = {
            let mut s = self.0.borrow_mut();
            match s.pending {
                0 => s.load.take(),
                _ => None,
            }
        };
        if let Some((webview, url)) = load {
            webview.load_uri(&url);
        }
    }
}

fn cookie_manager(webview: &WebView) -> Option<webkit2gtk::CookieManager> {
    webview
        .webview()
        .website_data_manager()
        .and_then(|m| m.cookie_manager())
}

/// The engine's cookie for ours, every attribute kept (wry's conversion, which is private).
fn soup_cookie(c: &cookie::Cookie<'_>) -> soup::Cookie {
    let max_age = c.max_age().map(|d| d.whole_seconds() as i32).unwrap_or(-1);
    let mut s = soup::Cookie::new(
        c.name(),
        c.value(),
        c.domain().unwrap_or(""),
        c.path().unwrap_or(""),
        max_age,
    );
    if let Some(at) = c
        .expires_datetime()
        .and_then(|dt| glib::DateTime::from_unix_utc(dt.unix_timestamp()).ok())
    {
        s.set_expires(&at);
    }
    if let Some(h) = c.http_only() {
        s.set_http_only(h);
    }
    if let Some(same_site) = c.same_site() {
        s.set_same_site_policy(match same_site {
            cookie::SameSite::Lax => soup::SameSitePolicy::Lax,
            cookie::SameSite::Strict => soup::SameSitePolicy::Strict,
            cookie::SameSite::None => soup::SameSitePolicy::None,
        });
    }
    if let Some(secure) = c.secure() {
        s.set_secure(secure);
    }
    s
}
