//! The long-lived notification service client: one session at a time, reconnected with
//! backoff when it drops (two missed pings, a closed stream, a socket error), replaced with a
//! fresh credential after each token refresh (the new session is up before the old one
//! closes, and the old one's last items are still read), and each time followed by a read of
//! the User so that a caller can emit what changed while no session was up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use url::Url;

use super::connection::{Connection, Happening, Item};
use super::session::{Credential, Login};
use super::transport::Reach;
use super::update::{self, Body, Dialog, SystemStatus};
use crate::error::{Error, Result};
use crate::finesse::user::{ApiError, User};
use crate::finesse::user_api::BoxFuture;

/// What one connection needs, obtained over REST just before it opens.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub url: Url,
    pub reach: Reach,
    pub login_id: String,
    /// SystemInfo's `xmppDomain`.
    pub domain: String,
    pub credential: Credential,
}

/// The REST side, as a seam: the agent implements it with its token and the User API.
pub trait Source: Send + Sync {
    /// An authenticated REST call (the VPN-less proxy admits the WebSocket only after one),
    /// SystemInfo's domain, and a fresh credential.
    fn prepare(&self) -> BoxFuture<'_, Result<Prepared>>;
    /// The User now (after each session is up).
    fn read_user(&self) -> BoxFuture<'_, Result<User>>;
}

/// What the service reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A session is up (first, after a reconnect, or after a credential renewal).
    Up {
        jid: String,
        renewed: bool,
    },
    /// No session; the next attempt in `retry_in`.
    Down {
        reason: String,
        retry_in: Duration,
    },
    /// A User notification (`request_id` from the change's request, when Finesse echoes it).
    User {
        user: Box<User>,
        request_id: Option<String>,
    },
    /// The User read after a session came up: what changed while none was up.
    Resync(Box<User>),
    DesktopError {
        errors: Vec<ApiError>,
        request_id: Option<String>,
        source: String,
    },
    System(SystemStatus),
    /// A Dialogs update: `event` is `POST` (a new call), `PUT` (a change) or `DELETE` (ended).
    Dialogs {
        event: String,
        dialogs: Vec<Dialog>,
    },
}

/// Timings (Finesse's desktop: pings every 10 s, two missed → disconnected; reference §4.2).
#[derive(Debug, Clone)]
pub struct Options {
    pub ping_every: Duration,
    pub max_missed: u32,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// After a refused credential, wait at least this long: never a tight loop of refusals.
    pub refused_backoff: Duration,
    pub online_within: Duration,
    pub presence_wait: Duration,
    pub drain: Duration,
    /// A session that lasted this long resets the backoff when it drops.
    pub stable_after: Duration,
    /// The transport (`Reach::transport` of every session).
    pub transport: super::transport::Choice,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ping_every: Duration::from_secs(10),
            max_missed: 2,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            refused_backoff: Duration::from_secs(60),
            online_within: Duration::from_secs(20),
            presence_wait: Duration::from_secs(5),
            drain: Duration::from_secs(2),
            stable_after: Duration::from_secs(30),
            transport: Default::default(),
        }
    }
}

