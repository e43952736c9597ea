//! The XMPP session with Finesse's notification service as a pure state machine: stream open,
//! SASL PLAIN, resource binding, presence, then notifications and pings (reference §4.2). It
//! reads parsed frames and says what to send and what happened; the I/O is `connection`'s.
//! The SSO credential form (the IdS access token as the PLAIN password) lives here only.

use base64::Engine as _;

use super::stanza::{self, Inbound};
use crate::redact::Secret;

/// The resource Finesse's own desktop binds; never ours (reference §4.2).
pub const RESERVED_RESOURCE: &str = "desktop";

/// What the PLAIN password is.
#[derive(Clone)]
pub enum Credential {
    /// SSO users: the IdS access token. Inferred, not documented (reference §4.4).
    SsoToken(Secret<String>),
    /// NON_SSO users: the Finesse password (never logged or stored).
    Password(Secret<String>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::SsoToken(_) => "SsoToken(…)",
            Credential::Password(_) => "Password(…)",
        })
    }
}

/// Who signs in where.
#[derive(Debug, Clone)]
pub struct Login {
    /// The agent's loginId; the JID's local part is its lower-case form.
    pub login_id: String,
    /// SystemInfo's `xmppDomain`.
    pub domain: String,
    /// Ours, never `desktop`.
    pub resource: String,
    pub credential: Credential,
}

impl Login {
    /// A fresh resource name: `finesse-sso-<8 hex>`.
    pub fn fresh_resource() -> String {
        let mut b = [0u8; 4];
        let _ = rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut b);
        format!(
            "finesse-sso-{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        )
    }
}

/// SASL PLAIN's message, base64: `\0 authcid \0 password` (no authzid). The one place the
/// credential form is decided: for SSO users the access token is the password.
pub fn sasl_plain(login: &Login) -> Secret<String> {
    let (secret, what) = match &login.credential {
        Credential::SsoToken(t) => (t, "the IdS access token"),
        Credential::Password(p) => (p, "the password"),
    };
    tracing::debug!(
        "notifications: SASL PLAIN as {} with {what} as the password (for SSO users this form is \
         inferred, not documented by Cisco)",
        login.login_id
    );
    let raw = format!("\0{}\0{}", login.login_id, secret.expose());
    Secret::new(base64::engine::general_purpose::STANDARD.encode(raw))
}

/// Why a session ended or could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the notification service refused the SSO token ({0})")]
    TokenRefused(String),
    #[error("the notification service refused the password ({0})")]
    PasswordRefused(String),
    #[error("the resource {0:?} is taken (conflict)")]
    Conflict(String),
    #[error("stream error {condition}: {text}")]
    Stream { condition: String, text: String },
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("the server closed the stream")]
    Closed,
    #[error("{0} pings in a row went unanswered")]
    PingsMissed(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Opening,
    Features,
    Authenticating,
    Reopening,
    BindFeatures,
    Binding,
    /// Presence sent; waiting for Finesse's own presence (as the desktop does).
    Presence,
    Online,
}

/// What the machine asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Send(String),
    /// Online: the bound JID.
    Online(String),
    /// A PubSub item: (node, the payload text).
    Item(String, String),
}

/// One session's state.
#[derive(Debug)]
pub struct Machine {
    login: Login,
    phase: Phase,
    jid: String,
    pings_sent: u64,
    /// Our pings without an answer, in a row.
    unanswered: u32,
    outstanding: Option<String>,
}

const BIND_ID: &str = "bind-1";

