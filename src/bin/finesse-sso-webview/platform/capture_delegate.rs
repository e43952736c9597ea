//! macOS: the WKWebView navigation delegate that captures natively. It stands in front of
//! wry's delegate, forwards everything wry handles, and adds the capture rule: the main-frame
//! response judged by `Flow::judge_response` in `decidePolicyForNavigationResponse` (status,
//! MIME, URL, declared size: refused before it renders), the body read in an isolated content
//! world only for the navigation whose response was judged (`flow::DocumentBinding`), load
//! failures reported as the Linux window reports them, and client-certificate challenges
//! answered from the keychain (`macos_cert`; every other challenge as before).
//!
//! Why a forwarding delegate, and why it is sound: wry sets its own delegate once, while it
//! builds the webview, keeps it alive itself, and has no hook for the response decision (its
//! handler only allows or downloads). WebKit holds the delegate weakly and caches which
//! methods it implements when the delegate is set. Ours holds wry's strongly and answers
//! `respondsToSelector:` for the union of both, handling the methods below itself (each calls
//! wry's implementation when wry has one) and passing every other message wry implements via
//! `forwardingTargetForSelector:`. So WebKit sees every method it saw before, each decision
//! handler is called exactly once, and wry's navigation handler (`Flow::navigation`, every
//! frame and redirect hop), page-load events and initialization scripts run as before. Adding
//! a method to wry's class at run time instead would come after WebKit cached the method set,
//! and replacing wry's response method would change a private class process-wide.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use block2::{DynBlock, RcBlock};
use objc2::rc::Retained;
use objc2::runtime::{AnyObject, NSObject, NSObjectProtocol, ProtocolObject, Sel};
use objc2::{
    ClassType, DefinedClass, MainThreadMarker, MainThreadOnly, Message, define_class, msg_send, sel,
};
use objc2_foundation::{
    NSError, NSHTTPURLResponse, NSString, NSURL, NSURLAuthenticationChallenge, NSURLCredential,
    NSURLErrorCancelled, NSURLErrorFailingURLErrorKey, NSURLResponse,
    NSURLSessionAuthChallengeDisposition,
};
use objc2_web_kit::{
    WKContentWorld, WKDownload, WKNavigation, WKNavigationAction, WKNavigationActionPolicy,
    WKNavigationDelegate, WKNavigationResponse, WKNavigationResponsePolicy, WKWebView,
};
use tao::event_loop::EventLoopProxy;
use tracing::warn;
use url::Url;

use finesse_sso::client_cert::ClientCertificate;
use finesse_sso::error::{ErrorKind, host_of};
use finesse_sso::flow::{DenyReason, DocumentBinding, Flow, ResponseFacts, ResponseVerdict};
use finesse_sso::redact;

use super::macos_cert::CertPicker;
use crate::event::Ev;

/// The world the body is read in: page script runs in the page world and cannot reach this
/// one's globals (`JSON`, `document`'s prototype), so it cannot shape what the read returns.
const WORLD: &str = "finesse-sso-capture";

/// Runs in [`WORLD`] on the finished token document (a JSON document has no script of its own):
/// the text WebKit shows for it, with its URL and type to check it is the judged response's.
const READ_JS: &str = "(function(){var b=document.body;return JSON.stringify({url:location.href,\
    ct:document.contentType,body:b?b.textContent:''});})()";

/// `NSURLErrorDomain` codes that are TLS failures (secure connection failed .. client
/// certificate required).
const TLS_CODES: std::ops::RangeInclusive<isize> = -1206..=-1200;

/// WebKit's (legacy) error domain and its "frame load interrupted by policy change" code: what a
/// navigation cancelled by a policy decision (ours or wry's) fails with.
const WEBKIT_ERROR_DOMAIN: &str = "WebKitErrorDomain";
const FRAME_LOAD_INTERRUPTED: isize = 102;

thread_local! {
    /// WebKit holds its navigation delegate weakly; the window process has one webview, so
    /// its delegate lives here until the process exits.
    static INSTALLED: RefCell<Option<Retained<CaptureDelegate>>> = const { RefCell::new(None) };
}

