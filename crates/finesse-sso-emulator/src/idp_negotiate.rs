//! The IdP's Kerberos login (`--idp-login negotiate`, Windows Integrated Authentication as ADFS
//! does it): `GET /idp/negotiate?txn=…` answers `401` + `WWW-Authenticate: Negotiate` until the
//! request carries `Authorization: Negotiate <token>`, which real server-side GSSAPI verifies
//! against `--idp-keytab` (src/gss.rs). The client principal `user@REALM` is the emulator user
//! `user` (unknown → 403); then the IdP session and the assertion, as after a password.

use base64::Engine;
use hyper::Method;

use crate::app::App;
use crate::config::{EmulatorConfig, IdpLogin};
use crate::gss::Acceptor;
use crate::idp::{SESSION_COOKIE, assert_to_sp};
use crate::pages;
use crate::request::{Req, required_query};
use crate::response::{Resp, set_cookie};
use crate::state::random_id;

/// Where `/idp/sso` sends a browser that has no IdP session.
pub(crate) use crate::idp::NEGOTIATE_PATH as PATH;

/// What [`crate::state::Inner::secret`] files a received Negotiate token as (tests look for it
/// in everything the client wrote).
pub(crate) const TOKEN_SECRET: &str = "Negotiate token";

/// The run's acceptor when it uses `--idp-login negotiate` (which needs `--idp-keytab`),
/// acquired once at start so a bad keytab or a missing GSSAPI library stops the emulator with a
/// clear error instead of failing sign-ins.
pub(crate) fn from_config(config: &EmulatorConfig) -> Result<Option<Acceptor>, String> {
    if config.idp_login != IdpLogin::Negotiate {
        return Ok(None);
    }
    let keytab = config
        .idp_keytab
        .as_deref()
        .ok_or("--idp-login negotiate needs --idp-keytab PATH (the IdP's HTTP/<host> keys)")?;
    Acceptor::from_keytab(keytab).map(Some)
}

fn page(status: u16, title: &str, msg: &str) -> Resp {
    Resp::html(status, pages::message(title, msg))
}

/// The challenge: the IdP's 401 page, which is what a browser that will not do Kerberos shows.
fn challenge(msg: &str) -> Resp {
    page(401, "Windows sign-in required", msg).with_header("www-authenticate", "Negotiate")
}

pub(crate) fn handle(app: &App, req: &Req) -> Resp {
    negotiate(app, req).unwrap_or_else(|e| e)
}

fn negotiate(app: &App, req: &Req) -> Result<Resp, Resp> {
    req.only(&[Method::GET])?;
    let s = &app.settings;
    let negotiate = app
        .negotiate
        .as_ref()
        .ok_or_else(|| page(404, "Not found", "this IdP does not use Kerberos sign-in"))?;
    let txn_id = required_query(req, "txn")?;
    let expired = || {
        page(
            400,
            "Sign-in expired",
            "unknown or expired login transaction",
        )
    };
    let txn = app.state().txns.get(txn_id).cloned().ok_or_else(expired)?;
    // Only `Negotiate <base64>` counts: no header, another scheme or a bare `Negotiate` is
    // challenged again (there is no form to fall back to).
    let token = req
        .header("authorization")
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Negotiate"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(challenge(
            "This sign-in uses your Windows (Kerberos) session; the browser did not offer it.",
        ));
    };
    app.state().secret(TOKEN_SECRET, token.to_string());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| page(400, "Sign-in refused", "the Negotiate token is not base64"))?;
    let (principal, reply) = negotiate
        .accept(&bytes)
        .map_err(|why| page(403, "Kerberos sign-in refused", &why.0))?;
    let user = user_of(&principal)
        .filter(|u| s.users.find(u).is_some())
        .ok_or_else(|| {
            page(
                403,
                "Unknown user",
                &format!("{principal} is not a user of this IdP"),
            )
        })?
        .to_string();
    tracing::info!(user = %user, "IdP: Kerberos sign-in");
    let mut st = app.state();
    st.txns.take(txn_id);
    let sid = st.secret("IdP session cookie", random_id(24));
    st.idp_sessions
        .insert(sid.clone(), crate::app::SESSION_TTL, user.clone());
    drop(st);
    let mut resp = assert_to_sp(app, &user, &txn.authn).with_cookie(&set_cookie(
        SESSION_COOKIE,
        &sid,
        "/idp",
        s.tls,
        true,
    ));
    if !reply.is_empty() {
        // Mutual authentication: the server's token goes back to the client.
        let b64 = base64::engine::general_purpose::STANDARD.encode(reply);
        resp = resp.with_header("www-authenticate", &format!("Negotiate {b64}"));
    }
    Ok(resp)
}

/// The user part of `user@REALM` (a principal with an instance, `a/b@R`, is no user).
fn user_of(principal: &str) -> Option<&str> {
    let (user, _realm) = principal.rsplit_once('@')?;
    (!user.is_empty() && !user.contains('/')).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_map_to_users() {
        assert_eq!(user_of("agent1@FSSO.TEST"), Some("agent1"));
        assert_eq!(user_of("HTTP/idp@FSSO.TEST"), None);
        assert_eq!(user_of("agent1"), None);
        assert_eq!(user_of("@R"), None);
    }

    #[test]
    fn negotiate_needs_a_keytab_and_other_methods_none() {
        let mut c = EmulatorConfig::default();
        assert!(from_config(&c).unwrap().is_none());
        c.idp_login = IdpLogin::Negotiate;
        let e = from_config(&c).err().unwrap();
        assert!(e.contains("--idp-keytab"), "{e}");
    }
}
