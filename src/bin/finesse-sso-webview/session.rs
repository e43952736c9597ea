//! The sign-in session: the request from stdin, the tao event loop, and the state machine that
//! owns the window and its webview, decides on each event, and gives the one answer.

use finesse_sso::error::ErrorKind;
use std::cell::{Cell, RefCell};
use std::io::BufRead;
use std::rc::Rc;
use std::time::Duration;

use tao::event::{Event, StartCause, WindowEvent};
use tao::event_loop::{ControlFlow, EventLoop, EventLoopBuilder, EventLoopProxy};
use tao::window::Window;
use url::Url;
use wry::{WebContext, WebView};

use finesse_sso::flow::{CaptureRefusal, Flow};
use finesse_sso::redact;
use finesse_sso::window::{GoFacts, SavedCookie, WindowOutcome, WindowRequest};

use crate::answer::finish;
use crate::assembly::{Parts, assemble};
use crate::event::Ev;
use crate::paint_watch::{self, Next, PaintWatch};
use crate::platform;
use crate::popup::Popups;
use finesse_sso::window::cookies;

/// Non-Finesse pages that navigate on within this long (auto-submitting SAML forms) do not
/// show the window: a live IdP session signs in without a flash.
const REVEAL_DEBOUNCE: Duration = Duration::from_millis(600);

/// How long a reload after allowing a certificate may take to start a load before it counts as
/// undone by the engine and is asked again (it starts within milliseconds when it is not).
const RELOAD_CHECK: Duration = Duration::from_millis(1500);

/// How often that reload is asked for before the sign-in gives up.
const RELOAD_ATTEMPTS: u32 = 4;

/// How long after the engine cancels the main load on its own, with no navigation following,
/// the sign-in is stranded (script navigations cancel the old load first and start within ms).
const STRANDED_DEBOUNCE: Duration = Duration::from_millis(500);

