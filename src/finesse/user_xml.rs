//! Request bodies of `PUT /finesse/api/User/<id>`, written by a small XML writer whose element
//! names are fixed at compile time and whose text is always escaped: user input can only ever
//! be character data, never markup.

use std::fmt;

/// What a PUT asks for (reference §1–§3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRequest {
    Login {
        extension: String,
        active_device_id: Option<String>,
        mobile: Option<Mobile>,
    },
    Ready,
    NotReady {
        reason_code_id: Option<i64>,
    },
    Logout {
        reason_code_id: Option<i64>,
    },
}

/// `<mobileAgent>`: the mode and the number Finesse calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mobile {
    pub mode: MobileMode,
    pub dial_number: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MobileMode {
    CallByCall,
    NailedConnection,
}

impl MobileMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MobileMode::CallByCall => "CALL_BY_CALL",
            MobileMode::NailedConnection => "NAILED_CONNECTION",
        }
    }
}

impl UserRequest {
    /// The `<state>` this request sends.
    pub fn state(&self) -> &'static str {
        match self {
            UserRequest::Login { .. } => "LOGIN",
            UserRequest::Ready => "READY",
            UserRequest::NotReady { .. } => "NOT_READY",
            UserRequest::Logout { .. } => "LOGOUT",
        }
    }

    /// The XML body. Fails only for text XML cannot carry (control characters).
    pub fn to_xml(&self) -> Result<String, Unrepresentable> {
        let mut w = XmlWriter::default();
        w.open("User");
        w.text_element("state", self.state())?;
        match self {
            UserRequest::Login {
                extension,
                active_device_id,
                mobile,
            } => {
                w.text_element("extension", extension)?;
                if let Some(d) = active_device_id {
                    w.text_element("activeDeviceId", d)?;
                }
                if let Some(m) = mobile {
                    w.open("mobileAgent");
                    w.text_element("mode", m.mode.as_str())?;
                    w.text_element("dialNumber", &m.dial_number)?;
                    w.close("mobileAgent");
                }
            }
            UserRequest::Ready => {}
            UserRequest::NotReady { reason_code_id } | UserRequest::Logout { reason_code_id } => {
                if let Some(id) = reason_code_id {
                    w.text_element("reasonCodeId", &id.to_string())?;
                }
            }
        }
        w.close("User");
        Ok(w.finish())
    }
}

/// A value with a character XML 1.0 cannot carry at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrepresentable {
    pub element: &'static str,
}

impl fmt::Display for Unrepresentable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{}> would hold a control character, which XML cannot carry",
            self.element
        )
    }
}

/// Element names are `&'static str` (ours, never input); text always goes through `escape`.
#[derive(Default)]
struct XmlWriter {
    out: String,
}

impl XmlWriter {
    fn open(&mut self, name: &'static str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    fn close(&mut self, name: &'static str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn text_element(&mut self, name: &'static str, text: &str) -> Result<(), Unrepresentable> {
        self.open(name);
        escape_into(&mut self.out, text).map_err(|()| Unrepresentable { element: name })?;
        self.close(name);
        Ok(())
    }

    fn finish(self) -> String {
        self.out
    }
}

/// Character data: `& < >` escaped, CR kept as a reference (parsers would normalise a raw one),
/// other C0 controls refused (XML 1.0 has no way to write them).
fn escape_into(out: &mut String, s: &str) -> Result<(), ()> {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => return Err(()),
            c => out.push(c),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn documented_bodies() {
        let login = UserRequest::Login {
            extension: "1001001".into(),
            active_device_id: None,
            mobile: None,
        };
        assert_eq!(
            login.to_xml().unwrap(),
            "<User><state>LOGIN</state><extension>1001001</extension></User>"
        );
        let mobile = UserRequest::Login {
            extension: "1001001".into(),
            active_device_id: Some("CSFJP5550016".into()),
            mobile: Some(Mobile {
                mode: MobileMode::CallByCall,
                dial_number: "4085551234".into(),
            }),
        };
        assert_eq!(
            mobile.to_xml().unwrap(),
            "<User><state>LOGIN</state><extension>1001001</extension>\
             <activeDeviceId>CSFJP5550016</activeDeviceId><mobileAgent><mode>CALL_BY_CALL</mode>\
             <dialNumber>4085551234</dialNumber></mobileAgent></User>"
        );
        assert_eq!(
            UserRequest::NotReady {
                reason_code_id: Some(16)
            }
            .to_xml()
            .unwrap(),
            "<User><state>NOT_READY</state><reasonCodeId>16</reasonCodeId></User>"
        );
        assert_eq!(
            UserRequest::Logout {
                reason_code_id: None
            }
            .to_xml()
            .unwrap(),
            "<User><state>LOGOUT</state></User>"
        );
    }

    #[test]
    fn markup_in_input_stays_text() {
        let evil = "1</extension><state>READY</state><x a='&amp;'>]]>";
        let xml = UserRequest::Login {
            extension: evil.into(),
            active_device_id: None,
            mobile: None,
        }
        .to_xml()
        .unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.children().count(), 2, "{xml}");
        let ext = root.children().nth(1).unwrap();
        assert_eq!(ext.text(), Some(evil));
        let bad = UserRequest::Login {
            extension: "1\u{0}".into(),
            active_device_id: None,
            mobile: None,
        };
        assert_eq!(bad.to_xml().unwrap_err().element, "extension");
    }

    proptest! {
        /// Any representable text round-trips through a real parser exactly.
        #[test]
        fn text_round_trips(s in "\\PC*", cr in proptest::bool::ANY) {
            let s = if cr { format!("{s}\r\n\t") } else { s };
            let xml = UserRequest::Login { extension: "1".into(), active_device_id: Some(s.clone()), mobile: None }
                .to_xml()
                .unwrap();
            let doc = roxmltree::Document::parse(&xml).unwrap();
            let dev = doc.root_element().children().find(|n| n.has_tag_name("activeDeviceId")).unwrap();
            prop_assert_eq!(dev.text().unwrap_or(""), s.as_str());
        }
    }
}
