//! Finesse's User API: `GET|PUT /finesse/api/User/<id>` and `GET …/ReasonCodes`, strict and
//! faithful to the reference (§1–§3, §5): Bearer tokens only for their own user, Basic only
//! for NON_SSO users with the 5-failures / 5-minutes lockout, Cisco's `ApiErrors` bodies.

use std::time::Instant;

use base64::Engine as _;
use hyper::Method;

use crate::agent_state::{self, Agent, BasicFailures, Put, PutRecord, Refusal, Rules};
use crate::app::App;
use crate::config::Deployment;
use crate::pages::escape;
use crate::reason_codes::{ReasonCodes, reason_code_xml};
use crate::request::{Req, percent_decode};
use crate::response::Resp;
use crate::state::User;

/// Consecutive wrong passwords that lock a user (reference §5).
const MAX_FAILURES: u32 = 5;
/// Largest `<User>` body read.
const MAX_BODY: usize = 16 * 1024;

/// `rest` is the path after `/finesse/api/User/`.
pub(crate) fn handle(app: &App, req: &Req, rest: &str) -> Resp {
    route(app, req, rest).unwrap_or_else(|e| e)
}

fn route(app: &App, req: &Req, rest: &str) -> Result<Resp, Resp> {
    let (id, sub) = match rest.split_once('/') {
        Some((id, sub)) => (id, Some(sub)),
        None => (rest, None),
    };
    let allowed: &[Method] = match sub {
        None => &[Method::GET, Method::PUT],
        Some("ReasonCodes") => &[Method::GET],
        Some(_) => return Err(Resp::not_found()),
    };
    req.only(allowed)?;
    unavailable(app)?;
    let id = percent_decode(id)
        .filter(|i| !i.is_empty())
        .ok_or_else(Resp::not_found)?;
    let (caller, scheme) = authenticate(app, req)?;
    let users = app.settings.users.all();
    let (index, user) = users
        .iter()
        .enumerate()
        .find(|(_, u)| u.name == id || u.login_id == id)
        .ok_or_else(|| error(404, "User Not Found", "4023", "UNKNOWN_USER"))?;
    if user.name != caller {
        return Err(error(
            401,
            "Invalid Authorization User Specified",
            "4321",
            "The user specified in the authentication credentials and the uri don't match \
             (the credentials do not belong to this user)",
        ));
    }
    // The VPN-less proxy admits a WebSocket only after an authenticated REST call (§7.1).
    app.xmpp.rest_call(&user.name);
    let codes = ReasonCodes::new(app.settings.config.user_api.no_reason_codes);
    match (sub, &req.method) {
        (Some(_), _) => reason_codes(req, codes),
        (None, &Method::GET) => Ok(Resp::xml(200, user_xml(app, user, codes, "User"))),
        _ => {
            // The User object is keyed by loginId on UCCE: PUT to the loginName finds nothing
            // there (reference §1.1: map it with a GET first).
            if app.settings.config.deployment == Deployment::Ucce && id != user.login_id {
                return Err(error(404, "User Not Found", "4023", "UNKNOWN_USER"));
            }
            let result = put(app, req, index, user, codes);
            let status = match &result {
                Ok(r) | Err(r) => r.status,
            };
            app.state().desktop.puts.push(PutRecord {
                login_id: user.login_id.clone(),
                state: parse_put(&req.body)
                    .ok()
                    .and_then(|p| p.state)
                    .unwrap_or_default(),
                request_id: req.header("requestid").map(str::to_string),
                scheme,
                status,
            });
            result
        }
    }
}

/// `--user-api-unavailable N`: the first N requests answer 503, as while Finesse starts.
fn unavailable(app: &App) -> Result<(), Resp> {
    let mut st = app.state();
    let left = st
        .desktop
        .unavailable_left
        .get_or_insert(app.settings.config.user_api.user_api_unavailable);
    if *left == 0 {
        return Ok(());
    }
    *left -= 1;
    Err(error(
        503,
        "Service Unavailable",
        "503",
        "Finesse is not IN_SERVICE (the Notification Service is not running); retry in a few seconds",
    ))
}

