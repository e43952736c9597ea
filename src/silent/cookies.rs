//! The saved web session's cookies in and out of the walk's jar (`cookie_store`: Domain, Path,
//! Secure, expiry kept). A saved domain with a leading dot is a domain cookie; without one the
//! cookie is host-only, which is how the window restores it too (never sent wider than there).

use std::sync::Arc;

use cookie_store::{CookieDomain, CookieExpiration, RawCookie};
use url::Url;

use crate::http::Jar;
use crate::window::SavedCookie;

/// A jar holding the live `saved` cookies. One that cannot be placed (no usable host, expired)
/// is left out: the walk goes on without it, as the window would.
pub fn jar_from(saved: &[SavedCookie]) -> Arc<Jar> {
    let jar = Jar::new();
    {
        let mut store = jar.0.lock().unwrap_or_else(|p| p.into_inner());
        for c in saved {
            let Some((raw, url)) = placed(c) else {
                continue;
            };
            if let Err(e) = store.insert_raw(&raw, &url) {
                tracing::debug!("a saved cookie for {} is not used: {e}", c.domain);
            }
        }
    }
    jar
}

/// The cookie and the URL it is set from: https for a Secure one (cookie_store refuses Secure
/// from http), the cookie's own host and path.
fn placed(c: &SavedCookie) -> Option<(RawCookie<'static>, Url)> {
    let (host, suffix) = match c.domain.strip_prefix('.') {
        Some(d) => (d, true),
        None => (c.domain.as_str(), false),
    };
    if host.is_empty() {
        return None;
    }
    let host = match host.contains(':') && !host.starts_with('[') {
        true => format!("[{host}]"),
        false => host.to_string(),
    };
    let scheme = if c.secure { "https" } else { "http" };
    let path = if c.path.starts_with('/') {
        &c.path
    } else {
        "/"
    };
    let url = Url::parse(&format!("{scheme}://{host}{path}")).ok()?;
    let mut raw = RawCookie::new(c.name.clone(), c.value.expose().clone());
    raw.set_path(path.to_string());
    raw.set_secure(c.secure);
    raw.set_http_only(c.http_only);
    if suffix {
        raw.set_domain(host);
    }
    if let Some(e) = c
        .expires
        .and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok())
    {
        raw.set_expires(e);
    }
    match c.same_site.as_deref() {
        Some("Strict") => raw.set_same_site(cookie::SameSite::Strict),
        Some("Lax") => raw.set_same_site(cookie::SameSite::Lax),
        Some("None") => raw.set_same_site(cookie::SameSite::None),
        _ => {}
    }
    Some((raw, url))
}

/// Every live cookie of `jar`, as the web session saves them.
pub fn saved_from(jar: &Jar) -> Vec<SavedCookie> {
    let store = jar.0.lock().unwrap_or_else(|p| p.into_inner());
    store
        .iter_unexpired()
        .filter_map(|c| {
            let domain = match &c.domain {
                CookieDomain::HostOnly(h) => h.clone(),
                CookieDomain::Suffix(d) => format!(".{d}"),
                CookieDomain::NotPresent | CookieDomain::Empty => return None,
            };
            let expires = match &c.expires {
                CookieExpiration::AtUtc(t) => Some(t.unix_timestamp()),
                CookieExpiration::SessionEnd => None,
            };
            Some(SavedCookie {
                name: c.name().to_string(),
                value: c.value().to_string().into(),
                domain,
                path: String::from(&c.path),
                secure: c.secure().unwrap_or(false),
                http_only: c.http_only().unwrap_or(false),
                expires,
                same_site: c.same_site().map(|s| s.to_string()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(name: &str, domain: &str, path: &str, secure: bool) -> SavedCookie {
        SavedCookie {
            name: name.into(),
            value: format!("{name}-value").into(),
            domain: domain.into(),
            path: path.into(),
            secure,
            http_only: true,
            expires: None,
            same_site: Some("None".into()),
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn saved_cookies_go_where_the_window_would_send_them_and_come_back_unchanged() {
        let later = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
        let cookies = vec![
            saved("idp", "idp.example", "/idp", true),
            SavedCookie {
                expires: Some(later),
                ..saved("ids", "127.0.0.1", "/ids", false)
            },
            saved("wide", ".example.com", "/", true),
            SavedCookie {
                expires: Some(1),
                ..saved("old", "idp.example", "/", true)
            },
        ];
        let jar = jar_from(&cookies);
        assert_eq!(jar.names_for(&url("https://idp.example/idp/sso")), ["idp"]);
        assert!(
            jar.names_for(&url("http://idp.example/idp/sso")).is_empty(),
            "Secure kept"
        );
        assert!(
            jar.names_for(&url("https://sub.idp.example/idp/sso"))
                .is_empty(),
            "host-only kept"
        );
        assert!(jar.names_for(&url("https://idp.example/other")).is_empty());
        assert_eq!(jar.names_for(&url("http://127.0.0.1:9/ids/x")), ["ids"]);
        assert_eq!(jar.names_for(&url("https://a.example.com/")), ["wide"]);
        let mut back = saved_from(&jar);
        back.sort_by(|a, b| a.name.cmp(&b.name));
        let mut want: Vec<_> = cookies.into_iter().filter(|c| c.name != "old").collect();
        want.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(back, want);
    }
}