/// Reads the request from stdin, runs the window, answers, exits. Never returns.
pub fn run() -> ! {
    let mut first = String::new();
    let stdin = std::io::stdin();
    let req: WindowRequest = match stdin.lock().read_line(&mut first) {
        Ok(n) if n > 0 => match serde_json::from_str(&first) {
            Ok(r) => r,
            Err(e) => finish(WindowOutcome::error(
                ErrorKind::Internal,
                format!("bad window request: {e}"),
            )),
        },
        _ => finish(WindowOutcome::error(
            ErrorKind::Internal,
            "no window request on stdin",
        )),
    };
    platform::prepare_process();
    #[cfg(target_os = "linux")]
    platform::linux_negotiate::trust_hosts(&req.kerberos_hosts);
    if let Some(problem) = platform::display_problem() {
        finish(WindowOutcome::error(ErrorKind::NoDisplay, problem));
    }
    let event_loop = match build_event_loop() {
        Ok(el) => el,
        Err(msg) => finish(WindowOutcome::error(ErrorKind::NoDisplay, msg)),
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
                if let Some(facts) = GoFacts::parse(&line) {
                    let _ = proxy.send_event(Ev::Go(facts));
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
    /// The main load the engine cancelled last, and the `seq` then (for the stranded check).
    cancelled: Option<(u64, String)>,
    /// A reload asked for and not yet started: its URL and attempts so far.
    reload: Option<(String, u32)>,
    /// How often the token URL was loaded again after WebKit gave it up.
    restarts: u32,
    /// The pop-up windows the page opened.
    popups: Popups,
    /// Whether the security-key notice was given (once per sign-in).
    security_key_noticed: bool,
    /// The nothing-painted check (`paint_watch`).
    paint: PaintWatch,
    /// What the token URL's load waits for after `go` (Linux).
    #[cfg(target_os = "linux")]
    gate: platform::StartGate,
}

impl Session {
    fn open(
        req: WindowRequest,
        event_loop: &EventLoop<Ev>,
        proxy: EventLoopProxy<Ev>,
    ) -> Result<Self, Box<WindowOutcome>> {
        let flow = Rc::new(RefCell::new(Flow::new(&req.finesse)));
        let seq = Rc::new(Cell::new(0u64));
        let Parts {
            window,
            webview,
            context,
            popups,
            #[cfg(target_os = "linux")]
            gate,
        } = assemble(&req, event_loop, &proxy, &flow, &seq)?;
        Ok(Session {
            req,
            flow,
            window: Some(window),
            webview: Some(webview),
            _context: context,
            proxy,
            seq,
            visible: false,
            last_page: None,
            cancelled: None,
            reload: None,
            restarts: 0,
            popups,
            security_key_noticed: false,
            paint: PaintWatch::default(),
            #[cfg(target_os = "linux")]
            gate,
        })
    }

    /// Starts the sign-in proper: timers, then the token URL.
    fn go(&mut self, facts: &GoFacts) -> Option<WindowOutcome> {
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
        #[cfg(target_os = "linux")]
        {
            let wv = self.webview.as_ref()?;
            let allowed =
                platform::allow_known_chains(wv, self.req.ca_pem.as_deref(), &facts.certificates);
            self.gate.load(wv, url.as_str(), allowed);
            None
        }
        #[cfg(not(target_os = "linux"))]
        let _ = facts;
        #[cfg(not(target_os = "linux"))]
        self.webview
            .as_ref()?
            .load_url(url.as_str())
            .err()
            .map(|e| {
                WindowOutcome::error(
                    ErrorKind::Webview,
                    format!("cannot load the token URL: {e}"),
                )
            })
    }

    fn run(mut self, event_loop: EventLoop<Ev>) -> ! {
        event_loop.run(move |event, _target, control_flow| {
            *control_flow = ControlFlow::Wait;
            let outcome = match event {
                Event::NewEvents(StartCause::Init) => None,
                // A pop-up's window closing ends only the pop-up.
                Event::WindowEvent {
                    event: WindowEvent::CloseRequested | WindowEvent::Destroyed,
                    window_id,
                    ..
                } if self.popups.close_window(window_id) => None,
                Event::WindowEvent {
                    event: WindowEvent::CloseRequested,
                    ..
                } => Some(WindowOutcome::error(
                    ErrorKind::Cancelled,
                    "the sign-in window was closed",
                )),
                Event::UserEvent(ev) => self.on_event(ev),
                _ => None,
            };
            if let Some(outcome) = outcome {
                // Nothing after the answer matters; WebKit's processes end when they lose us.
                self.popups.close_all();
                finish(outcome);
            }
        })
    }

    fn on_event(&mut self, ev: Ev) -> Option<WindowOutcome> {
        if let Ev::MainLoadCancelled(_) | Ev::RendererGone(_) | Ev::Fail { .. } = &ev {
            tracing::debug!("engine: {ev:?}");
        }
        match ev {
            Ev::Go(facts) => self.go(&facts),
            Ev::PageStarted(url) => {
                self.seq.set(self.seq.get() + 1);
                self.reload = None;
                self.set_title(&url);
                self.last_page = Some((url, false));
                None
            }
            Ev::PageFinished(url) => {
                // A page that finished is progress too: a cancellation before it is not final.
                // Unless it is the cancelled load's own end (same URL, nothing started since):
                // WebKit reports one after every failed load.
                let own_end = self.cancelled.as_ref() == Some(&(self.seq.get(), url.clone()));
                if !own_end {
                    self.seq.set(self.seq.get() + 1);
                }
                self.last_page = Some((url.clone(), true));
                let flow = self.flow.borrow().clone();
                if flow.is_token_endpoint(&url) {
                    self.read_document();
                } else if flow.needs_user(&url) && !self.visible {
                    after(REVEAL_DEBOUNCE, &self.proxy, {
                        let seq = self.seq.get();
                        move || Ev::MaybeReveal(seq)
                    });
                } else if self.visible {
                    self.look_later(paint_watch::SETTLE);
                }
                None
            }
            Ev::Document {
                url,
                status,
                mime,
                body,
            } => self.on_document(&url, status, &mime, &body),
            Ev::Reload(url) => {
                self.reload = Some((url, 0));
                self.reload_now()
            }
            Ev::ReloadCheck(n) => match &self.reload {
                Some((_, attempts)) if *attempts == n => self.reload_now(),
                _ => None,
            },
            Ev::MaybeReveal(seq) if seq == self.seq.get() => self.reveal("a page needs you"),
            Ev::MaybeReveal(_) => None,
            Ev::MainLoadCancelled(url) => self.load_cancelled(url),
            // WebKit also gives up a first load by itself, rarely (seen under load): the token
            // URL is loaded again, twice at most, before the cancellation counts as final.
            // A load the session asked for and that has not started yet is the reload
            // watchdog's to judge (a slow start is not a stranded load).
            Ev::MaybeStranded { seq, url } if seq == self.seq.get() && self.reload.is_none() => {
                if self.flow.borrow().is_token_endpoint(&url) && self.restarts < 2 {
                    self.restarts += 1;
                    tracing::debug!("WebKit gave up the token URL's load; loading it again");
                    self.reload = Some((url, 0));
                    self.reload_now()
                } else {
                    Some(stranded(&url))
                }
            }
            // WebKit ends the renderer after cancelling some loads (a redirect to `file:`): with
            // it gone nothing can follow, so that cancellation was final. Otherwise the renderer
            // died under the page (a crash, the OOM killer): say so now, not at the timeout.
            Ev::RendererGone(why) => match self.cancelled.take() {
                // After a restart of a given-up load, the renderer's end belongs to that story.
                Some((seq, url)) if seq == self.seq.get() || self.restarts > 0 => {
                    Some(stranded(&url))
                }
                // The parent may start the window once more with safer rendering settings.
                _ => Some(WindowOutcome::RenderingFailed {
                    message: format!("WebKit's web process {why}"),
                }),
            },
            Ev::MaybeStranded { .. } => None,
            Ev::Reveal => {
                if self.visible {
                    None
                } else {
                    self.reveal("no token yet")
                }
            }
            Ev::Timeout => Some(WindowOutcome::error(
                ErrorKind::TimedOut,
                self.whereabouts(),
            )),
            Ev::ParentGone => Some(WindowOutcome::error(
                ErrorKind::Cancelled,
                "the calling process went away",
            )),
            Ev::Fail { kind, message } => Some(WindowOutcome::error(kind, message)),
            Ev::PopupOpened(id) => {
                if let (true, Some(w)) = (self.visible, &self.window) {
                    self.popups.show(id, w);
                } else {
                    after(REVEAL_DEBOUNCE, &self.proxy, move || Ev::MaybeShowPopup(id));
                }
                None
            }
            // A pop-up still open while nothing is shown: it needs the user (reveal shows it).
            Ev::MaybeShowPopup(id) if self.popups.contains(id) && !self.visible => {
                self.reveal("a pop-up window needs you")
            }
            Ev::MaybeShowPopup(_) => None,
            Ev::PopupPage { id, url } => {
                self.popups.set_title(id, &url);
                None
            }
            Ev::PopupClose { id, why } => {
                self.popups.close(id, &why);
                None
            }
            Ev::SecurityKeyAsked(url) => self.security_key_asked(&url),
            Ev::PaintCheck(seq) => {
                self.look(seq);
                None
            }
            Ev::Paint { seq, seen } => self.on_paint(seq, seen),
        }
    }

    /// Looks at the visible window's pixels after `delay`, if the page finished by then is
    /// still the one shown (`seq` unchanged) and no look has settled the question.
    fn look_later(&self, delay: Duration) {
        let finished = matches!(&self.last_page, Some((_, true)));
        if self.visible && finished && self.paint.open() {
            let seq = self.seq.get();
            after(delay, &self.proxy, move || Ev::PaintCheck(seq));
        }
    }

    fn look(&self, seq: u64) {
        let still = seq == self.seq.get() && self.visible && self.paint.open();
        let token_page = self
            .last_page
            .as_ref()
            .is_some_and(|(u, _)| self.flow.borrow().is_token_endpoint(u));
        // Only Linux looks (X11 pixels); elsewhere there is nothing to look with.
        #[cfg(target_os = "linux")]
        if still
            && !token_page
            && let Some(wv) = &self.webview
        {
            platform::linux_paint::check_paint(wv, self.proxy.clone(), seq);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (still, token_page);
    }

    /// A look's result: blank looks in a row over a page with text are the renderer painting
    /// nothing, which the parent answers with its one restart with safer rendering settings,
    /// as after a crash.
    fn on_paint(&mut self, seq: u64, seen: crate::event::Seen) -> Option<WindowOutcome> {
        if seq != self.seq.get() {
            return None;
        }
        match self.paint.seen(seq, seen) {
            Next::Stop => None,
            Next::LookAgain => {
                self.look_later(paint_watch::INTERVAL);
                None
            }
            Next::NothingPainted(message) => Some(WindowOutcome::RenderingFailed { message }),
        }
    }

    /// The page asked for a security key the engine cannot use: say so plainly, once, in the
    /// window and on stderr. Without a user it ends the sign-in as `interaction_required` (our
    /// agent then shows the window, where the user can choose another method) with the notice
    /// as its message.
    fn security_key_asked(&mut self, url: &str) -> Option<WindowOutcome> {
        if self.security_key_noticed {
            return None;
        }
        self.security_key_noticed = true;
        let host = Url::parse(url)
            .map(|u| finesse_sso::error::host_of(&u))
            .unwrap_or_else(|_| self.current_host());
        let notice = crate::security_key::notice(&host);
        if !self.req.interactive {
            return Some(WindowOutcome::error(ErrorKind::InteractionRequired, notice));
        }
        finesse_sso::stdio::note(format_args!("finesse-sso: {notice}"));
        if let Some(w) = &self.window {
            // A sentence of its own in the window.
            let mut shown = notice.clone();
            shown[..1].make_ascii_uppercase();
            platform::show_notice(w, &shown);
        }
        if self.visible {
            None
        } else {
            self.reveal("the sign-in asked for a security key")
        }
    }

    /// A main load given up (or a finished token page the engine kept no record of): final
    /// unless a navigation follows within the debounce (a newer navigation cancels the old
    /// load too).
    fn load_cancelled(&mut self, url: String) -> Option<WindowOutcome> {
        self.cancelled = Some((self.seq.get(), url.clone()));
        after(STRANDED_DEBOUNCE, &self.proxy, {
            let seq = self.seq.get();
            move || Ev::MaybeStranded { seq, url }
        });
        None
    }

    /// Loads the pending reload's URL and checks later that a load started; gives up after
    /// [`RELOAD_ATTEMPTS`].
    fn reload_now(&mut self) -> Option<WindowOutcome> {
        let (url, attempts) = self.reload.as_mut()?;
        if *attempts == RELOAD_ATTEMPTS {
            return Some(WindowOutcome::error(
                ErrorKind::Webview,
                format!(
                    "WebKit did not load {} again (asked {RELOAD_ATTEMPTS} times)",
                    redact::url_str(url)
                ),
            ));
        }
        *attempts += 1;
        if *attempts > 1 {
            tracing::debug!("the reload of {} was undone; again", redact::url_str(url));
        }
        if let Some(wv) = &self.webview {
            let _ = wv.load_url(url);
        }
        let n = *attempts;
        after(RELOAD_CHECK, &self.proxy, move || Ev::ReloadCheck(n));
        None
    }

    fn reveal(&mut self, why: &str) -> Option<WindowOutcome> {
        if !self.req.interactive {
            return Some(WindowOutcome::error(
                ErrorKind::InteractionRequired,
                format!("{why} ({})", self.current_host()),
            ));
        }
        tracing::info!("showing the sign-in window: {why}");
        if let Some(w) = &self.window {
            w.set_visible(true);
            // In front of the caller; tao's `set_focus` does nothing until the show request
            // it queued has run.
            platform::bring_to_front(w, &self.req.placement);
            self.popups.show_all(w);
        }
        self.visible = true;
        self.look_later(paint_watch::SETTLE);
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
        if let (Some(w), Some(t)) = (&self.window, crate::title::for_page(url)) {
            w.set_title(&t);
        }
    }

    fn read_document(&self) {
        if let Some(wv) = &self.webview {
            platform::read_document(wv, self.proxy.clone());
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
            // Read because a token page finished, yet the engine's record is of another page:
            // that load was dropped.
            Err(CaptureRefusal::NotTokenEndpoint) => {
                let finished = self.last_page.as_ref().map(|(u, _)| u.clone());
                self.load_cancelled(finished.unwrap_or_else(|| url.to_string()))
            }
            // The VPN-less proxy's client block or rate limit on the token URL: its own kinds.
            Err(refusal @ CaptureRefusal::Status(418 | 429)) => Some(WindowOutcome::error(
                if refusal == CaptureRefusal::Status(418) {
                    ErrorKind::ProxyBlocked
                } else {
                    ErrorKind::RateLimited
                },
                format!("{}: {refusal}", finesse_sso::error::host_of(flow.finesse())),
            )),
            Err(refusal) => Some(WindowOutcome::error(
                ErrorKind::Server,
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
                .filter_map(cookies::from_engine)
                .filter(|c| c.name != "cc_username")
                .collect(),
            Err(e) => {
                tracing::warn!("could not read the web session's cookies: {e}");
                vec![]
            }
        }
    }
}

/// A main load the engine cancelled with nothing following it.
fn stranded(url: &str) -> WindowOutcome {
    WindowOutcome::error(
        ErrorKind::Server,
        format!(
            "WebKit cancelled the load of {} and nothing followed: the sign-in went somewhere \
             the window does not go (a redirect to file: ends this way)",
            redact::url_str(url)
        ),
    )
}
