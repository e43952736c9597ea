//! Acqueon Workspace-style messages on the pipe (reference §6): the request envelope
//! `{channel, topic, subtopic, source, data}`, the answers `{channel, topic, subtopic,
//! message}` and the `Finesse / Agent / Login` event, with Acqueon's exact field names.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::finesse::user::User;
use crate::redact::Secret;

/// One Acqueon-style request. `id` is ours (echoed when given); Acqueon has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub channel: String,
    pub topic: String,
    pub subtopic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "null_is_default")]
    pub data: Data,
}

/// The `data` fields the supported messages use; others are ignored. Numbers are accepted
/// where Acqueon's samples show strings (`"ReasonCodeId": "28"`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Data {
    #[serde(
        default,
        deserialize_with = "scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub username: Option<String>,
    #[serde(
        default,
        deserialize_with = "scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub extension: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret<String>>,
    #[serde(
        default,
        rename = "ReasonCodeId",
        deserialize_with = "scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason_code_id: Option<String>,
}

fn null_is_default<'de, D: Deserializer<'de>>(d: D) -> Result<Data, D::Error> {
    Ok(Option::<Data>::deserialize(d)?.unwrap_or_default())
}

fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

/// What a supported message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `Cisco / Agent / SetUserInfo`.
    SignIn {
        username: Option<String>,
        extension: String,
        password: Option<Secret<String>>,
    },
    /// `Cisco / Agent / GetAgentState`.
    GetAgentState,
    /// `Cisco / Agent / SetReadyState`.
    SetReady,
    /// `Cisco / Connection / Logout`.
    Logout { reason_code_id: Option<String> },
    /// `General / GetSystemInfo`.
    GetSystemInfo,
}

impl Message {
    /// The action, or why the message is not one we serve.
    pub fn action(&self) -> Result<Action, String> {
        let d = &self.data;
        Ok(
            match (
                self.channel.as_str(),
                self.topic.as_str(),
                self.subtopic.as_str(),
            ) {
                ("Cisco", "Agent", "SetUserInfo") => Action::SignIn {
                    username: d.username.clone(),
                    extension: d
                        .extension
                        .clone()
                        .filter(|e| !e.trim().is_empty())
                        .ok_or("SetUserInfo needs data.extension")?,
                    password: d.password.clone(),
                },
                ("Cisco", "Agent", "GetAgentState") => Action::GetAgentState,
                ("Cisco", "Agent", "SetReadyState") => Action::SetReady,
                ("Cisco", "Connection", "Logout") => Action::Logout {
                    reason_code_id: d.reason_code_id.clone(),
                },
                ("General", _, "GetSystemInfo") => Action::GetSystemInfo,
                (c, t, s) => {
                    let short = |x: &str| x.chars().take(40).collect::<String>();
                    return Err(format!(
                        "unsupported Acqueon message {} / {} / {}",
                        short(c),
                        short(t),
                        short(s)
                    ));
                }
            },
        )
    }
}

/// One answer line's object: `{channel, topic, subtopic, message}` (+ our `id`).
pub fn answer(
    id: Option<&Value>,
    (channel, topic, subtopic): (&str, &str, &str),
    event: &str,
    data: Value,
) -> Value {
    let mut v = json!({
        "channel": channel,
        "topic": topic,
        "subtopic": subtopic,
        "message": {"event": event, "source": "finesse-sso", "data": data},
    });
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    v
}

/// `Cisco / Agent / SetAgentState`: the User as JSON plus `agentTime` and `issupervisor`.
pub fn agent_state(id: Option<&Value>, user: &User) -> Value {
    let mut data = serde_json::to_value(user).unwrap_or(Value::Null);
    data["agentTime"] = user.state_change_time.clone().into();
    data["issupervisor"] = user.roles.iter().any(|r| r == "Supervisor").into();
    answer(
        id,
        ("Cisco", "Agent", "SetAgentState"),
        "SetAgentState",
        data,
    )
}

