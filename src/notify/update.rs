//! Finesse's notification payload, the `<Update>` inside a PubSub item (reference §4.3):
//! `event`, `source`, `requestId` and `data` holding a User, Dialogs, SystemInfo or the
//! asynchronous CTI errors (`apiErrors`, lower-case). Wrapper names are matched without regard
//! to case (`<user>`/`<User>`, `put`/`PUT`), as Cisco's own examples differ.

use serde::{Deserialize, Serialize};

use crate::finesse::user::{self, ApiError, User};

/// One parsed update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// `PUT`, `POST`, `DELETE`, upper-cased.
    pub event: String,
    /// The object's URI (`/finesse/api/User/1001`).
    pub source: String,
    /// Echo of the `requestId` header of the request that caused it (best effort, §1.1).
    pub request_id: Option<String>,
    pub body: Body,
}

/// What the update carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    User(Box<User>),
    Dialogs(Vec<Dialog>),
    SystemInfo(SystemStatus),
    /// Asynchronous CTI errors (Device Busy after a sign-in, …).
    ApiErrors(Vec<ApiError>),
    /// Another object, or no data: nothing a client is told about.
    Other(String),
}

/// The parts of a Dialog a screen-pop needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dialog {
    pub id: String,
    pub state: String,
    pub from_address: String,
    pub to_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_type: Option<String>,
    /// `Voice` (or another media's name), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

/// SystemInfo's service status (`IN_SERVICE`, `OUT_OF_SERVICE`, `PARTIAL_SERVICE`), and for
/// the agent's `system` event the side it is about and, after a failover, the side left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    pub status: String,
    /// The Finesse side (base URL) that reported the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    /// Set when the agent just moved to `side` from this one (a failover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_from: Option<String>,
}

type Node<'a> = roxmltree::Node<'a, 'a>;

fn named<'a>(n: Node<'a>, name: &str) -> Option<Node<'a>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name().eq_ignore_ascii_case(name))
}

fn text_of(n: Node<'_>, name: &str) -> Option<String> {
    named(n, name).map(|c| c.text().unwrap_or("").trim().to_string())
}

/// Parses the un-escaped payload. A DTD, other XML, or an `<Update>` without `data`'s
/// expected shape is an error (the caller logs and skips it).
pub fn parse(payload: &str) -> Result<Update, String> {
    if payload.len() > super::stanza::MAX_STANZA {
        return Err(format!("an update of {} bytes", payload.len()));
    }
    let doc = roxmltree::Document::parse(payload).map_err(|e| format!("not XML ({e})"))?;
    let root = doc.root_element();
    if !root.tag_name().name().eq_ignore_ascii_case("Update") {
        return Err(format!(
            "the payload is <{}>, not <Update>",
            short(root.tag_name().name())
        ));
    }
    let event = text_of(root, "event")
        .filter(|e| !e.is_empty())
        .ok_or("an <Update> without <event>")?
        .to_ascii_uppercase();
    let source = text_of(root, "source").ok_or("an <Update> without <source>")?;
    let request_id = text_of(root, "requestId").filter(|r| !r.is_empty());
    let body = match named(root, "data").and_then(|d| d.children().find(|c| c.is_element())) {
        None => Body::Other(String::new()),
        Some(obj) => body(payload, obj)?,
    };
    Ok(Update {
        event,
        source,
        request_id,
        body,
    })
}

