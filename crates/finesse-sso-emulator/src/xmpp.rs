//! Finesse's notification service: XMPP over WebSocket (RFC 7395) at `/ws/` on the Finesse
//! port, as 12.6+ serves it on 8445, and the session core that BOSH (`bosh`) shares. The
//! WebSocket upgrade, then one session per connection:
//! stream open, SASL PLAIN (an IdS access token for SSO users, the password for NON_SSO ones),
//! resource binding (`desktop` is Finesse's own: `conflict`), presence, pings both ways, and
//! the user's PubSub notifications with the fault knobs of `xmpp_config`. Strict: what a
//! client gets wrong is a stream error and a recorded violation.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use hyper::body::Incoming;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::app::App;
use crate::response::Resp;
use crate::state::random_id;
use crate::xmpp_hub::{FORCED_LOGOUT_REASON, Published, XmppSession};
use crate::xmpp_stanza::{self as st, Inbound, IqChild};

/// The XMPP domain (SystemInfo's `xmppDomain`) and the PubSub service's.
pub(crate) const DOMAIN: &str = "127.0.0.1";
pub(crate) const PUBSUB_DOMAIN: &str = "pubsub.127.0.0.1";
/// The resource Finesse's own desktop binds (reference §4.2).
const RESERVED_RESOURCE: &str = "desktop";

/// Whether a request is for the notification endpoint.
pub(crate) fn is_ws_path(path: &str) -> bool {
    path == "/ws/" || path == "/ws"
}

/// Checks the upgrade request and answers 101, serving the session on the upgraded
/// connection; a request that is no WebSocket upgrade with the `xmpp` subprotocol is a 400.
pub(crate) fn accept(app: Arc<App>, side: usize, mut req: Request<Incoming>) -> Resp {
    let h = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let has = |v: &str, token: &str| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token));
    let refuse = |why: &str| {
        app.xmpp.violation(format!("WebSocket upgrade: {why}"));
        Resp::api_error(400, "Bad Request", why)
    };
    if req.method() != Method::GET {
        return refuse("the upgrade must be a GET");
    }
    if !has(&h("upgrade"), "websocket") || !has(&h("connection"), "upgrade") {
        return refuse("not a WebSocket upgrade (Upgrade: websocket, Connection: Upgrade)");
    }
    if h("sec-websocket-version") != "13" {
        return refuse("Sec-WebSocket-Version must be 13");
    }
    let key = h("sec-websocket-key");
    if key.is_empty() {
        return refuse("no Sec-WebSocket-Key");
    }
    // RFC 7395 §3.1: the client must offer, and the server select, the `xmpp` subprotocol.
    if !has(&h("sec-websocket-protocol"), "xmpp") {
        return refuse("the subprotocol `xmpp` is not offered (Sec-WebSocket-Protocol)");
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let io = match upgrade.await {
            Ok(io) => io,
            Err(e) => {
                tracing::debug!("WebSocket upgrade failed: {e}");
                return;
            }
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(st::MAX_CLIENT_FRAME))
            .max_frame_size(Some(st::MAX_CLIENT_FRAME));
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, Some(config)).await;
        Session::new(app, side, true).run(ws).await;
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    Resp::new(101, crate::response::TEXT, Vec::new())
        .with_header("upgrade", "websocket")
        .with_header("connection", "Upgrade")
        .with_header("sec-websocket-accept", &accept)
        .with_header("sec-websocket-protocol", "xmpp")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Auth,
    Reopen,
    Bind,
    Bound,
}

