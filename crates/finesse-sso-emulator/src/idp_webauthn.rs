//! `--idp-login security-key`: the IdP asks for a security key the way Okta and Entra do: its
//! page calls `navigator.credentials.get({publicKey: …})` at once, and when that fails shows its
//! own "not supported" text and a link to sign in another way (the password form, same
//! transaction). No assertion is ever verified here: a key cannot sign in on this emulator, which
//! is the point (clients must say plainly that the engine cannot use one).

use hyper::Method;

use crate::app::App;
use crate::config::IdpLogin;
use crate::pages::{escape, js_literal, page};
use crate::request::{Req, required_query};
use crate::response::Resp;
use crate::state::random_id;

/// The IdP's own words when the browser cannot use a key (Okta's).
pub(crate) const NOT_SUPPORTED: &str =
    "Security key or biometric authenticator is not supported on this browser.";

pub(crate) fn handle(app: &App, req: &Req) -> Result<Resp, Resp> {
    if app.settings.config.idp_login != IdpLogin::SecurityKey {
        return Err(Resp::not_found());
    }
    req.only(&[Method::GET])?;
    let txn = required_query(req, "txn")?;
    if !app.state().txns.contains(txn) {
        return Err(Resp::html(
            400,
            crate::pages::message("Sign-in expired", "unknown or expired login transaction"),
        ));
    }
    let challenge = random_id(32);
    let rp_id = app
        .settings
        .idp
        .host_str()
        .unwrap_or("localhost")
        .to_string();
    let other = format!("/idp/login?txn={txn}");
    // `--auto-login`: after the failure, take the other way by itself (what a person would do).
    let fallback = if app.settings.config.auto_login.is_some() {
        "setTimeout(function(){document.getElementById('other').click();},300);"
    } else {
        ""
    };
    let options = serde_json::json!({
        "challenge": challenge,
        "rpId": rp_id,
        "timeout": 60000,
        "userVerification": "preferred",
        "allowCredentials": [],
    });
    Ok(Resp::html(
        200,
        page(
            "Verify with your security key",
            &format!(
                "<h1>Verify with your security key</h1>\n\
                 <p id=\"status\">Insert your security key and touch it.</p>\n\
                 <p><a id=\"other\" href=\"{other_attr}\">Sign in another way</a></p>\n\
                 <script>(function(){{var o={options};\
                 function bytes(h){{var a=new Uint8Array(h.length/2);\
                 for(var i=0;i<a.length;i++){{a[i]=parseInt(h.substr(i*2,2),16);}}return a;}}\
                 function unsupported(){{document.getElementById('status').textContent={text};{fallback}}}\
                 try{{navigator.credentials.get({{publicKey:{{challenge:bytes(o.challenge),\
                 rpId:o.rpId,timeout:o.timeout,userVerification:o.userVerification,\
                 allowCredentials:o.allowCredentials}}}}).then(function(){{\
                 document.getElementById('status').textContent='This emulator cannot verify a key.';}},\
                 unsupported);}}catch(e){{unsupported();}}}})();</script>",
                other_attr = escape(&other),
                options = js_literal(&options),
                text = js_literal(&NOT_SUPPORTED.into()),
            ),
        ),
    ))
}
