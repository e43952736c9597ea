//! A smart card for tests: a SoftHSM2 token in a temp dir holding a key and its certificate,
//! registered with p11-kit under a private XDG config dir (so GLib's TLS backend finds it), and
//! the test PKI (a CA and client certificates made with rcgen) to put on it or in files.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Where Debian (and derivatives) put SoftHSM2's PKCS#11 module.
const MODULES: [&str; 2] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

/// Fails the test naming the Debian packages when the smart-card tools are missing (CI
/// installs them: `.ci/deps.sh`).
pub fn need_smart_card_tools() -> PathBuf {
    let mut missing = vec![];
    for (program, package) in [
        ("softhsm2-util", "softhsm2"),
        ("pkcs11-tool", "opensc"),
        ("p11-kit", "p11-kit"),
        ("certtool", "gnutls-bin"),
    ] {
        let found = Command::new(program)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            missing.push(package);
        }
    }
    let module = MODULES.iter().map(PathBuf::from).find(|m| m.exists());
    if module.is_none() {
        missing.push("softhsm2 (libsofthsm2.so)");
    }
    assert!(
        missing.is_empty(),
        "the smart-card tests need these Debian packages: {} (apt-get install softhsm2 opensc \
         p11-kit gnutls-bin; .ci/deps.sh installs them), or set FINESSE_SSO_SKIP_WINDOW_TESTS=1 \
         to report these tests as ignored",
        missing.join(", ")
    );
    module.unwrap()
}

/// A client certificate and its key, issued by a test CA.
pub struct Issued {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    /// PKCS#8, unencrypted.
    pub key_pem: String,
}

/// A test CA that issues client certificates.
pub struct TestCa {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = p.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// A client-authentication certificate whose subject CN is `cn`.
    pub fn client(&self, cn: &str) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Writes `issued` as one PEM file (certificate, then key).
pub fn write_pem(dir: &Path, name: &str, issued: &Issued) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{}{}", issued.cert_pem, issued.key_pem)).unwrap();
    p
}

/// Writes `issued` as PKCS#12 protected by `password` (GnuTLS's certtool: the library GLib's
/// TLS backend reads it with).
pub fn write_pkcs12(dir: &Path, name: &str, issued: &Issued, password: &str) -> PathBuf {
    let (cert, key) = (dir.join("p12-cert.pem"), dir.join("p12-key.pem"));
    std::fs::write(&cert, &issued.cert_pem).unwrap();
    std::fs::write(&key, &issued.key_pem).unwrap();
    let out = dir.join(name);
    let o = Command::new("certtool")
        .args([
            "--to-p12",
            "--outder",
            "--p12-name",
            "client",
            "--password",
            password,
        ])
        .arg("--load-certificate")
        .arg(&cert)
        .arg("--load-privkey")
        .arg(&key)
        .arg("--outfile")
        .arg(&out)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "certtool --to-p12: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A SoftHSM2 token in `dir` holding one key and certificate (label `object`, id 01).
pub struct SoftHsm {
    conf: PathBuf,
    xdg_config: PathBuf,
    /// `pkcs11:token=…;object=…`, as an administrator would configure it.
    pub uri: String,
}

impl SoftHsm {
    pub fn new(dir: &Path, token: &str, object: &str, pin: &str, issued: &Issued) -> Self {
        let module = need_smart_card_tools();
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // p11-kit reads ~/.config/pkcs11/modules (XDG_CONFIG_HOME first): the module is
        // registered for this test's processes only, whatever the system has.
        let xdg_config = dir.join("xdg-config");
        let modules = xdg_config.join("pkcs11/modules");
        std::fs::create_dir_all(&modules).unwrap();
        std::fs::write(
            modules.join("softhsm2.module"),
            format!("module: {}\n", module.display()),
        )
        .unwrap();
        let hsm = SoftHsm {
            conf,
            xdg_config,
            uri: format!("pkcs11:token={token};object={object}"),
        };
        let key = dir.join("card-key.pem");
        std::fs::write(&key, &issued.key_pem).unwrap();
        let der = dir.join("card-cert.der");
        std::fs::write(&der, &issued.cert_der).unwrap();
        let so_pin = "87654321";
        hsm.run(
            Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", token])
                .args(["--pin", pin, "--so-pin", so_pin]),
        );
        hsm.run(
            Command::new("softhsm2-util")
                .arg("--import")
                .arg(&key)
                .args([
                    "--token", token, "--label", object, "--id", "01", "--pin", pin,
                ]),
        );
        hsm.run(
            Command::new("pkcs11-tool")
                .arg("--module")
                .arg(&module)
                .args(["--token-label", token, "--login", "--pin", pin])
                .arg("--write-object")
                .arg(&der)
                .args(["--type", "cert", "--id", "01", "--label", object]),
        );
        std::fs::remove_file(&key).unwrap();
        hsm
    }

    /// Points `cmd` (and every process it starts: the window, WebKit's network process) at
    /// this token.
    pub fn configure(&self, cmd: &mut Command) {
        cmd.env("SOFTHSM2_CONF", &self.conf)
            .env("XDG_CONFIG_HOME", &self.xdg_config);
    }

    fn run(&self, cmd: &mut Command) {
        self.configure(cmd);
        let o = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(
            o.status.success(),
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
