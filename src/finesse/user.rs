//! Finesse's User object and reason codes as typed values, parsed from the User API's XML
//! (reference §3.2), plus the full `ApiError` of a refusal.

use serde::{Deserialize, Serialize};

use super::xml::MAX_XML_BYTES;

/// `GET /finesse/api/User/<id>`: every documented field; absent ones are `None`/empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub login_id: String,
    pub login_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    pub extension: String,
    /// `LOGOUT`, `NOT_READY`, `READY`, `TALKING`, … as Finesse spells it.
    pub state: String,
    pub state_change_time: String,
    pub pending_state: String,
    /// `-1` when there is no reason.
    pub reason_code_id: i64,
    #[serde(skip_serializing_if = "Option::is_none", rename = "ReasonCode")]
    pub reason_code: Option<ReasonCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_name: Option<String>,
    pub roles: Vec<String>,
    /// `wrapUpOnIncoming`, `wrapUpOnOutgoing`, `deviceSelection`, … as name → value.
    pub settings: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile_agent: Option<MobileAgent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skill_target_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialogs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_up_timer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

impl User {
    pub fn signed_in(&self) -> bool {
        !self.state.is_empty() && self.state != "LOGOUT"
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MobileAgent {
    pub mode: String,
    pub dial_number: String,
}

/// One reason code (`<ReasonCode>`). `id` is what a request sends as `reasonCodeId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReasonCode {
    pub id: i64,
    pub category: String,
    pub code: String,
    pub label: String,
    pub for_all: bool,
    pub system_code: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// One `<ApiError>` of a refusal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiError {
    pub error_type: String,
    pub error_data: String,
    pub error_message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |s: &str| s.chars().take(160).collect::<String>();
        write!(f, "{}", short(&self.error_type))?;
        if !self.error_message.is_empty() {
            write!(f, ": {}", short(&self.error_message))?;
        }
        if !self.error_data.is_empty() {
            write!(f, " ({})", short(&self.error_data))?;
        }
        Ok(())
    }
}

fn document(body: &[u8]) -> Result<roxmltree::Document<'_>, String> {
    if body.len() > MAX_XML_BYTES {
        return Err(format!("{} bytes is too large for this answer", body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_string())?;
    roxmltree::Document::parse(text).map_err(|e| format!("not XML ({e})"))
}

type Node<'a> = roxmltree::Node<'a, 'a>;

fn text(n: Node<'_>) -> String {
    n.text().unwrap_or("").trim().to_string()
}

fn child<'a>(n: Node<'a>, name: &str) -> Option<Node<'a>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn child_text(n: Node<'_>, name: &str) -> Option<String> {
    child(n, name).map(text)
}

fn reason_code(n: Node<'_>) -> Result<ReasonCode, String> {
    let id = child_text(n, "id")
        .or_else(|| child_text(n, "uri").and_then(|u| u.rsplit('/').next().map(str::to_string)))
        .ok_or("a <ReasonCode> without <id>")?;
    Ok(ReasonCode {
        id: id
            .parse()
            .map_err(|_| format!("reason code id {id:?} is not a number"))?,
        category: child_text(n, "category").unwrap_or_default(),
        code: child_text(n, "code").unwrap_or_default(),
        label: child_text(n, "label").unwrap_or_default(),
        for_all: child_text(n, "forAll").as_deref() == Some("true"),
        system_code: child_text(n, "systemCode").as_deref() == Some("true"),
        uri: child_text(n, "uri"),
    })
}

/// Parses `<User>` (also `<user>`, as in notifications).
pub fn parse_user(body: &[u8]) -> Result<User, String> {
    let doc = document(body)?;
    let root = doc.root_element();
    if !root.tag_name().name().eq_ignore_ascii_case("user") {
        return Err(format!(
            "root element is <{}>, not <User>",
            root.tag_name().name()
        ));
    }
    let login_id = child_text(root, "loginId").filter(|s| !s.is_empty());
    let state = child_text(root, "state").filter(|s| !s.is_empty());
    let (Some(login_id), Some(state)) = (login_id, state) else {
        return Err("a <User> without <loginId> or <state>".into());
    };
    let reason_code_id = match child_text(root, "reasonCodeId").as_deref() {
        None | Some("") => -1,
        Some(v) => v
            .parse()
            .map_err(|_| format!("reasonCodeId {v:?} is not a number"))?,
    };
    Ok(User {
        login_name: child_text(root, "loginName").unwrap_or_else(|| login_id.clone()),
        login_id,
        first_name: child_text(root, "firstName"),
        last_name: child_text(root, "lastName"),
        extension: child_text(root, "extension").unwrap_or_default(),
        state,
        state_change_time: child_text(root, "stateChangeTime").unwrap_or_default(),
        pending_state: child_text(root, "pendingState").unwrap_or_default(),
        reason_code_id,
        reason_code: child(root, "ReasonCode").map(reason_code).transpose()?,
        media_type: child_text(root, "mediaType"),
        team_id: child_text(root, "teamId"),
        team_name: child_text(root, "teamName"),
        roles: child(root, "roles")
            .map(|r| r.children().filter(|c| c.is_element()).map(text).collect())
            .unwrap_or_default(),
        settings: child(root, "settings")
            .map(|s| {
                s.children()
                    .filter(|c| c.is_element())
                    .map(|c| (c.tag_name().name().to_string(), text(c)))
                    .collect()
            })
            .unwrap_or_default(),
        mobile_agent: child(root, "mobileAgent").map(|m| MobileAgent {
            mode: child_text(m, "mode").unwrap_or_default(),
            dial_number: child_text(m, "dialNumber").unwrap_or_default(),
        }),
        skill_target_id: child_text(root, "skillTargetId"),
        dialogs: child_text(root, "dialogs"),
        wrap_up_timer: child_text(root, "wrapUpTimer"),
        uri: child_text(root, "uri"),
    })
}

