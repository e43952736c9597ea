//! `finesse-sso desktop sign-in --demo`: sign the demo agent in at the built-in emulator, as
//! `login --demo` gets the demo token, and print the User.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::desktop_credentials::{SignedIn, sign_in_of};
use super::login::DEMO_USER;
use crate::cli::desktop::CommonArgs;
use crate::dirs::Dirs;
use crate::error::{Error, Result};
use crate::finesse::user_api::UserApi;
use crate::ipc::desktop::{AUTH_SSO_TOKEN, SignInRequest, UserResult};
use crate::logging::LogFormat;
use crate::signin::{SignInBrowser, SignInOptions, Target, WindowBrowser};
use crate::window::process;

pub async fn run(
    common: &CommonArgs,
    req: SignInRequest,
    verbosity: u8,
    log_format: LogFormat,
) -> Result<UserResult> {
    let dirs = Dirs::from_env()?;
    let headless = !process::have_display();
    let opts = SignInOptions {
        timeout: Duration::from_secs(common.timeout),
        show: !headless,
        xvfb: headless,
        verbosity,
        json_logs: log_format == LogFormat::Json,
        ..SignInOptions::default()
    };
    let mut config = finesse_sso_emulator::EmulatorConfig::default();
    if headless {
        config.auto_login = Some(DEMO_USER.to_string());
    }
    let emu = finesse_sso_emulator::start(config)
        .await
        .map_err(|e| Error::Internal(format!("starting the demo emulator: {e}")))?;
    crate::stdio::note(format_args!(
        "finesse-sso: desktop: demo: signing {DEMO_USER} in at the built-in emulator {} (extension {})",
        emu.finesse_url(),
        req.extension
    ));
    let target = Target {
        server: emu.finesse_url().clone(),
        other_sides: Vec::new(),
        user: DEMO_USER.to_string(),
        ca_pem: emu.ca_pem().map(|s| s.as_bytes().to_vec()),
        // The emulator runs here, on loopback: no proxy could reach it.
        proxy: crate::proxy::ProxySetup::direct(),
        profile: "demo".into(),
        kerberos_hosts: Vec::new(),
        client_cert: None,
    };
    let result = async {
        let t = WindowBrowser { dirs }.authenticate(&target, &opts).await?;
        let user_id = t.user_id.clone().unwrap_or_else(|| DEMO_USER.into());
        let creds = SignedIn {
            finesse: target.finesse()?,
            user: DEMO_USER.into(),
            token: Mutex::new(t),
        };
        let api = UserApi::new(target.server.clone(), target.http()?, Arc::new(creds));
        let user = api.sign_in(&user_id, &sign_in_of(req)?).await?;
        crate::stdio::note(format_args!(
            "finesse-sso: desktop: demo: {} ({}) is {} at extension {}",
            user.login_name, user.login_id, user.state, user.extension
        ));
        Ok(UserResult {
            user,
            auth: AUTH_SSO_TOKEN.into(),
            password_ignored: false,
        })
    }
    .await;
    emu.shutdown().await;
    result
}
