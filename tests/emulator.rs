//! Integration tests of the emulator, driven by the HTTP test browser and by hand-made requests.
//! Hermetic: servers on 127.0.0.1:0, temp dirs, no network.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use finesse_sso::browser::forms::{self, HtmlForm};
use finesse_sso::browser::{DriverError, HttpDriver};
use finesse_sso::emulator::{self, Emulator, EmulatorConfig, ForgeMode};
use finesse_sso::flow::{CaptureRefusal, DenyReason, Flow};
use finesse_sso::http::{HttpOptions, Jar};
use url::Url;

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    config: EmulatorConfig,
}

fn config(args: &[&str]) -> EmulatorConfig {
    Cmd::try_parse_from(std::iter::once("emulate").chain(args.iter().copied()))
        .expect("test flags parse")
        .config
}

async fn start(args: &[&str]) -> Emulator {
    emulator::start(config(args))
        .await
        .expect("emulator starts")
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

// ---------------------------------------------------------------------------------------------
// A hand-driven browser for the negative cases: it walks the chain like the driver but stops
// before a chosen request, so a test can replay, strip cookies or wait.

#[derive(Debug, Clone)]
enum Step {
    Get(Url),
    Post(Url, Vec<(String, String)>),
}

impl Step {
    fn url(&self) -> &Url {
        match self {
            Step::Get(u) | Step::Post(u, _) => u,
        }
    }

    async fn send(&self, c: &reqwest::Client) -> reqwest::Response {
        match self {
            Step::Get(u) => c.get(u.clone()).send().await,
            Step::Post(u, f) => c.post(u.clone()).form(f).send().await,
        }
        .expect("request")
    }
}

fn submit(page: &Url, form: &HtmlForm, fields: Vec<(String, String)>) -> Step {
    let action = page
        .join(form.action.as_deref().unwrap_or(""))
        .expect("action");
    assert_eq!(form.method, "post", "the emulator's forms post");
    Step::Post(action, fields)
}

/// Walks from `start` until `stop` says the next request is the one wanted; returns it unsent.
/// Every value of a form field or query parameter seen on the way is pushed to `seen`.
async fn walk_until(
    c: &reqwest::Client,
    start: Url,
    creds: Option<(&str, &str)>,
    stop: impl Fn(&Step) -> bool,
    seen: &mut Vec<String>,
) -> Step {
    let mut step = Step::Get(start);
    for _ in 0..40 {
        seen.extend(step.url().query_pairs().map(|(_, v)| v.into_owned()));
        if let Step::Post(_, f) = &step {
            seen.extend(f.iter().map(|(_, v)| v.clone()));
        }
        if stop(&step) {
            return step;
        }
        let r = step.send(c).await;
        let url = step.url().clone();
        if r.status().is_redirection() {
            step = Step::Get(url.join(&header(&r, "location")).expect("location"));
            continue;
        }
        let status = r.status().as_u16();
        let body = r.text().await.expect("body");
        let page = forms::scan(&body);
        if let Some(f) = page.script_submitted() {
            step = submit(&url, f, f.fields());
        } else if let (Some((u, p)), Some(f)) = (creds, page.login_form()) {
            let fields = f
                .fields()
                .into_iter()
                .map(|(k, v)| match k.as_str() {
                    "username" => (k, u.to_string()),
                    "password" => (k, p.to_string()),
                    _ => (k, v),
                })
                .collect();
            step = submit(&url, f, fields);
        } else {
            panic!("walk stalled at {} (HTTP {status})", url.path());
        }
    }
    panic!("walk did not reach its stop");
}

fn is_post_to(s: &Step, path: &str) -> bool {
    matches!(s, Step::Post(u, _) if u.path() == path)
}

fn token_url(e: &Emulator, user: &str) -> Url {
    Flow::new(e.finesse_url()).token_url(user)
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn full_sign_in_over_tls_yields_ciscos_json_and_a_valid_token() {
    let e = start(&[]).await;
    assert_eq!(e.finesse_url().scheme(), "https");
    assert_ne!(e.finesse_url().port(), e.ids_url().port());
    assert_ne!(e.ids_url().port(), e.idp_url().port());
    let d = driver(&e, demo());
    let mut flow = Flow::new(e.finesse_url());
    let t = d.sign_in(&mut flow, "agent1").await.expect("sign-in");
    assert_eq!(t.expires_in, 300);
    assert_eq!(t.user_id.as_deref(), Some("agent1"));
    assert_eq!(t.realm.as_deref(), Some("finesse.com"));
    assert_eq!(t.user_principal.as_deref(), Some("agent1@finesse.com"));
    let refresh = t.refresh_token.clone().expect("refresh_token requested");
    assert_eq!(e.issued_access_tokens(), vec![t.token.expose().clone()]);

    // Cisco's header bytes exactly, and the token works against Finesse.
    let token = t.token.expose();
    assert!(token.starts_with("eyJjdHkiOiJKV1QiLCJhbGciOiJSUzI1NiJ9."));
    let c = client(&e, None);
    let r = c
        .get(at(e.finesse_url(), "/finesse/api/User/agent1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("application/xml"));
    let xml = r.text().await.unwrap();
    assert!(
        xml.contains("<loginName>agent1</loginName>") && xml.contains("<loginId>1001</loginId>")
    );

    // Claims decode with the public key IdS publishes; `sub` is nested JSON.
    let (status, ct, pem) = get_text(&c, at(e.ids_url(), "/ids/v1/keys/token/public")).await;
    assert_eq!((status, ct.starts_with("text/plain")), (200, true));
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_aud = false;
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.cty.as_deref(), Some("JWT"));
    assert!(header.kid.is_none() && header.typ.is_none());
    let access = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .unwrap()
        .claims;
    let rt = jsonwebtoken::decode::<serde_json::Value>(refresh.expose(), &key, &v)
        .unwrap()
        .claims;
    let sub: serde_json::Value = serde_json::from_str(access["sub"].as_str().unwrap()).unwrap();
    let rsub: serde_json::Value = serde_json::from_str(rt["sub"].as_str().unwrap()).unwrap();
    assert_eq!(sub["user_id"], "agent1");
    assert_eq!(sub["upn"], "agent1@finesse.com");
    assert_eq!(sub["usage"], "access");
    assert_eq!(sub["token"], access["jti"]);
    assert_eq!(sub["rt"], rt["jti"]);
    assert_eq!(sub["scope"], serde_json::json!(["ccc_onprem_apps"]));
    assert_eq!(rsub["usage"], "refresh");
    assert!(rsub.get("user_id").is_none());
    let (exp, iat) = (
        access["exp"].as_u64().unwrap(),
        access["iat"].as_u64().unwrap(),
    );
    assert!(
        (299..=300).contains(&(exp - iat)),
        "access lifetime {}",
        exp - iat
    );
    assert_eq!(sub["expiry"].as_u64().unwrap() / 1000, exp);
    let rlife = rt["exp"].as_u64().unwrap() - rt["iat"].as_u64().unwrap();
    assert!((7199..=7200).contains(&rlife));
    e.shutdown().await;
}

#[tokio::test]
async fn finesse_session_then_idp_session_spare_the_password() {
    let e = start(&[]).await;
    let d = driver(&e, demo());
    let mut flow = Flow::new(e.finesse_url());
    let first = d.sign_in(&mut flow, "agent1").await.unwrap();
    let logins = e.request_count("/idp/login");
    assert_eq!(logins, 2, "one GET of the page, one POST of the form");
    let authorizes = e.request_count("/ids/v1/oauth/authorize");

    // With the Finesse session, the token URL answers JSON at once, in Cisco's key order.
    let page = d
        .navigate(&mut Flow::new(e.finesse_url()), token_url(&e, "agent1"))
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("application/json"));
    let text = page.text();
    let keys = [
        "\"token\"",
        "\"refresh_token\"",
        "\"expires_in\"",
        "\"user_id\"",
        "\"realm\"",
        "\"user_principal\"",
    ];
    let positions: Vec<usize> = keys.iter().map(|k| text.find(k).expect(k)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "Cisco's key order"
    );
    assert_eq!(e.request_count("/ids/v1/oauth/authorize"), authorizes);

    // Without Finesse and IdS sessions, the IdP session still spares the password.
    {
        let jar = d.jar();
        let mut store = jar.0.lock().unwrap();
        assert!(
            store
                .remove("127.0.0.1", "/desktop", "JSESSIONID")
                .is_some()
        );
        assert!(store.remove("127.0.0.1", "/ids", "IDSSESSION").is_some());
    }
    let third = d
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap();
    assert_eq!(
        e.request_count("/idp/login"),
        logins,
        "no second login form"
    );
    assert_eq!(e.request_count("/idp/sso"), 2);
    assert_ne!(third.token.expose(), first.token.expose());
    assert_eq!(
        e.issued_access_tokens().len(),
        3,
        "each answer issues a fresh pair"
    );
    e.shutdown().await;
}

#[tokio::test]
async fn wrong_password_then_lockout_after_five() {
    let e = start(&[]).await;
    let bad = driver(&e, Some(("agent1".into(), "nope".into())));
    for attempt in 1..=4 {
        let p = bad
            .navigate(&mut Flow::new(e.finesse_url()), token_url(&e, "agent1"))
            .await
            .unwrap();
        assert_eq!(p.status, 401, "attempt {attempt}");
        assert!(
            p.text().contains("Wrong password for agent1"),
            "{}",
            p.text()
        );
        assert!(
            p.text()
                .contains(&format!("{} attempt(s) left", 5 - attempt))
        );
    }
    let p = bad
        .navigate(&mut Flow::new(e.finesse_url()), token_url(&e, "agent1"))
        .await
        .unwrap();
    assert_eq!(p.status, 423);
    assert!(p.text().contains("locked"));
    // Now even the right password is refused.
    let good = driver(&e, demo());
    let err = good
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, DriverError::Capture { status: 423, .. }),
        "{err}"
    );
    assert!(e.issued_access_tokens().is_empty());
    e.shutdown().await;
}

