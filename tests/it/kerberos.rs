//! Kerberos (Negotiate/SPNEGO) at the IdP, end to end on Linux: a real MIT KDC in a throwaway
//! realm (`support::kdc`), the emulator's `--idp-login negotiate` verifying the ticket with real
//! GSSAPI against the realm's keytab, and the real `finesse-sso login --non-interactive` in
//! WebKitGTK with the user's ticket cache: `kerberos_hosts` lets it sign in with no window and
//! no password; without it, libsoup never offers the ticket and the sign-in needs the user.

use std::process::Output;

use crate::support::kdc::{Kdc, random_secret};
use crate::support::{self, emulator, output};
use finesse_sso_emulator::Emulator;

const USER: &str = "agent1";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The IdP's `host:port`, as an administrator lists it in `kerberos_hosts`.
fn idp_host(emu: &Emulator) -> String {
    format!(
        "{}:{}",
        emu.idp_url().host_str().unwrap(),
        emu.idp_url().port().unwrap()
    )
}

/// One user's machine: a realm with their principal, a ticket in their cache, the emulator's
/// IdP holding the realm's `HTTP/127.0.0.1` key.
struct World {
    kdc: Kdc,
    emu: Emulator,
    /// The user's Kerberos password: typed once into `kinit`, never into the sign-in.
    password: String,
    ccache: String,
    _tmp: tempfile::TempDir,
}

async fn world() -> World {
    let password = random_secret();
    let kdc = Kdc::start(USER, &password, "127.0.0.1");
    let tmp = tempfile::tempdir().unwrap();
    let ccache = kdc.kinit(USER, &password, tmp.path());
    let keytab = kdc.keytab();
    let emu = emulator(&[
        "--idp-login",
        "negotiate",
        "--idp-keytab",
        keytab.to_str().unwrap(),
    ])
    .await;
    assert_eq!(emu.idp_url().host_str(), Some(kdc.service_host.as_str()));
    World {
        kdc,
        emu,
        password,
        ccache,
        _tmp: tmp,
    }
}

impl World {
    /// `finesse-sso login --non-interactive -vvv` with the user's ticket cache, its own home,
    /// and `config` as the user's config file.
    async fn login(&self, config: &str) -> (Output, tempfile::TempDir) {
        self.login_with(config, None).await
    }

    /// [`World::login`] with the user's own `SOUP_GSSAPI_TRUSTED_URIS`, if any.
    async fn login_with(
        &self,
        config: &str,
        user_trust: Option<&str>,
    ) -> (Output, tempfile::TempDir) {
        self.login_as(&self.ccache, config, user_trust).await
    }

