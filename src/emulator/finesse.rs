//! The Finesse server: SystemInfo, UserAuthMode, User, and the SSO token, authcode, refresh
//! and test endpoints (reference §1).

use hyper::Method;
use serde_json::Value;

use super::app::{App, FINESSE_CLIENT_ID, PENDING_TTL, SESSION_TTL};
use super::config::{AuthMode, ForgeMode, UserAuthModeApi, UserMode};
use super::faults::TokenBody;
use super::pages;
use super::request::{Req, percent_decode, required_query};
use super::response::{Resp, set_cookie};
use super::state::{ACCESS_TOKEN, PendingToken, User, random_id};
use super::tokens::Issued;

/// Finesse's session cookie (Tomcat), scoped to `/desktop` like the desktop app.
pub(crate) const SESSION_COOKIE: &str = "JSESSIONID";

pub(crate) fn handle(app: &App, req: &Req) -> Resp {
    route(app, req).unwrap_or_else(|e| e)
}

fn route(app: &App, req: &Req) -> Result<Resp, Resp> {
    let path = req.path.as_str();
    match path {
        "/finesse/api/SystemInfo" => {
            req.only(&[Method::GET])?;
            Ok(system_info(app))
        }
        "/desktop/sso/token" => match req.method {
            Method::GET => token_get(app, req),
            Method::POST => super::refresh::post(app, req),
            _ => Err(Resp::method_not_allowed(&[Method::GET, Method::POST])),
        },
        "/desktop/sso/authcode" => {
            req.only(&[Method::GET])?;
            authcode(app, req)
        }
        "/desktop/sso/test" => {
            req.only(&[Method::GET])?;
            Ok(sso_test(app, req))
        }
        _ => {
            if let Some(id) = path.strip_prefix("/finesse/api/UserAuthMode/") {
                req.only(&[Method::GET])?;
                user_auth_mode(app, id)
            } else if let Some(rest) = path.strip_prefix("/finesse/api/User/") {
                Ok(super::user_api::handle(app, req, rest))
            } else {
                Err(Resp::not_found())
            }
        }
    }
}

fn system_info(app: &App) -> Resp {
    let s = &app.settings;
    let port = s.finesse.port_or_known_default().unwrap_or(0);
    let node = |host: &str| {
        format!(
            "<host>{host}</host><httpsPort>{port}</httpsPort><xmppPort>5222</xmppPort>\
             <xmppSecurePort>5223</xmppSecurePort>"
        )
    };
    Resp::xml(
        200,
        format!(
            "<SystemInfo><currentTimestamp>{}</currentTimestamp>\
             <deploymentType>{}</deploymentType><lastCTIHeartbeatStatus>true</lastCTIHeartbeatStatus>\
             <lastSuccessCTIHeartbeatTime>{}</lastSuccessCTIHeartbeatTime><ctiVersion>12.5</ctiVersion>\
             <ctiHeartbeatInterval>10</ctiHeartbeatInterval><ctiMMode>false</ctiMMode>\
             <ctiTimeInMMode>0</ctiTimeInMMode><finesseMMode>false</finesseMMode>\
             <finesseTimeInMMode>0</finesseTimeInMMode><license>PREMIUM</license>\
             <peripheralId>5000</peripheralId><primaryNode>{}</primaryNode>\
             <secondaryNode>{}</secondaryNode><status>IN_SERVICE</status><statusReason></statusReason>\
             <systemAuthMode>{}</systemAuthMode><timezoneOffset>0</timezoneOffset>\
             <uri>/finesse/api/SystemInfo</uri><xmppDomain>127.0.0.1</xmppDomain>\
             <xmppPubSubDomain>pubsub.127.0.0.1</xmppPubSubDomain><ctiServers><ctiServer>\
             <host>127.0.0.1</host><connectedDuration>0</connectedDuration><active>true</active>\
             </ctiServer></ctiServers></SystemInfo>",
            super::log::now_rfc3339(),
            s.config.deployment.as_str(),
            super::log::now_rfc3339(),
            // The secondary is the same server under its other certified name: a distinct origin.
            node("127.0.0.1"),
            node("localhost"),
            s.config.auth_mode.as_str(),
        ),
    )
}

