//! The SAML IdP: SSO endpoint, login page and form (with lockout), the IdP session, and the
//! hostile endpoints of `--forge`.

use std::time::{Duration, Instant};

use hyper::Method;

use crate::app::{App, PENDING_TTL, SESSION_TTL};
use crate::config::{ForgeMode, IdpLogin};
use crate::forge::{forged_json, forged_value};
use crate::pages::{self, LoginPage};
use crate::request::{Req, required_query};
use crate::response::{Resp, set_cookie};
use crate::saml::{self, AssertionInput};
use crate::state::{AuthnInfo, Txn, random_id};

pub(crate) const SESSION_COOKIE: &str = "IDPSESSION";
/// Set when the login page is shown; the login POST without it is refused (403).
pub(crate) const LOGIN_COOKIE: &str = "idp_login";

/// The Kerberos login of `--idp-login negotiate` (idp_negotiate.rs; the router sends it there).
pub(crate) const NEGOTIATE_PATH: &str = "/idp/negotiate";

/// Failed passwords in a row before the account locks, and for how long.
pub(crate) const MAX_FAILURES: u32 = 5;
pub(crate) const LOCKOUT: Duration = Duration::from_secs(300);

pub(crate) fn handle(app: &App, req: &Req) -> Resp {
    route(app, req).unwrap_or_else(|e| e)
}

fn route(app: &App, req: &Req) -> Result<Resp, Resp> {
    match req.path.as_str() {
        "/idp/sso" => {
            req.only(&[Method::POST])?;
            sso(app, req)
        }
        "/idp/login" => match req.method {
            Method::GET => login_page(app, req),
            Method::POST => login(app, req),
            _ => Err(Resp::method_not_allowed(&[Method::GET, Method::POST])),
        },
        "/idp/forge/frame" if app.faults.forge() == Some(ForgeMode::Iframe) => {
            Ok(Resp::html(200, pages::iframe_attack(&forged_value(app))))
        }
        "/desktop/sso/token" if app.faults.forge() == Some(ForgeMode::IdpJson) => {
            Ok(forged_json(app))
        }
        "/idp/forge/loop" if app.faults.forge() == Some(ForgeMode::RedirectLoop) => {
            // Alternate 302s and script navigations, forever: n → n+1.
            let n: u64 = req.query("n").and_then(|n| n.parse().ok()).unwrap_or(0);
            let next = app
                .settings
                .at(&app.settings.idp, &format!("/idp/forge/loop?n={}", n + 1));
            Ok(match n % 2 {
                0 => Resp::redirect(&next),
                _ => Resp::html(200, pages::loop_step(&next)),
            })
        }
        "/idp/forge/popup" => {
            tracing::warn!("pop-up endpoint hit: a client opened a pop-up window");
            Ok(Resp::html(200, crate::idp_popup::forged_popup(app)))
        }
        p if p.starts_with("/idp/mfa/") => match crate::idp_popup::handle(app, req)? {
            crate::idp_popup::Answer::Page(page) => Ok(page),
            crate::idp_popup::Answer::Approved { user, authn } => Ok(signed_in(app, &user, &authn)),
        },
        "/idp/webauthn" => crate::idp_webauthn::handle(app, req),
        "/steal" => {
            // Record names only: the values are what the attacker wanted, and secrets.
            let names = req.query.iter().map(|(k, _)| k.clone()).collect();
            app.state().steal_hits.push(names);
            tracing::warn!("leak endpoint hit: a client sent data to another origin");
            Ok(Resp::html(200, pages::message("FORGED", "leak recorded")))
        }
        _ => Err(Resp::not_found()),
    }
}

fn idp_error(status: u16, title: &str, msg: &str) -> Resp {
    Resp::html(status, pages::message(title, msg))
}

