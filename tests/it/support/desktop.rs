//! Helpers of `tests/desktop_pipe.rs`: an agent served in this process (the HTTP test driver as
//! its browser) on a temp home, and `finesse-sso desktop` commands. Tokens: `driver.rs`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use finesse_sso::agent::clock::SystemClock;
use finesse_sso::agent::connection::Limits;
use finesse_sso::agent::{AgentListener, Keeper, KeeperOptions, ServeOptions};
use finesse_sso::dirs::Dirs;
use finesse_sso::error::{Error, Result};
use finesse_sso::finesse::token_response::TokenResponse;
use finesse_sso::flow::Flow;
use finesse_sso::http::HttpOptions;
use finesse_sso::ipc::client::Client;
use finesse_sso::ipc::transport::Endpoint;
use finesse_sso::signin::{BoxFuture, SignInBrowser, SignInOptions, Target};
use finesse_sso::testing::HttpDriver;
use finesse_sso_emulator::Emulator;
use tokio::sync::watch;

use super::driver::http_options;

/// The agent's browser: the HTTP driver typing `user`'s password; counts its sign-ins.
pub struct DriverAuth {
    http: HttpOptions,
    creds: (String, String),
    pub sign_ins: Mutex<u32>,
}

impl SignInBrowser for DriverAuth {
    fn authenticate<'a>(
        &'a self,
        target: &'a Target,
        _opts: &'a SignInOptions,
    ) -> BoxFuture<'a, Result<TokenResponse>> {
        Box::pin(async move {
            *self.sign_ins.lock().unwrap() += 1;
            let d = HttpDriver::new(&self.http, Some(self.creds.clone()))
                .map_err(|e| Error::Usage(e.to_string()))?;
            d.sign_in(&mut Flow::new(&target.server), &target.user)
                .await
                .map_err(|e| Error::Webview(e.to_string()))
        })
    }
}

/// An agent for `user` served in this process, on a private temp home.
pub struct AgentRig {
    pub home: tempfile::TempDir,
    pub ep: Endpoint,
    pub auth: Arc<DriverAuth>,
    stop: watch::Sender<bool>,
}

impl AgentRig {
    pub async fn start(emu: &Emulator, user: &str, password: &str) -> AgentRig {
        let home = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(home.path());
        let target = Target {
            server: emu.finesse_url().clone(),
            user: user.into(),
            ca_pem: emu.ca_pem().map(|p| p.as_bytes().to_vec()),
            proxy: None,
            profile: "default".into(),
        };
        let auth = Arc::new(DriverAuth {
            http: http_options(emu),
            creds: (user.into(), password.into()),
            sign_ins: Mutex::new(0),
        });
        let keeper = Keeper::new(
            target.clone(),
            dirs.profile("default").unwrap(),
            Arc::new(target.finesse().unwrap()),
            auth.clone(),
            Arc::new(SystemClock),
            KeeperOptions {
                sign_in: SignInOptions::default(),
                prompts_per_hour: 3,
                sign_in_at_start: false,
            },
        );
        let server = AgentListener::bind(&dirs, "default").await.unwrap();
        let ep = server.endpoint().clone();
        let (stop, _) = watch::channel(false);
        let opts = ServeOptions {
            profile: "default".into(),
            limits: Limits::default(),
            max_clients: 64,
        };
        tokio::spawn(server.serve(keeper, opts, stop.clone()));
        AgentRig {
            home,
            ep,
            auth,
            stop,
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.ep, "default", "desktop-test")
            .await
            .unwrap()
    }

    pub fn sign_ins(&self) -> u32 {
        *self.auth.sign_ins.lock().unwrap()
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// `finesse-sso desktop ARGS` with private state under `home` (stdin closed unless given).
pub fn desktop_command(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finesse-sso"));
    c.env("FINESSE_SSO_HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("FINESSE_SSO_SERVER")
        .env_remove("FINESSE_SSO_USER")
        .arg("desktop")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// `--server URL --user U --ca-file CA` for `emu`.
pub fn server_args(emu: &Emulator, user: &str) -> Vec<String> {
    let mut v = vec![
        "--server".to_string(),
        emu.finesse_url().to_string(),
        "--user".into(),
        user.into(),
    ];
    if let Some(ca) = emu.ca_file() {
        v.push("--ca-file".into());
        v.push(ca.display().to_string());
    }
    v
}
