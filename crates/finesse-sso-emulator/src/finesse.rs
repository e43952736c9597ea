//! The Finesse server: SystemInfo, UserAuthMode, User, and the SSO token, authcode, refresh
//! and test endpoints (reference §1).

use hyper::Method;

use crate::app::{App, FINESSE_CLIENT_ID, SESSION_TTL};
use crate::config::{AuthMode, ForgeMode, UserAuthModeApi, UserMode};
use crate::pages;
use crate::request::{Req, percent_decode, required_query};
use crate::response::{Resp, set_cookie};
use crate::state::{ACCESS_TOKEN, random_id};
use crate::token_answer::{cc_username, flag, redirect_to_authorize, same_user, token_response};
use crate::tokens::Issued;

/// Finesse's session cookie (Tomcat), scoped to `/desktop` like the desktop app.
pub(crate) const SESSION_COOKIE: &str = "JSESSIONID";

/// Handles one request on Finesse side `side` (0: the first).
pub(crate) fn handle(app: &App, side: usize, req: &Req) -> Resp {
    route(app, side, req).unwrap_or_else(|e| e)
}

fn route(app: &App, side: usize, req: &Req) -> Result<Resp, Resp> {
    let path = req.path.as_str();
    match path {
        "/finesse/api/SystemInfo" => {
            req.only(&[Method::GET])?;
            Ok(system_info(app, side))
        }
        // `--forge look-alike`: the token path reached under another name answers forged JSON.
        "/desktop/sso/token"
            if app.faults.forge() == Some(ForgeMode::LookAlike)
                && req
                    .header("host")
                    .is_some_and(|h| h.starts_with("localhost")) =>
        {
            Ok(crate::forge::forged_json(app))
        }
        "/desktop/sso/token" => match req.method {
            Method::GET => token_get(app, side, req),
            Method::POST => crate::refresh::post(app, side, req),
            _ => Err(Resp::method_not_allowed(&[Method::GET, Method::POST])),
        },
        "/desktop/sso/authcode" => {
            req.only(&[Method::GET])?;
            authcode(app, side, req)
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
                Ok(crate::user_api::handle(app, req, rest))
            } else {
                Err(Resp::not_found())
            }
        }
    }
}

/// SystemInfo as side `side` reports it: its own `status`; both sides name the same nodes.
fn system_info(app: &App, side: usize) -> Resp {
    let s = &app.settings;
    let node = |url: &url::Url, host: &str| {
        let port = url.port_or_known_default().unwrap_or(0);
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
             <secondaryNode>{}</secondaryNode><status>{}</status><statusReason></statusReason>\
             <systemAuthMode>{}</systemAuthMode><timezoneOffset>0</timezoneOffset>\
             <uri>/finesse/api/SystemInfo</uri><xmppDomain>127.0.0.1</xmppDomain>\
             <xmppPubSubDomain>pubsub.127.0.0.1</xmppPubSubDomain><ctiServers><ctiServer>\
             <host>127.0.0.1</host><connectedDuration>0</connectedDuration><active>true</active>\
             </ctiServer></ctiServers></SystemInfo>",
            crate::log::now_rfc3339(),
            s.config.deployment.as_str(),
            crate::log::now_rfc3339(),
            node(s.side(0), "127.0.0.1"),
            match s.sides.get(1) {
                Some(second) => node(second, "127.0.0.1"),
                // One side: the secondary is the same server under its other certified name.
                None => node(&s.finesse, "localhost"),
            },
            app.xmpp.system_status(side),
            s.config.auth_mode.as_str(),
        ),
    )
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
            app.effective_mode(user)
        ),
    ))
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

fn session_user(app: &App, req: &Req) -> Option<String> {
    let id = req.cookie(SESSION_COOKIE)?;
    app.state().finesse_sessions.get(id).cloned()
}

fn token_get(app: &App, side: usize, req: &Req) -> Result<Resp, Resp> {
    let hint = require_cc_username(app, req)?;
    if req.query("refresh-token").is_some() {
        return crate::refresh::get(app, side, req, &hint);
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
        return Ok(redirect_to_authorize(app, side, pq));
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

/// `--forge redirect-loop|file-redirect|scheme-redirect|data-redirect|js-redirect|plain-http`:
/// where the token URL sends the browser instead of into the sign-in.
fn hostile_redirect(app: &App, req: &Req) -> Option<String> {
    let forged = crate::forge::forged_value(app).to_string();
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

fn authcode(app: &App, side: usize, req: &Req) -> Result<Resp, Resp> {
    let code = required_query(req, "code")?;
    let state = required_query(req, "state")?;
    let pending = app
        .state()
        .pending_tokens
        .get(state)
        .cloned()
        .ok_or_else(|| Resp::bad_request("unknown or expired `state`"))?;
    let redirect_uri = app.settings.finesse_redirect_uri(side);
    let user = crate::ids::exchange_code(app, code, FINESSE_CLIENT_ID, &redirect_uri)
        .map_err(|m| Resp::unauthorized(&m))?;
    let mut st = app.state();
    let sid = st.secret("Finesse session cookie", random_id(24));
    st.finesse_sessions.insert(sid.clone(), SESSION_TTL, user);
    drop(st);
    let location = app
        .settings
        .at(app.settings.side(side), &pending.path_and_query);
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
