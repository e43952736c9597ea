//! What Finesse's token endpoint shares between its sign-in (GET) and refresh (POST, TAC GET)
//! forms: reading `cc_username` and the strict flags, the redirect into the browser flow, and
//! Cisco's token JSON bent by the token-body faults and `--forge`.

use serde_json::Value;

use crate::app::{App, FINESSE_CLIENT_ID, PENDING_TTL};
use crate::config::ForgeMode;
use crate::faults::TokenBody;
use crate::pages;
use crate::request::{Req, percent_decode};
use crate::response::{self, Resp, ordered_json};
use crate::state::{PendingToken, random_id};
use crate::tokens::Issued;

/// `cc_username` from the query (unless cookie-only) or the cookie.
pub(crate) fn cc_username(app: &App, req: &Req) -> Option<String> {
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

/// Strict flag values: `return_refresh_token=true|false`, `return_user=yes|no`.
pub(crate) fn flag(value: Option<&str>, name: &str, yes: &str, no: &str) -> Result<bool, Resp> {
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
pub(crate) fn same_user(app: &App, user: &str, given: &str) -> bool {
    user == given
        || app
            .settings
            .users
            .find(given)
            .is_some_and(|u| u.name == user)
}

/// 302 into the browser flow: IdS authorize, remembering where to come back to by `state`;
/// IdS sends the browser back to the side it came from.
pub(crate) fn redirect_to_authorize(app: &App, side: usize, path_and_query: String) -> Resp {
    let mut st = app.state();
    let state = st.secret("finesse state", random_id(16));
    st.pending_tokens
        .insert(state.clone(), PENDING_TTL, PendingToken { path_and_query });
    drop(st);
    let mut u = app.settings.ids.clone();
    u.set_path("/ids/v1/oauth/authorize");
    u.query_pairs_mut()
        .append_pair("redirect_uri", &app.settings.finesse_redirect_uri(side))
        .append_pair("client_id", FINESSE_CLIENT_ID)
        .append_pair("state", &state)
        .append_pair("response_type", "code");
    Resp::redirect(u.as_str())
}

/// Cisco's JSON in Cisco's key order, bent by the token-body faults and `--forge iframe`.
pub(crate) fn token_response(
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
        TokenBody::Json => Resp::new(200, response::JSON, body),
        TokenBody::AsHtml => Resp::html(200, body),
        TokenBody::Malformed => {
            let cut = body.len() / 2;
            Resp::new(200, response::JSON, &body.as_bytes()[..cut])
        }
    }
}

/// Size of the `--forge huge-token` answer's padding.
pub(crate) const HUGE_TOKEN_BYTES: usize = 50 * 1024 * 1024;

/// `--forge alg-none`: the same claims under `{"alg":"none"}` with no signature.
fn unsigned(jwt: &str) -> String {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap_or("");
    let header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{payload}.")
}