/// The caller's login name and the scheme used.
fn authenticate(app: &App, req: &Req) -> Result<(String, &'static str), Resp> {
    let unauthorized = |m: &str| error(401, "Authorization Failure", "401", m);
    let auth = req
        .header("authorization")
        .ok_or_else(|| unauthorized("Authorization header is missing"))?;
    if let Some(token) = auth.strip_prefix("Bearer ") {
        let v = app
            .tokens
            .verify(token.trim(), "access")
            .map_err(|e| unauthorized(&e.to_string()))?;
        return Ok((v.sub.user_id.unwrap_or_default(), "Bearer"));
    }
    let Some(b64) = auth.strip_prefix("Basic ") else {
        return Err(unauthorized("Authorization must be Bearer or Basic"));
    };
    let bad = || unauthorized("invalid Basic credentials");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (name, pw) = raw.split_once(':').ok_or_else(bad)?;
    let user = app.settings.users.find(name).ok_or_else(bad)?;
    if app.effective_mode(user) != "NON_SSO" {
        return Err(unauthorized(
            "Basic authentication is not accepted for SSO users: use a Bearer token",
        ));
    }
    let lockout = app.settings.config.user_api.lockout;
    let now = Instant::now();
    let mut st = app.state();
    let f = st.desktop.basic.entry(user.name.clone()).or_default();
    if let Some(until) = f.locked_until.filter(|t| *t > now) {
        return Err(locked(until - now));
    }
    if user.password.expose() != pw {
        f.count += 1;
        if f.count >= MAX_FAILURES {
            *f = BasicFailures {
                count: 0,
                locked_until: Some(now + lockout),
            };
            return Err(locked(lockout));
        }
        return Err(bad());
    }
    *f = BasicFailures::default();
    Ok((user.name.clone(), "Basic"))
}

/// What the emulator answers while a user is locked out. Finesse's own answer is not
/// documented (reference §5, \[U\]); a 401 whose message says so is the emulator's choice.
fn locked(left: std::time::Duration) -> Resp {
    error(
        401,
        "Authorization Failure",
        "401",
        &format!(
            "User account is locked after {MAX_FAILURES} consecutive failed sign-ins; try again in {} s",
            left.as_secs().max(1)
        ),
    )
}

fn reason_codes(req: &Req, codes: ReasonCodes) -> Result<Resp, Resp> {
    let category = req
        .query("category")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            error(
                400,
                "Parameter Missing",
                "category",
                "category Parameter missing",
            )
        })?;
    if !matches!(category, "NOT_READY" | "LOGOUT" | "ALL") {
        return Err(error(
            400,
            "Invalid Input",
            "category",
            "Invalid category: NOT_READY, LOGOUT or ALL",
        ));
    }
    Ok(Resp::xml(200, codes.xml(category)))
}

fn put(app: &App, req: &Req, index: usize, user: &User, codes: ReasonCodes) -> Result<Resp, Resp> {
    if req.content_type() != "application/xml" {
        return Err(error(
            415,
            "Unsupported Media Type",
            "Content-Type",
            "Content-Type must be application/xml",
        ));
    }
    let body = parse_put(&req.body).map_err(|m| error(400, "Bad Request", "body", &m))?;
    let cfg = &app.settings.config;
    let extensions = cfg
        .user_api
        .extensions_of(index, &user.name, &user.login_id);
    let rules = Rules {
        ucce: cfg.deployment == Deployment::Ucce,
        extensions: &extensions,
        stuck: &cfg.user_api.stuck_extensions,
        codes,
    };
    let now = finesse_time();
    let request_id = req.header("requestid");
    let mut st = app.state();
    let agent = st.desktop.agents.entry(user.login_id.clone()).or_default();
    let before = agent.clone();
    let applied = agent_state::apply(agent, &body, &rules, &now);
    // `--xmpp-device-busy`: the CTI server fails the device after the 202 (reference §1.3).
    let busy = matches!(applied, Ok(true))
        && body.state.as_deref() == Some("LOGIN")
        && before.state == agent_state::State::Logout
        && app.xmpp.device_busy();
    if busy {
        *agent = before;
    }
    drop(st);
    match applied {
        Ok(confirmed) => {
            if busy {
                app.xmpp.publish_api_error(
                    &user.login_id,
                    "Device Busy",
                    "Device already in use",
                    request_id,
                );
            } else if confirmed {
                let xml = user_xml(app, user, codes, "user");
                app.xmpp.publish_user(&user.login_id, &xml, request_id);
            }
            Ok(Resp::new(202, crate::response::TEXT, Vec::new()))
        }
        Err(Refusal {
            status,
            error_type,
            data,
            message,
        }) => Err(error(status, error_type, &data, &message)),
    }
}

