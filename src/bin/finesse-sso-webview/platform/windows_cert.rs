//! Windows (WebView2): an IdP's request for a TLS client certificate
//! (`ClientCertificateRequested`), answered with the first certificate of the Windows store that
//! the server trusts and that matches `[client_certificate]`'s `issuer`/`subject` rules. A smart
//! card's PIN is asked by its own Windows Security prompt (the CSP's), never by us.
//! Compile-checked only: no WebView2 runtime runs here (docs/administrators.md).

use finesse_sso::client_cert::{CertAnswer, CertNames, answer_request};
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
        // Only read when rules can select from it.
        let offered = match &config {
            Some(rules) if rules.has_rules() => trusted_certificates(&args)?,
            _ => Vec::new(),
        };
        match answer_request(config.as_ref(), interactive, &hostport, STORE, offered) {
            CertAnswer::Offer(cert, names) => {
                tracing::info!(
                    "{hostport} asks for a client certificate: offering {}",
                    names.describe()
                );
                // SAFETY: a certificate of this event's own collection.
                unsafe {
                    args.SetSelectedCertificate(&cert)?;
                    args.SetHandled(true)?;
                }
            }
            // The person picks in WebView2's own dialog, or chooses another sign-in method.
            CertAnswer::EngineDefault => {
                tracing::info!("{hostport} asks for a client certificate; none matches the config")
            }
            CertAnswer::Refuse(message) => {
                // SAFETY: as above.
                unsafe { args.SetCancel(true)? };
                let _ = proxy.send_event(Ev::Fail {
                    kind: ErrorKind::Usage,
                    message,
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

/// Where the certificates come from, in messages.
const STORE: &str = "the Windows store";

/// The certificates WebView2 offers (those the server trusts, in the store's order), each with
/// its subject and issuer as WebView2 reports them. `file` and `pkcs11_uri` are Linux's: the
/// store is Windows' source.
fn trusted_certificates(
    args: &ICoreWebView2ClientCertificateRequestedEventArgs,
) -> windows::core::Result<Vec<(ICoreWebView2ClientCertificate, CertNames)>> {
    // SAFETY: the event's own args, inside its handler.
    let offered = unsafe { args.MutuallyTrustedCertificates()? };
    let mut count = 0u32;
    // SAFETY: a valid out-pointer.
    unsafe { offered.Count(&mut count)? };
    let mut all = Vec::new();
    for i in 0..count {
        // SAFETY: an index below the collection's count.
        let cert = unsafe { offered.GetValueAtIndex(i)? };
        let (mut subject, mut issuer) = (PWSTR::null(), PWSTR::null());
        // SAFETY: valid out-pointers; the strings are ours to free.
        unsafe {
            cert.Subject(&mut subject)?;
            cert.Issuer(&mut issuer)?;
        }
        let names = CertNames {
            subject: vec![take_pwstr(subject)],
            issuer: vec![take_pwstr(issuer)],
        };
        all.push((cert, names));
    }
    Ok(all)
}
