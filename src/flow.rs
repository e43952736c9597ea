//! Pure sign-in decisions: which navigations to allow, when to show the window, what to capture.
//!
//! The webview callbacks and the HTTP test driver both call these, so the security rules are
//! written once and unit-tested without a browser.

use url::Url;

pub mod document;
pub mod popup;

pub use crate::finesse::TOKEN_PATH;
pub use crate::finesse::address::is_loopback;
use crate::finesse::token_response::{TokenResponse, TokenResponseError};

mod response;
pub use response::{DocumentBinding, ResponseFacts, ResponseVerdict};

/// Finesse's own sign-in steps (`/desktop/sso/token`, `/desktop/sso/authcode`).
const SSO_PATHS: &str = "/desktop/sso/";

/// More top-level navigations than this in one sign-in is a loop, not an IdP.
pub const MAX_NAVIGATIONS: u32 = 200;

/// Same scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// What to do with a navigation the engine asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Navigation {
    Allow,
    Deny(DenyReason),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    #[error("scheme `{0}` is not http(s)")]
    Scheme(String),
    #[error("plain http to non-loopback host {0}")]
    PlainHttp(String),
    #[error("cc_username would leave the Finesse origin for {0}")]
    UserLeak(String),
    #[error("more than {MAX_NAVIGATIONS} navigations: redirect loop")]
    Loop,
}

impl DenyReason {
    /// Whether the sign-in cannot go on after this refusal.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, DenyReason::Scheme(_))
    }
}

/// Why a finished page was not accepted as the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureRefusal {
    #[error("not the Finesse token endpoint")]
    NotTokenEndpoint,
    #[error("token endpoint answered HTTP {0}")]
    Status(u16),
    #[error("token endpoint answered `{0}`, not application/json")]
    Mime(String),
    #[error(transparent)]
    Body(#[from] TokenResponseError),
}

/// The decisions for one sign-in against one Finesse origin.
#[derive(Debug, Clone)]
pub struct Flow {
    finesse: Url,
    navigations: u32,
}

impl Flow {
    /// `finesse` is the server's base URL; only its origin matters.
    pub fn new(finesse: &Url) -> Self {
        Flow {
            finesse: finesse.clone(),
            navigations: 0,
        }
    }

    pub fn finesse(&self) -> &Url {
        &self.finesse
    }

    /// `https://<finesse>/desktop/sso/token?cc_username=<user>&return_refresh_token=true`.
    pub fn token_url(&self, user: &str) -> Url {
        let mut u = self.finesse.clone();
        u.set_path(TOKEN_PATH);
        u.set_fragment(None);
        u.query_pairs_mut()
            .clear()
            .append_pair("cc_username", user)
            .append_pair("return_refresh_token", "true");
        u
    }

    /// Decides a navigation (top-level or frame; each redirect hop counts).
    pub fn navigation(&mut self, url: &str) -> Navigation {
        self.navigations += 1;
        if self.navigations > MAX_NAVIGATIONS {
            return Navigation::Deny(DenyReason::Loop);
        }
        let Ok(url) = Url::parse(url) else {
            return Navigation::Deny(DenyReason::Scheme("unparsable".into()));
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Navigation::Deny(DenyReason::PlainHttp(
                    url.host_str().unwrap_or("").into(),
                ));
            }
            other => return Navigation::Deny(DenyReason::Scheme(other.into())),
        }
        if !self.on_finesse(&url)
            && url
                .query_pairs()
                .any(|(k, _)| k.eq_ignore_ascii_case("cc_username"))
        {
            return Navigation::Deny(DenyReason::UserLeak(url.origin().ascii_serialization()));
        }
        Navigation::Allow
    }

    /// Whether the loop counter has tripped (the window should stop with an error).
    pub fn looped(&self) -> bool {
        self.navigations > MAX_NAVIGATIONS
    }

    pub fn on_finesse(&self, url: &Url) -> bool {
        same_origin(url, &self.finesse)
    }

    /// A committed page that is not one of Finesse's own sign-in steps is one the user may
    /// have to act on: show the window. Judged by path as well as origin because behind the
    /// VPN-less reverse proxy, IdS and the IdP may share the Finesse (proxy) origin.
    pub fn needs_user(&self, committed: &str) -> bool {
        match Url::parse(committed) {
            Ok(u) => {
                !(self.on_finesse(&u) && u.path().starts_with(SSO_PATHS))
                    && matches!(u.scheme(), "http" | "https")
            }
            Err(_) => false,
        }
    }

    /// Whether a finished top-level document is a capture candidate at all.
    pub fn is_token_endpoint(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|u| self.on_finesse(&u) && u.path() == TOKEN_PATH)
    }

    /// The capture rule: top-level document on the Finesse origin, path `/desktop/sso/token`,
    /// HTTP 200, `application/json`, and a body that parses as Cisco's token JSON.
    /// The caller guarantees `url`, `status` and `mime` come from the engine, not from the page.
    pub fn capture(
        &self,
        url: &str,
        status: u16,
        mime: &str,
        body: &[u8],
    ) -> Result<TokenResponse, CaptureRefusal> {
        if !self.is_token_endpoint(url) {
            return Err(CaptureRefusal::NotTokenEndpoint);
        }
        if let Some(refusal) = status_mime_refusal(status, mime) {
            return Err(refusal);
        }
        Ok(TokenResponse::parse(body)?)
    }
}