/// Parses `<ReasonCodes>`.
pub fn parse_reason_codes(body: &[u8]) -> Result<Vec<ReasonCode>, String> {
    let doc = document(body)?;
    let root = doc.root_element();
    if root.tag_name().name() != "ReasonCodes" {
        return Err(format!(
            "root element is <{}>, not <ReasonCodes>",
            root.tag_name().name()
        ));
    }
    root.children()
        .filter(|c| c.is_element() && c.tag_name().name() == "ReasonCode")
        .map(reason_code)
        .collect()
}

/// The first `<ApiError>` of an `<ApiErrors>` body (either capitalisation).
pub fn parse_api_error(body: &[u8]) -> Option<ApiError> {
    let doc = document(body).ok()?;
    let root = doc.root_element();
    if !root.tag_name().name().eq_ignore_ascii_case("ApiErrors") {
        return None;
    }
    let e = root
        .children()
        .find(|c| c.is_element() && c.tag_name().name().eq_ignore_ascii_case("ApiError"))?;
    let field = |name: &str| {
        e.children()
            .find(|c| c.is_element() && c.tag_name().name().eq_ignore_ascii_case(name))
            .map(text)
            .unwrap_or_default()
    };
    Some(ApiError {
        error_type: field("ErrorType"),
        error_data: field("ErrorData"),
        error_message: field("ErrorMessage"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's realistic agent response (§3.2), with a reason.
    const SAMPLE: &str = "<User><uri>/finesse/api/User/98411</uri><roles><role>Agent</role></roles>\
        <loginId>98411</loginId><loginName>sjefferson</loginName><firstName>Sam</firstName>\
        <lastName>Jefferson</lastName><extension>5024</extension><state>NOT_READY</state>\
        <stateChangeTime>2024-04-22T11:28:06.628Z</stateChangeTime><pendingState></pendingState>\
        <reasonCodeId>16</reasonCodeId><ReasonCode><category>NOT_READY</category>\
        <uri>/finesse/api/ReasonCode/16</uri><code>10</code><label>Team Meeting</label>\
        <forAll>true</forAll><systemCode>false</systemCode><id>16</id></ReasonCode>\
        <mediaType>1</mediaType><settings><wrapUpOnIncoming>OPTIONAL</wrapUpOnIncoming>\
        <wrapUpOnOutgoing>NOT_ALLOWED</wrapUpOnOutgoing></settings><teamId>5000</teamId>\
        <teamName>FunctionalAgents</teamName><skillTargetId>6067</skillTargetId>\
        <dialogs>/finesse/api/User/98411/Dialogs</dialogs><wrapUpTimer>30</wrapUpTimer></User>";

    #[test]
    fn the_documented_user_parses_whole() {
        let u = parse_user(SAMPLE.as_bytes()).unwrap();
        assert_eq!(
            (u.login_id.as_str(), u.login_name.as_str()),
            ("98411", "sjefferson")
        );
        assert_eq!(
            (u.state.as_str(), u.extension.as_str()),
            ("NOT_READY", "5024")
        );
        assert_eq!(u.reason_code_id, 16);
        assert_eq!(u.reason_code.as_ref().unwrap().label, "Team Meeting");
        assert_eq!(u.roles, vec!["Agent"]);
        assert_eq!(u.settings["wrapUpOnOutgoing"], "NOT_ALLOWED");
        assert_eq!(u.team_name.as_deref(), Some("FunctionalAgents"));
        assert_eq!(u.wrap_up_timer.as_deref(), Some("30"));
        assert!(u.signed_in());
        let j = serde_json::to_value(&u).unwrap();
        assert_eq!(j["loginId"], "98411");
        assert_eq!(j["ReasonCode"]["label"], "Team Meeting");
    }

    #[test]
    fn bad_users_and_errors() {
        assert!(parse_user(b"<User><state>READY</state></User>").is_err());
        assert!(parse_user(b"<SystemInfo/>").is_err());
        assert!(
            parse_user(b"<User><loginId>1</loginId><state>READY</state><reasonCodeId>x</reasonCodeId></User>")
                .is_err()
        );
        let e = parse_api_error(
            b"<ApiErrors><ApiError><ErrorType>User Not Found</ErrorType>\
              <ErrorMessage>UNKNOWN_USER</ErrorMessage><ErrorData>4023</ErrorData></ApiError></ApiErrors>",
        )
        .unwrap();
        assert_eq!(e.to_string(), "User Not Found: UNKNOWN_USER (4023)");
        let lower = parse_api_error(
            b"<apiErrors><apiError><errorType>Device Busy</errorType></apiError></apiErrors>",
        );
        assert_eq!(lower.unwrap().error_type, "Device Busy");
        assert_eq!(parse_api_error(b"<html/>"), None);
        let codes = parse_reason_codes(
            b"<ReasonCodes category=\"LOGOUT\"><ReasonCode><uri>/finesse/api/ReasonCode/55</uri>\
              <category>LOGOUT</category><code>222</code><label>End of Shift</label>\
              <forAll>true</forAll><systemCode>false</systemCode></ReasonCode></ReasonCodes>",
        )
        .unwrap();
        assert_eq!((codes[0].id, codes[0].label.as_str()), (55, "End of Shift"));
    }
}
