//! Integration tests of the emulator, driven by the HTTP test browser and by hand-made requests.
//! Hermetic: servers on 127.0.0.1:0, temp dirs, no network. Split by what they test; the
//! helpers shared by the files live here.

mod bosh;
mod faults;
mod finesse_api;
mod refresh;
mod refusals;
mod sign_in;
mod verb;
pub(crate) mod xmpp;

use std::sync::Arc;
use std::time::Duration;

use finesse_sso::flow::{CaptureRefusal, DenyReason, Flow};
use finesse_sso::http::{HttpOptions, Jar};
use finesse_sso::testing::{DriverError, Hop, HttpDriver, Step, Via, Walked};
use finesse_sso_emulator::{Emulator, ForgeMode, TokenBody};
use url::Url;

use crate::support;

/// An emulator from its CLI flags.
async fn start(args: &[&str]) -> Emulator {
    support::emulator(args).await
}

fn opts(e: &Emulator) -> HttpOptions {
    HttpOptions {
        ca_pem: e.ca_pem().map(|p| p.as_bytes().to_vec()),
        follow_redirects: false,
        timeout: Some(Duration::from_secs(20)),
        ..Default::default()
    }
}

fn demo() -> Option<(String, String)> {
    Some(("agent1".into(), "demo-password".into()))
}

fn driver(e: &Emulator, creds: Option<(String, String)>) -> HttpDriver {
    HttpDriver::new(&opts(e), creds).expect("driver")
}

/// A plain client (no redirects followed) with an optional jar.
fn client(e: &Emulator, jar: Option<Arc<Jar>>) -> reqwest::Client {
    finesse_sso::http::client(&opts(e), jar).expect("client")
}

fn at(base: &Url, path: &str) -> Url {
    base.join(path).expect("url")
}

async fn get_text(c: &reqwest::Client, url: Url) -> (u16, String, String) {
    let r = c.get(url).send().await.expect("request");
    let status = r.status().as_u16();
    let ct = header(&r, "content-type");
    (status, ct, r.text().await.expect("body"))
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn token_url(e: &Emulator, user: &str) -> Url {
    Flow::new(e.finesse_url()).token_url(user)
}

/// Walks agent1's sign-in with `d` (the demo password) until `stop` picks the next request;
/// returns it unsent, for a test to replay, strip of cookies or let expire. Every value of a
/// form field or query parameter on the way is pushed to `seen`.
async fn walk_until(
    d: &HttpDriver,
    e: &Emulator,
    stop: impl Fn(&Step) -> bool,
    seen: &mut Vec<String>,
) -> Step {
    let observe = |s: &Step, via: Via| {
        if matches!(via, Via::Form | Via::Login) {
            assert!(matches!(s, Step::Post(..)), "the emulator's forms post");
        }
        seen.extend(s.url().query_pairs().map(|(_, v)| v.into_owned()));
        seen.extend(s.form().iter().map(|(_, v)| v.clone()));
        if stop(s) { Hop::Stop } else { Hop::Send }
    };
    let walked = d
        .walk(
            &mut Flow::new(e.finesse_url()),
            token_url(e, "agent1"),
            observe,
        )
        .await
        .expect("walk");
    match walked {
        Walked::Stopped(step) => step,
        Walked::Page(p) => panic!("walk stalled at {} (HTTP {})", p.url.path(), p.status),
    }
}

/// Sends `step` with `c` (the walking driver's client to replay it, another to drop cookies).
async fn send(step: &Step, c: &reqwest::Client) -> reqwest::Response {
    step.send(c).await.expect("request")
}

fn is_post_to(s: &Step, path: &str) -> bool {
    matches!(s, Step::Post(u, _) if u.path() == path)
}

async fn signed_in(e: &Emulator) -> (String, String) {
    let t = driver(e, demo())
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap();
    (
        t.token.expose().clone(),
        t.refresh_token.unwrap().expose().clone(),
    )
}

async fn refresh_post(
    e: &Emulator,
    access: &str,
    refresh: &str,
    extra: &[(&str, &str)],
) -> (u16, String) {
    let mut form = vec![("token", access), ("refresh-token", refresh)];
    form.extend_from_slice(extra);
    let r = client(e, None)
        .post(at(e.finesse_url(), "/desktop/sso/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn user_status(e: &Emulator, id: &str, token: &str) -> (u16, String) {
    let r = client(e, None)
        .get(at(e.finesse_url(), &format!("/finesse/api/User/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}
