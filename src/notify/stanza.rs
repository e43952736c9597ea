//! The small XMPP subset a Finesse notification client needs, hand-written: the frames we send
//! (RFC 7395 `<open/>`/`<close/>`, SASL PLAIN, binding, presence, XEP-0199 pings) and the
//! parse of what the server sends, one WebSocket message at a time, with a real XML parser
//! and a size limit. The PubSub payload comes out as text, still to be parsed (`update`).

const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
const NS_CLIENT: &str = "jabber:client";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const NS_PING: &str = "urn:xmpp:ping";
const NS_EVENT: &str = "http://jabber.org/protocol/pubsub#event";

/// Largest stanza read; a larger one is skipped (Finesse's User update is a few KiB).
pub const MAX_STANZA: usize = 256 * 1024;

/// One frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Open,
    Close,
    Features {
        mechanisms: Vec<String>,
        bind: bool,
    },
    SaslSuccess,
    SaslFailure {
        condition: String,
        text: String,
    },
    IqResult {
        id: String,
        jid: Option<String>,
    },
    IqError {
        id: String,
        condition: String,
        text: String,
    },
    /// A server ping (XEP-0199) to answer.
    Ping {
        id: String,
        from: Option<String>,
    },
    /// Another `get`/`set` IQ: answered `service-unavailable` (RFC 6120 §8.4).
    IqRequest {
        id: String,
        from: Option<String>,
    },
    Presence {
        from: String,
        kind: Option<String>,
    },
    /// PubSub items: (node, the un-escaped payload text) for each item.
    Event {
        items: Vec<(String, String)>,
    },
    StreamError {
        condition: String,
        text: String,
    },
    /// Anything else, named for the log.
    Other(String),
}

/// Why a frame was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a stanza of {0} bytes (at most {MAX_STANZA})")]
    TooLarge(usize),
    #[error("not well-formed XML ({0})")]
    NotXml(String),
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

pub fn open(domain: &str) -> String {
    format!(
        "<open xmlns=\"{NS_FRAMING}\" to=\"{}\" version=\"1.0\"/>",
        esc(domain)
    )
}

pub fn close() -> String {
    format!("<close xmlns=\"{NS_FRAMING}\"/>")
}

/// `payload_b64` is the PLAIN message, base64 (`session::sasl_plain` makes it).
pub fn auth_plain(payload_b64: &str) -> String {
    format!("<auth xmlns=\"{NS_SASL}\" mechanism=\"PLAIN\">{payload_b64}</auth>")
}

pub fn bind(id: &str, resource: &str) -> String {
    format!(
        "<iq xmlns=\"{NS_CLIENT}\" type=\"set\" id=\"{}\"><bind xmlns=\"{NS_BIND}\"><resource>{}</resource></bind></iq>",
        esc(id),
        esc(resource)
    )
}

/// Available presence with priority 0 (reference §4.2).
pub fn presence() -> String {
    format!("<presence xmlns=\"{NS_CLIENT}\"><priority>0</priority></presence>")
}

pub fn unavailable() -> String {
    format!("<presence xmlns=\"{NS_CLIENT}\" type=\"unavailable\"/>")
}

pub fn ping(id: &str, domain: &str) -> String {
    format!(
        "<iq xmlns=\"{NS_CLIENT}\" type=\"get\" id=\"{}\" to=\"{}\"><ping xmlns=\"{NS_PING}\"/></iq>",
        esc(id),
        esc(domain)
    )
}

/// The answer to a server ping.
pub fn pong(id: &str, to: Option<&str>) -> String {
    let to = to
        .map(|t| format!(" to=\"{}\"", esc(t)))
        .unwrap_or_default();
    format!(
        "<iq xmlns=\"{NS_CLIENT}\" type=\"result\" id=\"{}\"{to}/>",
        esc(id)
    )
}

/// The answer to an IQ request we do not serve.
pub fn unsupported(id: &str, to: Option<&str>) -> String {
    let to = to
        .map(|t| format!(" to=\"{}\"", esc(t)))
        .unwrap_or_default();
    format!(
        "<iq xmlns=\"{NS_CLIENT}\" type=\"error\" id=\"{}\"{to}><error type=\"cancel\">\
         <service-unavailable xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/></error></iq>",
        esc(id)
    )
}

type Node<'a> = roxmltree::Node<'a, 'a>;

fn kids<'a>(n: Node<'a>) -> impl Iterator<Item = Node<'a>> {
    n.children().filter(|c| c.is_element())
}

/// The first child element's local name and its `<text>` sibling, as RFC 6120 errors carry.
fn condition(n: Node<'_>) -> (String, String) {
    let cond = kids(n)
        .find(|c| c.tag_name().name() != "text")
        .map(|c| c.tag_name().name().to_string())
        .unwrap_or_default();
    let text = kids(n)
        .find(|c| c.tag_name().name() == "text")
        .and_then(|c| c.text())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    (cond, text)
}

