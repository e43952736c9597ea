//! The window process: a tao event loop with one wry webview. Callbacks only forward to `flow`
//! and to the loop; the loop owns the webview, decides, prints the one outcome line and exits.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, Write};
use std::rc::Rc;
use std::time::Duration;

use tao::event::{Event, StartCause, WindowEvent};
use tao::event_loop::{ControlFlow, EventLoop, EventLoopBuilder, EventLoopProxy};
use tao::window::{Window, WindowBuilder};
use url::Url;
use wry::{NewWindowResponse, PageLoadEvent, WebContext, WebView, WebViewBuilder};

use finesse_sso::flow::{CaptureRefusal, DenyReason, Flow, Navigation};
use finesse_sso::redact;
use finesse_sso::webview::{SavedCookie, WindowOutcome, WindowRequest};

/// Non-Finesse pages that navigate on within this long (auto-submitting SAML forms) do not
/// show the window: a live IdP session signs in without a flash.
const REVEAL_DEBOUNCE: Duration = Duration::from_millis(600);

/// How long after the engine cancels the main load on its own, with no navigation following,
/// the sign-in is stranded (script navigations cancel the old load first and start within ms).
const STRANDED_DEBOUNCE: Duration = Duration::from_millis(500);

/// Events the callbacks and timer threads send to the loop.
#[derive(Debug)]
pub enum Ev {
    PageStarted(String),
    PageFinished(String),
    /// The engine's own record of a finished document (Linux native read / script read elsewhere).
    Document {
        url: String,
        status: u16,
        mime: String,
        body: Vec<u8>,
    },
    MaybeReveal(u64),
    Reveal,
    Timeout,
    ParentGone,
    /// The parent's checks passed: load the token URL (the window was built meanwhile).
    Go,
    /// The main load of this URL was cancelled (WebKitGTK reports it), by a newer navigation
    /// or by the engine itself.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    MainLoadCancelled(String),
    /// No navigation followed that cancellation (the `seq` then is unchanged): it was final.
    MaybeStranded {
        seq: u64,
        url: String,
    },
    Fail {
        kind: &'static str,
        message: String,
    },
}

/// Reads the request from stdin, runs the window, prints the outcome, exits. Never returns.
pub fn run() -> ! {
    let mut first = String::new();
    let stdin = std::io::stdin();
    let req: WindowRequest = match stdin.lock().read_line(&mut first) {
        Ok(n) if n > 0 => match serde_json::from_str(&first) {
            Ok(r) => r,
            Err(e) => finish(WindowOutcome::error(
                "internal",
                format!("bad window request: {e}"),
            )),
        },
        _ => finish(WindowOutcome::error(
            "internal",
            "no window request on stdin",
        )),
    };
    prepare_environment();
    #[cfg(target_os = "linux")]
    if !finesse_sso::webview::process::have_display() {
        finish(WindowOutcome::error(
            "no_display",
            "neither DISPLAY nor WAYLAND_DISPLAY is set",
        ));
    }
    let event_loop = match build_event_loop() {
        Ok(el) => el,
        Err(msg) => finish(WindowOutcome::error("no_display", msg)),
    };
    let proxy = event_loop.create_proxy();
    // The parent sends `go` once its own checks pass (the window is built meanwhile); stdin EOF
    // means the parent is gone or gave up, and ends the sign-in: nobody would read the token.
    {
        let proxy = proxy.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut lock = std::io::stdin().lock();
            while matches!(lock.read_line(&mut line), Ok(n) if n > 0) {
                if line.trim() == finesse_sso::webview::GO {
                    let _ = proxy.send_event(Ev::Go);
                }
                line.clear();
            }
            let _ = proxy.send_event(Ev::ParentGone);
        });
    }
    match Session::open(req, &event_loop, proxy) {
        Ok(session) => session.run(event_loop),
        Err(outcome) => finish(*outcome),
    }
}

fn prepare_environment() {
    // Private files from WebKit, Mesa and GStreamer caches alike.
    #[cfg(unix)]
    // SAFETY: umask has no preconditions.
    unsafe {
        libc::umask(0o077);
    }
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        // Known blank-window bug on NVIDIA/VMs/Wayland; set before GTK starts (single-threaded here).
        unsafe { std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1") };
    }
}

