//! A whole sign-in through the emulator: Cisco's token JSON and JWT, the sessions that spare the
//! password, the lockout, `cc_username` from a cookie, and the session bound to its user.

use super::*;

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