/// A navigation, compared by identity. Retained so its address cannot be reused while bound.
struct NavId(Retained<WKNavigation>);

impl PartialEq for NavId {
    fn eq(&self, other: &Self) -> bool {
        Retained::as_ptr(&self.0) == Retained::as_ptr(&other.0)
    }
}

pub struct Ivars {
    wry: Retained<ProtocolObject<dyn WKNavigationDelegate>>,
    flow: Flow,
    binding: RefCell<DocumentBinding<NavId>>,
    proxy: EventLoopProxy<Ev>,
    last_denied: Rc<RefCell<Option<DenyReason>>>,
    world: Retained<WKContentWorld>,
    certs: CertPicker,
}

define_class!(
    // SAFETY: NSObject has no subclassing requirements; the class adds no `Drop` and is used on
    // the main thread only (`MainThreadOnly`), as WebKit calls its delegate there.
    #[unsafe(super(NSObject))]
    #[thread_kind = MainThreadOnly]
    #[name = "FinesseSsoCaptureDelegate"]
    #[ivars = Ivars]
    pub struct CaptureDelegate;

    /// The proxy part: WebKit asks which methods exist; those wry has and we do not go to wry.
    impl CaptureDelegate {
        #[unsafe(method(respondsToSelector:))]
        fn responds_to_selector(&self, sel: Sel) -> bool {
            Self::class().responds_to(sel) || self.ivars().wry.respondsToSelector(sel)
        }

        #[unsafe(method(forwardingTargetForSelector:))]
        fn forwarding_target_for_selector(&self, _sel: Sel) -> *mut AnyObject {
            Retained::as_ptr(&self.ivars().wry)
                .cast::<AnyObject>()
                .cast_mut()
        }
    }

    // SAFETY: NSObjectProtocol has no safety requirements.
    unsafe impl NSObjectProtocol for CaptureDelegate {}

    // SAFETY: the signatures are WKNavigationDelegate's (objc2-web-kit's declarations).
    unsafe impl WKNavigationDelegate for CaptureDelegate {
        #[unsafe(method(webView:decidePolicyForNavigationAction:decisionHandler:))]
        fn decide_action(
            &self,
            webview: &WKWebView,
            action: &WKNavigationAction,
            handler: &DynBlock<dyn Fn(WKNavigationActionPolicy)>,
        ) {
            if self.wry_has(sel!(webView:decidePolicyForNavigationAction:decisionHandler:)) {
                // SAFETY: forwarding WebKit's own arguments to a delegate that implements it.
                unsafe {
                    self.ivars()
                        .wry
                        .webView_decidePolicyForNavigationAction_decisionHandler(
                            webview, action, handler,
                        );
                }
            } else {
                handler.call((WKNavigationActionPolicy::Allow,));
            }
        }

        #[unsafe(method(webView:didStartProvisionalNavigation:))]
        fn did_start(&self, webview: &WKWebView, navigation: Option<&WKNavigation>) {
            match navigation {
                Some(n) => self.ivars().binding.borrow_mut().started(NavId(n.retain())),
                None => self.ivars().binding.borrow_mut().failed(),
            }
            if self.wry_has(sel!(webView:didStartProvisionalNavigation:)) {
                // SAFETY: as above.
                unsafe {
                    self.ivars()
                        .wry
                        .webView_didStartProvisionalNavigation(webview, navigation);
                }
            }
        }

        #[unsafe(method(webView:decidePolicyForNavigationResponse:decisionHandler:))]
        fn decide_response(
            &self,
            webview: &WKWebView,
            response: &WKNavigationResponse,
            handler: &DynBlock<dyn Fn(WKNavigationResponsePolicy)>,
        ) {
            // SAFETY: plain getters of the response WebKit passed us.
            let (main_frame, facts) = unsafe {
                (
                    response.isForMainFrame(),
                    response_facts(&response.response()),
                )
            };
            let verdict = self.ivars().flow.judge_response(main_frame, &facts);
            if main_frame {
                let read = matches!(verdict, ResponseVerdict::Read).then(|| facts.clone());
                self.ivars().binding.borrow_mut().responded(read);
            }
            if let ResponseVerdict::Refuse(refusal) = verdict {
                handler.call((WKNavigationResponsePolicy::Cancel,));
                warn!(
                    "refused the token answer of {}",
                    redact::url_str(&facts.url)
                );
                self.fail(
                    ErrorKind::Server,
                    format!("{}: {refusal}", host_of(self.ivars().flow.finesse())),
                );
                return;
            }
            if self.wry_has(sel!(webView:decidePolicyForNavigationResponse:decisionHandler:)) {
                // SAFETY: as above.
                unsafe {
                    self.ivars()
                        .wry
                        .webView_decidePolicyForNavigationResponse_decisionHandler(
                            webview, response, handler,
                        );
                }
            } else {
                handler.call((WKNavigationResponsePolicy::Allow,));
            }
        }

        #[unsafe(method(webView:didCommitNavigation:))]
        fn did_commit(&self, webview: &WKWebView, navigation: Option<&WKNavigation>) {
            {
                let mut binding = self.ivars().binding.borrow_mut();
                match navigation {
                    Some(n) => binding.committed(&NavId(n.retain())),
                    None => binding.failed(),
                }
            }
            if self.wry_has(sel!(webView:didCommitNavigation:)) {
                // SAFETY: as above (wry sends the page-started event and injects its scripts).
                unsafe {
                    self.ivars()
                        .wry
                        .webView_didCommitNavigation(webview, navigation)
                };
            }
        }

        #[unsafe(method(webView:didFinishNavigation:))]
        fn did_finish(&self, webview: &WKWebView, navigation: Option<&WKNavigation>) {
            if self.wry_has(sel!(webView:didFinishNavigation:)) {
                // SAFETY: as above (wry sends the page-finished event).
                unsafe {
                    self.ivars()
                        .wry
                        .webView_didFinishNavigation(webview, navigation)
                };
            }
            let facts = navigation.and_then(|n| {
                self.ivars()
                    .binding
                    .borrow_mut()
                    .finished(&NavId(n.retain()))
            });
            if let Some(facts) = facts {
                self.read_body(webview, facts);
            }
        }

        #[unsafe(method(webView:didFailProvisionalNavigation:withError:))]
        fn did_fail_provisional(
            &self,
            webview: &WKWebView,
            navigation: Option<&WKNavigation>,
            error: &NSError,
        ) {
            self.on_failure(webview, error);
            if self.wry_has(sel!(webView:didFailProvisionalNavigation:withError:)) {
                // SAFETY: as above.
                unsafe {
                    self.ivars()
                        .wry
                        .webView_didFailProvisionalNavigation_withError(webview, navigation, error);
                }
            }
        }

        #[unsafe(method(webView:didFailNavigation:withError:))]
        fn did_fail(
            &self,
            webview: &WKWebView,
            navigation: Option<&WKNavigation>,
            error: &NSError,
        ) {
            self.on_failure(webview, error);
            if self.wry_has(sel!(webView:didFailNavigation:withError:)) {
                // SAFETY: as above.
                unsafe {
                    self.ivars()
                        .wry
                        .webView_didFailNavigation_withError(webview, navigation, error);
                }
            }
        }

        // Client certificates are ours to answer (wry has no such method). Every other
        // challenge (server trust, HTTP and proxy authentication, Negotiate) gets what it got
        // before this method existed: wry's answer if it ever has one, else WebKit's default
        // handling, which is what WebKit does for a delegate without the method; for server
        // trust that is the system's own evaluation, so TLS checks stay as they were.
        #[unsafe(method(webView:didReceiveAuthenticationChallenge:completionHandler:))]
        fn did_receive_challenge(
            &self,
            webview: &WKWebView,
            challenge: &NSURLAuthenticationChallenge,
            handler: &DynBlock<dyn Fn(NSURLSessionAuthChallengeDisposition, *mut NSURLCredential)>,
        ) {
            if CertPicker::asks_for_certificate(challenge) {
                let reply = self.ivars().certs.answer(challenge);
                let credential = reply
                    .credential
                    .as_ref()
                    .map_or(std::ptr::null_mut(), |c| Retained::as_ptr(c).cast_mut());
                handler.call((reply.disposition, credential));
                if let Some(message) = reply.refusal {
                    self.fail(ErrorKind::Usage, message);
                }
                return;
            }
            if self.wry_has(sel!(webView:didReceiveAuthenticationChallenge:completionHandler:)) {
                // SAFETY: as above.
                unsafe {
                    self.ivars()
                        .wry
                        .webView_didReceiveAuthenticationChallenge_completionHandler(
                            webview, challenge, handler,
                        );
                }
            } else {
                handler.call((
                    NSURLSessionAuthChallengeDisposition::PerformDefaultHandling,
                    std::ptr::null_mut(),
                ));
            }
        }

        #[unsafe(method(webView:navigationResponse:didBecomeDownload:))]
        fn response_became_download(
            &self,
            webview: &WKWebView,
            response: &WKNavigationResponse,
            download: &WKDownload,
        ) {
            // A response that turns into a download is never rendered, so never read.
            self.ivars().binding.borrow_mut().failed();
            if self.wry_has(sel!(webView:navigationResponse:didBecomeDownload:)) {
                // SAFETY: as above.
                unsafe {
                    self.ivars()
                        .wry
                        .webView_navigationResponse_didBecomeDownload(webview, response, download);
                }
            }
        }
    }
);

