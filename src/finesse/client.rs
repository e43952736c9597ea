//! Finesse REST calls the helper makes itself: auth-mode discovery, token refresh, user check.

use std::time::Duration;

use reqwest::StatusCode;
use url::Url;

use super::TOKEN_PATH;
use super::token_response::TokenResponse;
use super::xml::{self, AuthMode};
use crate::error::{Error, Result, Step, Throttle, host_of};
use crate::redact::Secret;

/// What a per-user auth-mode lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserMode {
    Known(AuthMode),
    /// The API is absent (404, Finesse 11.6/12.0) or disabled (403): proceed with SSO.
    Unavailable(String),
}

/// How a refresh call ended.
#[derive(Debug)]
pub enum Refreshed {
    Token(TokenResponse),
    /// Finesse sent the refresh into the browser flow (3xx or HTML): redo it in the webview.
    NeedsBrowser(String),
}

/// A client for one Finesse server.
#[derive(Clone, Debug)]
pub struct Finesse {
    base: Url,
    http: reqwest::Client,
}

const BODY_LIMIT: usize = 256 * 1024;

impl Finesse {
    /// `http` must not follow redirects (a refresh redirect means "needs the browser").
    pub fn new(base: Url, http: reqwest::Client) -> Self {
        Finesse { base, http }
    }

    /// The same client on another base URL (the other Finesse side).
    pub fn on(&self, base: Url) -> Finesse {
        Finesse {
            base,
            http: self.http.clone(),
        }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Url {
        let mut u = self.base.clone();
        u.set_path(path);
        u
    }

    fn host(&self) -> String {
        host_of(&self.base)
    }

    async fn get(&self, step: Step, url: &Url) -> Result<(StatusCode, String, Vec<u8>)> {
        let resp = self
            .http
            .get(url.clone())
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| Error::request(step, url, &e))?;
        read(step, url, resp).await
    }

    /// `GET /finesse/api/SystemInfo` → `systemAuthMode`.
    pub async fn system_auth_mode(&self) -> Result<AuthMode> {
        self.system_info().await.map(|s| s.auth_mode)
    }

    /// `GET /finesse/api/SystemInfo` (no authentication).
    pub async fn system_info(&self) -> Result<xml::SystemInfo> {
        const STEP: Step = "SystemInfo";
        let url = self.url("/finesse/api/SystemInfo");
        let (status, _, body) = self.get(STEP, &url).await?;
        if !status.is_success() {
            return Err(self.http_error(STEP, status, &body));
        }
        xml::system_info(&body).map_err(|e| Error::Server {
            step: STEP,
            host: self.host(),
            detail: format!("not a Finesse answer: {e}"),
        })
    }

    /// `GET /finesse/api/UserAuthMode/<user>`; 403 (disabled) and 404 (absent) are not errors.
    pub async fn user_auth_mode(&self, user: &str) -> Result<UserMode> {
        const STEP: Step = "UserAuthMode";
        let mut url = self.url("/finesse/api/UserAuthMode/");
        url.path_segments_mut()
            .map_err(|_| Error::Internal("base URL cannot be a base".into()))?
            .pop()
            .push(user);
        let (status, _, body) = self.get(STEP, &url).await?;
        match status {
            StatusCode::OK => xml::user_auth_mode(&body)
                .map(UserMode::Known)
                .map_err(|e| Error::Server {
                    step: STEP,
                    host: self.host(),
                    detail: format!("not a Finesse answer: {e}"),
                }),
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => Ok(UserMode::Unavailable(format!(
                "HTTP {}{}",
                status.as_u16(),
                xml::api_error(&body)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ))),
            _ => Err(self.http_error(STEP, status, &body)),
        }
    }

    /// The pre-window check: SSO goes on, NON_SSO stops, HYBRID asks per user.
    pub async fn require_sso(&self, user: &str) -> Result<()> {
        match self.system_auth_mode().await? {
            AuthMode::Sso => Ok(()),
            AuthMode::NonSso => Err(Error::NotSso {
                who: "the system".into(),
                server: self.host(),
            }),
            AuthMode::Hybrid => match self.user_auth_mode(user).await? {
                UserMode::Known(AuthMode::NonSso) => Err(Error::NotSso {
                    who: format!("user {user}"),
                    server: self.host(),
                }),
                UserMode::Known(_) => Ok(()),
                UserMode::Unavailable(why) => {
                    tracing::info!("UserAuthMode unavailable ({why}); continuing with SSO");
                    Ok(())
                }
            },
        }
    }

