//! The typed error kind: its wire name, its exit code and its meaning, in one place.
//!
//! Kinds cross process boundaries as snake_case strings (the pipe's `error.kind`, the window's
//! outcome line, `status.last_error.kind`), so their names are part of the protocol
//! (`docs/protocol.md`). A kind from a newer peer is kept as [`ErrorKind::Unknown`].

use serde::{Deserialize, Serialize};

/// Process exit codes. The README's table comes from the same list ([`super::exit_codes`]).
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
    pub const DESKTOP_UNCONFIRMED: i32 = 17;
    pub const DESKTOP_REFUSED: i32 = 18;
    pub const ACCOUNT_LOCKED: i32 = 19;
    pub const PASSWORD_REQUIRED: i32 = 20;
    pub const FOREIGN_PIPE: i32 = 21;
    pub const DOCTOR_FAILED: i32 = 22;
    pub const PROXY_AUTH: i32 = 23;
    pub const PROXY_BLOCKED: i32 = 24;
    pub const RATE_LIMITED: i32 = 25;
    /// What a shell reports for a process killed by SIGPIPE (128 + 13): scripts already read it
    /// as "the reader went away", and it stays clear of the numbered kinds above.
    pub const STDOUT_CLOSED: i32 = 141;
}

/// What went wrong, for programs: the exit code and the `kind` on the wire.
///
/// "Agent" in these names is our background agent process (`finesse-sso agent`), never a
/// Finesse agent (a contact-center person).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Internal,
    Webview,
    Usage,
    NotSso,
    Cancelled,
    TimedOut,
    Server,
    Network,
    Tls,
    NoDisplay,
    TokenInvalid,
    Agent,
    // The pipe protocol's own kinds: the request, not the token, failed.
    BadRequest,
    UnknownOp,
    HelloRequired,
    VersionMismatch,
    LineTooLong,
    ReadTimeout,
    Busy,
    SignedOut,
    State,
    AuthRejected,
    InteractionRequired,
    AgentRunning,
    AgentNotRunning,
    // The Finesse desktop (User API) steps.
    DesktopUnconfirmed,
    DesktopRefused,
    AccountLocked,
    PasswordRequired,
    /// The pipe's name is held by another user's process (a squatter), not by our agent.
    ForeignPipe,
    /// `doctor`: at least one check failed (its table says which).
    DoctorFailed,
    /// The proxy wants credentials we do not have, or refused the ones given.
    ProxyAuth,
    /// The VPN-less proxy blocks this client after repeated failures (HTTP 418).
    ProxyBlocked,
    /// The VPN-less proxy rate-limits this client (HTTP 429).
    RateLimited,
    /// Stdout's reader went away before the output was written (never sent on the pipe).
    StdoutClosed,
    /// A kind this build does not know (from a newer peer), kept as sent for display.
    #[serde(untagged)]
    Unknown(String),
}

