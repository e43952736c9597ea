//! Linux: the gate in front of the sign-in's first request. The token URL is loaded as soon as
//! the window is built, so WebKit starts its web process beside its network process while the
//! parent still checks the auth mode; the navigation decisions that arrive before the parent's
//! `go`, before the saved cookies are stored and before the network process has taken the
//! certificates allowed ahead (`allow_known_chains`) are held (WebKitGTK decides asynchronously
//! when asked to), then decided by `flow` like every other. No request leaves before all three
//! (WebKit may open a connection to Finesse ahead of the load, its preconnect: no request, no
//! cookie, no URL beyond the host name).
//! wry's own `set_cookie` would block until the network process has started and stored each
//! cookie, so the web process would only start after it (issue 16: ≈ 100 ms of the sign-in).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use webkit2gtk::glib::prelude::Cast;
use webkit2gtk::{
    CookieManagerExt, NavigationPolicyDecision, NavigationPolicyDecisionExt, PolicyDecision,
    PolicyDecisionExt, PolicyDecisionType, URIRequestExt, WebViewExt, WebsiteDataManagerExt, gio,
    glib,
};
use wry::{WebView, WebViewExtUnix};

/// How long the held navigations wait for the cookies before they go on without the missing
/// ones (stored in milliseconds normally; only a wedged network process takes longer).
const STORE_LIMIT: Duration = Duration::from_secs(10);

/// The one navigation decision of the sign-in (`flow`), allowing or refusing a URL.
pub type Decide = Rc<dyn Fn(String) -> bool>;

#[derive(Default)]
struct State {
    /// Engine work not yet confirmed: cookies handed to the store, the certificate barrier.
    pending: usize,
    /// The parent's checks passed.
    go: bool,
    /// Navigations asked about before the gate opened, in order.
    held: Vec<(PolicyDecision, String)>,
    decide: Option<Decide>,
}

/// Shared by the webview's decide-policy handler, the cookie store's callbacks and the session.
#[derive(Clone, Default)]
pub struct RequestGate(Rc<RefCell<State>>);

impl RequestGate {
    /// Decides every top-level and frame navigation of `webview` with `decide`, holding those
    /// asked before the gate opens. (In place of wry's navigation handler, which must answer
    /// at once.)
    pub fn decide_navigations(&self, webview: &WebView, decide: Decide) {
        self.0.borrow_mut().decide = Some(decide.clone());
        let gate = self.clone();
        webview
            .webview()
            .connect_decide_policy(move |_, decision, kind| {
                if kind != PolicyDecisionType::NavigationAction {
                    return false;
                }
                let Some(url) = decision
                    .dynamic_cast_ref::<NavigationPolicyDecision>()
                    .and_then(|p| p.navigation_action())
                    .and_then(|a| a.request())
                    .and_then(|r| r.uri())
                else {
                    return false;
                };
                if gate.is_open() {
                    answer(decision, decide(url.to_string()));
                } else {
                    tracing::debug!(
                        "holding the navigation to {} until the sign-in may start",
                        finesse_sso::redact::url_str(url.as_str())
                    );
                    gate.0
                        .borrow_mut()
                        .held
                        .push((decision.clone(), url.to_string()));
                }
                true
            });
    }

    /// Hands `cookies` to the engine's cookie store; the gate stays shut until all are stored
    /// (or [`STORE_LIMIT`] passes).
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
        let gate = self.clone();
        glib::timeout_add_local_once(STORE_LIMIT, move || {
            let left = std::mem::take(&mut gate.0.borrow_mut().pending);
            if left > 0 {
                tracing::warn!(
                    "the engine did not confirm {left} step(s) (saved cookies) within {} s; \
                     signing in without waiting",
                    STORE_LIMIT.as_secs()
                );
                gate.release();
            }
        });
    }

    /// The parent's checks passed: the held navigations are decided once the cookies are in
    /// and, with `barrier` (certificates were just allowed), once the network process has
    /// answered a request sent after them (one connection, handled in order), so the first
    /// request cannot reach it before the allowance.
    pub fn go(&self, webview: &WebView, barrier: bool) {
        self.0.borrow_mut().go = true;
        if let (true, Some(manager)) = (barrier, cookie_manager(webview)) {
            self.0.borrow_mut().pending += 1;
            let gate = self.clone();
            manager.accept_policy(None::<&gio::Cancellable>, move |_| gate.done());
        }
        self.release();
    }

    /// One piece of engine work confirmed.
    fn done(&self) {
        let left = {
            let mut s = self.0.borrow_mut();
            s.pending = s.pending.saturating_sub(1);
            s.pending
        };
        if left == 0 {
            self.release();
        }
    }

    fn is_open(&self) -> bool {
        let s = self.0.borrow();
        s.go && s.pending == 0
    }

    fn release(&self) {
        if !self.is_open() {
            return;
        }
        let (held, decide) = {
            let mut s = self.0.borrow_mut();
            (std::mem::take(&mut s.held), s.decide.clone())
        };
        let Some(decide) = decide else { return };
        for (decision, url) in held {
            answer(&decision, decide(url));
        }
    }
}

fn cookie_manager(webview: &WebView) -> Option<webkit2gtk::CookieManager> {
    webview
        .webview()
        .website_data_manager()
        .and_then(|m| m.cookie_manager())
}

fn answer(decision: &PolicyDecision, allow: bool) {
    match allow {
        true => decision.use_(),
        false => decision.ignore(),
    }
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
