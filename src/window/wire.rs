//! The parent↔window wire types: the request line, the `go` line and the one outcome line.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::ErrorKind;
use crate::finesse::token_response::TokenResponse;
use crate::proxy::{ProxyCredential, ProxyRoute};
use crate::redact::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowRequest {
    /// The Finesse base URL (its origin is the only place a token is captured from).
    pub finesse: Url,
    pub user: String,
    /// Extra CA certificates (PEM) trusted inside the webview, for this sign-in only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    pub timeout_secs: u64,
    /// Private directory for WebKit's own files (cache, persistent cookies, storage).
    pub data_dir: std::path::PathBuf,
    /// Show the window after this long without a token, even on Finesse pages.
    pub show_after_ms: u64,
    /// false: never show the window; a page that needs the user ends with `interaction_required`.
    pub interactive: bool,
    /// Cookies to restore before the first load (the saved web session).
    #[serde(default)]
    pub cookies: Vec<SavedCookie>,
    /// The proxy route, the one the helper's own client uses (`crate::proxy`).
    #[serde(default)]
    pub proxy: ProxyRoute,
    /// The proxy user and password, answered to the proxy's challenge once per sign-in. Only
    /// ever in this line (the window's stdin), never in its arguments or environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_credential: Option<ProxyCredential>,
}

/// The line the parent sends once its checks pass; the child builds its window meanwhile and
/// loads nothing before it.
pub const GO: &str = "go";

/// One browser cookie, enough to restore it faithfully (session cookies included).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SavedCookie {
    pub name: String,
    pub value: Secret<String>,
    pub domain: String,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
    /// Unix seconds; `None` for a session cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_site: Option<String>,
}

/// Longest outcome line the parent reads (the token plus a cookie jar fits well within it).
pub const MAX_LINE: usize = 1 << 20;

/// The child's single answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WindowOutcome {
    Ok {
        token: TokenResponse,
        #[serde(default)]
        cookies: Vec<SavedCookie>,
    },
    Error {
        kind: ErrorKind,
        message: String,
    },
}

impl WindowOutcome {
    /// `kind` is an [`ErrorKind`] or, from the window program, its wire name.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        WindowOutcome::Error {
            kind,
            message: message.into(),
        }
    }

    /// Reads the child's line. The token inside is held to the same rules as a captured one
    /// (`TokenResponse::parse`), so a damaged or hostile line cannot smuggle in what the capture
    /// rule would refuse. `None` for anything that is not an outcome line.
    pub fn from_line(line: &str) -> Option<Self> {
        if line.len() > MAX_LINE {
            return None;
        }
        match serde_json::from_str::<WindowOutcome>(line).ok()? {
            WindowOutcome::Ok { token, cookies } => {
                let bytes = serde_json::to_vec(&token).ok()?;
                let token = TokenResponse::parse(&bytes).ok()?;
                Some(WindowOutcome::Ok { token, cookies })
            }
            e @ WindowOutcome::Error { .. } => Some(e),
        }
    }

    /// The one line the child writes on the answer channel.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"status":"error","kind":"internal","message":"unserialisable outcome"}"#.into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_round_trips_and_error_line_has_no_token() {
        let t = TokenResponse::parse(br#"{"token":"a.b.c","expires_in":300}"#).unwrap();
        let line = WindowOutcome::Ok {
            token: t.clone(),
            cookies: vec![],
        }
        .to_line();
        match serde_json::from_str::<WindowOutcome>(&line).unwrap() {
            WindowOutcome::Ok { token, .. } => assert_eq!(token, t),
            e => panic!("{e:?}"),
        }
        let e = WindowOutcome::error(ErrorKind::TimedOut, "no token").to_line();
        assert_eq!(
            e,
            r#"{"status":"error","kind":"timed_out","message":"no token"}"#
        );
        assert_eq!(
            WindowOutcome::error(ErrorKind::TimedOut, "no token").to_line(),
            e
        );
    }
}
