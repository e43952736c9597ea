//! The helper's own HTTP client: rustls with the system roots plus `--ca-file`, a browser-like
//! User-Agent, proxy settings, and a `cookie_store` jar that honours cookie attributes.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderValue;
use url::Url;

/// Finesse 12.6+/15.0 VPN-less proxies admit only mainstream browsers (`NGX_VALID_USER_AGENTS_REGEX`).
pub const USER_AGENT: &str = concat!(
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15 finesse-sso/",
    env!("CARGO_PKG_VERSION")
);

/// How the helper reaches servers.
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// Extra PEM CA certificates trusted on top of the system store.
    pub ca_pem: Option<Vec<u8>>,
    /// The proxy route and credential (`crate::proxy`), the same the window is given.
    pub proxy: crate::proxy::ProxySetup,
    /// Follow redirects (API calls) or return them (browser driver, refresh fallback detection).
    pub follow_redirects: bool,
    pub timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("proxy {0}: {1}")]
    Proxy(String, String),
    #[error("HTTP client: {0}")]
    Client(String),
}

/// Reads a PEM CA bundle and checks it holds at least one certificate.
pub fn read_ca_file(path: &Path) -> Result<Vec<u8>, HttpSetupError> {
    let err = |reason: String| HttpSetupError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let n = parse_pem_certs(&pem).map_err(err)?.len();
    if n == 0 {
        return Err(err("no PEM certificate in file".into()));
    }
    Ok(pem)
}

/// Every certificate in a PEM bundle, as DER.
pub fn parse_pem_certs(
    pem: &[u8],
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM: {e}"))
}

/// The rustls provider used everywhere (ring: no C++ toolchain, no cmake).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// System roots (best effort: a machine without a bundle still trusts `--ca-file`) plus `extra`.
pub fn root_store(extra_pem: Option<&[u8]>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(pem) = extra_pem {
        for cert in parse_pem_certs(pem)? {
            roots
                .add(cert)
                .map_err(|e| format!("CA certificate rejected: {e}"))?;
        }
    }
    Ok(roots)
}

/// A cookie jar shared between requests, backed by `cookie_store` (Domain, Path, Secure, expiry),
/// and SameSite as the walk of a sign-in sets it for its next request ([`Jar::set_context`]).
#[derive(Default, Debug)]
pub struct Jar(pub Mutex<cookie_store::CookieStore>, Mutex<SameSiteContext>);

/// Where the next request comes from, for SameSite: a browser leaves `Strict` cookies off any
/// cross-site request and `Lax` ones off a cross-site POST. A cookie without the attribute goes
/// everywhere, as in WebKit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum SameSiteContext {
    /// Typed by the user, or from a page of the same site (and every API call).
    #[default]
    SameSite,
    /// A cross-site top-level GET (a redirect, a form posted with GET).
    CrossSiteNavigation,
    /// A cross-site POST (a SAML POST binding to another site).
    CrossSitePost,
}

impl Jar {
    pub fn new() -> Arc<Self> {
        Arc::new(Jar::default())
    }

    /// Sets where the next requests come from (until set again).
    pub fn set_context(&self, context: SameSiteContext) {
        *self.1.lock().unwrap_or_else(|p| p.into_inner()) = context;
    }

    /// Names of the cookies that would be sent to `url` (values stay inside).
    pub fn names_for(&self, url: &Url) -> Vec<String> {
        let store = self.0.lock().unwrap_or_else(|p| p.into_inner());
        store
            .get_request_values(url)
            .map(|(n, _)| n.to_string())
            .collect()
    }
}

impl reqwest::cookie::CookieStore for Jar {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        let cookies = headers
            .filter_map(|h| h.to_str().ok())
            .filter_map(|s| cookie_store::RawCookie::parse(s.to_owned()).ok());
        let mut store = self.0.lock().unwrap_or_else(|p| p.into_inner());
        store.store_response_cookies(cookies, url);
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        let context = *self.1.lock().unwrap_or_else(|p| p.into_inner());
        let store = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let s = store
            .matches(url)
            .into_iter()
            .filter(|c| match (c.same_site(), context) {
                (_, SameSiteContext::SameSite) => true,
                (Some(cookie::SameSite::Strict), _) => false,
                (Some(cookie::SameSite::Lax), SameSiteContext::CrossSitePost) => false,
                _ => true,
            })
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ");
        if s.is_empty() {
            None
        } else {
            HeaderValue::from_str(&s).ok()
        }
    }
}

/// Builds the client. The jar, when given, is shared with the caller (to save or inspect it).
pub fn client(
    opts: &HttpOptions,
    jar: Option<Arc<Jar>>,
) -> Result<reqwest::Client, HttpSetupError> {
    client_noting(opts, jar, None)
}