/// Why a session ends: cleanly, or by a fault or a violation (then the stream error to send).
pub(crate) enum End {
    Closed(&'static str),
    Error(&'static str, String),
    Dropped(&'static str),
}

/// One XMPP session, whatever carries it: frames in, frames out (queued in a `Vec`), so that the
/// WebSocket (here) and BOSH (`bosh`) framings share every rule.
pub(crate) struct Session {
    app: Arc<App>,
    /// RFC 7395 framing: the server answers `<open/>` with its own; BOSH carries none.
    websocket: bool,
    /// The Finesse side whose service this connection reached (0: the first).
    side: usize,
    phase: Phase,
    record: usize,
    /// The authenticated user: login name and login id.
    user: Option<(String, String)>,
    jid: String,
    available: bool,
    /// The id of our ping that awaits its answer.
    outstanding: Option<String>,
    pings: u64,
}

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

impl Session {
    pub(crate) fn new(app: Arc<App>, side: usize, websocket: bool) -> Self {
        let record = app.xmpp.record(XmppSession {
            side: side + 1,
            user: String::new(),
            auth: "",
            resource: String::new(),
            rest_before: false,
            pongs: 0,
            pings: 0,
            ended: None,
        });
        Session {
            app,
            websocket,
            side,
            phase: Phase::Open,
            record,
            user: None,
            jid: String::new(),
            available: false,
            outstanding: None,
            pings: 0,
        }
    }

    async fn run(mut self, mut ws: Ws) {
        let mut events = self.app.xmpp.subscribe();
        let mut kill = self.app.xmpp.kill_switch();
        let mut timers = Timers::idle();
        let mut out = Vec::new();
        let end = loop {
            let step = tokio::select! {
                frame = ws.next() => {
                    let text = match frame {
                        None | Some(Err(_)) => break End::Dropped("the client went away"),
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(_))) => break End::Closed("WebSocket close"),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(_)) => break End::Error("unsupported-stanza-type", "a binary frame (RFC 7395 uses text frames)".into()),
                    };
                    let was = self.is_bound();
                    let step = self.on_frame(&mut out, text.as_str());
                    if !was && self.is_bound() {
                        timers = Timers::bound(&self.app);
                    }
                    step
                }
                published = events.recv() => match published {
                    Ok(p) => self.on_published(&mut out, &p),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break End::Dropped("shut down"),
                },
                _ = sleep_until(timers.ping_at) => {
                    timers.ping_at = Instant::now() + self.app.xmpp.server_ping();
                    self.on_ping_due(&mut out)
                }
                _ = sleep_until(timers.drop_at) => Some(End::Dropped("--xmpp-drop-after")),
                _ = kill.changed() => Some(End::Dropped("dropped (fault knob)")),
            };
            let mut gone = false;
            for frame in out.drain(..) {
                gone = gone || send(&mut ws, frame).await.is_err();
            }
            if gone {
                break End::Dropped("the client went away");
            }
            if let Some(end) = step {
                break end;
            }
        };
        let why = match end {
            End::Closed(why) => {
                let _ = send(&mut ws, st::close()).await;
                let _ = ws.close(None).await;
                why.to_string()
            }
            End::Error(condition, text) => {
                self.app.xmpp.violation(format!("{condition}: {text}"));
                let _ = send(&mut ws, st::stream_error(condition, &text)).await;
                let _ = send(&mut ws, st::close()).await;
                let _ = ws.close(None).await;
                format!("{condition}: {text}")
            }
            // Dropped: the socket goes with `ws`, without a word.
            End::Dropped(why) => why.to_string(),
        };
        drop(ws);
        self.finish(why);
    }

    /// Handles one client frame, queueing the answers in `out`; `Some(end)` ends the session.
    pub(crate) fn on_frame(&mut self, out: &mut Vec<String>, text: &str) -> Option<End> {
        match st::parse(text) {
            Ok(frame) => self.on_inbound(out, frame),
            Err(e) => Some(End::Error("not-well-formed", e)),
        }
    }

