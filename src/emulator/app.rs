//! The shared context of one emulator run and the dispatch of a request to its origin's
//! handlers, with fault injection, counting and the request log around it.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use url::Url;

use super::config::{CcUsernameMode, EmulatorConfig};
use super::faults::Faults;
use super::log::{Entry, RequestLog, now_rfc3339};
use super::request::Req;
use super::response::Resp;
use super::state::{Inner, Users};
use super::tokens::TokenIssuer;
use super::{finesse, idp, ids};

/// Which of the three servers a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Finesse,
    Ids,
    Idp,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Finesse => "finesse",
            Origin::Ids => "ids",
            Origin::Idp => "idp",
        }
    }
}

/// Finesse's OAuth client id at IdS (the shape of Cisco's: 40 hex digits).
pub(crate) const FINESSE_CLIENT_ID: &str = "bedbc55e4b6c1a2f0c9d8e7f6a5b4c3d2e1f0a9b";

/// Fixed facts of this run.
pub(crate) struct Settings {
    pub finesse: Url,
    pub ids: Url,
    pub idp: Url,
    pub tls: bool,
    pub config: EmulatorConfig,
    pub users: Users,
    /// IdS's SAML entity id (the Audience the IdP must name).
    pub ids_entity: String,
    /// The IdP's SAML entity id (the Issuer IdS trusts).
    pub idp_entity: String,
}

impl Settings {
    /// `<finesse>/desktop/sso/authcode`, the redirect URI registered for Finesse at IdS.
    pub fn finesse_redirect_uri(&self) -> String {
        self.at(&self.finesse, "/desktop/sso/authcode")
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
    state: Mutex<Inner>,
}

impl App {
    pub fn new(settings: Settings, tokens: TokenIssuer, log: RequestLog) -> Self {
        let faults = Faults::from_config(&settings.config);
        let idp_key = super::state::random_id(32).into_bytes();
        App {
            settings,
            faults,
            tokens,
            idp_key,
            log,
            state: Mutex::new(Inner::default()),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one request end to end: count, delay, injected failure or the real handler, log.
    pub async fn handle(&self, origin: Origin, req: Req) -> Resp {
        let started = Instant::now();
        *self
            .state()
            .request_counts
            .entry(req.path.clone())
            .or_insert(0) += 1;
        let (fail, delay) = self.faults.for_path(&req.path);
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let resp = match fail {
            Some(status) => injected(origin, status),
            None => match origin {
                Origin::Finesse => finesse::handle(self, &req),
                Origin::Ids => ids::handle(self, &req),
                Origin::Idp => idp::handle(self, &req),
            },
        };
        let resp = if self.faults.cut(&req.path) {
            cut(resp)
        } else {
            resp
        };
        self.log.record(&Entry {
            time: now_rfc3339(),
            origin: origin.as_str(),
            method: req.method.as_str(),
            path: &req.path,
            query: req.query.iter().map(|(k, _)| k.clone()).collect(),
            form: req.form_names(),
            cookies: req.cookies.iter().map(|(k, _)| k.clone()).collect(),
            status: resp.status,
            ms: started.elapsed().as_millis() as u64,
        });
        resp
    }
}

/// Marks the answer to be cut halfway (the server sends half, then drops the connection).
fn cut(mut resp: Resp) -> Resp {
    resp.cut = true;
    resp
}

fn injected(origin: Origin, status: u16) -> Resp {
    let msg = format!("injected failure (HTTP {status})");
    match origin {
        Origin::Finesse => Resp::api_error(status, "Injected", &msg),
        _ => Resp::html(status, super::pages::message("Injected failure", &msg)),
    }
}

/// Lifetimes of server-side records that have no flag of their own.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(15 * 60);