/// The token answer's status and MIME rule, shared by [`Flow::capture`] and
/// [`Flow::judge_response`].
fn status_mime_refusal(status: u16, mime: &str) -> Option<CaptureRefusal> {
    if status != 200 {
        return Some(CaptureRefusal::Status(status));
    }
    let essence = mime_essence(mime);
    (essence != "application/json")
        .then(|| CaptureRefusal::Mime(essence.chars().take(64).collect()))
}

/// `type/subtype`, lower case, without parameters.
fn mime_essence(mime: &str) -> String {
    mime.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Flow {
        Flow::new(&Url::parse("https://finesse.example:8445/").unwrap())
    }

    const BODY: &[u8] =
        br#"{"token":"a.b.c","refresh_token":"d.e.f","expires_in":300,"user_id":"u"}"#;

    #[test]
    fn token_url_encodes_the_user() {
        let u = flow().token_url("agent one@x");
        assert_eq!(
            u.as_str(),
            "https://finesse.example:8445/desktop/sso/token?cc_username=agent+one%40x&return_refresh_token=true"
        );
    }

    #[test]
    fn navigation_rules() {
        let mut f = flow();
        assert_eq!(
            f.navigation("https://ids.example:8553/ids/v1/oauth/authorize?x=1"),
            Navigation::Allow
        );
        assert_eq!(f.navigation("http://127.0.0.1:9/x"), Navigation::Allow);
        assert_eq!(f.navigation("http://localhost:9/x"), Navigation::Allow);
        for (u, reason) in [
            ("file:///etc/passwd", DenyReason::Scheme("file".into())),
            ("data:text/html,hi", DenyReason::Scheme("data".into())),
            (
                "javascript:alert(1)",
                DenyReason::Scheme("javascript".into()),
            ),
            (
                "myapp://callback?code=1",
                DenyReason::Scheme("myapp".into()),
            ),
            (
                "http://idp.example/login",
                DenyReason::PlainHttp("idp.example".into()),
            ),
            (
                "https://evil.example/?cc_username=agent1",
                DenyReason::UserLeak("https://evil.example".into()),
            ),
        ] {
            assert_eq!(f.navigation(u), Navigation::Deny(reason), "{u}");
        }
        // cc_username to Finesse itself is the point.
        assert_eq!(f.navigation(f.token_url("a").as_str()), Navigation::Allow);
    }

    #[test]
    fn redirect_loop_trips() {
        let mut f = flow();
        for _ in 0..MAX_NAVIGATIONS {
            assert_eq!(f.navigation("https://idp.example/a"), Navigation::Allow);
        }
        assert_eq!(
            f.navigation("https://idp.example/a"),
            Navigation::Deny(DenyReason::Loop)
        );
        assert!(f.looped());
        assert!(DenyReason::Loop.is_fatal() && DenyReason::UserLeak("x".into()).is_fatal());
        assert!(!DenyReason::Scheme("about".into()).is_fatal());
    }

    #[test]
    fn capture_only_from_finesse_token_endpoint_200_json() {
        let f = flow();
        let tok = "https://finesse.example:8445/desktop/sso/token?code=1";
        assert!(
            f.capture(tok, 200, "application/json;charset=UTF-8", BODY)
                .is_ok()
        );
        let refusals = [
            f.capture(
                "https://ids.example:8553/desktop/sso/token",
                200,
                "application/json",
                BODY,
            ),
            f.capture(
                "https://finesse.example:8446/desktop/sso/token",
                200,
                "application/json",
                BODY,
            ),
            f.capture(
                "http://finesse.example:8445/desktop/sso/token",
                200,
                "application/json",
                BODY,
            ),
            f.capture(
                "https://finesse.example:8445/desktop/sso/tokenx",
                200,
                "application/json",
                BODY,
            ),
            f.capture(
                "https://finesse.example:8445/3rdpartygadget/x",
                200,
                "application/json",
                BODY,
            ),
        ];
        for r in refusals {
            assert_eq!(r.unwrap_err(), CaptureRefusal::NotTokenEndpoint);
        }
        assert_eq!(
            f.capture(tok, 500, "application/json", BODY).unwrap_err(),
            CaptureRefusal::Status(500)
        );
        assert_eq!(
            f.capture(tok, 200, "text/html", BODY).unwrap_err(),
            CaptureRefusal::Mime("text/html".into())
        );
        assert!(matches!(
            f.capture(tok, 200, "application/json", b"{}"),
            Err(CaptureRefusal::Body(_))
        ));
    }

    #[test]
    fn window_shows_for_pages_other_than_finesses_sign_in_steps() {
        let f = flow();
        assert!(f.needs_user("https://idp.example/login"));
        assert!(!f.needs_user("https://finesse.example:8445/desktop/sso/token?x"));
        assert!(!f.needs_user("https://finesse.example:8445/desktop/sso/authcode?code=1"));
        assert!(!f.needs_user("about:blank"));
        // Behind the VPN-less proxy the IdP's login page may be on the Finesse origin.
        assert!(f.needs_user("https://finesse.example:8445/idp/login?txn=1"));
        assert!(f.needs_user("https://finesse.example:8445/adfs/ls/?SAMLRequest=x"));
    }

    /// The VPN-less reverse proxy configured as the server (reference §7.1): Finesse, IdS and
    /// the IdP are reached through the proxy's host names, and the proxy's origin is the Finesse
    /// origin, exactly: not its other ports, other names of it, or names that contain it.
    #[test]
    fn a_vpnless_proxy_as_the_server_is_the_finesse_origin_and_nothing_looser() {
        let proxy = Url::parse("https://vpnless.example.com:8445/").unwrap();
        let mut f = Flow::new(&proxy);
        let token = f.token_url("agent1");
        assert_eq!(token.origin(), proxy.origin());
        for step in [
            token.as_str(),
            "https://vpnless.example.com:8445/ids/v1/oauth/authorize?client_id=x",
            "https://vpnless.example.com:8553/ids/v1/oauth/authorize?client_id=x",
            "https://adfs-proxy.example.com/adfs/ls/?SAMLRequest=x",
            "https://vpnless.example.com:8445/desktop/sso/authcode?code=c",
        ] {
            assert_eq!(f.navigation(step), Navigation::Allow, "{step}");
        }
        let answer = "https://vpnless.example.com:8445/desktop/sso/token?code=c";
        assert!(f.capture(answer, 200, "application/json", BODY).is_ok());
        for look_alike in [
            "https://vpnless.example.com:8553/desktop/sso/token",
            "https://vpnless.example.com/desktop/sso/token",
            "https://VPNLESS.example.com.evil.example:8445/desktop/sso/token",
            "https://finesse.internal.example:8445/desktop/sso/token",
            "http://vpnless.example.com:8445/desktop/sso/token",
        ] {
            assert_eq!(
                f.capture(look_alike, 200, "application/json", BODY),
                Err(CaptureRefusal::NotTokenEndpoint),
                "{look_alike}"
            );
            let mut with_user = Url::parse(look_alike).unwrap();
            with_user.set_query(Some("cc_username=agent1"));
            assert!(
                matches!(f.navigation(with_user.as_str()), Navigation::Deny(_)),
                "{with_user}"
            );
        }
        // Host names compare without regard to case (the URL parser lower-cases them).
        assert!(f.is_token_endpoint("https://VPNLESS.example.COM:8445/desktop/sso/token"));
    }
}