    /// Refresh Existing Access Token: `POST /desktop/sso/token` (form), falling back to the TAC
    /// GET form when the POST itself is refused (404/405/415/501: the method or form is not
    /// supported). Not on 400/401: those judge the tokens, and the GET form would put the
    /// refresh token in a URL (proxy and server logs) for nothing.
    pub async fn refresh(
        &self,
        user: &str,
        token: &Secret<String>,
        refresh: &Secret<String>,
    ) -> Result<Refreshed> {
        const STEP: Step = "token refresh";
        let url = self.url(TOKEN_PATH);
        let mut with_user = url.clone();
        with_user.query_pairs_mut().append_pair("cc_username", user);
        let form = [
            ("token", token.expose().as_str()),
            ("refresh-token", refresh.expose().as_str()),
            ("return_user", "yes"),
            ("return_refresh_token", "true"),
        ];
        let resp = self
            .http
            .post(with_user.clone())
            .form(&form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| Error::request(STEP, &url, &e))?;
        let (status, ctype, body) = read(STEP, &url, resp).await?;
        let (status, ctype, body) = if matches!(status.as_u16(), 404 | 405 | 415 | 501) {
            tracing::info!(
                "refresh POST answered HTTP {}; trying the GET form",
                status.as_u16()
            );
            let mut get = with_user;
            get.query_pairs_mut()
                .append_pair("refresh-token", refresh.expose())
                .append_pair("return_refresh_token", "true");
            let (s, c, b) = self.get(STEP, &get).await?;
            (s, c, b)
        } else {
            (status, ctype, body)
        };
        self.token_answer(STEP, status, &ctype, &body)
    }

    fn token_answer(
        &self,
        step: Step,
        status: StatusCode,
        ctype: &str,
        body: &[u8],
    ) -> Result<Refreshed> {
        if status.is_redirection() {
            return Ok(Refreshed::NeedsBrowser(format!(
                "HTTP {} redirect",
                status.as_u16()
            )));
        }
        let json = ctype
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json");
        if status.is_success() && !json && ctype.to_ascii_lowercase().contains("html") {
            return Ok(Refreshed::NeedsBrowser("HTML page".into()));
        }
        if !status.is_success() {
            return Err(self.http_error(step, status, body));
        }
        if !json {
            return Err(Error::Server {
                step,
                host: self.host(),
                detail: format!("answered {ctype:?}, not application/json"),
            });
        }
        TokenResponse::parse(body)
            .map(Refreshed::Token)
            .map_err(|e| Error::Server {
                step,
                host: self.host(),
                detail: e.to_string(),
            })
    }

    /// `GET /finesse/api/User/<id>` with the bearer token: proves a token works.
    pub async fn user(&self, id: &str, token: &Secret<String>) -> Result<String> {
        const STEP: Step = "User";
        let mut url = self.url("/finesse/api/User/");
        url.path_segments_mut()
            .map_err(|_| Error::Internal("base URL cannot be a base".into()))?
            .pop()
            .push(id);
        let resp = self
            .http
            .get(url.clone())
            .bearer_auth(token.expose())
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| Error::request(STEP, &url, &e))?;
        let (status, _, body) = read(STEP, &url, resp).await?;
        if !status.is_success() {
            return Err(self.http_error(STEP, status, &body));
        }
        String::from_utf8(body).map_err(|_| Error::Server {
            step: STEP,
            host: self.host(),
            detail: "not UTF-8".into(),
        })
    }

    fn http_error(&self, step: Step, status: StatusCode, body: &[u8]) -> Error {
        let detail = format!(
            "HTTP {}{}",
            status.as_u16(),
            xml::api_error(body)
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        if matches!(status.as_u16(), 401 | 403) {
            Error::AuthRejected {
                step,
                host: self.host(),
                detail,
            }
        } else {
            Error::Server {
                step,
                host: self.host(),
                detail,
            }
        }
    }
}

/// The VPN-less proxy's 418 or 429, as its typed error (the body is not read).
pub(crate) fn throttled(step: Step, url: &Url, resp: &reqwest::Response) -> Option<Error> {
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok());
    Throttle::error(step, host_of(url), resp.status().as_u16(), retry_after)
}

/// Reads a bounded body; a 418 or 429 is the proxy's throttle error.
async fn read(
    step: Step,
    url: &Url,
    resp: reqwest::Response,
) -> Result<(StatusCode, String, Vec<u8>)> {
    let status = resp.status();
    if let Some(e) = throttled(step, url, &resp) {
        return Err(e);
    }
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Ok((status, ctype, read_body(step, url, resp).await?))
}

/// Reads a body of at most `BODY_LIMIT` bytes (every Finesse answer we read: JSON, XML).
pub(crate) async fn read_body(
    step: Step,
    url: &Url,
    mut resp: reqwest::Response,
) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::request(step, url, &e))?
    {
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(Error::Server {
                step,
                host: host_of(url),
                detail: format!("answer larger than {BODY_LIMIT} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
