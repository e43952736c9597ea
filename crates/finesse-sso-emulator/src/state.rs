//! Per-run mutable state: users, sessions, pending logins, codes, issued tokens, counters.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::config::{DEMO_PASSWORD, DEMO_USER, Deployment, UserMode, UserSpec};
use crate::secret::Secret;

/// `bytes` random bytes as lowercase hex (ids, jtis, codes, cookie values).
pub(crate) fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// What [`Inner::secret`] files an access token as.
pub(crate) const ACCESS_TOKEN: &str = "access token";

impl Inner {
    /// Records a secret the emulator hands out; returns it for use.
    pub fn secret(&mut self, what: &'static str, value: String) -> String {
        self.issued_secrets.push((what, value.clone()));
        value
    }
}

/// Entries that vanish after their time to live; pruned as new ones arrive.
#[derive(Debug)]
pub(crate) struct TtlMap<V> {
    map: HashMap<String, (Instant, V)>,
}

impl<V> Default for TtlMap<V> {
    fn default() -> Self {
        TtlMap {
            map: HashMap::new(),
        }
    }
}

impl<V> TtlMap<V> {
    pub fn insert(&mut self, key: String, ttl: Duration, value: V) {
        let now = Instant::now();
        if self.map.len() >= 256 {
            self.map.retain(|_, (until, _)| *until > now);
        }
        self.map.insert(key, (now + ttl, value));
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.map
            .get(key)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map
            .get_mut(key)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, v)| v)
    }

    pub fn take(&mut self, key: &str) -> Option<V> {
        let (until, v) = self.map.remove(key)?;
        (until > Instant::now()).then_some(v)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Ends every entry, as if each had outlived its time.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// A configured user with the Finesse attributes the emulator reports.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub name: String,
    pub password: Secret<String>,
    pub mode: UserMode,
    /// UCCE: a numeric agent id; UCCX: the login name (they are interchangeable there).
    pub login_id: String,
    pub first_name: String,
    pub last_name: String,
    /// The documented demo user (its password appears in the ready line and on the IdP page).
    pub demo: bool,
}

/// The user table, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Users(Vec<User>);

impl Users {
    /// Users from the flags; the demo user when there are none.
    pub fn new(specs: Vec<UserSpec>, deployment: Deployment) -> Result<Self, String> {
        let demo = specs.is_empty();
        let specs = if demo {
            vec![UserSpec {
                name: DEMO_USER.into(),
                password: Secret::new(DEMO_PASSWORD.into()),
                mode: UserMode::Sso,
            }]
        } else {
            specs
        };
        let mut users: Vec<User> = Vec::new();
        for (i, s) in specs.into_iter().enumerate() {
            if users.iter().any(|u| u.name == s.name) {
                return Err(format!("user {} is given twice", s.name));
            }
            let login_id = match deployment {
                Deployment::Ucce => format!("{}", 1001 + i),
                Deployment::Uccx => s.name.clone(),
            };
            users.push(User {
                first_name: "Agent".into(),
                last_name: s.name.clone(),
                name: s.name,
                password: s.password,
                mode: s.mode,
                login_id,
                demo,
            });
        }
        Ok(Users(users))
    }

    /// By login name or login id (Finesse accepts either in `cc_username` and URLs).
    pub fn find(&self, name_or_id: &str) -> Option<&User> {
        self.0
            .iter()
            .find(|u| u.name == name_or_id || u.login_id == name_or_id)
    }

    pub fn all(&self) -> &[User] {
        &self.0
    }
}

/// A token URL waiting for its authorization code, keyed by OAuth `state`.
#[derive(Debug, Clone)]
pub(crate) struct PendingToken {
    /// Path and query of the original request on the Finesse origin.
    pub path_and_query: String,
}

/// An authorization request IdS is completing, keyed by the SAML `RelayState`.
#[derive(Debug, Clone)]
pub(crate) struct Authz {
    pub redirect_uri: String,
    pub state: String,
    pub client_id: String,
}

/// An authorization code (kept past its expiry so reuse and expiry answer distinctly).
#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub user: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub expires: Instant,
    pub used: bool,
}

/// A SAML AuthnRequest the IdP is serving: its ID and the RelayState to echo.
#[derive(Debug, Clone)]
pub(crate) struct AuthnInfo {
    pub request_id: String,
    pub relay_state: String,
}

/// A login transaction on the IdP login page.
#[derive(Debug, Clone)]
pub(crate) struct Txn {
    pub authn: AuthnInfo,
    /// The value of the `idp_login` cookie set when the page was shown (`None` until then).
    pub login_cookie: Option<String>,
}

/// `--idp-login popup-mfa`: a second factor waiting for the pop-up's approval.
#[derive(Debug, Clone)]
pub(crate) struct Mfa {
    pub user: String,
    pub authn: AuthnInfo,
    pub approved: bool,
}

/// Consecutive failed passwords of one user name.
#[derive(Debug, Default, Clone)]
pub(crate) struct Failures {
    pub count: u32,
    pub locked_until: Option<Instant>,
}

/// Everything that changes while the emulator runs. One mutex: contention is irrelevant here.
#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub finesse_sessions: TtlMap<String>,
    pub pending_tokens: TtlMap<PendingToken>,
    pub ids_sessions: TtlMap<String>,
    pub authz: TtlMap<Authz>,
    /// AuthnRequest ID → RelayState key it was sent with (`InResponseTo` must match one).
    pub authn_requests: TtlMap<String>,
    pub used_assertions: TtlMap<()>,
    /// `uniqueId` → (user, authz key) between the ACS page and `/ids/relay`.
    pub relays: TtlMap<(String, String)>,
    pub codes: TtlMap<Code>,
    /// Refresh-token jti → the user it was issued to; removed when rotated away.
    pub refresh_owner: TtlMap<String>,
    pub idp_sessions: TtlMap<String>,
    pub txns: TtlMap<Txn>,
    /// `--idp-login popup-mfa`: second factors waiting for (or given) the pop-up's approval.
    pub mfa: TtlMap<Mfa>,
    pub failures: HashMap<String, Failures>,
    /// Every secret value handed out (what it is, the value): tokens, codes, state, cookies,
    /// SAML messages, transaction ids. Tests grep client output and files for them.
    pub issued_secrets: Vec<(&'static str, String)>,
    pub request_counts: HashMap<String, usize>,
    /// TCP connections accepted, by origin name (`Origin::as_str`), TLS handshakes that then
    /// failed included: whether a client connected at all.
    pub connection_counts: HashMap<&'static str, usize>,
    /// Query parameter names of every hit on the IdP's `/steal` (the `leak` forge mode).
    pub steal_hits: Vec<Vec<String>>,
    /// TLS handshakes the IdP's certificate host refused (no or an untrusted client certificate).
    pub cert_refusals: usize,
    /// The User API: agent states, Basic-auth failures, fault counters (issue 11).
    pub desktop: super::agent_state::Desktop,
}
