//! A Finesse Dialog notification as the `dialog` event's [`Call`]: the event kind from the
//! update's verb and the call's direction, by the rule below (docs/protocol.md, `dialog`).

use crate::ipc::events::Call;
use crate::notify::update::Dialog;

/// `callType`s of calls that reach the agent (Cisco's Dialog API names).
const INBOUND: &[&str] = &[
    "ACD_IN",
    "PREROUTE_ACD_IN",
    "PREROUTE_DIRECT_AGENT",
    "OTHER_IN",
    "TRANSFER",
    "OFFERED",
    "CONSULT_OFFERED",
];

/// The direction of a call for an agent at `extension`: the `callType` decides when it names
/// one (the inbound list above; `OUT`, `OUTBOUND*` and `CONSULT` are outbound); otherwise
/// (`AGENT_INSIDE`, `CONFERENCE`, none) the agent's extension does: it is `fromAddress` on a
/// call the agent placed and `toAddress` on one it receives. Neither: `unknown`.
pub fn direction(d: &Dialog, extension: Option<&str>) -> &'static str {
    if let Some(t) = d.call_type.as_deref() {
        if INBOUND.contains(&t) {
            return "inbound";
        }
        if t == "OUT" || t == "CONSULT" || t.starts_with("OUTBOUND") {
            return "outbound";
        }
    }
    match extension.filter(|e| !e.is_empty()) {
        Some(e) if d.from_address == e => "outbound",
        Some(e) if d.to_address == e => "inbound",
        _ => "unknown",
    }
}

/// The event kind of an update's verb: `POST` adds a Dialog, `DELETE` removes it.
fn kind(event: &str) -> &'static str {
    match event {
        "POST" => "new",
        "DELETE" => "ended",
        _ => "update",
    }
}

/// The `dialog` event's call for one Dialog of an update with verb `event`.
pub fn call(event: &str, d: Dialog, extension: Option<&str>) -> Call {
    Call {
        kind: kind(event).into(),
        direction: direction(&d, extension).into(),
        id: d.id,
        state: d.state,
        from: d.from_address,
        to: d.to_address,
        call_type: d.call_type,
        media_type: d.media_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog(from: &str, to: &str, call_type: Option<&str>) -> Dialog {
        Dialog {
            id: "1".into(),
            state: "ALERTING".into(),
            from_address: from.into(),
            to_address: to.into(),
            call_type: call_type.map(Into::into),
            media_type: None,
        }
    }

    #[test]
    fn the_call_type_decides_when_it_names_a_direction() {
        // The extension would say the opposite: the call type wins.
        for t in ["ACD_IN", "PREROUTE_ACD_IN", "TRANSFER", "CONSULT_OFFERED"] {
            assert_eq!(
                direction(&dialog("1001", "5551", Some(t)), Some("1001")),
                "inbound",
                "{t}"
            );
        }
        for t in ["OUT", "OUTBOUND", "OUTBOUND_PREVIEW", "CONSULT"] {
            assert_eq!(
                direction(&dialog("5551", "1001", Some(t)), Some("1001")),
                "outbound",
                "{t}"
            );
        }
    }

    #[test]
    fn otherwise_the_agents_extension_decides() {
        for t in [
            None,
            Some("AGENT_INSIDE"),
            Some("CONFERENCE"),
            Some("NEW_TYPE"),
        ] {
            assert_eq!(
                direction(&dialog("1001", "1002", t), Some("1001")),
                "outbound"
            );
            assert_eq!(
                direction(&dialog("1002", "1001", t), Some("1001")),
                "inbound"
            );
            assert_eq!(
                direction(&dialog("1002", "1003", t), Some("1001")),
                "unknown"
            );
            // No extension known (or signed out: empty) decides nothing.
            assert_eq!(direction(&dialog("", "1001", t), None), "unknown");
            assert_eq!(direction(&dialog("", "1001", t), Some("")), "unknown");
        }
    }

    #[test]
    fn kinds_follow_the_verb_and_fields_carry_over() {
        let mut d = dialog("5551", "1001", Some("ACD_IN"));
        d.media_type = Some("Voice".into());
        let c = call("POST", d.clone(), Some("1001"));
        assert_eq!(
            c,
            Call {
                kind: "new".into(),
                id: "1".into(),
                state: "ALERTING".into(),
                from: "5551".into(),
                to: "1001".into(),
                direction: "inbound".into(),
                call_type: Some("ACD_IN".into()),
                media_type: Some("Voice".into()),
            }
        );
        assert_eq!(call("PUT", d.clone(), None).kind, "update");
        assert_eq!(call("DELETE", d, None).kind, "ended");
    }
}
