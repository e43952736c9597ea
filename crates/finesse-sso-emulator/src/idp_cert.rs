//! The IdP's certificate host (`--idp-login client-cert`): a separate TLS listener, like ADFS's
//! `certauth` host, that requires a client certificate chaining to `--idp-client-ca`; the
//! certificate's UPN (otherName SAN) or subject CN names the user, who then gets `IDPSESSION`
//! and the assertion as after the password form.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::Method;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use url::Url;

use crate::app::{App, Origin, SESSION_TTL};
use crate::config::{EmulatorConfig, IdpLogin};
use crate::idp::{SESSION_COOKIE, assert_to_sp};
use crate::listener::{self, HANDSHAKE_TIMEOUT, Server};
use crate::pages;
use crate::request::{Req, required_query};
use crate::response::{Resp, set_cookie};
use crate::state::random_id;
use crate::{EmulatorError, tls};

/// Where the listener puts the verified certificate's user for the handler. Any copy a client
/// sends is removed first: only the TLS layer sets it.
const IDENTITY: HeaderName = HeaderName::from_static("x-emulator-client-certificate-user");

/// The bound certificate host and the CA its client certificates must chain to.
pub(crate) struct CertHost {
    listener: TcpListener,
    roots: RootCertStore,
    url: Url,
}

impl CertHost {
    /// Binds the certificate host when the login method needs one (and checks its settings).
    pub(crate) async fn prepare(config: &EmulatorConfig) -> Result<Option<Self>, EmulatorError> {
        if config.idp_login != IdpLogin::ClientCert {
            return Ok(None);
        }
        if config.no_tls {
            return Err(EmulatorError::Config(
                "--idp-login client-cert needs TLS (drop --no-tls)".into(),
            ));
        }
        let ca = config.idp_client_ca.as_deref().ok_or_else(|| {
            EmulatorError::Config("--idp-login client-cert needs --idp-client-ca PEM".into())
        })?;
        let pem = std::fs::read(ca)
            .map_err(|e| EmulatorError::Config(format!("--idp-client-ca {}: {e}", ca.display())))?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| {
                EmulatorError::Config(format!("--idp-client-ca {}: {e}", ca.display()))
            })?;
            roots.add(cert).map_err(|e| {
                EmulatorError::Config(format!("--idp-client-ca {}: {e}", ca.display()))
            })?;
        }
        if roots.is_empty() {
            return Err(EmulatorError::Config(format!(
                "--idp-client-ca {}: no certificate in the file",
                ca.display()
            )));
        }
        let listener = listener::bind(config.idp_cert_port)
            .await
            .map_err(|source| EmulatorError::Bind {
                origin: "IdP certificate host",
                port: config.idp_cert_port,
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| EmulatorError::Config(format!("listener address: {e}")))?
            .port();
        let url = Url::parse(&format!("https://127.0.0.1:{port}/"))
            .map_err(|e| EmulatorError::Config(e.to_string()))?;
        Ok(Some(CertHost {
            listener,
            roots,
            url,
        }))
    }

    pub(crate) fn url(&self) -> Url {
        self.url.clone()
    }

    /// Serves the host with the run's server certificate, requiring a client certificate.
    pub(crate) fn spawn(
        self,
        tls: &tls::Tls,
        app: Arc<App>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Server, EmulatorError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots), provider.clone())
                .build()
                .map_err(|e| EmulatorError::Tls(format!("client certificate verifier: {e}")))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| EmulatorError::Tls(format!("TLS versions: {e}")))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(tls.chain.clone(), tls.key.clone_key())
            .map_err(|e| EmulatorError::Tls(format!("certificate host config: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = self.listener;
        let task = tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    a = listener.accept() => match a {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!("certificate host: accept failed: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = stop.changed() => break,
                };
                let (app, acceptor, mut conn_stop) = (app.clone(), acceptor.clone(), stop.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = serve_conn(tcp, acceptor, app) => {}
                        _ = conn_stop.changed() => {}
                    }
                });
            }
        });
        Ok(Server::from_task(task))
    }
}

async fn serve_conn(tcp: tokio::net::TcpStream, acceptor: TlsAcceptor, app: Arc<App>) {
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            // No certificate, or one that does not chain to --idp-client-ca.
            tracing::info!("certificate host: TLS handshake refused: {e}");
            app.state().cert_refusals += 1;
            return;
        }
        Err(_) => return,
    };
    let user = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|der| user_of_certificate(der.as_ref()).unwrap_or_default());
    let service = service_fn(move |mut req: hyper::Request<Incoming>| {
        let app = app.clone();
        req.headers_mut().remove(&IDENTITY);
        if let Some(v) = user.as_deref().and_then(|u| HeaderValue::from_str(u).ok()) {
            req.headers_mut().insert(IDENTITY, v);
        }
        async move { Ok::<_, Infallible>(listener::dispatch(&app, Origin::IdpCert, req).await) }
    });
    if let Err(e) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!("certificate host: connection ended: {e}");
    }
}

pub(crate) fn handle(app: &App, req: &Req) -> Resp {
    route(app, req).unwrap_or_else(|e| e)
}

fn route(app: &App, req: &Req) -> Result<Resp, Resp> {
    match req.path.as_str() {
        "/idp/certauth" => {
            req.only(&[Method::GET])?;
            certauth(app, req)
        }
        _ => Err(Resp::not_found()),
    }
}

