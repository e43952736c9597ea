//! The token keeper: holds the token pair in memory, refreshes it at 75 % of its lifetime,
//! falls back to the browser (silent first, then interactive), and runs at most one
//! acquisition at a time whose result every waiting client shares (single-flight).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast, watch};
use url::Url;

use super::clock::{Clock, rfc3339};
use super::held::Held;
use super::policy::{self, PromptBudget};
use super::side::{Settled, SideInUse};
use crate::error::{Error, ErrorKind, Result, Step, Throttle};
use crate::finesse::client::{Finesse, Refreshed};
use crate::finesse::token_response::TokenResponse;
use crate::ipc::events::Notice;
use crate::ipc::protocol::{LastError, StatusInfo, TokenInfo, WireError};
use crate::notify::update::SystemStatus;
use crate::redact::Secret;
use crate::signin::{BoxFuture, SignInBrowser, SignInOptions, Target};
use crate::window::Placement;

/// The refresh call, as a seam (real: [`Finesse::refresh`] on the side in use).
pub trait Refresher: Send + Sync {
    fn refresh<'a>(
        &'a self,
        side: &'a Url,
        user: &'a str,
        token: &'a Secret<String>,
        refresh: &'a Secret<String>,
    ) -> BoxFuture<'a, Result<Refreshed>>;
}

impl Refresher for Finesse {
    fn refresh<'a>(
        &'a self,
        side: &'a Url,
        user: &'a str,
        token: &'a Secret<String>,
        refresh: &'a Secret<String>,
    ) -> BoxFuture<'a, Result<Refreshed>> {
        Box::pin(async move { self.on(side.clone()).refresh(user, token, refresh).await })
    }
}

/// Who wants a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A client asked (or the user started the agent): an interactive sign-in may be shown.
    Client,
    /// The refresh timer: interactive sign-ins count against the unattended prompt budget.
    Scheduled,
}

/// What changed, for subscribers.
#[derive(Debug, Clone)]
pub enum Change {
    Token(Arc<Held>),
    LoggedOut,
    /// The Finesse agent's User after a change: made through this agent (issue 11), or told
    /// by Finesse's notifications (issue 15) with the `requestId` Finesse echoed.
    User(Arc<crate::finesse::user::User>, Option<String>),
    /// Anything else the notification session tells (issue 15).
    Notice(Arc<Notice>),
}

#[derive(Debug, Clone)]
pub struct KeeperOptions {
    /// Options of the window sign-ins (`interactive` is set per attempt).
    pub sign_in: SignInOptions,
    /// Interactive sign-ins per sliding hour that no client asked for.
    pub prompts_per_hour: u32,
    /// Sign in as soon as the agent starts (otherwise on the first `token`).
    pub sign_in_at_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    Idle,
    Refreshing,
    SigningIn,
}

#[derive(Debug)]
struct State {
    held: Option<Arc<Held>>,
    activity: Activity,
    last_refresh_wall: Option<i64>,
    last_error: Option<LastError>,
    failures: u32,
    failed_at: Option<Instant>,
    /// The VPN-less proxy's 418/429: no request (refresh or sign-in, timer or client) before
    /// this instant; the refusal is answered from memory until then.
    throttle: Option<(Instant, Step, String, Throttle)>,
    /// No unattended attempts until a client asks (logged out, or the user must act).
    parked: bool,
    /// Bumped by `logout`: an acquisition begun before it does not install its token.
    epoch: u64,
    serial: u64,
    refreshes: u64,
    sign_ins: u64,
    budget: PromptBudget,
}

type FlightResult = std::result::Result<Arc<Held>, WireError>;

struct Flight {
    rx: watch::Receiver<Option<FlightResult>>,
    trigger: Trigger,
}