    /// Handles one parsed frame (BOSH passes its session creation and restarts as `Open`).
    pub(crate) fn on_inbound(&mut self, out: &mut Vec<String>, frame: Inbound) -> Option<End> {
        let bad = |what: String| Some(End::Error("bad-format", what));
        match (self.phase, frame) {
            (Phase::Open | Phase::Reopen, Inbound::Open { to, version }) => {
                if to.as_deref() != Some(DOMAIN) {
                    return Some(End::Error(
                        "host-unknown",
                        format!(
                            "<open to={to:?}>: this service is {DOMAIN} (SystemInfo xmppDomain)"
                        ),
                    ));
                }
                if version.as_deref() != Some("1.0") {
                    return bad(format!("<open version={version:?}>, not 1.0"));
                }
                let (features, next) = if self.phase == Phase::Open {
                    (st::features_sasl(), Phase::Auth)
                } else {
                    (st::features_bind(), Phase::Bind)
                };
                if self.websocket {
                    out.push(st::open(DOMAIN, &random_id(8)));
                }
                out.push(features);
                self.phase = next;
            }
            (Phase::Auth, Inbound::Auth { mechanism, payload }) => {
                if mechanism.as_deref() != Some("PLAIN") {
                    return Some(End::Error(
                        "policy-violation",
                        format!("SASL mechanism {mechanism:?}: only PLAIN is offered"),
                    ));
                }
                match self.authenticate(&payload) {
                    Ok(()) => {
                        out.push(st::sasl_success());
                        self.phase = Phase::Reopen;
                    }
                    Err(why) => {
                        out.push(st::sasl_failure("not-authorized", &why));
                        return Some(End::Closed("SASL failure"));
                    }
                }
            }
            (
                Phase::Bind | Phase::Bound,
                Inbound::Iq {
                    id,
                    kind,
                    child: IqChild::Session,
                },
            ) if kind == "set" => {
                out.push(st::iq_result(&id.unwrap_or_default(), DOMAIN, &self.jid));
            }
            (
                Phase::Bind,
                Inbound::Iq {
                    id,
                    kind,
                    child: IqChild::Bind { resource },
                },
            ) if kind == "set" => {
                let id = id.unwrap_or_default();
                let resource = resource.unwrap_or_default();
                if resource.is_empty() {
                    out.push(st::iq_error(
                        &id,
                        "modify",
                        "bad-request",
                        "set a resource: Finesse clients always name theirs",
                    ));
                } else if resource == RESERVED_RESOURCE {
                    out.push(st::iq_error(
                        &id,
                        "cancel",
                        "conflict",
                        "the resource `desktop` is the Finesse desktop's",
                    ));
                } else {
                    let login_id = self.user.as_ref().map(|u| u.1.clone()).unwrap_or_default();
                    self.jid = format!("{}@{DOMAIN}/{resource}", login_id.to_lowercase());
                    self.app.xmpp.update(self.record, |r| r.resource = resource);
                    out.push(st::bind_result(&id, &self.jid));
                    self.phase = Phase::Bound;
                }
            }
            (
                Phase::Bound,
                Inbound::Presence {
                    kind: None,
                    priority,
                },
            ) => {
                let ok = priority
                    .as_deref()
                    .is_none_or(|p| p.parse::<i8>().is_ok_and(|p| p >= 0));
                if !ok {
                    return bad(format!(
                        "presence priority {priority:?}: Finesse needs a non-negative one"
                    ));
                }
                if !self.available {
                    self.available = true;
                    let login_id = self.login_id();
                    self.app.xmpp.presence_up(&login_id);
                    out.push(st::finesse_presence(DOMAIN, &self.jid));
                }
            }
            (Phase::Bound, Inbound::Presence { kind: Some(k), .. }) if k == "unavailable" => {
                if self.available {
                    self.unavailable();
                }
            }
            (
                Phase::Bound,
                Inbound::Iq {
                    id,
                    kind,
                    child: IqChild::Ping,
                },
            ) if kind == "get" => {
                self.app.xmpp.update(self.record, |r| r.pings += 1);
                if !self.app.xmpp.no_pong() {
                    out.push(st::iq_result(&id.unwrap_or_default(), DOMAIN, &self.jid));
                }
            }
            (
                Phase::Bound,
                Inbound::Iq {
                    id,
                    kind,
                    child: IqChild::Empty,
                },
            ) if kind == "result" => {
                if id.is_none() || id != self.outstanding {
                    return bad(format!(
                        "an IQ result with id {id:?} answers no ping of ours"
                    ));
                }
                self.outstanding = None;
                self.app.xmpp.update(self.record, |r| r.pongs += 1);
            }
            (_, Inbound::Close) => return Some(End::Closed("<close/>")),
            (phase, frame) => {
                let condition = if self.user.is_none() {
                    "not-authorized"
                } else {
                    "unsupported-stanza-type"
                };
                return Some(End::Error(
                    condition,
                    format!("{frame:?} is not allowed in phase {phase:?}"),
                ));
            }
        }
        None
    }

