//! The crate's error type. Every variant names what failed; its [`ErrorKind`] (`kind.rs`)
//! decides the exit code. Exit codes are decided in this module only.

use std::path::PathBuf;

mod kind;
mod throttle;

pub use kind::{ErrorKind, exit, exit_codes};
pub use throttle::Throttle;

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
    #[error("a background agent is already running for this profile: {0}")]
    AgentRunning(String),
    #[error("no background agent is running for profile {0}")]
    AgentNotRunning(String),
    /// A typed error the agent answered on the pipe; `kind` keeps its exit code.
    #[error("agent: {message}")]
    FromAgent { kind: ErrorKind, message: String },
    /// Finesse accepted a desktop request, but the Finesse agent's state did not follow.
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
    /// Another user's process holds the agent's pipe name. The text says which pipe and who.
    #[error(
        "{0}. Another local user's program holds our agent's pipe and may be posing as the agent \
         to collect tokens: it was refused and nothing was sent to it. Tell your administrator \
         (docs/security.md, \"The agent's pipe\")"
    )]
    ForeignPipe(String),
    /// `doctor` printed its table; these checks failed.
    #[error("doctor: {0}")]
    DoctorFailed(String),
    /// The proxy wants credentials, or refused them. The text names the proxy (never the
    /// password) and what to do.
    #[error("{0}")]
    ProxyAuth(String),
    /// The VPN-less proxy's 418 (client blocked) or 429 (rate limited): wait `retry_after`.
    #[error("{step} on {host}: {}", throttle::describe(*why, *retry_after))]
    Throttled {
        step: Step,
        host: String,
        why: Throttle,
        retry_after: std::time::Duration,
    },
    /// Stdout's reader went away (`EPIPE`, a closed Windows pipe): `main` exits without a word.
    #[error("stdout was closed by its reader")]
    StdoutClosed,
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            // Kinds only this side produces: an agent that sends one has failed (exit 11).
            Error::FromAgent {
                kind:
                    ErrorKind::TokenInvalid
                    | ErrorKind::AgentRunning
                    | ErrorKind::AgentNotRunning
                    | ErrorKind::ForeignPipe
                    | ErrorKind::StdoutClosed,
                ..
            } => exit::AGENT,
            Error::FromAgent { kind, .. } => kind.exit_code(),
            e => e.kind().exit_code(),
        }
    }

    /// The kind reported for this error on the pipe and in the agent's `last_error`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Usage(_) => ErrorKind::Usage,
            Error::NotSso { .. } => ErrorKind::NotSso,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::TimedOut(..) => ErrorKind::TimedOut,
            Error::Server { .. } => ErrorKind::Server,
            Error::Network { .. } => ErrorKind::Network,
            Error::Tls { .. } => ErrorKind::Tls,
            Error::NoDisplay(_) => ErrorKind::NoDisplay,
            Error::Webview(_) => ErrorKind::Webview,
            Error::TokenInvalid(_) => ErrorKind::TokenInvalid,
            Error::Agent(_) | Error::FromAgent { .. } => ErrorKind::Agent,
            Error::State { .. } => ErrorKind::State,
            Error::AuthRejected { .. } => ErrorKind::AuthRejected,
            Error::InteractionRequired(_) => ErrorKind::InteractionRequired,
            Error::Internal(_) => ErrorKind::Internal,
            Error::AgentRunning(_) => ErrorKind::AgentRunning,
            Error::AgentNotRunning(_) => ErrorKind::AgentNotRunning,
            Error::DesktopUnconfirmed(_) => ErrorKind::DesktopUnconfirmed,
            Error::DesktopRefused { .. } => ErrorKind::DesktopRefused,
            Error::AccountLocked { .. } => ErrorKind::AccountLocked,
            Error::PasswordRequired(_) => ErrorKind::PasswordRequired,
            Error::ForeignPipe(_) => ErrorKind::ForeignPipe,
            Error::DoctorFailed(_) => ErrorKind::DoctorFailed,
            Error::ProxyAuth(_) => ErrorKind::ProxyAuth,
            Error::Throttled {
                why: Throttle::Blocked,
                ..
            } => ErrorKind::ProxyBlocked,
            Error::Throttled {
                why: Throttle::RateLimited,
                ..
            } => ErrorKind::RateLimited,
            Error::StdoutClosed => ErrorKind::StdoutClosed,
        }
    }

    /// How long nothing may be retried after this error (418/429), if it says.
    /// The agent's answer of that kind (its wait is not on the wire) counts as the refusal's
    /// own wait.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::Throttled { retry_after, .. } => Some(*retry_after),
            Error::FromAgent {
                kind: ErrorKind::ProxyBlocked,
                ..
            } => Some(Throttle::Blocked.wait(None)),
            Error::FromAgent {
                kind: ErrorKind::RateLimited,
                ..
            } => Some(Throttle::RateLimited.wait(None)),
            _ => None,
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
        if crate::http::is_proxy_auth_error(err) {
            Error::ProxyAuth(format!(
                "{step}: the proxy refused the tunnel to {host}: it asks for a proxy user name \
                 and password, or rejected the ones given (HTTP 407); not tried again"
            ))
        } else if crate::http::is_tls_error(err) {
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
            Error::ForeignPipe("x".into()),
            Error::DoctorFailed("x".into()),
            Error::ProxyAuth("x".into()),
            Error::StdoutClosed,
            Throttle::error("s", "h".into(), 418, None).unwrap(),
            Throttle::error("s", "h".into(), 429, None).unwrap(),
        ];
        for e in errors {
            let kind = e.kind();
            assert!(ErrorKind::ALL.contains(&kind), "{e:?}");
            assert_eq!(kind.exit_code(), e.exit_code(), "{e:?}");
        }
        assert!(!ErrorKind::ALL.contains(&ErrorKind::from("from a newer agent")));
    }

    #[test]
    fn exit_codes_are_distinct_and_documented() {
        let table = exit_codes();
        let mut codes: Vec<i32> = table.iter().map(|(c, _)| *c).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), table.len());
        for e in [
            Error::Cancelled,
            Error::TimedOut(1, String::new()),
            Error::NoDisplay("x".into()),
            Error::Agent("x".into()),
            Error::state("/x", "y"),
            Error::AgentRunning("x".into()),
            Error::AgentNotRunning("x".into()),
            Error::FromAgent {
                kind: ErrorKind::Network,
                message: "x".into(),
            },
            Error::FromAgent {
                kind: ErrorKind::from("from_the_future"),
                message: "x".into(),
            },
        ] {
            assert!(table.iter().any(|(c, _)| *c == e.exit_code()), "{e:?}");
        }
    }

    /// The agent's 418/429 answer keeps a wait, so a caller of the agent (the notification
    /// session asking for a token) holds off as long.
    #[test]
    fn a_throttle_from_the_agent_keeps_a_wait() {
        let from = |kind: ErrorKind| Error::FromAgent {
            kind,
            message: "m".into(),
        };
        assert_eq!(
            from(ErrorKind::ProxyBlocked).retry_after(),
            Some(throttle::BLOCKED_WAIT_MIN)
        );
        assert_eq!(
            from(ErrorKind::RateLimited).retry_after(),
            Some(throttle::RATE_LIMITED_WAIT)
        );
        assert_eq!(from(ErrorKind::Network).retry_after(), None);
        assert_eq!(from(ErrorKind::RateLimited).exit_code(), 25);
    }

    /// A squatter on the pipe is exit 21, apart from "our own agent runs" (15), and the message
    /// says what it means.
    #[test]
    fn a_foreign_pipe_is_its_own_loud_error() {
        let e =
            Error::ForeignPipe(r"\\.\pipe\x is served by process 7 running as S-1-5-21-9".into());
        assert_eq!(e.exit_code(), 21);
        assert_ne!(e.exit_code(), Error::AgentRunning("x".into()).exit_code());
        let text = e.to_string();
        assert!(
            text.starts_with(r"\\.\pipe\x is served by process 7"),
            "{text}"
        );
        assert!(text.contains("posing as the agent") && text.contains("nothing was sent"));
    }

    /// What the agent answers keeps its exit code; what it should never send, or a kind from a
    /// newer agent, is an agent failure (exit 11), as before kinds were typed.
    #[test]
    fn errors_from_the_agent_keep_their_exit_codes() {
        let from = |kind: &str| Error::FromAgent {
            kind: ErrorKind::from(kind),
            message: "m".into(),
        };
        for (kind, code) in [
            ("network", exit::NETWORK),
            ("interaction_required", exit::INTERACTION_REQUIRED),
            ("internal", exit::INTERNAL),
            ("webview", exit::INTERNAL),
            ("busy", exit::AGENT),
            ("agent", exit::AGENT),
            ("token_invalid", exit::AGENT),
            ("agent_running", exit::AGENT),
            ("agent_not_running", exit::AGENT),
            ("foreign_pipe", exit::AGENT),
            ("stdout_closed", exit::AGENT),
            ("from_the_future", exit::AGENT),
        ] {
            assert_eq!(from(kind).exit_code(), code, "{kind}");
        }
    }
}
