//! The XMPP the notification service speaks (RFC 7395 framing, RFC 6120 SASL and binding,
//! XEP-0199 pings, XEP-0060 events): strict parsing of what a client sends, one frame at a
//! time, and the frames and Finesse `<Update>` payloads the server sends (reference §4).

use crate::pages::escape;

pub(crate) const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
pub(crate) const NS_CLIENT: &str = "jabber:client";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
const NS_PING: &str = "urn:xmpp:ping";
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NS_STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";

/// Largest frame a client may send (its stanzas are a few hundred bytes).
pub(crate) const MAX_CLIENT_FRAME: usize = 16 * 1024;

/// What an IQ carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IqChild {
    Bind {
        resource: Option<String>,
    },
    Session,
    Ping,
    /// No child (a `result` answering our ping).
    Empty,
    Other(String),
}

/// One frame from a client. `Debug` (violations, logs) never shows a SASL payload: it holds
/// the token or password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Inbound {
    Open {
        to: Option<String>,
        version: Option<String>,
    },
    Close,
    Auth {
        mechanism: Option<String>,
        payload: String,
    },
    Iq {
        id: Option<String>,
        kind: String,
        child: IqChild,
    },
    Presence {
        kind: Option<String>,
        priority: Option<String>,
    },
    /// Anything else, named `{namespace}local` for the log.
    Other(String),
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inbound::Open { to, version } => f
                .debug_struct("Open")
                .field("to", to)
                .field("version", version)
                .finish(),
            Inbound::Close => f.write_str("Close"),
            Inbound::Auth { mechanism, payload } => f
                .debug_struct("Auth")
                .field("mechanism", mechanism)
                .field("payload", &format_args!("<{} bytes>", payload.len()))
                .finish(),
            Inbound::Iq { id, kind, child } => f
                .debug_struct("Iq")
                .field("id", id)
                .field("kind", kind)
                .field("child", child)
                .finish(),
            Inbound::Presence { kind, priority } => f
                .debug_struct("Presence")
                .field("kind", kind)
                .field("priority", priority)
                .finish(),
            Inbound::Other(name) => f.debug_tuple("Other").field(name).finish(),
        }
    }
}

/// Parses one client frame, refusing what RFC 7395 and 6120 do not allow: no XML, a DTD,
/// several roots, a stanza outside `jabber:client`, an `<open/>` outside the framing namespace.
pub(crate) fn parse(frame: &str) -> Result<Inbound, String> {
    if frame.len() > MAX_CLIENT_FRAME {
        return Err(format!(
            "a frame of {} bytes (at most {MAX_CLIENT_FRAME})",
            frame.len()
        ));
    }
    let doc = roxmltree::Document::parse(frame).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    let name = root.tag_name().name();
    let ns = root.tag_name().namespace().unwrap_or("");
    let attr = |n: &str| root.attribute(n).map(str::to_string);
    let text_of = |n: roxmltree::Node<'_, '_>| n.text().unwrap_or("").trim().to_string();
    let wrong_ns = |want: &str| format!("<{name}> in namespace {ns:?}, not {want:?}");
    Ok(match name {
        "open" | "close" => {
            if ns != NS_FRAMING {
                return Err(wrong_ns(NS_FRAMING));
            }
            if name == "close" {
                Inbound::Close
            } else {
                Inbound::Open {
                    to: attr("to"),
                    version: attr("version"),
                }
            }
        }
        "auth" => {
            if ns != NS_SASL {
                return Err(wrong_ns(NS_SASL));
            }
            Inbound::Auth {
                mechanism: attr("mechanism"),
                payload: text_of(root),
            }
        }
        "iq" | "presence" | "message" => {
            if ns != NS_CLIENT {
                return Err(wrong_ns(NS_CLIENT));
            }
            let children: Vec<_> = root.children().filter(|c| c.is_element()).collect();
            if name == "presence" {
                let mut priority = None;
                for c in &children {
                    match c.tag_name().name() {
                        "priority" => priority = Some(text_of(*c)),
                        "show" | "status" => {}
                        other => return Err(format!("<presence> holds <{other}>")),
                    }
                }
                return Ok(Inbound::Presence {
                    kind: attr("type"),
                    priority,
                });
            }
            if name == "message" {
                return Ok(Inbound::Other("{jabber:client}message".into()));
            }
            if children.len() > 1 {
                return Err(format!("an <iq> with {} children", children.len()));
            }
            let child = match children.first() {
                None => IqChild::Empty,
                Some(c) => match (c.tag_name().name(), c.tag_name().namespace()) {
                    ("bind", Some(NS_BIND)) => IqChild::Bind {
                        resource: c
                            .children()
                            .find(|r| r.has_tag_name((NS_BIND, "resource")))
                            .map(text_of),
                    },
                    ("session", Some(NS_SESSION)) => IqChild::Session,
                    ("ping", Some(NS_PING)) => IqChild::Ping,
                    (n, s) => IqChild::Other(format!("{{{}}}{n}", s.unwrap_or(""))),
                },
            };
            Inbound::Iq {
                id: attr("id"),
                kind: attr("type").unwrap_or_default(),
                child,
            }
        }
        _ => Inbound::Other(format!("{{{ns}}}{name}")),
    })
}

