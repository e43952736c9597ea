//! `--idp-login popup-mfa`: after the password, a second factor approved in a pop-up window, as
//! Duo's prompt does. The MFA page opens `/idp/mfa/popup` with `window.open`; the pop-up's
//! approval is recorded here for that transaction, the pop-up tells its opener by `postMessage`
//! and closes itself; the opener then posts `/idp/mfa/finish`, which asserts only an approved
//! transaction (`idp` asserts it: this module answers below it). Also the hostile pop-ups of
//! `--forge popup`.

use hyper::Method;

use crate::app::{App, PENDING_TTL};
use crate::config::IdpLogin;
use crate::pages::{escape, js_literal, message, page};
use crate::request::{Req, required_query};
use crate::response::Resp;
use crate::state::{AuthnInfo, Mfa, random_id};

/// The message the approving pop-up posts to its opener (with the transaction id).
const APPROVED: &str = "finesse-sso-emulator:mfa-approved";

/// What `/idp/mfa/*` answers: a page, or (`/idp/mfa/finish` with the approval) the user and
/// request to assert.
pub(crate) enum Answer {
    Page(Resp),
    Approved { user: String, authn: AuthnInfo },
}

pub(crate) fn handle(app: &App, req: &Req) -> Result<Answer, Resp> {
    if app.settings.config.idp_login != IdpLogin::PopupMfa {
        return Err(Resp::not_found());
    }
    match req.path.as_str() {
        "/idp/mfa/popup" => {
            req.only(&[Method::GET])?;
            let m = required_query(req, "m")?;
            let user = pending(app, m)?.user;
            Ok(Answer::Page(Resp::html(
                200,
                approve_page(m, &user, auto(app)),
            )))
        }
        "/idp/mfa/approve" => {
            req.only(&[Method::POST])?;
            let form = req.form()?;
            let m = form.required("m")?;
            {
                let mut st = app.state();
                let t = st.mfa.get_mut(m).ok_or_else(expired)?;
                t.approved = true;
            }
            tracing::info!("IdP: second factor approved in the pop-up");
            Ok(Answer::Page(Resp::html(200, approved_page(app, m))))
        }
        "/idp/mfa/finish" => {
            req.only(&[Method::POST])?;
            let form = req.form()?;
            let m = form.required("m")?;
            let t = pending(app, m)?;
            if !t.approved {
                return Err(Resp::html(
                    403,
                    message(
                        "Sign-in refused",
                        "The second factor was not approved in the pop-up window.",
                    ),
                ));
            }
            app.state().mfa.take(m);
            Ok(Answer::Approved {
                user: t.user,
                authn: t.authn,
            })
        }
        _ => Err(Resp::not_found()),
    }
}

fn expired() -> Resp {
    Resp::html(
        400,
        message(
            "Sign-in expired",
            "unknown or expired second-factor transaction",
        ),
    )
}

fn pending(app: &App, m: &str) -> Result<Mfa, Resp> {
    app.state().mfa.get(m).cloned().ok_or_else(expired)
}

/// `--auto-login`: the pop-up approves by itself (tests, demos).
fn auto(app: &App) -> bool {
    app.settings.config.auto_login.is_some()
}

/// The password was right: record the pending factor and answer the MFA page.
pub(crate) fn second_factor(app: &App, user: &str, authn: AuthnInfo) -> Resp {
    let m = {
        let mut st = app.state();
        let m = st.secret("IdP MFA transaction id", random_id(16));
        st.mfa.insert(
            m.clone(),
            PENDING_TTL,
            Mfa {
                user: user.to_string(),
                authn,
                approved: false,
            },
        );
        m
    };
    let s = &app.settings;
    let origin = s.idp.origin().ascii_serialization();
    let popup = format!("/idp/mfa/popup?m={m}");
    Resp::html(
        200,
        page(
            "Approve the sign-in",
            &format!(
                "<h1>Second factor</h1>\n\
                 <p id=\"status\">Approve the sign-in of <code>{user}</code> in the window that opens.</p>\n\
                 <button id=\"open\" type=\"button\">Open the approval window</button>\n\
                 <form id=\"finish\" method=\"post\" action=\"/idp/mfa/finish\">\
                 <input type=\"hidden\" name=\"m\" value=\"{m_attr}\"></form>\n\
                 <script>(function(){{var m={m_lit},origin={origin_lit},done=false;\
                 function open(){{var w=window.open({popup_lit},'mfa','width=420,height=360');\
                 if(!w){{document.getElementById('status').textContent=\
                 'Pop-ups must be enabled for this authentication method.';}}}}\
                 window.addEventListener('message',function(e){{\
                 if(e.origin!==origin||!e.data||e.data.type!=={approved_lit}||e.data.m!==m||done){{return;}}\
                 done=true;document.getElementById('status').textContent='Approved; signing in…';\
                 document.getElementById('finish').submit();}});\
                 document.getElementById('open').addEventListener('click',open);open();}})();</script>",
                user = escape(user),
                m_attr = escape(&m),
                m_lit = js_literal(&m.clone().into()),
                origin_lit = js_literal(&origin.into()),
                popup_lit = js_literal(&popup.into()),
                approved_lit = js_literal(&APPROVED.into()),
            ),
        ),
    )
}