/// The mode Finesse reports for a user: the system's, or the user's own in HYBRID.
pub(super) fn effective_mode(app: &App, user: &User) -> &'static str {
    match app.settings.config.auth_mode {
        AuthMode::Sso => "SSO",
        AuthMode::NonSso => "NON_SSO",
        AuthMode::Hybrid => user.mode.as_str(),
    }
}

fn user_auth_mode(app: &App, id: &str) -> Result<Resp, Resp> {
    match app.settings.config.user_auth_mode {
        UserAuthModeApi::Missing => return Err(Resp::not_found()),
        UserAuthModeApi::Disabled => {
            // Cisco's documented body, verbatim (reference §1.2).
            return Err(Resp::xml(
                403,
                "<ApiErrors><ApiError><ErrorType>Forbidden</ErrorType>\
                 <ErrorMessage>UserAuthModeService is disabled</ErrorMessage></ApiError></ApiErrors>",
            ));
        }
        UserAuthModeApi::Enabled => {}
    }
    let id = percent_decode(id).unwrap_or_default();
    let user = app
        .settings
        .users
        .find(&id)
        .ok_or_else(|| Resp::api_error(404, "Not Found", "User not found"))?;
    Ok(Resp::xml(
        200,
        format!(
            "<UserAuthMode><authMode>{}</authMode></UserAuthMode>",
            effective_mode(app, user)
        ),
    ))
}

/// `cc_username` from the query (unless cookie-only) or the cookie.
pub(super) fn cc_username(app: &App, req: &Req) -> Option<String> {
    let from_cookie = || req.cookie("cc_username").and_then(percent_decode);
    let v = if app.settings.cookie_only() {
        from_cookie()
    } else {
        req.query("cc_username")
            .map(str::to_string)
            .or_else(from_cookie)
    };
    v.filter(|v| !v.is_empty())
}

fn require_cc_username(app: &App, req: &Req) -> Result<String, Resp> {
    cc_username(app, req).ok_or_else(|| {
        if app.settings.cookie_only() {
            Resp::bad_request(
                "missing cookie `cc_username` (this Finesse reads it from a cookie only)",
            )
        } else {
            Resp::bad_request("missing `cc_username` (query parameter or cookie)")
        }
    })
}

/// Strict flag values: `return_refresh_token=true|false`, `return_user=yes|no`.
pub(super) fn flag(value: Option<&str>, name: &str, yes: &str, no: &str) -> Result<bool, Resp> {
    match value {
        None => Ok(false),
        Some(v) if v == yes => Ok(true),
        Some(v) if v == no => Ok(false),
        Some(_) => Err(Resp::bad_request(&format!(
            "`{name}` must be {yes} or {no}"
        ))),
    }
}

/// Whether the name a client gave (login name or id) designates `user`.
pub(super) fn same_user(app: &App, user: &str, given: &str) -> bool {
    user == given
        || app
            .settings
            .users
            .find(given)
            .is_some_and(|u| u.name == user)
}

/// Refuses token issue when the system or the user does not do SSO.
fn check_sso(app: &App, name: &str) -> Result<(), Resp> {
    if app.settings.config.auth_mode == AuthMode::NonSso {
        return Err(Resp::bad_request(
            "SSO is not enabled: systemAuthMode is NON_SSO (use Basic authentication)",
        ));
    }
    if let Some(u) = app.settings.users.find(name)
        && app.settings.config.auth_mode == AuthMode::Hybrid
        && u.mode == UserMode::NonSso
    {
        return Err(Resp::bad_request(&format!(
            "user {} is a NON_SSO user (use Basic authentication)",
            u.name
        )));
    }
    Ok(())
}

/// 302 into the browser flow: IdS authorize, remembering where to come back to by `state`.
pub(crate) fn redirect_to_authorize(app: &App, path_and_query: String) -> Resp {
    let mut st = app.state();
    let state = st.secret("finesse state", random_id(16));
    st.pending_tokens
        .insert(state.clone(), PENDING_TTL, PendingToken { path_and_query });
    drop(st);
    let mut u = app.settings.ids.clone();
    u.set_path("/ids/v1/oauth/authorize");
    u.query_pairs_mut()
        .append_pair("redirect_uri", &app.settings.finesse_redirect_uri())
        .append_pair("client_id", FINESSE_CLIENT_ID)
        .append_pair("state", &state)
        .append_pair("response_type", "code");
    Resp::redirect(u.as_str())
}

