//! A small HTML scanner for the silent walk and the test browser: forms, their inputs, entity
//! decoding, which form a page's script submits by itself, and whether a page is only an
//! auto-posting form. Not a full parser: tolerant of attribute quoting and case, blind to layout.

/// One `<form>` and its `<input>` controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlForm {
    pub id: Option<String>,
    pub action: Option<String>,
    /// Lowercase; `get` when absent (the HTML default).
    pub method: String,
    pub inputs: Vec<HtmlInput>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlInput {
    pub id: Option<String>,
    pub name: Option<String>,
    /// Lowercase; `text` when absent.
    pub kind: String,
    pub value: String,
    pub checked: bool,
}

impl HtmlForm {
    /// Whether this is a sign-in form (it has a password input).
    pub fn is_login(&self) -> bool {
        self.inputs.iter().any(|i| i.kind == "password")
    }

    /// The successful controls as `name=value` pairs, in document order.
    pub fn fields(&self) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .filter(|i| {
                !matches!(
                    i.kind.as_str(),
                    "submit" | "button" | "image" | "reset" | "file" | "textarea" | "select"
                ) && (!matches!(i.kind.as_str(), "checkbox" | "radio") || i.checked)
            })
            .filter_map(|i| Some((i.name.clone()?, i.value.clone())))
            .collect()
    }
}

