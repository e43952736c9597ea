//! The Finesse User API client: sign the agent in, change its state, sign it out, read it and
//! its reason codes (reference §1–§3, §5, §8). A 202 only means "accepted": the outcome is
//! confirmed through [`Outcome`]: by reading the User back ([`Polling`]), or, where a
//! notification session is up, by the User notification that echoes the PUT's `requestId`. 503 and unreachable servers are retried a few times
//! with backoff; a 401 renews Bearer credentials once; a rejected password is never retried.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use url::Url;

use super::user::{self, ApiError, ReasonCode, User};
use super::user_xml::UserRequest;
use crate::error::{Error, Result, Step, host_of};
use crate::redact::Secret;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a request authenticates.
#[derive(Clone)]
pub enum Auth {
    /// SSO: the IdS access token.
    Bearer(Secret<String>),
    /// NON_SSO: the user's name and password (reference §1.1).
    Basic {
        user: String,
        password: Secret<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Bearer(_) => "Bearer(…)",
            Auth::Basic { .. } => "Basic(…)",
        })
    }
}

/// Where the credentials come from, and whether a 401 may be answered by renewing them.
pub trait Credentials: Send + Sync {
    fn current(&self) -> BoxFuture<'_, Result<Auth>>;
    /// After a 401: credentials worth one more try, or `None`. Basic answers `None` always:
    /// repeating a rejected password walks the user into Finesse's lockout.
    fn renew(&self) -> BoxFuture<'_, Result<Option<Auth>>>;
}

/// Credentials that cannot be renewed (a password, or a token with nothing to refresh it).
pub struct Fixed(pub Auth);

impl Credentials for Fixed {
    fn current(&self) -> BoxFuture<'_, Result<Auth>> {
        let a = self.0.clone();
        Box::pin(async move { Ok(a) })
    }
    fn renew(&self) -> BoxFuture<'_, Result<Option<Auth>>> {
        Box::pin(async { Ok(None) })
    }
}

/// Retries and waits.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Retries after a 503 or an unreachable server (not after any other answer).
    pub retries: u32,
    /// The first backoff; doubled each time.
    pub backoff: Duration,
    /// How long an accepted request may take to show in the User.
    pub confirm_within: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            retries: 3,
            backoff: Duration::from_millis(500),
            confirm_within: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Learns how an accepted request turned out: waits until `done(user)` or `within` passes,
/// returning the last User seen either way. `request_id` is the PUT's `requestId` header,
/// which Finesse echoes in the notifications the request causes (reference §4.3).
pub trait Outcome: Send + Sync {
    fn wait<'a>(
        &'a self,
        api: &'a UserApi,
        id: &'a str,
        request_id: &'a str,
        done: &'a (dyn Fn(&User) -> bool + Send + Sync),
        within: Duration,
    ) -> BoxFuture<'a, Result<(User, bool)>>;
}

/// Reads the User back: at once, then at growing intervals (20 ms → 500 ms).
pub struct Polling;

impl Outcome for Polling {
    fn wait<'a>(
        &'a self,
        api: &'a UserApi,
        id: &'a str,
        _request_id: &'a str,
        done: &'a (dyn Fn(&User) -> bool + Send + Sync),
        within: Duration,
    ) -> BoxFuture<'a, Result<(User, bool)>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + within;
            let mut pause = Duration::from_millis(20);
            loop {
                let u = api.get_user(id).await?;
                if done(&u) {
                    return Ok((u, true));
                }
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Ok((u, false));
                }
                tokio::time::sleep(pause.min(deadline - now)).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        })
    }
}

/// What `sign_in` sends.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub extension: String,
    pub active_device_id: Option<String>,
    pub mobile: Option<super::user_xml::Mobile>,
}

/// A reason given by the user: a database id, or a label to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Id(i64),
    Label(String),
}

impl Reason {
    /// Digits (optionally signed) are an id; anything else a label.
    pub fn parse(s: &str) -> Reason {
        match s.trim().parse::<i64>() {
            Ok(id) => Reason::Id(id),
            Err(_) => Reason::Label(s.trim().to_string()),
        }
    }
}

/// `NOT_READY` or `LOGOUT`, for reason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    NotReady,
    Logout,
    All,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::NotReady => "NOT_READY",
            Category::Logout => "LOGOUT",
            Category::All => "ALL",
        }
    }
}

