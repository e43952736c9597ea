//! The Finesse agent's state per user in the emulator and the documented transitions of
//! `PUT /finesse/api/User/<id>` (reference §1–§3), kept pure so the rules are unit-tested.

use std::collections::HashMap;
use std::time::Instant;

use crate::reason_codes::{self, ReasonCodes};

/// The states a user can be in here; `Reserved` and `Talking` are system-driven, by a call
/// (the `call` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Logout,
    NotReady,
    Ready,
    Reserved,
    Talking,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Logout => "LOGOUT",
            State::NotReady => "NOT_READY",
            State::Ready => "READY",
            State::Reserved => "RESERVED",
            State::Talking => "TALKING",
        }
    }
}

/// One agent's CTI session as Finesse reports it.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub state: State,
    pub extension: String,
    pub reason_code_id: i64,
    /// `YYYY-MM-DDThh:MM:ss.SSSZ`; empty until the first state event.
    pub state_change_time: String,
    pub mobile: Option<(String, String)>,
    /// The call the agent is on (ringing or answered).
    pub call: Option<Call>,
}

impl Agent {
    /// Ringing or talking: the state is the call's until it ends.
    pub fn on_call(&self) -> bool {
        matches!(self.state, State::Reserved | State::Talking)
    }
}

impl Default for Agent {
    fn default() -> Self {
        Agent {
            state: State::Logout,
            extension: String::new(),
            reason_code_id: -1,
            state_change_time: String::new(),
            mobile: None,
            call: None,
        }
    }
}

/// The one call an agent is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub id: String,
    pub from: String,
    pub to: String,
    /// The agent's device on the call.
    pub extension: String,
    /// The Dialog's state: `ALERTING`, `ACTIVE`, then `DROPPED`.
    pub state: &'static str,
    /// When the call reached the agent (`startTime` of its participants).
    pub started: String,
}

/// A parsed `<User>` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Put {
    pub state: Option<String>,
    pub extension: Option<String>,
    pub active_device_id: Option<String>,
    /// `Some` when `<mobileAgent>` was present: (mode, dialNumber), each possibly missing.
    pub mobile: Option<(Option<String>, Option<String>)>,
    pub reason_code_id: Option<String>,
}

/// A refusal, rendered as one `<ApiError>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub error_type: &'static str,
    pub data: String,
    pub message: String,
}

fn refuse(error_type: &'static str, data: &str, message: impl Into<String>) -> Refusal {
    Refusal {
        status: 400,
        error_type,
        data: data.into(),
        message: message.into(),
    }
}

/// What the site allows for this user.
pub(crate) struct Rules<'a> {
    /// UCCE: LOGOUT only from NOT_READY. UCCX also allows READY → LOGOUT.
    pub ucce: bool,
    pub extensions: &'a [String],
    pub stuck: &'a [String],
    pub codes: ReasonCodes,
}