fn build_event_loop() -> Result<EventLoop<Ev>, String> {
    // tao panics when GTK cannot start (no display); turn that into an answer.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let el = std::panic::catch_unwind(|| EventLoopBuilder::<Ev>::with_user_event().build());
    std::panic::set_hook(hook);
    el.map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the windowing system could not start".into());
        format!("cannot open a window: {msg}")
    })
}

fn after(d: Duration, proxy: &EventLoopProxy<Ev>, ev: impl FnOnce() -> Ev + Send + 'static) {
    let proxy = proxy.clone();
    std::thread::spawn(move || {
        std::thread::sleep(d);
        let _ = proxy.send_event(ev());
    });
}

/// Prints the one outcome line and exits with the matching code.
fn finish(outcome: WindowOutcome) -> ! {
    emit(&outcome);
    std::process::exit(exit_code(&outcome))
}

fn emit(outcome: &WindowOutcome) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", outcome.to_line());
    let _ = out.flush();
}

fn exit_code(outcome: &WindowOutcome) -> i32 {
    use finesse_sso::error::exit;
    match outcome {
        WindowOutcome::Ok { .. } => exit::OK,
        WindowOutcome::Error { kind, .. } => {
            finesse_sso::error::exit_for_kind(kind).unwrap_or(exit::INTERNAL)
        }
    }
}

/// Everything the loop owns for one sign-in.
struct Session {
    req: WindowRequest,
    flow: Rc<RefCell<Flow>>,
    window: Option<Window>,
    webview: Option<WebView>,
    _context: WebContext,
    proxy: EventLoopProxy<Ev>,
    /// Bumped on every navigation and every page started or finished; a pending reveal or
    /// stranded-load check only fires if unchanged.
    seq: Rc<Cell<u64>>,
    visible: bool,
    /// The last main-frame page and whether it finished loading (for the timeout's message).
    last_page: Option<(String, bool)>,
}

