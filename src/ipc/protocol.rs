//! Our background agent's wire protocol: newline-delimited JSON, one object per line,
//! versioned by `hello`.
//!
//! Every type that crosses the pipe lives here. Requests carry an `op` and an optional `id`
//! (a number or a string, echoed in the reply). Replies carry either `result` or `error`
//! (`kind` + `message`). Events (`subscribe`) carry `event`. Unknown fields are ignored in
//! both directions. See `docs/protocol.md`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorKind;
use crate::redact::Secret;
use crate::window::placement::WindowHandle;

/// The protocol's major version. A client with another major is refused (`version_mismatch`);
/// additions that old clients can ignore keep the major and show up in `capabilities`.
pub const VERSION: u32 = 1;

/// Longest line either side may send, newline included.
pub const MAX_LINE: usize = 64 * 1024;

/// What this agent can do (the `hello` reply lists them).
pub const CAPABILITIES: &[&str] = &[
    "token",
    "status",
    "refresh",
    "logout",
    "subscribe",
    "stop",
    // desktop (issue 11)
    "desktop_sign_in",
    "desktop_state",
    "desktop_sign_out",
    "desktop_user",
    "desktop_reasons",
    "acqueon",
    // notifications (issue 15): `subscribe` with `notifications`, `tokens`, `format`
    "notifications",
    // … and with a NON_SSO user's `password`
    "notifications_password",
];

/// A request id: whatever the client sent (a number or a string), echoed back.
pub type Id = Value;

/// A client's request (the `op` field selects the variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Must come first: the client's protocol major and a name for the agent's log.
    Hello {
        v: u32,
        #[serde(default)]
        client: Option<String>,
    },
    /// A token valid for at least `min_valid` seconds (the agent refreshes or signs in if needed).
    Token {
        #[serde(default)]
        min_valid: u64,
        /// The caller's window: a sign-in window this request opens goes in front of it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent_window: Option<WindowHandle>,
        /// The caller's Wayland activation token, for the same.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        activation_token: Option<String>,
    },
    Status {},
    /// Refresh now, even if the token is still valid.
    Refresh {},
    /// Forget the tokens and the saved web session; the next `token` signs in again.
    Logout {},
    /// Push every new token on this connection (`event: "token"`), `logged_out`, the `user`
    /// after changes, and with `notifications` Finesse's events (see `ipc::events`).
    Subscribe(super::events::SubscribeRequest),
    /// Ask the agent to exit.
    Stop {},
    // desktop (issue 11): the Finesse agent's CTI session, see `ipc::desktop`.
    DesktopSignIn(super::desktop::SignInRequest),
    DesktopState(super::desktop::StateRequest),
    DesktopSignOut(super::desktop::SignOutRequest),
    DesktopUser(super::desktop::UserRequest),
    DesktopReasons(super::desktop::ReasonsRequest),
    /// An Acqueon-style message (no `op`: recognised by its `channel`).
    Acqueon(super::acqueon::Message),
}

impl Request {
    pub fn op(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Token { .. } => "token",
            Request::Status {} => "status",
            Request::Refresh {} => "refresh",
            Request::Logout {} => "logout",
            Request::Subscribe(_) => "subscribe",
            Request::Stop {} => "stop",
            Request::DesktopSignIn(_) => "desktop_sign_in",
            Request::DesktopState(_) => "desktop_state",
            Request::DesktopSignOut(_) => "desktop_sign_out",
            Request::DesktopUser(_) => "desktop_user",
            Request::DesktopReasons(_) => "desktop_reasons",
            Request::Acqueon(_) => "acqueon",
        }
    }
}

/// A request as it travels: the op plus the optional id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    #[serde(flatten)]
    pub request: Request,
}

/// A typed error on the wire. `message` is for people; `kind` is for programs: the protocol's
/// own kinds (`bad_request`, `busy`, …) and the token kinds (`network`, `tls`, …) are all
/// [`ErrorKind`]s, and a kind from a newer agent arrives as `ErrorKind::Unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct WireError {
    pub kind: ErrorKind,
    pub message: String,
}

