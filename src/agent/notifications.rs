//! The profile's one notification session with Finesse, held while at least one client
//! subscribed with `notifications` stays connected: started by the first, ended with the
//! last. It signs in to the notification service with the token this agent holds (SSO users;
//! renewed after each new token) or with the password the first subscriber sent (NON_SSO
//! users: kept in memory only while the session is held, and never sent again once Finesse
//! refused it), a REST call with it first, and turns what it hears into events through the
//! [`Feed`]: the User re-read after every (re)connect makes up for what a gap missed.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::desktop::KeeperToken;
use super::feed::Feed;
use super::keeper::{Change, Keeper};
use crate::error::{Error, Result};
use crate::finesse::user::User;
use crate::finesse::user_api::{Auth, BoxFuture, Credentials, Fixed, UserApi};
use crate::finesse::xml::AuthMode;
use crate::ipc::events::{DesktopError, Notice, SessionState};
use crate::notify::runner::{self, Event, Options, Prepared, Source};
use crate::notify::session::Credential;
use crate::notify::transport::{Reach, ws_url};
use crate::redact::Secret;
use url::Url;

/// How long the token a session signs in with must still be valid (the next token renews it).
const MIN_VALID: Duration = Duration::from_secs(5);

/// What the session signs in with (REST, then SASL PLAIN's password).
#[derive(Clone)]
pub enum SessionAuth {
    /// SSO users: the agent's IdS token, renewed after each refresh.
    Token,
    /// NON_SSO users: the Finesse password a subscriber sent (Basic auth, then PLAIN).
    Password(Secret<String>),
}

/// The credential of a `subscribe` with `notifications`: `sso` is whether Finesse says the
/// user signs in with SSO (`Err`: Finesse could not say now; the session's own check at each
/// connect decides then). An SSO user's password is refused, not ignored; a NON_SSO user
/// without one gets `password_required`.
pub fn choose(
    user: &str,
    sso: Result<bool>,
    password: Option<Secret<String>>,
) -> Result<SessionAuth> {
    match (sso, password) {
        (Ok(true), Some(_)) => Err(sso_user(user)),
        (Ok(false), None) => Err(non_sso(user)),
        (_, Some(p)) => Ok(SessionAuth::Password(p)),
        (_, None) => Ok(SessionAuth::Token),
    }
}

fn sso_user(user: &str) -> Error {
    Error::Usage(format!(
        "{user} is an SSO user: the notification session signs in with the agent's token; \
         subscribe takes no password for it"
    ))
}

fn non_sso(user: &str) -> Error {
    Error::PasswordRequired(format!(
        "{user} is a NON_SSO user: send `password` with subscribe (the notification session \
         signs in with it)"
    ))
}

#[derive(Default)]
struct Run {
    holders: usize,
    stop: Option<watch::Sender<bool>>,
    /// A NON_SSO session's password, while that session runs.
    password: Option<Secret<String>>,
    /// The running session's number: holds of a session that ended by itself (a refused
    /// password) no longer count.
    generation: u64,
}

/// Whether `auth` may join the running session: a token joins a token session, a password
/// only a session signed in with the same password (compared in constant time). A different
/// password is refused here, never sent to Finesse while another one holds the session.
fn admit(run: &Run, auth: &SessionAuth) -> Result<()> {
    if run.stop.is_none() {
        return Ok(());
    }
    match (&run.password, auth) {
        (None, SessionAuth::Token) => Ok(()),
        (Some(held), SessionAuth::Password(p)) if held.same_as(p) => Ok(()),
        (Some(_), SessionAuth::Password(_)) => Err(Error::AuthRejected {
            step: "notifications",
            host: "this agent".into(),
            detail: "the session runs with another subscriber's password and this one differs; \
                     it was not sent to Finesse"
                .into(),
        }),
        (held, _) => Err(Error::Usage(format!(
            "the notification session runs with {}; this subscription's credential is the other kind",
            if held.is_some() {
                "a NON_SSO password"
            } else {
                "the agent's token"
            }
        ))),
    }
}

/// The session's owner; clients hold it through [`Hold`].
pub struct Notifications {
    options: Options,
    run: Mutex<Run>,
}

/// One client's claim on the session; dropping it releases the claim.
pub struct Hold {
    owner: Arc<Notifications>,
    generation: u64,
}

impl Hold {
    /// Whether the session this hold claims still runs (else it ended by itself).
    pub fn live(&self) -> bool {
        let run = self.owner.lock();
        run.generation == self.generation && run.stop.is_some()
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut run = self.owner.lock();
        if run.generation != self.generation {
            return;
        }
        run.holders = run.holders.saturating_sub(1);
        if run.holders == 0
            && let Some(stop) = run.stop.take()
        {
            tracing::info!("notifications: no subscriber left; ending the session");
            run.password = None;
            let _ = stop.send(true);
        }
    }
}