/// The User API of one Finesse server, for one caller.
pub struct UserApi {
    base: Url,
    http: reqwest::Client,
    creds: Arc<dyn Credentials>,
    policy: Policy,
    outcome: Box<dyn Outcome>,
    /// user_id → loginId, learnt from `GET User`; may be shared between calls.
    ids: Arc<Mutex<HashMap<String, String>>>,
}

impl UserApi {
    pub fn new(base: Url, http: reqwest::Client, creds: Arc<dyn Credentials>) -> Self {
        UserApi {
            base,
            http,
            creds,
            policy: Policy::default(),
            outcome: Box::new(Polling),
            ids: Arc::default(),
        }
    }

    /// Shares the user_id → loginId map with other calls (the agent keeps one).
    pub fn with_id_cache(mut self, ids: Arc<Mutex<HashMap<String, String>>>) -> Self {
        self.ids = ids;
        self
    }

    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    pub fn with_outcome(mut self, outcome: Box<dyn Outcome>) -> Self {
        self.outcome = outcome;
        self
    }

    pub(crate) fn host(&self) -> String {
        host_of(&self.base)
    }

    fn user_url(&self, id: &str, sub: Option<&str>) -> Result<Url> {
        let mut u = self.base.clone();
        {
            let mut seg = u
                .path_segments_mut()
                .map_err(|_| Error::Internal("base URL cannot be a base".into()))?;
            seg.clear().extend(["finesse", "api", "User", id]);
            if let Some(s) = sub {
                seg.push(s);
            }
        }
        Ok(u)
    }

