//! Pop-up windows (Duo and other MFA that call `window.open`): each in a child window of its own,
//! related to its opener (so `window.opener` and `postMessage` work), under the main window's
//! `Flow` rules, never a place a token is captured from, closed with the sign-in.

use std::cell::RefCell;
use std::rc::Rc;

use tao::dpi::LogicalSize;
use tao::event_loop::{EventLoopProxy, EventLoopWindowTarget};
use tao::window::{Window, WindowBuilder, WindowId};
use wry::{NewWindowFeatures, NewWindowResponse, WebView, WebViewBuilder};

use finesse_sso::flow::Flow;
use finesse_sso::flow::popup::{Verdict, judge};
use finesse_sso::redact;

use crate::event::Ev;
use crate::platform;
use crate::{security_key, title};

/// Pop-ups open at once, at most: MFA needs one; more is a page misbehaving.
pub const MAX_POPUPS: usize = 3;

/// The pop-up size when the page names none.
const DEFAULT_SIZE: (f64, f64) = (520.0, 640.0);

struct Popup {
    id: u32,
    window: Window,
    /// Dropped with the window: the engine's view goes with it.
    _webview: WebView,
}

#[derive(Default)]
struct Inner {
    open: Vec<Popup>,
    next_id: u32,
}

/// The open pop-ups, shared by the new-window handler (which adds) and the session (which
/// shows, titles and closes them).
#[derive(Clone, Default)]
pub struct Popups(Rc<RefCell<Inner>>);

impl Popups {
    /// The handler wry calls for `window.open` and `target=_blank` in the main window.
    pub fn handler(
        &self,
        target: EventLoopWindowTarget<Ev>,
        proxy: EventLoopProxy<Ev>,
        flow: Rc<RefCell<Flow>>,
    ) -> impl Fn(String, NewWindowFeatures) -> NewWindowResponse + 'static {
        let popups = self.clone();
        move |url, features| popups.open(&target, &proxy, &flow, url, features)
    }

    fn open(
        &self,
        target: &EventLoopWindowTarget<Ev>,
        proxy: &EventLoopProxy<Ev>,
        flow: &Rc<RefCell<Flow>>,
        url: String,
        features: NewWindowFeatures,
    ) -> NewWindowResponse {
        let shown = redact::url_str(&url);
        if self.0.borrow().open.len() >= MAX_POPUPS {
            tracing::warn!("refused pop-up window for {shown}: {MAX_POPUPS} are open already");
            return NewWindowResponse::Deny;
        }
        match judge(&mut flow.borrow_mut(), &url) {
            Verdict::Allow => {}
            Verdict::Refuse(why) | Verdict::Close(why) => {
                tracing::warn!("refused pop-up window for {shown}: {why}");
                return NewWindowResponse::Deny;
            }
        }
        let id = {
            let mut inner = self.0.borrow_mut();
            inner.next_id += 1;
            inner.next_id
        };
        let decide = decider(proxy, flow, id);
        match build(target, proxy, &decide, id, &url, features) {
            Ok((window, webview)) => {
                let response = platform::popup_response(&webview);
                platform::attach_popup_hooks(&webview, id, proxy.clone(), decide);
                self.0.borrow_mut().open.push(Popup {
                    id,
                    window,
                    _webview: webview,
                });
                tracing::info!("opened a pop-up window for {shown}");
                let _ = proxy.send_event(Ev::PopupOpened(id));
                response
            }
            Err(e) => {
                tracing::warn!("refused pop-up window for {shown}: cannot build it: {e}");
                NewWindowResponse::Deny
            }
        }
    }

    /// Shows this pop-up (the main window is visible), above its opener.
    pub fn show(&self, id: u32, parent: &Window) {
        for p in self.0.borrow().open.iter().filter(|p| p.id == id) {
            platform::relate_popup_window(&p.window, parent);
            p.window.set_visible(true);
            p.window.set_focus();
        }
    }

    /// Shows every pop-up (the main window was just revealed).
    pub fn show_all(&self, parent: &Window) {
        let ids: Vec<u32> = self.0.borrow().open.iter().map(|p| p.id).collect();
        for id in ids {
            self.show(id, parent);
        }
    }

    pub fn contains(&self, id: u32) -> bool {
        self.0.borrow().open.iter().any(|p| p.id == id)
    }

    /// The pop-up's title names the host that asks, as the main window's does.
    pub fn set_title(&self, id: u32, url: &str) {
        if let Some(t) = title::for_page(url) {
            for p in self.0.borrow().open.iter().filter(|p| p.id == id) {
                p.window.set_title(&format!("{t} (pop-up)"));
            }
        }
    }

    /// Closes one pop-up; `why` is logged.
    pub fn close(&self, id: u32, why: &str) {
        if self.take(|p| p.id == id) {
            tracing::info!("closed a pop-up window: {why}");
        }
    }

    /// Closes the pop-up whose window this is (its close button, or the engine ended it);
    /// false when it is not a pop-up's.
    pub fn close_window(&self, window: WindowId) -> bool {
        let found = self.take(|p| p.window.id() == window);
        if found {
            tracing::info!("closed a pop-up window: its window was closed");
        }
        found
    }

    /// Closes every pop-up still open when the sign-in ends (its page may not have closed it
    /// yet: the opener can finish before a pop-up's own `window.close()` timer fires).
    pub fn close_all(&self) {
        let n = self.0.borrow().open.len();
        if self.take(|_| true) {
            tracing::info!("closed {n} pop-up window(s): the sign-in ended");
        }
    }

    /// Removes the matching pop-up and drops it outside the borrow: ending an engine view may
    /// emit signals that reach these handlers again.
    fn take(&self, which: impl Fn(&Popup) -> bool) -> bool {
        let taken: Vec<Popup> = {
            let mut inner = self.0.borrow_mut();
            let (taken, kept) = std::mem::take(&mut inner.open)
                .into_iter()
                .partition(|p| which(p));
            inner.open = kept;
            taken
        };
        !taken.is_empty()
    }
}