/// Turns one item into an event, or `None` (logged) when it is not ours or not readable:
/// only the user's own nodes and SystemInfo count, and a User update must be that user.
pub fn event_of(login_id: &str, (node, payload): &Item) -> Option<Event> {
    #[derive(PartialEq)]
    enum Node {
        User,
        Dialogs,
        System,
    }
    let own = format!("/finesse/api/User/{login_id}");
    let kind = if node.eq_ignore_ascii_case(&own) {
        Node::User
    } else if node.eq_ignore_ascii_case(&format!("{own}/Dialogs")) {
        Node::Dialogs
    } else if node.eq_ignore_ascii_case("/finesse/api/SystemInfo") {
        Node::System
    } else {
        tracing::warn!("notifications: skipped an item of another node");
        return None;
    };
    let u = match update::parse(payload) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!("notifications: skipped an unreadable update: {e}");
            return None;
        }
    };
    // A User or SystemInfo update names its own node as its source (reference §4.3).
    let source_ok = kind == Node::Dialogs || u.source.eq_ignore_ascii_case(node);
    match (kind, u.body) {
        (Node::User, Body::User(user))
            if source_ok && user.login_id.eq_ignore_ascii_case(login_id) =>
        {
            Some(Event::User {
                user,
                request_id: u.request_id,
            })
        }
        (Node::User | Node::Dialogs, Body::ApiErrors(errors)) => Some(Event::DesktopError {
            errors,
            request_id: u.request_id,
            source: u.source,
        }),
        (Node::System, Body::SystemInfo(s)) if source_ok => Some(Event::System(s)),
        (Node::Dialogs, Body::Dialogs(dialogs)) => Some(Event::Dialogs {
            event: u.event,
            dialogs,
        }),
        (_, Body::Other(what)) => {
            tracing::debug!("notifications: ignored an update of <{what}>");
            None
        }
        _ => {
            tracing::warn!(
                "notifications: skipped an update that does not belong to its node (another user, source or object)"
            );
            None
        }
    }
}

async fn connect(source: &dyn Source, opts: &Options) -> Result<(Connection, String, Vec<Item>)> {
    let mut p = source.prepare().await?;
    p.reach.transport = opts.transport;
    let login = Login {
        login_id: p.login_id.clone(),
        domain: p.domain,
        resource: Login::fresh_resource(),
        credential: p.credential,
    };
    let (conn, items) = Connection::establish(
        &p.url,
        &p.reach,
        login,
        opts.online_within,
        opts.presence_wait,
    )
    .await?;
    Ok((conn, p.login_id, items))
}

fn backoff(opts: &Options, failures: u32, refused: bool) -> Duration {
    let d = opts
        .backoff_min
        .saturating_mul(1 << failures.saturating_sub(1).min(10))
        .min(opts.backoff_max);
    if refused {
        d.max(opts.refused_backoff)
    } else {
        d
    }
}

