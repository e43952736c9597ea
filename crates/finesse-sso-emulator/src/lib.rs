//! A faithful Finesse + Cisco Identity Service + SAML IdP on loopback: start, inspect, stop.
//!
//! Three servers on three ports (three origins) share one [`app::App`]. Tests and
//! `finesse-sso emulate` use [`start`]; see `docs/emulator.md`. This crate follows Cisco's
//! documented behaviour and depends on nothing of the client it tests.

mod agent_state;
mod app;
mod bosh;
mod bosh_body;
mod call;
pub mod config;
mod duration;
mod endpoints;
pub mod faults;
mod finesse;
mod forge;
#[cfg(unix)]
mod gss;
#[cfg(not(unix))]
#[path = "gss_unsupported.rs"]
mod gss;
mod idp;
mod idp_cert;
mod idp_negotiate;
mod idp_popup;
mod idp_webauthn;
mod ids;
mod listener;
mod log;
mod pages;
mod reason_codes;
mod refresh;
mod request;
mod response;
mod router;
mod saml;
mod secret;
mod state;
mod tls;
mod token_answer;
mod tokens;
mod user_api;
pub mod user_api_config;
mod xmpp;
pub mod xmpp_config;
mod xmpp_hub;
mod xmpp_stanza;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;
use url::Url;

pub use agent_state::PutRecord;
pub use config::{
    AuthMode, CcUsernameMode, DEMO_PASSWORD, DEMO_USER, Deployment, EmulatorConfig, ForgeMode,
    IdpLogin, UserAuthModeApi, UserMode, UserSpec,
};
pub use endpoints::{ENDPOINTS, normalize_endpoint};
pub use faults::{Faults, TokenBody};
pub use secret::Secret;
pub use user_api_config::UserApiConfig;
pub use xmpp_config::{XmppConfig, XmppTransport};
pub use xmpp_hub::{XmppControl, XmppSession};

use app::{App, Origin, Settings};

/// A sign-in session one of the servers keeps behind a cookie ([`Emulator::end_sessions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInSession {
    Finesse,
    Ids,
    Idp,
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("binding the {origin} port {port} on 127.0.0.1: {source}")]
    Bind {
        origin: &'static str,
        port: u16,
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("token signing key: {0}")]
    Key(String),
    #[error("request log: {0}")]
    Log(String),
    #[error("waiting for a stop signal: {0}")]
    Signal(std::io::Error),
    #[error("writing the ready line: {0}")]
    Output(std::io::Error),
}

/// A running emulator. Drop without [`Emulator::shutdown`] also stops the servers (the stop
/// signal's sender goes away), but `shutdown` waits for them.
pub struct Emulator {
    app: Arc<App>,
    stop: watch::Sender<bool>,
    servers: Vec<listener::Server>,
    ca_pem: Option<String>,
    ca_file: Option<tls::CaFile>,
}

