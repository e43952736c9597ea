//! Parsing Finesse's XML answers: SystemInfo, UserAuthMode and ApiErrors.

/// `systemAuthMode` / `authMode` values Cisco documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthMode {
    Sso,
    NonSso,
    Hybrid,
}

impl AuthMode {
    fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "SSO" => Some(AuthMode::Sso),
            "NON_SSO" => Some(AuthMode::NonSso),
            "HYBRID" => Some(AuthMode::Hybrid),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    pub auth_mode: AuthMode,
    pub deployment_type: Option<String>,
    /// The notification service's XMPP domain (the JIDs' domain part).
    pub xmpp_domain: Option<String>,
    /// `IN_SERVICE`, `OUT_OF_SERVICE`, `PARTIAL_SERVICE`.
    pub status: Option<String>,
}

/// Bodies larger than this are not Finesse's SystemInfo (it is ~2 KiB).
pub const MAX_XML_BYTES: usize = 256 * 1024;

fn document(body: &[u8]) -> Result<roxmltree::Document<'_>, String> {
    if body.len() > MAX_XML_BYTES {
        return Err(format!("{} bytes is too large for this answer", body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_string())?;
    roxmltree::Document::parse(text).map_err(|e| format!("not XML ({e})"))
}

fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|n| n.has_tag_name(name))
        .and_then(|n| n.text())
}

/// `<SystemInfo>…<systemAuthMode>SSO</systemAuthMode>…</SystemInfo>`.
pub fn system_info(body: &[u8]) -> Result<SystemInfo, String> {
    let doc = document(body)?;
    let root = doc.root_element();
    if !root.has_tag_name("SystemInfo") {
        return Err(format!(
            "root element is <{}>, not <SystemInfo>",
            root.tag_name().name()
        ));
    }
    let raw = child_text(root, "systemAuthMode").ok_or("no <systemAuthMode> in SystemInfo")?;
    let auth_mode = AuthMode::parse(raw)
        .ok_or_else(|| format!("unknown systemAuthMode {:?}", truncate(raw)))?;
    Ok(SystemInfo {
        auth_mode,
        deployment_type: child_text(root, "deploymentType").map(str::to_string),
        xmpp_domain: child_text(root, "xmppDomain")
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        status: child_text(root, "status").map(|s| s.trim().to_string()),
    })
}

/// `<UserAuthMode><authMode>NON_SSO</authMode></UserAuthMode>`.
pub fn user_auth_mode(body: &[u8]) -> Result<AuthMode, String> {
    let doc = document(body)?;
    let root = doc.root_element();
    if !root.has_tag_name("UserAuthMode") {
        return Err(format!(
            "root element is <{}>, not <UserAuthMode>",
            root.tag_name().name()
        ));
    }
    let raw = child_text(root, "authMode").ok_or("no <authMode> in UserAuthMode")?;
    AuthMode::parse(raw).ok_or_else(|| format!("unknown authMode {:?}", truncate(raw)))
}

/// The first `ErrorMessage` (or `ErrorType`) of Cisco's `<ApiErrors>`, if the body is one.
pub fn api_error(body: &[u8]) -> Option<String> {
    let doc = document(body).ok()?;
    let root = doc.root_element();
    if !root.has_tag_name("ApiErrors") {
        return None;
    }
    let e = root.children().find(|n| n.has_tag_name("ApiError"))?;
    let msg = child_text(e, "ErrorMessage").or_else(|| child_text(e, "ErrorType"))?;
    Some(truncate(msg))
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_info_modes() {
        let xml = |m: &str| {
            format!(
                "<SystemInfo><deploymentType>UCCX</deploymentType><systemAuthMode>{m}</systemAuthMode><uri>/finesse/api/SystemInfo</uri></SystemInfo>"
            )
        };
        assert_eq!(
            system_info(xml("SSO").as_bytes()).unwrap().auth_mode,
            AuthMode::Sso
        );
        assert_eq!(
            system_info(xml("NON_SSO").as_bytes()).unwrap().auth_mode,
            AuthMode::NonSso
        );
        assert_eq!(
            system_info(xml("HYBRID").as_bytes())
                .unwrap()
                .deployment_type
                .as_deref(),
            Some("UCCX")
        );
        let full = system_info(
            b"<SystemInfo><status>IN_SERVICE</status><systemAuthMode>SSO</systemAuthMode>\
              <xmppDomain>finesse1.xyz.com</xmppDomain></SystemInfo>",
        )
        .unwrap();
        assert_eq!(
            (full.xmpp_domain.as_deref(), full.status.as_deref()),
            (Some("finesse1.xyz.com"), Some("IN_SERVICE"))
        );
        assert!(
            system_info(xml("WEIRD").as_bytes())
                .unwrap_err()
                .contains("unknown")
        );
        assert!(
            system_info(b"<html><body>proxy login</body></html>")
                .unwrap_err()
                .contains("<html>")
        );
        assert!(
            system_info(b"{\"json\":1}")
                .unwrap_err()
                .contains("not XML")
        );
        assert!(
            system_info(b"<SystemInfo/>")
                .unwrap_err()
                .contains("systemAuthMode")
        );
        assert!(system_info(&vec![b'<'; MAX_XML_BYTES + 1]).is_err());
    }

    #[test]
    fn user_auth_mode_and_api_errors() {
        assert_eq!(
            user_auth_mode(b"<UserAuthMode><authMode>NON_SSO</authMode></UserAuthMode>").unwrap(),
            AuthMode::NonSso
        );
        let forbidden = b"<ApiErrors><ApiError><ErrorType>Forbidden</ErrorType><ErrorMessage>UserAuthModeService is disabled</ErrorMessage></ApiError></ApiErrors>";
        assert_eq!(
            api_error(forbidden).as_deref(),
            Some("UserAuthModeService is disabled")
        );
        assert!(user_auth_mode(forbidden).is_err());
        assert_eq!(api_error(b"<p>x</p>"), None);
    }
}
