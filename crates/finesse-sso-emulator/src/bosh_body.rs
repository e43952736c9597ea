//! The BOSH wrapper (XEP-0124 with XEP-0206): strict parsing of a client's `<body/>` into its
//! attributes and stanzas, and the bodies the server answers with.

use tokio::sync::oneshot;

use crate::pages::escape;

pub(crate) const NS_HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
pub(crate) const NS_XBOSH: &str = "urn:xmpp:xbosh";
const NS_STREAM: &str = "http://etherx.jabber.org/streams";

/// What a client's `<body/>` says, and its stanzas as text (each parsed by `xmpp_stanza`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientBody {
    pub rid: u64,
    pub sid: Option<String>,
    pub to: Option<String>,
    /// `xmpp:version` (XEP-0206 §5).
    pub version: Option<String>,
    pub wait: Option<u64>,
    pub hold: Option<u64>,
    /// `xmpp:restart="true"`: the stream restart after SASL (XEP-0206 §6).
    pub restart: bool,
    /// `type="terminate"`.
    pub terminate: bool,
    pub stanzas: Vec<String>,
}

/// One request handed to its session's task, with where its answer goes (the HTTP response).
pub(crate) struct Exchange {
    pub body: ClientBody,
    pub reply: oneshot::Sender<String>,
}

/// Parses a request body: one `<body/>` in the httpbind namespace with a numeric `rid`; its
/// children are the stanzas. A DTD is refused like any other XML from a client.
pub(crate) fn parse(text: &str) -> Result<ClientBody, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name((NS_HTTPBIND, "body")) {
        return Err(format!(
            "the root is <{}> in {:?}, not <body xmlns=\"{NS_HTTPBIND}\">",
            root.tag_name().name(),
            root.tag_name().namespace().unwrap_or("")
        ));
    }
    let attr = |n: &str| root.attribute(n).map(str::to_string);
    let number = |n: &str| -> Result<Option<u64>, String> {
        attr(n)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("{n}={v:?} is not a number"))
            })
            .transpose()
    };
    let rid = number("rid")?.ok_or("no rid")?;
    if let Some(k) = attr("type")
        && k != "terminate"
    {
        return Err(format!("type={k:?}: a client sends only `terminate`"));
    }
    let restart = match root.attribute((NS_XBOSH, "restart")) {
        None => false,
        Some("true") => true,
        Some(v) => return Err(format!("xmpp:restart={v:?}, not \"true\"")),
    };
    Ok(ClientBody {
        rid,
        sid: attr("sid"),
        to: attr("to"),
        version: root.attribute((NS_XBOSH, "version")).map(str::to_string),
        wait: number("wait")?,
        hold: number("hold")?,
        restart,
        terminate: attr("type").is_some(),
        stanzas: root
            .children()
            .filter(|c| c.is_element())
            .map(|c| text[c.range()].to_string())
            .collect(),
    })
}

/// The session creation response (XEP-0124 §7.1, XEP-0206 §5): one request held, two at
/// most in flight.
pub(crate) fn created(sid: &str, wait: u64, inactivity: u64, from: &str, payload: &str) -> String {
    format!(
        "<body xmlns=\"{NS_HTTPBIND}\" xmlns:xmpp=\"{NS_XBOSH}\" xmlns:stream=\"{NS_STREAM}\" \
         sid=\"{}\" wait=\"{wait}\" requests=\"2\" hold=\"1\" inactivity=\"{inactivity}\" \
         ver=\"1.6\" from=\"{}\" xmpp:version=\"1.0\" xmpp:restartlogic=\"true\">{payload}</body>",
        escape(sid),
        escape(from)
    )
}

/// An answer carrying the session's queued stanzas (none: the held request's wait ran out).
pub(crate) fn reply(payload: &str) -> String {
    format!("<body xmlns=\"{NS_HTTPBIND}\" xmlns:stream=\"{NS_STREAM}\">{payload}</body>")
}

/// The end of the session, with the XEP-0124 §17 condition when it is no clean terminate.
pub(crate) fn terminate(condition: Option<&str>, payload: &str) -> String {
    let condition = condition.map_or(String::new(), |c| format!(" condition=\"{}\"", escape(c)));
    format!(
        "<body xmlns=\"{NS_HTTPBIND}\" xmlns:stream=\"{NS_STREAM}\" type=\"terminate\"{condition}>{payload}</body>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_creation_request_parses_and_a_stray_root_or_rid_does_not() {
        let b = parse(
            "<body xmlns=\"http://jabber.org/protocol/httpbind\" xmlns:xmpp=\"urn:xmpp:xbosh\" \
             rid=\"7\" to=\"127.0.0.1\" xmpp:version=\"1.0\" wait=\"60\" hold=\"1\"/>",
        )
        .unwrap();
        assert_eq!((b.rid, b.wait, b.hold), (7, Some(60), Some(1)));
        assert_eq!(b.version.as_deref(), Some("1.0"));
        assert!(b.sid.is_none() && !b.restart && !b.terminate && b.stanzas.is_empty());
        assert!(parse("<body rid=\"1\"/>").unwrap_err().contains("httpbind"));
        assert!(
            parse("<body xmlns=\"http://jabber.org/protocol/httpbind\" rid=\"x\"/>")
                .unwrap_err()
                .contains("rid")
        );
    }

    #[test]
    fn stanzas_come_out_as_text_with_their_own_namespace() {
        let b = parse(
            "<body xmlns=\"http://jabber.org/protocol/httpbind\" rid=\"8\" sid=\"s\">\
             <presence xmlns=\"jabber:client\"/><iq xmlns=\"jabber:client\" type=\"get\" id=\"1\"/></body>",
        )
        .unwrap();
        assert_eq!(
            b.stanzas,
            [
                "<presence xmlns=\"jabber:client\"/>",
                "<iq xmlns=\"jabber:client\" type=\"get\" id=\"1\"/>"
            ]
        );
    }
}