/// Starts the three servers and returns once they accept connections.
pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
    let mut specs = config.users.clone();
    if let Some(path) = &config.users_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EmulatorError::Config(format!("users file {}: {e}", path.display())))?;
        let more = config::parse_users_file(&text)
            .map_err(|e| EmulatorError::Config(format!("users file {}: {e}", path.display())))?;
        specs.extend(more);
    }
    let users = state::Users::new(specs, config.deployment).map_err(EmulatorError::Config)?;
    if let Some(auto) = &config.auto_login
        && users.find(auto).is_none()
    {
        return Err(EmulatorError::Config(format!(
            "--auto-login {auto}: no such user"
        )));
    }

    let bind = |origin: &'static str, port: u16| async move {
        listener::bind(port)
            .await
            .map_err(|source| EmulatorError::Bind {
                origin,
                port,
                source,
            })
    };
    if let Some(n) = config
        .out_of_service
        .iter()
        .find(|&&n| n == 0 || n > usize::from(config.sides))
    {
        return Err(EmulatorError::Config(format!(
            "--out-of-service {n}: the sides are numbered 1 to {}",
            config.sides
        )));
    }
    if config.vpnless && config.sides == 2 {
        return Err(EmulatorError::Config(
            "--vpnless with --sides 2: one proxy in front of two sides is not modelled".into(),
        ));
    }
    // `--vpnless`: only the proxy listens (on the Finesse port); Finesse, IdS and the IdP are
    // reached through it, as from outside the contact center's network.
    let finesse_l = bind(
        if config.vpnless { "proxy" } else { "Finesse" },
        config.finesse_port,
    )
    .await?;
    let second_l = match config.sides {
        2 => Some(bind("second Finesse side", 0).await?),
        _ => None,
    };
    let (ids_l, idp_l) = if config.vpnless {
        (None, None)
    } else {
        (
            Some(bind("IdS", config.ids_port).await?),
            Some(bind("IdP", config.idp_port).await?),
        )
    };
    let cert_host = idp_cert::CertHost::prepare(&config).await?;

    let tls = if config.no_tls {
        None
    } else {
        Some(tls::generate().map_err(EmulatorError::Tls)?)
    };
    let ca_file = match &tls {
        Some(t) => Some(
            tls::CaFile::write(&t.ca_pem, config.ca_out.as_deref()).map_err(EmulatorError::Tls)?,
        ),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url_of = |l: &tokio::net::TcpListener| -> Result<Url, EmulatorError> {
        let port = l
            .local_addr()
            .map_err(|e| EmulatorError::Config(format!("listener address: {e}")))?
            .port();
        Url::parse(&format!("{scheme}://127.0.0.1:{port}/"))
            .map_err(|e| EmulatorError::Config(e.to_string()))
    };
    let finesse = url_of(&finesse_l)?;
    let ids = match &ids_l {
        Some(l) => url_of(l)?,
        None => finesse.clone(),
    };
    let idp = match &idp_l {
        Some(l) => url_of(l)?,
        None => finesse.clone(),
    };
    let mut sides = vec![finesse.clone()];
    if let Some(l) = &second_l {
        sides.push(url_of(l)?);
    }

    // RSA keygen takes a noticeable moment; keep it off the async worker threads.
    let key = tokio::task::spawn_blocking(tokens::generate_key)
        .await
        .map_err(|e| EmulatorError::Key(e.to_string()))?
        .map_err(EmulatorError::Key)?;
    let ids_host = ids.host_str().unwrap_or("127.0.0.1").to_string();
    let issuer = tokens::TokenIssuer::new(
        &key,
        &ids_host,
        app::FINESSE_CLIENT_ID,
        &config.realm,
        config.access_ttl,
        config.refresh_ttl,
    )
    .map_err(EmulatorError::Key)?;
    let log = log::RequestLog::open(config.log.as_deref()).map_err(EmulatorError::Log)?;
    let settings = Settings {
        ids_entity: format!("{}ids/saml/sp", ids.as_str()),
        idp_entity: format!("{}idp/metadata", idp.as_str()),
        finesse,
        sides,
        ids,
        idp,
        idp_cert: cert_host.as_ref().map(idp_cert::CertHost::url),
        tls: tls.is_some(),
        config,
        users,
    };
    let mut app = App::new(settings, issuer, log);
    app.negotiate =
        idp_negotiate::from_config(&app.settings.config).map_err(EmulatorError::Config)?;
    let app = Arc::new(app);

    let acceptor = tls
        .as_ref()
        .map(|t| tokio_rustls::TlsAcceptor::from(t.server.clone()));
    let (stop, stop_rx) = watch::channel(false);
    let mut servers = Vec::new();
    let second = second_l.map(|l| (l, Origin::Finesse(1)));
    let front = if ids_l.is_none() {
        Origin::Proxy
    } else {
        Origin::Finesse(0)
    };
    for (tcp, origin) in [
        (Some(finesse_l), front),
        (ids_l, Origin::Ids),
        (idp_l, Origin::Idp),
    ]
    .into_iter()
    .filter_map(|(l, o)| l.map(|l| (l, o)))
    .chain(second)
    {
        servers.push(listener::spawn(
            tcp,
            acceptor.clone(),
            origin,
            app.clone(),
            stop_rx.clone(),
        ));
    }
    if let (Some(host), Some(t)) = (cert_host, &tls) {
        servers.push(host.spawn(t, app.clone(), stop_rx.clone())?);
    }
    tracing::info!(
        finesse = %app.settings.finesse,
        ids = %app.settings.ids,
        idp = %app.settings.idp,
        "emulator ready"
    );
    Ok(Emulator {
        app,
        stop,
        servers,
        ca_pem: tls.map(|t| t.ca_pem),
        ca_file,
    })
}

impl Emulator {
    pub fn finesse_url(&self) -> &Url {
        &self.app.settings.finesse
    }

    /// Every Finesse side's URL, the first (`finesse_url`) first (`--sides`).
    pub fn side_urls(&self) -> &[Url] {
        &self.app.settings.sides
    }

    /// Takes Finesse side number `side` (1: the first) out of service, or puts it back (see
    /// [`XmppControl::set_in_service`]).
    pub fn set_in_service(&self, side: usize, in_service: bool) {
        self.app.xmpp.set_in_service(side, in_service);
    }

    pub fn ids_url(&self) -> &Url {
        &self.app.settings.ids
    }

    pub fn idp_url(&self) -> &Url {
        &self.app.settings.idp
    }

    /// The IdP's certificate host (`--idp-login client-cert` only).
    pub fn idp_cert_url(&self) -> Option<&Url> {
        self.app.settings.idp_cert.as_ref()
    }

    /// TLS handshakes the certificate host refused: no client certificate, or an untrusted one.
    pub fn client_cert_refusals(&self) -> usize {
        self.app.state().cert_refusals
    }

