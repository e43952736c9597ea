//! The HTTP test browser: follows redirects, submits script-submitted forms, fills a login
//! form, and asks `flow` about every hop and about the final page, like the webview does. An
//! observer may watch every request and stop the walk before one (tests replay or alter it).

use std::fmt;
use std::sync::Arc;

use reqwest::header::{CONTENT_TYPE, LOCATION};
use url::Url;

use super::forms::{self, HtmlForm};
use crate::finesse::token_response::TokenResponse;
use crate::flow::{CaptureRefusal, DenyReason, Flow, MAX_NAVIGATIONS, Navigation};
use crate::http::{HttpOptions, HttpSetupError, Jar};
use crate::redact::{self, Secret};

/// Largest page the driver reads (the emulator's are a few KiB).
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Why a navigation or sign-in failed. URLs are redacted; bodies are never quoted.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Setup(#[from] HttpSetupError),
    #[error("request to {url} failed: {reason}")]
    Request {
        url: String,
        reason: String,
        /// A TLS verification failure (untrusted CA, wrong name).
        tls: bool,
    },
    #[error("navigation to {url} refused: {reason}")]
    Denied { url: String, reason: DenyReason },
    #[error("{0}")]
    BadPage(String),
    #[error("page {url} (HTTP {status}) is not the token: {reason}")]
    Capture {
        url: String,
        status: u16,
        reason: CaptureRefusal,
    },
}

/// The page the driver stopped at.
pub struct Page {
    pub url: Url,
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body may hold tokens: show its size only.
        f.debug_struct("Page")
            .field("url", &redact::url(&self.url))
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Page {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request the driver is about to make. `Debug` shows the method, the redacted URL and the
/// form's field names, never a value.
#[derive(Clone)]
pub enum Step {
    Get(Url),
    Post(Url, Vec<(String, String)>),
}

impl Step {
    pub fn url(&self) -> &Url {
        match self {
            Step::Get(u) | Step::Post(u, _) => u,
        }
    }

    /// The form fields of a POST; none for a GET.
    pub fn form(&self) -> &[(String, String)] {
        match self {
            Step::Get(_) => &[],
            Step::Post(_, fields) => fields,
        }
    }

    /// Sends this request with `client`: the driver's own ([`HttpDriver::client`], with its
    /// cookies) to replay it, or another to send it without them.
    pub async fn send(&self, client: &reqwest::Client) -> reqwest::Result<reqwest::Response> {
        match self {
            Step::Get(u) => client.get(u.clone()).send().await,
            Step::Post(u, fields) => client.post(u.clone()).form(fields).send().await,
        }
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.form().iter().map(|(k, _)| k.as_str()).collect();
        match self {
            Step::Get(u) => write!(f, "GET {}", redact::url(u)),
            Step::Post(u, _) => write!(f, "POST {} {names:?}", redact::url(u)),
        }
    }
}

/// Why the driver makes a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The URL the walk started at.
    Start,
    /// A 3xx answer's `Location`.
    Redirect,
    /// A form the page submits by script.
    Form,
    /// The login form, filled in with the credentials.
    Login,
}

/// What an observer of [`HttpDriver::walk`] decides before each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// Make the request and go on.
    Send,
    /// End the walk here and hand the request back unsent.
    Stop,
}

/// Where a walk ended: at a page that asks for nothing more, or before the request an observer
/// stopped at.
#[derive(Debug)]
pub enum Walked {
    Page(Page),
    Stopped(Step),
}

/// An outcome-level stand-in for the webview, driven over HTTP.
pub struct HttpDriver {
    client: reqwest::Client,
    jar: Arc<Jar>,
    credentials: Option<(String, Secret<String>)>,
}

impl HttpDriver {
    /// `opts.follow_redirects` is ignored: the driver follows redirects itself, hop by hop.
    pub fn new(
        opts: &HttpOptions,
        credentials: Option<(String, String)>,
    ) -> Result<Self, DriverError> {
        let jar = Jar::new();
        let mut opts = opts.clone();
        opts.follow_redirects = false;
        let client = crate::http::client(&opts, Some(jar.clone()))?;
        Ok(HttpDriver {
            client,
            jar,
            credentials: credentials.map(|(u, p)| (u, Secret::new(p))),
        })
    }

    pub fn jar(&self) -> Arc<Jar> {
        self.jar.clone()
    }

    /// The driver's HTTP client: its cookie jar, no redirects followed.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Stores a cookie for `url` as a page script would (`document.cookie`), e.g. the
    /// `cc_username` cookie Finesse 11.6/12.0 needs.
    pub fn set_cookie(&self, url: &Url, cookie: &str) -> Result<(), DriverError> {
        let raw = cookie_store::RawCookie::parse(cookie.to_string())
            .map_err(|_| DriverError::BadPage("unparsable cookie".into()))?;
        let mut store = self.jar.0.lock().unwrap_or_else(|p| p.into_inner());
        store
            .insert_raw(&raw, url)
            .map_err(|e| DriverError::BadPage(format!("cookie refused for this URL: {e}")))?;
        Ok(())
    }

    /// Loads `url` like a browser: follows 3xx (each hop checked with `flow.navigation()`;
    /// Deny → error), auto-submits forms that the page submits by script, fills username and
    /// password on a login form once when credentials are given, and stops at the first page
    /// that is none of those. Bounded by `flow`'s [`MAX_NAVIGATIONS`].
    pub async fn navigate(&self, flow: &mut Flow, url: Url) -> Result<Page, DriverError> {
        match self.walk(flow, url, |_, _| Hop::Send).await? {
            Walked::Page(page) => Ok(page),
            Walked::Stopped(step) => Err(DriverError::BadPage(format!(
                "walk stopped before {step:?} though nothing asked it to"
            ))),
        }
    }

