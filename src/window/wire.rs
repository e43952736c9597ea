//! The parent↔window wire types: the request line, the `go` line and the one outcome line.

use serde::{Deserialize, Serialize};
use url::Url;

use super::placement::Placement;
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
    /// Hosts the engine may sign in to with Kerberos (Negotiate), from `kerberos_hosts`,
    /// checked by `negotiate::parse_hosts`. Empty: none on Linux, WebView2's default on Windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kerberos_hosts: Vec<String>,
    /// Where the window opens: in front of the caller's window, with its activation token.
    #[serde(default, skip_serializing_if = "Placement::is_empty")]
    pub placement: Placement,
    /// The client certificate to offer an IdP that asks for one (paths and URIs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<crate::client_cert::ClientCertificate>,
    /// Its PIN or PKCS#12 password, given once; only ever on this stdin line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pin: Option<Secret<String>>,
}

/// The line the parent sends once its checks pass; the child builds its window meanwhile and
/// sends no request before it. `go` alone, or `go ` and a [`GoFacts`] in JSON.
pub const GO: &str = "go";

/// What the parent learnt while the window was being built, sent with [`GO`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GoFacts {
    /// Certificate chains the helper's client verified (`http::SeenChains`): the window allows
    /// those that chain to `--ca-file` for their host before its first request.
    #[serde(default)]
    pub certificates: Vec<KnownChain>,
}

/// One host's certificate chain, leaf first, each certificate's DER in base64.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KnownChain {
    pub host: String,
    pub chain: Vec<String>,
}

impl KnownChain {
    pub fn new(host: String, chain: &[Vec<u8>]) -> Self {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        KnownChain {
            host,
            chain: chain.iter().map(|c| b64.encode(c)).collect(),
        }
    }

    /// The chain's DER certificates; `None` if any is not base64.
    pub fn der(&self) -> Option<Vec<Vec<u8>>> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        self.chain.iter().map(|c| b64.decode(c).ok()).collect()
    }
}

impl GoFacts {
    /// The `go` line, newline included.
    pub fn line(&self) -> String {
        match self.certificates.is_empty() {
            true => format!("{GO}\n"),
            false => format!(
                "{GO} {}\n",
                serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
            ),
        }
    }

    /// The facts of a `go` line (none if they do not parse: they only save time); `None`
    /// when the line is not a `go` line.
    pub fn parse(line: &str) -> Option<GoFacts> {
        let rest = line.trim().strip_prefix(GO)?;
        match rest.trim() {
            "" => Some(GoFacts::default()),
            json if rest.starts_with(' ') => Some(serde_json::from_str(json).unwrap_or_default()),
            _ => None,
        }
    }
}

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
    /// The engine could not render (its web process died, or it painted nothing): the parent
    /// may start the window once more with safer rendering settings.
    RenderingFailed {
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
            other => Some(other),
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
    fn go_lines_carry_known_chains_and_nothing_else_is_a_go() {
        assert_eq!(GoFacts::default().line(), "go\n");
        let facts = GoFacts {
            certificates: vec![KnownChain::new(
                "finesse.example".into(),
                &[vec![1, 2, 3], vec![4]],
            )],
        };
        let line = facts.line();
        assert!(line.starts_with("go {") && line.ends_with('\n'), "{line}");
        assert_eq!(GoFacts::parse(&line), Some(facts.clone()));
        assert_eq!(
            facts.certificates[0].der(),
            Some(vec![vec![1, 2, 3], vec![4]])
        );
        assert_eq!(GoFacts::parse("go"), Some(GoFacts::default()));
        assert_eq!(GoFacts::parse("go {not json"), Some(GoFacts::default()));
        for not_go in ["gone", "", "stop", "go!"] {
            assert_eq!(GoFacts::parse(not_go), None, "{not_go}");
        }
    }

    /// The PIN travels on the request line (the child's stdin) and nowhere else: a logged or
    /// printed request shows it redacted; an older parent's line (no such fields) still parses.
    #[test]
    fn the_certificate_pin_is_on_the_request_line_only() {
        let line = r#"{"finesse":"https://f.example:8445/","user":"agent1","timeout_secs":5,
            "data_dir":"/tmp/x","show_after_ms":1,"interactive":false}"#;
        let mut req: WindowRequest = serde_json::from_str(line).unwrap();
        assert!(req.client_certificate.is_none() && req.certificate_pin.is_none());
        req.client_certificate = Some(crate::client_cert::ClientCertificate {
            pkcs11_uri: Some("pkcs11:token=card".into()),
            ..Default::default()
        });
        req.certificate_pin = Some(Secret::new("471193".into()));
        assert!(!format!("{req:?}").contains("471193"));
        let sent = serde_json::to_string(&req).unwrap();
        assert!(sent.contains(r#""certificate_pin":"471193""#), "{sent}");
        let back: WindowRequest = serde_json::from_str(&sent).unwrap();
        assert_eq!(back.certificate_pin.unwrap().expose(), "471193");
        assert_eq!(back.client_certificate, req.client_certificate);
    }

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
        let r = WindowOutcome::RenderingFailed {
            message: "WebKit's web process crashed".into(),
        }
        .to_line();
        assert_eq!(
            r,
            r#"{"status":"rendering_failed","message":"WebKit's web process crashed"}"#
        );
        assert!(matches!(
            WindowOutcome::from_line(&r),
            Some(WindowOutcome::RenderingFailed { .. })
        ));
    }
}
