//! Linux (WebKitGTK): an IdP's request for a TLS client certificate and the smart card's PIN
//! request, answered from `[client_certificate]` (a PEM or PKCS#12 file, or a PKCS#11 URI) and
//! the PIN the parent sent on stdin. Only those two schemes: every other `authenticate`
//! request propagates (`false`) to the other handlers (proxy authentication) or WebKit's own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use tao::event_loop::EventLoopProxy;
use url::Url;
use webkit2gtk::gio::prelude::TlsBackendExt;
use webkit2gtk::glib::prelude::Cast;
use webkit2gtk::glib::translate::ToGlibPtr;
use webkit2gtk::{
    AuthenticationRequest, AuthenticationRequestExt, AuthenticationScheme, Credential,
    CredentialPersistence, WebViewExt,
};

use finesse_sso::client_cert::{ClientCertificate, is_pkcs12};
use finesse_sso::error::{ErrorKind, host_of};
use finesse_sso::redact::Secret;
use finesse_sso::window::WindowRequest;

use crate::event::Ev;

/// PIN requests answered without a retry flag (new connections to the same card) before the
/// card counts as refusing: a bound, so no loop can spend the card's tries.
const MAX_PIN_ANSWERS: u32 = 3;

/// What this window told a host that asked for a certificate.
#[derive(Clone, Copy)]
enum Answer {
    Offered,
    NoneConfigured,
}

struct State {
    config: Option<ClientCertificate>,
    pin: Option<Secret<String>>,
    interactive: bool,
    /// Loaded on the first request only (a token is not touched unless an IdP asks).
    cert: Option<webkit2gtk::gio::TlsCertificate>,
    pin_answers: u32,
    asked: HashMap<String, Answer>,
}

/// Connects the `authenticate` handler (and a `load-failed` one that names a certificate
/// refusal as such). Call before the other `load-failed` handlers: the first failure sent wins.
pub fn attach(wk: &webkit2gtk::WebView, req: &WindowRequest, proxy: EventLoopProxy<Ev>) {
    let state = Rc::new(RefCell::new(State {
        config: req.client_certificate.clone(),
        pin: req.certificate_pin.clone(),
        interactive: req.interactive,
        cert: None,
        pin_answers: 0,
        asked: HashMap::new(),
    }));
    {
        let (state, proxy) = (state.clone(), proxy.clone());
        wk.connect_authenticate(move |_wv, request| match request.scheme() {
            AuthenticationScheme::ClientCertificateRequested => {
                certificate_requested(&state, request, &proxy);
                true
            }
            AuthenticationScheme::ClientCertificatePinRequested => {
                pin_requested(&state, request, &proxy);
                true
            }
            _ => false,
        });
    }
    wk.connect_load_failed(move |_wv, _event, uri, err| {
        if err.matches(webkit2gtk::NetworkError::Cancelled)
            || err.matches(webkit2gtk::gio::IOErrorEnum::Cancelled)
        {
            return false;
        }
        let Ok(url) = Url::parse(uri) else {
            return false;
        };
        let hostport = host_of(&url);
        let st = state.borrow();
        let (kind, message) = match st.asked.get(&hostport) {
            Some(Answer::Offered) => (
                ErrorKind::AuthRejected,
                format!(
                    "{hostport}: the client certificate was refused ({}): {}",
                    describe(&st.config),
                    err.message()
                ),
            ),
            Some(Answer::NoneConfigured) => (ErrorKind::Usage, none_configured(&hostport, &st)),
            None => return false,
        };
        let _ = proxy.send_event(Ev::Fail { kind, message });
        false
    });
}

fn describe(config: &Option<ClientCertificate>) -> String {
    config
        .as_ref()
        .map(ClientCertificate::describe)
        .unwrap_or_else(|| "none configured".into())
}

fn none_configured(hostport: &str, st: &State) -> String {
    let rules_only = st
        .config
        .as_ref()
        .is_some_and(|c| c.file.is_none() && c.pkcs11_uri.is_none());
    format!(
        "{hostport} asks for a client certificate and none is configured{}: set `file` or \
         `pkcs11_uri` in [client_certificate] (docs/administrators.md)",
        if rules_only {
            " for this platform (issuer/subject rules select only from the Windows and macOS stores)"
        } else {
            ""
        }
    )
}

fn request_host(request: &AuthenticationRequest) -> String {
    let host = request.host().map(|h| h.to_string()).unwrap_or_default();
    format!("{host}:{}", request.port())
}

fn fail(proxy: &EventLoopProxy<Ev>, kind: ErrorKind, message: String) {
    let _ = proxy.send_event(Ev::Fail { kind, message });
}

fn certificate_requested(
    state: &Rc<RefCell<State>>,
    request: &AuthenticationRequest,
    proxy: &EventLoopProxy<Ev>,
) {
    let hostport = request_host(request);
    let loaded = {
        let mut st = state.borrow_mut();
        let usable = st
            .config
            .clone()
            .filter(|c| c.file.is_some() || c.pkcs11_uri.is_some());
        match usable {
            None => {
                st.asked.insert(hostport.clone(), Answer::NoneConfigured);
                if st.interactive {
                    // The person may choose another sign-in method on the IdP's page.
                    tracing::info!("{hostport} asks for a client certificate; none configured");
                    None
                } else {
                    Some(Err((ErrorKind::Usage, none_configured(&hostport, &st))))
                }
            }
            Some(config) => {
                st.asked.insert(hostport.clone(), Answer::Offered);
                let cert = match st.cert.clone() {
                    Some(c) => Ok(c),
                    None => load(&config, st.pin.as_ref()),
                };
                if let Ok(c) = &cert {
                    st.cert = Some(c.clone());
                    tracing::info!(
                        "{hostport} asks for a client certificate: offering the {}",
                        config.describe()
                    );
                }
                Some(cert.map_err(|(kind, m)| (kind, format!("{hostport}: {m}"))))
            }
        }
    };
    match loaded {
        Some(Ok(cert)) => {
            let credential =
                Credential::for_certificate(Some(&cert), CredentialPersistence::ForSession);
            authenticate(request, Some(&credential));
        }
        Some(Err((kind, message))) => {
            request.cancel();
            fail(proxy, kind, message);
        }
        // Continue without a certificate, as a browser with none would.
        None => authenticate(request, None),
    }
}