/// Applies one request. `Ok(false)`: accepted, but the CTI server never confirms (stuck device).
pub(crate) fn apply(a: &mut Agent, put: &Put, r: &Rules<'_>, now: &str) -> Result<bool, Refusal> {
    let state = put
        .state
        .as_deref()
        .ok_or_else(|| refuse("Parameter Missing", "state", "State Parameter missing"))?;
    let reason = match put.reason_code_id.as_deref() {
        None => None,
        Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
            refuse(
                "Invalid Input",
                "reasonCodeId",
                "reasonCodeId must be an integer",
            )
        })?),
    };
    let invalid_state = |to: &str| {
        refuse(
            "Invalid State",
            "state",
            format!("Invalid State: {} cannot change to {to}", a.state.as_str()),
        )
    };
    if reason.is_some() && !matches!(state, "NOT_READY" | "LOGOUT") {
        return Err(refuse(
            "Invalid Input",
            "reasonCodeId",
            "a reasonCodeId is valid only with NOT_READY or LOGOUT",
        ));
    }
    if state != "LOGIN" && (put.extension.is_some() || put.mobile.is_some()) {
        return Err(refuse(
            "Invalid Input",
            "extension",
            "extension and mobileAgent are valid only with LOGIN",
        ));
    }
    match state {
        "LOGIN" => {
            let ext = put
                .extension
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .ok_or_else(|| {
                    refuse(
                        "Parameter Missing",
                        "extension",
                        "Extension Parameter missing",
                    )
                })?;
            let mobile = match &put.mobile {
                None => None,
                Some((mode, dial)) => {
                    let mode = mode.as_deref().ok_or_else(|| {
                        refuse("Parameter Missing", "mode", "mode Parameter missing")
                    })?;
                    let dial = dial.as_deref().filter(|d| !d.is_empty()).ok_or_else(|| {
                        refuse(
                            "Parameter Missing",
                            "dialNumber",
                            "dialNumber Parameter missing",
                        )
                    })?;
                    if !matches!(mode, "CALL_BY_CALL" | "NAILED_CONNECTION") {
                        return Err(refuse(
                            "Invalid Input",
                            "mode",
                            "Invalid mode: CALL_BY_CALL or NAILED_CONNECTION",
                        ));
                    }
                    Some((mode.to_string(), dial.to_string()))
                }
            };
            if !r.extensions.iter().any(|e| e == ext) {
                return Err(refuse(
                    "Bad Request",
                    "extension",
                    format!("Invalid extension {ext}: not a device this agent may use"),
                ));
            }
            if r.stuck.iter().any(|e| e == ext) {
                return Ok(false);
            }
            // Already signed in: re-authenticated, the state is kept (reference §1.1).
            if a.state == State::Logout {
                *a = Agent {
                    state: State::NotReady,
                    extension: ext.to_string(),
                    reason_code_id: -1,
                    state_change_time: now.to_string(),
                    mobile,
                    call: None,
                };
            }
            Ok(true)
        }
        // Finesse would keep READY/NOT_READY asked on a call as `pendingState`; the emulator
        // refuses them instead (docs/emulator.md, "Calls").
        "READY" | "NOT_READY" | "LOGOUT" if a.on_call() => Err(invalid_state(state)),
        "READY" => {
            if a.state == State::Logout {
                return Err(invalid_state(state));
            }
            a.state = State::Ready;
            a.reason_code_id = -1;
            a.state_change_time = now.to_string();
            Ok(true)
        }
        "NOT_READY" | "LOGOUT" => {
            let to = if state == "LOGOUT" {
                State::Logout
            } else {
                State::NotReady
            };
            let allowed = match (a.state, to) {
                (State::Logout, _) => false,
                (State::Ready, State::Logout) => !r.ucce,
                _ => true,
            };
            if !allowed {
                return Err(invalid_state(state));
            }
            let category = if to == State::Logout {
                reason_codes::LOGOUT
            } else {
                reason_codes::NOT_READY
            };
            let id = match reason {
                Some(id) if r.codes.find(category, id).is_none() => {
                    return Err(refuse(
                        "Invalid Input",
                        "reasonCodeId",
                        format!("Invalid reasonCodeId {id} for {category}"),
                    ));
                }
                Some(id) => id,
                None if r.codes.configured(category) => {
                    return Err(refuse(
                        "Parameter Missing",
                        "reasonCodeId",
                        format!(
                            "reasonCodeId Parameter missing: {category} reason codes are configured"
                        ),
                    ));
                }
                None => -1,
            };
            a.state = to;
            a.reason_code_id = id;
            a.state_change_time = now.to_string();
            if to == State::Logout {
                a.extension.clear();
                a.mobile = None;
            }
            Ok(true)
        }
        _ => Err(refuse(
            "Invalid Input",
            "state",
            "Invalid State specified for user",
        )),
    }
}

/// Consecutive wrong Basic passwords of one user, and the lock they led to.
#[derive(Debug, Default, Clone)]
pub(crate) struct BasicFailures {
    pub count: u32,
    pub locked_until: Option<Instant>,
}

/// One PUT as received (for tests: what the client sent, never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecord {
    /// The login id the PUT was addressed to.
    pub login_id: String,
    /// The `<state>` sent (empty when missing).
    pub state: String,
    /// The `requestId` header, if any.
    pub request_id: Option<String>,
    /// `Bearer` or `Basic`.
    pub scheme: &'static str,
    /// The answer's status.
    pub status: u16,
}

/// The User API's mutable state, inside the emulator's one state lock.
#[derive(Debug, Default)]
pub(crate) struct Desktop {
    pub agents: HashMap<String, Agent>,
    pub basic: HashMap<String, BasicFailures>,
    /// User API requests still to answer 503; `None` until the configured count is taken.
    pub unavailable_left: Option<u32>,
    pub puts: Vec<PutRecord>,
    /// Calls rung so far (the next Dialog id).
    pub calls: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(state: &str) -> Put {
        Put {
            state: Some(state.into()),
            ..Put::default()
        }
    }

    fn login(ext: &str) -> Put {
        Put {
            extension: Some(ext.into()),
            ..put("LOGIN")
        }
    }

    fn with_reason(mut p: Put, id: &str) -> Put {
        p.reason_code_id = Some(id.into());
        p
    }

    const EXTS: &[String] = &[];

    fn rules<'a>(exts: &'a [String], stuck: &'a [String], ucce: bool, codes: bool) -> Rules<'a> {
        Rules {
            ucce,
            extensions: exts,
            stuck,
            codes: ReasonCodes::new(!codes),
        }
    }