/// Decodes the entities the emulator and common IdPs emit: named `&amp; &quot; &lt; &gt;
/// &apos; &nbsp;` and numeric `&#39; &#x27;`. Unknown entities stay as written.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&e| e <= 10).and_then(|e| {
            let ent = &rest[1..e];
            let c = match ent {
                "amp" => Some('&'),
                "quot" => Some('"'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let n = if let Some(h) = ent.strip_prefix("#x").or(ent.strip_prefix("#X")) {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = ent.strip_prefix('#') {
                        d.parse().ok()
                    } else {
                        None
                    };
                    n.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses the attributes of a tag starting right after its name; returns them and the index
/// just past the closing `>`.
fn attributes(src: &str, mut i: usize) -> (Vec<(String, String)>, usize) {
    let b = src.as_bytes();
    let mut attrs = Vec::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            return (attrs, i);
        }
        if b[i] == b'>' {
            return (attrs, i + 1);
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = src[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vstart = i + 1;
                let vend = src[vstart..]
                    .bytes()
                    .position(|c| c == q)
                    .map_or(b.len(), |p| vstart + p);
                value = decode_entities(&src[vstart..vend]);
                i = (vend + 1).min(b.len());
            } else {
                let vstart = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                value = decode_entities(&src[vstart..i]);
            }
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Everything the driver needs from a page.
#[derive(Debug, Default, Clone)]
pub struct ScannedPage {
    pub forms: Vec<HtmlForm>,
    /// The text of every inline `<script>`.
    pub scripts: Vec<String>,
}

/// Scans `html` for forms, inputs (inside forms) and inline scripts. Comments are skipped.
pub fn scan(html: &str) -> ScannedPage {
    // ASCII lowercasing keeps byte offsets, so searches on `lower` index into `html`.
    let lower = html.to_ascii_lowercase();
    let mut page = ScannedPage::default();
    let mut open: Option<HtmlForm> = None;
    let mut i = 0;
    while let Some(p) = lower[i..].find('<') {
        let at = i + p;
        let rest = &lower[at..];
        if rest.starts_with("<!--") {
            i = lower[at..].find("-->").map_or(lower.len(), |e| at + e + 3);
            continue;
        }
        let after = &rest[1..];
        let (slash, body) = match after.strip_prefix('/') {
            Some(b) => ("/", b),
            None => ("", after),
        };
        let n = body
            .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .unwrap_or(body.len());
        let name = format!("{slash}{}", &body[..n]);
        let name_end = 1 + slash.len() + n;
        let (attrs, next) = attributes(html, at + name_end);
        i = next.max(at + 1);
        match name.as_str() {
            "form" => {
                if let Some(f) = open.take() {
                    page.forms.push(f);
                }
                open = Some(HtmlForm {
                    id: attr(&attrs, "id").map(str::to_string),
                    action: attr(&attrs, "action").map(str::to_string),
                    method: attr(&attrs, "method").unwrap_or("get").to_ascii_lowercase(),
                    inputs: Vec::new(),
                });
            }
            "/form" => {
                if let Some(f) = open.take() {
                    page.forms.push(f);
                }
            }
            "input" => {
                if let Some(f) = open.as_mut() {
                    f.inputs.push(HtmlInput {
                        id: attr(&attrs, "id").map(str::to_string),
                        name: attr(&attrs, "name").map(str::to_string),
                        kind: attr(&attrs, "type").unwrap_or("text").to_ascii_lowercase(),
                        value: attr(&attrs, "value").unwrap_or("").to_string(),
                        checked: attr(&attrs, "checked").is_some(),
                    });
                }
            }
            // `<body onload="document.forms[0].submit()">` (Shibboleth's POST binding).
            "body" => {
                if let Some(js) = attr(&attrs, "onload") {
                    page.scripts.push(js.to_string());
                }
            }
            // Noted so a page with them is never taken for a hidden-only form; never submitted.
            "textarea" | "select" => {
                if let Some(f) = open.as_mut() {
                    f.inputs.push(HtmlInput {
                        id: attr(&attrs, "id").map(str::to_string),
                        name: attr(&attrs, "name").map(str::to_string),
                        kind: name.clone(),
                        value: String::new(),
                        checked: false,
                    });
                }
            }
            "script" => {
                let end = lower[i..].find("</script").map_or(lower.len(), |e| i + e);
                page.scripts.push(html[i..end].to_string());
                i = end;
            }
            _ => {}
        }
    }
    if let Some(f) = open.take() {
        page.forms.push(f);
    }
    page
}

impl ScannedPage {
    /// The first form (in document order) that the page's script submits on its own:
    /// `getElementById('<id>').submit()` or `document.forms[<n>].submit()`.
    pub fn script_submitted(&self) -> Option<&HtmlForm> {
        let scripts: String = self
            .scripts
            .iter()
            .map(|s| s.replace(char::is_whitespace, ""))
            .collect::<Vec<_>>()
            .join("\n");
        self.forms.iter().enumerate().find_map(|(n, f)| {
            let by_id = f.id.as_deref().is_some_and(|id| {
                scripts.contains(&format!("getElementById('{id}').submit()"))
                    || scripts.contains(&format!("getElementById(\"{id}\").submit()"))
            });
            let by_index = scripts.contains(&format!("forms[{n}].submit()"));
            (by_id || by_index).then_some(f)
        })
    }

    pub fn login_form(&self) -> Option<&HtmlForm> {
        self.forms.iter().find(|f| f.is_login())
    }

    /// The form, when the page is nothing but one form of hidden inputs that its script posts
    /// on load: a SAML POST binding (`SAMLRequest`/`SAMLResponse`, `RelayState`), IdS's relay.
    /// Recognised by structure, never by running the script; a second form, or any input a
    /// person could see and type into (text, password, …), makes it a page for the window.
    pub fn auto_post(&self) -> Option<&HtmlForm> {
        let [form] = self.forms.as_slice() else {
            return None;
        };
        let hidden_only = !form.inputs.is_empty()
            && form
                .inputs
                .iter()
                .all(|i| matches!(i.kind.as_str(), "hidden" | "submit"));
        (hidden_only && self.script_submitted().is_some()).then_some(form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><body>
<!-- <form id="commented" action="/x"></form> -->
<FORM id="autopost" METHOD=post action="https://ids.example/ids/relay?a=1&amp;b=2">
<input type="hidden" name="SAMLResponse" value="PHg+&quot;&#39;&#x27;&lt;&gt;">
<input type=hidden name='RelayState' value='r s'>
<input type="submit" name="go" value="Continue">
<input type="checkbox" name="remember" value="1">
</form>
<form id="login" action="/idp/login" method="post"><input id="username" name="username" autofocus>
<input id="password" name="password" type="password"></form>
<script>
  document.getElementById( 'autopost' ).submit ();
</script></body></html>"#;

    #[test]
    fn scans_forms_inputs_and_entities() {
        let p = scan(PAGE);
        assert_eq!(p.forms.len(), 2);
        let f = &p.forms[0];
        assert_eq!(f.method, "post");
        assert_eq!(
            f.action.as_deref(),
            Some("https://ids.example/ids/relay?a=1&b=2")
        );
        assert_eq!(
            f.fields(),
            vec![
                ("SAMLResponse".to_string(), "PHg+\"''<>".to_string()),
                ("RelayState".to_string(), "r s".to_string()),
            ]
        );
        assert_eq!(
            p.script_submitted().and_then(|f| f.id.as_deref()),
            Some("autopost")
        );
        assert_eq!(p.login_form().and_then(|f| f.id.as_deref()), Some("login"));
    }

    #[test]
    fn no_script_no_auto_submit() {
        let p =
            scan(r#"<form id="f" method="post"><input type="hidden" name="a" value="1"></form>"#);
        assert!(p.script_submitted().is_none());
        let p = scan(r#"<form><input name="a"></form><script>document.forms[0].submit()</script>"#);
        assert_eq!(p.script_submitted().map(|f| f.method.as_str()), Some("get"));
    }

    #[test]
    fn only_a_lone_hidden_form_posted_on_load_is_an_auto_post() {
        let saml = r#"<p>Returning…</p><form id="autopost" method="post" action="https://ids.example/acs">
<input type="hidden" name="SAMLResponse" value="PHg+"><input type="hidden" name="RelayState" value="r">
<noscript><button type="submit">Continue</button></noscript></form>
<script>document.getElementById('autopost').submit();</script>"#;
        let scanned = scan(saml);
        let f = scanned.auto_post().expect("a SAML POST binding");
        assert_eq!(f.fields()[0].0, "SAMLResponse");
        let onload = r#"<body onload="document.forms[0].submit()"><form method="post" action="/acs">
<input type="hidden" name="SAMLResponse" value="x"></form></body>"#;
        assert!(scan(onload).auto_post().is_some(), "Shibboleth's onload");
        // The emulator's --auto-login page: a password form its script submits, filled in.
        let auto_login = r#"<form id="login" method="post" action="/idp/login">
<input type="hidden" name="txn" value="t"><input name="username" type="text" value="agent1">
<input name="password" type="password" value="pw"></form>
<script>setTimeout(function(){document.getElementById('login').submit();}, 0);</script>"#;
        assert!(scan(auto_login).script_submitted().is_some());
        assert!(scan(auto_login).auto_post().is_none(), "a password form");
        let text_only = r#"<form id="f" method="post"><input type="hidden" name="a" value="1">
<input name="otp"></form><script>document.getElementById('f').submit()</script>"#;
        assert!(
            scan(text_only).auto_post().is_none(),
            "a visible text input"
        );
        let area = text_only.replace("<input name=\"otp\">", "<textarea name=\"n\"></textarea>");
        assert!(scan(&area).auto_post().is_none(), "a text area");
        let two = format!("{saml}<form id=\"x\"><input type=hidden name=b></form>");
        assert!(scan(&two).auto_post().is_none(), "a second form");
        let unposted = saml.replace("document.getElementById('autopost').submit();", "");
        assert!(scan(&unposted).auto_post().is_none(), "nothing posts it");
        let empty =
            r#"<form id="e" method="post"></form><script>document.forms[0].submit()</script>"#;
        assert!(
            scan(empty).auto_post().is_none(),
            "no inputs: nothing to carry"
        );
    }

    #[test]
    fn entities_decode_and_tolerate_garbage() {
        assert_eq!(decode_entities("a&amp;b&lt;&gt;&quot;&#39;"), "a&b<>\"'");
        assert_eq!(decode_entities("&unknown; & &#xZZ;"), "&unknown; & &#xZZ;");
        assert_eq!(decode_entities("trailing &"), "trailing &");
    }

    #[test]
    fn truncated_html_does_not_panic() {
        for s in [
            "<form",
            "<form action=\"x",
            "<input name='a",
            "<",
            "<script>",
            "<!--",
        ] {
            let _ = scan(s);
        }
    }
}