impl CaptureDelegate {
    /// Replaces the webview's navigation delegate (wry's) with one that forwards to it.
    /// False when there is none to stand in front of.
    pub fn install(
        webview: &WKWebView,
        flow: Flow,
        proxy: EventLoopProxy<Ev>,
        last_denied: Rc<RefCell<Option<DenyReason>>>,
        certificate: (Option<ClientCertificate>, bool),
    ) -> bool {
        let mtm: MainThreadMarker = webview.mtm();
        // SAFETY: a getter; wry set this delegate while building the webview.
        let Some(wry) = (unsafe { webview.navigationDelegate() }) else {
            return false;
        };
        // SAFETY: a class method returning a world owned by WebKit.
        let world = unsafe { WKContentWorld::worldWithName(&NSString::from_str(WORLD), mtm) };
        let this = Self::alloc(mtm).set_ivars(Ivars {
            wry,
            flow,
            binding: RefCell::new(DocumentBinding::default()),
            proxy,
            last_denied,
            world,
            certs: CertPicker::new(certificate.0, certificate.1),
        });
        // SAFETY: NSObject's designated initialiser.
        let this: Retained<Self> = unsafe { msg_send![super(this), init] };
        // SAFETY: the delegate is kept alive in `INSTALLED` for the life of the process.
        unsafe { webview.setNavigationDelegate(Some(ProtocolObject::from_ref(&*this))) };
        INSTALLED.with(|d| *d.borrow_mut() = Some(this));
        true
    }