impl WireError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        WireError {
            kind,
            message: message.into(),
        }
    }
}

impl From<&crate::error::Error> for WireError {
    fn from(e: &crate::error::Error) -> Self {
        WireError::new(e.kind(), e.to_string())
    }
}

/// An error the agent answered, on the client's side (its kind keeps the exit code).
impl From<WireError> for crate::error::Error {
    fn from(e: WireError) -> Self {
        crate::error::Error::FromAgent {
            kind: e.kind,
            message: e.message,
        }
    }
}

/// Either side of a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome<T> {
    Result(T),
    Error(WireError),
}

/// The agent's answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply<T> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    #[serde(flatten)]
    pub outcome: Outcome<T>,
}

/// The agent's `hello` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloInfo {
    pub v: u32,
    /// `finesse-sso/<version>`.
    pub agent: String,
    pub capabilities: Vec<String>,
    pub pid: u32,
    pub profile: String,
    pub server: String,
    pub user: String,
}

/// A token as the pipe hands it out. The refresh token never leaves the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub token: Secret<String>,
    /// Seconds the token stays valid from now (from the agent's monotonic clock).
    pub expires_in: u64,
    /// The same moment on the wall clock (RFC 3339, UTC), for display.
    pub expires_at: String,
    /// The lifetime Finesse gave the token (`expires_in` when it was issued).
    pub lifetime: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal: Option<String>,
    pub server: String,
    /// Increases by one with every new token this agent obtains.
    pub serial: u64,
}

/// The last failure the agent saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    pub kind: ErrorKind,
    pub message: String,
    /// RFC 3339, UTC.
    pub at: String,
}

/// `status` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// `signed_out` (no token), `valid`, or `expired`.
    pub state: String,
    /// `idle`, `refreshing` or `signing_in`.
    pub activity: String,
    pub profile: String,
    pub server: String,
    /// With two Finesse sides listed: the side in use now (`server` stays the first listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_refresh_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    pub refreshes: u64,
    pub sign_ins: u64,
    pub clients: u64,
    pub pid: u32,
    pub agent: String,
}

/// A plain acknowledgement (`logout`, `subscribe`, `stop`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub ok: bool,
}

/// What a reply's `result` holds, by operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResultBody {
    Hello(HelloInfo),
    Token(TokenInfo),
    Status(Box<StatusInfo>),
    Ack(Ack),
}

/// Pushed to subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `token` (a new token in `result`) or `logged_out`.
    pub event: String,
    /// The `id` of the `subscribe` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TokenInfo>,
}

pub const EVENT_TOKEN: &str = "token";
pub const EVENT_LOGGED_OUT: &str = "logged_out";

/// Parses one request line. On failure the error keeps the id if one could be read, so the
/// reply still matches the request. Never panics, whatever the bytes.
pub fn parse_request(line: &[u8]) -> Result<Envelope, (Option<Id>, WireError)> {
    // The general way builds a JSON tree and then the request from it: half a microsecond,
    // most of what a cached `token` cost beyond the socket (docs/benchmarks.md "The pipe").
    if let Some((id, min_valid)) = super::plain_token::read(line) {
        return Ok(Envelope {
            id,
            request: Request::Token {
                min_valid,
                parent_window: None,
                activation_token: None,
            },
        });
    }
    parse_general(line)
}

