//! Finesse's REST side: the User API with Bearer and Basic, SystemInfo and UserAuthMode, TLS
//! trust, auto-login and the SSO test page.

use super::*;

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
