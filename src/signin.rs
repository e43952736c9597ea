//! One sign-in, end to end: resolve the target, check the auth mode, walk it silently with the
//! saved web session when there is one, else (or where the walk stops) run the window; keep the
//! web session. The [`SignInBrowser`] trait is the browser seam: the real sign-in window
//! ([`WindowBrowser`]) or, in tests, the HTTP driver against the emulator.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use url::Url;

use crate::cli::ServerArgs;
use crate::client_cert::{CertChoice, PinHolder};
use crate::dirs::Dirs;
use crate::error::{Error, Result};
use crate::finesse::client::Finesse;
use crate::finesse::token_response::TokenResponse;
use crate::http::{self, HttpOptions, Jar, SeenChains};
use crate::proxy::{Ask, ProxySetup};
use crate::redact::Secret;
use crate::silent::Silent;
use crate::websession;
use crate::window::process::{self, Ended, Spawn, WindowToken};
use crate::window::{GoFacts, KnownChain, Placement, SavedCookie, WindowRequest, rendering};

/// The usage error when no server is configured anywhere. Never a silent demo: a script whose
/// config or environment went missing must not believe it holds a real token.
pub const NO_SERVER: &str = "no Finesse server given: use --server HOST (or set FINESSE_SSO_SERVER, \
or `server = \"HOST\"` in config.toml); `finesse-sso login --demo` signs in to the built-in emulator instead";

/// Which server and user, and how to reach the server.
#[derive(Debug, Clone)]
pub struct Target {
    /// The Finesse side to use: the first listed, or the one in service once settled.
    pub server: Url,
    /// The other Finesse sides listed (`server = [a, b]`), in order; empty once settled.
    pub other_sides: Vec<Url>,
    pub user: String,
    pub ca_pem: Option<Vec<u8>>,
    /// The proxy route and credential, shared by the window and the helper's client.
    pub proxy: ProxySetup,
    /// Profile name: its own saved web session and WebKit data.
    pub profile: String,
    /// Hosts the window may use Kerberos with (`kerberos_hosts`, normalised).
    pub kerberos_hosts: Vec<String>,
    /// The client certificate for an IdP that asks for one, and its PIN once given.
    pub client_cert: Option<CertChoice>,
}

impl Target {
    pub fn from_args(a: &ServerArgs) -> Result<Self> {
        let server = a
            .server
            .as_deref()
            .ok_or_else(|| Error::Usage(NO_SERVER.into()))?;
        let mut sides = crate::finesse::address::parse_sides(server)?;
        let server = sides.remove(0);
        let user = a
            .user
            .clone()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                Error::Usage("--user is required (the Finesse loginName or peripheral id)".into())
            })?;
        let ca_pem = a
            .ca_file
            .as_deref()
            .map(http::read_ca_file)
            .transpose()
            .map_err(|e| Error::Usage(e.to_string()))?;
        let ask = match a.proxy_password_stdin {
            true => Ask::Stdin,
            false => Ask::Prompt,
        };
        let proxy = ProxySetup::resolve(a.proxy.as_deref(), a.proxy_bypass.as_deref(), ask)?;
        let kerberos_hosts =
            crate::window::negotiate::parse_hosts(a.kerberos_hosts.as_deref().unwrap_or(&[]))?;
        let client_cert = match a.client_certificate.clone() {
            Some(cert) => {
                cert.check()?;
                Some(CertChoice {
                    cert,
                    pin: PinHolder::default(),
                })
            }
            None => None,
        };
        Ok(Target {
            server,
            other_sides: sides,
            user,
            ca_pem,
            proxy,
            profile: a.profile().to_string(),
            kerberos_hosts,
            client_cert,
        })
    }

    /// Every side listed, the first first.
    pub fn sides(&self) -> Vec<Url> {
        std::iter::once(self.server.clone())
            .chain(self.other_sides.iter().cloned())
            .collect()
    }

    /// This target on `side` alone (what one sign-in or one session uses).
    pub fn on_side(&self, side: Url) -> Target {
        Target {
            server: side,
            other_sides: Vec::new(),
            ..self.clone()
        }
    }

    /// This target on the first listed side whose SystemInfo says IN_SERVICE (one side: as
    /// it is, unasked).
    pub async fn in_service(&self) -> Result<Target> {
        if self.other_sides.is_empty() {
            return Ok(self.clone());
        }
        let sides = self.sides();
        let (i, _) = crate::finesse::sides::first_in_service(&self.http()?, &sides, 0).await?;
        if i > 0 {
            tracing::info!(
                "Finesse side {} is not in service; using {}",
                crate::error::host_of(&self.server),
                crate::error::host_of(&sides[i])
            );
        }
        Ok(self.on_side(sides[i].clone()))
    }

    /// Holds the PIN (or PKCS#12 password) given for the client certificate.
    pub fn with_pin(mut self, pin: Option<Secret<String>>) -> Self {
        if let Some(c) = &mut self.client_cert {
            c.pin = PinHolder::new(pin);
        }
        self
    }

    /// A Finesse client that does not follow redirects (a refresh redirect means "browser").
    pub fn finesse(&self) -> Result<Finesse> {
        Ok(Finesse::new(self.server.clone(), self.http()?))
    }

    /// [`Target::finesse`], noting in `seen` the certificate chains it verifies when a
    /// `--ca-file` is in use (with the system's roots alone the window has nothing to be told).
    fn finesse_noting(&self, seen: &SeenChains) -> Result<Finesse> {
        let seen = self.ca_pem.as_ref().map(|_| seen);
        Ok(Finesse::new(self.server.clone(), self.http_noting(seen)?))
    }

    /// The HTTP client `finesse` uses (also the User API's): no redirects, this CA and proxy.
    pub fn http(&self) -> Result<reqwest::Client> {
        self.http_noting(None)
    }

    fn http_noting(&self, seen: Option<&SeenChains>) -> Result<reqwest::Client> {
        http::client_noting(&self.http_options(), Some(Jar::new()), seen)
            .map_err(|e| Error::Usage(e.to_string()))
    }

    /// The helper's client settings for this target (the silent walk's too): this CA and
    /// proxy, no redirects followed, the per-request timeout.
    fn http_options(&self) -> HttpOptions {
        HttpOptions {
            ca_pem: self.ca_pem.clone(),
            proxy: self.proxy.clone(),
            follow_redirects: false,
            timeout: Some(HTTP_TIMEOUT),
        }
    }
}