fn body(payload: &str, obj: Node<'_>) -> Result<Body, String> {
    let name = obj.tag_name().name().to_ascii_lowercase();
    Ok(match name.as_str() {
        // The User parser reads the `<user>` element's own text: one parser for REST and XMPP.
        "user" => Body::User(Box::new(user::parse_user(payload[obj.range()].as_bytes())?)),
        "apierrors" => Body::ApiErrors(
            obj.children()
                .filter(|c| c.is_element() && c.tag_name().name().eq_ignore_ascii_case("apiError"))
                .map(|e| ApiError {
                    error_type: text_of(e, "errorType").unwrap_or_default(),
                    error_data: text_of(e, "errorData").unwrap_or_default(),
                    error_message: text_of(e, "errorMessage").unwrap_or_default(),
                })
                .collect(),
        ),
        "systeminfo" => Body::SystemInfo(SystemStatus {
            status: text_of(obj, "status")
                .filter(|s| !s.is_empty())
                .ok_or("a SystemInfo without <status>")?,
            ..SystemStatus::default()
        }),
        // `<dialogs><Dialog>…` (POST, DELETE on the Dialogs node) or one `<Dialog>` (PUT).
        "dialogs" | "dialog" => {
            let dialogs: Vec<Dialog> = std::iter::once(obj)
                .chain(obj.children())
                .filter(|d| d.is_element() && d.tag_name().name().eq_ignore_ascii_case("dialog"))
                .map(dialog)
                .collect::<Result<_, _>>()?;
            if dialogs.is_empty() {
                return Err("a <dialogs> without a <Dialog>".into());
            }
            Body::Dialogs(dialogs)
        }
        _ => Body::Other(short(&name)),
    })
}