/// `<User>` with `state`, `extension`, `reasonCodeId`, `activeDeviceId`, `mobileAgent`.
/// Unknown elements, text outside them and a DTD are refused (roxmltree rejects DTDs).
pub(crate) fn parse_put(body: &[u8]) -> Result<Put, String> {
    if body.len() > MAX_BODY {
        return Err(format!("the body is larger than {MAX_BODY} bytes"));
    }
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("malformed XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "User" {
        return Err(format!(
            "the root element is <{}>, not <User>",
            root.tag_name().name()
        ));
    }
    let text_of = |n: roxmltree::Node<'_, '_>| n.text().unwrap_or("").trim().to_string();
    let mut p = Put::default();
    for n in root.children().filter(|n| n.is_element()) {
        let slot = match n.tag_name().name() {
            "state" => &mut p.state,
            "extension" => &mut p.extension,
            "activeDeviceId" => &mut p.active_device_id,
            "reasonCodeId" => &mut p.reason_code_id,
            "mobileAgent" => {
                let mut mode = None;
                let mut dial = None;
                for m in n.children().filter(|m| m.is_element()) {
                    match m.tag_name().name() {
                        "mode" => mode = Some(text_of(m)),
                        "dialNumber" => dial = Some(text_of(m)),
                        other => return Err(format!("unknown element <mobileAgent><{other}>")),
                    }
                }
                p.mobile = Some((mode, dial));
                continue;
            }
            other => return Err(format!("unknown element <{other}> in <User>")),
        };
        if slot.is_some() {
            return Err(format!("<{}> is given twice", n.tag_name().name()));
        }
        *slot = Some(text_of(n));
    }
    Ok(p)
}

/// Finesse's timestamp form, `YYYY-MM-DDThh:MM:ss.SSSZ`.
pub(crate) fn finesse_time() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&f)
        .unwrap_or_default()
}

/// Signs `login_id` out as Finesse does when its presence is gone (reason 255): the
/// notification's `<user>`, or `None` when it was not signed in.
pub(crate) fn force_logout(app: &App, login_id: &str, reason: i64) -> Option<String> {
    let user = app.settings.users.find(login_id)?.clone();
    {
        let mut st = app.state();
        let a = st.desktop.agents.get_mut(login_id)?;
        if a.state == agent_state::State::Logout {
            return None;
        }
        *a = Agent {
            reason_code_id: reason,
            state_change_time: finesse_time(),
            ..Agent::default()
        };
    }
    let codes = ReasonCodes::new(app.settings.config.user_api.no_reason_codes);
    Some(user_xml(app, &user, codes, "user"))
}

/// The `<user>` of `login_id`'s User notification as its agent state is now.
pub(crate) fn user_notification(app: &App, login_id: &str) -> Option<String> {
    let user = app.settings.users.find(login_id)?.clone();
    let codes = ReasonCodes::new(app.settings.config.user_api.no_reason_codes);
    Some(user_xml(app, &user, codes, "user"))
}