fn pin_requested(
    state: &Rc<RefCell<State>>,
    request: &AuthenticationRequest,
    proxy: &EventLoopProxy<Ev>,
) {
    let hostport = request_host(request);
    let retry = request
        .certificate_pin_flags()
        .contains(webkit2gtk::gio::TlsPasswordFlags::RETRY);
    let answer = {
        let mut st = state.borrow_mut();
        let what = describe(&st.config);
        if retry || st.pin_answers >= MAX_PIN_ANSWERS {
            Err((
                ErrorKind::AuthRejected,
                format!(
                    "{hostport}: the {what} refused the PIN; it is not tried again (a card locks \
                     after a few wrong PINs)"
                ),
            ))
        } else if let Some(pin) = st.pin.clone() {
            st.pin_answers += 1;
            tracing::debug!("answering the PIN request (answer {})", st.pin_answers);
            Ok(pin)
        } else {
            Err((
                ErrorKind::PasswordRequired,
                format!(
                    "{hostport}: the {what} needs its PIN: give it with --pin-stdin or at the \
                     terminal prompt"
                ),
            ))
        }
    };
    match answer {
        Ok(pin) => {
            // Never kept beyond this request: a wrong PIN must not be replayed by the engine.
            let credential =
                Credential::for_certificate_pin(pin.expose(), CredentialPersistence::None);
            authenticate(request, Some(&credential));
        }
        Err((kind, message)) => {
            request.cancel();
            fail(proxy, kind, message);
        }
    }
}

/// `webkit_authentication_request_authenticate`, which the bindings lack; `None` continues
/// without a credential.
fn authenticate(request: &AuthenticationRequest, credential: Option<&Credential>) {
    let cred: *mut webkit2gtk::ffi::WebKitCredential = match credential {
        Some(c) => {
            ToGlibPtr::<*const webkit2gtk::ffi::WebKitCredential>::to_glib_none(c).0 as *mut _
        }
        None => std::ptr::null_mut(),
    };
    // SAFETY: both pointers are valid for the call (the request is borrowed, the credential
    // borrowed or NULL, which the API documents as "continue without"); WebKit copies the
    // credential and takes no ownership of either.
    unsafe {
        webkit2gtk::ffi::webkit_authentication_request_authenticate(request.to_glib_none().0, cred);
    }
}

/// The certificate as GLib's TLS backend holds it. Errors say which kind and how to fix it,
/// never the PIN.
fn load(
    config: &ClientCertificate,
    pin: Option<&Secret<String>>,
) -> Result<webkit2gtk::gio::TlsCertificate, (ErrorKind, String)> {
    use webkit2gtk::gio;
    let backend_type = gio::TlsBackend::default().certificate_type();
    let what = config.describe();
    let built = if let Some(uri) = &config.pkcs11_uri {
        // The key's URI too, though GLib would derive it: WebKit hands the certificate to its
        // network process by its properties, and a key URI GLib only derived does not travel.
        gio::Initable::builder_with_type(backend_type)
            .property("pkcs11-uri", uri.as_str())
            .property("private-key-pkcs11-uri", uri.as_str())
            .build(None::<&gio::Cancellable>)
    } else if let Some(file) = &config.file {
        if is_pkcs12(file) {
            let bytes = std::fs::read(file)
                .map_err(|e| (ErrorKind::Usage, format!("reading the {what}: {e}")))?;
            let mut b = gio::Initable::builder_with_type(backend_type)
                .property("pkcs12-data", webkit2gtk::glib::ByteArray::from(&bytes[..]));
            if let Some(pin) = pin {
                b = b.property("password", pin.expose().as_str());
            }
            b.build(None::<&gio::Cancellable>)
        } else {
            gio::TlsCertificate::from_file(file).map(|c| c.upcast())
        }
    } else {
        return Err((
            ErrorKind::Usage,
            "no certificate file or PKCS#11 URI".into(),
        ));
    };
    let object = built.map_err(|e| {
        if config.file.as_deref().is_some_and(is_pkcs12) && pin.is_none() {
            (
                ErrorKind::PasswordRequired,
                format!("the {what} needs its password: give it with --pin-stdin or at the terminal prompt"),
            )
        } else if config.file.as_deref().is_some_and(is_pkcs12) {
            (
                ErrorKind::AuthRejected,
                format!("the {what} could not be opened with the password given (not tried again): {}", e.message()),
            )
        } else {
            (ErrorKind::Usage, format!("cannot load the {what}: {}", e.message()))
        }
    })?;
    object.downcast::<gio::TlsCertificate>().map_err(|_| {
        (
            ErrorKind::Internal,
            format!("the {what} is not a TLS certificate"),
        )
    })
}