    /// [`navigate`](Self::navigate), calling `observe` with every request the flow allows, and
    /// why it is made, before it is made; [`Hop::Stop`] ends the walk there and returns that
    /// request unsent.
    pub async fn walk(
        &self,
        flow: &mut Flow,
        url: Url,
        mut observe: impl FnMut(&Step, Via) -> Hop,
    ) -> Result<Walked, DriverError> {
        let (mut step, mut via) = (Step::Get(url), Via::Start);
        let mut credentials_used = false;
        for _ in 0..=MAX_NAVIGATIONS {
            let target = step.url().clone();
            if let Navigation::Deny(reason) = flow.navigation(target.as_str()) {
                return Err(DriverError::Denied {
                    url: redact::url(&target),
                    reason,
                });
            }
            if observe(&step, via) == Hop::Stop {
                return Ok(Walked::Stopped(step));
            }
            let resp = step
                .send(&self.client)
                .await
                .map_err(|e| DriverError::Request {
                    url: redact::url(&target),
                    reason: crate::http::describe(&e),
                    tls: crate::http::is_tls_error(&e),
                })?;
            let status = resp.status().as_u16();
            if resp.status().is_redirection() {
                let location = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| target.join(l).ok())
                    .ok_or_else(|| {
                        DriverError::BadPage(format!(
                            "HTTP {status} from {} without a usable Location",
                            redact::url(&target)
                        ))
                    })?;
                via = Via::Redirect;
                step = match (status, step) {
                    // 307/308 repeat the request as it was; the others become a GET.
                    (307 | 308, Step::Post(_, fields)) => Step::Post(location, fields),
                    _ => Step::Get(location),
                };
                continue;
            }
            let content_type = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = read_body(resp, &target).await?;
            let page = Page {
                url: target,
                status,
                content_type,
                body,
            };
            if !is_html(&page.content_type) {
                return Ok(Walked::Page(page));
            }
            let scanned = forms::scan(&page.text());
            if let Some(form) = scanned.script_submitted() {
                (step, via) = (submission(&page.url, form, form.fields())?, Via::Form);
                continue;
            }
            if let (Some((user, password)), Some(form), false) =
                (&self.credentials, scanned.login_form(), credentials_used)
            {
                credentials_used = true;
                let filled = fill_login(form, user, password.expose());
                (step, via) = (submission(&page.url, form, filled)?, Via::Login);
                continue;
            }
            return Ok(Walked::Page(page));
        }
        Err(DriverError::Denied {
            url: redact::url(step.url()),
            reason: DenyReason::Loop,
        })
    }

    /// The whole sign-in: navigate to `flow.token_url(user)`, then `flow.capture(...)` on the
    /// final page.
    pub async fn sign_in(&self, flow: &mut Flow, user: &str) -> Result<TokenResponse, DriverError> {
        let url = flow.token_url(user);
        let page = self.navigate(flow, url).await?;
        flow.capture(
            page.url.as_str(),
            page.status,
            &page.content_type,
            &page.body,
        )
        .map_err(|reason| DriverError::Capture {
            url: redact::url(&page.url),
            status: page.status,
            reason,
        })
    }
}

fn is_html(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html"))
}

async fn read_body(mut resp: reqwest::Response, url: &Url) -> Result<Vec<u8>, DriverError> {
    let mut body = Vec::new();
    loop {
        let chunk = resp.chunk().await.map_err(|e| DriverError::Request {
            url: redact::url(url),
            reason: crate::http::describe(&e),
            tls: false,
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len() + chunk.len() > MAX_PAGE_BYTES {
            return Err(DriverError::BadPage(format!(
                "page {} is over {MAX_PAGE_BYTES} bytes",
                redact::url(url)
            )));
        }
        body.extend_from_slice(&chunk);
    }
}

/// The request a form submission makes (action resolved against the page URL).
fn submission(
    page: &Url,
    form: &HtmlForm,
    fields: Vec<(String, String)>,
) -> Result<Step, DriverError> {
    let action = match form.action.as_deref().map(str::trim) {
        None | Some("") => page.clone(),
        Some(a) => page.join(a).map_err(|_| {
            DriverError::BadPage(format!(
                "form on {} has an unusable action",
                redact::url(page)
            ))
        })?,
    };
    Ok(if form.method == "post" {
        Step::Post(action, fields)
    } else {
        let mut u = action;
        u.set_fragment(None);
        u.query_pairs_mut().clear().extend_pairs(fields);
        Step::Get(u)
    })
}

/// The login form's fields with the user name in the first text-like input and the password
/// in the password input.
fn fill_login(form: &HtmlForm, user: &str, password: &str) -> Vec<(String, String)> {
    let user_input = form
        .inputs
        .iter()
        .position(|i| i.name.as_deref() == Some("username"))
        .or_else(|| {
            form.inputs
                .iter()
                .position(|i| matches!(i.kind.as_str(), "text" | "email"))
        });
    let mut filled = form.clone();
    for (n, input) in filled.inputs.iter_mut().enumerate() {
        if Some(n) == user_input {
            input.value = user.to_string();
        } else if input.kind == "password" {
            input.value = password.to_string();
        }
    }
    filled.fields()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_prints_names_never_values() {
        let url = Url::parse("https://idp.example/login?txn=abc123secret").unwrap();
        let step = Step::Post(url, vec![("password".into(), "hunter2".into())]);
        let shown = format!("{step:?}");
        assert!(
            shown.starts_with("POST https://idp.example/login?txn="),
            "{shown}"
        );
        assert!(shown.contains("password"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("abc123secret"),
            "{shown}"
        );
        assert_eq!(step.form().len(), 1);
        assert!(Step::Get(step.url().clone()).form().is_empty());
    }
}
