//! The agent's side of the `desktop_*` operations and of Acqueon-style messages: it signs the
//! Finesse agent in, changes its state and reads it with the token the agent holds (or, for a
//! NON_SSO user, the password that came with the request, used once and dropped), then tells
//! subscribers. One cached HTTP client keeps the connection to Finesse warm between requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::keeper::Keeper;
use crate::error::ErrorKind;
use crate::error::{Error, Result};
use crate::finesse::user::User;
use crate::finesse::user_api::{
    Auth, BoxFuture, Category, Credentials, Fixed, Reason, SignIn, UserApi,
};
use crate::finesse::user_xml::{Mobile, MobileMode};
use crate::ipc::acqueon::{self, Action, Message};
use crate::ipc::desktop::{
    AUTH_BASIC, AUTH_SSO_TOKEN, EVENT_USER, ReasonsRequest, ReasonsResult, SignInRequest,
    SignOutRequest, StateRequest, UserEvent, UserRequest, UserResult,
};
use crate::ipc::protocol::{self, Id, Outcome, Reply, WireError};
use crate::redact::Secret;

/// How Finesse authenticates this agent's user (asked once, then kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sso,
    Basic,
}

/// State shared by the connections of one agent.
#[derive(Default)]
pub struct Desktop {
    http: OnceLock<reqwest::Client>,
    mode: Mutex<Option<Mode>>,
    /// user_id → loginId, learnt from `GET User` (reference §1.1).
    ids: Arc<Mutex<HashMap<String, String>>>,
    /// Where the User after a change goes (shared with the notification session).
    pub feed: Arc<super::feed::Feed>,
}

/// The keeper's token; a 401 gets one fresh token from it.
pub(super) struct KeeperToken(pub(super) Arc<Keeper>);

fn from_wire(e: WireError) -> Error {
    Error::FromAgent {
        kind: e.kind,
        message: e.message,
    }
}

impl Credentials for KeeperToken {
    fn current(&self) -> BoxFuture<'_, Result<Auth>> {
        Box::pin(async move {
            let t = self
                .0
                .token(Duration::from_secs(10))
                .await
                .map_err(from_wire)?;
            Ok(Auth::Bearer(t.token))
        })
    }
    fn renew(&self) -> BoxFuture<'_, Result<Option<Auth>>> {
        Box::pin(async move {
            let t = self.0.refresh().await.map_err(from_wire)?;
            Ok(Some(Auth::Bearer(t.token)))
        })
    }
}

/// The kind a pipe client sees: a keeper error keeps its own kind.
fn wire(e: &Error) -> WireError {
    match e {
        Error::FromAgent { kind, message } => WireError::new(kind.clone(), message.clone()),
        e => WireError::from(e),
    }
}

fn reply<T: Serialize>(id: Option<Id>, r: Result<T>) -> String {
    match r {
        Ok(v) => protocol::line(&Reply {
            id,
            outcome: Outcome::Result(v),
        }),
        Err(e) => protocol::error_line(id, wire(&e)),
    }
}

/// One caller's view: the API, the id to address, and how it authenticated.
struct Session {
    api: UserApi,
    user_id: String,
    auth: &'static str,
    password_ignored: bool,
}