/// The server's `<open/>` (RFC 7395 §3.3.2).
pub(crate) fn open(domain: &str, stream_id: &str) -> String {
    format!(
        "<open xmlns=\"{NS_FRAMING}\" from=\"{}\" id=\"{stream_id}\" version=\"1.0\" xml:lang=\"en\"/>",
        escape(domain)
    )
}

pub(crate) fn close() -> String {
    format!("<close xmlns=\"{NS_FRAMING}\"/>")
}

/// Features before authentication: SASL PLAIN only (the reference's "custom authentication").
pub(crate) fn features_sasl() -> String {
    format!(
        "<stream:features xmlns:stream=\"http://etherx.jabber.org/streams\">\
         <mechanisms xmlns=\"{NS_SASL}\"><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
    )
}

/// Features after authentication: resource binding.
pub(crate) fn features_bind() -> String {
    format!(
        "<stream:features xmlns:stream=\"http://etherx.jabber.org/streams\">\
         <bind xmlns=\"{NS_BIND}\"/><session xmlns=\"{NS_SESSION}\"><optional/></session></stream:features>"
    )
}

pub(crate) fn sasl_success() -> String {
    format!("<success xmlns=\"{NS_SASL}\"/>")
}

pub(crate) fn sasl_failure(condition: &str, text: &str) -> String {
    format!(
        "<failure xmlns=\"{NS_SASL}\"><{condition}/><text xml:lang=\"en\">{}</text></failure>",
        escape(text)
    )
}

pub(crate) fn bind_result(id: &str, jid: &str) -> String {
    format!(
        "<iq xmlns=\"{NS_CLIENT}\" type=\"result\" id=\"{}\"><bind xmlns=\"{NS_BIND}\"><jid>{}</jid></bind></iq>",
        escape(id),
        escape(jid)
    )
}

pub(crate) fn iq_result(id: &str, from: &str, to: &str) -> String {
    format!(
        "<iq xmlns=\"{NS_CLIENT}\" type=\"result\" id=\"{}\" from=\"{}\" to=\"{}\"/>",
        escape(id),
        escape(from),
        escape(to)
    )
}

/// An IQ error (`kind` `cancel`/`modify`, `condition` one of RFC 6120 §8.3.3).
pub(crate) fn iq_error(id: &str, kind: &str, condition: &str, text: &str) -> String {
    format!(
        "<iq xmlns=\"{NS_CLIENT}\" type=\"error\" id=\"{}\"><error type=\"{kind}\">\
         <{condition} xmlns=\"{NS_STANZAS}\"/><text xmlns=\"{NS_STANZAS}\">{}</text></error></iq>",
        escape(id),
        escape(text)
    )
}

/// A server-to-client ping (XEP-0199).
pub(crate) fn ping(id: &str, from: &str, to: &str) -> String {
    format!(
        "<iq xmlns=\"{NS_CLIENT}\" type=\"get\" id=\"{id}\" from=\"{}\" to=\"{}\"><ping xmlns=\"{NS_PING}\"/></iq>",
        escape(from),
        escape(to)
    )
}

/// The presence of the Finesse user that the desktop waits for before it calls itself
/// connected (reference §4.2, EventTunnel `_checkFinesseUser`).
pub(crate) fn finesse_presence(domain: &str, to: &str) -> String {
    format!(
        "<presence xmlns=\"{NS_CLIENT}\" from=\"finesse@{}/finesse\" to=\"{}\"/>",
        escape(domain),
        escape(to)
    )
}

/// A stream error, sent just before `<close/>` (RFC 7395 §3.6).
pub(crate) fn stream_error(condition: &str, text: &str) -> String {
    format!(
        "<stream:error xmlns:stream=\"http://etherx.jabber.org/streams\"><{condition} xmlns=\"{NS_STREAMS}\"/>\
         <text xmlns=\"{NS_STREAMS}\">{}</text></stream:error>",
        escape(text)
    )
}

/// A PubSub event with Finesse's payload: the `<Update>` XML-escaped inside `<notification>`
/// (reference §4.3).
pub(crate) fn notification(
    pubsub_domain: &str,
    to: &str,
    node: &str,
    item_id: &str,
    update: &str,
) -> String {
    format!(
        "<message xmlns=\"{NS_CLIENT}\" from=\"{}\" to=\"{}\" id=\"{item_id}\">\
         <event xmlns=\"http://jabber.org/protocol/pubsub#event\"><items node=\"{}\">\
         <item id=\"{item_id}\"><notification xmlns=\"http://jabber.org/protocol/pubsub\">{}</notification>\
         </item></items></event></message>",
        escape(pubsub_domain),
        escape(to),
        escape(node),
        escape(update)
    )
}

