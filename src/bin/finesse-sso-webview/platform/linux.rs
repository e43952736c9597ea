//! Linux (WebKitGTK): the process set-up GTK and WebKit need, the webview inside tao's GTK box,
//! reading the main resource natively (page script cannot forge it), trusting `--ca-file` for
//! exactly the certificates that chain to it, refusing oversized token answers unread, and load
//! failures (including the ones WebKit reports only as a cancellation).

use finesse_sso::error::ErrorKind;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use tao::event_loop::EventLoopProxy;
use tao::window::Window;
use url::Url;
use webkit2gtk::glib::prelude::Cast;
use webkit2gtk::{
    PolicyDecisionExt, PolicyDecisionType, ResponsePolicyDecision, ResponsePolicyDecisionExt,
    URIResponseExt, WebContextExt, WebResourceExt, WebViewExt,
};
use wry::{WebView, WebViewBuilder, WebViewExtUnix};

use finesse_sso::error::host_of;
use finesse_sso::flow::document::size_gate;
use finesse_sso::flow::{DenyReason, Flow};
use finesse_sso::redact;
use finesse_sso::window::{KnownChain, WindowRequest};

use crate::event::Ev;

/// Before any thread or toolkit starts: private files. (The rendering variables come from the
/// parent, `finesse_sso::window::rendering`, which also restarts a window that cannot render.)
pub fn prepare_process() {
    // Private files from WebKit, Mesa and GStreamer caches alike.
    // SAFETY: umask has no preconditions.
    unsafe {
        libc::umask(0o077);
    }
}

/// Why no window can open here, checked before GTK (which panics without a display).
pub fn display_problem() -> Option<String> {
    (!finesse_sso::window::process::have_display())
        .then(|| "neither DISPLAY nor WAYLAND_DISPLAY is set".to_string())
}

/// The webview fills tao's GTK box (wry's `build` wants a raw window handle GTK does not give).
pub fn build_webview(builder: WebViewBuilder<'_>, window: &Window) -> Result<WebView, String> {
    use tao::platform::unix::WindowExtUnix;
    use wry::WebViewBuilderExtUnix;
    let vbox = window.default_vbox().ok_or("the window has no GTK box")?;
    builder.build_gtk(vbox).map_err(|e| e.to_string())
}

/// Reads the committed main resource: URI, status and MIME type from the network response,
/// bytes from the engine's resource cache.
pub fn read_document(webview: &WebView, proxy: EventLoopProxy<Ev>) {
    let wk = webview.webview();
    // No record of the page that just finished: WebKit dropped that load. The session treats it
    // as a cancelled load (loaded again, or a clear error), never as a silent wait.
    let dropped = || {
        let url = wk.uri().map(|s| s.to_string()).unwrap_or_default();
        tracing::debug!("no main resource for the finished token page");
        let _ = proxy.send_event(Ev::MainLoadCancelled(url));
    };
    let Some(res) = wk.main_resource() else {
        return dropped();
    };
    let Some(resp) = res.response() else {
        return dropped();
    };
    let url = res.uri().map(|s| s.to_string()).unwrap_or_default();
    let status = resp.status_code() as u16;
    let mime = resp.mime_type().map(|s| s.to_string()).unwrap_or_default();
    res.data(None::<&webkit2gtk::gio::Cancellable>, move |r| match r {
        Ok(body) => {
            let _ = proxy.send_event(Ev::Document {
                url,
                status,
                mime,
                body,
            });
        }
        Err(e) => {
            let _ = proxy.send_event(Ev::Fail {
                kind: ErrorKind::Webview,
                message: format!("reading the token page: {e}"),
            });
        }
    });
}

type Allowed = (String, Vec<u8>);

/// Reloads per (host, certificate) after allowing it, before the rejection counts as final.
const MAX_TLS_RETRIES: u32 = 5;

/// The wait before the `n`th reload of one allowed (host, certificate): none for the first,
/// then 100, 200, 400, 800 ms. The allowance reaches WebKit's network process over IPC; a
/// request handshaken before it arrives fails again with the same certificate, and on a loaded
/// machine immediate reloads could all lose that race (seen once under load 13).
fn tls_retry_delay(n: u32) -> std::time::Duration {
    match n {
        0 | 1 => std::time::Duration::ZERO,
        n => std::time::Duration::from_millis(100 << (n - 2).min(4)),
    }
}

