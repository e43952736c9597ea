//! The silent sign-in: with the saved web session, the helper's own HTTP client walks the flow
//! (redirects and auto-posting forms only, no script run) and captures the token under the
//! window's rules, so a re-login while the IdP session lives starts no WebKit. At the first page
//! that is anything else it stops and says where and why; the caller opens the window.

pub mod cookies;
pub mod forms;
pub mod walk;

use std::time::Duration;

use crate::finesse::token_response::TokenResponse;
use crate::flow::Flow;
use crate::http::HttpOptions;
use crate::redact;
use crate::window::SavedCookie;
use walk::{Hop, Step, Via, WalkError, Walked, Walker};

/// How a silent attempt ended. Either way `cookies` is the session after the walk (what it was
/// given and what the servers set since), for the caller to save.
#[derive(Debug)]
pub enum Silent {
    Signed {
        token: TokenResponse,
        cookies: Vec<SavedCookie>,
    },
    /// The window is needed: `at` (redacted) is the last URL reached, `why` says what it was.
    Stopped {
        at: String,
        why: String,
        cookies: Vec<SavedCookie>,
    },
}

/// Walks from Finesse's token URL for `user` with `saved` cookies; `http` is the helper's client
/// setting (CA, proxy, per-request timeout) and `within` bounds the whole walk.
pub async fn sign_in(
    http: &HttpOptions,
    finesse: &url::Url,
    user: &str,
    saved: &[SavedCookie],
    within: Duration,
) -> Silent {
    let jar = cookies::jar_from(saved);
    let mut flow = Flow::new(finesse);
    let start = flow.token_url(user);
    let mut at = redact::url(&start);
    let ended = match Walker::new(http, jar.clone()) {
        Err(e) => Err(e),
        Ok(walker) => {
            let walked = walker.walk(
                &mut flow,
                start,
                |step: &Step, via: Via| {
                    tracing::debug!("silent sign-in: {step:?} ({via:?})");
                    at = redact::url(step.url());
                    Hop::Send
                },
                |url, page| match page.auto_post() {
                    Some(form) => Ok(Some((Step::submit(url, form, form.fields())?, Via::Form))),
                    None => Ok(None),
                },
            );
            match tokio::time::timeout(within, walked).await {
                Ok(r) => r,
                Err(_) => Err(WalkError::BadPage(format!(
                    "no answer within {} s",
                    within.as_secs()
                ))),
            }
        }
    };
    let why = match ended {
        Ok(Walked::Page(page)) => {
            at = redact::url(&page.url);
            match flow.capture(
                page.url.as_str(),
                page.status,
                &page.content_type,
                &page.body,
            ) {
                Ok(token) => {
                    return Silent::Signed {
                        token,
                        cookies: cookies::saved_from(&jar),
                    };
                }
                Err(refusal) => stop_reason(&page, &refusal),
            }
        }
        Ok(Walked::Stopped(_)) => "the walk was stopped".into(),
        Err(e) => e.to_string(),
    };
    Silent::Stopped {
        at,
        why,
        cookies: cookies::saved_from(&jar),
    }
}

/// What the page the walk ended at was, in words for the log (never its body).
fn stop_reason(page: &walk::Page, refusal: &crate::flow::CaptureRefusal) -> String {
    let challenge = page.status == 401 || page.status == 407;
    match (challenge, page.is_html()) {
        (true, _) => format!("HTTP {} asks for credentials", page.status),
        (false, true) => format!(
            "HTTP {} page that is not only a form posted on load (a sign-in, an error, a script)",
            page.status
        ),
        (false, false) => format!("HTTP {}: {refusal}", page.status),
    }
}