    fn wry_has(&self, sel: Sel) -> bool {
        self.ivars().wry.respondsToSelector(sel)
    }

    fn fail(&self, kind: ErrorKind, message: String) {
        let _ = self.ivars().proxy.send_event(Ev::Fail { kind, message });
    }

    /// A main-frame load failed: nothing of it is read; the loop hears what the Linux window
    /// would tell it (a cancellation for its stranded-load check, a refusal, a TLS or network
    /// failure).
    fn on_failure(&self, webview: &WKWebView, error: &NSError) {
        self.ivars().binding.borrow_mut().failed();
        let (domain, code) = (error.domain().to_string(), error.code());
        let url = failing_url(webview, error);
        let url_domain = domain == "NSURLErrorDomain";
        if url_domain && code == NSURLErrorCancelled {
            // Superseded by a newer navigation, or given up by WebKit itself.
            let _ = self.ivars().proxy.send_event(Ev::MainLoadCancelled(url));
            return;
        }
        if domain == WEBKIT_ERROR_DOMAIN && code == FRAME_LOAD_INTERRUPTED {
            // A policy decision stopped it: ours says why (our response refusal already did).
            if let Some(reason) = self.ivars().last_denied.borrow_mut().take() {
                self.fail(
                    ErrorKind::Server,
                    format!("the sign-in was sent somewhere refused: {reason}"),
                );
            }
            return;
        }
        let hostport = Url::parse(&url)
            .map(|u| host_of(&u))
            .unwrap_or_else(|_| "<unknown host>".into());
        let detail = error.localizedDescription().to_string();
        let tls = url_domain && TLS_CODES.contains(&code);
        // A handshake that failed after this window answered the host's certificate request.
        if let Some((kind, message)) = tls
            .then(|| self.ivars().certs.failure(&hostport, &detail))
            .flatten()
        {
            self.fail(kind, message);
            return;
        }
        let kind = if tls {
            ErrorKind::Tls
        } else {
            ErrorKind::Network
        };
        self.fail(kind, format!("{hostport}: {detail}"));
    }