impl Desktop {
    async fn mode(&self, keeper: &Keeper) -> Result<Mode> {
        if let Some(m) = *self.mode.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(m);
        }
        let m = match keeper.finesse()?.require_sso(&keeper.target().user).await {
            Ok(()) => Mode::Sso,
            Err(Error::NotSso { .. }) => Mode::Basic,
            Err(e) => return Err(e),
        };
        *self.mode.lock().unwrap_or_else(|p| p.into_inner()) = Some(m);
        Ok(m)
    }

    async fn session(
        &self,
        keeper: &Arc<Keeper>,
        password: Option<Secret<String>>,
    ) -> Result<Session> {
        let target = keeper.target();
        // Two sides: a side that went out of service since is left before the call (the
        // notification session may not be there to notice).
        if keeper.several_sides() {
            keeper.settle_side().await?;
        }
        let http = match self.http.get() {
            Some(h) => h.clone(),
            None => {
                let h = target.http()?;
                self.http.get_or_init(|| h).clone()
            }
        };
        let (creds, user_id, auth, ignored): (Arc<dyn Credentials>, String, _, bool) =
            match self.mode(keeper).await? {
                Mode::Sso => {
                    let t = keeper
                        .token(Duration::from_secs(10))
                        .await
                        .map_err(from_wire)?;
                    let user_id = t.user_id.unwrap_or_else(|| target.user.clone());
                    // The password is not for SSO users: dropped here, unread.
                    (
                        Arc::new(KeeperToken(keeper.clone())),
                        user_id,
                        AUTH_SSO_TOKEN,
                        password.is_some(),
                    )
                }
                Mode::Basic => {
                    let password = password.ok_or_else(|| {
                        Error::PasswordRequired(format!(
                            "{} is a NON_SSO user: send `password` with the request",
                            target.user
                        ))
                    })?;
                    let creds = Fixed(Auth::Basic {
                        user: target.user.clone(),
                        password,
                    });
                    (Arc::new(creds), target.user.clone(), AUTH_BASIC, false)
                }
            };
        let mut api = UserApi::new(keeper.side(), http, creds).with_id_cache(self.ids.clone());
        // With a notification session up, the request's own notification confirms it
        // (listening from now, before the PUT); otherwise the User is read back.
        if self.feed.session_up() {
            api = api.with_outcome(Box::new(super::confirm::Notified::new(keeper.subscribe())));
        }
        Ok(Session {
            api,
            user_id,
            auth,
            password_ignored: ignored,
        })
    }

    fn done(&self, keeper: &Keeper, s: &Session, user: User) -> UserResult {
        self.feed.user(keeper, user.clone(), None);
        UserResult {
            user,
            auth: s.auth.into(),
            password_ignored: s.password_ignored,
        }
    }

    async fn do_sign_in(&self, keeper: &Arc<Keeper>, r: SignInRequest) -> Result<UserResult> {
        let mobile = match r.mobile_agent {
            None => None,
            Some(m) => Some(Mobile {
                mode: match m.mode.as_str() {
                    "CALL_BY_CALL" => MobileMode::CallByCall,
                    "NAILED_CONNECTION" => MobileMode::NailedConnection,
                    _ => {
                        return Err(Error::Usage(
                            "mobile_agent.mode must be CALL_BY_CALL or NAILED_CONNECTION".into(),
                        ));
                    }
                },
                dial_number: m.dial_number,
            }),
        };
        let s = self.session(keeper, r.password).await?;
        let user = s
            .api
            .sign_in(
                &s.user_id,
                &SignIn {
                    extension: r.extension,
                    active_device_id: r.active_device_id,
                    mobile,
                },
            )
            .await?;
        tracing::info!(
            "the Finesse agent {} is signed in ({})",
            user.login_id,
            user.state
        );
        Ok(self.done(keeper, &s, user))
    }

    async fn do_state(&self, keeper: &Arc<Keeper>, r: StateRequest) -> Result<UserResult> {
        let ready = match r.state.as_str() {
            "READY" => true,
            "NOT_READY" => false,
            _ => return Err(Error::Usage("state must be READY or NOT_READY".into())),
        };
        if ready && r.reason.is_some() {
            return Err(Error::Usage("a reason goes with NOT_READY only".into()));
        }
        let s = self.session(keeper, r.password).await?;
        let reason = r.reason.as_deref().map(Reason::parse);
        let user = s.api.set_state(&s.user_id, ready, reason.as_ref()).await?;
        Ok(self.done(keeper, &s, user))
    }

    async fn do_sign_out(&self, keeper: &Arc<Keeper>, r: SignOutRequest) -> Result<UserResult> {
        let s = self.session(keeper, r.password).await?;
        let reason = r.reason.as_deref().map(Reason::parse);
        let user = s.api.sign_out(&s.user_id, reason.as_ref()).await?;
        Ok(self.done(keeper, &s, user))
    }

    async fn do_user(&self, keeper: &Arc<Keeper>, r: UserRequest) -> Result<UserResult> {
        let s = self.session(keeper, r.password).await?;
        let user = s.api.get_user(&s.user_id).await?;
        Ok(UserResult {
            user,
            auth: s.auth.into(),
            password_ignored: s.password_ignored,
        })
    }

    pub async fn sign_in(&self, keeper: &Arc<Keeper>, id: Option<Id>, r: SignInRequest) -> String {
        reply(id, self.do_sign_in(keeper, r).await)
    }

    pub async fn state(&self, keeper: &Arc<Keeper>, id: Option<Id>, r: StateRequest) -> String {
        reply(id, self.do_state(keeper, r).await)
    }

    pub async fn sign_out(
        &self,
        keeper: &Arc<Keeper>,
        id: Option<Id>,
        r: SignOutRequest,
    ) -> String {
        reply(id, self.do_sign_out(keeper, r).await)
    }

    pub async fn user(&self, keeper: &Arc<Keeper>, id: Option<Id>, r: UserRequest) -> String {
        reply(id, self.do_user(keeper, r).await)
    }

    pub async fn reasons(&self, keeper: &Arc<Keeper>, id: Option<Id>, r: ReasonsRequest) -> String {
        let run = async {
            let category = match r.category.as_deref().unwrap_or("NOT_READY") {
                "NOT_READY" => Category::NotReady,
                "LOGOUT" => Category::Logout,
                "ALL" => Category::All,
                _ => {
                    return Err(Error::Usage(
                        "category must be NOT_READY, LOGOUT or ALL".into(),
                    ));
                }
            };
            let s = self.session(keeper, r.password).await?;
            let login_id = s.api.login_id(&s.user_id).await?;
            Ok(ReasonsResult {
                category: category.as_str().into(),
                reasons: s.api.reason_codes(&login_id, category).await?,
            })
        };
        reply(id, run.await)
    }

    /// An Acqueon-style message: its documented answer lines (or an error line).
    pub async fn acqueon(&self, keeper: &Arc<Keeper>, id: Option<Id>, m: Message) -> String {
        let idr = id.as_ref();
        let action = match m.action() {
            Ok(a) => a,
            Err(e) => {
                return line(acqueon::error(
                    idr,
                    Some(&m),
                    ErrorKind::UnknownOp.as_str(),
                    &e,
                ));
            }
        };
        let result: Result<String> = async {
            Ok(match action {
                Action::SignIn {
                    username,
                    extension,
                    password,
                } => {
                    let me = &keeper.target().user;
                    if let Some(u) = username.filter(|u| u != me) {
                        return Err(Error::Usage(format!(
                            "this agent signs in {me}, not {}",
                            u.chars().take(64).collect::<String>()
                        )));
                    }
                    let r = self
                        .do_sign_in(
                            keeper,
                            SignInRequest {
                                extension,
                                password,
                                ..Default::default()
                            },
                        )
                        .await?;
                    let ack = acqueon::answer(
                        idr,
                        ("Cisco", "Agent", "SetUserInfo"),
                        "SetUserInfo",
                        serde_json::json!({
                            "ok": true,
                            "auth": r.auth,
                            "password_ignored": r.password_ignored,
                        }),
                    );
                    line(ack) + &line(acqueon::login_event(idr, &r.user))
                }
                Action::GetAgentState => {
                    let r = self.do_user(keeper, UserRequest::default()).await?;
                    line(acqueon::agent_state(idr, &r.user))
                }
                Action::SetReady => {
                    let r = self
                        .do_state(
                            keeper,
                            StateRequest {
                                state: "READY".into(),
                                ..Default::default()
                            },
                        )
                        .await?;
                    line(acqueon::agent_state(idr, &r.user))
                }
                Action::Logout { reason_code_id } => {
                    let r = self
                        .do_sign_out(
                            keeper,
                            SignOutRequest {
                                reason: reason_code_id,
                                password: None,
                            },
                        )
                        .await?;
                    line(acqueon::agent_state(idr, &r.user))
                }
                Action::GetSystemInfo => {
                    let mode = keeper.finesse()?.system_auth_mode().await?;
                    line(acqueon::answer(
                        idr,
                        ("General", "System", "SetSystemInfo"),
                        "SetSystemInfo",
                        serde_json::json!({"systemInfo": {"systemAuthMode": mode}}),
                    ))
                }
            })
        }
        .await;
        result.unwrap_or_else(|e| {
            let w = wire(&e);
            line(acqueon::error(idr, Some(&m), w.kind.as_str(), &w.message))
        })
    }
}

fn line(v: Value) -> String {
    protocol::line(&v)
}

/// The `user` event line for one subscriber.
pub fn user_event(id: Option<Id>, user: &User, request_id: Option<String>) -> String {
    protocol::line(&UserEvent {
        event: EVENT_USER.into(),
        id,
        user: user.clone(),
        request_id,
    })
}
