//! The crate's error type. Every variant names what failed; exit codes are decided here only.

use std::path::PathBuf;

/// Process exit codes. The README's table is generated from the same list (see `EXIT_CODES`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const INTERNAL: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_SSO: i32 = 3;
    pub const CANCELLED: i32 = 4;
    pub const TIMED_OUT: i32 = 5;
    pub const SERVER: i32 = 6;
    pub const NETWORK: i32 = 7;
    pub const TLS: i32 = 8;
    pub const NO_DISPLAY: i32 = 9;
    pub const TOKEN_INVALID: i32 = 10;
    pub const AGENT: i32 = 11;
    pub const STATE: i32 = 12;
    pub const AUTH_REJECTED: i32 = 13;
    pub const INTERACTION_REQUIRED: i32 = 14;
    pub const AGENT_RUNNING: i32 = 15;
    pub const AGENT_NOT_RUNNING: i32 = 16;
    // desktop (issue 11)
    pub const DESKTOP_UNCONFIRMED: i32 = 17;
    pub const DESKTOP_REFUSED: i32 = 18;
    pub const ACCOUNT_LOCKED: i32 = 19;
    pub const PASSWORD_REQUIRED: i32 = 20;
}

/// `(code, meaning)` for `--help` and the README.
pub const EXIT_CODES: &[(i32, &str)] = &[
    (exit::OK, "success"),
    (
        exit::INTERNAL,
        "internal error (a bug, or the webview process crashed)",
    ),
    (exit::USAGE, "usage or configuration error"),
    (
        exit::NOT_SSO,
        "the system or this user is not in SSO mode (NON_SSO): use Basic auth",
    ),
    (exit::CANCELLED, "the user closed the sign-in window"),
    (exit::TIMED_OUT, "no token before --timeout"),
    (
        exit::SERVER,
        "Finesse, IdS or the IdP answered something unusable (HTTP error, not Finesse, bad token JSON)",
    ),
    (
        exit::NETWORK,
        "a server could not be reached (DNS, connection, proxy)",
    ),
    (
        exit::TLS,
        "TLS failure (untrusted or invalid certificate): see --ca-file",
    ),
    (
        exit::NO_DISPLAY,
        "no display for the sign-in window, or no webview in this build",
    ),
    (exit::TOKEN_INVALID, "decode: bad signature, or not a token"),
    (
        exit::AGENT,
        "the agent or its pipe failed or refused the request",
    ),
    (
        exit::STATE,
        "local state (config, profile, cookie store) could not be read or written",
    ),
    (
        exit::AUTH_REJECTED,
        "Finesse rejected the credentials or token (401/403)",
    ),
    (
        exit::INTERACTION_REQUIRED,
        "the IdP needs the user, but the sign-in was non-interactive",
    ),
    (
        exit::AGENT_RUNNING,
        "an agent for this profile is already running (agent run/start)",
    ),
    (
        exit::AGENT_NOT_RUNNING,
        "no agent is running for this profile (agent status/stop)",
    ),
    // desktop (issue 11)
    (
        exit::DESKTOP_UNCONFIRMED,
        "desktop: Finesse accepted the request, but the agent's state did not follow (e.g. still signed out: device invalid or busy)",
    ),
    (
        exit::DESKTOP_REFUSED,
        "desktop: Finesse refused the request (invalid extension or device, state change not allowed, reason code missing)",
    ),
    (
        exit::ACCOUNT_LOCKED,
        "desktop: the account or this client is locked out or rate-limited; wait minutes, do not retry",
    ),
    (
        exit::PASSWORD_REQUIRED,
        "desktop: a NON_SSO user needs a password (--password-stdin or a terminal prompt)",
    ),
];