    /// Reads the judged token document in the isolated world; the facts (URL, status, MIME)
    /// stay the engine's, the read only supplies the bytes.
    fn read_body(&self, webview: &WKWebView, facts: ResponseFacts) {
        let once = Cell::new(Some((self.ivars().proxy.clone(), facts)));
        let done = RcBlock::new(move |result: *mut AnyObject, error: *mut NSError| {
            if let Some((proxy, facts)) = once.take() {
                // SAFETY: WebKit passes a valid object or null for each.
                let ev = unsafe { body_event(result.as_ref(), error.as_ref(), facts) };
                let _ = proxy.send_event(ev);
            }
        });
        // SAFETY: main thread (we are WebKit's delegate); `None` frame is the main frame.
        unsafe {
            webview.evaluateJavaScript_inFrame_inContentWorld_completionHandler(
                &NSString::from_str(READ_JS),
                None,
                &self.ivars().world,
                Some(&done),
            );
        }
    }
}

/// The engine's facts of a response: URL, HTTP status (0 when not HTTP), MIME type, declared
/// length (none when unknown, -1).
///
/// # Safety
/// `response` is one WebKit passed (plain getters).
unsafe fn response_facts(response: &NSURLResponse) -> ResponseFacts {
    let url = response
        .URL()
        .and_then(|u| u.absoluteString())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let status = response
        .downcast_ref::<NSHTTPURLResponse>()
        .map_or(0, |h| u16::try_from(h.statusCode()).unwrap_or(0));
    ResponseFacts {
        url,
        status,
        mime: response
            .MIMEType()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        declared_len: u64::try_from(response.expectedContentLength()).ok(),
    }
}

/// The URL a failure names, else the webview's.
fn failing_url(webview: &WKWebView, error: &NSError) -> String {
    // SAFETY: an immutable `NSString` constant of Foundation.
    let key = unsafe { NSURLErrorFailingURLErrorKey };
    error
        .userInfo()
        .objectForKey(key)
        .and_then(|v| v.downcast::<NSURL>().ok())
        .and_then(|u| u.absoluteString())
        .map(|s| s.to_string())
        .or_else(|| {
            // SAFETY: a getter on the main thread.
            unsafe { webview.URL() }
                .and_then(|u| u.absoluteString())
                .map(|s| s.to_string())
        })
        .unwrap_or_default()
}

/// Turns the isolated-world read into the document event, or a failure.
///
/// # Safety
/// `result` and `error` are what WebKit passed the completion handler.
unsafe fn body_event(
    result: Option<&AnyObject>,
    error: Option<&NSError>,
    facts: ResponseFacts,
) -> Ev {
    let fail = |message: String| Ev::Fail {
        kind: ErrorKind::Webview,
        message,
    };
    if let Some(e) = error {
        return fail(format!(
            "reading the token page: {}",
            e.localizedDescription()
        ));
    }
    let Some(text) = result.and_then(|r| r.downcast_ref::<NSString>()) else {
        return fail("reading the token page gave no text".into());
    };
    let read: serde_json::Value = match serde_json::from_str(&text.to_string()) {
        Ok(v) => v,
        Err(_) => return fail("reading the token page gave no JSON".into()),
    };
    let field = |k: &str| read[k].as_str().unwrap_or("").to_string();
    if !facts.describes(&field("url"), &field("ct")) {
        // The document is not the response judged for this navigation.
        return fail(format!(
            "the token page at {} changed before it was read",
            redact::url_str(&facts.url)
        ));
    }
    Ev::Document {
        url: facts.url,
        status: facts.status,
        mime: facts.mime,
        body: field("body").into_bytes(),
    }
}
