//! Finesse's token refresh: the POST and TAC GET forms, both tokens unexpired, rotation, and the
//! redirect back into the browser flow.

use super::*;

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
