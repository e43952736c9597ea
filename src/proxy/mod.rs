//! Proxies, the same for the sign-in window and the helper's own HTTP client: the route
//! (`route`: a `proxy` setting, else the environment, else the system's settings), the proxy
//! credential (a user name from the proxy URL, its password from that URL, stdin or a prompt,
//! asked for once and held in memory only), and a look at a refused tunnel (`probe`).

pub mod probe;
pub mod route;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::redact::Secret;
pub use route::{ProxyRoute, ProxyServers};

/// The flag that reads the proxy password from stdin.
pub const PASSWORD_STDIN_FLAG: &str = "--proxy-password-stdin";

/// A proxy user and password (Basic). Crosses to the window program only in its stdin
/// request line; `Debug` never shows the password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyCredential {
    pub user: String,
    pub password: Secret<String>,
    /// Asked for (stdin or terminal) rather than read from the proxy URL: a background agent
    /// started from here needs it handed over (its stdin), since it cannot ask.
    #[serde(skip)]
    pub asked: bool,
}

/// How to reach servers in this run: the route and, when the proxy URL names a user, the
/// credential.
#[derive(Debug, Clone, Default)]
pub struct ProxySetup {
    pub route: ProxyRoute,
    pub credential: Option<ProxyCredential>,
}

/// How the password of a user named in the proxy URL (without one) is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// The first line of stdin (`--proxy-password-stdin`).
    Stdin,
    /// A terminal prompt when there is a terminal; otherwise an error saying how.
    Prompt,
    /// Not at all (`doctor`): requests go without credentials and the proxy says so.
    Never,
}

impl ProxySetup {
    /// Resolves the route from the settings and the process's environment, and the credential.
    pub fn resolve(proxy: Option<&str>, bypass: Option<&str>, ask: Ask) -> Result<Self> {
        let env = |k: &str| std::env::var(k).ok();
        let (route, user) = route::resolve(&route::RouteInputs {
            proxy,
            bypass,
            env: &env,
        })?;
        if ask == Ask::Stdin && user.as_ref().is_none_or(|u| u.password.is_some()) {
            return Err(Error::Usage(format!(
                "{PASSWORD_STDIN_FLAG}: the proxy URL names no user without a password \
                 (use http://user@proxy:port)"
            )));
        }
        let credential = match user {
            None => None,
            Some(u) => match u.password {
                Some(password) => Some(ProxyCredential {
                    user: u.user,
                    password,
                    asked: false,
                }),
                None => ask_password(&route, &u.user, ask)?.map(|password| ProxyCredential {
                    user: u.user,
                    password,
                    asked: true,
                }),
            },
        };
        if let Some(c) = &credential {
            // The user name stays out of logs, like the rest of the URL's user information.
            tracing::debug!(
                "proxy: {}, with the proxy URL's user (password {})",
                route.describe(),
                if c.asked { "asked for" } else { "from the URL" }
            );
        } else {
            tracing::debug!("proxy: {}", route.describe());
        }
        Ok(ProxySetup { route, credential })
    }

    /// A direct route, for the built-in demo on loopback.
    pub fn direct() -> Self {
        ProxySetup {
            route: ProxyRoute::Direct,
            credential: None,
        }
    }

    /// The password a background agent started from here must be handed (it cannot ask).
    pub fn password_to_hand_over(&self) -> Option<&Secret<String>> {
        self.credential
            .as_ref()
            .filter(|c| c.asked)
            .map(|c| &c.password)
    }
}

fn ask_password(route: &ProxyRoute, user: &str, ask: Ask) -> Result<Option<Secret<String>>> {
    let shown = route.describe();
    match ask {
        Ask::Never => Ok(None),
        Ask::Stdin => crate::prompt::line_from_stdin(PASSWORD_STDIN_FLAG).map(Some),
        Ask::Prompt if crate::prompt::can_prompt() => {
            crate::prompt::hidden(&format!("Proxy password for {user} ({shown}): ")).map(Some)
        }
        Ask::Prompt => Err(Error::ProxyAuth(format!(
            "the proxy ({shown}) names the user {user} but no password, and there is no \
             terminal to ask on: pipe it with {PASSWORD_STDIN_FLAG}"
        ))),
    }
}
