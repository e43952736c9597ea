//! The notification service's shared state: the PubSub fan-out of `<Update>`s to the sessions
//! of a user, presence per user and the forced logout (reason 255) it drives, the runtime fault
//! knobs, the live BOSH sessions, and what tests inspect (session records, protocol violations by clients).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};

use crate::bosh_body::Exchange;
use crate::config::EmulatorConfig;
use crate::xmpp_config::XmppTransport;

/// SystemInfo `status` values (reference §1.2, SystemInfo).
pub(crate) const IN_SERVICE: &str = "IN_SERVICE";
pub(crate) const OUT_OF_SERVICE: &str = "OUT_OF_SERVICE";

/// Finesse's reason code for a sign-out forced by lost presence (reference §4.2).
pub(crate) const FORCED_LOGOUT_REASON: i64 = 255;

/// One published update: for one user's sessions, or for everyone (SystemInfo), on every
/// side or on one (a side's own SystemInfo status).
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub login_id: Option<String>,
    /// Only the sessions of this side (0: the first); `None`: every side (the shared CTI state).
    pub side: Option<usize>,
    pub node: String,
    pub update: Arc<str>,
    /// After this update, the side's sessions are dropped (it went out of service).
    pub then_drop: bool,
}

/// One notification session as the emulator saw it (for tests; no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmppSession {
    /// The Finesse side number whose service the connection reached (1: the first).
    pub side: usize,
    /// The login name of the authenticated user (empty before SASL succeeded).
    pub user: String,
    /// `token` (SSO: an IdS access token) or `password` (NON_SSO).
    pub auth: &'static str,
    /// The bound resource (empty before binding).
    pub resource: String,
    /// The user had made an authenticated User API request before this connection opened
    /// (the VPN-less proxy requires one, reference §7.1).
    pub rest_before: bool,
    /// Server pings the client answered.
    pub pongs: u32,
    /// Client pings the server answered.
    pub pings: u32,
    /// Why the session ended (`None` while it runs).
    pub ended: Option<String>,
}

#[derive(Debug)]
struct Knobs {
    server_ping: Duration,
    forced_logout: Duration,
    drop_after: Option<Duration>,
    no_pong: bool,
    malformed: bool,
    device_busy: bool,
}

#[derive(Debug, Default)]
struct HubState {
    /// login id → sessions with available presence.
    presence: HashMap<String, u32>,
    /// login id → generation of its presence; a forced-logout timer acts only if unchanged.
    presence_gen: HashMap<String, u64>,
    /// Login names that made an authenticated User API request.
    rest_seen: HashSet<String>,
    sessions: Vec<XmppSession>,
    violations: Vec<String>,
    /// Each side's SystemInfo `status`, first side first.
    system_status: Vec<String>,
    item: u64,
}

