//! The profile's one notification session with Finesse, held while at least one client
//! subscribed with `notifications` stays connected: started by the first, ended with the
//! last. It signs in to the notification service with the token this agent holds (a REST call
//! with it first), renews the session after each new token, and turns what it hears into
//! events through the [`Feed`]: the User re-read after every (re)connect makes up for what a
//! gap missed.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::desktop::KeeperToken;
use super::feed::Feed;
use super::keeper::{Change, Keeper};
use crate::error::{Error, Result};
use crate::finesse::user::User;
use crate::finesse::user_api::{BoxFuture, UserApi};
use crate::finesse::xml::AuthMode;
use crate::ipc::events::{DesktopError, Notice, SessionState};
use crate::notify::runner::{self, Event, Options, Prepared, Source};
use crate::notify::session::Credential;
use crate::notify::transport::{Reach, ws_url};
use url::Url;

/// How long the token a session signs in with must still be valid (the next token renews it).
const MIN_VALID: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Run {
    holders: usize,
    stop: Option<watch::Sender<bool>>,
}

/// The session's owner; clients hold it through [`Hold`].
pub struct Notifications {
    options: Options,
    run: Mutex<Run>,
}

/// One client's claim on the session; dropping it releases the claim.
pub struct Hold(Arc<Notifications>);

impl Drop for Hold {
    fn drop(&mut self) {
        let mut run = self.0.lock();
        run.holders = run.holders.saturating_sub(1);
        if run.holders == 0
            && let Some(stop) = run.stop.take()
        {
            tracing::info!("notifications: no subscriber left; ending the session");
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

    /// Claims the session, starting it for the first holder.
    pub fn hold(self: &Arc<Self>, keeper: &Arc<Keeper>, feed: &Arc<Feed>) -> Hold {
        let mut run = self.lock();
        run.holders += 1;
        if run.stop.is_none() {
            let (stop, stopped) = watch::channel(false);
            run.stop = Some(stop);
            tokio::spawn(serve(
                keeper.clone(),
                feed.clone(),
                self.options.clone(),
                stopped,
            ));
        }
        Hold(self.clone())
    }
}

/// Runs one session until `stop`: token changes renew it, its events go through the feed.
async fn serve(
    keeper: Arc<Keeper>,
    feed: Arc<Feed>,
    options: Options,
    stop: watch::Receiver<bool>,
) {
    let (renew_tx, renew) = watch::channel(0u64);
    let mut changes = keeper.subscribe();
    let mut bridge_stop = stop.clone();
    let bridge = async move {
        loop {
            tokio::select! {
                c = changes.recv() => match c {
                    Ok(Change::Token(h)) => { let _ = renew_tx.send(h.serial); }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = bridge_stop.changed() => return,
            }
        }
    };
    let source = Arc::new(KeeperSource {
        keeper: keeper.clone(),
        api: Mutex::default(),
    });
    let k = keeper.clone();
    let ended = feed.clone();
    let emit = move |e: Event| tell(&k, &feed, e);
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
            }),
        ),
        Event::Down { reason, retry_in } => feed.notice(
            keeper,
            Notice::Session(SessionState {
                state: "disconnected".into(),
                jid: None,
                reason: Some(reason),
                retry_in_ms: Some(u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX)),
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

/// The REST side of a session, with the agent's token, on the side in use.
struct KeeperSource {
    keeper: Arc<Keeper>,
    /// The User API on the side in use and the user id to address, made on the first
    /// `prepare` and again after a move to the other side.
    api: Mutex<Option<Arc<(UserApi, String, Url)>>>,
}

impl KeeperSource {
    fn api(&self) -> Option<Arc<(UserApi, String, Url)>> {
        self.api.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn do_prepare(&self) -> Result<Prepared> {
        let target = self.keeper.target();
        // SystemInfo of the side in use; with two sides, a side out of service (or out of
        // reach) is left for the other here, after the session dropped (`agent::side`).
        let settled = self.keeper.settle_side().await?;
        let (side, info) = (settled.side, settled.info);
        match info.auth_mode {
            AuthMode::Sso => {}
            AuthMode::Hybrid => self
                .keeper
                .finesse()?
                .require_sso(&target.user)
                .await
                .map_err(|_| non_sso(&target.user))?,
            AuthMode::NonSso => return Err(non_sso(&target.user)),
        }
        // A token valid long enough to sign in to the service, asked like a client would. Only
        // a few seconds: more than a short lifetime would force a refresh at every attempt.
        // IdS tokens are valid on both sides: a move keeps the token.
        let t = self.keeper.token(MIN_VALID).await.map_err(Error::from)?;
        let api = match self.api().filter(|a| a.2 == side) {
            Some(a) => a,
            None => {
                let user_id = t.user_id.clone().unwrap_or_else(|| target.user.clone());
                let api = UserApi::new(
                    side.clone(),
                    target.http()?,
                    Arc::new(KeeperToken(self.keeper.clone())),
                );
                let a = Arc::new((api, user_id, side.clone()));
                *self.api.lock().unwrap_or_else(|p| p.into_inner()) = Some(a.clone());
                a
            }
        };
        // The authenticated REST call before the WebSocket (the VPN-less proxy's rule, §7.1);
        // it also maps the token's user to the loginId the JID is made of.
        let user = api.0.get_user(&api.1).await?;
        // A 401 there may have renewed the token: sign in with the newest one.
        let token = self
            .keeper
            .current(MIN_VALID)
            .map(|h| h.token.clone())
            .unwrap_or(t.token);
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
            credential: Credential::SsoToken(token),
        })
    }

    async fn do_read_user(&self) -> Result<User> {
        let api = self
            .api()
            .ok_or_else(|| Error::Internal("the User was read before a session".into()))?;
        api.0.get_user(&api.1).await
    }
}

fn non_sso(user: &str) -> Error {
    Error::PasswordRequired(format!(
        "{user} is a NON_SSO user: Finesse notifications would need the password, which this \
         agent does not keep"
    ))
}

impl Source for KeeperSource {
    fn prepare(&self) -> BoxFuture<'_, Result<Prepared>> {
        Box::pin(self.do_prepare())
    }

    fn read_user(&self) -> BoxFuture<'_, Result<User>> {
        Box::pin(self.do_read_user())
    }
}
