//! The per-run CA, the leaf certificate for `localhost`/`127.0.0.1`, and the CA file on disk.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// The generated CA and a server config presenting the leaf signed by it.
pub(crate) struct Tls {
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
    /// The leaf and CA certificates and the leaf's key, for servers with other client rules
    /// (the IdP's certificate host, `idp_cert`).
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d.push(DnType::OrganizationName, "finesse-sso emulator");
    d
}

/// A fresh CA (valid a day before and 30 days after now) and a leaf for both loopback names.
pub(crate) fn generate() -> Result<Tls, String> {
    let now = OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate().map_err(|e| format!("CA key: {e}"))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    ca.distinguished_name = dn("finesse-sso emulator CA (per run)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - Duration::days(1);
    ca.not_after = now + Duration::days(30);
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| format!("CA cert: {e}"))?;
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().map_err(|e| format!("leaf key: {e}"))?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(|e| e.to_string())?;
    leaf.distinguished_name = dn("localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = now - Duration::days(1);
    leaf.not_after = now + Duration::days(30);
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| format!("leaf cert: {e}"))?;

    let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS versions: {e}"))?
    .with_no_client_auth()
    .with_single_cert(chain.clone(), key.clone_key())
    .map_err(|e| format!("TLS server config: {e}"))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
        chain,
        key,
    })
}

/// Where the CA file lives and whether the emulator must delete it (and its directory) on stop.
#[derive(Debug)]
pub(crate) struct CaFile {
    pub path: PathBuf,
    owned_dir: Option<PathBuf>,
}

impl CaFile {
    /// Writes the CA PEM to `out`, or to a new private directory under the temp dir.
    pub fn write(ca_pem: &str, out: Option<&Path>) -> Result<Self, String> {
        match out {
            Some(p) => {
                fs::write(p, ca_pem)
                    .map_err(|e| format!("writing CA file {}: {e}", p.display()))?;
                Ok(CaFile {
                    path: p.to_path_buf(),
                    owned_dir: None,
                })
            }
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "finesse-sso-emulator-{}-{}",
                    std::process::id(),
                    crate::state::random_id(6)
                ));
                let mut b = fs::DirBuilder::new();
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
                #[cfg(not(unix))]
                let b = &mut b; // no mode to set; keeps `mut` used on every platform
                b.create(&dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
                let path = dir.join("ca.pem");
                let mut o = fs::OpenOptions::new();
                o.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                let mut f = o
                    .open(&path)
                    .map_err(|e| format!("creating {}: {e}", path.display()))?;
                f.write_all(ca_pem.as_bytes())
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                Ok(CaFile {
                    path,
                    owned_dir: Some(dir),
                })
            }
        }
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        // A file the user asked for (`--ca-out`) stays; our private temp copy goes.
        if let Some(dir) = &self.owned_dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}