    /// SASL PLAIN: `authzid \0 authcid \0 password`. The authcid is the login id (or name);
    /// an SSO user's password is a valid IdS access token of that user (reference §4.4, inferred),
    /// a NON_SSO user's is the password. The answer never repeats the credential.
    fn authenticate(&mut self, payload: &str) -> Result<(), String> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|_| "the PLAIN payload is not base64".to_string())?;
        let mut parts = raw.split(|b| *b == 0);
        let (Some(authzid), Some(authcid), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the PLAIN payload is not authzid NUL authcid NUL password".into());
        };
        let authcid = String::from_utf8_lossy(authcid).to_string();
        let secret = String::from_utf8_lossy(secret).to_string();
        let user = self
            .app
            .settings
            .users
            .find(&authcid)
            .cloned()
            .ok_or_else(|| "unknown user".to_string())?;
        if !authzid.is_empty() && authzid != user.login_id.as_bytes() {
            return Err("the authorization id is not the user's".into());
        }
        let how = if self.app.effective_mode(&user) == "NON_SSO" {
            if user.password.expose() != &secret {
                return Err("wrong password".into());
            }
            "password"
        } else {
            let v = self
                .app
                .tokens
                .verify(&secret, "access")
                .map_err(|e| format!("the SSO token is not valid: {e}"))?;
            if v.sub.user_id.as_deref() != Some(user.name.as_str()) {
                return Err("the SSO token belongs to another user".into());
            }
            "token"
        };
        let rest_before = self.app.xmpp.rest_seen(&user.name);
        self.app.xmpp.update(self.record, |r| {
            r.user = user.name.clone();
            r.auth = how;
            r.rest_before = rest_before;
        });
        self.user = Some((user.name, user.login_id));
        Ok(())
    }

    fn login_id(&self) -> String {
        self.user.as_ref().map(|u| u.1.clone()).unwrap_or_default()
    }

    /// OpenFire routes events only to available sessions of the node's user.
    fn wants(&self, p: &Published) -> bool {
        self.available
            && p.login_id
                .as_deref()
                .is_none_or(|id| self.user.as_ref().is_some_and(|u| u.1 == id))
    }

    /// A published update for this session: queued if it is for this user and side;
    /// `Some(end)` when the side goes out of service with it.
    pub(crate) fn on_published(&self, out: &mut Vec<String>, p: &Published) -> Option<End> {
        if p.side.is_some_and(|s| s != self.side) {
            return None;
        }
        if self.wants(p) {
            if self.app.xmpp.malformed() {
                out.extend(self.hostile(&p.node));
            }
            let item = self.app.xmpp.next_item();
            out.push(st::notification(
                PUBSUB_DOMAIN,
                &self.jid,
                &p.node,
                &item,
                &p.update,
            ));
        }
        p.then_drop
            .then_some(End::Dropped("the Finesse side went OUT_OF_SERVICE"))
    }

    /// The server's ping is due: the previous one unanswered ends the session.
    pub(crate) fn on_ping_due(&mut self, out: &mut Vec<String>) -> Option<End> {
        if self.outstanding.is_some() {
            return Some(End::Error(
                "connection-timeout",
                "the client did not answer the server's ping".into(),
            ));
        }
        self.pings += 1;
        let id = format!("srv-ping-{}", self.pings);
        out.push(st::ping(&id, DOMAIN, &self.jid));
        self.outstanding = Some(id);
        None
    }

    pub(crate) fn is_bound(&self) -> bool {
        self.phase == Phase::Bound
    }

    /// Records why the session ended and takes its presence away.
    pub(crate) fn finish(mut self, why: String) {
        self.app.xmpp.update(self.record, |r| r.ended = Some(why));
        if self.available {
            self.unavailable();
        }
    }

    /// The frames of `--xmpp-malformed`: each would change what a careless client reports.
    fn hostile(&self, node: &str) -> Vec<String> {
        let login_id = self.login_id();
        let ready = |id: &str| {
            format!(
                "<user><loginId>{id}</loginId><state>TALKING</state><extension>6666</extension></user>"
            )
        };
        let n = |node: &str, update: &str| {
            st::notification(PUBSUB_DOMAIN, &self.jid, node, "hostile", update)
        };
        vec![
            format!("<message xmlns=\"{}\"><event", st::NS_CLIENT),
            n(
                node,
                &format!(
                    "{}{}",
                    st::user_update(&login_id, &ready(&login_id), None),
                    " ".repeat(300 * 1024)
                ),
            ),
            n(node, "<Update><event>put</event><data><user><state>TALKING"),
            n(
                node,
                &format!(
                    "<!DOCTYPE Update [<!ENTITY s \"TALKING\">]>{}",
                    st::user_update(
                        &login_id,
                        "<user><loginId>x</loginId><state>&s;</state></user>",
                        None
                    )
                ),
            ),
            n(
                "/finesse/api/User/9999",
                &st::user_update("9999", &ready("9999"), None),
            ),
            n(node, &st::user_update(&login_id, &ready("9999"), None)),
            // A call on another user's Dialogs node, and one without an id on this user's.
            n(
                "/finesse/api/User/9999/Dialogs",
                &st::dialog_update("POST", "9999", "666", &stray_dialog("<id>666</id>")),
            ),
            n(
                &format!("/finesse/api/User/{login_id}/Dialogs"),
                &st::dialog_update("POST", &login_id, "", &stray_dialog("")),
            ),
        ]
    }

    /// Presence went away; with none left, sign the agent out after the knob's delay
    /// (reason 255) unless presence comes back first.
    fn unavailable(&mut self) {
        self.available = false;
        let login_id = self.login_id();
        let Some((gen_at, after)) = self.app.xmpp.presence_down(&login_id) else {
            return;
        };
        let app = self.app.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if !app.xmpp.still_absent(&login_id, gen_at) {
                return;
            }
            if let Some(xml) = crate::user_api::force_logout(&app, &login_id, FORCED_LOGOUT_REASON)
            {
                tracing::info!(
                    "forced logout of {login_id} (reason {FORCED_LOGOUT_REASON}): no presence for {after:?}"
                );
                app.xmpp.publish_user(&login_id, &xml, None);
            }
        });
    }
}

/// When the server pings next and when `--xmpp-drop-after` drops the session: never until bound.
pub(crate) struct Timers {
    pub ping_at: Instant,
    pub drop_at: Instant,
}

impl Timers {
    pub(crate) fn idle() -> Self {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        Timers {
            ping_at: far,
            drop_at: far,
        }
    }

    pub(crate) fn bound(app: &App) -> Self {
        let idle = Self::idle();
        Timers {
            ping_at: Instant::now() + app.xmpp.server_ping(),
            drop_at: app
                .xmpp
                .drop_after()
                .map_or(idle.drop_at, |d| Instant::now() + d),
        }
    }
}

async fn send(ws: &mut Ws, frame: String) -> Result<(), ()> {
    ws.send(Message::text(frame)).await.map_err(|_| ())
}

/// A ringing call from 666 for the malformed knob; `id` is its `<id>` element, if any.
fn stray_dialog(id: &str) -> String {
    format!(
        "<Dialog><fromAddress>666</fromAddress>{id}<mediaProperties><callType>ACD_IN</callType>\
         </mediaProperties><state>ALERTING</state><toAddress>6666</toAddress></Dialog>"
    )
}