impl ErrorKind {
    /// Every kind this build knows, in exit-code order: the exit-code table is derived from it.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Internal,
        ErrorKind::Webview,
        ErrorKind::Usage,
        ErrorKind::NotSso,
        ErrorKind::Cancelled,
        ErrorKind::TimedOut,
        ErrorKind::Server,
        ErrorKind::Network,
        ErrorKind::Tls,
        ErrorKind::NoDisplay,
        ErrorKind::TokenInvalid,
        ErrorKind::Agent,
        ErrorKind::BadRequest,
        ErrorKind::UnknownOp,
        ErrorKind::HelloRequired,
        ErrorKind::VersionMismatch,
        ErrorKind::LineTooLong,
        ErrorKind::ReadTimeout,
        ErrorKind::Busy,
        ErrorKind::SignedOut,
        ErrorKind::State,
        ErrorKind::AuthRejected,
        ErrorKind::InteractionRequired,
        ErrorKind::AgentRunning,
        ErrorKind::AgentNotRunning,
        ErrorKind::DesktopUnconfirmed,
        ErrorKind::DesktopRefused,
        ErrorKind::AccountLocked,
        ErrorKind::PasswordRequired,
        ErrorKind::ForeignPipe,
        ErrorKind::DoctorFailed,
        ErrorKind::ProxyAuth,
        ErrorKind::ProxyBlocked,
        ErrorKind::RateLimited,
        ErrorKind::StdoutClosed,
    ];

    /// The exit code and a one-line meaning. The first kind of each code (in [`Self::ALL`])
    /// gives that code's row in `finesse-sso exit-codes` and the README.
    fn spec(&self) -> (i32, &'static str) {
        use ErrorKind as K;
        match self {
            K::Internal => (
                exit::INTERNAL,
                "internal error (a bug, or the webview process crashed)",
            ),
            K::Webview => (
                exit::INTERNAL,
                "the sign-in window process failed or answered nothing usable",
            ),
            K::Usage => (exit::USAGE, "usage or configuration error"),
            K::NotSso => (
                exit::NOT_SSO,
                "the system or this user is not in SSO mode (NON_SSO): use Basic auth",
            ),
            K::Cancelled => (exit::CANCELLED, "the user closed the sign-in window"),
            K::TimedOut => (exit::TIMED_OUT, "no token before --timeout"),
            K::Server => (
                exit::SERVER,
                "Finesse, IdS or the IdP answered something unusable (HTTP error, not Finesse, bad token JSON)",
            ),
            K::Network => (
                exit::NETWORK,
                "a server could not be reached (DNS, connection, proxy)",
            ),
            K::Tls => (
                exit::TLS,
                "TLS failure (untrusted or invalid certificate): see --ca-file",
            ),
            K::NoDisplay => (
                exit::NO_DISPLAY,
                "no display for the sign-in window, or no webview in this build",
            ),
            K::TokenInvalid => (exit::TOKEN_INVALID, "decode: bad signature, or not a token"),
            K::Agent => (
                exit::AGENT,
                "the agent or its pipe failed or refused the request",
            ),
            K::BadRequest => (
                exit::AGENT,
                "the agent could not read the request (not JSON, a field of the wrong type)",
            ),
            K::UnknownOp => (exit::AGENT, "the agent does not know the requested op"),
            K::HelloRequired => (exit::AGENT, "the client did not send hello first, in time"),
            K::VersionMismatch => (
                exit::AGENT,
                "the client speaks another major version of the protocol",
            ),
            K::LineTooLong => (exit::AGENT, "a request line exceeded the agent's limit"),
            K::ReadTimeout => (
                exit::AGENT,
                "the connection was idle, or a request line came too slowly",
            ),
            K::Busy => (exit::AGENT, "the agent has too many clients connected"),
            K::SignedOut => (exit::AGENT, "logged out while a token was being obtained"),
            K::State => (
                exit::STATE,
                "local state (config, profile, cookie store) could not be read or written",
            ),
            K::AuthRejected => (
                exit::AUTH_REJECTED,
                "Finesse rejected the credentials or token (401/403)",
            ),
            K::InteractionRequired => (
                exit::INTERACTION_REQUIRED,
                "the IdP needs the user, but the sign-in was non-interactive",
            ),
            K::AgentRunning => (
                exit::AGENT_RUNNING,
                "an agent for this profile is already running (agent run/start)",
            ),
            K::AgentNotRunning => (
                exit::AGENT_NOT_RUNNING,
                "no agent is running for this profile (agent status/stop)",
            ),
            K::DesktopUnconfirmed => (
                exit::DESKTOP_UNCONFIRMED,
                "desktop: Finesse accepted the request, but the agent's state did not follow (e.g. still signed out: device invalid or busy)",
            ),
            K::DesktopRefused => (
                exit::DESKTOP_REFUSED,
                "desktop: Finesse refused the request (invalid extension or device, state change not allowed, reason code missing)",
            ),
            K::AccountLocked => (
                exit::ACCOUNT_LOCKED,
                "desktop: the account is locked out after failed sign-ins; wait minutes, do not retry",
            ),
            K::PasswordRequired => (
                exit::PASSWORD_REQUIRED,
                "a NON_SSO user needs a password, or a client certificate its PIN, and none was given (--password-stdin, --pin-stdin or a terminal prompt)",
            ),
            K::ForeignPipe => (
                exit::FOREIGN_PIPE,
                "the agent's pipe is held by another user's process, not by our agent (someone may be posing as it): refused, nothing sent",
            ),
            K::DoctorFailed => (
                exit::DOCTOR_FAILED,
                "doctor: a check failed (the table on stdout says which and why)",
            ),
            K::ProxyAuth => (
                exit::PROXY_AUTH,
                "the proxy refused the proxy user name or password, or wants one none was given for (http://user@proxy:port)",
            ),
            K::ProxyBlocked => (
                exit::PROXY_BLOCKED,
                "the VPN-less proxy blocks this client after repeated failures (HTTP 418): wait minutes; retries wait as long",
            ),
            K::RateLimited => (
                exit::RATE_LIMITED,
                "the VPN-less proxy rate-limits this client (HTTP 429): wait as its Retry-After says; retries wait as long",
            ),
            K::StdoutClosed => (
                exit::STDOUT_CLOSED,
                "stdout was closed before the output was written (the reader went away); nothing more is printed",
            ),
            // Clients treat an unknown kind as a failure of that request (docs/protocol.md).
            K::Unknown(_) => (
                exit::AGENT,
                "an error this version does not know, from a newer agent",
            ),
        }
    }

    /// The process exit code for an error of this kind.
    pub fn exit_code(&self) -> i32 {
        self.spec().0
    }

    /// One line saying what this kind means.
    pub fn meaning(&self) -> &'static str {
        self.spec().1
    }

    /// The wire name (what serde writes); an unknown kind keeps the string it came with.
    pub fn as_str(&self) -> &str {
        use ErrorKind as K;
        match self {
            K::Internal => "internal",
            K::Webview => "webview",
            K::Usage => "usage",
            K::NotSso => "not_sso",
            K::Cancelled => "cancelled",
            K::TimedOut => "timed_out",
            K::Server => "server",
            K::Network => "network",
            K::Tls => "tls",
            K::NoDisplay => "no_display",
            K::TokenInvalid => "token_invalid",
            K::Agent => "agent",
            K::BadRequest => "bad_request",
            K::UnknownOp => "unknown_op",
            K::HelloRequired => "hello_required",
            K::VersionMismatch => "version_mismatch",
            K::LineTooLong => "line_too_long",
            K::ReadTimeout => "read_timeout",
            K::Busy => "busy",
            K::SignedOut => "signed_out",
            K::State => "state",
            K::AuthRejected => "auth_rejected",
            K::InteractionRequired => "interaction_required",
            K::AgentRunning => "agent_running",
            K::AgentNotRunning => "agent_not_running",
            K::DesktopUnconfirmed => "desktop_unconfirmed",
            K::DesktopRefused => "desktop_refused",
            K::AccountLocked => "account_locked",
            K::PasswordRequired => "password_required",
            K::ForeignPipe => "foreign_pipe",
            K::DoctorFailed => "doctor_failed",
            K::ProxyAuth => "proxy_auth",
            K::ProxyBlocked => "proxy_blocked",
            K::RateLimited => "rate_limited",
            K::StdoutClosed => "stdout_closed",
            K::Unknown(s) => s,
        }
    }
}