/// The `--proxy` URL. Its messages show it redacted: a proxy URL may carry `user:password@`.
pub fn parse_proxy(p: &str) -> Result<Url> {
    crate::proxy::route::parse_proxy("--proxy", p, false)
}

/// How a sign-in may behave.
#[derive(Debug, Clone)]
pub struct SignInOptions {
    pub timeout: Duration,
    /// Show the window at once (otherwise only when a page needs the user); no silent walk first.
    pub show: bool,
    /// false: never show a window; fail with `InteractionRequired` instead.
    pub interactive: bool,
    /// Restore and save the profile's web session.
    pub use_session: bool,
    /// Run the window on a private Xvfb display (no display).
    pub xvfb: bool,
    pub verbosity: u8,
    pub json_logs: bool,
    /// Where the window opens (the caller's window, its activation token).
    pub placement: Placement,
}

impl Default for SignInOptions {
    fn default() -> Self {
        SignInOptions {
            timeout: Duration::from_secs(300),
            show: false,
            interactive: true,
            use_session: true,
            xvfb: false,
            verbosity: 0,
            json_logs: false,
            placement: Placement::default(),
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The browser that signs in and captures a fresh token pair. Real: the window process
/// ([`WindowBrowser`]); tests: an HTTP driver.
pub trait SignInBrowser: Send + Sync {
    fn authenticate<'a>(
        &'a self,
        target: &'a Target,
        opts: &'a SignInOptions,
    ) -> BoxFuture<'a, Result<TokenResponse>>;
}

/// The real thing: auth-mode check, then the sign-in window in its own process.
#[derive(Debug, Clone)]
pub struct WindowBrowser {
    pub dirs: Dirs,
}

impl SignInBrowser for WindowBrowser {
    fn authenticate<'a>(
        &'a self,
        target: &'a Target,
        opts: &'a SignInOptions,
    ) -> BoxFuture<'a, Result<TokenResponse>> {
        Box::pin(sign_in(&self.dirs, target, opts))
    }
}

