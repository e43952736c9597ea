//! Cookie conversion between the engine (wry's cookies are the `cookie` crate's) and the saved
//! web session, pure: the clock is a parameter. In the library so its unit tests run.

use super::wire::SavedCookie;
use cookie::{Cookie, Expiration, SameSite};

/// A cookie the engine reported, as the web session saves it. `None` without a domain: such a
/// cookie could not be restored to the host it belongs to.
pub fn from_engine(c: &Cookie<'static>) -> Option<SavedCookie> {
    let expires = match c.expires() {
        Some(Expiration::DateTime(t)) => Some(t.unix_timestamp()),
        _ => None,
    };
    Some(SavedCookie {
        name: c.name().to_string(),
        value: c.value().to_string().into(),
        domain: c.domain()?.to_string(),
        path: c.path().unwrap_or("/").to_string(),
        secure: c.secure().unwrap_or(false),
        http_only: c.http_only().unwrap_or(false),
        expires,
        same_site: c.same_site().map(|s| s.to_string()),
    })
}

/// A saved cookie for the engine, unless it expired by `now` (Unix seconds). `SameSite=None`
/// without `Secure` is dropped to the default, as browsers refuse that pair.
pub fn to_engine(c: &SavedCookie, now: i64) -> Option<Cookie<'static>> {
    if c.expires.is_some_and(|e| e <= now) {
        return None;
    }
    let mut b = Cookie::build((c.name.clone(), c.value.expose().clone()))
        .domain(c.domain.clone())
        .path(c.path.clone())
        .secure(c.secure)
        .http_only(c.http_only);
    if let Some(e) = c
        .expires
        .and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok())
    {
        b = b.expires(Expiration::DateTime(e));
    }
    b = match c.same_site.as_deref() {
        Some("Strict") => b.same_site(SameSite::Strict),
        Some("Lax") => b.same_site(SameSite::Lax),
        Some("None") if c.secure => b.same_site(SameSite::None),
        _ => b,
    };
    Some(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn saved(name: &str) -> SavedCookie {
        SavedCookie {
            name: name.into(),
            value: "v4lue".to_string().into(),
            domain: "idp.example.com".into(),
            path: "/sso".into(),
            secure: true,
            http_only: true,
            expires: Some(NOW + 3600),
            same_site: Some("Lax".into()),
        }
    }

    #[test]
    fn a_cookie_survives_the_round_trip_with_every_attribute() {
        for same_site in [Some("Strict"), Some("Lax"), Some("None"), None] {
            let mut c = saved("idp_sso");
            c.same_site = same_site.map(str::to_string);
            let engine = to_engine(&c, NOW).unwrap();
            assert_eq!(from_engine(&engine), Some(c));
        }
        let mut session = saved("ids_session");
        session.expires = None;
        session.http_only = false;
        let engine = to_engine(&session, NOW).unwrap();
        assert_eq!(engine.expires(), None);
        assert_eq!(from_engine(&engine), Some(session));
    }

    #[test]
    fn expired_cookies_are_not_restored() {
        let mut c = saved("old");
        c.expires = Some(NOW);
        assert!(to_engine(&c, NOW).is_none());
        c.expires = Some(NOW + 1);
        assert!(to_engine(&c, NOW).is_some());
    }

    #[test]
    fn same_site_none_needs_secure() {
        let mut c = saved("x");
        c.secure = false;
        c.same_site = Some("None".into());
        assert_eq!(to_engine(&c, NOW).unwrap().same_site(), None);
        c.same_site = Some("Bogus".into());
        assert_eq!(to_engine(&c, NOW).unwrap().same_site(), None);
    }

    #[test]
    fn a_cookie_without_a_domain_is_not_saved() {
        let c = Cookie::build(("host_only", "v")).path("/").build();
        assert_eq!(from_engine(&c), None);
        let c = Cookie::build(("no_path", "v")).domain("a.example").build();
        assert_eq!(from_engine(&c).unwrap().path, "/");
    }
}