/// `Finesse / Agent / Login`, exactly as Acqueon documents it (reference §6).
pub fn login_event(id: Option<&Value>, user: &User) -> Value {
    let name = [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut v = json!({
        "channel": "Finesse",
        "topic": "Agent",
        "subtopic": "Login",
        "message": {
            "event": "login",
            "source": "event",
            "data": {
                "extension": user.extension,
                "loginName": user.login_name,
                "name": name,
                "loginID": user.login_id,
                "mediaType": user.media_type.clone().unwrap_or_else(|| "1".into()),
                "teamId": user.team_id.clone().unwrap_or_default(),
                "teamName": user.team_name.clone().unwrap_or_default(),
                "state": "Login",
                "stateChangeTime": user.state_change_time,
                "agentType": "non_routable",
            },
        },
    });
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    v
}

/// `General / System / SetSystemInfo` with SystemInfo's status, from a notification.
pub fn system_event(id: Option<&Value>, status: &str) -> Value {
    answer(
        id,
        ("General", "System", "SetSystemInfo"),
        "SetSystemInfo",
        json!({"systemInfo": {"status": status}}),
    )
}

/// The notification session's state as `Cisco / Connection / SetConnectionStatus`, a message
/// Acqueon's SetUserInfo sets off (reference §6; its data fields are not public, so ours are
/// named as our `notifications` event's): `status` is `connected` or `disconnected`, with the
/// reason (a refusal, the proxy's 418/429) and the wait before the next attempt.
pub fn connection_status_event(id: Option<&Value>, s: &crate::ipc::events::SessionState) -> Value {
    let mut data = json!({"status": s.state});
    if let Some(r) = &s.reason {
        data["reason"] = r.clone().into();
    }
    if let Some(ms) = s.retry_in_ms {
        data["retryInMs"] = ms.into();
    }
    answer(
        id,
        ("Cisco", "Connection", "SetConnectionStatus"),
        "SetConnectionStatus",
        data,
    )
}

/// A call as `Cisco / Agent / CallsStateChange`, a message Acqueon's SetUserInfo sets off
/// (reference §6; its topic and data fields are not public, so the data is our `dialog`
/// event's call).
pub fn calls_state_change_event(id: Option<&Value>, c: &crate::ipc::events::Call) -> Value {
    answer(
        id,
        ("Cisco", "Agent", "CallsStateChange"),
        "CallsStateChange",
        serde_json::to_value(c).unwrap_or_default(),
    )
}

/// An asynchronous CTI error (Device Busy after a sign-in) as `Cisco / Agent / Error`.
pub fn desktop_error_event(id: Option<&Value>, e: &crate::ipc::events::DesktopError) -> Value {
    answer(
        id,
        ("Cisco", "Agent", "Error"),
        "error",
        json!({
            "request": "",
            "kind": "desktop_error",
            "message": format!("{}: {}", e.error_type, e.error_message),
            "errorType": e.error_type,
            "errorData": e.error_data,
            "requestId": e.request_id,
        }),
    )
}

/// An error answer: `{channel, topic, subtopic: "Error", message: {event: "error", data}}`.
pub fn error(id: Option<&Value>, m: Option<&Message>, kind: &str, text: &str) -> Value {
    let (channel, topic) = m
        .map(|m| (m.channel.as_str(), m.topic.as_str()))
        .unwrap_or(("Cisco", "Agent"));
    answer(
        id,
        (channel, topic, "Error"),
        "error",
        json!({
            "request": m.map(|m| m.subtopic.as_str()).unwrap_or(""),
            "kind": kind,
            "message": text,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Message {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn documented_messages_map_to_actions() {
        let m = msg(
            r#"{"channel":"Cisco","topic":"Agent","subtopic":"SetUserInfo","source":"crm","data":{"username":"agent1","password":"pw","extension":1001001}}"#,
        );
        let Action::SignIn {
            username,
            extension,
            password,
        } = m.action().unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (username.as_deref(), extension.as_str()),
            (Some("agent1"), "1001001")
        );
        assert_eq!(password.unwrap().expose(), "pw");
        assert!(!format!("{m:?}").contains("\"pw\""));
        let out = msg(
            r#"{"channel":"Cisco","topic":"Connection","subtopic":"Logout","data":{"ReasonCodeId":"28"}}"#,
        );
        assert_eq!(
            out.action().unwrap(),
            Action::Logout {
                reason_code_id: Some("28".into())
            }
        );
        let none =
            msg(r#"{"channel":"Cisco","topic":"Agent","subtopic":"SetReadyState","data":null}"#);
        assert_eq!(none.action().unwrap(), Action::SetReady);
        assert!(
            msg(r#"{"channel":"Cisco","topic":"Agent","subtopic":"SetUserInfo","data":{}}"#)
                .action()
                .is_err()
        );
        assert!(
            msg(r#"{"channel":"Amazon","topic":"App","subtopic":"StateSync"}"#)
                .action()
                .is_err()
        );
        assert!(serde_json::from_str::<Message>(r#"{"channel":"Cisco","topic":"Agent","subtopic":"SetUserInfo","data":{"extension":[1]}}"#).is_err());
    }

    #[test]
    fn login_event_has_acqueons_field_names() {
        let u = User {
            login_id: "1001".into(),
            login_name: "agent1".into(),
            first_name: Some("Agent".into()),
            last_name: Some("agent1".into()),
            extension: "1001001".into(),
            state: "NOT_READY".into(),
            state_change_time: "2024-04-22T11:28:06.628Z".into(),
            team_id: Some("1".into()),
            team_name: Some("Default".into()),
            media_type: Some("1".into()),
            ..User::default()
        };
        let v = login_event(None, &u);
        assert_eq!(
            (
                v["channel"].as_str(),
                v["topic"].as_str(),
                v["subtopic"].as_str()
            ),
            (Some("Finesse"), Some("Agent"), Some("Login"))
        );
        let d = &v["message"]["data"];
        let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "agentType",
                "extension",
                "loginID",
                "loginName",
                "mediaType",
                "name",
                "state",
                "stateChangeTime",
                "teamId",
                "teamName"
            ]
        );
        assert_eq!(
            (d["name"].as_str(), d["state"].as_str()),
            (Some("Agent agent1"), Some("Login"))
        );
        assert_eq!(v["message"]["event"], "login");
        let s = agent_state(Some(&Value::from(3)), &u);
        assert_eq!(
            (s["subtopic"].as_str(), s["id"].as_i64()),
            (Some("SetAgentState"), Some(3))
        );
        assert_eq!(s["message"]["data"]["loginId"], "1001");
        assert_eq!(s["message"]["data"]["issupervisor"], false);
    }

    /// State changes keep the Finesse User's own field names (what `GetAgentState` answers);
    /// CTI errors, the system's status and the session's state have their envelopes.
    #[test]
    fn state_changes_errors_and_the_session_in_acqueons_envelopes() {
        let u = User {
            login_id: "1001".into(),
            login_name: "agent1".into(),
            extension: "1001001".into(),
            state: "NOT_READY".into(),
            reason_code_id: 16,
            state_change_time: "2024-04-22T11:28:06.628Z".into(),
            roles: vec!["Agent".into(), "Supervisor".into()],
            ..User::default()
        };
        let v = agent_state(None, &u);
        let d = &v["message"]["data"];
        assert_eq!(
            (
                v["channel"].as_str(),
                v["topic"].as_str(),
                v["subtopic"].as_str(),
                v["message"]["event"].as_str()
            ),
            (
                Some("Cisco"),
                Some("Agent"),
                Some("SetAgentState"),
                Some("SetAgentState")
            )
        );
        for (k, want) in [
            ("loginId", json!("1001")),
            ("loginName", json!("agent1")),
            ("extension", json!("1001001")),
            ("state", json!("NOT_READY")),
            ("agentTime", json!("2024-04-22T11:28:06.628Z")),
            ("issupervisor", json!(true)),
        ] {
            assert_eq!(d[k], want, "{k}: {v}");
        }
        assert!(v.get("id").is_none());
        let e = desktop_error_event(
            Some(&json!("w")),
            &crate::ipc::events::DesktopError {
                error_type: "Device Busy".into(),
                error_message: "Device already in use".into(),
                error_data: "1001001".into(),
                request_id: Some("r1".into()),
                source: "/finesse/api/User/1001".into(),
            },
        );
        assert_eq!(
            (e["subtopic"].as_str(), e["id"].as_str()),
            (Some("Error"), Some("w"))
        );
        assert_eq!(e["message"]["event"], "error");
        assert_eq!(e["message"]["data"]["kind"], "desktop_error");
        assert_eq!(
            e["message"]["data"]["message"],
            "Device Busy: Device already in use"
        );
        assert_eq!(e["message"]["data"]["requestId"], "r1");
        let sys = system_event(None, "OUT_OF_SERVICE");
        assert_eq!(
            (sys["channel"].as_str(), sys["subtopic"].as_str()),
            (Some("General"), Some("SetSystemInfo"))
        );
        assert_eq!(
            sys["message"]["data"]["systemInfo"]["status"],
            "OUT_OF_SERVICE"
        );
        let down = connection_status_event(
            None,
            &crate::ipc::events::SessionState {
                state: "disconnected".into(),
                jid: None,
                reason: Some("notifications on p:8445: … (HTTP 429) …".into()),
                retry_in_ms: Some(120_000),
            },
        );
        assert_eq!(
            (
                down["channel"].as_str(),
                down["topic"].as_str(),
                down["subtopic"].as_str()
            ),
            (
                Some("Cisco"),
                Some("Connection"),
                Some("SetConnectionStatus")
            )
        );
        let d = &down["message"]["data"];
        assert_eq!(
            (d["status"].as_str(), d["retryInMs"].as_u64()),
            (Some("disconnected"), Some(120_000))
        );
        assert!(d["reason"].as_str().unwrap().contains("HTTP 429"));
        let up = connection_status_event(
            None,
            &crate::ipc::events::SessionState {
                state: "connected".into(),
                jid: Some("1001@d/r".into()),
                reason: None,
                retry_in_ms: None,
            },
        );
        assert_eq!(up["message"]["data"], json!({"status": "connected"}));
    }

    #[test]
    fn a_call_is_calls_state_change_with_the_dialog_fields() {
        let c = crate::ipc::events::Call {
            kind: "ended".into(),
            id: "16818".into(),
            state: "DROPPED".into(),
            from: "5551234".into(),
            to: "6000".into(),
            direction: "inbound".into(),
            call_type: Some("ACD_IN".into()),
            media_type: Some("Voice".into()),
        };
        let v = calls_state_change_event(Some(&json!(7)), &c);
        assert_eq!(
            v,
            json!({
                "channel": "Cisco", "topic": "Agent", "subtopic": "CallsStateChange", "id": 7,
                "message": {"event": "CallsStateChange", "source": "finesse-sso", "data": {
                    "kind": "ended", "id": "16818", "state": "DROPPED", "from": "5551234",
                    "to": "6000", "direction": "inbound", "callType": "ACD_IN", "mediaType": "Voice"
                }}
            })
        );
    }
}

#[cfg(test)]
mod pipe_tests {
    use crate::error::ErrorKind;
    use crate::ipc::protocol::{Request, parse_request};

    #[test]
    fn the_pipe_recognises_acqueon_lines() {
        let e = parse_request(
            br#"{"channel":"Cisco","topic":"Agent","subtopic":"GetAgentState","source":"crm","id":"a"}"#,
        )
        .unwrap();
        assert!(matches!(e.request, Request::Acqueon(ref m) if m.subtopic == "GetAgentState"));
        assert_eq!(e.id, Some("a".into()));
        let (id, err) =
            parse_request(br#"{"channel":"Cisco","topic":7,"subtopic":"x","id":2}"#).unwrap_err();
        assert_eq!(
            (id, err.kind.as_str()),
            (Some(2.into()), ErrorKind::BadRequest.as_str())
        );
        // With an `op`, the native protocol wins.
        assert!(parse_request(br#"{"op":"status","channel":"Cisco"}"#).is_ok());
    }
}