/// Which step of the work an error happened in, for messages like "SystemInfo on host X: …".
pub type Step = &'static str;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{who} is NON_SSO on {server}: Finesse expects Basic authentication, not an SSO token")]
    NotSso { who: String, server: String },
    #[error("sign-in cancelled: the window was closed")]
    Cancelled,
    /// Seconds, then where the window was (`; the window was at …`) when known.
    #[error("no token after {0} s (--timeout){1}")]
    TimedOut(u64, String),
    #[error("{step} on {host}: {detail}")]
    Server {
        step: Step,
        host: String,
        detail: String,
    },
    #[error("{step}: cannot reach {host}: {cause}")]
    Network {
        step: Step,
        host: String,
        cause: String,
    },
    #[error(
        "{step}: TLS with {host} failed: {cause} (trust the server's CA with --ca-file or the system store)"
    )]
    Tls {
        step: Step,
        host: String,
        cause: String,
    },
    #[error("no display for the sign-in window: {0}")]
    NoDisplay(String),
    #[error("webview: {0}")]
    Webview(String),
    #[error("{0}")]
    TokenInvalid(String),
    #[error("agent: {0}")]
    Agent(String),
    #[error("{}: {cause}", path.display())]
    State { path: PathBuf, cause: String },
    #[error("{step} on {host}: rejected ({detail})")]
    AuthRejected {
        step: Step,
        host: String,
        detail: String,
    },
    #[error("the identity provider needs the user, but this sign-in may not show a window: {0}")]
    InteractionRequired(String),
    #[error("{0}")]
    Internal(String),
    #[error("an agent is already running for this profile: {0}")]
    AgentRunning(String),
    #[error("no agent is running for profile {0}")]
    AgentNotRunning(String),
    /// A typed error the agent answered on the pipe; `kind` keeps its exit code.
    #[error("agent: {message}")]
    FromAgent { kind: String, message: String },
    // desktop (issue 11)
    #[error("{0}")]
    DesktopUnconfirmed(String),
    #[error("{step} on {host}: refused ({detail})")]
    DesktopRefused {
        step: Step,
        host: String,
        detail: String,
    },
    #[error("{step} on {host}: locked out ({detail}); not retried")]
    AccountLocked {
        step: Step,
        host: String,
        detail: String,
    },
    #[error("{0}")]
    PasswordRequired(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::NotSso { .. } => exit::NOT_SSO,
            Error::Cancelled => exit::CANCELLED,
            Error::TimedOut(..) => exit::TIMED_OUT,
            Error::Server { .. } => exit::SERVER,
            Error::Network { .. } => exit::NETWORK,
            Error::Tls { .. } => exit::TLS,
            Error::NoDisplay(_) => exit::NO_DISPLAY,
            Error::Webview(_) | Error::Internal(_) => exit::INTERNAL,
            Error::TokenInvalid(_) => exit::TOKEN_INVALID,
            Error::Agent(_) => exit::AGENT,
            Error::State { .. } => exit::STATE,
            Error::AuthRejected { .. } => exit::AUTH_REJECTED,
            Error::InteractionRequired(_) => exit::INTERACTION_REQUIRED,
            Error::AgentRunning(_) => exit::AGENT_RUNNING,
            Error::AgentNotRunning(_) => exit::AGENT_NOT_RUNNING,
            Error::FromAgent { kind, .. } => exit_for_kind(kind).unwrap_or(exit::AGENT),
            // desktop (issue 11)
            Error::DesktopUnconfirmed(_) => exit::DESKTOP_UNCONFIRMED,
            Error::DesktopRefused { .. } => exit::DESKTOP_REFUSED,
            Error::AccountLocked { .. } => exit::ACCOUNT_LOCKED,
            Error::PasswordRequired(_) => exit::PASSWORD_REQUIRED,
        }
    }

    /// A stable machine-readable name (used in the webview line and pipe errors).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::NotSso { .. } => "not_sso",
            Error::Cancelled => "cancelled",
            Error::TimedOut(..) => "timed_out",
            Error::Server { .. } => "server",
            Error::Network { .. } => "network",
            Error::Tls { .. } => "tls",
            Error::NoDisplay(_) => "no_display",
            Error::Webview(_) => "webview",
            Error::TokenInvalid(_) => "token_invalid",
            Error::Agent(_) => "agent",
            Error::State { .. } => "state",
            Error::AuthRejected { .. } => "auth_rejected",
            Error::InteractionRequired(_) => "interaction_required",
            Error::Internal(_) => "internal",
            Error::AgentRunning(_) => "agent_running",
            Error::AgentNotRunning(_) => "agent_not_running",
            Error::FromAgent { .. } => "agent",
            // desktop (issue 11)
            Error::DesktopUnconfirmed(_) => "desktop_unconfirmed",
            Error::DesktopRefused { .. } => "desktop_refused",
            Error::AccountLocked { .. } => "account_locked",
            Error::PasswordRequired(_) => "password_required",
        }
    }

    pub fn state(path: impl Into<PathBuf>, cause: impl std::fmt::Display) -> Self {
        Error::State {
            path: path.into(),
            cause: cause.to_string(),
        }
    }

    /// Maps a failed request to Network or TLS, naming the host and step.
    pub fn request(step: Step, url: &url::Url, err: &reqwest::Error) -> Self {
        let host = host_of(url);
        let cause = crate::http::describe(err);
        if crate::http::is_tls_error(err) {
            Error::Tls { step, host, cause }
        } else if err.is_timeout() {
            Error::Network {
                step,
                host,
                cause: format!("timed out ({cause})"),
            }
        } else {
            Error::Network { step, host, cause }
        }
    }
}