/// Trusts `ca_pem` (`--ca-file`) for this sign-in: WebKitGTK cannot take a CA, so each
/// certificate it rejects is verified by us and, when it chains to the CA, allowed for exactly
/// that host. Any other TLS failure ends the sign-in.
pub fn trust_ca(webview: &WebView, ca_pem: Option<String>, proxy: EventLoopProxy<Ev>) {
    let wk = webview.webview();
    // How often each (host, leaf DER) pair was allowed. A failure right after allowing can come
    // from a request already in flight, so a few retries are normal; past that it is final.
    let allowed: Rc<RefCell<HashMap<Allowed, u32>>> = Rc::default();
    wk.connect_load_failed_with_tls_errors(move |wv, uri, cert, flags| {
        let host = Url::parse(uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let hostport = Url::parse(uri)
            .map(|u| host_of(&u))
            .unwrap_or_else(|_| host.clone());
        let chain = chain_der(cert);
        let verdict = match &ca_pem {
            None => Err(format!("certificate not trusted ({flags:?})")),
            Some(pem) => finesse_sso::http::verify_chain(pem.as_bytes(), &host, &chain)
                .map_err(|e| format!("certificate not trusted by the system or --ca-file: {e}")),
        };
        match verdict {
            Ok(())
                if {
                    let mut seen = allowed.borrow_mut();
                    let n = seen.entry((host.clone(), chain[0].clone())).or_insert(0);
                    *n += 1;
                    *n <= MAX_TLS_RETRIES
                } =>
            {
                // WebKitGTK cannot take a CA; allow this exact certificate for this host, then retry.
                tracing::info!(
                    "{hostport}: certificate chains to --ca-file; allowing it for this host"
                );
                if let Some(ctx) = wv.context() {
                    ctx.allow_tls_certificate_for_host(cert, &host);
                }
                // The session reloads once WebKit is done with this failure, and again if
                // the failure's clean-up undid that load (a load started inside the handler is
                // undone; on a loaded machine one started just after it can be too).
                let n = allowed
                    .borrow()
                    .get(&(host.clone(), chain[0].clone()))
                    .copied()
                    .unwrap_or(1);
                let (proxy, uri) = (proxy.clone(), uri.to_string());
                let delay = tls_retry_delay(n);
                if delay.is_zero() {
                    let _ = proxy.send_event(Ev::Reload(uri));
                } else {
                    webkit2gtk::glib::timeout_add_local_once(delay, move || {
                        let _ = proxy.send_event(Ev::Reload(uri));
                    });
                }
            }
            Ok(()) => {
                let _ = proxy.send_event(Ev::Fail {
                    kind: ErrorKind::Tls,
                    message: format!(
                        "{hostport}: certificate still rejected after allowing it ({flags:?})"
                    ),
                });
            }
            Err(msg) => {
                tracing::warn!("TLS failure loading {}", redact::url_str(uri));
                let _ = proxy.send_event(Ev::Fail {
                    kind: ErrorKind::Tls,
                    message: format!("{hostport}: {msg}"),
                });
            }
        }
        true
    });
}

/// Signal handlers the portable wry API does not offer: the proxy route and its challenge
/// (`linux_proxy`), the main load's cancellations, the token answer's size, the renderer
/// ending, load failures.
pub fn attach_hooks(
    webview: &WebView,
    req: &WindowRequest,
    proxy: EventLoopProxy<Ev>,
    last_denied: Rc<RefCell<Option<DenyReason>>>,
) {
    super::linux_proxy::attach(webview, req, proxy.clone());
    let wk = webview.webview();
    // First: its `load-failed` handler names a refused client certificate before ours below.
    super::linux_auth::attach(&wk, req, proxy.clone());
    {
        let proxy = proxy.clone();
        wk.connect_resource_load_started(move |wv, res, _| {
            if wv.main_resource().as_ref() != Some(res) {
                return;
            }
            let cancelled = proxy.clone();
            // WebKit drops some redirects (to `file:`) by cancelling the main resource, without
            // asking the navigation policy or failing the view's load; the loop decides if it
            // was that.
            res.connect_failed(move |r, err| {
                if is_cancellation(err) {
                    let url = r.uri().map(|s| s.to_string()).unwrap_or_default();
                    let _ = cancelled.send_event(Ev::MainLoadCancelled(url));
                }
            });
        });
    }
    {
        // A token answer declared over the limit is refused before the engine reads it, let
        // alone renders it (50 MiB of text keeps WebKit busy past any timeout).
        let proxy = proxy.clone();
        let flow = Flow::new(&req.finesse);
        wk.connect_decide_policy(move |_wv, decision, kind| {
            if kind != PolicyDecisionType::Response {
                return false; // navigation actions are wry's (our navigation handler)
            }
            let Some(resp) = decision
                .downcast_ref::<ResponsePolicyDecision>()
                .and_then(|d| d.response())
            else {
                return false;
            };
            let Some(url) = resp.uri().filter(|u| flow.is_token_endpoint(u)) else {
                return false;
            };
            let Err(too_large) = size_gate(resp.content_length()) else {
                return false;
            };
            decision.ignore();
            tracing::warn!("refused the token answer of {}", redact::url_str(&url));
            let _ = proxy.send_event(Ev::Fail {
                kind: ErrorKind::Server,
                message: too_large.to_string(),
            });
            true
        });
    }
    {
        // Without this a crashed renderer (or one killed for memory) leaves the window waiting
        // for a page that never finishes, until the sign-in's timeout. The session decides.
        let proxy = proxy.clone();
        wk.connect_web_process_terminated(move |_wv, reason| {
            let why = match reason {
                webkit2gtk::WebProcessTerminationReason::Crashed => "crashed",
                webkit2gtk::WebProcessTerminationReason::ExceededMemoryLimit => {
                    "exceeded its memory limit"
                }
                _ => "was ended",
            };
            let _ = proxy.send_event(Ev::RendererGone(why));
        });
    }
    wk.connect_load_failed(move |_wv, _event, uri, err| {
        if err.matches(webkit2gtk::PolicyError::FrameLoadInterruptedByPolicyChange) {
            if let Some(reason) = last_denied.borrow_mut().take() {
                let _ = proxy.send_event(Ev::Fail {
                    kind: ErrorKind::Server,
                    message: format!("the sign-in was sent somewhere refused: {reason}"),
                });
            }
            return false;
        }
        if is_cancellation(err) {
            // Superseded by a newer navigation, or given up by WebKit itself (seen, rarely, on
            // a first load): the loop's stranded-load check tells the two apart.
            let _ = proxy.send_event(Ev::MainLoadCancelled(uri.to_string()));
            return false;
        }
        let hostport = Url::parse(uri)
            .map(|u| host_of(&u))
            .unwrap_or_else(|_| "<unknown host>".into());
        let _ = proxy.send_event(Ev::Fail {
            kind: ErrorKind::Network,
            message: format!("{hostport}: {}", err.message()),
        });
        false
    });
}

/// A load given up rather than failed. WebKit says so in its own domain, and libsoup in GIO's
/// (seen when a reload after allowing a certificate supersedes a request in flight).
fn is_cancellation(err: &webkit2gtk::glib::Error) -> bool {
    err.matches(webkit2gtk::NetworkError::Cancelled)
        || err.matches(webkit2gtk::gio::IOErrorEnum::Cancelled)
}

/// Allows, before the first request, each chain the parent's client verified that chains to
/// `--ca-file` for its host (checked here again, as [`trust_ca`] checks a rejected one): the
/// first load of that host then needs no failed attempt and reload (issue 16). Should the
/// engine still reject one, [`trust_ca`] handles it as before. Says whether it allowed any.
pub fn allow_known_chains(webview: &WebView, ca_pem: Option<&str>, known: &[KnownChain]) -> bool {
    let (Some(pem), Some(ctx)) = (ca_pem, webview.webview().context()) else {
        return false;
    };
    let mut allowed = false;
    for k in known {
        let Some(chain) = k.der() else { continue };
        if let Err(why) = finesse_sso::http::verify_chain(pem.as_bytes(), &k.host, &chain) {
            tracing::debug!("{}: not allowed ahead of the first request: {why}", k.host);
            continue;
        }
        let pems: Vec<_> = chain
            .iter()
            .map(|der| pem::Pem::new("CERTIFICATE", der.clone()))
            .collect();
        let pem_chain = pem::encode_many_config(
            &pems,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        match webkit2gtk::gio::TlsCertificate::from_pem(&pem_chain) {
            Ok(cert) => {
                ctx.allow_tls_certificate_for_host(&cert, &k.host);
                allowed = true;
                tracing::info!(
                    "{}: certificate chains to --ca-file (seen by the auth-mode check); \
                     allowing it for this host",
                    k.host
                );
            }
            Err(e) => tracing::debug!("{}: certificate not usable: {e}", k.host),
        }
    }
    allowed
}

fn chain_der(cert: &webkit2gtk::gio::TlsCertificate) -> Vec<Vec<u8>> {
    use webkit2gtk::gio::prelude::TlsCertificateExt;
    let mut out = Vec::new();
    let mut cur = Some(cert.clone());
    while let Some(c) = cur {
        if out.len() > 8 {
            break;
        }
        if let Some(der) = c.certificate() {
            out.push(der.to_vec());
        }
        cur = c.issuer();
    }
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_after_allowing_a_certificate_back_off_within_two_seconds() {
        let waits: Vec<u128> = (1..=MAX_TLS_RETRIES)
            .map(|n| tls_retry_delay(n).as_millis())
            .collect();
        assert_eq!(waits, [0, 100, 200, 400, 800]);
        assert!(waits.iter().sum::<u128>() < 2000);
    }
}
