//! Wire types of the events the agent pushes from Finesse's notifications (issue 15) and of
//! the `subscribe` request that asks for them: `dialog` (a call), `system`, `desktop_error`
//! and `notifications` (the session's state). The `user` event is `ipc::desktop::UserEvent`.

use serde::{Deserialize, Serialize};

use crate::redact::Secret;

pub const EVENT_SYSTEM: &str = "system";
pub const EVENT_DESKTOP_ERROR: &str = "desktop_error";
pub const EVENT_NOTIFICATIONS: &str = "notifications";
pub const EVENT_DIALOG: &str = "dialog";

/// `subscribe`. Without fields: tokens and the changes made through the agent, as in v1.0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeRequest {
    /// Hold the profile's one notification session with Finesse while this client stays
    /// subscribed: `user` events for every change (whoever made it), `system`,
    /// `desktop_error` and `notifications`. The session's presence keeps the Finesse agent
    /// signed in; Finesse signs a signed-in agent out about 60 s after the last one ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notifications: bool,
    /// `token` events (default true). Event viewers say false and never see a token.
    #[serde(default = "yes", skip_serializing_if = "Clone::clone")]
    pub tokens: bool,
    /// `native` (default) or `acqueon`: Acqueon-style envelopes for the Finesse events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Not accepted: the notification session of a NON_SSO user would need the password
    /// kept in the agent. Present only so that the refusal can name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret<String>>,
}

fn yes() -> bool {
    true
}

impl Default for SubscribeRequest {
    fn default() -> Self {
        SubscribeRequest {
            notifications: false,
            tokens: true,
            format: None,
            password: None,
        }
    }
}

/// `system`: SystemInfo's status from a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemEvent {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    pub system: crate::notify::update::SystemStatus,
}

/// One asynchronous CTI error, with Finesse's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesktopError {
    pub error_type: String,
    pub error_message: String,
    pub error_data: String,
    /// The `requestId` of the request that failed, when Finesse echoes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The object it is about (`/finesse/api/User/1001`).
    pub source: String,
}

/// `desktop_error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesktopErrorEvent {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    pub error: DesktopError,
}

/// The notification session's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// `connected` or `disconnected`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Milliseconds until the next attempt (`disconnected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
}

/// `notifications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationsEvent {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    #[serde(flatten)]
    pub session: SessionState,
}

/// One call (a Finesse Dialog) as a screen-pop needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// `new` (Finesse POSTed the Dialog), `update` (PUT) or `ended` (DELETE).
    pub kind: String,
    /// The Dialog id (`/finesse/api/Dialog/<id>`).
    pub id: String,
    /// Finesse's Dialog state: `ALERTING`, `INITIATING`, `ACTIVE`, `HELD`, `DROPPED`, …
    pub state: String,
    /// The Dialog's `fromAddress` and `toAddress` (the caller's and the called number).
    pub from: String,
    pub to: String,
    /// `inbound`, `outbound` or `unknown` (the rule is in `agent::calls`).
    pub direction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

/// `dialog`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogEvent {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    pub dialog: Call,
}

/// What the notification session tells subscribers besides the User (the agent's broadcast).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Dialog(Call),
    System(crate::notify::update::SystemStatus),
    DesktopError(DesktopError),
    Session(SessionState),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_defaults_and_round_trips() {
        let s: SubscribeRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(s, SubscribeRequest::default());
        assert!(s.tokens && !s.notifications);
        let w: SubscribeRequest =
            serde_json::from_str(r#"{"notifications":true,"tokens":false,"format":"acqueon"}"#)
                .unwrap();
        let back: SubscribeRequest =
            serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(back, w);
        assert_eq!(
            serde_json::to_string(&SubscribeRequest::default()).unwrap(),
            "{}"
        );
        let n = NotificationsEvent {
            event: EVENT_NOTIFICATIONS.into(),
            id: None,
            session: SessionState {
                state: "connected".into(),
                jid: Some("1001@d/r".into()),
                reason: None,
                retry_in_ms: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"event":"notifications","state":"connected","jid":"1001@d/r"}"#
        );
    }

    #[test]
    fn the_dialog_event_shape() {
        let d = DialogEvent {
            event: EVENT_DIALOG.into(),
            id: Some("s".into()),
            dialog: Call {
                kind: "new".into(),
                id: "16817".into(),
                state: "ALERTING".into(),
                from: "5551234".into(),
                to: "1001001".into(),
                direction: "inbound".into(),
                call_type: Some("ACD_IN".into()),
                media_type: None,
            },
        };
        let line = serde_json::to_string(&d).unwrap();
        assert_eq!(
            line,
            r#"{"event":"dialog","id":"s","dialog":{"kind":"new","id":"16817","state":"ALERTING","from":"5551234","to":"1001001","direction":"inbound","callType":"ACD_IN"}}"#
        );
        assert_eq!(serde_json::from_str::<DialogEvent>(&line).unwrap(), d);
    }
}