/// The `<User>` object (`<user>` in notifications), its elements in the order of Cisco's User
/// notification example.
fn user_xml(app: &App, u: &User, codes: ReasonCodes, wrapper: &str) -> String {
    let a = app
        .state()
        .desktop
        .agents
        .get(&u.login_id)
        .cloned()
        .unwrap_or_default();
    let reason = codes
        .by_id(a.reason_code_id)
        .map(reason_code_xml)
        .unwrap_or_default();
    let mobile = a
        .mobile
        .as_ref()
        .map(|(mode, dial)| {
            format!(
                "<mobileAgent><mode>{}</mode><dialNumber>{}</dialNumber></mobileAgent>",
                escape(mode),
                escape(dial)
            )
        })
        .unwrap_or_default();
    format!(
        "<{wrapper}><dialogs>/finesse/api/User/{id}/Dialogs</dialogs><extension>{ext}</extension>\
         <firstName>{first}</firstName><lastName>{last}</lastName><loginId>{id}</loginId>\
         <loginName>{name}</loginName><mediaType>1</mediaType>{mobile}<pendingState></pendingState>\
         <reasonCodeId>{rc}</reasonCodeId>{reason}<roles><role>Agent</role></roles>\
         <settings><wrapUpOnIncoming>OPTIONAL</wrapUpOnIncoming>\
         <wrapUpOnOutgoing>NOT_ALLOWED</wrapUpOnOutgoing></settings>\
         <state>{state}</state><stateChangeTime>{t}</stateChangeTime><teamId>1</teamId>\
         <teamName>Default</teamName><uri>/finesse/api/User/{id}</uri></{wrapper}>",
        id = escape(&u.login_id),
        ext = escape(&a.extension),
        first = escape(&u.first_name),
        last = escape(&u.last_name),
        name = escape(&u.name),
        rc = a.reason_code_id,
        state = a.state.as_str(),
        t = escape(&a.state_change_time),
    )
}

/// Cisco's synchronous error body (reference §1.3).
fn error(status: u16, error_type: &str, data: &str, message: &str) -> Resp {
    Resp::xml(
        status,
        format!(
            "<ApiErrors><ApiError><ErrorType>{}</ErrorType><ErrorData>{}</ErrorData>\
             <ErrorMessage>{}</ErrorMessage></ApiError></ApiErrors>",
            escape(error_type),
            escape(data),
            escape(message)
        ),
    )
}

/// Test and embedding hooks for the User API.
impl crate::Emulator {
    /// From now on, the next `n` User API requests answer 503.
    pub fn set_user_api_unavailable(&self, n: u32) {
        self.app.state().desktop.unavailable_left = Some(n);
    }

    /// Consecutive wrong Basic passwords counted for `user` (login name) so far.
    pub fn basic_failures(&self, user: &str) -> u32 {
        self.app
            .state()
            .desktop
            .basic
            .get(user)
            .map_or(0, |f| f.count)
    }

    /// Whether `user` (login name) is locked out of the User API now.
    pub fn is_locked_out(&self, user: &str) -> bool {
        self.app
            .state()
            .desktop
            .basic
            .get(user)
            .and_then(|f| f.locked_until)
            .is_some_and(|t| t > Instant::now())
    }

    /// Every `PUT /finesse/api/User/<id>` received so far, oldest first.
    pub fn user_puts(&self) -> Vec<PutRecord> {
        self.app.state().desktop.puts.clone()
    }

    /// The agent state of `login_id` (`LOGOUT` before any sign-in).
    pub fn agent_state(&self, login_id: &str) -> &'static str {
        self.app
            .state()
            .desktop
            .agents
            .get(login_id)
            .map_or(Agent::default().state, |a| a.state)
            .as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_bodies_parse_strictly() {
        let p = parse_put(
            b"<User><state>LOGIN</state><extension>1001001</extension>\
              <mobileAgent><mode>CALL_BY_CALL</mode><dialNumber>4085551234</dialNumber></mobileAgent></User>",
        )
        .unwrap();
        assert_eq!(p.state.as_deref(), Some("LOGIN"));
        assert_eq!(
            p.mobile,
            Some((Some("CALL_BY_CALL".into()), Some("4085551234".into())))
        );
        for bad in [
            &b"<user><state>READY</state></user>"[..],
            b"<User><state>READY</state><state>READY</state></User>",
            b"<User><color>red</color></User>",
            b"<User><state>READY</state>",
            b"<!DOCTYPE User [<!ENTITY x \"y\">]><User><state>&x;</state></User>",
            b"\xff",
        ] {
            assert!(parse_put(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse_put(&vec![b' '; MAX_BODY + 1]).is_err());
    }
}