/// Every request: a JSON tree first, so an error can still name the request's id.
pub(crate) fn parse_general(line: &[u8]) -> Result<Envelope, (Option<Id>, WireError)> {
    let bad = |id, m: String| (id, WireError::new(ErrorKind::BadRequest, m));
    let text = std::str::from_utf8(line).map_err(|_| bad(None, "line is not UTF-8".into()))?;
    let value: Value = serde_json::from_str(text.trim_end_matches(['\r', '\n'])).map_err(|e| {
        bad(
            None,
            format!("not JSON (line {} column {})", e.line(), e.column()),
        )
    })?;
    let Value::Object(map) = &value else {
        return Err(bad(None, "a request is a JSON object".into()));
    };
    let id = match map.get("id") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::Number(_) | Value::String(_))) => Some(v.clone()),
        Some(_) => return Err(bad(None, "`id` must be a number or a string".into())),
    };
    // The value is moved into the typed request below, not copied (a copy per request was a
    // measurable part of the pipe's cost).
    if !map.contains_key("op") && map.contains_key("channel") {
        return serde_json::from_value::<super::acqueon::Message>(value)
            .map(|m| Envelope {
                id: id.clone(),
                request: Request::Acqueon(m),
            })
            .map_err(|e| bad(id, format!("Acqueon message: {e}")));
    }
    let op: &'static str = match map.get("op") {
        Some(Value::String(s)) => match s.as_str() {
            "hello" => "hello",
            "token" => "token",
            "status" => "status",
            "refresh" => "refresh",
            "logout" => "logout",
            "subscribe" => "subscribe",
            "stop" => "stop",
            "desktop_sign_in" => "desktop_sign_in",
            "desktop_state" => "desktop_state",
            "desktop_sign_out" => "desktop_sign_out",
            "desktop_user" => "desktop_user",
            "desktop_reasons" => "desktop_reasons",
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err((
                    id,
                    WireError::new(ErrorKind::UnknownOp, format!("unknown op {shown:?}")),
                ));
            }
        },
        _ => return Err(bad(id, "`op` (a string) is missing".into())),
    };
    let request = serde_json::from_value::<Request>(value)
        .map_err(|e| bad(id.clone(), format!("{op}: {e}")))?;
    Ok(Envelope { id, request })
}

/// One line (with its newline) for any serialisable message.
pub fn line<T: Serialize>(msg: &T) -> String {
    let mut s = serde_json::to_string(msg).unwrap_or_else(|_| {
        r#"{"error":{"kind":"internal","message":"unserialisable reply"}}"#.into()
    });
    s.push('\n');
    s
}

/// A reply line with a result.
pub fn ok_line(id: Option<Id>, body: ResultBody) -> String {
    line(&Reply {
        id,
        outcome: Outcome::Result(body),
    })
}

/// The same line as `ok_line`, for a `result` already serialised (the agent's cached token
/// answer, `agent::answer`).
pub fn ok_line_json(id: Option<&Id>, result: &str) -> String {
    let mut s = String::with_capacity(result.len() + 32);
    s.push('{');
    if let Some(id) = id {
        s.push_str("\"id\":");
        s.push_str(&serde_json::to_string(id).unwrap_or_else(|_| "null".into()));
        s.push(',');
    }
    s.push_str("\"result\":");
    s.push_str(result);
    s.push_str("}\n");
    s
}

