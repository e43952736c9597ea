//! The request log (names, never values), the `--forge` pages a client must never capture, and
//! injected token bodies, statuses and delays.

use super::*;

#[tokio::test]
async fn request_log_holds_names_never_values() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let e = start(&["--log", log.to_str().unwrap()]).await;
    let d = driver(&e, demo());
    let (c, jar) = (d.client(), d.jar());
    let mut seen = Vec::new();
    let authcode = walk_until(
        &d,
        &e,
        |s| s.url().path() == "/desktop/sso/authcode",
        &mut seen,
    )
    .await;
    let r = send(&authcode, c).await;
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
    e.faults().set_token_body(TokenBody::AsHtml);
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

/// `--fail ENDPOINT=429|418` with `--retry-after`: the VPN-less proxy's nginx answers, with
/// the header, on REST, the token endpoint and the notification WebSocket's upgrade.
#[tokio::test]
async fn proxy_throttle_answers_carry_retry_after() {
    let e = start(&["--fail", "systeminfo=429", "--retry-after", "90"]).await;
    let c = client(&e, None);
    let r = c
        .get(e.finesse_url().join("/finesse/api/SystemInfo").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "90");
    assert!(header(&r, "content-type").starts_with("text/html"));
    e.faults().set_status("ws", Some(418)).unwrap();
    e.faults().set_retry_after(None);
    let mut ws = e.xmpp_url();
    let _ = ws.set_scheme("https");
    let r = c
        .get(ws)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "xmpp")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 418);
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(e.request_count("/ws/"), 1);
    e.shutdown().await;
}

/// `--vpnless`: one listener; paths reach Finesse, IdS or the IdP by prefix, and any other
/// path is the proxy's 404.
#[tokio::test]
async fn vpnless_routes_by_path_on_one_origin() {
    let e = start(&["--vpnless"]).await;
    assert_eq!(e.ids_url(), e.finesse_url());
    assert_eq!(e.idp_url(), e.finesse_url());
    assert_eq!(e.ready_line()["ids_url"], e.ready_line()["finesse_url"]);
    let c = client(&e, None);
    let get = async |path: &str| {
        c.get(e.finesse_url().join(path).unwrap())
            .send()
            .await
            .unwrap()
    };
    assert_eq!(get("/finesse/api/SystemInfo").await.status(), 200);
    assert_eq!(get("/ids/v1/keys/token/public").await.status(), 200);
    // The IdP's SSO endpoint takes a POST: the IdP's own refusal, not the proxy's 404.
    let idp = get("/idp/sso").await;
    assert_eq!(idp.status(), 405);
    let other = get("/etc/passwd").await;
    assert_eq!(other.status(), 404);
    assert!(other.text().await.unwrap().contains("not proxied"));
    e.shutdown().await;
}
