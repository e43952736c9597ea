//! Issue 11 against the emulator: its User API (state machine, auth, lockout, faults) and the
//! User API client (sign-in, state, sign-out, reasons, retries, renewal, passwords tried once).
//! The pipe, Acqueon-style messages, the CLI and the examples: `desktop_pipe.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::support::driver::{http_options, token};
use crate::support::emulator;
use finesse_sso::error::{Error, Result};
use finesse_sso::finesse::user_api::{
    Auth, BoxFuture, Credentials, Fixed, Policy, Reason, SignIn, UserApi,
};
use finesse_sso::http::{self, HttpOptions};
use finesse_sso::redact::Secret;
use finesse_sso_emulator::Emulator;

fn reqwest_client(emu: &Emulator) -> reqwest::Client {
    http::client(
        &HttpOptions {
            follow_redirects: false,
            ..http_options(emu)
        },
        None,
    )
    .unwrap()
}

fn url(emu: &Emulator, path: &str) -> String {
    format!(
        "{}{}",
        emu.finesse_url().as_str().trim_end_matches('/'),
        path
    )
}

fn quick() -> Policy {
    Policy {
        retries: 3,
        backoff: Duration::from_millis(20),
        confirm_within: Duration::from_millis(400),
        request_timeout: Duration::from_secs(10),
    }
}

fn api(emu: &Emulator, creds: Arc<dyn Credentials>) -> UserApi {
    UserApi::new(emu.finesse_url().clone(), reqwest_client(emu), creds).with_policy(quick())
}

fn bearer(t: &Secret<String>) -> Arc<dyn Credentials> {
    Arc::new(Fixed(Auth::Bearer(t.clone())))
}