#[tokio::test]
async fn authorization_code_is_single_use() {
    let e = start(&[]).await;
    let jar = Jar::new();
    let c = client(&e, Some(jar.clone()));
    let mut seen = Vec::new();
    let authcode = walk_until(
        &c,
        token_url(&e, "agent1"),
        Some(("agent1", "demo-password")),
        |s| s.url().path() == "/desktop/sso/authcode",
        &mut seen,
    )
    .await;
    let r = authcode.send(&c).await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        Url::parse(&header(&r, "location")).unwrap().path(),
        "/desktop/sso/token"
    );
    let r = authcode.send(&client(&e, None)).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("authorization code was already used")
    );
    e.shutdown().await;
}

#[tokio::test]
async fn expired_code_is_refused() {
    let e = start(&["--code-ttl", "50ms"]).await;
    let c = client(&e, Some(Jar::new()));
    let mut seen = Vec::new();
    let authcode = walk_until(
        &c,
        token_url(&e, "agent1"),
        Some(("agent1", "demo-password")),
        |s| s.url().path() == "/desktop/sso/authcode",
        &mut seen,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let r = authcode.send(&c).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("authorization code has expired")
    );
    e.shutdown().await;
}

#[tokio::test]
async fn missing_cookies_are_refused_by_name() {
    let e = start(&[]).await;
    let creds = Some(("agent1", "demo-password"));
    let bare = client(&e, None);

    // IdP: the login POST without the cookie the page set.
    let c = client(&e, Some(Jar::new()));
    let login = walk_until(
        &c,
        token_url(&e, "agent1"),
        creds,
        |s| is_post_to(s, "/idp/login"),
        &mut vec![],
    )
    .await;
    let r = login.send(&bare).await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("missing cookie `idp_login`")
    );

    // IdS: the relay POST without the IdS session cookie.
    let c = client(&e, Some(Jar::new()));
    let relay = walk_until(
        &c,
        token_url(&e, "agent1"),
        creds,
        |s| is_post_to(s, "/ids/relay"),
        &mut vec![],
    )
    .await;
    let r = relay.send(&bare).await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("missing cookie `IDSSESSION`")
    );
    // The same relay with the cookie still works (the refused attempt did not spend it).
    assert_eq!(relay.send(&c).await.status(), 302);

    // Finesse: without its session cookie the token URL goes back to IdS instead of answering.
    let d = driver(&e, demo());
    d.sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap();
    let r = bare.get(token_url(&e, "agent1")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(header(&r, "location").starts_with(&format!("{}ids/v1/oauth/authorize?", e.ids_url())));

    // And cc_username itself is required.
    let r = bare
        .get(at(
            e.finesse_url(),
            "/desktop/sso/token?return_refresh_token=true",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("missing `cc_username`"));
    e.shutdown().await;
}

#[tokio::test]
async fn assertion_replay_is_refused() {
    let e = start(&[]).await;
    let c = client(&e, Some(Jar::new()));
    let acs = walk_until(
        &c,
        token_url(&e, "agent1"),
        Some(("agent1", "demo-password")),
        |s| is_post_to(s, "/ids/saml/response"),
        &mut vec![],
    )
    .await;
    assert_eq!(acs.send(&c).await.status(), 200);
    let r = acs.send(&c).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("already used (replay)"));
    // A tampered assertion fails its signature.
    if let Step::Post(u, fields) = &acs {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut fields = fields.clone();
        for (k, v) in fields.iter_mut() {
            if k == "SAMLResponse" {
                let xml = String::from_utf8(b64.decode(&*v).unwrap()).unwrap();
                *v = b64.encode(xml.replace(">agent1<", ">admin1<"));
            }
        }
        let r = Step::Post(u.clone(), fields).send(&c).await;
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("signature is invalid"));
    }
    e.shutdown().await;
}

