//! One in-process agent rig for the pipe tests (`agent`, `desktop_pipe`): the token agent served
//! on its real socket under a private temp home, with the HTTP test driver behind the
//! `SignInBrowser` seam as its browser.

use std::sync::{Arc, Mutex};
use std::time::Duration;

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
use finesse_sso::testing::{DriverError, HttpDriver};
use finesse_sso_emulator::Emulator;
use tokio::sync::watch;

use super::driver::http_options;

/// The HTTP driver as the agent's browser. Silent sign-ins carry no credentials (a login page
/// means `InteractionRequired`); interactive ones type the password. Cookies persist between
/// sign-ins, like the profile's saved web session.
pub struct DriverAuth {
    http: HttpOptions,
    creds: (String, String),
    session: Mutex<cookie_store::CookieStore>,
    /// `opts.interactive` of every call, and how many calls ended with a token.
    calls: Mutex<(Vec<bool>, u32)>,
}

impl DriverAuth {
    /// Whether each sign-in asked for was interactive, in order.
    pub fn calls(&self) -> Vec<bool> {
        self.calls.lock().unwrap().0.clone()
    }
}

impl SignInBrowser for DriverAuth {
    fn authenticate<'a>(
        &'a self,
        target: &'a Target,
        opts: &'a SignInOptions,
    ) -> BoxFuture<'a, Result<TokenResponse>> {
        Box::pin(async move {
            self.calls.lock().unwrap().0.push(opts.interactive);
            let creds = opts.interactive.then(|| self.creds.clone());
            let d = HttpDriver::new(&self.http, creds).map_err(|e| Error::Usage(e.to_string()))?;
            *d.jar().0.lock().unwrap() = self.session.lock().unwrap().clone();
            let got = d
                .sign_in(&mut Flow::new(&target.server), &target.user)
                .await;
            match got {
                Ok(t) => {
                    *self.session.lock().unwrap() = d.jar().0.lock().unwrap().clone();
                    self.calls.lock().unwrap().1 += 1;
                    Ok(t)
                }
                Err(DriverError::Capture { .. }) if !opts.interactive => Err(
                    Error::InteractionRequired("the IdP shows its login page".into()),
                ),
                Err(DriverError::Request { url, reason, .. }) => Err(Error::Network {
                    step: "test browser",
                    host: url,
                    cause: reason,
                }),
                Err(e) => Err(Error::Webview(e.to_string())),
            }
        })
    }
}

/// What differs between the rigs' users.
pub struct RigOptions<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub max_clients: usize,
    /// How long the agent waits for a client's request line.
    pub read_timeout: Duration,
    /// How long the agent waits for a client to take a line it writes.
    pub write_timeout: Duration,
    /// Timings of the Finesse notification session.
    pub notify: finesse_sso::notify::runner::Options,
}

impl Default for RigOptions<'_> {
    fn default() -> Self {
        RigOptions {
            user: "agent1",
            password: "demo-password",
            max_clients: 64,
            read_timeout: Limits::default().read_timeout,
            write_timeout: Limits::default().write_timeout,
            notify: Default::default(),
        }
    }
}

/// An agent for one user served in this process, on a private temp home, until `stop`.
pub struct AgentRig {
    pub home: tempfile::TempDir,
    pub ep: Endpoint,
    pub auth: Arc<DriverAuth>,
    pub target: Target,
    _keeper: Arc<Keeper>,
    stop: watch::Sender<bool>,
}

impl AgentRig {
    pub async fn start(emu: &Emulator, o: RigOptions<'_>) -> AgentRig {
        let home = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(home.path());
        let target = Target {
            server: emu.finesse_url().clone(),
            other_sides: emu.side_urls()[1..].to_vec(),
            user: o.user.into(),
            ca_pem: emu.ca_pem().map(|p| p.as_bytes().to_vec()),
            proxy: Default::default(),
            profile: "default".into(),
            kerberos_hosts: Vec::new(),
            client_cert: None,
        };
        let auth = Arc::new(DriverAuth {
            http: http_options(emu),
            creds: (o.user.into(), o.password.into()),
            session: Mutex::default(),
            calls: Mutex::default(),
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
            notify: o.notify.clone(),
            profile: "default".into(),
            limits: Limits {
                read_timeout: o.read_timeout,
                write_timeout: o.write_timeout,
                ..Limits::default()
            },
            max_clients: o.max_clients,
        };
        tokio::spawn(server.serve(keeper.clone(), opts, stop.clone()));
        AgentRig {
            home,
            ep,
            auth,
            target,
            _keeper: keeper,
            stop,
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.ep, "default", "rig-test")
            .await
            .unwrap()
    }

    /// How many sign-ins ended with a token.
    pub fn sign_ins(&self) -> u32 {
        self.auth.calls.lock().unwrap().1
    }

    /// The token works at Finesse (`GET /finesse/api/User/<user>`).
    pub async fn accepted(&self, token: &str) -> bool {
        let f = self.target.finesse().unwrap();
        f.user(&self.target.user, &token.to_string().into())
            .await
            .is_ok()
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}