impl Session {
    fn open(
        req: WindowRequest,
        event_loop: &EventLoop<Ev>,
        proxy: EventLoopProxy<Ev>,
    ) -> Result<Self, Box<WindowOutcome>> {
        let flow = Rc::new(RefCell::new(Flow::new(&req.finesse)));
        let seq = Rc::new(Cell::new(0u64));
        let window = WindowBuilder::new()
            .with_title(format!(
                "Sign in to Finesse — {}",
                req.finesse.host_str().unwrap_or("")
            ))
            .with_inner_size(tao::dpi::LogicalSize::new(900.0, 720.0))
            .with_visible(false)
            .build(event_loop)
            .map_err(|e| {
                Box::new(WindowOutcome::error(
                    "no_display",
                    format!("cannot create the window: {e}"),
                ))
            })?;
        if let Err(e) = finesse_sso::dirs::ensure_private_dir(&req.data_dir) {
            return Err(Box::new(WindowOutcome::error("internal", e.to_string())));
        }
        let mut context = WebContext::new(Some(req.data_dir.clone()));
        let last_denied: Rc<RefCell<Option<DenyReason>>> = Rc::new(RefCell::new(None));

        let nav = {
            let (flow, proxy, seq, last_denied) = (
                flow.clone(),
                proxy.clone(),
                seq.clone(),
                last_denied.clone(),
            );
            move |url: String| -> bool {
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
                                kind: "server",
                                message: format!("sign-in stopped, refused navigation: {reason}"),
                            });
                        }
                        *last_denied.borrow_mut() = Some(reason);
                        false
                    }
                }
            }
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
        let mut builder = WebViewBuilder::new_with_web_context(&mut context)
            .with_navigation_handler(nav)
            .with_on_page_load_handler(page)
            .with_new_window_req_handler(|url, _| {
                // Pop-ups would escape the capture rules and the navigation allow-list.
                tracing::warn!("refused pop-up window for {}", redact::url_str(&url));
                NewWindowResponse::Deny
            })
            .with_download_started_handler(|url, _| {
                tracing::warn!("refused download of {}", redact::url_str(&url));
                false
            })
            .with_devtools(false);
        if let Some(p) = &req.proxy {
            let endpoint = wry::ProxyEndpoint {
                host: p.host_str().unwrap_or("").to_string(),
                port: p.port_or_known_default().unwrap_or(8080).to_string(),
            };
            builder = builder.with_proxy_config(if p.scheme().starts_with("socks") {
                wry::ProxyConfig::Socks5(endpoint)
            } else {
                wry::ProxyConfig::Http(endpoint)
            });
        }
        #[cfg(target_os = "linux")]
        let webview = {
            use tao::platform::unix::WindowExtUnix;
            use wry::WebViewBuilderExtUnix;
            let vbox = window.default_vbox().ok_or_else(|| {
                Box::new(WindowOutcome::error("internal", "window has no GTK box"))
            })?;
            builder.build_gtk(vbox)
        };
        #[cfg(not(target_os = "linux"))]
        let webview = builder.build(&window);
        let webview = webview.map_err(|e| {
            Box::new(WindowOutcome::error(
                "webview",
                format!("cannot create the webview: {e}"),
            ))
        })?;

        #[cfg(target_os = "linux")]
        crate::linux::attach(&webview, &req, proxy.clone(), last_denied);
        #[cfg(not(target_os = "linux"))]
        let _ = last_denied;

        let session = Session {
            req,
            flow,
            window: Some(window),
            webview: Some(webview),
            _context: context,
            proxy,
            seq,
            visible: false,
            last_page: None,
        };
        session.restore_cookies();
        Ok(session)
    }

    /// Starts the sign-in proper: timers, then the token URL.
    fn go(&mut self) -> Option<WindowOutcome> {
        after(
            Duration::from_secs(self.req.timeout_secs.max(1)),
            &self.proxy,
            || Ev::Timeout,
        );
        if self.req.interactive && self.req.show_after_ms > 0 {
            after(
                Duration::from_millis(self.req.show_after_ms),
                &self.proxy,
                || Ev::Reveal,
            );
        }
        let url = self.flow.borrow().token_url(&self.req.user);
        // Count the first load as a navigation like any other.
        self.flow.borrow_mut().navigation(url.as_str());
        tracing::info!("opening {}", redact::url(&url));
        let wv = self.webview.as_ref()?;
        wv.load_url(url.as_str())
            .err()
            .map(|e| WindowOutcome::error("webview", format!("cannot load the token URL: {e}")))
    }

    /// The saved web session plus a `cc_username` cookie on the Finesse origin (11.6/12.0 need it).
    fn restore_cookies(&self) {
        let Some(wv) = &self.webview else { return };
        let finesse = &self.req.finesse;
        let host = finesse.host_str().unwrap_or("").to_string();
        let mut cookies: Vec<wry::cookie::Cookie<'static>> =
            self.req.cookies.iter().filter_map(to_wry_cookie).collect();
        cookies.push(
            wry::cookie::Cookie::build(("cc_username", self.req.user.clone()))
                .domain(host)
                .path("/")
                .secure(finesse.scheme() == "https")
                .http_only(true)
                .build(),
        );
        for c in &cookies {
            if let Err(e) = wv.set_cookie(c) {
                tracing::warn!("could not restore cookie {}: {e}", c.name());
            }
        }
        tracing::debug!("restored {} cookies", cookies.len());
    }

    fn run(mut self, event_loop: EventLoop<Ev>) -> ! {
        event_loop.run(move |event, _target, control_flow| {
            *control_flow = ControlFlow::Wait;
            let outcome = match event {
                Event::NewEvents(StartCause::Init) => None,
                Event::WindowEvent {
                    event: WindowEvent::CloseRequested,
                    ..
                } => Some(WindowOutcome::error(
                    "cancelled",
                    "the sign-in window was closed",
                )),
                Event::UserEvent(ev) => self.on_event(ev),
                _ => None,
            };
            if let Some(outcome) = outcome {
                // Nothing after the answer matters; WebKit's processes end when they lose us.
                finish(outcome);
            }
        })
    }

    fn on_event(&mut self, ev: Ev) -> Option<WindowOutcome> {
        match ev {
            Ev::Go => self.go(),
            Ev::PageStarted(url) => {
                self.seq.set(self.seq.get() + 1);
                self.set_title(&url);
                self.last_page = Some((url, false));
                None
            }
            Ev::PageFinished(url) => {
                // A page that finished is progress too: a cancellation before it is not final.
                self.seq.set(self.seq.get() + 1);
                self.last_page = Some((url.clone(), true));
                let flow = self.flow.borrow().clone();
                if flow.is_token_endpoint(&url) {
                    self.read_document();
                } else if flow.needs_user(&url) && !self.visible {
                    after(REVEAL_DEBOUNCE, &self.proxy, {
                        let seq = self.seq.get();
                        move || Ev::MaybeReveal(seq)
                    });
                }
                None
            }
            Ev::Document {
                url,
                status,
                mime,
                body,
            } => self.on_document(&url, status, &mime, &body),
            Ev::MaybeReveal(seq) if seq == self.seq.get() => self.reveal("a page needs you"),
            Ev::MaybeReveal(_) => None,
            Ev::MainLoadCancelled(url) => {
                // A newer navigation cancels the old load too; it shows up within the debounce.
                after(STRANDED_DEBOUNCE, &self.proxy, {
                    let seq = self.seq.get();
                    move || Ev::MaybeStranded { seq, url }
                });
                None
            }
            Ev::MaybeStranded { seq, url } if seq == self.seq.get() => Some(WindowOutcome::error(
                "server",
                format!(
                    "WebKit cancelled the load of {} and nothing followed: the sign-in went \
                     somewhere the window does not go (a redirect to file: ends this way)",
                    redact::url_str(&url)
                ),
            )),
            Ev::MaybeStranded { .. } => None,
            Ev::Reveal => {
                if self.visible {
                    None
                } else {
                    self.reveal("no token yet")
                }
            }
            Ev::Timeout => Some(WindowOutcome::error("timed_out", self.whereabouts())),
            Ev::ParentGone => Some(WindowOutcome::error(
                "cancelled",
                "the calling process went away",
            )),
            Ev::Fail { kind, message } => Some(WindowOutcome::error(kind, message)),
        }
    }

    fn reveal(&mut self, why: &str) -> Option<WindowOutcome> {
        if !self.req.interactive {
            return Some(WindowOutcome::error(
                "interaction_required",
                format!("{why} ({})", self.current_host()),
            ));
        }
        tracing::info!("showing the sign-in window: {why}");
        if let Some(w) = &self.window {
            w.set_visible(true);
            w.set_focus();
        }
        self.visible = true;
        None
    }

    /// Where the sign-in stood, for a timeout: the last page (redacted) and its state.
    fn whereabouts(&self) -> String {
        match &self.last_page {
            None => "the window had loaded nothing".into(),
            Some((url, done)) => format!(
                "the window was at {} ({})",
                redact::url_str(url),
                if *done { "loaded" } else { "still loading" }
            ),
        }
    }

    fn current_host(&self) -> String {
        self.webview
            .as_ref()
            .and_then(|wv| wv.url().ok())
            .and_then(|u| Url::parse(&u).ok())
            .map(|u| finesse_sso::error::host_of(&u))
            .unwrap_or_default()
    }

    /// The title names the host asking, so the user knows who gets the password.
    fn set_title(&self, url: &str) {
        if let (Some(w), Ok(u)) = (&self.window, Url::parse(url))
            && u.has_host()
        {
            let secure = if u.scheme() == "https" {
                ""
            } else {
                " (not encrypted)"
            };
            w.set_title(&format!(
                "Sign in — {}{secure}",
                finesse_sso::error::host_of(&u)
            ));
        }
    }

    #[cfg(target_os = "linux")]
    fn read_document(&self) {
        if let Some(wv) = &self.webview {
            crate::linux::read_main_resource(wv, self.proxy.clone());
        }
    }

    /// Elsewhere the page is read by script after it finished; the engine reports status where
    /// it can (Navigation Timing `responseStatus`), and the URL and content type come from the
    /// document. Only a top-level JSON document has no script of its own to interfere.
    #[cfg(not(target_os = "linux"))]
    fn read_document(&self) {
        const JS: &str = "(function(){var n=(performance.getEntriesByType('navigation')||[])[0];\
            return JSON.stringify({url:location.href,ct:document.contentType,\
            status:(n&&n.responseStatus)||200,body:document.body?document.body.innerText:''});})()";
        if let Some(wv) = &self.webview {
            let proxy = self.proxy.clone();
            let _ = wv.evaluate_script_with_callback(JS, move |result| {
                // The callback gets the JSON encoding of the returned string: decode twice.
                let inner: Option<serde_json::Value> = serde_json::from_str::<String>(&result)
                    .ok()
                    .and_then(|s| serde_json::from_str(&s).ok());
                if let Some(v) = inner {
                    let _ = proxy.send_event(Ev::Document {
                        url: v["url"].as_str().unwrap_or("").to_string(),
                        status: v["status"].as_u64().unwrap_or(0) as u16,
                        mime: v["ct"].as_str().unwrap_or("").to_string(),
                        body: v["body"].as_str().unwrap_or("").as_bytes().to_vec(),
                    });
                }
            });
        }
    }

    fn on_document(
        &mut self,
        url: &str,
        status: u16,
        mime: &str,
        body: &[u8],
    ) -> Option<WindowOutcome> {
        let flow = self.flow.borrow().clone();
        match flow.capture(url, status, mime, body) {
            Ok(token) => {
                tracing::info!("token captured from {}", redact::url_str(url));
                Some(WindowOutcome::Ok {
                    token,
                    cookies: self.cookies(),
                })
            }
            Err(CaptureRefusal::NotTokenEndpoint) => None,
            Err(refusal) => Some(WindowOutcome::error(
                "server",
                format!("{}: {refusal}", finesse_sso::error::host_of(flow.finesse())),
            )),
        }
    }

    fn cookies(&self) -> Vec<SavedCookie> {
        let Some(wv) = &self.webview else {
            return vec![];
        };
        match wv.cookies() {
            Ok(cs) => cs
                .iter()
                .filter_map(from_wry_cookie)
                .filter(|c| c.name != "cc_username")
                .collect(),
            Err(e) => {
                tracing::warn!("could not read the web session's cookies: {e}");
                vec![]
            }
        }
    }
}