    /// [`World::login_with`] with another ticket cache.
    async fn login_as(
        &self,
        ccache: &str,
        config: &str,
        user_trust: Option<&str>,
    ) -> (Output, tempfile::TempDir) {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join("config");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("config.toml"), config).unwrap();
        let mut c = support::login_command(
            home.path(),
            &self.emu,
            USER,
            &["--non-interactive", "--timeout", "60", "-vvv"],
        );
        c.env("KRB5_CONFIG", self.kdc.config())
            .env("KRB5CCNAME", ccache)
            // The test decides what libsoup trusts, not the machine it runs on.
            .env_remove("SOUP_GSSAPI_TRUSTED_URIS")
            .env_remove("SOUP_GSSAPI_BLOCKLISTED_URIS");
        if let Some(v) = user_trust {
            c.env("SOUP_GSSAPI_TRUSTED_URIS", v);
        }
        (output(c).await, home)
    }

    /// Every Negotiate token the IdP received.
    fn negotiate_tokens(&self) -> Vec<String> {
        self.emu
            .issued_secrets()
            .into_iter()
            .filter(|(what, _)| *what == "Negotiate token")
            .map(|(_, v)| v)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_kerberos_ticket_signs_in_with_no_window_and_no_password() {
    support::need_display();
    let w = world().await;
    let config = format!("kerberos_hosts = [\"{}\"]\n", idp_host(&w.emu));
    let (o, home) = w.login(&config).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "stderr: {err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let token = v["token"].as_str().unwrap();
    assert_eq!(w.emu.issued_access_tokens(), vec![token.to_string()]);
    assert_eq!(v["user_id"], USER);
    // The IdP saw the ticket (and only Negotiate: it has no form at all).
    let tokens = w.negotiate_tokens();
    assert_eq!(tokens.len(), 1, "one Negotiate round trip");
    // Nothing of the ticket or the password reaches the logs at -vvv, nor the profile's files.
    assert!(err.contains("Kerberos (Negotiate) allowed for"), "{err}");
    for (what, secret) in [
        ("the Kerberos password", w.password.as_str()),
        ("the Negotiate token", tokens[0].as_str()),
        ("the access token", token),
    ] {
        assert!(!err.contains(secret), "{what} on stderr");
    }
    for f in support::files_under(home.path()) {
        let s = text(&std::fs::read(&f).unwrap_or_default());
        assert!(
            !s.contains(&tokens[0]),
            "Negotiate token in {}",
            f.display()
        );
        assert!(!s.contains(&w.password), "password in {}", f.display());
    }
    w.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn without_kerberos_hosts_the_ticket_is_never_offered() {
    support::need_display();
    let w = world().await;
    // No `kerberos_hosts`: libsoup is told to trust no host, so the IdP's 401 stays a page the
    // user would have to act on, and a non-interactive sign-in says so (exit 14).
    let (o, _home) = w.login("").await;
    let err = text(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(finesse_sso::error::exit::INTERACTION_REQUIRED),
        "stderr: {err}"
    );
    assert!(o.stdout.is_empty());
    // The IdP's 401 page is where it stopped.
    assert!(
        err.contains(&format!("a page needs you ({})", idp_host(&w.emu))),
        "{err}"
    );
    assert!(
        w.negotiate_tokens().is_empty(),
        "the ticket went to a host nobody listed"
    );
    assert!(w.emu.issued_access_tokens().is_empty());
    // Another host listed: the IdP still is not trusted.
    let (o, _home) = w.login("kerberos_hosts = [\"adfs.example.com\"]\n").await;
    assert_eq!(
        o.status.code(),
        Some(finesse_sso::error::exit::INTERACTION_REQUIRED),
        "stderr: {}",
        text(&o.stderr)
    );
    assert!(w.negotiate_tokens().is_empty());
    // The user's own SOUP_GSSAPI_TRUSTED_URIS is never overridden: it alone trusts the IdP here.
    let trust = format!("https://{}", idp_host(&w.emu));
    let (o, _home) = w.login_with("", Some(&trust)).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "stderr: {err}");
    assert!(err.contains("is set in the environment"), "{err}");
    assert_eq!(w.negotiate_tokens().len(), 1);
    w.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn a_principal_the_idp_does_not_know_is_refused() {
    support::need_display();
    let w = world().await;
    // A valid ticket of the realm, for a principal that is no user of the IdP: verified, then
    // refused (403 page), which a non-interactive sign-in reports as needing the user.
    let password = random_secret();
    w.kdc.add_user("stranger", &password);
    let tmp = tempfile::tempdir().unwrap();
    let ccache = w.kdc.kinit("stranger", &password, tmp.path());
    let config = format!("kerberos_hosts = [\"{}\"]\n", idp_host(&w.emu));
    let (o, _home) = w.login_as(&ccache, &config, None).await;
    let err = text(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(finesse_sso::error::exit::INTERACTION_REQUIRED),
        "stderr: {err}"
    );
    assert_eq!(w.negotiate_tokens().len(), 1, "the ticket was offered");
    assert!(w.emu.issued_access_tokens().is_empty());
    assert!(!err.contains(&password));
    w.emu.shutdown().await;
}