/// Parses a wire name; a name this build does not know becomes `Unknown`.
impl From<&str> for ErrorKind {
    fn from(s: &str) -> Self {
        ErrorKind::ALL
            .iter()
            .find(|k| k.as_str() == s)
            .cloned()
            .unwrap_or_else(|| ErrorKind::Unknown(s.to_string()))
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `(code, meaning)` for `finesse-sso exit-codes` and the README: success, then one row per
/// code, worded by the first kind with that code.
pub fn exit_codes() -> Vec<(i32, &'static str)> {
    let mut rows = vec![(exit::OK, "success")];
    for k in ErrorKind::ALL {
        if !rows.iter().any(|(c, _)| *c == k.exit_code()) {
            rows.push((k.exit_code(), k.meaning()));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire names as they were when kinds were strings: they are protocol, never renamed.
    const WIRE_NAMES: &[&str] = &[
        "internal",
        "webview",
        "usage",
        "not_sso",
        "cancelled",
        "timed_out",
        "server",
        "network",
        "tls",
        "no_display",
        "token_invalid",
        "agent",
        "bad_request",
        "unknown_op",
        "hello_required",
        "version_mismatch",
        "line_too_long",
        "read_timeout",
        "busy",
        "signed_out",
        "state",
        "auth_rejected",
        "interaction_required",
        "agent_running",
        "agent_not_running",
        "desktop_unconfirmed",
        "desktop_refused",
        "account_locked",
        "password_required",
        "foreign_pipe",
        "doctor_failed",
        "proxy_auth",
        "proxy_blocked",
        "rate_limited",
        "stdout_closed",
    ];

    #[test]
    fn every_kind_keeps_its_wire_name() {
        assert_eq!(ErrorKind::ALL.len(), WIRE_NAMES.len());
        for (k, name) in ErrorKind::ALL.iter().zip(WIRE_NAMES) {
            let json = serde_json::to_string(k).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(k.as_str(), *name);
            assert_eq!(k.to_string(), *name);
            assert_eq!(&serde_json::from_str::<ErrorKind>(&json).unwrap(), k);
            assert_eq!(&ErrorKind::from(*name), k);
        }
    }

    #[test]
    fn an_unknown_kind_is_kept_and_is_an_agent_failure() {
        let k: ErrorKind = serde_json::from_str("\"quota_exceeded\"").unwrap();
        assert_eq!(k, ErrorKind::Unknown("quota_exceeded".into()));
        assert_eq!(k.to_string(), "quota_exceeded");
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"quota_exceeded\"");
        assert_eq!(ErrorKind::from("quota_exceeded"), k);
        assert_eq!(k.exit_code(), exit::AGENT);
        assert!(!ErrorKind::ALL.contains(&k));
        assert!(serde_json::from_str::<ErrorKind>("7").is_err());
    }

    #[test]
    fn exit_codes_are_the_documented_table() {
        let rows = exit_codes();
        let codes: Vec<i32> = rows.iter().map(|(c, _)| *c).collect();
        let numbered: Vec<i32> = (0..=25).chain([exit::STDOUT_CLOSED]).collect();
        assert_eq!(codes, numbered);
        assert_eq!(
            rows[1],
            (1, "internal error (a bug, or the webview process crashed)")
        );
        assert_eq!(
            rows[11],
            (11, "the agent or its pipe failed or refused the request")
        );
        for k in ErrorKind::ALL {
            assert!(!k.meaning().is_empty());
            assert!(!matches!(k, ErrorKind::Unknown(_)));
        }
    }
}