fn sso(app: &App, req: &Req) -> Result<Resp, Resp> {
    let s = &app.settings;
    let form = req.form()?;
    let request = form.required("SAMLRequest")?;
    let relay_state = form.required("RelayState")?;
    let parsed =
        saml::parse_authn_request(request).map_err(|m| idp_error(400, "Bad SAML request", &m))?;
    if parsed.issuer != s.ids_entity {
        return Err(idp_error(
            403,
            "Unknown service provider",
            "the AuthnRequest Issuer is not a registered SP",
        ));
    }
    if parsed.acs != s.acs_url() {
        return Err(idp_error(
            403,
            "Unknown service provider",
            "AssertionConsumerServiceURL is not registered",
        ));
    }
    let authn = AuthnInfo {
        request_id: parsed.id,
        relay_state: relay_state.into(),
    };
    let session_user = req
        .cookie(SESSION_COOKIE)
        .and_then(|sid| app.state().idp_sessions.get(sid).cloned());
    if let Some(user) = session_user {
        return Ok(assert_to_sp(app, &user, &authn));
    }
    let mut st = app.state();
    let txn = st.secret("IdP transaction id", random_id(16));
    st.txns.insert(
        txn.clone(),
        PENDING_TTL,
        Txn {
            authn,
            login_cookie: None,
        },
    );
    drop(st);
    Ok(match s.config.idp_login {
        IdpLogin::Password | IdpLogin::PopupMfa => Resp::redirect(&format!("/idp/login?txn={txn}")),
        IdpLogin::Negotiate => Resp::redirect(&format!("{NEGOTIATE_PATH}?txn={txn}")),
        IdpLogin::SecurityKey => Resp::redirect(&format!("/idp/webauthn?txn={txn}")),
        // On to the certificate host (`idp_cert`), which asks for the client certificate.
        IdpLogin::ClientCert => match &s.idp_cert {
            Some(host) => Resp::redirect(&s.at(host, &format!("/idp/certauth?txn={txn}"))),
            None => idp_error(
                500,
                "No certificate host",
                "the certificate host is not running",
            ),
        },
    })
}

fn login_page(app: &App, req: &Req) -> Result<Resp, Resp> {
    let s = &app.settings;
    let txn = required_query(req, "txn")?;
    let cookie = random_id(16);
    {
        let mut st = app.state();
        st.secret("IdP login cookie", cookie.clone());
        let t = st.txns.get_mut(txn).ok_or_else(|| {
            idp_error(
                400,
                "Sign-in expired",
                "unknown or expired login transaction",
            )
        })?;
        t.login_cookie = Some(cookie.clone());
    }
    let users: Vec<&str> = s.users.all().iter().map(|u| u.name.as_str()).collect();
    let demo = s
        .users
        .all()
        .iter()
        .find(|u| u.demo)
        .map(|u| (u.name.as_str(), u.password.expose().as_str()));
    let auto = s.config.auto_login.as_deref().and_then(|name| {
        s.users
            .find(name)
            .map(|u| (u.name.as_str(), u.password.expose().as_str()))
    });
    let leak_action = (app.faults.forge() == Some(ForgeMode::Leak)).then(|| s.at(&s.idp, "/steal"));
    let hostile = match app.faults.forge() {
        Some(ForgeMode::CustomScheme) => Some(pages::custom_scheme_attempt()),
        Some(ForgeMode::Popup) => Some(crate::idp_popup::forge_attempt(app)),
        _ => None,
    };
    let html = pages::login(&LoginPage {
        txn,
        users,
        demo,
        auto,
        leak_action: leak_action.as_deref(),
        hostile,
    });
    Ok(Resp::html(200, html).with_cookie(&set_cookie(LOGIN_COOKIE, &cookie, "/idp", s.tls, false)))
}