/// Whether a window can be shown here, possibly by starting Xvfb (`xvfb` in the options).
pub fn check_display(opts: &SignInOptions) -> Result<()> {
    if opts.xvfb && !crate::window::xvfb::available() {
        return Err(Error::NoDisplay(
            "Xvfb is not installed (Debian: apt-get install xvfb)".into(),
        ));
    }
    if !opts.xvfb && !process::have_display() {
        return Err(Error::NoDisplay(
            "set DISPLAY or WAYLAND_DISPLAY (run inside a desktop session), or use --non-interactive under `xvfb-run -a`".into(),
        ));
    }
    Ok(())
}

async fn sign_in(dirs: &Dirs, target: &Target, opts: &SignInOptions) -> Result<TokenResponse> {
    // The window opens on the side in service (a target already settled is not asked again).
    let target = &target.in_service().await?;
    let started = Instant::now();
    let profile_dir = dirs.profile(&target.profile)?;
    let _lock = websession::lock(&profile_dir)?;
    let mut cookies = match opts.use_session {
        true => websession::load(&profile_dir),
        false => vec![],
    };
    let mut sso_checked = false;
    // The chains the auth-mode check verified: the window allows those of `--ca-file` first.
    let seen = SeenChains::default();
    if !cookies.is_empty() && !opts.show {
        require_sso(target, &seen).await?;
        sso_checked = true;
        match silently(target, opts, &cookies).await {
            Silent::Signed { token, cookies } => {
                save_session(&profile_dir, &cookies);
                tracing::info!("signed in silently, no window");
                return Ok(token);
            }
            Silent::Stopped {
                at,
                why,
                cookies: now,
            } => {
                save_session(&profile_dir, &now);
                tracing::info!("silent sign-in stopped at {at}: {why}; opening the window");
                cookies = now;
            }
        }
    }
    if let Err(no_display) = check_display(opts) {
        // Still say NON_SSO (exit 3) before "no display" (exit 9): it is the real answer.
        if !sso_checked {
            require_sso(target, &seen).await?;
        }
        return Err(no_display);
    }
    let req = WindowRequest {
        finesse: target.server.clone(),
        user: target.user.clone(),
        ca_pem: target
            .ca_pem
            .as_ref()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        timeout_secs: opts
            .timeout
            .saturating_sub(started.elapsed())
            .as_secs()
            .max(1),
        data_dir: websession::webview_dir(&profile_dir),
        show_after_ms: if opts.show { 1 } else { 5_000 },
        interactive: opts.interactive,
        cookies,
        proxy: target.proxy.route.clone(),
        proxy_credential: target.proxy.credential.clone(),
        kerberos_hosts: target.kerberos_hosts.clone(),
        placement: opts.placement.clone(),
        client_certificate: target.client_cert.as_ref().map(|c| c.cert.clone()),
        certificate_pin: target.client_cert.as_ref().and_then(|c| c.pin.current()),
    };
    let spawn = Spawn {
        xvfb: opts.xvfb,
        verbosity: opts.verbosity,
        json_logs: opts.json_logs,
        // Once a window of this process needed them, later sign-ins (our agent's) start with them.
        safer_rendering: SAFER_RENDERING.load(Ordering::Relaxed),
    };
    // WebKit starts (hidden, loading nothing) while Finesse is asked for the auth mode; a
    // NON_SSO answer drops the window unseen.
    let mut window = process::Window::spawn(&req, &spawn).await?;
    // The client (system roots parsed) is built while WebKit starts, too.
    if !sso_checked {
        require_sso(target, &seen).await?;
    }
    let facts = go_facts(&seen);
    tracing::info!(
        "{} is in SSO mode for {}",
        crate::error::host_of(&target.server),
        target.user
    );
    let started = Instant::now();
    window.go(&facts).await?;
    let got = async {
        Ok(match window.finish().await? {
            Ended::Token(t) => t,
            Ended::RenderingFailed(why) if !spawn.safer_rendering => {
                restart(
                    &req,
                    &spawn,
                    &facts,
                    opts.timeout.saturating_sub(started.elapsed()),
                    why,
                )
                .await?
            }
            Ended::RenderingFailed(why) => {
                return Err(Error::Webview(format!(
                    "{why} (the window already ran with safer rendering settings)"
                )));
            }
        })
    }
    .await;
    if let (Err(Error::AuthRejected { .. }), Some(c)) = (&got, &target.client_cert) {
        // The card or file refused the PIN (or the IdP the certificate): never offered again
        // by this process, so no later sign-in can walk the card into its lockout.
        c.pin.forget();
    }
    let got = got?;
    if opts.use_session {
        save_session(&profile_dir, &got.cookies);
    }
    Ok(got.token)
}

