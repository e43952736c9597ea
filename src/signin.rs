//! One sign-in, end to end: resolve the target, check the auth mode, run the window, keep the
//! web session. The [`Authenticator`] trait is the seam: the agent and tests swap the browser.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use url::Url;

use crate::cli::ServerArgs;
use crate::dirs::Dirs;
use crate::error::{Error, Result};
use crate::finesse::client::Finesse;
use crate::finesse::token_response::TokenResponse;
use crate::http::{self, HttpOptions, Jar};
use crate::websession;
use crate::window::WindowRequest;
use crate::window::process::{self, Spawn};

/// Which server and user, and how to reach the server.
#[derive(Debug, Clone)]
pub struct Target {
    pub server: Url,
    pub user: String,
    pub ca_pem: Option<Vec<u8>>,
    pub proxy: Option<Url>,
    /// Profile name: its own saved web session and WebKit data.
    pub profile: String,
}

impl Target {
    pub fn from_args(a: &ServerArgs) -> Result<Self> {
        let server = a
            .server
            .as_deref()
            .ok_or_else(|| Error::Usage("--server is required".into()))?;
        let server = crate::finesse::server::parse(server)?;
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
        let proxy = a
            .proxy
            .as_deref()
            .map(|p| Url::parse(p).map_err(|e| Error::Usage(format!("--proxy {p:?}: {e}"))))
            .transpose()?;
        Ok(Target {
            server,
            user,
            ca_pem,
            proxy,
            profile: a.profile().to_string(),
        })
    }

    /// A Finesse client that does not follow redirects (a refresh redirect means "browser").
    pub fn finesse(&self) -> Result<Finesse> {
        let opts = HttpOptions {
            ca_pem: self.ca_pem.clone(),
            proxy: self.proxy.clone(),
            follow_redirects: false,
            timeout: Some(Duration::from_secs(30)),
        };
        let client =
            http::client(&opts, Some(Jar::new())).map_err(|e| Error::Usage(e.to_string()))?;
        Ok(Finesse::new(self.server.clone(), client))
    }
}

/// How a sign-in may behave.
#[derive(Debug, Clone)]
pub struct SignInOptions {
    pub timeout: Duration,
    /// Show the window at once (otherwise only when a page needs the user).
    pub show: bool,
    /// false: never show a window; fail with `InteractionRequired` instead.
    pub interactive: bool,
    /// Restore and save the profile's web session.
    pub use_session: bool,
    /// Run the window under `xvfb-run` (no display).
    pub xvfb: bool,
    pub verbosity: u8,
    pub json_logs: bool,
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
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Gets a fresh token pair by signing in. Real: the window process; tests: an HTTP driver.
pub trait Authenticator: Send + Sync {
    fn authenticate<'a>(
        &'a self,
        target: &'a Target,
        opts: &'a SignInOptions,
    ) -> BoxFuture<'a, Result<TokenResponse>>;
}

/// The real thing: auth-mode check, then the sign-in window in its own process.
#[derive(Debug, Clone)]
pub struct WindowAuthenticator {
    pub dirs: Dirs,
}

impl Authenticator for WindowAuthenticator {
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
    if opts.xvfb && !process::have_xvfb() {
        return Err(Error::NoDisplay(
            "xvfb-run is not installed (Debian: apt-get install xvfb xauth)".into(),
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
    if let Err(no_display) = check_display(opts) {
        // Still say NON_SSO (exit 3) before "no display" (exit 9): it is the real answer.
        target.finesse()?.require_sso(&target.user).await?;
        return Err(no_display);
    }
    let profile_dir = dirs.profile(&target.profile)?;
    let _lock = websession::lock(&profile_dir)?;
    let cookies = if opts.use_session {
        websession::load(&profile_dir)
    } else {
        vec![]
    };
    let req = WindowRequest {
        finesse: target.server.clone(),
        user: target.user.clone(),
        ca_pem: target
            .ca_pem
            .as_ref()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        timeout_secs: opts.timeout.as_secs().max(1),
        data_dir: websession::webview_dir(&profile_dir),
        show_after_ms: if opts.show { 1 } else { 5_000 },
        interactive: opts.interactive,
        cookies,
        proxy: target.proxy.clone(),
    };
    let spawn = Spawn {
        xvfb: opts.xvfb,
        verbosity: opts.verbosity,
        json_logs: opts.json_logs,
    };
    // WebKit starts (hidden, loading nothing) while Finesse is asked for the auth mode; a
    // NON_SSO answer drops the window unseen.
    let mut window = process::Window::spawn(&req, &spawn).await?;
    // The client (system roots parsed) is built while WebKit starts, too.
    let finesse = target.finesse()?;
    finesse.require_sso(&target.user).await?;
    tracing::info!(
        "{} is in SSO mode for {}",
        crate::error::host_of(&target.server),
        target.user
    );
    window.go().await?;
    let got = window.wait().await?;
    if opts.use_session
        && let Err(e) = websession::save(&profile_dir, &got.cookies)
    {
        tracing::warn!("the web session was not saved: {e}");
    }
    Ok(got.token)
}