pub struct Keeper {
    target: Target,
    /// The first side listed: who this agent is (`hello`, `status`), whichever side it uses.
    server: String,
    side: SideInUse,
    profile_dir: PathBuf,
    refresher: Arc<dyn Refresher>,
    browser: Arc<dyn SignInBrowser>,
    clock: Arc<dyn Clock>,
    sign_in: SignInOptions,
    state: Mutex<State>,
    flight: Mutex<Option<Flight>>,
    /// Where the next interactive window opens: the last asking client's window, used once.
    placement: Mutex<Placement>,
    changes: broadcast::Sender<Change>,
    wake: Notify,
    /// Open connections (for `status`).
    pub clients: AtomicU64,
}

/// Clears the flight slot when the acquisition task ends, even by panic.
struct SlotGuard(Arc<Keeper>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        *lock(&self.0.flight) = None;
        self.0.set_activity(Activity::Idle);
        self.0.wake.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Keeper {
    pub fn new(
        target: Target,
        profile_dir: PathBuf,
        refresher: Arc<dyn Refresher>,
        browser: Arc<dyn SignInBrowser>,
        clock: Arc<dyn Clock>,
        opts: KeeperOptions,
    ) -> Arc<Keeper> {
        // Room for bursts of Finesse events to many subscribers; a subscriber that falls
        // further behind gets the newest token and User (`connection::forward`).
        let (changes, _) = broadcast::channel(256);
        Arc::new(Keeper {
            server: target.server.as_str().trim_end_matches('/').to_string(),
            side: SideInUse::new(target.sides()),
            target,
            profile_dir,
            refresher,
            browser,
            clock,
            sign_in: opts.sign_in,
            state: Mutex::new(State {
                held: None,
                activity: Activity::Idle,
                last_refresh_wall: None,
                last_error: None,
                failures: 0,
                failed_at: None,
                throttle: None,
                parked: !opts.sign_in_at_start,
                epoch: 0,
                serial: 0,
                refreshes: 0,
                sign_ins: 0,
                budget: PromptBudget::new(opts.prompts_per_hour),
            }),
            flight: Mutex::new(None),
            placement: Mutex::new(Placement::default()),
            changes,
            wake: Notify::new(),
            clients: AtomicU64::new(0),
        })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// The Finesse side in use now.
    pub fn side(&self) -> Url {
        self.side.current()
    }

    /// More than one Finesse side listed.
    pub fn several_sides(&self) -> bool {
        self.side.several()
    }

    /// A Finesse client on the side in use.
    pub fn finesse(&self) -> Result<Finesse> {
        Ok(Finesse::new(self.side(), self.target.http()?))
    }

    /// Reads the side in use's SystemInfo and, with two sides, moves to the other when it is
    /// not in service (see `side`); a move is told to subscribers as a `system` event.
    pub async fn settle_side(&self) -> Result<Settled> {
        let settled = self
            .side
            .settle(&self.target.http()?, self.clock.now())
            .await?;
        if let Some(from) = &settled.moved_from {
            let name = |u: &Url| u.as_str().trim_end_matches('/').to_string();
            tracing::warn!(
                "Finesse side {} is not in service; the agent moved to {}",
                name(from),
                name(&settled.side)
            );
            self.publish(Change::Notice(Arc::new(Notice::System(SystemStatus {
                status: settled
                    .info
                    .status
                    .clone()
                    .unwrap_or_else(|| crate::finesse::sides::IN_SERVICE.into()),
                side: Some(name(&settled.side)),
                failover_from: Some(name(from)),
            }))));
        }
        Ok(settled)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Tells subscribers about a change that did not come from the keeper (`desktop_*`).
    pub fn publish(&self, change: Change) {
        let _ = self.changes.send(change);
    }

    /// The window a client asked from: the next interactive sign-in opens in front of it.
    pub fn place_next_window(&self, placement: Placement) {
        *lock(&self.placement) = placement;
    }

    /// The held token if it is valid for more than `min` now.
    pub fn current(&self, min: Duration) -> Option<Arc<Held>> {
        let now = self.clock.now();
        lock(&self.state)
            .held
            .clone()
            .filter(|h| h.valid_for(now, min))
    }

    pub fn info(&self, h: &Held) -> TokenInfo {
        h.info(self.clock.now(), self.clock.wall(), &self.server)
    }

    /// The held token's answer, serialised, when it is valid for more than `min_valid` (the
    /// pipe's fast path; otherwise `token` obtains one).
    pub fn held_answer(&self, min_valid: Duration) -> Option<Arc<str>> {
        let now = self.clock.now();
        let h = lock(&self.state)
            .held
            .clone()
            .filter(|h| h.valid_for(now, min_valid))?;
        Some(h.info_json(now, self.clock.wall(), &self.server))
    }

    /// A token valid for more than `min_valid`: the held one, or a new one (refresh or sign-in).
    pub async fn token(
        self: &Arc<Self>,
        min_valid: Duration,
    ) -> std::result::Result<TokenInfo, WireError> {
        if let Some(h) = self.current(min_valid) {
            return Ok(self.info(&h));
        }
        let h = self.acquire_for_client().await?;
        if !h.valid_for(self.clock.now(), min_valid) {
            return Err(WireError::new(
                ErrorKind::BadRequest,
                format!(
                    "min_valid {} s is longer than the token's lifetime ({} s)",
                    min_valid.as_secs(),
                    h.lifetime.as_secs()
                ),
            ));
        }
        Ok(self.info(&h))
    }

    /// A new token now, even if the held one is valid.
    pub async fn refresh(self: &Arc<Self>) -> std::result::Result<TokenInfo, WireError> {
        let h = self.acquire_for_client().await?;
        Ok(self.info(&h))
    }

    async fn acquire_for_client(self: &Arc<Self>) -> FlightResult {
        let (result, joined) = self.acquire(Trigger::Client).await;
        match result {
            // A timer-started attempt may not prompt beyond its budget; a client may.
            Err(e) if joined == Trigger::Scheduled && e.kind == ErrorKind::InteractionRequired => {
                self.acquire(Trigger::Client).await.0
            }
            r => r,
        }
    }

    /// Joins the running acquisition or starts one; returns its result and its trigger.
    pub async fn acquire(self: &Arc<Self>, trigger: Trigger) -> (FlightResult, Trigger) {
        // Answered from memory: not an attempt, so it neither counts nor moves the timer.
        if let Some(e) = self.held_off() {
            tracing::info!("not asking the server: {e}");
            return (Err(WireError::from(&e)), trigger);
        }
        let (mut rx, joined) = {
            let mut slot = lock(&self.flight);
            match &*slot {
                Some(f) => (f.rx.clone(), f.trigger),
                None => {
                    let (tx, rx) = watch::channel(None);
                    *slot = Some(Flight {
                        rx: rx.clone(),
                        trigger,
                    });
                    let me = self.clone();
                    tokio::spawn(async move {
                        let guard = SlotGuard(me.clone());
                        let epoch = lock(&me.state).epoch;
                        let got = me.obtain(trigger).await;
                        let result = me.finish(got, epoch);
                        drop(guard);
                        let _ = tx.send(Some(result));
                    });
                    (rx, trigger)
                }
            }
        };
        let result = match rx.wait_for(|r| r.is_some()).await {
            Ok(r) => r.clone().unwrap_or_else(|| Err(internal())),
            Err(_) => Err(internal()),
        };
        (result, joined)
    }

    fn set_activity(&self, a: Activity) {
        lock(&self.state).activity = a;
    }

    /// One acquisition: refresh if there is a live pair, else (or if the refresh needs the
    /// browser or was rejected) sign in.
    async fn obtain(&self, trigger: Trigger) -> Result<(TokenResponse, Instant, bool)> {
        let held = lock(&self.state).held.clone();
        let now = self.clock.now();
        if let Some(h) = held.filter(|h| !h.is_expired(now))
            && let Some(rt) = &h.refresh
        {
            self.set_activity(Activity::Refreshing);
            // The token is issued after the request leaves: its lifetime counts from then, not
            // from the answer's arrival (a slow or stalled answer would otherwise stretch it).
            let sent = self.clock.now();
            match self
                .refresher
                .refresh(&self.side(), &self.target.user, &h.token, rt)
                .await
            {
                Ok(Refreshed::Token(t)) => return Ok((t, sent, false)),
                Ok(Refreshed::NeedsBrowser(why)) => {
                    tracing::info!("the refresh needs the browser ({why}); signing in silently");
                }
                Err(e @ Error::AuthRejected { .. }) => {
                    tracing::info!("the refresh was rejected ({e}); signing in again");
                }
                Err(e) => return Err(e),
            }
        }
        self.set_activity(Activity::SigningIn);
        let t = self.sign_in(trigger).await?;
        Ok((t, self.clock.now(), true))
    }

    async fn sign_in(&self, trigger: Trigger) -> Result<TokenResponse> {
        // Two sides: the window opens on the one in service (one side: unasked, as always).
        let target = match self.side.several() {
            true => self.target.on_side(self.settle_side().await?.side),
            false => self.target.clone(),
        };
        let silent = SignInOptions {
            interactive: false,
            show: false,
            ..self.sign_in.clone()
        };
        match self.browser.authenticate(&target, &silent).await {
            Err(Error::InteractionRequired(why)) => {
                if trigger == Trigger::Scheduled && !lock(&self.state).budget.take(self.clock.now())
                {
                    return Err(Error::InteractionRequired(format!(
                        "{why}; the cap on unattended sign-in windows is reached, so the agent waits for a client to ask"
                    )));
                }
                tracing::info!(
                    "the identity provider needs the user ({why}); showing the sign-in window"
                );
                // A stale handle (the caller's window closed since) is only ignored by the window.
                let placement = std::mem::take(&mut *lock(&self.placement));
                let interactive = SignInOptions {
                    interactive: true,
                    placement,
                    ..self.sign_in.clone()
                };
                self.browser.authenticate(&target, &interactive).await
            }
            r => r,
        }
    }

    /// The remembered 418/429 while its wait lasts.
    fn held_off(&self) -> Option<Error> {
        let (until, step, host, why) = lock(&self.state).throttle.clone()?;
        let now = self.clock.now();
        (until > now).then(|| Error::Throttled {
            step,
            host,
            why,
            retry_after: until - now,
        })
    }

    /// Records the outcome; installs a new token and tells subscribers.
    fn finish(&self, got: Result<(TokenResponse, Instant, bool)>, epoch: u64) -> FlightResult {
        let mut s = lock(&self.state);
        match got {
            Ok((resp, received, signed_in)) => {
                if s.epoch != epoch {
                    return Err(WireError::new(
                        ErrorKind::SignedOut,
                        "logged out while this token was being obtained",
                    ));
                }
                s.serial += 1;
                let held = Arc::new(Held::from_response(
                    resp,
                    s.held.as_deref(),
                    received,
                    self.clock.wall(),
                    s.serial,
                ));
                if signed_in {
                    s.sign_ins += 1;
                } else {
                    s.refreshes += 1;
                }
                s.held = Some(held.clone());
                s.last_refresh_wall = Some(self.clock.wall());
                s.last_error = None;
                s.failures = 0;
                s.failed_at = None;
                s.throttle = None;
                s.parked = false;
                drop(s);
                tracing::info!(
                    "new token #{} ({}), valid {} s",
                    held.serial,
                    if signed_in { "signed in" } else { "refreshed" },
                    held.lifetime.as_secs()
                );
                let _ = self.changes.send(Change::Token(held.clone()));
                Ok(held)
            }
            Err(e) => {
                tracing::warn!("getting a token failed: {e}");
                s.failures = s.failures.saturating_add(1);
                s.failed_at = Some(self.clock.now());
                if let Error::Throttled {
                    step,
                    host,
                    why,
                    retry_after,
                } = &e
                {
                    s.throttle = Some((self.clock.now() + *retry_after, step, host.clone(), *why));
                }
                if !policy::retry_unattended(&e) {
                    s.parked = true;
                }
                s.last_error = Some(LastError {
                    kind: e.kind(),
                    message: e.to_string(),
                    at: rfc3339(self.clock.wall()),
                });
                Err(WireError::from(&e))
            }
        }
    }

    /// When the scheduler should act next; `None`: only when a client asks.
    pub fn next_wake(&self) -> Option<Instant> {
        let s = lock(&self.state);
        if s.parked {
            return None;
        }
        if let Some(at) = s.failed_at.filter(|_| s.failures > 0) {
            let retry = at + policy::backoff(s.failures);
            return Some(s.throttle.as_ref().map_or(retry, |t| t.0.max(retry)));
        }
        match &s.held {
            Some(h) => Some(h.refresh_due()),
            None => Some(self.clock.now()),
        }
    }

    /// The scheduler's step: acquires if due. Returns whether it acted.
    pub async fn tick(self: &Arc<Self>) -> bool {
        match self.next_wake() {
            Some(at) if at <= self.clock.now() => {
                let first = {
                    let s = lock(&self.state);
                    s.held.is_none() && s.serial == 0
                };
                // The first sign-in at start is the user's own request.
                let trigger = if first {
                    Trigger::Client
                } else {
                    Trigger::Scheduled
                };
                let _ = self.acquire(trigger).await;
                true
            }
            _ => false,
        }
    }

    /// Runs the refresh timer until the task is dropped.
    pub async fn schedule(self: Arc<Self>) {
        loop {
            let wait = self
                .next_wake()
                .map(|at| at.saturating_duration_since(self.clock.now()));
            match wait {
                None => self.wake.notified().await,
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => { self.tick().await; }
                        _ = self.wake.notified() => {}
                    }
                }
            }
        }
    }

    /// Forgets the tokens and the saved web session; waits for a running acquisition first.
    pub async fn logout(self: &Arc<Self>) -> Result<()> {
        let running = lock(&self.flight).as_ref().map(|f| f.rx.clone());
        if let Some(mut rx) = running {
            let _ = rx.wait_for(|r| r.is_some()).await;
        }
        {
            let mut s = lock(&self.state);
            s.epoch += 1;
            s.held = None;
            s.parked = true;
            s.failures = 0;
            s.failed_at = None;
            s.last_error = None;
        }
        let dir = self.profile_dir.clone();
        tokio::task::spawn_blocking(move || {
            let _lock = crate::websession::lock(&dir)?;
            crate::websession::clear(&dir)
        })
        .await
        .map_err(|e| Error::Internal(format!("logout task: {e}")))??;
        let _ = self.changes.send(Change::LoggedOut);
        self.wake.notify_one();
        tracing::info!("logged out: tokens and the saved web session are forgotten");
        Ok(())
    }

    pub fn status(&self, profile: &str) -> StatusInfo {
        let now = self.clock.now();
        let wall = self.clock.wall();
        let next = self.next_wake();
        let s = lock(&self.state);
        let held = s.held.as_ref();
        StatusInfo {
            state: match held {
                None => "signed_out",
                Some(h) if h.is_expired(now) => "expired",
                Some(_) => "valid",
            }
            .into(),
            activity: match s.activity {
                Activity::Idle => "idle",
                Activity::Refreshing => "refreshing",
                Activity::SigningIn => "signing_in",
            }
            .into(),
            profile: profile.into(),
            server: self.server.clone(),
            side: self
                .several_sides()
                .then(|| self.side().as_str().trim_end_matches('/').to_string()),
            user: self.target.user.clone(),
            user_id: held.and_then(|h| h.user_id.clone()),
            expires_in: held.map(|h| h.remaining(now).as_secs()),
            expires_at: held.map(|h| {
                rfc3339(crate::wallclock::expires_at(
                    wall,
                    h.remaining(now).as_secs(),
                ))
            }),
            next_refresh_in: next.map(|at| at.saturating_duration_since(now).as_secs()),
            last_refresh: s.last_refresh_wall.map(rfc3339),
            last_error: s.last_error.clone(),
            refreshes: s.refreshes,
            sign_ins: s.sign_ins,
            clients: self.clients.load(Ordering::Relaxed),
            pid: std::process::id(),
            agent: concat!("finesse-sso/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

fn internal() -> WireError {
    WireError::new(
        ErrorKind::Internal,
        "the token task ended without an answer",
    )
}
