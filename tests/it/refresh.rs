//! `Finesse::refresh` against a strict fake Finesse: the documented POST, the TAC GET fallback
//! only when the POST method is refused, and no refresh token in a URL after a 400.

use std::sync::{Arc, Mutex};

use finesse_sso::finesse::client::{Finesse, Refreshed};
use finesse_sso::redact::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves HTTP/1.1 on loopback; `answer(request_head_and_body) -> (status, content_type, body)`.
/// Records every request line for the test to inspect.
async fn fake(
    answer: fn(&str) -> (u16, &'static str, String),
) -> (url::Url, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}/", l.local_addr().unwrap())).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let mut n = 0;
                // Read the head, then the body by Content-Length.
                loop {
                    let m = s.read(&mut buf[n..]).await.unwrap_or(0);
                    if m == 0 {
                        return;
                    }
                    n += m;
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if n >= end + 4 + len {
                            break;
                        }
                    }
                }
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                log.lock().unwrap().push(req.clone());
                let (status, ctype, body) = answer(&req);
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

fn client(url: url::Url) -> Finesse {
    let http = finesse_sso::http::client(&Default::default(), None).unwrap();
    Finesse::new(url, http)
}

const TOKEN: &str = r#"{"token":"new.access.token","expires_in":300,"user_id":"agent1"}"#;

fn secrets() -> (Secret<String>, Secret<String>) {
    (
        Secret::new("old.access".to_string()),
        Secret::new("the.refresh.token".to_string()),
    )
}

#[tokio::test]
async fn post_form_is_the_documented_refresh() {
    let (url, seen) = fake(|req| {
        let ok = req.starts_with("POST /desktop/sso/token?cc_username=agent1 ")
            && req
                .to_ascii_lowercase()
                .contains("content-type: application/x-www-form-urlencoded")
            && req.contains("token=old.access")
            && req.contains("refresh-token=the.refresh.token");
        if ok {
            (200, "application/json", TOKEN.into())
        } else {
            (400, "text/plain", "strict fake: bad refresh".into())
        }
    })
    .await;
    let (t, r) = secrets();
    match client(url).refresh("agent1", &t, &r).await.unwrap() {
        Refreshed::Token(tok) => assert_eq!(tok.token.expose(), "new.access.token"),
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn refused_post_method_falls_back_to_the_tac_get() {
    let (url, seen) = fake(|req| {
        if req.starts_with("POST ") {
            (405, "text/plain", "method not allowed".into())
        } else if req.starts_with(
            "GET /desktop/sso/token?cc_username=agent1&refresh-token=the.refresh.token",
        ) {
            (200, "application/json", TOKEN.into())
        } else {
            (400, "text/plain", "strict fake: bad GET".into())
        }
    })
    .await;
    let (t, r) = secrets();
    assert!(matches!(
        client(url).refresh("agent1", &t, &r).await.unwrap(),
        Refreshed::Token(_)
    ));
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_400_is_an_error_and_the_refresh_token_stays_out_of_urls() {
    let (url, seen) = fake(|_| (400, "text/plain", "expired".into())).await;
    let (t, r) = secrets();
    let e = client(url).refresh("agent1", &t, &r).await.unwrap_err();
    assert!(e.to_string().contains("HTTP 400"), "{e}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "no GET fallback after a 400");
    assert!(
        !seen[0]
            .lines()
            .next()
            .unwrap()
            .contains("the.refresh.token")
    );
}

#[tokio::test]
async fn redirect_or_html_means_the_browser_is_needed() {
    let (url, _) = fake(|_| (302, "text/html", String::new())).await;
    let (t, r) = secrets();
    assert!(matches!(
        client(url).refresh("agent1", &t, &r).await.unwrap(),
        Refreshed::NeedsBrowser(_)
    ));
    let (url, _) = fake(|_| {
        (
            200,
            "text/html; charset=utf-8",
            "<html>sign in</html>".into(),
        )
    })
    .await;
    assert!(matches!(
        client(url).refresh("agent1", &t, &r).await.unwrap(),
        Refreshed::NeedsBrowser(_)
    ));
}
