//! Windows (WebView2): an IdP's request for a TLS client certificate
//! (`ClientCertificateRequested`), answered with the first certificate of the Windows store that
//! the server trusts and that matches `[client_certificate]`'s `issuer`/`subject` rules. A smart
//! card's PIN is asked by its own Windows Security prompt (the CSP's), never by us.
//! Compile-checked only: no WebView2 runtime runs here (docs/administrators.md).

use finesse_sso::client_cert::{ClientCertificate, name_matches};
use finesse_sso::error::ErrorKind;
use finesse_sso::window::WindowRequest;
use tao::event_loop::EventLoopProxy;
use webview2_com::Microsoft::Web::WebView2::Win32::*;
use webview2_com::{ClientCertificateRequestedEventHandler, take_pwstr};
use windows::core::{Interface, PWSTR};

use crate::event::Ev;

/// Connects the handler; a runtime without the event (before 1.0.961) keeps WebView2's own
/// certificate dialog.
pub fn attach(core: &ICoreWebView2, req: &WindowRequest, proxy: EventLoopProxy<Ev>) {
    let Ok(core5) = core.cast::<ICoreWebView2_5>() else {
        tracing::warn!("this WebView2 runtime cannot select client certificates: update it");
        return;
    };
    let config = req.client_certificate.clone();
    let interactive = req.interactive;
    let handler = ClientCertificateRequestedEventHandler::create(Box::new(move |_, args| {
        let Some(args) = args else { return Ok(()) };
        let mut host = PWSTR::null();
        let mut port = 0i32;
        // SAFETY: valid out-pointers; the string is ours to free (take_pwstr).
        unsafe {
            args.Host(&mut host)?;
            args.Port(&mut port)?;
        }
        let hostport = format!("{}:{port}", take_pwstr(host));
        // SAFETY: the event's own args, inside its handler.
        let offered = unsafe { args.MutuallyTrustedCertificates()? };
        let chosen = match &config {
            Some(rules) => choose(&offered, rules)?,
            None => None,
        };
        match chosen {
            Some((cert, subject, issuer)) => {
                tracing::info!(
                    "{hostport} asks for a client certificate: offering {subject} (issuer {issuer})"
                );
                // SAFETY: a certificate of this event's own collection.
                unsafe {
                    args.SetSelectedCertificate(&cert)?;
                    args.SetHandled(true)?;
                }
            }
            // The person picks in WebView2's own dialog, or chooses another sign-in method.
            None if interactive => {
                tracing::info!("{hostport} asks for a client certificate; none matches the config")
            }
            None => {
                // SAFETY: as above.
                unsafe { args.SetCancel(true)? };
                let _ = proxy.send_event(Ev::Fail {
                    kind: ErrorKind::Usage,
                    message: format!(
                        "{hostport} asks for a client certificate and none in the Windows store \
                         matches [client_certificate] (its issuer/subject rules; \
                         docs/administrators.md)"
                    ),
                });
            }
        }
        Ok(())
    }));
    let mut token = 0i64;
    // SAFETY: a live webview, on its own thread; the handler lives as long as the webview.
    if let Err(e) = unsafe { core5.add_ClientCertificateRequested(&handler, &mut token) } {
        tracing::warn!("cannot watch for client certificate requests: {e}");
    }
}

/// The first certificate whose subject and issuer satisfy the rules (absent rules pass), with
/// both names for the log. `file` and `pkcs11_uri` are Linux's: the store is Windows' source.
fn choose(
    offered: &ICoreWebView2ClientCertificateCollection,
    rules: &ClientCertificate,
) -> windows::core::Result<Option<(ICoreWebView2ClientCertificate, String, String)>> {
    if rules.issuer.is_none() && rules.subject.is_none() {
        return Ok(None);
    }
    let mut count = 0u32;
    // SAFETY: a valid out-pointer.
    unsafe { offered.Count(&mut count)? };
    for i in 0..count {
        // SAFETY: an index below the collection's count.
        let cert = unsafe { offered.GetValueAtIndex(i)? };
        let (mut subject, mut issuer) = (PWSTR::null(), PWSTR::null());
        // SAFETY: valid out-pointers; the strings are ours to free.
        unsafe {
            cert.Subject(&mut subject)?;
            cert.Issuer(&mut issuer)?;
        }
        let (subject, issuer) = (take_pwstr(subject), take_pwstr(issuer));
        let fits = |rule: &Option<String>, name: &str| {
            rule.as_deref().is_none_or(|r| name_matches(r, name))
        };
        if fits(&rules.subject, &subject) && fits(&rules.issuer, &issuer) {
            return Ok(Some((cert, subject, issuer)));
        }
    }
    Ok(None)
}