fn session_user(app: &App, req: &Req) -> Option<String> {
    let id = req.cookie(SESSION_COOKIE)?;
    app.state().finesse_sessions.get(id).cloned()
}

fn token_get(app: &App, req: &Req) -> Result<Resp, Resp> {
    let hint = require_cc_username(app, req)?;
    if req.query("refresh-token").is_some() {
        return super::refresh::get(app, req, &hint);
    }
    let want_refresh = flag(
        req.query("return_refresh_token"),
        "return_refresh_token",
        "true",
        "false",
    )?;
    flag(req.query("return_user"), "return_user", "yes", "no")?;
    check_sso(app, &hint)?;
    if let Some(to) = hostile_redirect(app, req) {
        return Ok(Resp::redirect(&to));
    }
    let Some(user) = session_user(app, req) else {
        let pq = match &req.raw_query {
            Some(q) => format!("{}?{q}", req.path),
            None => req.path.clone(),
        };
        return Ok(redirect_to_authorize(app, pq));
    };
    if !same_user(app, &user, &hint) {
        return Err(Resp::unauthorized(
            "the Finesse session belongs to another user than cc_username",
        ));
    }
    let (access, refresh) = issue_pair(app, &user)?;
    Ok(token_response(
        app,
        &user,
        &access,
        want_refresh.then_some(&refresh),
    ))
}

fn issue_pair(app: &App, user: &str) -> Result<(Issued, Issued), Resp> {
    let internal = |e: String| {
        tracing::error!("token issue failed: {e}");
        Resp::api_error(500, "Internal Server Error", "token issue failed")
    };
    let refresh = app.tokens.issue_refresh().map_err(internal)?;
    let access = app
        .tokens
        .issue_access(user, &refresh.jti)
        .map_err(internal)?;
    let mut st = app.state();
    st.refresh_owner.insert(
        refresh.jti.clone(),
        app.tokens.refresh_ttl,
        user.to_string(),
    );
    st.secret(ACCESS_TOKEN, access.jwt.clone());
    st.secret("refresh token", refresh.jwt.clone());
    Ok((access, refresh))
}

/// Cisco's JSON in Cisco's key order, bent by the token-body faults and `--forge iframe`.
pub(super) fn token_response(
    app: &App,
    user: &str,
    access: &Issued,
    refresh: Option<&Issued>,
) -> Resp {
    if app.faults.forge() == Some(ForgeMode::Iframe) {
        let frame = app.settings.at(&app.settings.idp, "/idp/forge/frame");
        return Resp::html(200, pages::iframe_host(&frame));
    }
    let realm = app.tokens.realm();
    let forge = app.faults.forge();
    let token: Value = match forge {
        Some(ForgeMode::AlgNone) => unsigned(&access.jwt).into(),
        _ => access.jwt.clone().into(),
    };
    let mut fields: Vec<(&str, Value)> = vec![("token", token)];
    if let Some(r) = refresh {
        fields.push(("refresh_token", r.jwt.clone().into()));
    }
    let expires_in: Value = match forge {
        Some(ForgeMode::WrongTypes) => (app.tokens.expires_in() as f64 + 0.5).into(),
        Some(ForgeMode::ExpiredToken) => (-(app.tokens.expires_in() as i64)).into(),
        _ => app.tokens.expires_in().into(),
    };
    fields.push(("expires_in", expires_in));
    let user_id: Value = match forge {
        Some(ForgeMode::WrongTypes) => 7.into(),
        _ => user.into(),
    };
    fields.push(("user_id", user_id));
    fields.push(("realm", realm.into()));
    fields.push(("user_principal", format!("{user}@{realm}").into()));
    if forge == Some(ForgeMode::ExtraFields) {
        fields.push(("token_type", "Bearer".into()));
        fields.push(("scope", serde_json::json!(["ccc_onprem_apps"])));
        fields.push((
            "FORGED_extra",
            serde_json::json!({"nested": [1, null, {"a": true}]}),
        ));
        fields.push(("expires_at", Value::Null));
    }
    if forge == Some(ForgeMode::HugeToken) {
        // Well-formed JSON, 50 MiB: the real fields, then a huge padding string.
        fields.push(("FORGED_padding", "x".repeat(HUGE_TOKEN_BYTES).into()));
    }
    let body = ordered_json(&fields);
    match app.faults.token_body() {
        TokenBody::Json => Resp::new(200, super::response::JSON, body),
        TokenBody::AsHtml => Resp::html(200, body),
        TokenBody::Malformed => {
            let cut = body.len() / 2;
            Resp::new(200, super::response::JSON, &body.as_bytes()[..cut])
        }
    }
}