/// Parses one server frame. A DTD is refused by the parser; unknown elements become `Other`.
pub fn parse(frame: &str) -> Result<Inbound, FrameError> {
    if frame.len() > MAX_STANZA {
        return Err(FrameError::TooLarge(frame.len()));
    }
    let doc = roxmltree::Document::parse(frame).map_err(|e| FrameError::NotXml(e.to_string()))?;
    let root = doc.root_element();
    let attr = |n: &str| root.attribute(n).map(str::to_string);
    let id = || attr("id").unwrap_or_default();
    Ok(match root.tag_name().name() {
        "open" => Inbound::Open,
        "close" => Inbound::Close,
        "features" => Inbound::Features {
            mechanisms: root
                .descendants()
                .filter(|n| n.has_tag_name((NS_SASL, "mechanism")))
                .filter_map(|n| n.text().map(|t| t.trim().to_string()))
                .collect(),
            bind: kids(root).any(|n| n.has_tag_name((NS_BIND, "bind"))),
        },
        "success" => Inbound::SaslSuccess,
        "failure" => {
            let (condition, text) = condition(root);
            Inbound::SaslFailure { condition, text }
        }
        "error" => {
            let (condition, text) = condition(root);
            Inbound::StreamError { condition, text }
        }
        "iq" => match attr("type").as_deref() {
            Some("result") => Inbound::IqResult {
                id: id(),
                jid: root
                    .descendants()
                    .find(|n| n.has_tag_name((NS_BIND, "jid")))
                    .and_then(|n| n.text())
                    .map(|t| t.trim().to_string()),
            },
            Some("error") => {
                let (condition, text) = kids(root)
                    .find(|n| n.tag_name().name() == "error")
                    .map(condition)
                    .unwrap_or_default();
                Inbound::IqError {
                    id: id(),
                    condition,
                    text,
                }
            }
            Some("get") if kids(root).any(|n| n.has_tag_name((NS_PING, "ping"))) => Inbound::Ping {
                id: id(),
                from: attr("from"),
            },
            _ => Inbound::IqRequest {
                id: id(),
                from: attr("from"),
            },
        },
        "presence" => Inbound::Presence {
            from: attr("from").unwrap_or_default(),
            kind: attr("type"),
        },
        "message" => {
            let items = kids(root)
                .filter(|n| n.has_tag_name((NS_EVENT, "event")))
                .flat_map(kids)
                .filter(|n| n.has_tag_name((NS_EVENT, "items")))
                .flat_map(|items| {
                    let node = items.attribute("node").unwrap_or("").to_string();
                    kids(items)
                        .filter(|i| i.tag_name().name() == "item")
                        .flat_map(kids)
                        .filter(|n| n.tag_name().name() == "notification")
                        // roxmltree un-escapes the text once: the `<Update>` XML.
                        .map(move |n| (node.clone(), n.text().unwrap_or("").to_string()))
                        .collect::<Vec<_>>()
                })
                .collect();
            Inbound::Event { items }
        }
        other => Inbound::Other(other.chars().take(40).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_parse() {
        assert_eq!(
            parse(
                "<stream:features xmlns:stream=\"http://etherx.jabber.org/streams\"><mechanisms \
                 xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
            )
            .unwrap(),
            Inbound::Features {
                mechanisms: vec!["PLAIN".into()],
                bind: false
            }
        );
        assert_eq!(
            parse("<failure xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"><not-authorized/><text>no</text></failure>").unwrap(),
            Inbound::SaslFailure { condition: "not-authorized".into(), text: "no".into() }
        );
        assert_eq!(
            parse("<iq xmlns=\"jabber:client\" type=\"error\" id=\"b\"><error type=\"cancel\"><conflict xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/></error></iq>").unwrap(),
            Inbound::IqError { id: "b".into(), condition: "conflict".into(), text: String::new() }
        );
        assert_eq!(
            parse("<iq xmlns=\"jabber:client\" type=\"get\" id=\"p\" from=\"d\"><ping xmlns=\"urn:xmpp:ping\"/></iq>").unwrap(),
            Inbound::Ping { id: "p".into(), from: Some("d".into()) }
        );
        let m = "<message xmlns=\"jabber:client\"><event xmlns=\"http://jabber.org/protocol/pubsub#event\">\
                 <items node=\"/finesse/api/User/1\"><item id=\"i\"><notification xmlns=\"http://jabber.org/protocol/pubsub\">\
                 &lt;Update&gt;&lt;event&gt;put&lt;/event&gt;&lt;/Update&gt;</notification></item></items></event></message>";
        assert_eq!(
            parse(m).unwrap(),
            Inbound::Event {
                items: vec![(
                    "/finesse/api/User/1".into(),
                    "<Update><event>put</event></Update>".into()
                )]
            }
        );
    }

    #[test]
    fn bad_frames_are_errors_and_ours_are_well_formed() {
        assert!(matches!(
            parse("<message><event"),
            Err(FrameError::NotXml(_))
        ));
        assert!(matches!(
            parse(&"x".repeat(MAX_STANZA + 1)),
            Err(FrameError::TooLarge(_))
        ));
        assert!(parse("<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>").is_err());
        for f in [
            open("d\"x"),
            close(),
            auth_plain("AA=="),
            bind("b", "r<1>"),
            presence(),
            unavailable(),
            ping("p", "d"),
            pong("p", Some("d&")),
            unsupported("q", None),
        ] {
            roxmltree::Document::parse(&f).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }
}
