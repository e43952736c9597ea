//! The Cisco Identity Service: OAuth authorize, the SAML ACS, the relay page, the token
//! public key, and the in-process code exchange Finesse calls (reference §2).

use std::time::{Duration, Instant};

use hyper::Method;

use crate::app::{App, FINESSE_CLIENT_ID, PENDING_TTL, SESSION_TTL};
use crate::config::ForgeMode;
use crate::pages;
use crate::request::{Req, required_query};
use crate::response::{Resp, set_cookie};
use crate::saml::{self, SamlError};
use crate::state::{Authz, Code, random_id};

/// IdS's session cookie, scoped to `/ids`.
pub(crate) const SESSION_COOKIE: &str = "IDSSESSION";

/// How long a used code is remembered after expiry, so a replay says "already used".
const CODE_MEMORY: Duration = Duration::from_secs(600);

pub(crate) fn handle(app: &App, req: &Req) -> Resp {
    route(app, req).unwrap_or_else(|e| e)
}

fn route(app: &App, req: &Req) -> Result<Resp, Resp> {
    match req.path.as_str() {
        "/ids/v1/oauth/authorize" => {
            req.only(&[Method::GET])?;
            authorize(app, req)
        }
        "/ids/saml/response" => {
            req.only(&[Method::POST])?;
            acs(app, req)
        }
        "/ids/relay" => {
            req.only(&[Method::POST])?;
            relay(app, req)
        }
        "/ids/v1/keys/token/public" => {
            req.only(&[Method::GET])?;
            Ok(Resp::text(200, app.tokens.public_pem()))
        }
        // `--forge ids-json`: a token-shaped answer on the IdS origin.
        "/desktop/sso/token" if app.faults.forge() == Some(ForgeMode::IdsJson) => {
            Ok(crate::forge::forged_json(app))
        }
        _ => Err(Resp::not_found()),
    }
}

fn ids_error(status: u16, msg: &str) -> Resp {
    Resp::html(status, pages::message("Identity Service error", msg))
}

fn authorize(app: &App, req: &Req) -> Result<Resp, Resp> {
    let s = &app.settings;
    let client_id = required_query(req, "client_id")?;
    let response_type = required_query(req, "response_type")?;
    let redirect_uri = required_query(req, "redirect_uri")?;
    let state = required_query(req, "state")?;
    if client_id != FINESSE_CLIENT_ID {
        return Err(ids_error(400, "unknown client_id"));
    }
    if response_type != "code" {
        return Err(ids_error(400, "response_type must be code"));
    }
    // Each Finesse side registers its own redirect URI with the one IdS.
    if !(0..s.sides.len()).any(|side| redirect_uri == s.finesse_redirect_uri(side)) {
        return Err(ids_error(
            400,
            "redirect_uri is not registered for this client",
        ));
    }
    let authz = Authz {
        redirect_uri: redirect_uri.into(),
        state: state.into(),
        client_id: client_id.into(),
    };
    let session_user = req
        .cookie(SESSION_COOKIE)
        .and_then(|sid| app.state().ids_sessions.get(sid).cloned());
    if let Some(user) = session_user {
        return Ok(Resp::redirect(&code_redirect(app, &user, &authz)));
    }
    let relay_key = app.state().secret("RelayState", random_id(16));
    let (request_id, saml_request) =
        saml::authn_request(&s.ids_entity, &s.acs_url(), &s.idp_sso_url());
    {
        let mut st = app.state();
        st.authz.insert(relay_key.clone(), PENDING_TTL, authz);
        st.authn_requests
            .insert(request_id, PENDING_TTL, relay_key.clone());
    }
    Ok(Resp::html(
        200,
        pages::auto_post(
            "Redirecting to your identity provider",
            &s.idp_sso_url(),
            &[("SAMLRequest", &saml_request), ("RelayState", &relay_key)],
        ),
    ))
}

/// Issues a code for `user` and returns `redirect_uri?code=…&state=…`.
fn code_redirect(app: &App, user: &str, authz: &Authz) -> String {
    let mut st = app.state();
    let code = st.secret("authorization code", random_id(20));
    st.codes.insert(
        code.clone(),
        app.settings.config.code_ttl + CODE_MEMORY,
        Code {
            user: user.into(),
            client_id: authz.client_id.clone(),
            redirect_uri: authz.redirect_uri.clone(),
            expires: Instant::now() + app.settings.config.code_ttl,
            used: false,
        },
    );
    let mut u =
        url::Url::parse(&authz.redirect_uri).unwrap_or_else(|_| app.settings.finesse.clone());
    u.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &authz.state);
    u.to_string()
}

