//! The one way Finesse-agent events reach subscribers: the User after a `desktop_*` change,
//! every User notification, the User re-read after a (re)connect, CTI errors and the
//! notification session's state. A User equal to the last one told in what clients see
//! (state, pending state, reason, extension, time, team) is not told again, so a change that
//! arrives both as a request's answer and as a notification (or again after a reconnect)
//! makes one event, and a re-read after a gap makes exactly the events that were missed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::keeper::{Change, Keeper};
use crate::finesse::user::User;
use crate::ipc::events::{DesktopError, Notice, SessionState};

/// CTI errors remembered to drop their repeats (an error seen on two sessions during a
/// credential renewal).
const RECENT_ERRORS: usize = 16;

#[derive(Debug, Default)]
pub struct Feed {
    last: Mutex<Option<User>>,
    errors: Mutex<VecDeque<DesktopError>>,
    /// The notification session's last state (for subscribers that arrive later).
    session: Mutex<Option<SessionState>>,
    /// Whether a notification session is up now: desktop requests are then confirmed by its
    /// notifications (`agent::confirm`) instead of reading the User back.
    up: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a `user` event is about: two Users equal here are the same event.
pub fn material(u: &User) -> impl PartialEq + '_ {
    (
        (&u.login_id, &u.state, &u.pending_state, u.reason_code_id),
        (&u.extension, &u.state_change_time, &u.team_id, &u.team_name),
        &u.mobile_agent,
    )
}

impl Feed {
    /// Tells subscribers about `user` unless it is the last one told. Returns whether it did.
    /// An update that answers a request (`request_id`) still goes out as a change, for the
    /// request's confirmation; subscribers' own formatters drop it as a repeat.
    pub fn user(&self, keeper: &Keeper, user: User, request_id: Option<String>) -> bool {
        let new = {
            let mut last = lock(&self.last);
            let same = last
                .as_ref()
                .is_some_and(|l| material(l) == material(&user));
            if !same {
                *last = Some(user.clone());
            }
            !same
        };
        if new || request_id.is_some() {
            keeper.publish(Change::User(Arc::new(user), request_id));
        }
        new
    }

    /// The last User told (for a subscriber that fell behind).
    pub fn last_user(&self) -> Option<User> {
        lock(&self.last).clone()
    }

    /// Tells subscribers about a CTI error unless it was just told.
    pub fn desktop_error(&self, keeper: &Keeper, e: DesktopError) -> bool {
        {
            let mut recent = lock(&self.errors);
            if recent.contains(&e) {
                return false;
            }
            if recent.len() == RECENT_ERRORS {
                recent.pop_front();
            }
            recent.push_back(e.clone());
        }
        keeper.publish(Change::Notice(Arc::new(Notice::DesktopError(e))));
        true
    }

    pub fn notice(&self, keeper: &Keeper, n: Notice) {
        if let Notice::Session(s) = &n {
            *lock(&self.session) = Some(s.clone());
            self.up.store(s.state == "connected", Ordering::SeqCst);
        }
        keeper.publish(Change::Notice(Arc::new(n)));
    }

    /// Whether a notification session is up now.
    pub fn session_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// The session ended (its last subscriber left): no longer up.
    pub fn session_ended(&self) {
        self.up.store(false, Ordering::SeqCst);
    }

    /// The notification session's last state, if one ever ran.
    pub fn last_session(&self) -> Option<SessionState> {
        lock(&self.session).clone()
    }
}
