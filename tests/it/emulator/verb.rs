//! The ready line and `finesse-sso emulate`: in process through `run_until`, and the real binary
//! until SIGTERM.

use super::*;

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

#[tokio::test]
async fn emulate_verb_prints_one_ready_line_and_stops_cleanly() {
    let out = support::LogBuffer::default();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut w = out.clone();
    let task = tokio::spawn(async move {
        let stop = async move {
            rx.await
                .map_err(|_| std::io::Error::other("sender dropped"))
        };
        let config = support::emulator_config(&["--no-tls"]);
        finesse_sso::commands::emulate::run_until(config, &mut w, stop).await
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let line = loop {
        let text = String::from_utf8(out.bytes()).unwrap();
        if text.ends_with('\n') {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ready line within 20 s"
        );
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
