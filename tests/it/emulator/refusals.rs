//! What the emulator refuses mid-flow: a replayed or expired code, missing cookies, a replayed or
//! tampered assertion, wrong methods, content types and OAuth parameters. The walk stops before
//! the request under test (`HttpDriver::walk`), which is then replayed or altered.

use super::*;

#[tokio::test]
async fn authorization_code_is_single_use() {
    let e = start(&[]).await;
    let d = driver(&e, demo());
    let authcode = walk_until(
        &d,
        &e,
        |s| s.url().path() == "/desktop/sso/authcode",
        &mut vec![],
    )
    .await;
    let r = send(&authcode, d.client()).await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        Url::parse(&header(&r, "location")).unwrap().path(),
        "/desktop/sso/token"
    );
    let r = send(&authcode, &client(&e, None)).await;
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
    let d = driver(&e, demo());
    let authcode = walk_until(
        &d,
        &e,
        |s| s.url().path() == "/desktop/sso/authcode",
        &mut vec![],
    )
    .await;
    // The code's lifetime passing is the condition under test: nothing to wait for but time.
    tokio::time::sleep(Duration::from_millis(120)).await;
    let r = send(&authcode, d.client()).await;
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
    let bare = client(&e, None);

    // IdP: the login POST without the cookie the page set.
    let login = walk_until(
        &driver(&e, demo()),
        &e,
        |s| is_post_to(s, "/idp/login"),
        &mut vec![],
    )
    .await;
    let r = send(&login, &bare).await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("missing cookie `idp_login`")
    );

    // IdS: the relay POST without the IdS session cookie.
    let d = driver(&e, demo());
    let relay = walk_until(&d, &e, |s| is_post_to(s, "/ids/relay"), &mut vec![]).await;
    let r = send(&relay, &bare).await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("missing cookie `IDSSESSION`")
    );
    // The same relay with the cookie still works (the refused attempt did not spend it).
    assert_eq!(send(&relay, d.client()).await.status(), 302);

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
    let d = driver(&e, demo());
    let c = d.client();
    let acs = walk_until(&d, &e, |s| is_post_to(s, "/ids/saml/response"), &mut vec![]).await;
    assert_eq!(send(&acs, c).await.status(), 200);
    let r = send(&acs, c).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("already used (replay)"));
    // A tampered assertion fails its signature.
    let Step::Post(u, fields) = &acs else {
        panic!("the walk stopped before a POST to the ACS");
    };
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut fields = fields.clone();
    for (k, v) in fields.iter_mut() {
        if k == "SAMLResponse" {
            let xml = String::from_utf8(b64.decode(&*v).unwrap()).unwrap();
            *v = b64.encode(xml.replace(">agent1<", ">admin1<"));
        }
    }
    let r = send(&Step::Post(u.clone(), fields), c).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("signature is invalid"));
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