async fn put(emu: &Emulator, id: &str, token: &str, body: &str) -> (u16, String) {
    let r = reqwest_client(emu)
        .put(url(emu, &format!("/finesse/api/User/{id}")))
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get(emu: &Emulator, path: &str, token: &str) -> (u16, String) {
    let r = reqwest_client(emu)
        .get(url(emu, path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn emulator_user_api_is_strict_and_follows_the_state_machine() {
    let e = emulator(&["--user", "agent1:pw1", "--user", "agent2:pw2"]).await;
    let t = token(&e, "agent1", "pw1").await;
    let tok = t.token.expose().as_str();
    // UCCE: the token's user_id is the loginName; the object is keyed by loginId 1001.
    assert_eq!(t.user_id.as_deref(), Some("agent1"));
    let (s, body) = get(&e, "/finesse/api/User/agent1", tok).await;
    assert_eq!(s, 200);
    assert!(body.contains("<loginId>1001</loginId>") && body.contains("<state>LOGOUT</state>"));
    let login = "<User><state>LOGIN</state><extension>1001001</extension></User>";
    let (s, body) = put(&e, "agent1", tok, login).await;
    assert_eq!(s, 404, "PUT by loginName on UCCE: {body}");
    assert!(body.contains("<ErrorMessage>UNKNOWN_USER</ErrorMessage>"));
    // Content type is checked.
    let r = reqwest_client(&e)
        .put(url(&e, "/finesse/api/User/1001"))
        .bearer_auth(tok)
        .body(login)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // Invalid extension, missing state, unknown element.
    let (s, body) = put(
        &e,
        "1001",
        tok,
        "<User><state>LOGIN</state><extension>999</extension></User>",
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body.contains("<ErrorType>Bad Request</ErrorType>") && body.contains("Invalid extension")
    );
    let (s, body) = put(
        &e,
        "1001",
        tok,
        "<User><extension>1001001</extension></User>",
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body.contains("<ErrorType>Parameter Missing</ErrorType>")
            && body.contains("State Parameter missing")
    );
    assert_eq!(
        put(&e, "1001", tok, "<User><state>READY</state><x/></User>")
            .await
            .0,
        400
    );
    assert_eq!(
        put(&e, "1001", tok, "<User><state>READY</state></User>")
            .await
            .0,
        400,
        "READY from LOGOUT"
    );
    // LOGIN → NOT_READY with reasonCodeId -1.
    assert_eq!(put(&e, "1001", tok, login).await.0, 202);
    let (_, body) = get(&e, "/finesse/api/User/1001", tok).await;
    assert!(
        body.contains("<state>NOT_READY</state>")
            && body.contains("<reasonCodeId>-1</reasonCodeId>")
    );
    assert!(body.contains("<extension>1001001</extension>"));
    assert_eq!(
        put(&e, "1001", tok, "<User><state>READY</state></User>")
            .await
            .0,
        202
    );
    // A repeated LOGIN keeps READY.
    assert_eq!(put(&e, "1001", tok, login).await.0, 202);
    assert_eq!(e.agent_state("1001"), "READY");
    // UCCE: LOGOUT only from NOT_READY; NOT_READY needs one of the configured codes.
    let (s, body) = put(
        &e,
        "1001",
        tok,
        "<User><state>LOGOUT</state><reasonCodeId>55</reasonCodeId></User>",
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("<ErrorType>Invalid State</ErrorType>"));
    let (s, body) = put(&e, "1001", tok, "<User><state>NOT_READY</state></User>").await;
    assert_eq!(s, 400);
    assert!(body.contains("<ErrorData>reasonCodeId</ErrorData>"));
    assert_eq!(
        put(
            &e,
            "1001",
            tok,
            "<User><state>NOT_READY</state><reasonCodeId>17</reasonCodeId></User>"
        )
        .await
        .0,
        202
    );
    let (_, body) = get(&e, "/finesse/api/User/1001", tok).await;
    assert!(
        body.contains("<reasonCodeId>17</reasonCodeId>") && body.contains("<label>Break</label>")
    );
    // Reason codes are served per category.
    let (s, body) = get(
        &e,
        "/finesse/api/User/1001/ReasonCodes?category=LOGOUT",
        tok,
    )
    .await;
    assert_eq!(s, 200);
    assert!(body.starts_with("<ReasonCodes category=\"LOGOUT\">") && body.contains("End of Shift"));
    assert_eq!(
        get(&e, "/finesse/api/User/1001/ReasonCodes", tok).await.0,
        400
    );
    assert_eq!(
        get(&e, "/finesse/api/User/1001/ReasonCodes?category=X", tok)
            .await
            .0,
        400
    );
    // Another user's object: 401 Invalid Authorization User Specified; unknown ids: 404.
    let (s, body) = get(&e, "/finesse/api/User/agent2", tok).await;
    assert_eq!(s, 401);
    assert!(body.contains("<ErrorType>Invalid Authorization User Specified</ErrorType>"));
    let (s, body) = put(&e, "1002", tok, login).await;
    assert_eq!(s, 401, "{body}");
    let (s, body) = get(&e, "/finesse/api/User/nobody", tok).await;
    assert_eq!((s, body.contains("UNKNOWN_USER")), (404, true));
    assert_eq!(
        put(
            &e,
            "1001",
            tok,
            "<User><state>LOGOUT</state><reasonCodeId>55</reasonCodeId></User>"
        )
        .await
        .0,
        202
    );
    assert_eq!(e.agent_state("1001"), "LOGOUT");
    let puts = e.user_puts();
    assert!(
        puts.iter()
            .all(|p| p.scheme == "Bearer" && p.request_id.is_none())
    );
    e.shutdown().await;
}

#[tokio::test]
async fn basic_auth_locks_after_five_wrong_passwords_and_503_knob_counts() {
    let e = emulator(&[
        "--no-tls",
        "--auth-mode",
        "NON_SSO",
        "--user",
        "n:pw-n",
        "--user-api-unavailable",
        "2",
    ])
    .await;
    let c = reqwest_client(&e);
    let get = |pw: &'static str| {
        c.get(url(&e, "/finesse/api/User/n"))
            .basic_auth("n", Some(pw))
            .send()
    };
    assert_eq!(get("pw-n").await.unwrap().status(), 503);
    let r = get("pw-n").await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<ErrorType>Service Unavailable</ErrorType>")
    );
    assert_eq!(get("pw-n").await.unwrap().status(), 200);
    for i in 1..=4 {
        assert_eq!(get("wrong").await.unwrap().status(), 401);
        assert_eq!(e.basic_failures("n"), i);
    }
    assert_eq!(
        get("pw-n").await.unwrap().status(),
        200,
        "a success resets the count"
    );
    assert_eq!(e.basic_failures("n"), 0);
    for _ in 0..5 {
        assert_eq!(get("wrong").await.unwrap().status(), 401);
    }
    assert!(e.is_locked_out("n"));
    let r = get("pw-n").await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.text().await.unwrap().contains("locked"),
        "the right password while locked"
    );
    e.shutdown().await;
}

/// Bearer credentials whose first token is another user's; `renew` counts its calls.
struct Renewing {
    first: Secret<String>,
    good: Secret<String>,
    renewals: AtomicU32,
}

impl Credentials for Renewing {
    fn current(&self) -> BoxFuture<'_, Result<Auth>> {
        let a = Auth::Bearer(self.first.clone());
        Box::pin(async move { Ok(a) })
    }
    fn renew(&self) -> BoxFuture<'_, Result<Option<Auth>>> {
        self.renewals.fetch_add(1, Ordering::SeqCst);
        let a = Auth::Bearer(self.good.clone());
        Box::pin(async move { Ok(Some(a)) })
    }
}