/// The pop-up: one button that approves (pressed by script with `--auto-login`).
fn approve_page(m: &str, user: &str, auto: bool) -> String {
    let press = if auto {
        "<script>setTimeout(function(){document.getElementById('approve').submit();},200);</script>"
    } else {
        ""
    };
    page(
        "Approve",
        &format!(
            "<h1>Approve the sign-in?</h1>\n<p>User <code>{}</code> is signing in.</p>\n\
             <form id=\"approve\" method=\"post\" action=\"/idp/mfa/approve\">\
             <input type=\"hidden\" name=\"m\" value=\"{}\">\
             <button id=\"yes\" type=\"submit\">Approve</button></form>\n{press}",
            escape(user),
            escape(m)
        ),
    )
}

/// Tells the opener (on the IdP origin only) and closes the pop-up.
fn approved_page(app: &App, m: &str) -> String {
    let origin = app.settings.idp.origin().ascii_serialization();
    let msg = serde_json::json!({ "type": APPROVED, "m": m });
    page(
        "Approved",
        &format!(
            "<h1>Approved</h1>\n<p>You can close this window.</p>\n\
             <script>(function(){{try{{if(window.opener){{window.opener.postMessage({},{});}}}}\
             catch(e){{}}setTimeout(function(){{window.close();}},100);}})();</script>",
            js_literal(&msg),
            js_literal(&origin.into())
        ),
    )
}

/// `--forge popup`, on the IdP login page: pop-ups to a refused place (`cc_username` off the
/// Finesse origin), straight to Finesse's token URL, and to an allowed IdP page (by
/// `window.open` and by a `target=_blank` link). The page's own sign-in waits until the allowed
/// pop-up has tried its worst (or 8 s), so the client's refusals are observable.
pub(crate) fn forge_attempt(app: &App) -> String {
    let s = &app.settings;
    let allowed = s.at(&s.idp, "/idp/forge/popup");
    let leak = s.at(&s.idp, "/idp/forge/popup-leak?cc_username=agent1");
    let lit = |u: &str| js_literal(&serde_json::Value::from(u));
    format!(
        "<a id=\"blank\" href=\"{}\" target=\"_blank\">more</a>\n\
         <script>(function(){{var submit=HTMLFormElement.prototype.submit,ready=false,pending=null;\
         HTMLFormElement.prototype.submit=function(){{if(ready){{submit.call(this);}}else{{pending=this;}}}};\
         function go(){{ready=true;if(pending){{submit.call(pending);}}}}\
         window.addEventListener('message',function(e){{if(e.origin===location.origin&&\
         e.data==='forge-popup-tried'){{setTimeout(go,300);}}}});setTimeout(go,8000);\
         try{{window.open({},'leak');}}catch(e){{}}\
         try{{window.open({},'token');}}catch(e){{}}\
         try{{window.open({},'forge','width=300,height=200');}}catch(e){{}}\
         try{{document.getElementById('blank').click();}}catch(e){{}}}})();</script>\n",
        escape(&allowed),
        lit(&leak),
        lit(&token_url(app)),
        lit(&allowed)
    )
}

/// `--forge popup`: the allowed pop-up tells its opener, then heads for Finesse's token URL.
pub(crate) fn forged_popup(app: &App) -> String {
    let origin = app.settings.idp.origin().ascii_serialization();
    page(
        "FORGED",
        &format!(
            "<h1>FORGED</h1><p>pop-up opened</p>\n\
             <script>try{{if(window.opener){{window.opener.postMessage('forge-popup-tried',{});}}}}\
             catch(e){{}}window.location.href={};</script>",
            js_literal(&origin.into()),
            js_literal(&token_url(app).into())
        ),
    )
}

/// Finesse's token URL for the auto-login user, as the client itself opens it.
fn token_url(app: &App) -> String {
    let s = &app.settings;
    let user = s.config.auto_login.as_deref().unwrap_or("agent1");
    s.at(
        &s.finesse,
        &format!("/desktop/sso/token?cc_username={user}&return_refresh_token=true"),
    )
}
