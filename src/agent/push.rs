//! What one subscriber is sent: the current token (if valid and wanted), for a notifications
//! subscriber the session's state and the User as last told, then every change after it, as
//! the subscription asked (`tokens`, `format`), in the order the agent saw them; a User or a
//! session state equal to the last one this subscriber got is not sent twice. A subscriber
//! that falls behind the broadcast gets the newest token and the last User instead of the
//! ones it missed.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::sync::broadcast;

use super::feed::{Feed, material};
use super::keeper::{Change, Keeper};
use super::out::Out;
use crate::finesse::user::User;
use crate::ipc::acqueon;
use crate::ipc::events::{
    DesktopErrorEvent, DialogEvent, EVENT_DESKTOP_ERROR, EVENT_DIALOG, EVENT_NOTIFICATIONS,
    EVENT_SYSTEM, Notice, NotificationsEvent, SessionState, SubscribeRequest, SystemEvent,
};
use crate::ipc::protocol::{self, EVENT_LOGGED_OUT, EVENT_TOKEN, Event, Id};

/// How one subscription wants its events.
#[derive(Debug, Clone)]
pub struct Wants {
    pub id: Option<Id>,
    pub tokens: bool,
    pub acqueon: bool,
    /// Holds the notification session: starts with its state and the User.
    pub notifications: bool,
}

impl Wants {
    pub fn of(id: Option<Id>, r: &SubscribeRequest) -> Wants {
        Wants {
            id,
            tokens: r.tokens,
            acqueon: r.format.as_deref() == Some("acqueon"),
            notifications: r.notifications,
        }
    }
}

/// Lines for one subscriber; `previous` is the last User it was sent (for Acqueon's Login).
struct Formatter {
    wants: Wants,
    previous: Option<User>,
    session: Option<SessionState>,
}

impl Formatter {
    /// The `user` line, or `None` when this subscriber already has this User.
    fn user(&mut self, u: &User, request_id: Option<String>) -> Option<String> {
        if self
            .previous
            .as_ref()
            .is_some_and(|p| material(p) == material(u))
        {
            return None;
        }
        let was_in = self.previous.as_ref().is_some_and(User::signed_in);
        self.previous = Some(u.clone());
        if !self.wants.acqueon {
            return Some(super::desktop::user_event(
                self.wants.id.clone(),
                u,
                request_id,
            ));
        }
        let id = self.wants.id.as_ref();
        // Acqueon's Login event when the agent comes in; its agent state otherwise.
        let v = if u.signed_in() && !was_in {
            acqueon::login_event(id, u)
        } else {
            acqueon::agent_state(id, u)
        };
        Some(protocol::line(&v))
    }

    fn notice(&mut self, n: &Notice) -> Option<String> {
        if let Notice::Session(s) = n {
            if self.session.as_ref() == Some(s) {
                return None;
            }
            self.session = Some(s.clone());
        }
        let id = self.wants.id.clone();
        if self.wants.acqueon {
            return match n {
                Notice::Dialog(c) => Some(protocol::line(&acqueon::calls_state_change_event(
                    id.as_ref(),
                    c,
                ))),
                Notice::System(s) => Some(protocol::line(&acqueon::system_event(
                    id.as_ref(),
                    &s.status,
                ))),
                Notice::DesktopError(e) => Some(protocol::line(&acqueon::desktop_error_event(
                    id.as_ref(),
                    e,
                ))),
                Notice::Session(s) => Some(protocol::line(&acqueon::connection_status_event(
                    id.as_ref(),
                    s,
                ))),
            };
        }
        Some(match n {
            Notice::Dialog(c) => protocol::line(&DialogEvent {
                event: EVENT_DIALOG.into(),
                id,
                dialog: c.clone(),
            }),
            Notice::System(s) => protocol::line(&SystemEvent {
                event: EVENT_SYSTEM.into(),
                id,
                system: s.clone(),
            }),
            Notice::DesktopError(e) => protocol::line(&DesktopErrorEvent {
                event: EVENT_DESKTOP_ERROR.into(),
                id,
                error: e.clone(),
            }),
            Notice::Session(s) => protocol::line(&NotificationsEvent {
                event: EVENT_NOTIFICATIONS.into(),
                id,
                session: s.clone(),
            }),
        })
    }
}

/// Pushes the current token (if valid and wanted) and then every change to one subscriber.
pub async fn forward<W: AsyncWrite + Unpin>(
    keeper: Arc<Keeper>,
    feed: Arc<Feed>,
    mut changes: broadcast::Receiver<Change>,
    wants: Wants,
    out: Arc<Out<W>>,
) {
    let id = wants.id.clone();
    let tokens = wants.tokens;
    let event = |h: &super::held::Held| Event {
        event: EVENT_TOKEN.into(),
        id: id.clone(),
        result: Some(keeper.info(h)),
    };
    let snapshot = wants.notifications;
    let mut f = Formatter {
        wants,
        // Without a snapshot, the User last told still decides Acqueon's Login event.
        previous: if snapshot { None } else { feed.last_user() },
        session: None,
    };
    let mut last_serial = 0;
    let mut first = Vec::new();
    if let Some(h) = keeper.current(Duration::ZERO) {
        last_serial = h.serial;
        if tokens {
            first.push(protocol::line(&event(&h)));
        }
    }
    if snapshot {
        let session = feed.last_session().map(Notice::Session);
        first.extend(session.and_then(|s| f.notice(&s)));
        first.extend(feed.last_user().and_then(|u| f.user(&u, None)));
    }
    for line in first {
        if !out.send(&line).await {
            return;
        }
    }
    loop {
        let lines: Vec<String> = match changes.recv().await {
            Ok(Change::Token(h)) if h.serial > last_serial => {
                last_serial = h.serial;
                tokens
                    .then(|| protocol::line(&event(&h)))
                    .into_iter()
                    .collect()
            }
            Ok(Change::Token(_)) => continue,
            Ok(Change::LoggedOut) => vec![protocol::line(&Event {
                event: EVENT_LOGGED_OUT.into(),
                id: id.clone(),
                result: None,
            })],
            Ok(Change::User(u, request_id)) => f.user(&u, request_id).into_iter().collect(),
            Ok(Change::Notice(n)) => f.notice(&n).into_iter().collect(),
            // Missed some: the newest token and the last User are what matter.
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("a subscriber fell {n} events behind; sending it the newest state");
                let mut v = Vec::new();
                if let Some(h) = keeper
                    .current(Duration::ZERO)
                    .filter(|h| h.serial > last_serial)
                {
                    last_serial = h.serial;
                    if tokens {
                        v.push(protocol::line(&event(&h)));
                    }
                }
                v.extend(feed.last_user().and_then(|u| f.user(&u, None)));
                v
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        for line in lines {
            if !out.send(&line).await {
                return;
            }
        }
    }
}