    #[test]
    fn documented_state_machine_on_ucce() {
        let exts = vec!["1001001".to_string()];
        let r = rules(&exts, EXTS, true, true);
        let mut a = Agent::default();
        assert_eq!(
            apply(&mut a, &put("READY"), &r, "t0")
                .unwrap_err()
                .error_type,
            "Invalid State"
        );
        assert_eq!(
            apply(&mut a, &put("LOGOUT"), &r, "t0")
                .unwrap_err()
                .error_type,
            "Invalid State"
        );
        assert!(apply(&mut a, &login("1001001"), &r, "t1").unwrap());
        assert_eq!(
            (a.state, a.reason_code_id, a.extension.as_str()),
            (State::NotReady, -1, "1001001")
        );
        assert!(apply(&mut a, &put("READY"), &r, "t2").unwrap());
        // A second LOGIN re-authenticates and keeps READY.
        assert!(apply(&mut a, &login("1001001"), &r, "t3").unwrap());
        assert_eq!(
            (a.state, a.state_change_time.as_str()),
            (State::Ready, "t2")
        );
        // UCCE: no LOGOUT from READY; NOT_READY needs a configured code.
        assert_eq!(
            apply(&mut a, &with_reason(put("LOGOUT"), "55"), &r, "t4")
                .unwrap_err()
                .error_type,
            "Invalid State"
        );
        let e = apply(&mut a, &put("NOT_READY"), &r, "t4").unwrap_err();
        assert_eq!(
            (e.error_type, e.data.as_str()),
            ("Parameter Missing", "reasonCodeId")
        );
        assert_eq!(
            apply(&mut a, &with_reason(put("NOT_READY"), "55"), &r, "t4")
                .unwrap_err()
                .error_type,
            "Invalid Input"
        );
        assert!(apply(&mut a, &with_reason(put("NOT_READY"), "16"), &r, "t4").unwrap());
        assert_eq!(a.reason_code_id, 16);
        assert_eq!(
            apply(&mut a, &put("LOGOUT"), &r, "t5")
                .unwrap_err()
                .error_type,
            "Parameter Missing"
        );
        assert!(apply(&mut a, &with_reason(put("LOGOUT"), "55"), &r, "t5").unwrap());
        assert_eq!((a.state, a.extension.as_str()), (State::Logout, ""));
    }

    #[test]
    fn uccx_and_no_codes_and_bad_input() {
        let exts = vec!["5001".to_string(), "5002".to_string()];
        let stuck = vec!["5002".to_string()];
        let r = rules(&exts, &stuck, false, false);
        let mut a = Agent::default();
        assert_eq!(
            apply(&mut a, &put("LOGIN"), &r, "t").unwrap_err().data,
            "extension"
        );
        assert_eq!(
            apply(&mut a, &login("9999"), &r, "t")
                .unwrap_err()
                .error_type,
            "Bad Request"
        );
        assert!(
            !apply(&mut a, &login("5002"), &r, "t").unwrap(),
            "stuck device"
        );
        assert_eq!(a.state, State::Logout);
        assert_eq!(
            apply(&mut a, &Put::default(), &r, "t").unwrap_err().message,
            "State Parameter missing"
        );
        assert_eq!(
            apply(&mut a, &put("TALKING"), &r, "t").unwrap_err().message,
            "Invalid State specified for user"
        );
        let mut m = login("5001");
        m.mobile = Some((Some("CALL_BY_CALL".into()), None));
        assert_eq!(apply(&mut a, &m, &r, "t").unwrap_err().data, "dialNumber");
        m.mobile = Some((Some("SOMETIMES".into()), Some("4085551234".into())));
        assert_eq!(apply(&mut a, &m, &r, "t").unwrap_err().data, "mode");
        m.mobile = Some((Some("NAILED_CONNECTION".into()), Some("4085551234".into())));
        assert!(apply(&mut a, &m, &r, "t").unwrap());
        assert_eq!(a.mobile.as_ref().unwrap().0, "NAILED_CONNECTION");
        assert_eq!(
            apply(&mut a, &with_reason(put("READY"), "16"), &r, "t")
                .unwrap_err()
                .data,
            "reasonCodeId"
        );
        assert_eq!(
            apply(&mut a, &with_reason(put("NOT_READY"), "x"), &r, "t")
                .unwrap_err()
                .error_type,
            "Invalid Input"
        );
        assert!(apply(&mut a, &put("READY"), &r, "t").unwrap());
        // UCCX: READY → LOGOUT; no codes configured: none needed.
        assert!(apply(&mut a, &put("LOGOUT"), &r, "t").unwrap());
        assert_eq!((a.state, a.reason_code_id), (State::Logout, -1));
    }
}
