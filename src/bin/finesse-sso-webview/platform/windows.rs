//! Windows (WebView2): process set-up, the webview in the window, `--ca-file` (the OS store
//! only), and the engine's own record of the token answer, gathered as facts for
//! `flow::document`: top-level navigation ids and URLs (`NavigationStarting`), each response's
//! status and headers (`WebResourceResponseReceived`), the body (`GetContent`), and how the
//! navigation ended (`NavigationCompleted`, `HttpStatusCode`). An oversized answer is stopped
//! unread. Top-level and frame navigations (`NavigationStarting`, `FrameNavigationStarting`) go
//! through the flow's one decision, asked here. Compile-checked only: no WebView2 runtime runs
//! here (docs/security.md).

use std::cell::RefCell;
use std::rc::Rc;

use finesse_sso::error::{ErrorKind, host_of};
use finesse_sso::finesse::token_response::MAX_TOKEN_RESPONSE_BYTES;
use finesse_sso::flow::DenyReason;
use finesse_sso::flow::document::{
    Ending, MainDocument, Response, ResponseVerdict, Step, denial_ends_signin, size_gate,
};
use finesse_sso::redact;
use finesse_sso::window::WindowRequest;
use tao::event_loop::EventLoopProxy;
use tao::window::Window;
use url::Url;
use webview2_com::Microsoft::Web::WebView2::Win32::*;
use webview2_com::{
    NavigationCompletedEventHandler, NavigationStartingEventHandler,
    WebResourceResponseReceivedEventHandler, WebResourceResponseViewGetContentCompletedHandler,
    take_pwstr,
};
use windows::Win32::System::Com::{IStream, STATFLAG_NONAME, STATSTG, STREAM_SEEK_SET};
use windows::core::{BOOL, HSTRING, Interface, PWSTR};
use wry::{WebView, WebViewBuilder, WebViewExtWindows};

use crate::event::Ev;

/// Nothing to set before the toolkit starts: WebView2 keeps its files in the data directory
/// the request names, which the parent made private.
pub fn prepare_process() {}

/// A desktop session always has a display.
pub fn display_problem() -> Option<String> {
    None
}

pub fn build_webview(builder: WebViewBuilder<'_>, window: &Window) -> Result<WebView, String> {
    builder.build(window).map_err(|e| e.to_string())
}

/// WebView2 verifies TLS against the Windows store only; a customer CA is added there.
pub fn trust_ca(_webview: &WebView, ca_pem: Option<String>, _proxy: EventLoopProxy<Ev>) {
    if ca_pem.is_some() {
        tracing::debug!("--ca-file is not used by the window here: it trusts the Windows store");
    }
}

/// Nothing to ask for: the hooks hand the token answer's record over on their own, once its
/// navigation ended and its body is in (`Ev::Document`).
pub fn read_document(_webview: &WebView, _proxy: EventLoopProxy<Ev>) {}

/// The engine hooks (see the module doc). `decide` is the flow's navigation decision: wry is
/// given none here, so these hooks ask it for every top-level and frame navigation and know its
/// answer for each navigation id.
pub fn attach_hooks(
    webview: &WebView,
    req: &WindowRequest,
    proxy: EventLoopProxy<Ev>,
    last_denied: Rc<RefCell<Option<DenyReason>>>,
    decide: Rc<dyn Fn(String) -> bool>,
) {
    super::windows_proxy::attach(webview, req, proxy.clone());
    let core = webview.webview();
    super::windows_cert::attach(&core, req, proxy.clone());
    let tracker = Rc::new(RefCell::new(MainDocument::new(&req.finesse)));
    if let Err(e) = attach(&core, &tracker, &proxy, last_denied, decide) {
        // No navigation checks or no native record: no sign-in (a script read is what this
        // replaced).
        let _ = proxy.send_event(Ev::Fail {
            kind: ErrorKind::Webview,
            message: format!(
                "the WebView2 runtime cannot report navigations and responses ({e}): update \
                 the Microsoft Edge WebView2 Runtime"
            ),
        });
    }
}