fn idp_error(status: u16, title: &str, msg: &str) -> Resp {
    Resp::html(status, pages::message(title, msg))
}

fn certauth(app: &App, req: &Req) -> Result<Resp, Resp> {
    let s = &app.settings;
    let txn_id = required_query(req, "txn")?;
    let named = req.header(IDENTITY.as_str()).unwrap_or_default();
    let Some(user) = s
        .users
        .all()
        .iter()
        .find(|u| !named.is_empty() && u.name == named)
    else {
        return Err(idp_error(
            403,
            "Certificate not accepted",
            "The client certificate names no user of this identity provider.",
        ));
    };
    let mut st = app.state();
    let txn = st.txns.take(txn_id).ok_or_else(|| {
        idp_error(
            400,
            "Sign-in expired",
            "unknown or expired login transaction",
        )
    })?;
    let sid = st.secret("IdP session cookie", random_id(24));
    st.idp_sessions
        .insert(sid.clone(), SESSION_TTL, user.name.clone());
    drop(st);
    tracing::info!("certificate host: {} signed in by certificate", user.name);
    // Cookies are per host, not per port: the IdP's own origin sees this session too.
    Ok(
        assert_to_sp(app, &user.name, &txn.authn).with_cookie(&set_cookie(
            SESSION_COOKIE,
            &sid,
            "/idp",
            s.tls,
            true,
        )),
    )
}

/// The user a client certificate names: its UPN (`user@realm` in the otherName SAN
/// 1.3.6.1.4.1.311.20.2.3, the part before `@`), else its subject's common name.
pub(crate) fn user_of_certificate(der: &[u8]) -> Option<String> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut fields = Vec::new();
    let mut rest = tbs;
    while !rest.is_empty() {
        let (tag, content, next) = tlv(rest)?;
        fields.push((tag, content));
        rest = next;
    }
    // [0] version is optional; then serial, signature, issuer, validity, subject.
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let subject = fields.get(skip + 4)?.1;
    let upn = fields
        .iter()
        .find(|(tag, _)| *tag == 0xa3)
        .and_then(|(_, ext)| upn_of_extensions(ext));
    upn.map(|u| u.split('@').next().unwrap_or_default().to_string())
        .or_else(|| common_name(subject))
        .filter(|u| !u.is_empty())
}

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
const OID_UPN: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03];

fn common_name(name: &[u8]) -> Option<String> {
    let mut sets = name;
    while !sets.is_empty() {
        let (_, set, next) = tlv(sets)?;
        sets = next;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (_, atv, next) = tlv(atvs)?;
            atvs = next;
            let (_, oid, value) = tlv(atv)?;
            if oid == OID_CN {
                return string(value);
            }
        }
    }
    None
}

fn upn_of_extensions(ext: &[u8]) -> Option<String> {
    let (_, mut list, _) = tlv(ext)?;
    while !list.is_empty() {
        let (_, one, next) = tlv(list)?;
        list = next;
        let (_, oid, mut rest) = tlv(one)?;
        if oid != OID_SAN {
            continue;
        }
        if rest.first() == Some(&0x01) {
            rest = tlv(rest)?.2; // `critical`
        }
        let (_, octets, _) = tlv(rest)?;
        let (_, mut names, _) = tlv(octets)?;
        while !names.is_empty() {
            let (tag, name, next) = tlv(names)?;
            names = next;
            if tag != 0xa0 {
                continue; // only otherName
            }
            let (_, oid, value) = tlv(name)?;
            if oid == OID_UPN {
                let (_, inner, _) = tlv(value)?; // [0] EXPLICIT
                return string(inner);
            }
        }
    }
    None
}

/// A directory string's text (UTF8String, PrintableString, IA5String, T61String).
fn string(tlv_bytes: &[u8]) -> Option<String> {
    let (tag, s, _) = tlv(tlv_bytes)?;
    matches!(tag, 0x0c | 0x13 | 0x16 | 0x14)
        .then(|| String::from_utf8(s.to_vec()).ok())
        .flatten()
}

/// One DER element: (tag, content, what follows). `None` for anything malformed.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &d| (acc << 8) | usize::from(d));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, OtherNameValue, SanType};

    fn cert(cn: &str, upn: Option<&str>) -> Vec<u8> {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::OrganizationName, "Org");
        p.distinguished_name.push(DnType::CommonName, cn);
        if let Some(u) = upn {
            p.subject_alt_names = vec![
                SanType::Rfc822Name("x@example.com".try_into().unwrap()),
                SanType::OtherName((
                    vec![1, 3, 6, 1, 4, 1, 311, 20, 2, 3],
                    OtherNameValue::Utf8String(u.into()),
                )),
            ];
        }
        p.self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .to_vec()
    }

    #[test]
    fn the_upn_wins_over_the_common_name() {
        assert_eq!(
            user_of_certificate(&cert("agent1", None)).unwrap(),
            "agent1"
        );
        assert_eq!(
            user_of_certificate(&cert("Jane Doe", Some("agent2@finesse.com"))).unwrap(),
            "agent2"
        );
        assert_eq!(user_of_certificate(b"\x30\x05\x30"), None);
        assert_eq!(user_of_certificate(&[]), None);
        let mut cut = cert("agent1", None);
        cut.truncate(cut.len() / 2);
        assert_eq!(user_of_certificate(&cut), None);
    }
}
