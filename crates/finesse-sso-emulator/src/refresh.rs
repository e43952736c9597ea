//! Finesse's Refresh Existing Access Token: the POST form and the TAC GET variant, with
//! Cisco's rule that both tokens be valid and belong together, and optional rotation.

use crate::app::App;
use crate::request::{Req, required_query};
use crate::response::Resp;
use crate::state::ACCESS_TOKEN;
use crate::token_answer::{cc_username, flag, redirect_to_authorize, same_user, token_response};

/// The guide's form: `POST` with `token` and `refresh-token` (URL-encoded), `cc_username` optional.
pub(crate) fn post(app: &App, side: usize, req: &Req) -> Result<Resp, Resp> {
    let form = req.form()?;
    let token = form.required("token")?;
    let refresh = form.required("refresh-token")?;
    let want = flag(
        form.get("return_refresh_token")
            .or(req.query("return_refresh_token")),
        "return_refresh_token",
        "true",
        "false",
    )?;
    flag(
        form.get("return_user").or(req.query("return_user")),
        "return_user",
        "yes",
        "no",
    )?;
    let hint = cc_username(app, req);
    refresh_tokens(app, side, Some(token), refresh, hint.as_deref(), want)
}

/// The TAC 215626 variant: `GET ?cc_username=U&refresh-token=R` (optionally `token=A`).
pub(crate) fn get(app: &App, side: usize, req: &Req, hint: &str) -> Result<Resp, Resp> {
    let refresh = required_query(req, "refresh-token")?;
    let want = flag(
        req.query("return_refresh_token"),
        "return_refresh_token",
        "true",
        "false",
    )?;
    flag(req.query("return_user"), "return_user", "yes", "no")?;
    refresh_tokens(app, side, req.query("token"), refresh, Some(hint), want)
}

/// Cisco's rule: refresh works only while both tokens are valid and belong together.
fn refresh_tokens(
    app: &App,
    side: usize,
    access: Option<&str>,
    refresh: &str,
    hint: Option<&str>,
    want_refresh: bool,
) -> Result<Resp, Resp> {
    let rv = app.tokens.verify(refresh, "refresh");
    let owner = rv
        .as_ref()
        .ok()
        .and_then(|v| app.state().refresh_owner.get(&v.jti).cloned());
    if app.faults.refresh_redirect() {
        let mut u = url::form_urlencoded::Serializer::new(String::new());
        if let Some(name) = hint.map(str::to_string).or(owner) {
            u.append_pair("cc_username", &name);
        }
        u.append_pair("return_refresh_token", "true");
        return Ok(redirect_to_authorize(
            app,
            side,
            format!("/desktop/sso/token?{}", u.finish()),
        ));
    }
    let rv = rv.map_err(|e| Resp::unauthorized(&e.to_string()))?;
    let owner = owner.ok_or_else(|| {
        Resp::unauthorized("refresh token is no longer valid (it was rotated or never issued)")
    })?;
    if let Some(access) = access {
        let av = app
            .tokens
            .verify(access, "access")
            .map_err(|e| Resp::unauthorized(&e.to_string()))?;
        if av.sub.rt.as_deref() != Some(rv.jti.as_str()) {
            return Err(Resp::unauthorized(
                "access token and refresh token do not belong together (sub.rt differs)",
            ));
        }
        if av.sub.user_id.as_deref() != Some(owner.as_str()) {
            return Err(Resp::unauthorized("access token belongs to another user"));
        }
    }
    if let Some(h) = hint
        && !same_user(app, &owner, h)
    {
        return Err(Resp::unauthorized(
            "cc_username does not match the token's user",
        ));
    }
    let internal = |e: String| {
        tracing::error!("token issue failed: {e}");
        Resp::api_error(500, "Internal Server Error", "token issue failed")
    };
    let (rt_jti, new_refresh) = if app.faults.rotate_refresh() {
        let n = app.tokens.issue_refresh().map_err(internal)?;
        let mut st = app.state();
        st.secret("refresh token", n.jwt.clone());
        st.refresh_owner.take(&rv.jti);
        st.refresh_owner
            .insert(n.jti.clone(), app.tokens.refresh_ttl, owner.clone());
        (n.jti.clone(), Some(n))
    } else {
        (rv.jti.clone(), None)
    };
    let new_access = app.tokens.issue_access(&owner, &rt_jti).map_err(internal)?;
    app.state().secret(ACCESS_TOKEN, new_access.jwt.clone());
    let returned = new_refresh.as_ref().filter(|_| want_refresh);
    Ok(token_response(app, &owner, &new_access, returned))
}
