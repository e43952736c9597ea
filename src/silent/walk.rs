//! The HTTP walk of a sign-in, hop by hop with the helper's own client and a cookie jar: every
//! request asked of `flow` first (origin, scheme, `cc_username`, navigation count), 3xx followed,
//! the token endpoint's answer judged by its declared length before it is read. What to do with
//! an HTML page is the caller's: the silent sign-in posts only auto-posting forms, the test
//! browser also fills a login form. No script is ever run.

use std::fmt;
use std::sync::Arc;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use url::Url;

use super::forms::{self, HtmlForm, ScannedPage};
use crate::finesse::token_response::MAX_TOKEN_RESPONSE_BYTES;
use crate::flow::{
    CaptureRefusal, DenyReason, Flow, MAX_NAVIGATIONS, Navigation, ResponseFacts, ResponseVerdict,
};
use crate::http::{HttpOptions, HttpSetupError, Jar, SameSiteContext};
use crate::redact;

/// Largest page the walk reads (sign-in pages are a few KiB; the token answer has its own cap).
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Why a walk ended before a page. URLs are redacted; bodies are never quoted.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
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

/// The page a walk stopped at.
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

    pub fn is_html(&self) -> bool {
        self.content_type
            .split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html"))
    }
}

/// A request the walk is about to make. `Debug` shows the method, the redacted URL and the
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

    /// Sends this request with `client`: the walker's own ([`Walker::client`], with its
    /// cookies) to replay it, or another to send it without them.
    pub async fn send(&self, client: &reqwest::Client) -> reqwest::Result<reqwest::Response> {
        match self {
            Step::Get(u) => client.get(u.clone()).send().await,
            Step::Post(u, fields) => client.post(u.clone()).form(fields).send().await,
        }
    }

    /// The request submitting `form` of the page at `page` with `fields` (the action resolved
    /// against the page URL).
    pub fn submit(
        page: &Url,
        form: &HtmlForm,
        fields: Vec<(String, String)>,
    ) -> Result<Step, WalkError> {
        let action = match form.action.as_deref().map(str::trim) {
            None | Some("") => page.clone(),
            Some(a) => page.join(a).map_err(|_| {
                WalkError::BadPage(format!(
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

/// Why the walk makes a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The URL the walk started at.
    Start,
    /// A 3xx answer's `Location`.
    Redirect,
    /// A form the page submits by script.
    Form,
    /// The login form, filled in with the credentials (the test browser only).
    Login,
}

/// What an observer of [`Walker::walk`] decides before each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// Make the request and go on.
    Send,
    /// End the walk here and hand the request back unsent.
    Stop,
}

/// Where a walk ended: at a page the caller had nothing more to do with, or before the request
/// an observer stopped at.
#[derive(Debug)]
pub enum Walked {
    Page(Page),
    Stopped(Step),
}

/// The client and jar a walk uses.
pub struct Walker {
    client: reqwest::Client,
    jar: Arc<Jar>,
}

impl Walker {
    /// The helper's client for `opts` (`follow_redirects` ignored: the walk follows them itself,
    /// hop by hop) with `jar` as its cookie jar.
    pub fn new(opts: &HttpOptions, jar: Arc<Jar>) -> Result<Self, WalkError> {
        let mut opts = opts.clone();
        opts.follow_redirects = false;
        let client = crate::http::client(&opts, Some(jar.clone()))?;
        Ok(Walker { client, jar })
    }

    pub fn jar(&self) -> Arc<Jar> {
        self.jar.clone()
    }

    /// The walk's HTTP client: its cookie jar, no redirects followed.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Loads `url`: follows 3xx (each hop asked of `flow.navigation()`; Deny → error), and on
    /// each HTML page asks `next` for the request that page leads to (`None`: the walk ends
    /// there). `observe` sees every request the flow allows, and why it is made, before it is
    /// made; [`Hop::Stop`] ends the walk there with that request unsent. A token answer declared
    /// over its limit is an error, unread. Bounded by
    /// `flow`'s [`MAX_NAVIGATIONS`].
    pub async fn walk(
        &self,
        flow: &mut Flow,
        url: Url,
        mut observe: impl FnMut(&Step, Via) -> Hop,
        mut next: impl FnMut(&Url, &ScannedPage) -> Result<Option<(Step, Via)>, WalkError>,
    ) -> Result<Walked, WalkError> {
        let (mut step, mut via) = (Step::Get(url), Via::Start);
        // The page the current navigation started from (none: typed by the user), for SameSite.
        let mut initiator: Option<Url> = None;
        for _ in 0..=MAX_NAVIGATIONS {
            let target = step.url().clone();
            if let Navigation::Deny(reason) = flow.navigation(target.as_str()) {
                return Err(WalkError::Denied {
                    url: redact::url(&target),
                    reason,
                });
            }
            if observe(&step, via) == Hop::Stop {
                return Ok(Walked::Stopped(step));
            }
            self.jar.set_context(same_site(initiator.as_ref(), &step));
            let sent = step.send(&self.client).await;
            self.jar.set_context(SameSiteContext::SameSite);
            let resp = sent.map_err(|e| WalkError::Request {
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
                        WalkError::BadPage(format!(
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
            let content_type = header(&resp, CONTENT_TYPE).unwrap_or("").to_string();
            // The token answer is held to its size limit before a byte of it is read, as the
            // window holds it; its status and type are the capture's to judge afterwards.
            let token_answer = flow.is_token_endpoint(target.as_str()) && status == 200;
            if token_answer {
                let facts = ResponseFacts {
                    url: target.to_string(),
                    status,
                    mime: content_type.clone(),
                    declared_len: header(&resp, CONTENT_LENGTH).and_then(|l| l.parse().ok()),
                };
                if let ResponseVerdict::Refuse(reason @ CaptureRefusal::Body(_)) =
                    flow.judge_response(true, &facts)
                {
                    return Err(WalkError::Capture {
                        url: redact::url(&target),
                        status,
                        reason,
                    });
                }
            }
            let limit = match token_answer {
                true => MAX_TOKEN_RESPONSE_BYTES,
                false => MAX_PAGE_BYTES,
            };
            let body = read_body(resp, &target, limit).await?;
            let page = Page {
                url: target,
                status,
                content_type,
                body,
            };
            if !page.is_html() {
                return Ok(Walked::Page(page));
            }
            match next(&page.url, &forms::scan(&page.text()))? {
                Some((s, v)) => (step, via, initiator) = (s, v, Some(page.url)),
                None => return Ok(Walked::Page(page)),
            }
        }
        Err(WalkError::Denied {
            url: redact::url(step.url()),
            reason: DenyReason::Loop,
        })
    }
}

/// Where a request comes from, for SameSite: the same site when typed or when from a page of
/// the same scheme and host (stricter than a browser's registrable domain: a cookie left out
/// only ends the walk sooner, never sends one further).
fn same_site(initiator: Option<&Url>, step: &Step) -> SameSiteContext {
    let to = step.url();
    match initiator {
        None => SameSiteContext::SameSite,
        Some(from) if from.scheme() == to.scheme() && from.host() == to.host() => {
            SameSiteContext::SameSite
        }
        Some(_) => match step {
            Step::Get(_) => SameSiteContext::CrossSiteNavigation,
            Step::Post(..) => SameSiteContext::CrossSitePost,
        },
    }
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<&str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn read_body(
    mut resp: reqwest::Response,
    url: &Url,
    limit: usize,
) -> Result<Vec<u8>, WalkError> {
    let mut body = Vec::new();
    loop {
        let chunk = resp.chunk().await.map_err(|e| WalkError::Request {
            url: redact::url(url),
            reason: crate::http::describe(&e),
            tls: false,
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len() + chunk.len() > limit {
            return Err(WalkError::BadPage(format!(
                "page {} is over {limit} bytes",
                redact::url(url)
            )));
        }
        body.extend_from_slice(&chunk);
    }
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
