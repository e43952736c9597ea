//! Assembly of one sign-in window: the hidden tao window, its private web context, the wry
//! webview with our navigation, page-load, pop-up (`popup`), security-key (`security_key`) and
//! download handlers, the proxy, the platform hooks, and the saved cookies restored. Callbacks
//! only decide through `flow` and forward events.

use finesse_sso::error::ErrorKind;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use tao::event_loop::{EventLoop, EventLoopProxy};
use tao::window::{Window, WindowBuilder};
use wry::{PageLoadEvent, WebContext, WebView, WebViewBuilder};

use finesse_sso::flow::{DenyReason, Flow, Navigation};
use finesse_sso::redact;
use finesse_sso::window::{WindowOutcome, WindowRequest};

use crate::event::Ev;
use crate::platform;
use crate::popup::Popups;
use crate::security_key;
use finesse_sso::window::cookies;

/// What the session's loop owns once the window is built.
pub struct Parts {
    pub window: Window,
    pub webview: WebView,
    /// Kept alive as long as the webview.
    pub context: WebContext,
    /// The pop-up windows the page opened (`popup`).
    pub popups: Popups,
    /// What the token URL's load waits for after `go` (Linux: the cookies stored without
    /// blocking, the certificate barrier).
    #[cfg(target_os = "linux")]
    pub gate: platform::StartGate,
}