/// Size of the `--forge huge-token` answer's padding.
pub(crate) const HUGE_TOKEN_BYTES: usize = 50 * 1024 * 1024;

/// `--forge redirect-loop|file-redirect|scheme-redirect|data-redirect|js-redirect|plain-http`:
/// where the token URL sends the browser instead of into the sign-in.
fn hostile_redirect(app: &App, req: &Req) -> Option<String> {
    let forged = super::idp::forged_value(app).to_string();
    let query = req.raw_query.as_deref().unwrap_or("");
    Some(match app.faults.forge()? {
        ForgeMode::RedirectLoop => app.settings.at(&app.settings.idp, "/idp/forge/loop?n=0"),
        ForgeMode::FileRedirect => "file:///etc/passwd".into(),
        ForgeMode::SchemeRedirect => "ciscosso://launch?app=1".into(),
        ForgeMode::DataRedirect => format!(
            "data:application/json,{}",
            url::form_urlencoded::byte_serialize(forged.as_bytes()).collect::<String>()
        ),
        ForgeMode::JsRedirect => format!(
            "javascript:document.write(decodeURIComponent('{}'))",
            url::form_urlencoded::byte_serialize(forged.as_bytes()).collect::<String>()
        ),
        ForgeMode::PlainHttp => format!("http://finesse-sso.invalid/desktop/sso/token?{query}"),
        _ => return None,
    })
}

/// `--forge alg-none`: the same claims under `{"alg":"none"}` with no signature.
fn unsigned(jwt: &str) -> String {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap_or("");
    let header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{payload}.")
}

/// A JSON object with keys in the given order (serde_json's map would sort them).
pub(crate) fn ordered_json(fields: &[(&str, Value)]) -> String {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::from(*k), v))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn authcode(app: &App, req: &Req) -> Result<Resp, Resp> {
    let code = required_query(req, "code")?;
    let state = required_query(req, "state")?;
    let pending = app
        .state()
        .pending_tokens
        .get(state)
        .cloned()
        .ok_or_else(|| Resp::bad_request("unknown or expired `state`"))?;
    let redirect_uri = app.settings.finesse_redirect_uri();
    let user = super::ids::exchange_code(app, code, FINESSE_CLIENT_ID, &redirect_uri)
        .map_err(|m| Resp::unauthorized(&m))?;
    let mut st = app.state();
    let sid = st.secret("Finesse session cookie", random_id(24));
    st.finesse_sessions.insert(sid.clone(), SESSION_TTL, user);
    drop(st);
    let location = app
        .settings
        .at(&app.settings.finesse, &pending.path_and_query);
    Ok(Resp::redirect(&location).with_cookie(&set_cookie(
        SESSION_COOKIE,
        &sid,
        "/desktop",
        app.settings.tls,
        false,
    )))
}

fn sso_test(app: &App, req: &Req) -> Resp {
    let cookie = |v: &str| {
        let mut c = format!("ssotest={v}; Path=/desktop");
        if app.settings.tls {
            c.push_str("; Secure");
        }
        c
    };
    match (req.cookie(SESSION_COOKIE), session_user(app, req)) {
        (_, Some(user)) => Resp::html(
            200,
            pages::sso_test(Some(&user), Some(app.tokens.expires_in()), ""),
        )
        .with_cookie(&cookie("true")),
        (None, None) => {
            Resp::html(401, pages::sso_test(None, None, "NO TOKEN")).with_cookie(&cookie("false"))
        }
        (Some(_), None) => {
            Resp::html(401, pages::sso_test(None, None, "AUTH_ERROR")).with_cookie(&cookie("false"))
        }
    }
}
