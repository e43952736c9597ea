//! A real MIT Kerberos KDC for one test: a throwaway realm in a temporary directory (its own
//! krb5.conf and kdc.conf, a database with a random master password), a user principal with a
//! random password, the IdP's `HTTP/<host>` service key in a keytab, `krb5kdc -n` on a free
//! loopback port (ended on drop), and `kinit` into a private credential cache.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian packages these programs come from (`.ci/deps.sh` installs them).
const PACKAGES: &str = "krb5-kdc krb5-admin-server krb5-user";

pub const REALM: &str = "FSSO.TEST";

/// The realm's KDC, running.
pub struct Kdc {
    dir: tempfile::TempDir,
    kdc: Child,
    /// The service host the keytab holds `HTTP/<host>` for.
    pub service_host: String,
}

/// A random printable secret (passwords for the throwaway realm; never logged by the test).
pub fn random_secret() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

/// Finds `name` on PATH or in the sbin directories (root's tools are there), or fails the test
/// naming the packages to install.
fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed: this test runs a real MIT KDC; install {PACKAGES}")
        })
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The realm's files for a tool run in `dir`.
fn env<'c>(dir: &Path, c: &'c mut Command) -> &'c mut Command {
    c.env("KRB5_CONFIG", dir.join("krb5.conf"))
        .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"))
}

/// Runs an administration tool of the realm in `dir`, `stdin` answering its prompts.
fn admin(dir: &Path, tool: &str, args: &[&str], stdin: &str) {
    let mut c = Command::new(program(tool));
    env(dir, &mut c).args(args);
    let out = super::run_with_stdin(&mut c, stdin);
    assert!(
        out.status.success(),
        "{tool} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Kdc {
    /// A realm with `user` (password `password`) and `HTTP/<service_host>` in a keytab, its KDC
    /// answering once this returns.
    pub fn start(user: &str, password: &str, service_host: &str) -> Kdc {
        for p in ["krb5kdc", "kdb5_util", "kadmin.local", "kinit"] {
            program(p);
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        std::fs::write(
            d.join("krb5.conf"),
            format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n \
                 dns_lookup_realm = false\n dns_canonicalize_hostname = false\n rdns = false\n \
                 udp_preference_limit = 1\n\
                 [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n\
                 [domain_realm]\n {service_host} = {REALM}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("kdc.conf"),
            format!(
                "[kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\
                 [realms]\n {REALM} = {{\n  database_name = {db}\n  key_stash_file = {stash}\n  \
                 acl_file = {acl}\n }}\n\
                 [logging]\n kdc = FILE:{log}\n",
                db = d.join("principal").display(),
                stash = d.join("stash").display(),
                acl = d.join("kadm5.acl").display(),
                log = d.join("kdc.log").display(),
            ),
        )
        .unwrap();
        std::fs::write(d.join("kadm5.acl"), "").unwrap();
        let master = random_secret();
        // Passwords go on stdin (the tools prompt twice), never on a command line.
        admin(
            d,
            "kdb5_util",
            &["-r", REALM, "create", "-s"],
            &format!("{master}\n{master}\n"),
        );
        admin(
            d,
            "kadmin.local",
            &["-r", REALM, "-q", &format!("addprinc {user}")],
            &format!("{password}\n{password}\n"),
        );
        let spn = format!("HTTP/{service_host}");
        admin(
            d,
            "kadmin.local",
            &["-r", REALM, "-q", &format!("addprinc -randkey {spn}")],
            "",
        );
        let keytab = d.join("idp.keytab");
        admin(
            d,
            "kadmin.local",
            &[
                "-r",
                REALM,
                "-q",
                &format!("ktadd -k {} {spn}", keytab.display()),
            ],
            "",
        );
        assert!(keytab.is_file(), "kadmin.local wrote no keytab");
        let child = env(d, &mut Command::new(program("krb5kdc")))
            .args(["-n", "-r", REALM])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut kdc = Kdc {
            dir,
            kdc: child,
            service_host: service_host.to_string(),
        };
        kdc.wait_listening(port, Duration::from_secs(20));
        kdc
    }

    /// Until the KDC accepts TCP connections on `port`; fails the test with its stderr after
    /// `within`, or at once if it exited.
    fn wait_listening(&mut self, port: u16, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.kdc.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.kdc.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("krb5kdc exited ({status}) before listening: {err}");
            }
            assert!(
                Instant::now() < deadline,
                "krb5kdc is not listening on 127.0.0.1:{port} after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Another principal in the realm, `name` with `password`.
    pub fn add_user(&self, name: &str, password: &str) {
        admin(
            self.dir.path(),
            "kadmin.local",
            &["-r", REALM, "-q", &format!("addprinc {name}")],
            &format!("{password}\n{password}\n"),
        );
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// The IdP's keys (`HTTP/<service_host>`).
    pub fn keytab(&self) -> PathBuf {
        self.dir.path().join("idp.keytab")
    }

    /// `kinit user` with the password on stdin, into a new credential cache under `dir`; its
    /// `KRB5CCNAME` value.
    pub fn kinit(&self, user: &str, password: &str, dir: &Path) -> String {
        let cache = format!("FILE:{}", dir.join("krb5cc").display());
        let mut c = Command::new(program("kinit"));
        c.env("KRB5_CONFIG", self.config())
            .env("KRB5CCNAME", &cache)
            .arg(format!("{user}@{REALM}"));
        let out = super::run_with_stdin(&mut c, &format!("{password}\n"));
        assert!(
            out.status.success(),
            "kinit {user} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cache
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.kdc.kill();
        let _ = self.kdc.wait();
    }
}