fn attach(
    core: &ICoreWebView2,
    tracker: &Rc<RefCell<MainDocument>>,
    proxy: &EventLoopProxy<Ev>,
    last_denied: Rc<RefCell<Option<DenyReason>>>,
    decide: Rc<dyn Fn(String) -> bool>,
) -> windows::core::Result<()> {
    // WebResourceResponseReceived is WebView2 1.0.705 and later.
    let core2: ICoreWebView2_2 = core.cast()?;
    let mut token = 0i64;
    let frames = {
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
    // SAFETY: a live webview and a handler it keeps a reference to.
    unsafe { core.add_FrameNavigationStarting(&frames, &mut token)? };

    let starting = {
        let (tracker, proxy) = (tracker.clone(), proxy.clone());
        NavigationStartingEventHandler::create(Box::new(move |_, args| {
            let Some(args) = args else { return Ok(()) };
            let (mut id, mut redirected) = (0u64, BOOL(0));
            let mut uri = PWSTR::null();
            // SAFETY: valid out-pointers into this frame; the string is ours to free.
            unsafe {
                args.NavigationId(&mut id)?;
                args.IsRedirected(&mut redirected)?;
                args.Uri(&mut uri)?;
            }
            let uri = take_pwstr(uri);
            let allow = decide(uri.clone());
            // SAFETY: the event's own args, inside its handler.
            unsafe { args.SetCancel(!allow)? };
            tracker.borrow_mut().started(id, &uri, !allow);
            if !allow
                && let Some(reason) = last_denied.borrow_mut().take()
                // Fatal reasons were reported by the decision itself.
                && !reason.is_fatal()
                && denial_ends_signin(&reason, redirected.as_bool())
            {
                let _ = proxy.send_event(Ev::Fail {
                    kind: ErrorKind::Server,
                    message: format!("the sign-in was sent somewhere refused: {reason}"),
                });
            }
            Ok(())
        }))
    };
    // SAFETY: as above.
    unsafe { core.add_NavigationStarting(&starting, &mut token)? };

    let completed = {
        let (tracker, proxy) = (tracker.clone(), proxy.clone());
        NavigationCompletedEventHandler::create(Box::new(move |_, args| {
            let Some(args) = args else { return Ok(()) };
            let (mut id, mut success) = (0u64, BOOL(0));
            let mut error = COREWEBVIEW2_WEB_ERROR_STATUS::default();
            // SAFETY: valid out-pointers into this frame.
            unsafe {
                args.NavigationId(&mut id)?;
                args.IsSuccess(&mut success)?;
                args.WebErrorStatus(&mut error)?;
            }
            // NavigationCompletedEventArgs2 is WebView2 1.0.1245 and later.
            let http = args
                .cast::<ICoreWebView2NavigationCompletedEventArgs2>()
                .ok()
                .and_then(|a| {
                    let mut code = 0i32;
                    // SAFETY: a valid out-pointer.
                    unsafe { a.HttpStatusCode(&mut code) }.ok()?;
                    u16::try_from(code).ok()
                });
            let ending = if success.as_bool() {
                Ending::Loaded
            } else if error == COREWEBVIEW2_WEB_ERROR_STATUS_OPERATION_CANCELED {
                Ending::Cancelled
            } else {
                Ending::Failed
            };
            let step = tracker.borrow_mut().ended(id, ending, http);
            if let Some(step) = step {
                deliver(step, &proxy, error);
            }
            Ok(())
        }))
    };
    // SAFETY: as above.
    unsafe { core.add_NavigationCompleted(&completed, &mut token)? };

    let received = {
        let (tracker, proxy, core) = (tracker.clone(), proxy.clone(), core.clone());
        WebResourceResponseReceivedEventHandler::create(Box::new(move |_, args| {
            let Some(args) = args else { return Ok(()) };
            // SAFETY: the event's own args, inside its handler.
            let (request, response) = unsafe { (args.Request()?, args.Response()?) };
            let facts = Facts::gather(&request, &response)?;
            // The borrow ends before GetContent, which may call back at once.
            let verdict = tracker.borrow_mut().response(&facts.as_response());
            match verdict {
                ResponseVerdict::Ignore => {}
                ResponseVerdict::Refuse(refusal) => {
                    // Stop before the engine renders it; the sign-in ends with this error.
                    // SAFETY: a live webview, on its own thread.
                    let _ = unsafe { core.Stop() };
                    tracing::warn!(
                        "refused the token answer of {}",
                        redact::url_str(&facts.url)
                    );
                    let _ = proxy.send_event(Ev::Fail {
                        kind: ErrorKind::Server,
                        message: refusal.to_string(),
                    });
                }
                ResponseVerdict::Read(id) => read_body(&response, id, &tracker, &proxy),
            }
            Ok(())
        }))
    };
    // SAFETY: as above.
    unsafe { core2.add_WebResourceResponseReceived(&received, &mut token) }
}

/// Asks the engine for the body of the response it recorded, gated on the stored size.
fn read_body(
    response: &ICoreWebView2WebResourceResponseView,
    id: u64,
    tracker: &Rc<RefCell<MainDocument>>,
    proxy: &EventLoopProxy<Ev>,
) {
    let (tracker, proxy) = (tracker.clone(), proxy.clone());
    let on_failure = proxy.clone();
    let handler = WebResourceResponseViewGetContentCompletedHandler::create(Box::new(
        move |result, stream: Option<IStream>| {
            let body = match (result, stream) {
                (Ok(()), Some(stream)) => match read_stream(&stream) {
                    Ok(bytes) => Some(bytes),
                    Err(message) => {
                        let _ = proxy.send_event(Ev::Fail {
                            kind: ErrorKind::Server,
                            message,
                        });
                        return Ok(());
                    }
                },
                // No stream (seen for some compressed answers) or a failed read: no body.
                _ => None,
            };
            let step = tracker.borrow_mut().body(id, body);
            if let Some(step) = step {
                deliver(step, &proxy, COREWEBVIEW2_WEB_ERROR_STATUS_UNKNOWN);
            }
            Ok(())
        },
    ));
    // SAFETY: a live response view and a handler it keeps a reference to.
    if let Err(e) = unsafe { response.GetContent(&handler) } {
        let _ = on_failure.send_event(Ev::Fail {
            kind: ErrorKind::Webview,
            message: format!("reading the token page: {e}"),
        });
    }
}

/// The stored body, refused unread when over the token limit.
fn read_stream(stream: &IStream) -> Result<Vec<u8>, String> {
    let mut stat = STATSTG::default();
    // SAFETY: a valid out-pointer; NONAME: no name string to free.
    unsafe { stream.Stat(&mut stat, STATFLAG_NONAME) }
        .map_err(|e| format!("reading the token page: {e}"))?;
    size_gate(stat.cbSize).map_err(|e| e.to_string())?;
    // SAFETY: a live stream of ours.
    unsafe { stream.Seek(0, STREAM_SEEK_SET, None) }
        .map_err(|e| format!("reading the token page: {e}"))?;
    // One byte over the limit, so a stream longer than it said is caught by the parse.
    let cap = MAX_TOKEN_RESPONSE_BYTES + 1;
    let mut body = vec![0u8; cap];
    let mut filled = 0usize;
    while filled < cap {
        let mut got = 0u32;
        let want = u32::try_from(cap - filled).unwrap_or(u32::MAX);
        // SAFETY: `want` bytes are free at `filled` in `body`; `got` is a valid out-pointer.
        let hr = unsafe { stream.Read(body[filled..].as_mut_ptr().cast(), want, Some(&mut got)) };
        hr.ok()
            .map_err(|e| format!("reading the token page: {e}"))?;
        if got == 0 {
            break;
        }
        filled += got as usize;
    }
    body.truncate(filled);
    Ok(body)
}

/// What one `WebResourceResponseReceived` reports, as owned strings.
struct Facts {
    url: String,
    status: u16,
    content_type: Option<String>,
    content_length: Option<String>,
    fetch_dest: Option<String>,
    fetch_mode: Option<String>,
}

impl Facts {
    fn gather(
        request: &ICoreWebView2WebResourceRequest,
        response: &ICoreWebView2WebResourceResponseView,
    ) -> windows::core::Result<Facts> {
        let mut uri = PWSTR::null();
        let mut status = 0i32;
        // SAFETY: valid out-pointers; the string is ours to free.
        let (request_headers, response_headers) = unsafe {
            request.Uri(&mut uri)?;
            response.StatusCode(&mut status)?;
            (request.Headers()?, response.Headers()?)
        };
        let sent = |name: &str| request_header(&request_headers, name);
        let got = |name: &str| response_header(&response_headers, name);
        Ok(Facts {
            url: take_pwstr(uri),
            status: u16::try_from(status).unwrap_or(0),
            content_type: got("Content-Type"),
            content_length: got("Content-Length"),
            fetch_dest: sent("Sec-Fetch-Dest"),
            fetch_mode: sent("Sec-Fetch-Mode"),
        })
    }

    fn as_response(&self) -> Response<'_> {
        Response {
            url: &self.url,
            status: self.status,
            content_type: self.content_type.as_deref(),
            content_length: self.content_length.as_deref(),
            fetch_dest: self.fetch_dest.as_deref(),
            fetch_mode: self.fetch_mode.as_deref(),
        }
    }
}