/// The silent walk ([`crate::silent`]) with the helper's client for this target: its CA, proxy
/// and per-request timeout, the whole walk within half the sign-in's time (at most 30 s) so
/// the window still has its share when the walk stops.
async fn silently(target: &Target, opts: &SignInOptions, cookies: &[SavedCookie]) -> Silent {
    let within = (opts.timeout / 2).min(HTTP_TIMEOUT);
    let http = target.http_options();
    crate::silent::sign_in(&http, &target.server, &target.user, cookies, within).await
}

/// Saves the web session; a failure only costs the next sign-in its cookies.
fn save_session(profile_dir: &std::path::Path, cookies: &[SavedCookie]) {
    if let Err(e) = websession::save(profile_dir, cookies) {
        tracing::warn!("the web session was not saved: {e}");
    }
}

/// The helper's per-request timeout (the Finesse client's and the silent walk's).
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Set once a window of this process could not render and its restart used safer settings.
static SAFER_RENDERING: AtomicBool = AtomicBool::new(false);

/// The one restart after a rendering failure: the same request within what is left of its
/// timeout, with every safer rendering variable the user left unset. A second failure ends
/// the sign-in.
async fn restart(
    req: &WindowRequest,
    spawn: &Spawn,
    facts: &GoFacts,
    left: Duration,
    why: String,
) -> Result<WindowToken> {
    if left < Duration::from_secs(1) {
        return Err(Error::TimedOut(
            req.timeout_secs,
            format!("; {why}, with no time left to restart the window"),
        ));
    }
    let req = WindowRequest {
        timeout_secs: left.as_secs(),
        ..req.clone()
    };
    let spawn = Spawn {
        safer_rendering: true,
        ..spawn.clone()
    };
    let mut window = process::Window::spawn(&req, &spawn).await?;
    let changed = rendering::describe(window.rendering());
    tracing::warn!(
        "{why}; restarting the sign-in window once with safer rendering settings: {changed}"
    );
    SAFER_RENDERING.store(true, Ordering::Relaxed);
    window.go(facts).await?;
    match window.finish().await? {
        Ended::Token(t) => Ok(t),
        Ended::RenderingFailed(again) => Err(Error::Webview(format!(
            "{again}, again after a restart with safer rendering settings ({changed}); \
             see \"Rendering fallbacks\" in docs/administrators.md"
        ))),
    }
}

/// What the window is told with `go`: the chains the auth-mode check noted.
fn go_facts(seen: &SeenChains) -> GoFacts {
    GoFacts {
        certificates: seen
            .snapshot()
            .into_iter()
            .map(|(host, chain)| KnownChain::new(host, &chain))
            .collect(),
    }
}

/// The auth-mode check through the proxy; a tunnel the proxy refused is looked at once, so a
/// wrong proxy password is said as such.
async fn require_sso(target: &Target, seen: &SeenChains) -> Result<()> {
    match target.finesse_noting(seen)?.require_sso(&target.user).await {
        Err(e) => Err(crate::proxy::probe::explain(e, &target.proxy, &target.server).await),
        Ok(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the security review: a proxy URL that did not parse was echoed whole, password
    /// included.
    #[test]
    fn proxy_errors_never_show_the_password() {
        for bad in [
            "http://proxyuser:S3cretProxyPw@[::1",
            "http://proxyuser:S3cretProxyPw@proxy.example:99999",
            "ftp://proxyuser:S3cretProxyPw@proxy.example:21",
            "proxyuser:S3cretProxyPw",
            "http://proxyuser:S3cretProxyPw@",
        ] {
            let e = parse_proxy(bad).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::USAGE, "{bad}");
            let m = e.to_string();
            assert!(
                !m.contains("S3cretProxyPw") && !m.contains("proxyuser"),
                "{m}"
            );
            assert!(m.contains("--proxy"), "{m}");
        }
        let ok = parse_proxy("http://u:p@proxy.example:3128").unwrap();
        assert_eq!(
            ok.password(),
            Some("p"),
            "the password is kept for use, only not shown"
        );
    }

    #[test]
    fn no_server_says_how_to_set_one_and_mentions_the_demo() {
        let e = Target::from_args(&ServerArgs::default()).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
        let m = e.to_string();
        for part in ["--server", "FINESSE_SSO_SERVER", "config.toml", "--demo"] {
            assert!(m.contains(part), "{m}");
        }
    }
}