fn login(app: &App, req: &Req) -> Result<Resp, Resp> {
    let s = &app.settings;
    let form = req.form()?;
    let txn_id = form.required("txn")?;
    let cookie = req.cookie(LOGIN_COOKIE).ok_or_else(|| {
        idp_error(
            403,
            "Sign-in refused",
            &format!("missing cookie `{LOGIN_COOKIE}`: open the sign-in page first"),
        )
    })?;
    let username = form.required("username")?;
    let password = form.required("password")?;
    let mut st = app.state();
    let txn = st.txns.get(txn_id).cloned().ok_or_else(|| {
        idp_error(
            400,
            "Sign-in expired",
            "unknown or expired login transaction",
        )
    })?;
    if txn.login_cookie.as_deref() != Some(cookie) {
        return Err(idp_error(
            403,
            "Sign-in refused",
            "the sign-in cookie does not match this page",
        ));
    }
    let Some(user) = s.users.all().iter().find(|u| u.name == username) else {
        return Err(idp_error(401, "Sign-in failed", "Unknown user name."));
    };
    let now = Instant::now();
    let failures = st.failures.entry(user.name.clone()).or_default();
    if failures.locked_until.is_some_and(|t| t > now) {
        return Err(locked(&user.name));
    }
    if user.password.expose() != password {
        failures.count += 1;
        if failures.count >= MAX_FAILURES {
            failures.locked_until = Some(now + LOCKOUT);
            failures.count = 0;
            return Err(locked(&user.name));
        }
        let left = MAX_FAILURES - failures.count;
        return Err(idp_error(
            401,
            "Sign-in failed",
            &format!(
                "Wrong password for {}. {left} attempt(s) left before the account is locked.",
                user.name
            ),
        ));
    }
    st.failures.remove(&user.name);
    st.txns.take(txn_id);
    drop(st);
    if s.config.idp_login == IdpLogin::PopupMfa {
        return Ok(crate::idp_popup::second_factor(app, &user.name, txn.authn)
            .with_cookie(&crate::response::clear_cookie(LOGIN_COOKIE, "/idp")));
    }
    Ok(signed_in(app, &user.name, &txn.authn)
        .with_cookie(&crate::response::clear_cookie(LOGIN_COOKIE, "/idp")))
}

/// The user passed every factor: a new IdP session and the assertion to the SP.
fn signed_in(app: &App, user: &str, authn: &AuthnInfo) -> Resp {
    let sid = app.state().secret("IdP session cookie", random_id(24));
    app.state()
        .idp_sessions
        .insert(sid.clone(), SESSION_TTL, user.to_string());
    assert_to_sp(app, user, authn).with_cookie(&set_cookie(
        SESSION_COOKIE,
        &sid,
        "/idp",
        app.settings.tls,
        true,
    ))
}

fn locked(name: &str) -> Resp {
    idp_error(
        423,
        "Account locked",
        &format!(
            "The account {name} is locked after {MAX_FAILURES} failed sign-ins; try again in {} minutes.",
            LOCKOUT.as_secs() / 60
        ),
    )
}

/// The signed assertion, auto-posted to the IdS ACS (or a forged detour with `--forge`).
pub(crate) fn assert_to_sp(app: &App, user: &str, authn: &AuthnInfo) -> Resp {
    let s = &app.settings;
    match app.faults.forge() {
        Some(ForgeMode::IdpJson) => return Resp::redirect(&s.at(&s.idp, "/desktop/sso/token")),
        Some(ForgeMode::IdsJson) => return Resp::redirect(&s.at(&s.ids, "/desktop/sso/token")),
        Some(ForgeMode::LookAlike) => {
            let mut look_alike = s.finesse.clone();
            let _ = look_alike.set_host(Some("localhost"));
            return Resp::redirect(&s.at(&look_alike, "/desktop/sso/token"));
        }
        _ => {}
    }
    let acs = s.acs_url();
    let upn = format!("{user}@{}", app.tokens.realm());
    let response = saml::response(
        &app.idp_key,
        &AssertionInput {
            idp_entity: &s.idp_entity,
            audience: &s.ids_entity,
            acs: &acs,
            in_response_to: &authn.request_id,
            uid: user,
            user_principal: &upn,
        },
    );
    app.state().secret("SAMLResponse", response.clone());
    Resp::html(
        200,
        pages::auto_post(
            "Returning to the Identity Service",
            &acs,
            &[
                ("SAMLResponse", &response),
                ("RelayState", &authn.relay_state),
            ],
        ),
    )
}