fn response_header(headers: &ICoreWebView2HttpResponseHeaders, name: &str) -> Option<String> {
    let name = HSTRING::from(name);
    let (mut present, mut value) = (BOOL(0), PWSTR::null());
    // SAFETY: valid out-pointers; the string is ours to free.
    unsafe {
        headers.Contains(&name, &mut present).ok()?;
        if !present.as_bool() {
            return None;
        }
        headers.GetHeader(&name, &mut value).ok()?;
    }
    Some(take_pwstr(value))
}

fn request_header(headers: &ICoreWebView2HttpRequestHeaders, name: &str) -> Option<String> {
    let name = HSTRING::from(name);
    let (mut present, mut value) = (BOOL(0), PWSTR::null());
    // SAFETY: valid out-pointers; the string is ours to free.
    unsafe {
        headers.Contains(&name, &mut present).ok()?;
        if !present.as_bool() {
            return None;
        }
        headers.GetHeader(&name, &mut value).ok()?;
    }
    Some(take_pwstr(value))
}

/// Turns the tracker's step into the loop's event.
fn deliver(step: Step, proxy: &EventLoopProxy<Ev>, error: COREWEBVIEW2_WEB_ERROR_STATUS) {
    let ev = match step {
        Step::Document(d) => Ev::Document {
            url: d.url,
            status: d.status,
            mime: d.mime,
            body: d.body,
        },
        Step::Refused(refusal) => Ev::Fail {
            kind: ErrorKind::Server,
            message: refusal.to_string(),
        },
        // Superseded, or dropped by the engine: the loop's stranded-load check tells which.
        Step::Cancelled(url) => Ev::MainLoadCancelled(url),
        Step::Failed(url) => {
            let hostport = Url::parse(&url)
                .map(|u| host_of(&u))
                .unwrap_or_else(|_| "<unknown host>".into());
            let (kind, what) = web_error(error);
            Ev::Fail {
                kind,
                message: format!("{hostport}: {what}"),
            }
        }
    };
    let _ = proxy.send_event(ev);
}

