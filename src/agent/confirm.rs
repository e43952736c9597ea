//! Confirms a desktop request from the notification it causes, when the agent holds a
//! notification session: the User update whose `<requestId>` is the PUT's `requestId` header
//! (reference §4.3, §8 step 4), or the asynchronous CTI error (`apiErrors`, e.g. Device Busy)
//! with that id. Without one in time, or if this listener fell behind, it reads the User back
//! as [`Polling`] does, for the time left.

use std::time::Duration;

use tokio::sync::{Mutex, broadcast};

use super::keeper::Change;
use crate::error::{Error, Result};
use crate::finesse::user::User;
use crate::finesse::user_api::{BoxFuture, Outcome, Polling, UserApi};
use crate::ipc::events::Notice;

/// Listens to the agent's changes from before the request is sent.
pub struct Notified {
    changes: Mutex<broadcast::Receiver<Change>>,
}

impl Notified {
    /// `changes` must be subscribed before the PUT goes out, or its notification may pass by.
    pub fn new(changes: broadcast::Receiver<Change>) -> Self {
        Notified {
            changes: Mutex::new(changes),
        }
    }
}

/// What one change says about the request `request_id`.
enum Verdict {
    Done(Box<User>),
    NotYet,
    Refused(String),
    Other,
}

fn judge(c: &Change, request_id: &str, done: &(dyn Fn(&User) -> bool + Send + Sync)) -> Verdict {
    match c {
        Change::User(u, Some(r)) if r == request_id => {
            if done(u) {
                Verdict::Done(Box::new((**u).clone()))
            } else {
                Verdict::NotYet
            }
        }
        Change::Notice(n) => match &**n {
            Notice::DesktopError(e) if e.request_id.as_deref() == Some(request_id) => {
                Verdict::Refused(format!(
                    "{}: {} (the CTI server's asynchronous answer to this request)",
                    e.error_type, e.error_message
                ))
            }
            _ => Verdict::Other,
        },
        _ => Verdict::Other,
    }
}

impl Outcome for Notified {
    fn wait<'a>(
        &'a self,
        api: &'a UserApi,
        id: &'a str,
        request_id: &'a str,
        done: &'a (dyn Fn(&User) -> bool + Send + Sync),
        within: Duration,
    ) -> BoxFuture<'a, Result<(User, bool)>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + within;
            let mut rx = self.changes.lock().await;
            loop {
                let c = match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Ok(c)) => c,
                    Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                        tracing::info!("desktop: {n} changes passed unread; reading the User");
                        break;
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
                };
                match judge(&c, request_id, done) {
                    Verdict::Done(u) => {
                        tracing::debug!("desktop: confirmed by the notification of this request");
                        return Ok((*u, true));
                    }
                    // A pending state first, say: the final one may follow.
                    Verdict::NotYet | Verdict::Other => {}
                    Verdict::Refused(detail) => {
                        return Err(Error::DesktopRefused {
                            step: "CTI server",
                            host: api.host(),
                            detail,
                        });
                    }
                }
            }
            tracing::info!("desktop: no notification confirmed the request; reading the User");
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            Polling.wait(api, id, request_id, done, left).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ipc::events::DesktopError;

    fn user(state: &str) -> Arc<User> {
        Arc::new(User {
            login_id: "1001".into(),
            state: state.into(),
            ..User::default()
        })
    }

    #[test]
    fn only_this_requests_update_or_error_decides() {
        let signed_in = |u: &User| u.state == "NOT_READY";
        let mine = Some("r1".to_string());
        assert!(matches!(
            judge(&Change::User(user("NOT_READY"), mine.clone()), "r1", &signed_in),
            Verdict::Done(u) if u.state == "NOT_READY"
        ));
        assert!(matches!(
            judge(
                &Change::User(user("LOGOUT"), mine.clone()),
                "r1",
                &signed_in
            ),
            Verdict::NotYet
        ));
        for other in [None, Some("r2".to_string())] {
            assert!(matches!(
                judge(&Change::User(user("NOT_READY"), other), "r1", &signed_in),
                Verdict::Other
            ));
        }
        let busy = |rid: Option<&str>| {
            Change::Notice(Arc::new(Notice::DesktopError(DesktopError {
                error_type: "Device Busy".into(),
                error_message: "Device already in use".into(),
                error_data: String::new(),
                request_id: rid.map(str::to_string),
                source: "/finesse/api/User/1001".into(),
            })))
        };
        match judge(&busy(Some("r1")), "r1", &signed_in) {
            Verdict::Refused(d) => {
                assert!(d.starts_with("Device Busy: Device already in use"), "{d}")
            }
            _ => panic!("this request's CTI error refuses it"),
        }
        assert!(matches!(
            judge(&busy(Some("r2")), "r1", &signed_in),
            Verdict::Other
        ));
        assert!(matches!(
            judge(&busy(None), "r1", &signed_in),
            Verdict::Other
        ));
    }
}