    /// One request with the policy's retries and one credential renewal after a 401. A body
    /// goes with its `requestId` (the same on every retry: it names the request).
    async fn send(
        &self,
        step: Step,
        method: reqwest::Method,
        url: &Url,
        body: Option<(&str, &str)>,
    ) -> Result<Vec<u8>> {
        let mut auth = self.creds.current().await?;
        let mut renewed = false;
        let mut attempt = 0u32;
        loop {
            let mut rb = self
                .http
                .request(method.clone(), url.clone())
                .timeout(self.policy.request_timeout)
                .header(reqwest::header::ACCEPT, "application/xml");
            rb = match &auth {
                Auth::Bearer(t) => rb.bearer_auth(t.expose()),
                Auth::Basic { user, password } => rb.basic_auth(user, Some(password.expose())),
            };
            if let Some((b, request_id)) = body {
                rb = rb
                    .header(reqwest::header::CONTENT_TYPE, "application/xml")
                    .header("requestId", request_id)
                    .body(b.to_string());
            }
            let retryable = |attempt: u32| attempt < self.policy.retries;
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) if !crate::http::is_tls_error(&e) && retryable(attempt) => {
                    tracing::info!(
                        "{step}: {} unreachable ({}); retrying",
                        self.host(),
                        crate::http::describe(&e)
                    );
                    self.backoff(attempt).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(Error::request(step, url, &e)),
            };
            let status = resp.status();
            // The proxy's block or rate limit: never retried here, whatever the policy.
            if let Some(e) = super::client::throttled(step, url, &resp) {
                return Err(e);
            }
            let body = super::client::read_body(step, url, resp).await?;
            if status.is_success() {
                return Ok(body);
            }
            if status == StatusCode::SERVICE_UNAVAILABLE && retryable(attempt) {
                tracing::info!("{step}: {} answered 503; retrying", self.host());
                self.backoff(attempt).await;
                attempt += 1;
                continue;
            }
            let api = user::parse_api_error(&body);
            if status == StatusCode::UNAUTHORIZED
                && matches!(auth, Auth::Bearer(_))
                && !renewed
                && !is_lock(api.as_ref())
            {
                renewed = true;
                if let Some(a) = self.creds.renew().await? {
                    tracing::info!("{step}: the token was refused (401); trying a fresh one once");
                    auth = a;
                    continue;
                }
            }
            return Err(self.error(step, status, api, &auth));
        }
    }

    async fn backoff(&self, attempt: u32) {
        let d = self.policy.backoff.saturating_mul(1 << attempt.min(6));
        tokio::time::sleep(d).await;
    }

    fn error(&self, step: Step, status: StatusCode, api: Option<ApiError>, auth: &Auth) -> Error {
        let detail = match &api {
            Some(e) => format!("HTTP {}: {e}", status.as_u16()),
            None => format!("HTTP {}", status.as_u16()),
        };
        let host = self.host();
        match status.as_u16() {
            423 => Error::AccountLocked { step, host, detail },
            401 if is_lock(api.as_ref()) => Error::AccountLocked { step, host, detail },
            401 | 403 => Error::AuthRejected {
                step,
                host,
                detail: match auth {
                    Auth::Basic { .. } => format!("{detail}; the password is not tried again"),
                    Auth::Bearer(_) => detail,
                },
            },
            400 => Error::DesktopRefused { step, host, detail },
            _ => Error::Server { step, host, detail },
        }
    }

    /// `GET /finesse/api/User/<id>`.
    pub async fn get_user(&self, id: &str) -> Result<User> {
        const STEP: Step = "User";
        let url = self.user_url(id, None)?;
        let body = self.send(STEP, reqwest::Method::GET, &url, None).await?;
        user::parse_user(&body).map_err(|e| Error::Server {
            step: STEP,
            host: self.host(),
            detail: format!("not a Finesse User: {e}"),
        })
    }

    /// `GET /finesse/api/User/<id>/ReasonCodes?category=…`.
    pub async fn reason_codes(&self, id: &str, category: Category) -> Result<Vec<ReasonCode>> {
        const STEP: Step = "ReasonCodes";
        let mut url = self.user_url(id, Some("ReasonCodes"))?;
        url.query_pairs_mut()
            .append_pair("category", category.as_str());
        let body = self.send(STEP, reqwest::Method::GET, &url, None).await?;
        user::parse_reason_codes(&body).map_err(|e| Error::Server {
            step: STEP,
            host: self.host(),
            detail: format!("not Finesse reason codes: {e}"),
        })
    }

    /// `PUT /finesse/api/User/<login id>` (a 2xx is only "accepted"); returns its `requestId`.
    pub async fn put(&self, step: Step, login_id: &str, req: &UserRequest) -> Result<String> {
        let url = self.user_url(login_id, None)?;
        let xml = req
            .to_xml()
            .map_err(|e| Error::Usage(format!("{step}: {e}")))?;
        let id = request_id();
        self.send(step, reqwest::Method::PUT, &url, Some((&xml, &id)))
            .await
            .map(|_| id)
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The loginId to PUT to: the token's `user_id` may be the loginName while UCCE keys the
    /// User by loginId (reference §1.1), so it is mapped with a GET once, then remembered.
    pub async fn login_id(&self, user_id: &str) -> Result<String> {
        if let Some(id) = self.ids().get(user_id) {
            return Ok(id.clone());
        }
        let u = self.get_user(user_id).await?;
        self.ids().insert(user_id.to_string(), u.login_id.clone());
        Ok(u.login_id)
    }

    /// A PUT to a remembered loginId that failed forgets it (the next call maps again).
    async fn put_to(
        &self,
        step: Step,
        user_id: &str,
        login_id: &str,
        req: &UserRequest,
    ) -> Result<String> {
        let r = self.put(step, login_id, req).await;
        if r.is_err() {
            self.ids().remove(user_id);
        }
        r
    }

    /// A reason as a `reasonCodeId`: ids go as given, labels are looked up.
    pub async fn reason_id(&self, login_id: &str, category: Category, r: &Reason) -> Result<i64> {
        match r {
            Reason::Id(id) => Ok(*id),
            Reason::Label(label) => {
                let codes = self.reason_codes(login_id, category).await?;
                codes
                    .iter()
                    .find(|c| c.label.eq_ignore_ascii_case(label))
                    .map(|c| c.id)
                    .ok_or_else(|| {
                        let known: Vec<String> = codes
                            .iter()
                            .map(|c| format!("{} ({})", c.label, c.id))
                            .collect();
                        Error::Usage(format!(
                            "no {} reason labelled {label:?}; known: {}",
                            category.as_str(),
                            if known.is_empty() {
                                "none".into()
                            } else {
                                known.join(", ")
                            }
                        ))
                    })
            }
        }
    }

    /// Signs the agent in and waits until Finesse shows it signed in.
    pub async fn sign_in(&self, user_id: &str, s: &SignIn) -> Result<User> {
        let login_id = self.login_id(user_id).await?;
        let req = UserRequest::Login {
            extension: s.extension.clone(),
            active_device_id: s.active_device_id.clone(),
            mobile: s.mobile.clone(),
        };
        let request_id = self.put_to("sign-in", user_id, &login_id, &req).await?;
        let (after, ok) = self
            .outcome
            .wait(
                self,
                &login_id,
                &request_id,
                &|u: &User| u.signed_in(),
                self.policy.confirm_within,
            )
            .await?;
        if !ok {
            return Err(Error::DesktopUnconfirmed(format!(
                "Finesse accepted the sign-in of {} at extension {}, but the CTI server did not sign the agent in within {} s (still {}): the device may be invalid, offline or busy, or the extension not associated with the agent",
                user_id,
                s.extension,
                self.policy.confirm_within.as_secs(),
                after.state
            )));
        }
        Ok(after)
    }

    /// READY, or NOT_READY with an optional reason; waits until the User shows it.
    pub async fn set_state(
        &self,
        user_id: &str,
        ready: bool,
        reason: Option<&Reason>,
    ) -> Result<User> {
        let login_id = self.login_id(user_id).await?;
        let req = if ready {
            UserRequest::Ready
        } else {
            let id = match reason {
                Some(r) => Some(self.reason_id(&login_id, Category::NotReady, r).await?),
                None => None,
            };
            UserRequest::NotReady { reason_code_id: id }
        };
        self.change(user_id, &login_id, req).await
    }

    /// LOGOUT with an optional reason. Already signed out: nothing is sent.
    pub async fn sign_out(&self, user_id: &str, reason: Option<&Reason>) -> Result<User> {
        let login_id = self.login_id(user_id).await?;
        let u = self.get_user(&login_id).await?;
        if !u.signed_in() {
            tracing::info!("{user_id} is already signed out");
            return Ok(u);
        }
        let id = match reason {
            Some(r) => Some(self.reason_id(&login_id, Category::Logout, r).await?),
            None => None,
        };
        self.change(
            user_id,
            &login_id,
            UserRequest::Logout { reason_code_id: id },
        )
        .await
    }

    async fn change(&self, user_id: &str, login_id: &str, req: UserRequest) -> Result<User> {
        let want = req.state();
        let step: Step = match req {
            UserRequest::Logout { .. } => "sign-out",
            _ => "state change",
        };
        let request_id = self.put_to(step, user_id, login_id, &req).await?;
        let (after, ok) = self
            .outcome
            .wait(
                self,
                login_id,
                &request_id,
                &|u: &User| u.state == want || u.pending_state == want,
                self.policy.confirm_within,
            )
            .await?;
        if !ok {
            return Err(Error::DesktopUnconfirmed(format!(
                "Finesse accepted {want} for {}, but the agent is still {} after {} s",
                user_id,
                after.state,
                self.policy.confirm_within.as_secs()
            )));
        }
        Ok(after)
    }
}

/// Whether an `ApiError` says the account is locked (Finesse's wording is undocumented:
/// reference §5 \[U\]; the emulator's says "locked").
fn is_lock(e: Option<&ApiError>) -> bool {
    e.is_some_and(|e| e.error_message.to_ascii_lowercase().contains("locked"))
}

/// A fresh opaque id for the `requestId` header (echoed in Finesse's notifications).
fn request_id() -> String {
    // rustls's provider is already linked for TLS; its CSPRNG saves a dependency.
    let mut b = [0u8; 16];
    let _ = rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_and_debug_hides_secrets() {
        assert_eq!(Reason::parse(" 16 "), Reason::Id(16));
        assert_eq!(
            Reason::parse("Team Meeting"),
            Reason::Label("Team Meeting".into())
        );
        let a = Auth::Basic {
            user: "u".into(),
            password: Secret::new("hunter2".into()),
        };
        assert!(!format!("{a:?}").contains("hunter2"));
        assert!(is_lock(Some(&ApiError {
            error_message: "User account is LOCKED".into(),
            ..ApiError::default()
        })));
        assert!(!is_lock(None));
    }
}