#[tokio::test]
async fn cookie_only_finesse_ignores_the_query() {
    let e = start(&["--cc-username", "cookie-only"]).await;
    let d = driver(&e, demo());
    let page = d
        .navigate(&mut Flow::new(e.finesse_url()), token_url(&e, "agent1"))
        .await
        .unwrap();
    assert_eq!(page.status, 400);
    assert!(page.text().contains("missing cookie `cc_username`"));
    let err = d
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DriverError::Capture {
            reason: CaptureRefusal::Status(400),
            ..
        }
    ));

    d.set_cookie(e.finesse_url(), "cc_username=agent1; Path=/desktop")
        .unwrap();
    let t = d
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap();
    assert_eq!(t.user_id.as_deref(), Some("agent1"));
    e.shutdown().await;
}

#[tokio::test]
async fn session_user_must_match_cc_username() {
    let e = start(&["--user", "alice:pw-a", "--user", "bob:pw-b"]).await;
    let d = driver(&e, Some(("alice".into(), "pw-a".into())));
    d.sign_in(&mut Flow::new(e.finesse_url()), "alice")
        .await
        .unwrap();
    let p = d
        .navigate(&mut Flow::new(e.finesse_url()), token_url(&e, "bob"))
        .await
        .unwrap();
    assert_eq!(p.status, 401);
    assert!(p.text().contains("session belongs to another user"));
    // The login id works as cc_username too (UCCE peripheral id).
    let t = d
        .sign_in(&mut Flow::new(e.finesse_url()), "1001")
        .await
        .unwrap();
    assert_eq!(t.user_id.as_deref(), Some("alice"));
    e.shutdown().await;
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

#[tokio::test]
async fn refresh_post_and_get_variants() {
    let e = start(&[]).await;
    let (access, refresh) = signed_in(&e).await;
    let (status, body) = refresh_post(&e, &access, &refresh, &[("return_user", "yes")]).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let mut want = vec!["token", "expires_in", "user_id", "realm", "user_principal"];
    want.sort();
    assert_eq!(keys, want, "documented refresh shape, no refresh_token");
    let new = v["token"].as_str().unwrap().to_string();
    assert_ne!(new, access);
    assert_eq!(user_status(&e, "agent1", &new).await.0, 200);

    // TAC variant: GET with cc_username and refresh-token.
    let mut u = at(e.finesse_url(), "/desktop/sso/token");
    u.query_pairs_mut()
        .append_pair("cc_username", "agent1")
        .append_pair("refresh-token", &refresh);
    let (status, ct, body) = get_text(&client(&e, None), u).await;
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("application/json"));
    assert!(finesse_sso::finesse::token_response::TokenResponse::parse(body.as_bytes()).is_ok());
    assert_eq!(e.issued_access_tokens().len(), 3);

    // Strictness: content type, required fields, pairing.
    let r = client(&e, None)
        .post(at(e.finesse_url(), "/desktop/sso/token"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let (status, body) = {
        let r = client(&e, None)
            .post(at(e.finesse_url(), "/desktop/sso/token"))
            .form(&[("token", access.as_str())])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(status, 400);
    assert!(body.contains("missing form field `refresh-token`"));
    let (_, other_refresh) = signed_in(&e).await;
    let (status, body) = refresh_post(&e, &access, &other_refresh, &[]).await;
    assert_eq!(status, 401);
    assert!(body.contains("do not belong together"));
    let (status, body) = refresh_post(&e, &refresh, &refresh, &[]).await;
    assert_eq!(status, 401);
    assert!(body.contains("access token is a refresh token"));
    e.shutdown().await;
}

#[tokio::test]
async fn refresh_needs_both_tokens_unexpired() {
    let e = start(&["--refresh-ttl", "300ms"]).await;
    let (access, refresh) = signed_in(&e).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = refresh_post(&e, &access, &refresh, &[]).await;
    assert_eq!(status, 401);
    assert!(
        body.contains("<ApiErrors>") && body.contains("refresh token has expired"),
        "{body}"
    );
    e.shutdown().await;

    let e = start(&["--access-ttl", "300ms"]).await;
    let (access, refresh) = signed_in(&e).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = refresh_post(&e, &access, &refresh, &[]).await;
    assert_eq!(status, 401);
    assert!(body.contains("access token has expired"), "{body}");
    let (status, body) = user_status(&e, "agent1", &access).await;
    assert_eq!(status, 401);
    assert!(body.contains("access token has expired"));
    e.shutdown().await;
}

#[tokio::test]
async fn refresh_rotation_off_and_on() {
    let e = start(&[]).await;
    let (access, refresh) = signed_in(&e).await;
    let rt = [("return_refresh_token", "true")];
    // Off: the same refresh token keeps working, and none is returned.
    let (s1, b1) = refresh_post(&e, &access, &refresh, &rt).await;
    let v1: serde_json::Value = serde_json::from_str(&b1).unwrap();
    assert_eq!(s1, 200);
    assert!(v1.get("refresh_token").is_none());
    let (s2, _) = refresh_post(&e, v1["token"].as_str().unwrap(), &refresh, &rt).await;
    assert_eq!(s2, 200);

    // On: a new refresh token comes back (when asked) and the old one dies.
    e.faults().set_rotate_refresh(true);
    let (s3, b3) = refresh_post(&e, &access, &refresh, &rt).await;
    assert_eq!(s3, 200, "{b3}");
    let v3: serde_json::Value = serde_json::from_str(&b3).unwrap();
    let new_refresh = v3["refresh_token"]
        .as_str()
        .expect("rotated refresh token")
        .to_string();
    assert_ne!(new_refresh, refresh);
    let (s4, b4) = refresh_post(&e, v3["token"].as_str().unwrap(), &refresh, &rt).await;
    assert_eq!(s4, 401);
    assert!(b4.contains("no longer valid"));
    let (s5, b5) = refresh_post(&e, v3["token"].as_str().unwrap(), &new_refresh, &[]).await;
    assert_eq!(s5, 200);
    let v5: serde_json::Value = serde_json::from_str(&b5).unwrap();
    assert!(
        v5.get("refresh_token").is_none(),
        "not returned unless asked"
    );
    e.shutdown().await;

    let e = start(&["--rotate-refresh"]).await;
    assert!(e.faults().rotate_refresh());
    e.shutdown().await;
}

#[tokio::test]
async fn refresh_redirect_sends_the_client_to_ids() {
    let e = start(&["--refresh-redirect"]).await;
    let (access, refresh) = signed_in(&e).await;
    let r = client(&e, None)
        .post(at(e.finesse_url(), "/desktop/sso/token"))
        .form(&[
            ("token", access.as_str()),
            ("refresh-token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = Url::parse(&header(&r, "location")).unwrap();
    assert_eq!(loc.origin(), e.ids_url().origin());
    assert_eq!(loc.path(), "/ids/v1/oauth/authorize");
    assert!(
        loc.query_pairs()
            .any(|(k, v)| k == "response_type" && v == "code")
    );
    e.shutdown().await;
}

#[tokio::test]
async fn user_api_refuses_forged_foreign_and_missing_tokens() {
    let e = start(&["--user", "agent1:pw1", "--user", "agent2:pw2"]).await;
    let t = driver(&e, Some(("agent1".into(), "pw1".into())))
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap();
    let token = t.token.expose().clone();
    assert_eq!(user_status(&e, "agent1", &token).await.0, 200);
    assert_eq!(user_status(&e, "1001", &token).await.0, 200, "by loginId");
    let (s, body) = user_status(&e, "agent2", &token).await;
    assert_eq!(s, 401);
    assert!(body.contains("<ApiErrors>") && body.contains("do not belong to this user"));

    // The same claims signed with another RSA key.
    let parts: Vec<&str> = token.split('.').collect();
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem =
        rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_pem(&other, rsa::pkcs8::LineEnding::LF).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let input = format!("{}.{}", parts[0], parts[1]);
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::RS256).unwrap();
    let forged = format!("{input}.{sig}");
    let (s, body) = user_status(&e, "agent1", &forged).await;
    assert_eq!(s, 401);
    assert!(body.contains("access token signature is invalid"), "{body}");

    let r = client(&e, None)
        .get(at(e.finesse_url(), "/finesse/api/User/agent1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Authorization header is missing")
    );
    let (s, _) = user_status(&e, "agent1", "not.a.jwt").await;
    assert_eq!(s, 401);
    e.shutdown().await;
}

#[tokio::test]
async fn system_info_and_user_auth_mode_variants() {
    for (mode, deployment) in [("SSO", "UCCE"), ("NON_SSO", "UCCX"), ("HYBRID", "UCCE")] {
        let e = start(&[
            "--no-tls",
            "--auth-mode",
            mode,
            "--deployment",
            deployment,
            "--user",
            "a:1",
            "--user",
            "n:2:NON_SSO",
        ])
        .await;
        let c = client(&e, None);
        let (s, ct, xml) = get_text(&c, at(e.finesse_url(), "/finesse/api/SystemInfo")).await;
        assert_eq!(s, 200);
        assert!(ct.starts_with("application/xml"));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let text = |n: &str| {
            doc.descendants()
                .find(|x| x.has_tag_name(n))
                .and_then(|x| x.text())
                .map(str::to_string)
        };
        assert_eq!(text("systemAuthMode").as_deref(), Some(mode));
        assert_eq!(text("deploymentType").as_deref(), Some(deployment));
        assert_eq!(text("status").as_deref(), Some("IN_SERVICE"));
        assert_eq!(text("uri").as_deref(), Some("/finesse/api/SystemInfo"));
        let port = e.finesse_url().port().unwrap().to_string();
        assert_eq!(text("httpsPort").as_deref(), Some(port.as_str()));
        let (s, _, body) = get_text(&c, at(e.finesse_url(), "/finesse/api/UserAuthMode/n")).await;
        assert_eq!(s, 200);
        let want = if mode == "SSO" { "SSO" } else { "NON_SSO" };
        assert_eq!(
            body,
            format!("<UserAuthMode><authMode>{want}</authMode></UserAuthMode>")
        );
        let (s, _, body) =
            get_text(&c, at(e.finesse_url(), "/finesse/api/UserAuthMode/nobody")).await;
        assert_eq!(s, 404);
        assert!(body.contains("User not found"));
        e.shutdown().await;
    }
    let e = start(&["--no-tls", "--user-auth-mode", "disabled"]).await;
    let (s, _, body) = get_text(
        &client(&e, None),
        at(e.finesse_url(), "/finesse/api/UserAuthMode/agent1"),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(
        body,
        "<ApiErrors><ApiError><ErrorType>Forbidden</ErrorType><ErrorMessage>UserAuthModeService is disabled</ErrorMessage></ApiError></ApiErrors>"
    );
    e.shutdown().await;
    let e = start(&["--no-tls", "--user-auth-mode", "missing"]).await;
    let (s, ct, _) = get_text(
        &client(&e, None),
        at(e.finesse_url(), "/finesse/api/UserAuthMode/agent1"),
    )
    .await;
    assert_eq!((s, ct.starts_with("text/html")), (404, true));
    e.shutdown().await;
}

#[tokio::test]
async fn hybrid_non_sso_user_uses_basic_not_sso() {
    let e = start(&[
        "--no-tls",
        "--auth-mode",
        "HYBRID",
        "--user",
        "a:pw-a",
        "--user",
        "n:pw-n:NON_SSO",
    ])
    .await;
    let c = client(&e, None);
    let r = c
        .get(at(e.finesse_url(), "/finesse/api/User/n"))
        .basic_auth("n", Some("pw-n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(at(e.finesse_url(), "/finesse/api/User/n"))
        .basic_auth("n", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(at(e.finesse_url(), "/finesse/api/User/a"))
        .basic_auth("a", Some("pw-a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "SSO users need a Bearer token");
    let r = c.get(token_url(&e, "n")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("NON_SSO user"));
    e.shutdown().await;
}

#[tokio::test]
async fn untrusted_client_fails_on_the_certificate() {
    let e = start(&[]).await;
    let d = HttpDriver::new(&HttpOptions::default(), demo()).unwrap();
    let err = d
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap_err();
    match err {
        DriverError::Request { tls, reason, .. } => {
            assert!(tls, "{reason}");
            assert!(
                reason.to_ascii_lowercase().contains("certificate"),
                "{reason}"
            );
        }
        other => panic!("expected a TLS error, got {other}"),
    }
    // The CA file holds the CA the emulator reports.
    let pem = std::fs::read_to_string(e.ca_file().unwrap()).unwrap();
    assert_eq!(Some(pem.as_str()), e.ca_pem());
    let path = e.ca_file().unwrap().to_path_buf();
    e.shutdown().await;
    assert!(!path.exists(), "private CA file removed on shutdown");
}

#[tokio::test]
async fn request_log_holds_names_never_values() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let e = start(&["--log", log.to_str().unwrap()]).await;
    let jar = Jar::new();
    let c = client(&e, Some(jar.clone()));
    let mut seen = Vec::new();
    let authcode = walk_until(
        &c,
        token_url(&e, "agent1"),
        Some(("agent1", "demo-password")),
        |s| s.url().path() == "/desktop/sso/authcode",
        &mut seen,
    )
    .await;
    let r = authcode.send(&c).await;
    let r = c
        .get(Url::parse(&header(&r, "location")).unwrap())
        .send()
        .await
        .unwrap();
    let t: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let (access, refresh) = (
        t["token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    let (s, _) = refresh_post(&e, access, refresh, &[]).await;
    assert_eq!(s, 200);
    let cookie_values: Vec<String> = {
        let store = jar.0.lock().unwrap();
        store
            .iter_unexpired()
            .map(|c| c.value().to_string())
            .collect()
    };
    assert!(cookie_values.len() >= 3);
    e.shutdown().await;

    let text = std::fs::read_to_string(&log).unwrap();
    let mut secrets: Vec<String> = vec![access.into(), refresh.into(), "demo-password".into()];
    secrets.extend(e_free(seen));
    secrets.extend(cookie_values);
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !text.contains(s.as_str()),
            "request log leaks a value of {} bytes",
            s.len()
        );
    }
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 10);
    let login = lines
        .iter()
        .find(|l| l["path"] == "/idp/login" && l["method"] == "POST")
        .unwrap();
    assert_eq!(
        login["form"],
        serde_json::json!(["txn", "username", "password"])
    );
    assert_eq!(login["cookies"], serde_json::json!(["idp_login"]));
    assert_eq!(login["origin"], "idp");
    for key in [
        "time", "origin", "method", "path", "query", "form", "cookies", "status",
    ] {
        assert!(lines.iter().all(|l| l.get(key).is_some()), "{key}");
    }
}

/// The values of query parameters and form fields seen on the way (codes, states, SAML,
/// RelayState, uniqueId, txn) except the user name, which is not a secret.
fn e_free(seen: Vec<String>) -> Vec<String> {
    seen.into_iter()
        .filter(|v| v != "agent1" && v != "true" && v != "code" && v != "/sp")
        .collect()
}

#[tokio::test]
async fn forged_pages_are_never_captured() {
    let e = start(&["--forge", "idp-json"]).await;
    let err = driver(&e, demo())
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DriverError::Capture {
                reason: CaptureRefusal::NotTokenEndpoint,
                ..
            }
        ),
        "{err}"
    );
    e.faults().set_forge(Some(ForgeMode::IdsJson));
    let d = driver(&e, demo());
    let page = d
        .navigate(&mut Flow::new(e.finesse_url()), token_url(&e, "agent1"))
        .await
        .unwrap();
    assert_eq!(page.url.origin(), e.ids_url().origin());
    assert!(page.content_type.starts_with("application/json") && page.text().contains("FORGED"));
    e.faults().set_forge(Some(ForgeMode::Iframe));
    let err = driver(&e, demo())
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, DriverError::Capture { reason: CaptureRefusal::Mime(ref m), .. } if m == "text/html"),
        "{err}"
    );
    let (s, _, frame) = get_text(&client(&e, None), at(e.idp_url(), "/idp/forge/frame")).await;
    assert_eq!(s, 200);
    assert!(
        frame.contains("FORGED") && frame.contains("window.webkit.messageHandlers.ipc.postMessage")
    );
    e.faults().set_forge(Some(ForgeMode::Leak));
    let err = driver(&e, demo())
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DriverError::Denied {
                reason: DenyReason::UserLeak(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        e.leak_hits().is_empty(),
        "nothing reached the steal endpoint"
    );
    // A client that did follow would be recorded.
    get_text(&client(&e, None), at(e.idp_url(), "/steal?cc_username=x")).await;
    assert_eq!(e.leak_hits(), vec![vec!["cc_username".to_string()]]);
    e.shutdown().await;
}

#[tokio::test]
async fn token_body_faults_and_injected_statuses() {
    let e = start(&[
        "--malformed-token-json",
        "--fail",
        "systeminfo=503",
        "--delay",
        "keys=20",
    ])
    .await;
    let d = driver(&e, demo());
    let err = d
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DriverError::Capture {
                reason: CaptureRefusal::Body(_),
                ..
            }
        ),
        "{err}"
    );
    e.faults().set_token_body(emulator::TokenBody::AsHtml);
    let err = d
        .sign_in(&mut Flow::new(e.finesse_url()), "agent1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DriverError::Capture {
                reason: CaptureRefusal::Mime(_),
                ..
            }
        ),
        "{err}"
    );
    let c = client(&e, None);
    let (s, _, body) = get_text(&c, at(e.finesse_url(), "/finesse/api/SystemInfo")).await;
    assert_eq!(s, 503);
    assert!(body.contains("injected failure"));
    assert_eq!(
        get_text(&c, at(e.ids_url(), "/ids/v1/keys/token/public"))
            .await
            .0,
        200
    );
    e.faults().clear();
    assert_eq!(
        get_text(&c, at(e.finesse_url(), "/finesse/api/SystemInfo"))
            .await
            .0,
        200
    );
    e.faults()
        .set_status("/ids/v1/oauth/authorize", Some(500))
        .unwrap();
    // A fresh browser (no Finesse session) meets the failing IdS.
    let fresh = driver(&e, demo());
    let p = fresh
        .navigate(&mut Flow::new(e.finesse_url()), token_url(&e, "agent1"))
        .await
        .unwrap();
    assert_eq!((p.status, p.url.path()), (500, "/ids/v1/oauth/authorize"));
    e.shutdown().await;
}

#[tokio::test]
async fn strict_methods_content_types_and_oauth_parameters() {
    let e = start(&["--no-tls"]).await;
    let c = client(&e, None);
    let r = c.get(at(e.ids_url(), "/ids/relay")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), header(&r, "allow")),
        (405, "POST".to_string())
    );
    let r = c.delete(token_url(&e, "agent1")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = c
        .post(at(e.idp_url(), "/idp/login"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = c
        .post(at(e.ids_url(), "/ids/saml/response?metaAlias=/sp"))
        .form(&[("RelayState", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("missing form field `SAMLResponse`")
    );
    // Authorize checks client, response type and redirect URI.
    let good = c.get(token_url(&e, "agent1")).send().await.unwrap();
    let authorize = Url::parse(&header(&good, "location")).unwrap();
    for (k, bad) in [
        ("client_id", "other"),
        ("response_type", "token"),
        ("redirect_uri", "http://127.0.0.1:1/x"),
    ] {
        let mut u = authorize.clone();
        let pairs: Vec<(String, String)> = authorize
            .query_pairs()
            .map(|(a, b)| {
                if a == k {
                    (a.into_owned(), bad.to_string())
                } else {
                    (a.into_owned(), b.into_owned())
                }
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        let r = c.get(u).send().await.unwrap();
        assert_eq!(r.status(), 400, "{k}");
    }
    let r = c.get(authorize).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"SAMLRequest\""));
    let r = c
        .get(format!(
            "{}desktop/sso/token?cc_username=agent1&return_refresh_token=yes",
            e.finesse_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    e.shutdown().await;
}

#[tokio::test]
async fn auto_login_and_sso_test_page() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.txt");
    std::fs::write(&users, "# agents\nsam:s3cret\n\nnora:pw:NON_SSO\n").unwrap();
    let e = start(&[
        "--users-file",
        users.to_str().unwrap(),
        "--auto-login",
        "sam",
    ])
    .await;
    let ready = e.ready_line();
    assert_eq!(ready["users"][0]["name"], "sam");
    assert!(
        ready["users"][0].get("password").is_none(),
        "only the demo password is printed"
    );
    assert!(!ready.to_string().contains("s3cret"));
    let d = driver(&e, None);
    let c = client(&e, Some(d.jar()));
    let (s, _, _) = get_text(&c, at(e.finesse_url(), "/desktop/sso/test")).await;
    assert_eq!(s, 401);
    assert!(
        d.jar()
            .names_for(&at(e.finesse_url(), "/desktop/x"))
            .contains(&"ssotest".to_string())
    );
    let t = d
        .sign_in(&mut Flow::new(e.finesse_url()), "sam")
        .await
        .unwrap();
    assert_eq!(t.user_id.as_deref(), Some("sam"));
    let (s, _, html) = get_text(&c, at(e.finesse_url(), "/desktop/sso/test")).await;
    assert_eq!(s, 200);
    assert!(html.contains("postMessage") && html.contains("\"status\":\"true\""));
    e.shutdown().await;
}

#[tokio::test]
async fn ready_line_and_demo_user() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let e = start(&["--ca-out", ca.to_str().unwrap()]).await;
    let v = e.ready_line();
    assert_eq!(v["finesse_url"], e.finesse_url().as_str());
    assert_eq!(v["ids_url"], e.ids_url().as_str());
    assert_eq!(v["idp_url"], e.idp_url().as_str());
    assert_eq!(v["ca_file"], ca.to_str().unwrap());
    assert_eq!(
        v["users"],
        serde_json::json!([{"name": "agent1", "login_id": "1001", "auth_mode": "SSO", "password": "demo-password"}])
    );
    e.shutdown().await;
    assert!(ca.exists(), "--ca-out file is the user's and stays");
    let e = start(&["--no-tls"]).await;
    assert!(
        e.ready_line().get("ca_file").is_none() && e.ca_file().is_none() && e.ca_pem().is_none()
    );
    assert_eq!(e.finesse_url().scheme(), "http");
    e.shutdown().await;
}

/// A GET with the project's client (reqwest's default one has no TLS provider here).
async fn plain_get(u: Url) -> reqwest::Result<reqwest::Response> {
    finesse_sso::http::client(&HttpOptions::default(), None)
        .unwrap()
        .get(u)
        .send()
        .await
}

/// A writer tests can read while `run_until` still holds it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn emulate_verb_prints_one_ready_line_and_stops_cleanly() {
    let out = Shared::default();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut w = out.clone();
    let task = tokio::spawn(async move {
        let stop = async move {
            rx.await
                .map_err(|_| std::io::Error::other("sender dropped"))
        };
        finesse_sso::commands::emulate::run_until(config(&["--no-tls"]), &mut w, stop).await
    });
    let line = loop {
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        if text.ends_with('\n') {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(line.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let finesse = Url::parse(v["finesse_url"].as_str().unwrap()).unwrap();
    let r = plain_get(at(&finesse, "/finesse/api/SystemInfo"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tx.send(()).unwrap();
    task.await.unwrap().expect("clean stop");
    assert!(
        plain_get(at(&finesse, "/finesse/api/SystemInfo"))
            .await
            .is_err(),
        "servers stopped"
    );
}

/// Spawns the real binary. Depends on `src/main.rs` wiring the `emulate` verb.
#[cfg(unix)]
#[tokio::test]
async fn emulate_binary_serves_until_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_finesse-sso"))
        .args(["emulate", "--no-tls"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("ready within 20 s")
        .unwrap()
        .expect("a ready line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let finesse = Url::parse(v["finesse_url"].as_str().unwrap()).unwrap();
    assert_eq!(
        plain_get(at(&finesse, "/finesse/api/SystemInfo"))
            .await
            .unwrap()
            .status(),
        200
    );
    let pid = child.id().unwrap() as i32;
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        lines.next_line().await.unwrap().is_none(),
        "exactly one stdout line"
    );
}
