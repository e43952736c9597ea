//! The shared context of one emulator run: fixed settings, faults, the token issuer, the request
//! log and the mutable state every handler reads (`router` dispatches requests to the handlers).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use url::Url;

use crate::config::{AuthMode, CcUsernameMode, EmulatorConfig};
use crate::faults::Faults;
use crate::log::RequestLog;
use crate::state::{Inner, Users};
use crate::tokens::TokenIssuer;

/// Which of the three servers a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A Finesse side: 0 is the first (`finesse_url`), 1 the second (`--sides 2`).
    Finesse(usize),
    Ids,
    Idp,
    /// The IdP's certificate host (`--idp-login client-cert`): its own port, client certificates.
    IdpCert,
    /// The VPN-less reverse proxy (`--vpnless`): one origin in front of the other three.
    Proxy,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Finesse(0) => "finesse",
            Origin::Finesse(_) => "finesse2",
            Origin::Ids => "ids",
            Origin::Idp => "idp",
            Origin::IdpCert => "idp_cert",
            Origin::Proxy => "proxy",
        }
    }

    /// The server the VPN-less proxy forwards `path` to, by the path prefixes each one owns;
    /// `None`: a path the proxy does not forward (it rejects unknown paths, reference §7.1).
    pub fn behind_proxy(path: &str) -> Option<Origin> {
        let under = |prefix: &str| crate::endpoints::covers(prefix, path);
        if under("/ids") {
            Some(Origin::Ids)
        } else if under("/idp") {
            Some(Origin::Idp)
        } else if ["/finesse", "/desktop", "/ws"].iter().any(|p| under(p)) {
            Some(Origin::Finesse(0))
        } else {
            None
        }
    }
}

/// Finesse's OAuth client id at IdS (the shape of Cisco's: 40 hex digits).
pub(crate) const FINESSE_CLIENT_ID: &str = "bedbc55e4b6c1a2f0c9d8e7f6a5b4c3d2e1f0a9b";

/// Fixed facts of this run.
pub(crate) struct Settings {
    /// The first Finesse side (`sides[0]`).
    pub finesse: Url,
    /// Every Finesse side, first one first: two sides share IdS, the users and the CTI state.
    pub sides: Vec<Url>,
    pub ids: Url,
    pub idp: Url,
    /// The IdP's certificate host (`--idp-login client-cert` only).
    pub idp_cert: Option<Url>,
    pub tls: bool,
    pub config: EmulatorConfig,
    pub users: Users,
    /// IdS's SAML entity id (the Audience the IdP must name).
    pub ids_entity: String,
    /// The IdP's SAML entity id (the Issuer IdS trusts).
    pub idp_entity: String,
}

impl Settings {
    /// A side's URL (the first side for an index out of range: only listeners make sides).
    pub fn side(&self, side: usize) -> &Url {
        self.sides.get(side).unwrap_or(&self.finesse)
    }

    /// `<side>/desktop/sso/authcode`, the redirect URI each Finesse side registers at IdS.
    pub fn finesse_redirect_uri(&self, side: usize) -> String {
        self.at(self.side(side), "/desktop/sso/authcode")
    }

    /// IdS's ACS URL (12.5(1)SU2+ form).
    pub fn acs_url(&self) -> String {
        self.at(&self.ids, "/ids/saml/response?metaAlias=/sp")
    }

    pub fn idp_sso_url(&self) -> String {
        self.at(&self.idp, "/idp/sso")
    }

    /// `base` (an origin URL ending in `/`) joined with an absolute path.
    pub fn at(&self, base: &Url, path_and_query: &str) -> String {
        format!("{}{}", base.as_str().trim_end_matches('/'), path_and_query)
    }

    pub fn cookie_only(&self) -> bool {
        self.config.cc_username == CcUsernameMode::CookieOnly
    }
}

/// Everything a handler may use.
pub(crate) struct App {
    pub settings: Settings,
    pub faults: Faults,
    pub tokens: TokenIssuer,
    /// The IdP's per-run assertion-signing key (HMAC-SHA256).
    pub idp_key: Vec<u8>,
    pub log: RequestLog,
    /// The Kerberos acceptor of `--idp-login negotiate` (set by `start`).
    pub negotiate: Option<crate::gss::Acceptor>,
    /// The notification service (XMPP over WebSocket): fan-out, presence, fault knobs.
    pub xmpp: crate::xmpp_hub::XmppControl,
    state: Mutex<Inner>,
}

impl App {
    /// The mode Finesse reports for a user: the system's, or the user's own in HYBRID.
    pub fn effective_mode(&self, user: &crate::state::User) -> &'static str {
        match self.settings.config.auth_mode {
            AuthMode::Sso => "SSO",
            AuthMode::NonSso => "NON_SSO",
            AuthMode::Hybrid => user.mode.as_str(),
        }
    }

    pub fn new(settings: Settings, tokens: TokenIssuer, log: RequestLog) -> Self {
        let faults = Faults::from_config(&settings.config);
        let idp_key = crate::state::random_id(32).into_bytes();
        let xmpp = crate::xmpp_hub::XmppControl::new(&settings.config, settings.sides.len());
        App {
            xmpp,
            settings,
            faults,
            tokens,
            idp_key,
            log,
            negotiate: None,
            state: Mutex::new(Inner::default()),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Lifetimes of server-side records that have no flag of their own.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(15 * 60);
