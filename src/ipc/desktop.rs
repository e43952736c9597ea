//! Wire types of the `desktop_*` pipe operations (the Finesse agent's CTI session) and the
//! `user` event. A password travels only in a request, for NON_SSO users; it is a `Secret`
//! and is never echoed, logged or kept.

use serde::{Deserialize, Serialize};

use crate::finesse::user::{ReasonCode, User};
use crate::redact::Secret;

/// `desktop_sign_in`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SignInRequest {
    pub extension: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_device_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_agent: Option<MobileAgentRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret<String>>,
}

/// `mode`: `CALL_BY_CALL` or `NAILED_CONNECTION`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MobileAgentRequest {
    pub mode: String,
    pub dial_number: String,
}

/// `desktop_state`: `state` is `READY` or `NOT_READY`; `reason` an id or a label.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateRequest {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret<String>>,
}

/// `desktop_sign_out`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SignOutRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret<String>>,
}

/// `desktop_user`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret<String>>,
}

/// `desktop_reasons`: `category` is `NOT_READY` (default), `LOGOUT` or `ALL`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReasonsRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret<String>>,
}

/// How a desktop operation authenticated at Finesse.
pub const AUTH_SSO_TOKEN: &str = "sso_token";
pub const AUTH_BASIC: &str = "basic";

/// The result of `desktop_sign_in|state|sign_out|user`: the User after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserResult {
    pub user: User,
    /// `sso_token` or `basic`.
    pub auth: String,
    /// A password came with the request but was not used (SSO user).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub password_ignored: bool,
}

/// The result of `desktop_reasons`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonsResult {
    pub category: String,
    pub reasons: Vec<ReasonCode>,
}

pub const EVENT_USER: &str = "user";

/// Pushed to subscribers after each change made through the agent, and with a notification
/// session after every change Finesse reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEvent {
    /// `user`.
    pub event: String,
    /// The subscription's request id (the protocol's `Id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    pub user: User,
    /// The `requestId` Finesse echoed in the notification (the request that caused it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print_and_defaults_parse() {
        let r: SignInRequest =
            serde_json::from_str(r#"{"extension":"1001001","password":"hunter2"}"#).unwrap();
        assert!(!format!("{r:?}").contains("hunter2"));
        let s: StateRequest = serde_json::from_str(r#"{"state":"READY"}"#).unwrap();
        assert_eq!((s.reason, s.password), (None, None));
        let u = UserResult {
            user: User::default(),
            auth: AUTH_SSO_TOKEN.into(),
            password_ignored: false,
        };
        let j = serde_json::to_value(&u).unwrap();
        assert!(j.get("password_ignored").is_none());
        assert_eq!(serde_json::from_value::<UserResult>(j).unwrap(), u);
    }
}