/// A reply line with an error.
pub fn error_line(id: Option<Id>, e: WireError) -> String {
    line(&Reply::<ResultBody> {
        id,
        outcome: Outcome::Error(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_info() -> TokenInfo {
        TokenInfo {
            token: Secret::new("a.b.c".into()),
            expires_in: 290,
            expires_at: "2030-01-01T00:00:00Z".into(),
            lifetime: 300,
            user_id: Some("agent1".into()),
            realm: None,
            user_principal: None,
            server: "https://f.example:8445".into(),
            serial: 3,
        }
    }

    #[test]
    fn a_serialised_result_makes_the_same_line() {
        for id in [
            None,
            Some(Value::from(7)),
            Some(Value::from("a \"quoted\" id\n")),
        ] {
            let json = serde_json::to_string(&token_info()).unwrap();
            assert_eq!(
                ok_line_json(id.as_ref(), &json),
                ok_line(id.clone(), ResultBody::Token(token_info()))
            );
        }
    }

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Hello {
                v: 1,
                client: Some("crm/2".into()),
            },
            Request::Token {
                min_valid: 60,
                parent_window: None,
                activation_token: None,
            },
            Request::Token {
                min_valid: 0,
                parent_window: Some(WindowHandle(0x1a0_0004)),
                activation_token: Some("kwin-42".into()),
            },
            Request::Status {},
            Request::Refresh {},
            Request::Logout {},
            Request::Subscribe(Default::default()),
            Request::Subscribe(crate::ipc::events::SubscribeRequest {
                notifications: true,
                tokens: false,
                format: Some("acqueon".into()),
                password: None,
            }),
            Request::Stop {},
            Request::DesktopSignIn(crate::ipc::desktop::SignInRequest {
                extension: "1001001".into(),
                ..Default::default()
            }),
            Request::DesktopState(crate::ipc::desktop::StateRequest {
                state: "NOT_READY".into(),
                reason: Some("Break".into()),
                password: None,
            }),
            Request::DesktopSignOut(Default::default()),
            Request::DesktopUser(Default::default()),
            Request::DesktopReasons(Default::default()),
        ] {
            let env = Envelope {
                id: Some(Value::from(7)),
                request: r.clone(),
            };
            let l = line(&env);
            assert!(l.ends_with('\n') && !l[..l.len() - 1].contains('\n'));
            assert_eq!(parse_request(l.as_bytes()).unwrap(), env, "{l}");
            assert!(l.contains(&format!("\"op\":\"{}\"", r.op())));
        }
    }

    fn token(min_valid: u64) -> Request {
        Request::Token {
            min_valid,
            parent_window: None,
            activation_token: None,
        }
    }

    #[test]
    fn documented_lines_parse_and_unknown_fields_are_ignored() {
        let e = parse_request(br#"{"op":"token","id":"a","min_valid":30,"future":[1]}"#).unwrap();
        assert_eq!(e.request, token(30));
        assert_eq!(e.id, Some(Value::from("a")));
        let e = parse_request(b"{\"op\":\"status\",\"x\":1}\r\n").unwrap();
        assert_eq!(e.request, Request::Status {});
        assert_eq!(e.id, None);
        let e = parse_request(br#"{"op":"token"}"#).unwrap();
        assert_eq!(e.request, token(0));
        let e = parse_request(br#"{"op":"token","parent_window":"0x1a00004"}"#).unwrap();
        assert_eq!(
            e.request,
            Request::Token {
                min_valid: 0,
                parent_window: Some(WindowHandle(0x1a0_0004)),
                activation_token: None,
            }
        );
        let e = parse_request(br#"{"op":"token","parent_window":27262980}"#).unwrap();
        assert!(matches!(
            e.request,
            Request::Token {
                parent_window: Some(WindowHandle(27_262_980)),
                ..
            }
        ));
        for bad in [
            &br#"{"op":"token","parent_window":"window"}"#[..],
            br#"{"op":"token","parent_window":0}"#,
            br#"{"op":"token","parent_window":-1}"#,
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let e = parse_request(br#"{"op":"hello","v":1}"#).unwrap();
        assert_eq!(e.request, Request::Hello { v: 1, client: None });
    }

    #[test]
    fn garbage_gets_typed_errors_and_keeps_the_id() {
        let cases: &[(&[u8], ErrorKind, Option<Value>)] = &[
            (b"", ErrorKind::BadRequest, None),
            (b"\xff\xfe", ErrorKind::BadRequest, None),
            (b"hello", ErrorKind::BadRequest, None),
            (b"[1,2]", ErrorKind::BadRequest, None),
            (b"null", ErrorKind::BadRequest, None),
            (b"{\"op\":", ErrorKind::BadRequest, None),
            (br#"{"id":[1],"op":"status"}"#, ErrorKind::BadRequest, None),
            (br#"{"id":4}"#, ErrorKind::BadRequest, Some(Value::from(4))),
            (
                br#"{"id":4,"op":7}"#,
                ErrorKind::BadRequest,
                Some(Value::from(4)),
            ),
            (
                br#"{"id":5,"op":"fly"}"#,
                ErrorKind::UnknownOp,
                Some(Value::from(5)),
            ),
            (
                br#"{"id":6,"op":"token","min_valid":-1}"#,
                ErrorKind::BadRequest,
                Some(Value::from(6)),
            ),
            (
                br#"{"id":"x","op":"hello","v":"one"}"#,
                ErrorKind::BadRequest,
                Some(Value::from("x")),
            ),
        ];
        for (input, want, id) in cases {
            let (got_id, e) = parse_request(input).unwrap_err();
            assert_eq!(&e.kind, want, "{}", String::from_utf8_lossy(input));
            assert_eq!(&got_id, id);
            assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic xorshift stream of byte strings, biased towards JSON punctuation.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let alphabet = br#"{}[]":,0123456789.-eE optokenstatusidv\u00"#;
        for _ in 0..5_000 {
            let mut s = Vec::new();
            for _ in 0..(x % 48) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(if x.is_multiple_of(5) {
                    x as u8
                } else {
                    alphabet[(x as usize / 7) % alphabet.len()]
                });
            }
            let _ = parse_request(&s);
        }
    }

    /// Found by `fuzz/fuzz_targets/protocol.rs`: a numeric id beyond u64 became a float that
    /// re-encoded one unit off, so the echoed id no longer matched the request's. Fixed by
    /// serde_json's exact float parsing (`float_roundtrip`).
    #[test]
    fn huge_numeric_ids_echo_back_exactly() {
        let line = br#"{"op":"hello","v":1,"id":1944444444631610000037}"#;
        let env = parse_request(line).unwrap();
        let again = parse_request(super::line(&env).as_bytes()).unwrap();
        assert_eq!(again, env);
        let reply = ok_line(env.id.clone(), ResultBody::Ack(Ack { ok: true }));
        let r: Reply<Value> = serde_json::from_str(&reply).unwrap();
        assert_eq!(r.id, env.id);
    }

    #[test]
    fn replies_and_events_round_trip() {
        let l = ok_line(Some(Value::from(1)), ResultBody::Token(token_info()));
        let r: Reply<Value> = serde_json::from_str(&l).unwrap();
        assert_eq!(r.id, Some(Value::from(1)));
        let Outcome::Result(v) = r.outcome else {
            panic!("{l}")
        };
        assert_eq!(
            serde_json::from_value::<TokenInfo>(v).unwrap(),
            token_info()
        );

        let l = error_line(None, WireError::new(ErrorKind::Busy, "too many"));
        assert_eq!(
            l,
            "{\"error\":{\"kind\":\"busy\",\"message\":\"too many\"}}\n"
        );
        let r: Reply<Value> = serde_json::from_str(&l).unwrap();
        assert_eq!(
            r.outcome,
            Outcome::Error(WireError::new(ErrorKind::Busy, "too many"))
        );

        let ev = Event {
            event: EVENT_TOKEN.into(),
            id: Some(Value::from("s")),
            result: Some(token_info()),
        };
        let back: Event = serde_json::from_str(&line(&ev)).unwrap();
        assert_eq!(back, ev);
        let newer: Event =
            serde_json::from_str(r#"{"event":"logged_out","extra":{"a":1}}"#).unwrap();
        assert_eq!(newer.event, EVENT_LOGGED_OUT);
    }

    /// Error lines carry the kinds' documented names, and a kind from a newer agent still
    /// reads as an error reply: `Unknown`, shown as sent, exit code 11 like any agent failure.
    #[test]
    fn error_kinds_keep_their_wire_names_and_unknown_ones_are_agent_failures() {
        for k in ErrorKind::ALL {
            let l = error_line(Some(Value::from(2)), WireError::new(k.clone(), "m"));
            let want = format!("{{\"id\":2,\"error\":{{\"kind\":\"{k}\",\"message\":\"m\"}}}}\n");
            assert_eq!(l, want);
        }
        let newer = r#"{"id":3,"error":{"kind":"quota_exceeded","message":"try later","hint":1}}"#;
        let r: Reply<Value> = serde_json::from_str(newer).unwrap();
        let Outcome::Error(e) = r.outcome else {
            panic!("{newer}")
        };
        assert_eq!(e.kind, ErrorKind::Unknown("quota_exceeded".into()));
        assert_eq!(e.to_string(), "quota_exceeded: try later");
        let err = crate::error::Error::from(e);
        assert_eq!(err.exit_code(), crate::error::exit::AGENT);
        assert_eq!(err.to_string(), "agent: try later");
    }

    #[test]
    fn token_info_debug_is_redacted() {
        assert!(!format!("{:?}", token_info()).contains("a.b.c"));
    }
}