impl Notifications {
    pub fn new(options: Options) -> Arc<Self> {
        Arc::new(Notifications {
            options,
            run: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims the session, starting it with `auth` for the first holder; a later holder's
    /// `auth` must match the running session's ([`admit`]).
    pub fn hold(
        self: &Arc<Self>,
        keeper: &Arc<Keeper>,
        feed: &Arc<Feed>,
        auth: SessionAuth,
    ) -> Result<Hold> {
        let mut run = self.lock();
        admit(&run, &auth)?;
        run.holders += 1;
        if run.stop.is_none() {
            let (stop, stopped) = watch::channel(false);
            run.stop = Some(stop);
            run.generation += 1;
            run.password = match &auth {
                SessionAuth::Password(p) => Some(p.clone()),
                SessionAuth::Token => None,
            };
            tokio::spawn(serve(
                self.clone(),
                run.generation,
                keeper.clone(),
                feed.clone(),
                auth,
                stopped,
            ));
        }
        Ok(Hold {
            owner: self.clone(),
            generation: run.generation,
        })
    }

    /// Session `generation` ended by itself: its holds lapse and its password goes, before
    /// subscribers hear of it (so that one may start another session at once).
    fn ended(&self, generation: u64) {
        let mut run = self.lock();
        if run.generation == generation {
            run.holders = 0;
            run.stop = None;
            run.password = None;
        }
    }
}

/// Runs one session until `stop` (or until it ends by itself): token changes renew a token
/// session, its events go through the feed.
async fn serve(
    owner: Arc<Notifications>,
    generation: u64,
    keeper: Arc<Keeper>,
    feed: Arc<Feed>,
    auth: SessionAuth,
    stop: watch::Receiver<bool>,
) {
    let (renew_tx, renew) = watch::channel(0u64);
    let renews = matches!(auth, SessionAuth::Token);
    let mut changes = keeper.subscribe();
    let mut bridge_stop = stop.clone();
    // Also ends when the stop sender goes (the session ended by itself).
    let bridge = async move {
        loop {
            tokio::select! {
                c = changes.recv() => match c {
                    Ok(Change::Token(h)) if renews => { let _ = renew_tx.send(h.serial); }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                r = bridge_stop.changed() => if r.is_err() || *bridge_stop.borrow() { return },
            }
        }
    };
    let options = owner.options.clone();
    let source = Arc::new(KeeperSource {
        keeper: keeper.clone(),
        auth,
        api: Mutex::default(),
    });
    let k = keeper.clone();
    let ended = feed.clone();
    let emit = move |e: Event| {
        if matches!(e, Event::Ended { .. }) {
            owner.ended(generation);
        }
        tell(&k, &feed, e)
    };
    tokio::join!(bridge, runner::run(source, options, renew, emit, stop));
    ended.session_ended();
}

fn tell(keeper: &Keeper, feed: &Feed, e: Event) {
    match e {
        Event::Up { renewed: true, .. } => {}
        Event::Up { jid, .. } => feed.notice(
            keeper,
            Notice::Session(SessionState {
                state: "connected".into(),
                jid: Some(jid),
                reason: None,
                retry_in_ms: None,
                kind: None,
            }),
        ),
        Event::Down { reason, retry_in } => feed.notice(
            keeper,
            Notice::Session(SessionState {
                state: "disconnected".into(),
                jid: None,
                reason: Some(reason),
                retry_in_ms: Some(u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX)),
                kind: None,
            }),
        ),
        Event::Ended { kind, reason } => feed.notice(
            keeper,
            Notice::Session(SessionState {
                state: "ended".into(),
                jid: None,
                reason: Some(reason),
                retry_in_ms: None,
                kind: Some(kind),
            }),
        ),
        Event::User { user, request_id } => {
            feed.user(keeper, *user, request_id);
        }
        Event::Resync(user) => {
            if feed.user(keeper, *user, None) {
                tracing::info!("notifications: the User changed while no session was up");
            }
        }
        Event::DesktopError {
            errors,
            request_id,
            source,
        } => {
            for e in errors {
                feed.desktop_error(
                    keeper,
                    DesktopError {
                        error_type: e.error_type,
                        error_message: e.error_message,
                        error_data: e.error_data,
                        request_id: request_id.clone(),
                        source: source.clone(),
                    },
                );
            }
        }
        Event::System(mut s) => {
            // The session's side told it.
            let side = keeper.side();
            s.side
                .get_or_insert_with(|| side.as_str().trim_end_matches('/').to_string());
            feed.notice(keeper, Notice::System(s))
        }
        Event::Dialogs { event, dialogs } => {
            // The direction rule needs the agent's extension: the User as last told.
            let extension = feed.last_user().map(|u| u.extension);
            for d in dialogs {
                let call = super::calls::call(&event, d, extension.as_deref());
                feed.notice(keeper, Notice::Dialog(call));
            }
        }
    }
}

/// The REST side of a session, with the agent's token or a NON_SSO password, on the side
/// in use.
struct KeeperSource {
    keeper: Arc<Keeper>,
    auth: SessionAuth,
    /// The User API on the side in use and the user id to address, made on the first
    /// `prepare` and again after a move to the other side.
    api: Mutex<Option<Arc<(UserApi, String, Url)>>>,
}

/// Whether a failure ends a session signed in with `auth` for good. A password that Finesse
/// refused (REST 401/403 or the SASL failure) or locked is never sent again: a retry walks
/// the user into Finesse's lockout. A user of the other kind (an SSO user with a password, a
/// NON_SSO user with the token) cannot be served by retrying either. A refused token is
/// retried: the next refresh brings another.
fn final_for(auth: &SessionAuth, e: &Error) -> bool {
    match auth {
        SessionAuth::Token => matches!(e, Error::PasswordRequired(_)),
        SessionAuth::Password(_) => matches!(
            e,
            Error::AuthRejected { .. } | Error::AccountLocked { .. } | Error::Usage(_)
        ),
    }
}

impl KeeperSource {
    fn api(&self) -> Option<Arc<(UserApi, String, Url)>> {
        self.api.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether Finesse says the user signs in with SSO (SystemInfo, then UserAuthMode in
    /// HYBRID).
    async fn sso(&self, mode: AuthMode) -> Result<bool> {
        match mode {
            AuthMode::Sso => Ok(true),
            AuthMode::NonSso => Ok(false),
            AuthMode::Hybrid => match self
                .keeper
                .finesse()?
                .require_sso(&self.keeper.target().user)
                .await
            {
                Ok(()) => Ok(true),
                Err(Error::NotSso { .. }) => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    async fn do_prepare(&self) -> Result<Prepared> {
        let target = self.keeper.target();
        // SystemInfo of the side in use; with two sides, a side out of service (or out of
        // reach) is left for the other here, after the session dropped (`agent::side`).
        let settled = self.keeper.settle_side().await?;
        let (side, info) = (settled.side, settled.info);
        let sso = self.sso(info.auth_mode).await?;
        // The REST credential and the user id to address. A token valid long enough to sign
        // in to the service, asked like a client would: only a few seconds, as more than a
        // short lifetime would force a refresh at every attempt. IdS tokens are valid on both
        // sides: a move keeps the token. A NON_SSO user is addressed by name (Basic auth).
        let (creds, user_id, token): (Arc<dyn Credentials>, String, _) = match (&self.auth, sso) {
            (SessionAuth::Token, true) => {
                let t = self.keeper.token(MIN_VALID).await.map_err(Error::from)?;
                (
                    Arc::new(KeeperToken(self.keeper.clone())),
                    t.user_id.clone().unwrap_or_else(|| target.user.clone()),
                    Some(t.token),
                )
            }
            (SessionAuth::Password(p), false) => (
                Arc::new(Fixed(Auth::Basic {
                    user: target.user.clone(),
                    password: p.clone(),
                })),
                target.user.clone(),
                None,
            ),
            (SessionAuth::Token, false) => return Err(non_sso(&target.user)),
            (SessionAuth::Password(_), true) => return Err(sso_user(&target.user)),
        };
        let api = match self.api().filter(|a| a.2 == side) {
            Some(a) => a,
            None => {
                let api = UserApi::new(side.clone(), target.http()?, creds);
                let a = Arc::new((api, user_id, side.clone()));
                *self.api.lock().unwrap_or_else(|p| p.into_inner()) = Some(a.clone());
                a
            }
        };
        // The authenticated REST call before the WebSocket (the VPN-less proxy's rule, §7.1);
        // it also maps the token's user to the loginId the JID is made of.
        let user = api.0.get_user(&api.1).await?;
        let credential = match (&self.auth, token) {
            (SessionAuth::Password(p), _) => Credential::Password(p.clone()),
            // A 401 there may have renewed the token: sign in with the newest one.
            (SessionAuth::Token, t) => Credential::SsoToken(
                self.keeper
                    .current(MIN_VALID)
                    .map(|h| h.token.clone())
                    .or(t)
                    .ok_or_else(|| Error::Internal("a token session without a token".into()))?,
            ),
        };
        Ok(Prepared {
            url: ws_url(&side)?,
            reach: Reach {
                ca_pem: target.ca_pem.clone(),
                proxy: target.proxy.clone(),
                // Set from the runner's options.
                transport: Default::default(),
            },
            login_id: user.login_id,
            domain: info
                .xmpp_domain
                .or_else(|| side.host_str().map(str::to_string))
                .unwrap_or_default(),
            credential,
        })
    }

    async fn do_read_user(&self) -> Result<User> {
        let api = self
            .api()
            .ok_or_else(|| Error::Internal("the User was read before a session".into()))?;
        api.0.get_user(&api.1).await
    }
}

impl Source for KeeperSource {
    fn prepare(&self) -> BoxFuture<'_, Result<Prepared>> {
        Box::pin(self.do_prepare())
    }

    fn read_user(&self) -> BoxFuture<'_, Result<User>> {
        Box::pin(self.do_read_user())
    }

    fn is_final(&self, e: &Error) -> bool {
        final_for(&self.auth, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn pw(p: &str) -> Option<Secret<String>> {
        Some(Secret::new(p.into()))
    }

    fn offline() -> Result<bool> {
        Err(Error::Network {
            step: "SystemInfo",
            host: "finesse".into(),
            cause: "down".into(),
        })
    }

    #[test]
    fn the_user_kind_and_the_password_choose_the_credential() {
        assert!(matches!(
            choose("a", Ok(true), None),
            Ok(SessionAuth::Token)
        ));
        assert!(matches!(
            choose("n", Ok(false), pw("pw-n")),
            Ok(SessionAuth::Password(p)) if p.expose() == "pw-n"
        ));
        let e = choose("n", Ok(false), None).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::PasswordRequired, "{e}");
        assert!(e.to_string().contains("n is a NON_SSO user"), "{e}");
        // An SSO user's password is refused, not silently ignored, and not repeated.
        let e = choose("a", Ok(true), pw("s3cret")).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Usage, "{e}");
        assert!(e.to_string().contains("a is an SSO user"), "{e}");
        assert!(!e.to_string().contains("s3cret"));
        // Finesse cannot say now: what the client sent, checked again at each connect.
        assert!(matches!(
            choose("n", offline(), pw("pw-n")),
            Ok(SessionAuth::Password(_))
        ));
        assert!(matches!(
            choose("a", offline(), None),
            Ok(SessionAuth::Token)
        ));
    }

    fn running(password: Option<&str>) -> Run {
        let (stop, _) = watch::channel(false);
        Run {
            holders: 1,
            stop: Some(stop),
            password: password.map(|p| Secret::new(p.into())),
            generation: 1,
        }
    }

    #[test]
    fn a_running_session_admits_only_its_own_credential() {
        let token = SessionAuth::Token;
        let password = |p: &str| SessionAuth::Password(Secret::new(p.into()));
        // No session: anyone starts one.
        assert!(admit(&Run::default(), &password("x")).is_ok());
        assert!(admit(&Run::default(), &token).is_ok());
        assert!(admit(&running(None), &token).is_ok());
        assert!(admit(&running(Some("pw-n")), &password("pw-n")).is_ok());
        let e = admit(&running(Some("pw-n")), &password("pw-m"))
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::AuthRejected);
        assert!(e.to_string().contains("not sent to Finesse"), "{e}");
        assert!(!e.to_string().contains("pw-"), "{e}");
        assert_eq!(
            admit(&running(Some("pw-n")), &token).err().unwrap().kind(),
            ErrorKind::Usage
        );
        assert_eq!(
            admit(&running(None), &password("pw-n"))
                .err()
                .unwrap()
                .kind(),
            ErrorKind::Usage
        );
    }

    #[test]
    fn a_refused_password_is_final_a_refused_token_is_not() {
        let refused = Error::AuthRejected {
            step: "notifications",
            host: "finesse".into(),
            detail: "the notification service refused the password (not-authorized)".into(),
        };
        let locked = Error::AccountLocked {
            step: "User",
            host: "finesse".into(),
            detail: "HTTP 401".into(),
        };
        let down = Error::Network {
            step: "notifications",
            host: "finesse".into(),
            cause: "reset".into(),
        };
        let password = SessionAuth::Password(Secret::new("pw".into()));
        assert!(final_for(&password, &refused));
        assert!(final_for(&password, &locked));
        assert!(final_for(&password, &sso_user("a")));
        assert!(!final_for(&password, &down), "a drop is retried");
        assert!(!final_for(&SessionAuth::Token, &refused));
        assert!(!final_for(&SessionAuth::Token, &down));
        assert!(final_for(&SessionAuth::Token, &non_sso("n")));
    }
}