impl Machine {
    pub fn new(login: Login) -> Result<Self, SessionError> {
        if login.resource.eq_ignore_ascii_case(RESERVED_RESOURCE) || login.resource.is_empty() {
            return Err(SessionError::Protocol(format!(
                "the resource {:?} is not ours to bind",
                login.resource
            )));
        }
        Ok(Machine {
            login,
            phase: Phase::Opening,
            jid: String::new(),
            pings_sent: 0,
            unanswered: 0,
            outstanding: None,
        })
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The first frame to send.
    pub fn start(&self) -> Out {
        Out::Send(stanza::open(&self.login.domain))
    }

    fn proto(&self, what: String) -> SessionError {
        SessionError::Protocol(format!("{what} while {:?}", self.phase))
    }

    /// One frame from the server: what to send and report, or why the session is over.
    pub fn on(&mut self, frame: Inbound) -> Result<Vec<Out>, SessionError> {
        use Phase::*;
        let mut out = Vec::new();
        match (self.phase, frame) {
            (_, Inbound::StreamError { condition, text }) if condition == "conflict" => {
                return Err(SessionError::Conflict(format!(
                    "{}: {text}",
                    self.login.resource
                )));
            }
            (_, Inbound::StreamError { condition, text }) => {
                return Err(SessionError::Stream { condition, text });
            }
            (_, Inbound::Close) => return Err(SessionError::Closed),
            (Opening, Inbound::Open) => self.phase = Features,
            (Reopening, Inbound::Open) => self.phase = BindFeatures,
            (Features, Inbound::Features { mechanisms, .. }) => {
                if !mechanisms.iter().any(|m| m == "PLAIN") {
                    return Err(SessionError::Protocol(format!(
                        "the service offers {mechanisms:?}, not PLAIN"
                    )));
                }
                let msg = sasl_plain(&self.login);
                out.push(Out::Send(stanza::auth_plain(msg.expose())));
                self.phase = Authenticating;
            }
            (Authenticating, Inbound::SaslSuccess) => {
                out.push(Out::Send(stanza::open(&self.login.domain)));
                self.phase = Reopening;
            }
            (Authenticating, Inbound::SaslFailure { condition, text }) => {
                let why = if text.is_empty() {
                    condition
                } else {
                    format!("{condition}: {text}")
                };
                return Err(match self.login.credential {
                    Credential::SsoToken(_) => SessionError::TokenRefused(why),
                    Credential::Password(_) => SessionError::PasswordRefused(why),
                });
            }
            (BindFeatures, Inbound::Features { bind, .. }) => {
                if !bind {
                    return Err(self.proto("no resource binding offered".into()));
                }
                out.push(Out::Send(stanza::bind(BIND_ID, &self.login.resource)));
                self.phase = Binding;
            }
            (Binding, Inbound::IqResult { id, jid }) if id == BIND_ID => {
                self.jid = jid.unwrap_or_default();
                let local = self.jid.split('@').next().unwrap_or("");
                if local != self.login.login_id.to_lowercase() {
                    return Err(self.proto(format!("bound as {:?}", self.jid)));
                }
                out.push(Out::Send(stanza::presence()));
                self.phase = Presence;
            }
            (
                Binding,
                Inbound::IqError {
                    id,
                    condition,
                    text,
                },
            ) if id == BIND_ID => {
                return Err(if condition == "conflict" {
                    SessionError::Conflict(format!("{}: {text}", self.login.resource))
                } else {
                    SessionError::Protocol(format!("binding refused: {condition} {text}"))
                });
            }
            (Presence, Inbound::Presence { from, kind: None })
                if from.split('/').next() == Some(&format!("finesse@{}", self.login.domain)) =>
            {
                self.phase = Online;
                out.push(Out::Online(self.jid.clone()));
            }
            (Presence | Online, Inbound::Presence { .. }) => {}
            (Presence | Online, Inbound::Event { items }) => {
                out.extend(
                    items
                        .into_iter()
                        .map(|(node, payload)| Out::Item(node, payload)),
                );
            }
            (Presence | Online, Inbound::Ping { id, from }) => {
                out.push(Out::Send(stanza::pong(&id, from.as_deref())));
            }
            (Presence | Online, Inbound::IqRequest { id, from }) => {
                out.push(Out::Send(stanza::unsupported(&id, from.as_deref())));
            }
            (Presence | Online, Inbound::IqResult { id, .. } | Inbound::IqError { id, .. })
                if Some(&id) == self.outstanding.as_ref() =>
            {
                // Any answer proves the service is alive (an error too: it came back).
                self.outstanding = None;
                self.unanswered = 0;
            }
            (Presence | Online, Inbound::Other(name)) => {
                tracing::debug!("notifications: ignored a <{name}> frame");
            }
            (_, frame) => return Err(self.proto(format!("unexpected {}", frame_name(&frame)))),
        }
        Ok(out)
    }

    /// The ping timer fired: the next ping to send, or the end after `max_missed` in a row.
    pub fn tick(&mut self, max_missed: u32) -> Result<Option<Out>, SessionError> {
        if !matches!(self.phase, Phase::Online | Phase::Presence) {
            return Ok(None);
        }
        if self.outstanding.is_some() {
            self.unanswered += 1;
            if self.unanswered >= max_missed {
                return Err(SessionError::PingsMissed(self.unanswered));
            }
        }
        self.pings_sent += 1;
        let id = format!("ping-{}", self.pings_sent);
        self.outstanding = Some(id.clone());
        Ok(Some(Out::Send(stanza::ping(&id, &self.login.domain))))
    }

    /// Finesse's presence did not come: go on as online (a server that does not send it).
    pub fn assume_online(&mut self) -> Option<Out> {
        (self.phase == Phase::Presence).then(|| {
            self.phase = Phase::Online;
            Out::Online(self.jid.clone())
        })
    }
}

fn frame_name(f: &Inbound) -> String {
    let s = format!("{f:?}");
    s.split([' ', '(', '{']).next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(credential: Credential) -> Login {
        Login {
            login_id: "AB1001".into(),
            domain: "d".into(),
            resource: "finesse-sso-1".into(),
            credential,
        }
    }

    fn sends(out: &[Out]) -> Vec<&str> {
        out.iter()
            .filter_map(|o| match o {
                Out::Send(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_session_walks_to_online_and_pings() {
        let token = "eyJ.secret.tok";
        let mut m = Machine::new(login(Credential::SsoToken(Secret::new(token.into())))).unwrap();
        assert!(matches!(m.start(), Out::Send(s) if s.contains("to=\"d\"")));
        assert!(m.on(Inbound::Open).unwrap().is_empty());
        let out = m
            .on(Inbound::Features {
                mechanisms: vec!["PLAIN".into()],
                bind: false,
            })
            .unwrap();
        let auth = sends(&out)[0];
        let b64 = auth.split('>').nth(1).unwrap().split('<').next().unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw, format!("\0AB1001\0{token}").as_bytes());
        assert!(!format!("{m:?}").contains(token));
        m.on(Inbound::SaslSuccess).unwrap();
        m.on(Inbound::Open).unwrap();
        let out = m
            .on(Inbound::Features {
                mechanisms: vec![],
                bind: true,
            })
            .unwrap();
        assert!(sends(&out)[0].contains("<resource>finesse-sso-1</resource>"));
        let out = m
            .on(Inbound::IqResult {
                id: BIND_ID.into(),
                jid: Some("ab1001@d/finesse-sso-1".into()),
            })
            .unwrap();
        assert!(sends(&out)[0].contains("<priority>0</priority>"));
        // Events may arrive before Finesse's presence; the service counts as online after it.
        let out = m
            .on(Inbound::Event {
                items: vec![("/n".into(), "<Update/>".into())],
            })
            .unwrap();
        assert_eq!(out, vec![Out::Item("/n".into(), "<Update/>".into())]);
        let out = m
            .on(Inbound::Presence {
                from: "finesse@d/finesse".into(),
                kind: None,
            })
            .unwrap();
        assert_eq!(out, vec![Out::Online("ab1001@d/finesse-sso-1".into())]);
        let out = m
            .on(Inbound::Ping {
                id: "s1".into(),
                from: Some("d".into()),
            })
            .unwrap();
        assert!(sends(&out)[0].contains("type=\"result\" id=\"s1\""));
        // Two pings without an answer end it; an answer resets the count.
        assert!(m.tick(2).unwrap().is_some());
        m.on(Inbound::IqResult {
            id: "ping-1".into(),
            jid: None,
        })
        .unwrap();
        assert!(m.tick(2).unwrap().is_some());
        assert!(m.tick(2).unwrap().is_some());
        assert_eq!(m.tick(2).unwrap_err(), SessionError::PingsMissed(2));
    }

    #[test]
    fn refusals_say_what_was_refused() {
        let mut m = Machine::new(login(Credential::SsoToken(Secret::new("t".into())))).unwrap();
        m.on(Inbound::Open).unwrap();
        m.on(Inbound::Features {
            mechanisms: vec!["PLAIN".into()],
            bind: false,
        })
        .unwrap();
        let e = m
            .on(Inbound::SaslFailure {
                condition: "not-authorized".into(),
                text: String::new(),
            })
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the notification service refused the SSO token"),
            "{e}"
        );
        let mut m = Machine::new(login(Credential::Password(Secret::new("pw".into())))).unwrap();
        m.on(Inbound::Open).unwrap();
        let e = m.on(Inbound::Features {
            mechanisms: vec!["SCRAM-SHA-1".into()],
            bind: false,
        });
        assert!(matches!(e, Err(SessionError::Protocol(_))));
        let mut l = login(Credential::Password(Secret::new("pw".into())));
        l.resource = "Desktop".into();
        assert!(Machine::new(l).is_err());
        let mut m = Machine::new(login(Credential::Password(Secret::new("pw".into())))).unwrap();
        assert!(matches!(
            m.on(Inbound::SaslSuccess),
            Err(SessionError::Protocol(_))
        ));
        let e = m
            .on(Inbound::StreamError {
                condition: "conflict".into(),
                text: "x".into(),
            })
            .unwrap_err();
        assert!(matches!(e, SessionError::Conflict(_)));
        assert!(Login::fresh_resource().starts_with("finesse-sso-"));
    }
}