    /// The per-run CA certificate (PEM); `None` with `--no-tls`.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Where the CA certificate was written; `None` with `--no-tls`.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_ref().map(|f| f.path.as_path())
    }

    /// The JSON line `finesse-sso emulate` prints when ready.
    pub fn ready_line(&self) -> serde_json::Value {
        let s = &self.app.settings;
        let users: Vec<serde_json::Value> = s
            .users
            .all()
            .iter()
            .map(|u| {
                let mut v = serde_json::json!({
                    "name": u.name,
                    "login_id": u.login_id,
                    "auth_mode": u.mode.as_str(),
                });
                if u.demo {
                    // Only the documented demo password is ever printed.
                    v["password"] = u.password.expose().clone().into();
                }
                v
            })
            .collect();
        let mut v = serde_json::json!({
            "event": "ready",
            "finesse_url": s.finesse.as_str(),
            "ids_url": s.ids.as_str(),
            "idp_url": s.idp.as_str(),
            "xmpp_url": self.xmpp_url().as_str(),
            "bosh_url": self.bosh_url().as_str(),
            "sides": s.sides.iter().map(Url::as_str).collect::<Vec<_>>(),
            "token_url_template": format!("{}desktop/sso/token?cc_username={{user}}&return_refresh_token=true", s.finesse),
            "system_auth_mode": s.config.auth_mode.as_str(),
            "tls": s.tls,
            "users": users,
            "pid": std::process::id(),
        });
        if let Some(u) = &s.idp_cert {
            v["idp_cert_url"] = u.as_str().into();
        }
        if let Some(p) = self.ca_file() {
            v["ca_file"] = p.display().to_string().into();
        }
        v
    }

    /// Every access token issued so far (first login and refreshes), oldest first.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.app
            .state()
            .issued_secrets
            .iter()
            .filter(|(what, _)| *what == state::ACCESS_TOKEN)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every secret value handed out so far, with what it is: access and refresh tokens,
    /// authorization codes, `state`, cookie values, SAML responses, transaction ids.
    pub fn issued_secrets(&self) -> Vec<(&'static str, String)> {
        self.app.state().issued_secrets.clone()
    }

    /// How many requests reached `path` (any method, any of the three origins).
    /// TCP connections accepted by one server (`finesse`, `finesse2`, `ids`, `idp`, …), failed
    /// TLS handshakes included.
    pub fn connection_count(&self, origin: &str) -> usize {
        self.app
            .state()
            .connection_counts
            .get(origin)
            .copied()
            .unwrap_or(0)
    }

    pub fn request_count(&self, path: &str) -> usize {
        self.app
            .state()
            .request_counts
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Query parameter names of each request to the IdP's `/steal` (`--forge leak`).
    pub fn leak_hits(&self) -> Vec<Vec<String>> {
        self.app.state().steal_hits.clone()
    }

    /// Ends every session of these kinds, as their lifetimes running out would: the next
    /// sign-in meets that server as a stranger (Finesse sends it to IdS, IdS to the IdP, the IdP
    /// asks for the password).
    pub fn end_sessions(&self, kinds: &[SignInSession]) {
        let mut st = self.app.state();
        for kind in kinds {
            match kind {
                SignInSession::Finesse => st.finesse_sessions.clear(),
                SignInSession::Ids => st.ids_sessions.clear(),
                SignInSession::Idp => st.idp_sessions.clear(),
            }
        }
    }

    /// Runtime fault switches.
    pub fn faults(&self) -> &Faults {
        &self.app.faults
    }

    /// The notification service: its fault knobs, sessions and the violations clients made.
    pub fn xmpp(&self) -> &XmppControl {
        &self.app.xmpp
    }

    /// The first side's notification endpoint, `wss://…/ws/` (`ws://` with `--no-tls`).
    pub fn xmpp_url(&self) -> Url {
        self.xmpp_url_of(1)
    }

    /// The first side's BOSH endpoint, `https://…/http-bind/` (`http://` with `--no-tls`).
    pub fn bosh_url(&self) -> Url {
        let mut u = self.app.settings.side(0).clone();
        u.set_path("/http-bind/");
        u
    }

    /// Side number `side`'s notification endpoint (1: the first).
    pub fn xmpp_url_of(&self, side: usize) -> Url {
        let mut u = self.app.settings.side(side.saturating_sub(1)).clone();
        let _ = u.set_scheme(if self.app.settings.tls { "wss" } else { "ws" });
        u.set_path("/ws/");
        u
    }

    /// Stops all three servers and waits for their accept loops to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        // Upgraded WebSocket connections are no longer the listeners': end them too.
        self.app.xmpp.drop_all();
        for s in self.servers {
            s.join().await;
        }
        // The private CA file goes with `self.ca_file` here.
        drop(self.ca_file);
    }
}