/// One `<Dialog>`: a call without an id or a state is nothing a client could act on.
fn dialog(d: Node<'_>) -> Result<Dialog, String> {
    let required = |name: &str| {
        text_of(d, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("a <Dialog> without <{name}>"))
    };
    let optional = |n: Option<Node<'_>>, name: &str| {
        n.and_then(|n| text_of(n, name)).filter(|v| !v.is_empty())
    };
    Ok(Dialog {
        id: required("id")?,
        state: required("state")?,
        from_address: text_of(d, "fromAddress").unwrap_or_default(),
        to_address: text_of(d, "toAddress").unwrap_or_default(),
        call_type: optional(named(d, "mediaProperties"), "callType"),
        media_type: optional(Some(d), "mediaType"),
    })
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's User notification (§4.3), verbatim.
    const USER: &str = "<Update>\n  <event>put</event>\n  <source>/finesse/api/User/1001001</source>\n  \
        <requestId>xyz</requestId>\n  <data>\n    <user>\n      <dialogs>/finesse/api/User/1001001/Dialogs</dialogs>\n      \
        <extension>1001001</extension>\n      <firstName>AGENT</firstName>\n      <lastName>1001001</lastName>\n      \
        <loginId>1001001</loginId>\n      <loginName>agent1</loginName>\n      <pendingState></pendingState>\n      \
        <reasonCodeId>-1</reasonCodeId>\n      <roles><role>Agent</role></roles>\n      \
        <settings><wrapUpOnIncoming>OPTIONAL</wrapUpOnIncoming></settings>\n      <state>NOT_READY</state>\n      \
        <stateChangeTime>2014-05-27T00:33:44.836Z</stateChangeTime>\n      <teamId>5000</teamId>\n      \
        <teamName>FunctionalAgents</teamName>\n      <uri>/finesse/api/User/1001001</uri>\n    </user>\n  </data>\n</Update>";

    #[test]
    fn the_documented_user_update_parses() {
        let u = parse(USER).unwrap();
        assert_eq!(
            (u.event.as_str(), u.source.as_str(), u.request_id.as_deref()),
            ("PUT", "/finesse/api/User/1001001", Some("xyz"))
        );
        let Body::User(user) = u.body else { panic!() };
        assert_eq!(
            (user.state.as_str(), user.login_id.as_str()),
            ("NOT_READY", "1001001")
        );
        assert_eq!(user.team_name.as_deref(), Some("FunctionalAgents"));
        // Capitalised wrappers and PUT read the same.
        let upper = USER
            .replace("<user>", "<User>")
            .replace("</user>", "</User>")
            .replace("put", "PUT");
        assert_eq!(parse(&upper).unwrap().body, parse(USER).unwrap().body);
    }

    #[test]
    fn cti_errors_system_info_and_dialogs() {
        let e = parse(
            "<Update><data><apiErrors><apiError><errorData>1</errorData><errorMessage>Device already in use</errorMessage>\
             <errorType>Device Busy</errorType></apiError></apiErrors></data><event>PUT</event><requestId>r1</requestId>\
             <source>/finesse/api/User/1001</source></Update>",
        )
        .unwrap();
        assert_eq!(e.request_id.as_deref(), Some("r1"));
        let Body::ApiErrors(errs) = e.body else {
            panic!()
        };
        assert_eq!(errs[0].error_type, "Device Busy");
        let s = parse("<Update><event>PUT</event><source>/finesse/api/SystemInfo</source><data><SystemInfo><status>OUT_OF_SERVICE</status></SystemInfo></data></Update>").unwrap();
        assert_eq!(
            s.body,
            Body::SystemInfo(SystemStatus {
                status: "OUT_OF_SERVICE".into(),
                ..SystemStatus::default()
            })
        );
        let d = parse(
            "<Update><event>POST</event><source>/finesse/api/User/1/Dialogs</source><data><dialogs><Dialog>\
             <id>18</id><fromAddress>5551</fromAddress><toAddress>1001001</toAddress><state>ALERTING</state>\
             <mediaProperties><callType>ACD_IN</callType></mediaProperties></Dialog></dialogs></data></Update>",
        )
        .unwrap();
        let Body::Dialogs(ds) = d.body else { panic!() };
        assert_eq!(
            (ds[0].id.as_str(), ds[0].call_type.as_deref()),
            ("18", Some("ACD_IN"))
        );
        // A PUT carries one `<Dialog>`, not wrapped; participants' own `<Dialog>`-less
        // `<state>`s are not the call's.
        let put = parse(
            "<Update><event>PUT</event><source>/finesse/api/Dialog/18</source><data><Dialog>\
             <fromAddress>5551</fromAddress><id>18</id><mediaType>Voice</mediaType><participants><Participant>\
             <mediaAddress>1001001</mediaAddress><state>ACTIVE</state></Participant></participants>\
             <state>ACTIVE</state><toAddress>1001001</toAddress></Dialog></data></Update>",
        )
        .unwrap();
        assert_eq!(
            put.body,
            Body::Dialogs(vec![Dialog {
                id: "18".into(),
                state: "ACTIVE".into(),
                from_address: "5551".into(),
                to_address: "1001001".into(),
                call_type: None,
                media_type: Some("Voice".into()),
            }])
        );
    }

    #[test]
    fn malformed_dialogs_are_errors() {
        for bad in [
            // No id, no state, an empty id, nothing in the list.
            "<Update><event>POST</event><source>/s</source><data><dialogs><Dialog><state>ALERTING</state></Dialog></dialogs></data></Update>",
            "<Update><event>POST</event><source>/s</source><data><dialogs><Dialog><id>1</id></Dialog></dialogs></data></Update>",
            "<Update><event>PUT</event><source>/s</source><data><Dialog><id> </id><state>ACTIVE</state></Dialog></data></Update>",
            "<Update><event>POST</event><source>/s</source><data><dialogs/></data></Update>",
            // One good, one without an id: the whole update is skipped, not half of it.
            "<Update><event>POST</event><source>/s</source><data><dialogs><Dialog><id>1</id><state>ALERTING</state></Dialog>\
             <Dialog><state>ALERTING</state></Dialog></dialogs></data></Update>",
            // An entity expanding into the call's number.
            "<!DOCTYPE Update [<!ENTITY n \"5551\">]><Update><event>POST</event><source>/s</source><data><dialogs><Dialog>\
             <id>1</id><state>ALERTING</state><fromAddress>&n;</fromAddress></Dialog></dialogs></data></Update>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostile_payloads_are_errors() {
        for bad in [
            "<Update><event>put</event><data><user><state>TALKING",
            "<!DOCTYPE Update [<!ENTITY s \"TALKING\">]><Update><event>put</event><source>/x</source><data><user><loginId>1</loginId><state>&s;</state></user></data></Update>",
            "<html/>",
            "<Update><source>/x</source></Update>",
            "<Update><event>put</event><source>/x</source><data><user><state>READY</state></user></data></Update>",
            "<Update><event>put</event><source>/x</source><data><SystemInfo/></data></Update>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(
            parse(&format!(
                "<Update>{}</Update>",
                " ".repeat(super::super::stanza::MAX_STANZA)
            ))
            .is_err()
        );
    }
}