/// [`client`], noting in `seen` every certificate chain it verified.
pub fn client_noting(
    opts: &HttpOptions,
    jar: Option<Arc<Jar>>,
    seen: Option<&SeenChains>,
) -> Result<reqwest::Client, HttpSetupError> {
    let roots = root_store(opts.ca_pem.as_deref()).map_err(HttpSetupError::Client)?;
    let builder = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpSetupError::Client(e.to_string()))?;
    let tls = match seen {
        None => builder.with_root_certificates(roots),
        Some(seen) => {
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                crypto_provider(),
            )
            .build()
            .map_err(|e| HttpSetupError::Client(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Noting {
                    inner,
                    seen: seen.clone(),
                }))
        }
    }
    .with_no_client_auth();
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(15))
        .redirect(if opts.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        });
    if let Some(t) = opts.timeout {
        b = b.timeout(t);
    }
    b = with_proxy(b, &opts.proxy)?;
    if let Some(jar) = jar {
        b = b.cookie_provider(jar);
    }
    b.build().map_err(|e| HttpSetupError::Client(e.to_string()))
}

/// The route applied to the client. `System` keeps reqwest's own look-up: the environment
/// (empty, or the route would be `Via`) and, on Windows and macOS, the system's static proxy
/// settings (reqwest's `system-proxy`). Otherwise exactly the resolved proxies and bypass list,
/// with the credential as Basic `Proxy-Authorization` (on `CONNECT` too).
fn with_proxy(
    mut b: reqwest::ClientBuilder,
    setup: &crate::proxy::ProxySetup,
) -> Result<reqwest::ClientBuilder, HttpSetupError> {
    use crate::proxy::ProxyRoute;
    let servers = match &setup.route {
        ProxyRoute::System => return Ok(b),
        ProxyRoute::Direct => return Ok(b.no_proxy()),
        ProxyRoute::Via(s) => s,
    };
    let bypass = reqwest::NoProxy::from_string(&servers.bypass.join(","));
    let one = |url: &Url, make: fn(&str) -> reqwest::Result<reqwest::Proxy>| {
        let p = make(url.as_str())
            .map_err(|e| HttpSetupError::Proxy(crate::redact::url(url), e.to_string()))?
            .no_proxy(bypass.clone());
        Ok::<_, HttpSetupError>(match &setup.credential {
            Some(c) => p.basic_auth(&c.user, c.password.expose()),
            None => p,
        })
    };
    if let Some(u) = &servers.https {
        b = b.proxy(one(u, |s| reqwest::Proxy::https(s))?);
    }
    if let Some(u) = &servers.http {
        b = b.proxy(one(u, |s| reqwest::Proxy::http(s))?);
    }
    // Only the resolved proxies: nothing read again from the environment.
    Ok(match servers.https.is_none() && servers.http.is_none() {
        true => b.no_proxy(),
        false => b,
    })
}

/// Whether a request failed because the proxy asked for credentials (407 to `CONNECT`).
pub fn is_proxy_auth_error(err: &reqwest::Error) -> bool {
    describe(err).contains("proxy authorization required")
}

/// A one-line cause for a failed request, naming the kind of failure (DNS, TLS, connect, timeout).
pub fn describe(err: &reqwest::Error) -> String {
    let mut chain = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !chain.contains(&s) {
            chain.push(s);
        }
        cur = e.source();
    }
    // reqwest's top line repeats the URL, which may carry secrets: drop it.
    let text = chain.into_iter().skip(1).collect::<Vec<_>>().join(": ");
    if text.is_empty() {
        "request failed".into()
    } else {
        text
    }
}

/// Whether a request error is a TLS verification failure (so it maps to the TLS exit code).
pub fn is_tls_error(err: &reqwest::Error) -> bool {
    let d = describe(err).to_ascii_lowercase();
    d.contains("certificate") || d.contains("tls") || d.contains("handshake")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::cookie::CookieStore as _;

    #[test]
    fn jar_honours_path_and_secure() {
        let jar = Jar::default();
        let set = HeaderValue::from_static("s=1; Path=/desktop; Secure; HttpOnly");
        let other = HeaderValue::from_static("o=2; Path=/ids");
        let u = Url::parse("https://f.example:8445/desktop/sso/token").unwrap();
        jar.set_cookies(&mut [&set, &other].into_iter(), &u);
        assert_eq!(jar.cookies(&u).unwrap(), "s=1");
        let plain = Url::parse("http://f.example:8445/desktop/x").unwrap();
        assert!(
            jar.cookies(&plain).is_none(),
            "Secure cookie sent over http"
        );
        let ids = Url::parse("https://f.example:8445/ids/x").unwrap();
        assert_eq!(jar.names_for(&ids), vec!["o".to_string()]);
    }

    #[test]
    fn jar_leaves_out_what_samesite_keeps_from_cross_site_requests() {
        let jar = Jar::default();
        let u = Url::parse("https://idp.example/idp/sso").unwrap();
        let set = [
            HeaderValue::from_static("strict=1; SameSite=Strict; Secure"),
            HeaderValue::from_static("lax=2; SameSite=Lax; Secure"),
            HeaderValue::from_static("none=3; SameSite=None; Secure"),
            HeaderValue::from_static("unset=4; Secure"),
        ];
        jar.set_cookies(&mut set.iter(), &u);
        let sent = |context| {
            jar.set_context(context);
            let header = jar.cookies(&u).unwrap();
            let mut names: Vec<String> = header
                .to_str()
                .unwrap()
                .split("; ")
                .map(|c| c.split('=').next().unwrap().to_string())
                .collect();
            names.sort();
            names.join(" ")
        };
        assert_eq!(sent(SameSiteContext::SameSite), "lax none strict unset");
        assert_eq!(sent(SameSiteContext::CrossSiteNavigation), "lax none unset");
        assert_eq!(sent(SameSiteContext::CrossSitePost), "none unset");
    }

    #[test]
    fn ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not pem").unwrap();
        assert!(matches!(
            read_ca_file(&p),
            Err(HttpSetupError::CaFile { .. })
        ));
        assert!(read_ca_file(&dir.path().join("missing.pem")).is_err());
    }
}