/// Builds the hidden window and its webview; nothing loads yet.
pub fn assemble(
    req: &WindowRequest,
    event_loop: &EventLoop<Ev>,
    proxy: &EventLoopProxy<Ev>,
    flow: &Rc<RefCell<Flow>>,
    seq: &Rc<Cell<u64>>,
) -> Result<Parts, Box<WindowOutcome>> {
    let builder = WindowBuilder::new()
        .with_title(format!(
            "Sign in to Finesse — {}",
            req.finesse.host_str().unwrap_or("")
        ))
        .with_inner_size(tao::dpi::LogicalSize::new(900.0, 720.0))
        .with_visible(false);
    let window = platform::place_builder(builder, &req.placement)
        .build(event_loop)
        .map_err(|e| {
            Box::new(WindowOutcome::error(
                ErrorKind::NoDisplay,
                format!("cannot create the window: {e}"),
            ))
        })?;
    platform::place(&window, &req.placement);
    // Before it is ever shown: the nothing-painted check judges only an unobscured window.
    #[cfg(target_os = "linux")]
    platform::linux_paint::watch_visibility(&window);
    if let Err(e) = finesse_sso::dirs::ensure_private_dir(&req.data_dir) {
        return Err(Box::new(WindowOutcome::error(
            ErrorKind::Internal,
            e.to_string(),
        )));
    }
    let mut context = WebContext::new(Some(req.data_dir.clone()));
    let last_denied: Rc<RefCell<Option<DenyReason>>> = Rc::new(RefCell::new(None));

    // One decision for every navigation, top level and frames: wry calls it (WebKit, WKWebView),
    // or the platform hooks do (WebView2).
    let nav: Rc<dyn Fn(String) -> bool> = {
        let (flow, proxy, seq, last_denied) = (
            flow.clone(),
            proxy.clone(),
            seq.clone(),
            last_denied.clone(),
        );
        Rc::new(move |url: String| -> bool {
            seq.set(seq.get() + 1);
            match flow.borrow_mut().navigation(&url) {
                Navigation::Allow => {
                    tracing::debug!("navigate {}", redact::url_str(&url));
                    true
                }
                Navigation::Deny(reason) => {
                    tracing::warn!("refused navigation to {}: {reason}", redact::url_str(&url));
                    // A loop, plain http or the username carried off cannot lead to a safe
                    // sign-in (WebKit may also have stopped the page for it): stop clearly.
                    // Other schemes stay non-fatal: IdPs probe custom schemes in frames.
                    if reason.is_fatal() {
                        let _ = proxy.send_event(Ev::Fail {
                            kind: ErrorKind::Server,
                            message: format!("sign-in stopped, refused navigation: {reason}"),
                        });
                    }
                    *last_denied.borrow_mut() = Some(reason);
                    false
                }
            }
        })
    };
    let page = {
        let proxy = proxy.clone();
        move |event: PageLoadEvent, url: String| {
            let _ = proxy.send_event(match event {
                PageLoadEvent::Started => Ev::PageStarted(url),
                PageLoadEvent::Finished => Ev::PageFinished(url),
            });
        }
    };
    let builder = WebViewBuilder::new_with_web_context(&mut context);
    // WebView2: the platform hooks call `nav` themselves, top level and frames alike, so they
    // know its decision for each navigation id (wry's handler would run in an unknown order).
    #[cfg(not(windows))]
    let builder = builder.with_navigation_handler({
        let nav = nav.clone();
        move |url| nav(url)
    });
    // Pop-ups (Duo and other MFA) open in child windows under the same rules, never captured.
    let popups = Popups::default();
    let builder = builder
        .with_on_page_load_handler(page)
        .with_new_window_req_handler(popups.handler(
            (**event_loop).clone(),
            proxy.clone(),
            flow.clone(),
        ));
    let mut builder = security_key::watch(builder, proxy.clone())
        .with_download_started_handler(|url, _| {
            tracing::warn!("refused download of {}", redact::url_str(&url));
            false
        })
        .with_devtools(false);
    // The route the helper's own client uses, in the engine's terms; on Windows the whole
    // browser argument string with the Kerberos allow-list (platform::with_proxy).
    builder = platform::with_proxy(builder, req);
    let webview = platform::build_webview(builder, &window).map_err(|e| {
        Box::new(WindowOutcome::error(
            ErrorKind::Webview,
            format!("cannot create the webview: {e}"),
        ))
    })?;
    #[cfg(target_os = "linux")]
    platform::linux_negotiate::check_persistent(&webview, &req.kerberos_hosts);
    platform::trust_ca(&webview, req.ca_pem.clone(), proxy.clone());
    platform::allow_script_popups(&webview);
    #[cfg(not(windows))]
    platform::attach_hooks(&webview, req, proxy.clone(), last_denied);
    #[cfg(windows)]
    platform::attach_hooks(&webview, req, proxy.clone(), last_denied, nav);
    let cookies = restored_cookies(req);
    #[cfg(target_os = "linux")]
    let gate = platform::StartGate::default();
    #[cfg(target_os = "linux")]
    gate.store_cookies(&webview, &cookies);
    #[cfg(not(target_os = "linux"))]
    for c in &cookies {
        if let Err(e) = webview.set_cookie(c) {
            tracing::warn!("could not restore cookie {}: {e}", c.name());
        }
    }
    tracing::debug!("restoring {} cookies", cookies.len());
    Ok(Parts {
        window,
        webview,
        context,
        popups,
        #[cfg(target_os = "linux")]
        gate,
    })
}

/// The saved web session plus a `cc_username` cookie on the Finesse origin (11.6/12.0 need it),
/// for Finesse's `/desktop` paths only: behind the VPN-less proxy, IdS (`/ids`) and the IdP
/// may share that origin, and they need not see it.
fn restored_cookies(req: &WindowRequest) -> Vec<cookie::Cookie<'static>> {
    let finesse = &req.finesse;
    let host = finesse.host_str().unwrap_or("").to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut restored: Vec<cookie::Cookie<'static>> = req
        .cookies
        .iter()
        .filter_map(|c| cookies::to_engine(c, now))
        .collect();
    restored.push(
        cookie::Cookie::build(("cc_username", req.user.clone()))
            .domain(host)
            .path("/desktop")
            .secure(finesse.scheme() == "https")
            .http_only(true)
            .build(),
    );
    restored
}