/// Runs until `stop` turns true (or its sender goes): sessions, reconnects, renewals.
/// `renew` changes when the credential should be renewed (a new token).
pub async fn run(
    source: Arc<dyn Source>,
    opts: Options,
    mut renew: watch::Receiver<u64>,
    emit: impl Fn(Event) + Send,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    let stopped = |s: &watch::Receiver<bool>| *s.borrow();
    while !stopped(&stop) {
        renew.borrow_and_update();
        let attempt = tokio::select! {
            r = connect(source.as_ref(), &opts) => r,
            _ = stop.changed() => return,
        };
        let (mut conn, mut login_id, items) = match attempt {
            Ok(c) => c,
            Err(e) => {
                failures = failures.saturating_add(1);
                let refused = matches!(e, Error::AuthRejected { .. });
                // The VPN-less proxy's 418/429: no attempt before its wait is over.
                let retry_in =
                    backoff(&opts, failures, refused).max(e.retry_after().unwrap_or_default());
                tracing::warn!("notifications: {e}; retrying in {} s", retry_in.as_secs());
                emit(Event::Down {
                    reason: e.to_string(),
                    retry_in,
                });
                tokio::select! {
                    _ = tokio::time::sleep(retry_in) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        let up_since = tokio::time::Instant::now();
        tracing::info!("notifications: online as {}", conn.jid);
        emit(Event::Up {
            jid: conn.jid.clone(),
            renewed: false,
        });
        items
            .iter()
            .filter_map(|i| event_of(&login_id, i))
            .for_each(&emit);
        resync(source.as_ref(), &emit).await;
        let mut pings = tokio::time::interval_at(
            tokio::time::Instant::now() + opts.ping_every,
            opts.ping_every,
        );
        let lost = loop {
            tokio::select! {
                h = conn.next(&mut pings, opts.max_missed) => match h {
                    Happening::Item(i) => { if let Some(ev) = event_of(&login_id, &i) { emit(ev) } }
                    Happening::Lost(why) => break why,
                },
                changed = renew.changed() => {
                    if changed.is_err() { continue; }
                    // Make before break: the new session is up before the old one closes.
                    match connect(source.as_ref(), &opts).await {
                        Ok((new, id, items)) => {
                            let old = std::mem::replace(&mut conn, new);
                            for i in old.close(opts.drain).await {
                                if let Some(ev) = event_of(&login_id, &i) { emit(ev) }
                            }
                            login_id = id;
                            tracing::info!("notifications: renewed the credential; online as {}", conn.jid);
                            emit(Event::Up { jid: conn.jid.clone(), renewed: true });
                            items.iter().filter_map(|i| event_of(&login_id, i)).for_each(&emit);
                            resync(source.as_ref(), &emit).await;
                        }
                        Err(e) => tracing::warn!("notifications: renewing the session failed ({e}); the current one goes on"),
                    }
                }
                _ = stop.changed() => {
                    for i in conn.close(opts.drain).await {
                        if let Some(ev) = event_of(&login_id, &i) { emit(ev) }
                    }
                    return;
                }
            }
        };
        // A session that did not last is a failure too: no tight loop of connect and drop.
        if up_since.elapsed() >= opts.stable_after {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        let retry_in = if failures == 1 {
            Duration::ZERO
        } else {
            backoff(&opts, failures - 1, false)
        };
        tracing::warn!(
            "notifications: the session dropped ({lost}); reconnecting in {} ms",
            retry_in.as_millis()
        );
        emit(Event::Down {
            reason: lost,
            retry_in,
        });
        tokio::select! {
            _ = tokio::time::sleep(retry_in) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn resync(source: &dyn Source, emit: &(impl Fn(Event) + Send)) {
    match source.read_user().await {
        Ok(u) => emit(Event::Resync(Box::new(u))),
        Err(e) => tracing::warn!("notifications: reading the User after connecting failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(node: &str, update: &str) -> Item {
        (node.to_string(), update.to_string())
    }

    fn user_update(id: &str, state: &str) -> String {
        format!(
            "<Update><event>put</event><source>/finesse/api/User/{id}</source><data><user><loginId>{id}</loginId>\
             <state>{state}</state></user></data></Update>"
        )
    }

    #[test]
    fn only_our_nodes_and_our_user_count() {
        let own = "/finesse/api/User/1001";
        assert!(matches!(
            event_of("1001", &item(own, &user_update("1001", "READY"))),
            Some(Event::User { .. })
        ));
        assert_eq!(
            event_of(
                "1001",
                &item("/finesse/api/User/9", &user_update("9", "READY"))
            ),
            None
        );
        assert_eq!(
            event_of("1001", &item(own, &user_update("9", "READY"))),
            None
        );
        assert_eq!(event_of("1001", &item(own, "<Update><event>put")), None);
        assert_eq!(
            event_of(
                "1001",
                &item("/finesse/api/SystemInfo", &user_update("1001", "READY"))
            ),
            None,
            "a User update under the SystemInfo node"
        );
        let sys = "<Update><event>PUT</event><source>/finesse/api/SystemInfo</source><data><SystemInfo><status>IN_SERVICE</status></SystemInfo></data></Update>";
        assert!(matches!(
            event_of("1001", &item("/finesse/api/SystemInfo", sys)),
            Some(Event::System(_))
        ));
    }

    #[test]
    fn backoff_grows_and_refusals_wait_long() {
        let o = Options::default();
        assert_eq!(backoff(&o, 1, false), Duration::from_secs(1));
        assert_eq!(backoff(&o, 3, false), Duration::from_secs(4));
        assert_eq!(backoff(&o, 30, false), Duration::from_secs(60));
        assert_eq!(backoff(&o, 1, true), Duration::from_secs(60));
    }
}