/// WebView2's load error, named, with the error kind it maps to.
fn web_error(error: COREWEBVIEW2_WEB_ERROR_STATUS) -> (ErrorKind, &'static str) {
    match error {
        COREWEBVIEW2_WEB_ERROR_STATUS_CERTIFICATE_COMMON_NAME_IS_INCORRECT => {
            (ErrorKind::Tls, "the certificate names another host")
        }
        COREWEBVIEW2_WEB_ERROR_STATUS_CERTIFICATE_EXPIRED => {
            (ErrorKind::Tls, "the certificate has expired")
        }
        COREWEBVIEW2_WEB_ERROR_STATUS_CLIENT_CERTIFICATE_CONTAINS_ERRORS => {
            (ErrorKind::Tls, "the client certificate has errors")
        }
        COREWEBVIEW2_WEB_ERROR_STATUS_CERTIFICATE_REVOKED => {
            (ErrorKind::Tls, "the certificate is revoked")
        }
        COREWEBVIEW2_WEB_ERROR_STATUS_CERTIFICATE_IS_INVALID => (
            ErrorKind::Tls,
            "certificate not trusted by the Windows store",
        ),
        COREWEBVIEW2_WEB_ERROR_STATUS_SERVER_UNREACHABLE => {
            (ErrorKind::Network, "server unreachable")
        }
        COREWEBVIEW2_WEB_ERROR_STATUS_TIMEOUT => (ErrorKind::Network, "timed out"),
        COREWEBVIEW2_WEB_ERROR_STATUS_ERROR_HTTP_INVALID_SERVER_RESPONSE => {
            (ErrorKind::Network, "invalid server response")
        }
        COREWEBVIEW2_WEB_ERROR_STATUS_CONNECTION_ABORTED => {
            (ErrorKind::Network, "connection aborted")
        }
        COREWEBVIEW2_WEB_ERROR_STATUS_CONNECTION_RESET => (ErrorKind::Network, "connection reset"),
        COREWEBVIEW2_WEB_ERROR_STATUS_DISCONNECTED => (ErrorKind::Network, "disconnected"),
        COREWEBVIEW2_WEB_ERROR_STATUS_CANNOT_CONNECT => (ErrorKind::Network, "cannot connect"),
        COREWEBVIEW2_WEB_ERROR_STATUS_HOST_NAME_NOT_RESOLVED => {
            (ErrorKind::Network, "host name not resolved")
        }
        COREWEBVIEW2_WEB_ERROR_STATUS_REDIRECT_FAILED => (ErrorKind::Network, "redirect failed"),
        COREWEBVIEW2_WEB_ERROR_STATUS_VALID_AUTHENTICATION_CREDENTIALS_REQUIRED => {
            (ErrorKind::Network, "the server wants HTTP authentication")
        }
        COREWEBVIEW2_WEB_ERROR_STATUS_VALID_PROXY_AUTHENTICATION_REQUIRED => {
            (ErrorKind::Network, "the proxy wants authentication")
        }
        _ => (ErrorKind::Network, "the load failed"),
    }
}