#[tokio::test]
async fn the_client_signs_in_changes_state_and_signs_out() {
    let e = emulator(&[
        "--user",
        "agent1:pw1",
        "--user",
        "agent2:pw2",
        "--stuck-extension",
        "1001003",
        "--extension",
        "agent1=1001001,1001003",
    ])
    .await;
    let t = token(&e, "agent1", "pw1").await;
    let a = api(&e, bearer(&t.token));
    let s = |ext: &str| SignIn {
        extension: ext.into(),
        active_device_id: None,
        mobile: None,
    };
    let u = a.sign_in("agent1", &s("1001001")).await.unwrap();
    assert_eq!(
        (u.login_id.as_str(), u.state.as_str(), u.reason_code_id),
        ("1001", "NOT_READY", -1)
    );
    let puts = e.user_puts();
    let last = puts.last().unwrap();
    assert_eq!(
        (last.login_id.as_str(), last.state.as_str(), last.status),
        ("1001", "LOGIN", 202)
    );
    assert!(
        last.request_id.as_deref().is_some_and(|r| r.len() == 32),
        "a requestId per request"
    );
    let u = a.set_state("agent1", true, None).await.unwrap();
    assert_eq!(u.state, "READY");
    let u = a
        .set_state("agent1", false, Some(&Reason::Label("team meeting".into())))
        .await
        .unwrap();
    assert_eq!((u.state.as_str(), u.reason_code_id), ("NOT_READY", 16));
    assert_eq!(u.reason_code.unwrap().label, "Team Meeting");
    let Err(Error::Usage(m)) = a
        .set_state("agent1", false, Some(&Reason::Label("Nap".into())))
        .await
    else {
        panic!("an unknown label is a usage error")
    };
    assert!(m.contains("Break (17)"), "{m}");
    // A missing sign-out reason is Finesse's refusal, reported with its ApiError.
    let Err(Error::DesktopRefused { detail, .. }) = a.sign_out("agent1", None).await else {
        panic!("LOGOUT without a configured reason")
    };
    assert!(detail.contains("Parameter Missing"), "{detail}");
    let u = a.sign_out("agent1", Some(&Reason::Id(55))).await.unwrap();
    assert_eq!(u.state, "LOGOUT");
    // Already signed out: nothing is sent.
    let n = e.user_puts().len();
    assert_eq!(a.sign_out("agent1", None).await.unwrap().state, "LOGOUT");
    assert_eq!(e.user_puts().len(), n);
    // The invalid extension is refused; the stuck device is accepted but never signs in.
    assert!(matches!(
        a.sign_in("agent1", &s("42")).await,
        Err(Error::DesktopRefused { .. })
    ));
    let Err(Error::DesktopUnconfirmed(m)) = a.sign_in("agent1", &s("1001003")).await else {
        panic!("a device that never signs in")
    };
    assert!(
        m.contains("CTI server did not sign the agent in") && m.contains("LOGOUT"),
        "{m}"
    );
    // Mobile agent.
    let mobile = SignIn {
        mobile: Some(finesse_sso::finesse::user_xml::Mobile {
            mode: finesse_sso::finesse::user_xml::MobileMode::NailedConnection,
            dial_number: "4085551234".into(),
        }),
        ..s("1001001")
    };
    let u = a.sign_in("agent1", &mobile).await.unwrap();
    assert_eq!(u.mobile_agent.unwrap().mode, "NAILED_CONNECTION");
    let codes = a
        .reason_codes("1001", finesse_sso::finesse::user_api::Category::All)
        .await
        .unwrap();
    assert_eq!(codes.len(), 5);

    // 503 twice, then through: retried with backoff.
    e.set_user_api_unavailable(2);
    assert_eq!(a.get_user("agent1").await.unwrap().login_id, "1001");
    e.set_user_api_unavailable(10);
    let Err(Error::Server { detail, .. }) = a.get_user("agent1").await else {
        panic!("503 beyond the retries")
    };
    assert!(detail.contains("503"), "{detail}");
    e.set_user_api_unavailable(0);

    // 401 → one renewal, then success; a second 401 is not renewed again.
    let other = token(&e, "agent2", "pw2").await;
    let r = Arc::new(Renewing {
        first: other.token.clone(),
        good: t.token.clone(),
        renewals: AtomicU32::new(0),
    });
    assert_eq!(
        api(&e, r.clone()).get_user("agent1").await.unwrap().state,
        "NOT_READY"
    );
    assert_eq!(r.renewals.load(Ordering::SeqCst), 1);
    let bad = Arc::new(Renewing {
        first: other.token.clone(),
        good: other.token.clone(),
        renewals: AtomicU32::new(0),
    });
    assert!(matches!(
        api(&e, bad.clone()).get_user("agent1").await,
        Err(Error::AuthRejected { .. })
    ));
    assert_eq!(
        bad.renewals.load(Ordering::SeqCst),
        1,
        "renewed once, never looped"
    );
    e.shutdown().await;
}

