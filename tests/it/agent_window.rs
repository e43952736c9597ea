//! The agent as users run it: the `finesse-sso` binary (`token` auto-starting a background
//! agent, `agent status|stop|run`, `logout`) with the real sign-in window under Xvfb, against
//! the emulator. Typing vs. silent re-login is read from the emulator's IdP login page count.
#![cfg(all(unix, feature = "webview"))]

use std::path::PathBuf;
use std::time::Duration;

use crate::support;
use finesse_sso_emulator::{self as emulator, EmulatorConfig};

const EXE: &str = env!("CARGO_BIN_EXE_finesse-sso");

struct Home {
    dir: tempfile::TempDir,
    server: String,
    ca: PathBuf,
}

impl Home {
    fn cmd(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(EXE);
        c.args(args)
            .env("FINESSE_SSO_HOME", self.dir.path())
            .env_remove("FINESSE_SSO_SERVER")
            .env_remove("FINESSE_SSO_USER")
            .env_remove("FINESSE_SSO_PROFILE")
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str]) -> std::process::Output {
        tokio::time::timeout(Duration::from_secs(120), self.cmd(args).output())
            .await
            .expect("finished within 120 s")
            .expect("runs")
    }

    async fn token(&self) -> String {
        let ca = self.ca.to_str().unwrap();
        let out = self
            .run(&[
                "token",
                "--server",
                &self.server,
                "--user",
                "agent1",
                "--ca-file",
                ca,
                "--format",
                "token",
            ])
            .await;
        assert!(
            out.status.success(),
            "token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        // Never leave a detached agent behind, whatever failed.
        let _ = std::process::Command::new(EXE)
            .args(["agent", "stop"])
            .env("FINESSE_SSO_HOME", self.dir.path())
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_window_tests, ignore = "FINESSE_SSO_SKIP_WINDOW_TESTS is set")]
async fn restart_is_silent_and_logout_needs_typing() {
    support::need_display();
    let emu = emulator::start(EmulatorConfig {
        auto_login: Some("agent1".into()),
        ..Default::default()
    })
    .await
    .expect("emulator starts");
    let home = Home {
        dir: tempfile::tempdir().unwrap(),
        server: emu.finesse_url().as_str().to_string(),
        ca: emu.ca_file().unwrap().to_path_buf(),
    };
    let logins = || emu.request_count("/idp/login");

    // No agent yet: `token` starts one, which signs in through the window (the IdP's
    // login page is filled in by the emulator's auto-login: that is the "typing").
    let first = home.token().await;
    assert!(logins() > 0, "the first sign-in shows the login page");
    assert!(emu.issued_access_tokens().contains(&first));
    let typed = logins();

    // The agent is up: status, and a second agent for the profile is refused (exit 15).
    let out = home.run(&["agent", "status"]).await;
    assert!(out.status.success());
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (st["state"].as_str(), st["sign_ins"].as_u64()),
        (Some("valid"), Some(1))
    );
    let ca = home.ca.to_str().unwrap();
    let server = home.server.clone();
    let again = [
        "agent",
        "run",
        "--server",
        &server,
        "--user",
        "agent1",
        "--ca-file",
        ca,
    ];
    assert_eq!(home.run(&again).await.status.code(), Some(15));
    assert_eq!(home.token().await, first, "served from memory");

    // Restart: the saved web session signs in again without the login page.
    let out = home.run(&["agent", "stop"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(home.run(&["agent", "status"]).await.status.code(), Some(16));
    let second = home.token().await;
    assert_ne!(second, first);
    assert_eq!(
        logins(),
        typed,
        "restart with a live IdP session needs no typing"
    );

    // Logout forgets the session: the next sign-in shows the login page again.
    let out = home.run(&["logout"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let third = home.token().await;
    assert!(logins() > typed, "after logout the user must sign in again");
    assert!(emu.issued_access_tokens().contains(&third));

    // No token in any file under the home (logs included), nor a refresh token.
    let out = home.run(&["agent", "stop"]).await;
    assert!(out.status.success());
    let issued = emu.issued_access_tokens();
    for f in support::files_under(home.dir.path()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for t in &issued {
            assert!(!text.contains(t.as_str()), "a token is in {}", f.display());
        }
    }
    let log = std::fs::read_to_string(home.dir.path().join("state/agent-default.log")).unwrap();
    assert!(log.contains("ready on"), "{log}");
    emu.shutdown().await;
}