/// Certificate chains (leaf first, DER) the helper's client verified, the latest per host, at
/// most [`SeenChains::MAX_HOSTS`]: the window allows those that chain to `--ca-file` before
/// its first request instead of after a failed one (WebKitGTK cannot take a CA).
#[derive(Debug, Default, Clone)]
pub struct SeenChains(Arc<Mutex<Vec<HostChain>>>);

/// A host and the certificate chain it presented (leaf first, DER).
pub type HostChain = (String, Vec<Vec<u8>>);

impl SeenChains {
    pub const MAX_HOSTS: usize = 8;

    fn note(&self, host: String, chain: Vec<Vec<u8>>) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|(h, _)| *h != host);
        if seen.len() == Self::MAX_HOSTS {
            seen.remove(0);
        }
        seen.push((host, chain));
    }

    /// Every chain noted so far, by host.
    pub fn snapshot(&self) -> Vec<HostChain> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The usual verifier, noting what it accepted.
#[derive(Debug)]
struct Noting {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    seen: SeenChains,
}

impl rustls::client::danger::ServerCertVerifier for Noting {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let host = match server_name {
            rustls::pki_types::ServerName::DnsName(d) => d.as_ref().to_string(),
            // As URLs write it (the window's engine names hosts so).
            rustls::pki_types::ServerName::IpAddress(ip) => match std::net::IpAddr::from(*ip) {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            },
            _ => return Ok(verified),
        };
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.as_ref().to_vec())
            .collect();
        self.seen.note(host, chain);
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Verifies a server certificate chain (leaf first, DER) for `host` against the CA certificates
/// in `ca_pem` only. The webview calls this before it trusts a certificate WebKit rejected.
pub fn verify_chain(ca_pem: &[u8], host: &str, chain: &[Vec<u8>]) -> Result<(), String> {
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    let mut roots = rustls::RootCertStore::empty();
    for cert in parse_pem_certs(ca_pem)? {
        roots
            .add(cert)
            .map_err(|e| format!("CA certificate rejected: {e}"))?;
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        crypto_provider(),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let (leaf, rest) = chain.split_first().ok_or("empty certificate chain")?;
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
    .map_err(|e| format!("{host}: {e}"))?;
    verifier
        .verify_server_cert(
            &CertificateDer::from(leaf.as_slice()),
            &intermediates,
            &name,
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod verify_tests {
    use super::*;

    #[test]
    fn seen_chains_keep_the_latest_per_host_and_a_bounded_number_of_hosts() {
        let seen = SeenChains::default();
        seen.note("a".into(), vec![vec![1]]);
        seen.note("a".into(), vec![vec![2]]);
        assert_eq!(seen.snapshot(), vec![("a".to_string(), vec![vec![2]])]);
        for i in 0..SeenChains::MAX_HOSTS + 3 {
            seen.note(format!("h{i}"), vec![vec![i as u8]]);
        }
        let hosts: Vec<String> = seen.snapshot().into_iter().map(|(h, _)| h).collect();
        assert_eq!(hosts.len(), SeenChains::MAX_HOSTS);
        assert_eq!(
            hosts.last().map(String::as_str),
            Some(format!("h{}", SeenChains::MAX_HOSTS + 2).as_str())
        );
        assert!(
            !hosts.contains(&"a".to_string()),
            "the oldest host left first"
        );
    }

    fn ca_and_leaf(names: &[&str]) -> (String, Vec<u8>, String) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        (ca.pem(), leaf.der().to_vec(), ca_key.serialize_pem())
    }

    #[test]
    fn chain_to_ca_accepted_for_its_names_only() {
        let (ca, leaf, _) = ca_and_leaf(&["localhost", "127.0.0.1"]);
        verify_chain(ca.as_bytes(), "localhost", std::slice::from_ref(&leaf)).unwrap();
        verify_chain(ca.as_bytes(), "127.0.0.1", std::slice::from_ref(&leaf)).unwrap();
        assert!(verify_chain(ca.as_bytes(), "evil.example", std::slice::from_ref(&leaf)).is_err());
        let (other_ca, _, _) = ca_and_leaf(&["localhost"]);
        assert!(verify_chain(other_ca.as_bytes(), "localhost", &[leaf]).is_err());
        assert!(verify_chain(ca.as_bytes(), "localhost", &[]).is_err());
    }
}