/// Finesse's code exchange (in process): single use, short-lived, bound to client and redirect.
pub(crate) fn exchange_code(
    app: &App,
    code: &str,
    client_id: &str,
    redirect_uri: &str,
) -> Result<String, String> {
    let mut st = app.state();
    let c = st
        .codes
        .get_mut(code)
        .ok_or_else(|| "authorization code is unknown".to_string())?;
    if c.used {
        return Err("authorization code was already used".into());
    }
    // A code is spent by any attempt, as OAuth requires.
    c.used = true;
    if Instant::now() >= c.expires {
        return Err("authorization code has expired".into());
    }
    if c.client_id != client_id || c.redirect_uri != redirect_uri {
        return Err("authorization code was issued to another client or redirect_uri".into());
    }
    Ok(c.user.clone())
}

fn acs(app: &App, req: &Req) -> Result<Resp, Resp> {
    let s = &app.settings;
    if let Some(alias) = req.query("metaAlias")
        && alias != "/sp"
    {
        return Err(ids_error(400, "unknown metaAlias"));
    }
    let form = req.form()?;
    let response = form.required("SAMLResponse")?;
    let relay_state = form.required("RelayState")?;
    let asserted = saml::verify_response(&app.idp_key, response, &s.idp_entity, &s.ids_entity)
        .map_err(|e| match e {
            SamlError::Malformed(m) => ids_error(400, &m),
            SamlError::Untrusted(m) => ids_error(403, &m),
        })?;
    let mut st = app.state();
    if st.used_assertions.contains(&asserted.assertion_id) {
        return Err(ids_error(403, "assertion was already used (replay)"));
    }
    let expected_relay = st
        .authn_requests
        .get(&asserted.in_response_to)
        .cloned()
        .ok_or_else(|| ids_error(403, "assertion answers no AuthnRequest of this IdS"))?;
    if expected_relay != relay_state {
        return Err(ids_error(403, "RelayState does not match the AuthnRequest"));
    }
    if !st.authz.contains(relay_state) {
        return Err(ids_error(400, "the authorization request has expired"));
    }
    // Remember the assertion until it would have expired anyway.
    let remaining = (asserted.not_on_or_after - time::OffsetDateTime::now_utc())
        .try_into()
        .unwrap_or(Duration::from_secs(1))
        + Duration::from_secs(60);
    st.used_assertions
        .insert(asserted.assertion_id.clone(), remaining, ());
    st.authn_requests.take(&asserted.in_response_to);
    let sid = st.secret("IdS session cookie", random_id(24));
    st.ids_sessions
        .insert(sid.clone(), SESSION_TTL, asserted.uid.clone());
    let unique_id = st.secret("uniqueId", random_id(16));
    st.relays.insert(
        unique_id.clone(),
        PENDING_TTL,
        (asserted.uid, relay_state.to_string()),
    );
    drop(st);
    let relay = s.at(&s.ids, "/ids/relay");
    Ok(Resp::html(
        200,
        pages::auto_post("Signing you in", &relay, &[("uniqueId", &unique_id)]),
    )
    .with_cookie(&set_cookie(SESSION_COOKIE, &sid, "/ids", s.tls, true)))
}

fn relay(app: &App, req: &Req) -> Result<Resp, Resp> {
    let form = req.form()?;
    let unique_id = form.required("uniqueId")?;
    let sid = req
        .cookie(SESSION_COOKIE)
        .ok_or_else(|| ids_error(403, &format!("missing cookie `{SESSION_COOKIE}`")))?;
    let mut st = app.state();
    let session_user = st
        .ids_sessions
        .get(sid)
        .cloned()
        .ok_or_else(|| ids_error(403, "IdS session is unknown or expired"))?;
    let (user, relay_key) = st
        .relays
        .take(unique_id)
        .ok_or_else(|| ids_error(400, "unknown or already used uniqueId"))?;
    if user != session_user {
        return Err(ids_error(403, "IdS session belongs to another user"));
    }
    let authz = st
        .authz
        .take(&relay_key)
        .ok_or_else(|| ids_error(400, "the authorization request has expired"))?;
    drop(st);
    Ok(Resp::redirect(&code_redirect(app, &user, &authz)))
}
