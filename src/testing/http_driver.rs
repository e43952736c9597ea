//! The HTTP test browser: the silent sign-in's walk ([`crate::silent::walk`]) plus what a person
//! and a page's script would add: any form the page submits by script, and a login form filled
//! in once with the test's credentials. Every hop asks `flow`, like the webview does. An observer
//! may watch every request and stop the walk before one (tests replay or alter it).

use std::sync::Arc;

use url::Url;

use crate::finesse::token_response::TokenResponse;
use crate::flow::Flow;
use crate::http::{HttpOptions, Jar};
use crate::redact::{self, Secret};
use crate::silent::forms::HtmlForm;
use crate::silent::walk::Walker;
pub use crate::silent::walk::{Hop, Page, Step, Via, WalkError as DriverError, Walked};

/// An outcome-level stand-in for the webview, driven over HTTP.
pub struct HttpDriver {
    walker: Walker,
    credentials: Option<(String, Secret<String>)>,
}

impl HttpDriver {
    /// `opts.follow_redirects` is ignored: the driver follows redirects itself, hop by hop.
    pub fn new(
        opts: &HttpOptions,
        credentials: Option<(String, String)>,
    ) -> Result<Self, DriverError> {
        Ok(HttpDriver {
            walker: Walker::new(opts, Jar::new())?,
            credentials: credentials.map(|(u, p)| (u, Secret::new(p))),
        })
    }

    pub fn jar(&self) -> Arc<Jar> {
        self.walker.jar()
    }

    /// The driver's HTTP client: its cookie jar, no redirects followed.
    pub fn client(&self) -> &reqwest::Client {
        self.walker.client()
    }

    /// Stores a cookie for `url` as a page script would (`document.cookie`), e.g. the
    /// `cc_username` cookie Finesse 11.6/12.0 needs.
    pub fn set_cookie(&self, url: &Url, cookie: &str) -> Result<(), DriverError> {
        let raw = cookie_store::RawCookie::parse(cookie.to_string())
            .map_err(|_| DriverError::BadPage("unparsable cookie".into()))?;
        let jar = self.walker.jar();
        let mut store = jar.0.lock().unwrap_or_else(|p| p.into_inner());
        store
            .insert_raw(&raw, url)
            .map_err(|e| DriverError::BadPage(format!("cookie refused for this URL: {e}")))?;
        Ok(())
    }

    /// Loads `url` like a browser: follows 3xx (each hop checked with `flow.navigation()`;
    /// Deny → error), auto-submits forms that the page submits by script, fills username and
    /// password on a login form once when credentials are given, and stops at the first page
    /// that is none of those. Bounded by `flow`'s [`crate::flow::MAX_NAVIGATIONS`].
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
        observe: impl FnMut(&Step, Via) -> Hop,
    ) -> Result<Walked, DriverError> {
        let mut credentials_used = false;
        let next = |page: &Url, scanned: &crate::silent::forms::ScannedPage| {
            if let Some(form) = scanned.script_submitted() {
                return Ok(Some((Step::submit(page, form, form.fields())?, Via::Form)));
            }
            if let (Some((user, password)), Some(form), false) =
                (&self.credentials, scanned.login_form(), credentials_used)
            {
                credentials_used = true;
                let filled = fill_login(form, user, password.expose());
                return Ok(Some((Step::submit(page, form, filled)?, Via::Login)));
            }
            Ok(None)
        };
        self.walker.walk(flow, url, observe, next).await
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