/// Runtime control of the notification service (`Emulator::xmpp()`).
#[derive(Debug)]
pub struct XmppControl {
    tx: broadcast::Sender<Published>,
    knobs: Mutex<Knobs>,
    state: Mutex<HubState>,
    /// Bumped to drop every open connection now.
    kill: watch::Sender<u64>,
    /// Live BOSH sessions: sid → their task's inbox.
    bosh: Mutex<HashMap<String, mpsc::Sender<Exchange>>>,
    pub(crate) transport: XmppTransport,
    pub(crate) bosh_wait: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl XmppControl {
    /// Publishes the User notification of `login_id` (after a change through the User API or a
    /// forced logout).
    pub(crate) fn publish_user(&self, login_id: &str, user_xml: &str, request_id: Option<&str>) {
        self.publish(Published {
            login_id: Some(login_id.to_string()),
            side: None,
            node: format!("/finesse/api/User/{login_id}"),
            update: crate::xmpp_stanza::user_update(login_id, user_xml, request_id).into(),
            then_drop: false,
        });
    }

    /// Publishes a Dialogs update of `login_id` on its Dialogs node (a call, `crate::call`).
    pub(crate) fn publish_dialog(&self, login_id: &str, update: String) {
        self.publish(Published {
            login_id: Some(login_id.to_string()),
            side: None,
            node: format!("/finesse/api/User/{login_id}/Dialogs"),
            update: update.into(),
            then_drop: false,
        });
    }

    /// Publishes an asynchronous CTI error for `login_id` (reference §1.3).
    pub(crate) fn publish_api_error(
        &self,
        login_id: &str,
        error_type: &str,
        message: &str,
        request_id: Option<&str>,
    ) {
        let source = format!("/finesse/api/User/{login_id}");
        self.publish(Published {
            login_id: Some(login_id.to_string()),
            side: None,
            update: crate::xmpp_stanza::api_errors_update(
                &source, error_type, message, "", request_id,
            )
            .into(),
            node: source,
            then_drop: false,
        });
    }

    /// The service of `sides` Finesse sides; those `--out-of-service` names start out of service.
    pub(crate) fn new(config: &EmulatorConfig, sides: usize) -> Self {
        let c = &config.xmpp;
        let system_status = (1..=sides)
            .map(|n| match config.out_of_service.contains(&n) {
                true => OUT_OF_SERVICE.to_string(),
                false => IN_SERVICE.to_string(),
            })
            .collect();
        XmppControl {
            tx: broadcast::channel(1024).0,
            knobs: Mutex::new(Knobs {
                server_ping: c.xmpp_server_ping,
                forced_logout: c.xmpp_forced_logout,
                drop_after: c.xmpp_drop_after,
                no_pong: c.xmpp_no_pong,
                malformed: c.xmpp_malformed,
                device_busy: c.xmpp_device_busy,
            }),
            state: Mutex::new(HubState {
                system_status,
                ..HubState::default()
            }),
            kill: watch::channel(0).0,
            bosh: Mutex::default(),
            transport: c.xmpp_transport,
            bosh_wait: c.xmpp_bosh_wait,
        }
    }

    /// Drops every open notification connection now (no `<close/>`, no WebSocket close).
    pub fn drop_all(&self) {
        self.kill.send_modify(|g| *g += 1);
    }

    /// Stop (or resume) answering the clients' pings.
    pub fn set_no_pong(&self, on: bool) {
        lock(&self.knobs).no_pong = on;
    }

    /// Send (or stop sending) malformed and hostile frames before each notification.
    pub fn set_malformed(&self, on: bool) {
        lock(&self.knobs).malformed = on;
    }

    /// Fail (or stop failing) each LOGIN asynchronously with `Device Busy`.
    pub fn set_device_busy(&self, on: bool) {
        lock(&self.knobs).device_busy = on;
    }

    /// How long after a user's presence goes away the agent is signed out (reason 255).
    pub fn set_forced_logout(&self, after: Duration) {
        lock(&self.knobs).forced_logout = after;
    }

    /// Drop each connection this long after it is established (`None`: never).
    pub fn set_drop_after(&self, after: Option<Duration>) {
        lock(&self.knobs).drop_after = after;
    }

    /// Every session so far, oldest first.
    pub fn sessions(&self) -> Vec<XmppSession> {
        lock(&self.state).sessions.clone()
    }

    /// What clients sent that the protocol does not allow, oldest first (empty when all is well).
    pub fn violations(&self) -> Vec<String> {
        lock(&self.state).violations.clone()
    }

    /// How many sessions of `login_id` have available presence now.
    pub fn present(&self, login_id: &str) -> u32 {
        lock(&self.state)
            .presence
            .get(login_id)
            .copied()
            .unwrap_or(0)
    }

    /// SystemInfo's `status` on side `side` (0: the first).
    pub(crate) fn system_status(&self, side: usize) -> String {
        lock(&self.state)
            .system_status
            .get(side)
            .cloned()
            .unwrap_or_else(|| IN_SERVICE.into())
    }

    /// Whether side `side` serves requests (it answers only SystemInfo when not).
    pub(crate) fn in_service(&self, side: usize) -> bool {
        self.system_status(side) != OUT_OF_SERVICE
    }

    /// Sets SystemInfo's `status` on every side and notifies every session (nothing is dropped).
    pub fn set_system_status(&self, status: &str) {
        lock(&self.state)
            .system_status
            .iter_mut()
            .for_each(|s| *s = status.to_string());
        self.publish(Published {
            login_id: None,
            side: None,
            node: "/finesse/api/SystemInfo".into(),
            update: crate::xmpp_stanza::system_info_update(status).into(),
            then_drop: false,
        });
    }

    /// Takes Finesse side number `side` (1: the first) out of service, or puts it back. Out:
    /// its sessions are told OUT_OF_SERVICE on SystemInfo and then dropped, and it answers
    /// every request but SystemInfo with 503 until it is back. The other side goes on.
    pub fn set_in_service(&self, side: usize, in_service: bool) {
        let index = side.saturating_sub(1);
        let status = if in_service {
            IN_SERVICE
        } else {
            OUT_OF_SERVICE
        };
        {
            let mut s = lock(&self.state);
            match s.system_status.get_mut(index) {
                Some(slot) if side >= 1 => *slot = status.to_string(),
                _ => {
                    tracing::warn!("set_in_service: there is no Finesse side {side}");
                    return;
                }
            }
        }
        tracing::info!("Finesse side {side} is now {status}");
        self.publish(Published {
            login_id: None,
            side: Some(index),
            node: "/finesse/api/SystemInfo".into(),
            update: crate::xmpp_stanza::system_info_update(status).into(),
            then_drop: !in_service,
        });
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.tx.subscribe()
    }

    pub(crate) fn kill_switch(&self) -> watch::Receiver<u64> {
        self.kill.subscribe()
    }

    pub(crate) fn publish(&self, p: Published) {
        let _ = self.tx.send(p);
    }

    pub(crate) fn next_item(&self) -> String {
        let mut s = lock(&self.state);
        s.item += 1;
        format!("item-{}", s.item)
    }

    pub(crate) fn server_ping(&self) -> Duration {
        lock(&self.knobs).server_ping
    }

    pub(crate) fn drop_after(&self) -> Option<Duration> {
        lock(&self.knobs).drop_after
    }

    pub(crate) fn no_pong(&self) -> bool {
        lock(&self.knobs).no_pong
    }

    pub(crate) fn malformed(&self) -> bool {
        lock(&self.knobs).malformed
    }

    pub(crate) fn device_busy(&self) -> bool {
        lock(&self.knobs).device_busy
    }

    pub(crate) fn bosh_session(&self, sid: &str) -> Option<mpsc::Sender<Exchange>> {
        lock(&self.bosh).get(sid).cloned()
    }

    pub(crate) fn bosh_open(&self, sid: String, inbox: mpsc::Sender<Exchange>) {
        lock(&self.bosh).insert(sid, inbox);
    }

    pub(crate) fn bosh_close(&self, sid: &str) {
        lock(&self.bosh).remove(sid);
    }

    pub(crate) fn violation(&self, what: String) {
        tracing::warn!("notification client broke the protocol: {what}");
        lock(&self.state).violations.push(what);
    }

    pub(crate) fn rest_call(&self, user: &str) {
        lock(&self.state).rest_seen.insert(user.to_string());
    }

    pub(crate) fn rest_seen(&self, user: &str) -> bool {
        lock(&self.state).rest_seen.contains(user)
    }

    /// Adds a session record; its index is how the session updates it.
    pub(crate) fn record(&self, r: XmppSession) -> usize {
        let mut s = lock(&self.state);
        s.sessions.push(r);
        s.sessions.len() - 1
    }

    pub(crate) fn update(&self, index: usize, f: impl FnOnce(&mut XmppSession)) {
        if let Some(r) = lock(&self.state).sessions.get_mut(index) {
            f(r);
        }
    }

    /// A session of `login_id` became available.
    pub(crate) fn presence_up(&self, login_id: &str) {
        let mut s = lock(&self.state);
        *s.presence.entry(login_id.to_string()).or_insert(0) += 1;
        *s.presence_gen.entry(login_id.to_string()).or_insert(0) += 1;
    }

    /// A session of `login_id` went unavailable. When none is left, returns the generation and
    /// the delay after which the agent is to be signed out (if nothing changes meanwhile).
    pub(crate) fn presence_down(&self, login_id: &str) -> Option<(u64, Duration)> {
        let after = lock(&self.knobs).forced_logout;
        let mut s = lock(&self.state);
        let n = s.presence.entry(login_id.to_string()).or_insert(0);
        *n = n.saturating_sub(1);
        if *n > 0 {
            return None;
        }
        let g = s.presence_gen.entry(login_id.to_string()).or_insert(0);
        *g += 1;
        Some((*g, after))
    }

    /// Whether a forced-logout timer started at generation `gen` may still act.
    pub(crate) fn still_absent(&self, login_id: &str, gen_at: u64) -> bool {
        let s = lock(&self.state);
        s.presence.get(login_id).copied().unwrap_or(0) == 0
            && s.presence_gen.get(login_id).copied().unwrap_or(0) == gen_at
    }
}