/// The exit code for an error `kind` that crossed a process boundary (the agent's pipe, the
/// window's outcome line); `None` for a kind this side does not know.
pub fn exit_for_kind(kind: &str) -> Option<i32> {
    Some(match kind {
        "usage" => exit::USAGE,
        "not_sso" => exit::NOT_SSO,
        "cancelled" => exit::CANCELLED,
        "timed_out" => exit::TIMED_OUT,
        "server" => exit::SERVER,
        "network" => exit::NETWORK,
        "tls" => exit::TLS,
        "no_display" => exit::NO_DISPLAY,
        "state" => exit::STATE,
        "auth_rejected" => exit::AUTH_REJECTED,
        "interaction_required" => exit::INTERACTION_REQUIRED,
        "webview" | "internal" => exit::INTERNAL,
        // desktop (issue 11)
        "desktop_unconfirmed" => exit::DESKTOP_UNCONFIRMED,
        "desktop_refused" => exit::DESKTOP_REFUSED,
        "account_locked" => exit::ACCOUNT_LOCKED,
        "password_required" => exit::PASSWORD_REQUIRED,
        _ => return None,
    })
}

/// `host:port` of a URL, for messages.
pub fn host_of(url: &url::Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "<no host>".into(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_back_to_its_exit_code() {
        let errors = [
            Error::Usage("x".into()),
            Error::NotSso {
                who: "u".into(),
                server: "s".into(),
            },
            Error::Cancelled,
            Error::TimedOut(1, String::new()),
            Error::Server {
                step: "s",
                host: "h".into(),
                detail: "d".into(),
            },
            Error::Network {
                step: "s",
                host: "h".into(),
                cause: "c".into(),
            },
            Error::Tls {
                step: "s",
                host: "h".into(),
                cause: "c".into(),
            },
            Error::NoDisplay("x".into()),
            Error::Webview("x".into()),
            Error::state("/x", "y"),
            Error::AuthRejected {
                step: "s",
                host: "h".into(),
                detail: "d".into(),
            },
            Error::InteractionRequired("x".into()),
            Error::Internal("x".into()),
            // desktop (issue 11)
            Error::DesktopUnconfirmed("x".into()),
            Error::DesktopRefused {
                step: "s",
                host: "h".into(),
                detail: "d".into(),
            },
            Error::AccountLocked {
                step: "s",
                host: "h".into(),
                detail: "d".into(),
            },
            Error::PasswordRequired("x".into()),
        ];
        for e in errors {
            assert_eq!(exit_for_kind(e.kind()), Some(e.exit_code()), "{e:?}");
        }
        assert_eq!(exit_for_kind("from a newer agent"), None);
    }

    #[test]
    fn exit_codes_are_distinct_and_documented() {
        let mut codes: Vec<i32> = EXIT_CODES.iter().map(|(c, _)| *c).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), EXIT_CODES.len());
        for e in [
            Error::Cancelled,
            Error::TimedOut(1, String::new()),
            Error::NoDisplay("x".into()),
            Error::Agent("x".into()),
            Error::state("/x", "y"),
            Error::AgentRunning("x".into()),
            Error::AgentNotRunning("x".into()),
            Error::FromAgent {
                kind: "network".into(),
                message: "x".into(),
            },
            Error::FromAgent {
                kind: "from_the_future".into(),
                message: "x".into(),
            },
        ] {
            assert!(EXIT_CODES.iter().any(|(c, _)| *c == e.exit_code()), "{e:?}");
        }
    }
}