/// A User notification: `<Update>` with the event, source, requestId and the `<user>`.
pub(crate) fn user_update(login_id: &str, user_xml: &str, request_id: Option<&str>) -> String {
    format!(
        "<Update><event>put</event><source>/finesse/api/User/{}</source>{}<data>{user_xml}</data></Update>",
        escape(login_id),
        request_id_xml(request_id)
    )
}

/// An asynchronous CTI error, with the lower-case element names Finesse uses (reference §1.3).
pub(crate) fn api_errors_update(
    source: &str,
    error_type: &str,
    message: &str,
    data: &str,
    request_id: Option<&str>,
) -> String {
    format!(
        "<Update><data><apiErrors><apiError><errorData>{}</errorData><errorMessage>{}</errorMessage>\
         <errorType>{}</errorType></apiError></apiErrors></data><event>PUT</event>{}<source>{}</source></Update>",
        escape(data),
        escape(message),
        escape(error_type),
        request_id_xml(request_id),
        escape(source)
    )
}

/// A Dialogs notification: `POST`/`DELETE` carry `<dialogs><Dialog>` with the user's Dialogs
/// node as the source, `PUT` the one `<Dialog>` with its own URI (docs/emulator.md, "Calls").
pub(crate) fn dialog_update(
    event: &str,
    login_id: &str,
    dialog_id: &str,
    dialog_xml: &str,
) -> String {
    let (source, data) = match event {
        "PUT" => (
            format!("/finesse/api/Dialog/{}", escape(dialog_id)),
            dialog_xml.to_string(),
        ),
        _ => (
            format!("/finesse/api/User/{}/Dialogs", escape(login_id)),
            format!("<dialogs>{dialog_xml}</dialogs>"),
        ),
    };
    format!(
        "<Update><data>{data}</data><event>{event}</event><requestId></requestId><source>{source}</source></Update>"
    )
}

/// A SystemInfo notification carrying the status (`IN_SERVICE`, `OUT_OF_SERVICE`).
pub(crate) fn system_info_update(status: &str) -> String {
    format!(
        "<Update><event>PUT</event><source>/finesse/api/SystemInfo</source><data><SystemInfo>\
         <status>{}</status><uri>/finesse/api/SystemInfo</uri></SystemInfo></data></Update>",
        escape(status)
    )
}

fn request_id_xml(request_id: Option<&str>) -> String {
    request_id
        .map(|r| format!("<requestId>{}</requestId>", escape(r)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sasl_payload_never_shows_in_debug() {
        let a = Inbound::Auth {
            mechanism: Some("PLAIN".into()),
            payload: "AGFnZW50MQBleUpoYkdjaU9p".into(),
        };
        let shown = format!("{a:?} is not allowed");
        assert!(!shown.contains("AGFnZW50"), "{shown}");
        assert!(
            shown.contains("PLAIN") && shown.contains("24 bytes"),
            "{shown}"
        );
    }

    #[test]
    fn client_frames_parse_strictly() {
        assert_eq!(
            parse(&format!(
                "<open xmlns=\"{NS_FRAMING}\" to=\"127.0.0.1\" version=\"1.0\"/>"
            ))
            .unwrap(),
            Inbound::Open {
                to: Some("127.0.0.1".into()),
                version: Some("1.0".into())
            }
        );
        let bind = parse(&format!(
            "<iq xmlns=\"jabber:client\" type=\"set\" id=\"b\"><bind xmlns=\"{NS_BIND}\"><resource>r1</resource></bind></iq>"
        ))
        .unwrap();
        assert_eq!(
            bind,
            Inbound::Iq {
                id: Some("b".into()),
                kind: "set".into(),
                child: IqChild::Bind {
                    resource: Some("r1".into())
                }
            }
        );
        assert_eq!(
            parse("<presence xmlns=\"jabber:client\"><priority>0</priority></presence>").unwrap(),
            Inbound::Presence {
                kind: None,
                priority: Some("0".into())
            }
        );
        for bad in [
            "<open to=\"x\"/>",
            "<iq type=\"get\" id=\"1\"><ping xmlns=\"urn:xmpp:ping\"/></iq>",
            "<presence xmlns=\"jabber:client\"><x/></presence>",
            "<!DOCTYPE a [<!ENTITY e \"x\">]><open xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\"/>",
            "<open xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\">",
            "not xml",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&" ".repeat(MAX_CLIENT_FRAME + 1)).is_err());
    }

    #[test]
    fn notifications_escape_the_update_once() {
        let u = user_update("1001", "<user><state>READY</state></user>", Some("r&1"));
        let m = notification("pubsub.d", "1001@d/r", "/finesse/api/User/1001", "i1", &u);
        let doc = roxmltree::Document::parse(&m).unwrap();
        let n = doc
            .descendants()
            .find(|n| n.has_tag_name("notification"))
            .unwrap();
        // The text node un-escapes to the exact `<Update>` once.
        assert_eq!(n.text().unwrap(), u);
        assert!(u.contains("<requestId>r&amp;1</requestId>"));
        let e = api_errors_update("/finesse/api/User/1001", "Device Busy", "busy", "1", None);
        assert!(e.contains("<apiErrors><apiError><errorData>1</errorData>"));
    }
}