#[tokio::test]
async fn a_wrong_password_is_tried_once_and_never_locks_the_user() {
    let e = emulator(&[
        "--no-tls",
        "--auth-mode",
        "HYBRID",
        "--user",
        "a:pw-a",
        "--user",
        "n:pw-n:NON_SSO",
    ])
    .await;
    let basic = |pw: &str| -> Arc<dyn Credentials> {
        Arc::new(Fixed(Auth::Basic {
            user: "n".into(),
            password: Secret::new(pw.into()),
        }))
    };
    let wrong = api(&e, basic("wrong"));
    for _ in 0..3 {
        let Err(Error::AuthRejected { detail, .. }) = wrong
            .sign_in(
                "n",
                &SignIn {
                    extension: "1001002".into(),
                    active_device_id: None,
                    mobile: None,
                },
            )
            .await
        else {
            panic!("a wrong password is rejected")
        };
        assert!(detail.contains("not tried again"), "{detail}");
    }
    // Three commands, three requests: each tried once.
    assert_eq!(e.basic_failures("n"), 3);
    assert!(!e.is_locked_out("n"));
    let right = api(&e, basic("pw-n"));
    let u = right
        .sign_in(
            "n",
            &SignIn {
                extension: "1001002".into(),
                active_device_id: None,
                mobile: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (u.login_id.as_str(), u.state.as_str()),
        ("1002", "NOT_READY")
    );
    assert!(e.user_puts().iter().all(|p| p.scheme == "Basic"));
    e.shutdown().await;
}