fn from_wry_cookie(c: &wry::cookie::Cookie<'static>) -> Option<SavedCookie> {
    let expires = match c.expires() {
        Some(wry::cookie::Expiration::DateTime(t)) => Some(t.unix_timestamp()),
        _ => None,
    };
    Some(SavedCookie {
        name: c.name().to_string(),
        value: c.value().to_string().into(),
        domain: c.domain()?.to_string(),
        path: c.path().unwrap_or("/").to_string(),
        secure: c.secure().unwrap_or(false),
        http_only: c.http_only().unwrap_or(false),
        expires,
        same_site: c.same_site().map(|s| s.to_string()),
    })
}

fn to_wry_cookie(c: &SavedCookie) -> Option<wry::cookie::Cookie<'static>> {
    use wry::cookie::{Cookie, Expiration, SameSite};
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if c.expires.is_some_and(|e| e <= now) {
        return None;
    }
    let mut b = Cookie::build((c.name.clone(), c.value.expose().clone()))
        .domain(c.domain.clone())
        .path(c.path.clone())
        .secure(c.secure)
        .http_only(c.http_only);
    if let Some(e) = c
        .expires
        .and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok())
    {
        b = b.expires(Expiration::DateTime(e));
    }
    b = match c.same_site.as_deref() {
        Some("Strict") => b.same_site(SameSite::Strict),
        Some("Lax") => b.same_site(SameSite::Lax),
        Some("None") if c.secure => b.same_site(SameSite::None),
        _ => b,
    };
    Some(b.build())
}