/// The navigation decision of pop-up `id`: `judge`, logged, and a closing verdict sent to the
/// session.
fn decider(
    proxy: &EventLoopProxy<Ev>,
    flow: &Rc<RefCell<Flow>>,
    id: u32,
) -> Rc<dyn Fn(String) -> bool> {
    let (proxy, flow) = (proxy.clone(), flow.clone());
    Rc::new(move |url: String| -> bool {
        let verdict = judge(&mut flow.borrow_mut(), &url);
        match verdict {
            Verdict::Allow => {
                tracing::debug!("pop-up: navigate {}", redact::url_str(&url));
                true
            }
            Verdict::Refuse(why) => {
                tracing::warn!(
                    "pop-up: refused navigation to {}: {why}",
                    redact::url_str(&url)
                );
                false
            }
            Verdict::Close(why) => {
                tracing::warn!(
                    "pop-up: refused navigation to {}: {why}",
                    redact::url_str(&url)
                );
                let _ = proxy.send_event(Ev::PopupClose { id, why });
                false
            }
        }
    })
}

/// The pop-up's hidden window and its webview, related to the opener, with the same handlers
/// as the main window's except capture (none) and pop-ups of its own (refused).
fn build(
    target: &EventLoopWindowTarget<Ev>,
    proxy: &EventLoopProxy<Ev>,
    decide: &Rc<dyn Fn(String) -> bool>,
    id: u32,
    url: &str,
    features: NewWindowFeatures,
) -> Result<(Window, WebView), String> {
    let (w, h) = features
        .size
        .map(|s| (s.width.clamp(200.0, 1600.0), s.height.clamp(200.0, 1200.0)))
        .unwrap_or(DEFAULT_SIZE);
    let window = WindowBuilder::new()
        .with_title(
            title::for_page(url)
                .map(|t| format!("{t} (pop-up)"))
                .unwrap_or_else(|| "Sign in (pop-up)".into()),
        )
        .with_inner_size(LogicalSize::new(w, h))
        .with_visible(false)
        .build(target)
        .map_err(|e| e.to_string())?;
    let builder = platform::relate_popup(WebViewBuilder::new(), features.opener);
    // WebView2: the platform hooks ask `decide`, top level and frames (attach_popup_hooks).
    #[cfg(not(windows))]
    let builder = builder.with_navigation_handler({
        let decide = decide.clone();
        move |url| decide(url)
    });
    #[cfg(windows)]
    let _ = decide;
    let page = proxy.clone();
    let builder = builder
        .with_on_page_load_handler(move |event, url| {
            if let wry::PageLoadEvent::Started = event {
                let _ = page.send_event(Ev::PopupPage { id, url });
            }
        })
        .with_new_window_req_handler(|url, _| {
            tracing::warn!(
                "refused a pop-up's own pop-up window for {}",
                redact::url_str(&url)
            );
            NewWindowResponse::Deny
        })
        .with_download_started_handler(|url, _| {
            tracing::warn!("refused download of {}", redact::url_str(&url));
            false
        })
        .with_devtools(false);
    let builder = security_key::watch(builder, proxy.clone());
    let webview = platform::build_webview(builder, &window)?;
    Ok((window, webview))
}
