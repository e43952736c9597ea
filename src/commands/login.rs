//! `finesse-sso login`: sign in through the window and print the token (the demo with --demo).

use std::time::Duration;

use crate::cli::LoginArgs;
use crate::dirs::Dirs;
use crate::error::{Error, Result};
use crate::logging::LogFormat;
use crate::signin::{SignInBrowser, SignInOptions, Target, WindowBrowser};
use crate::window::{Placement, process};

/// The demo user the emulator always has.
pub const DEMO_USER: &str = "agent1";

pub async fn run(args: &LoginArgs, verbosity: u8, log_format: LogFormat) -> Result<()> {
    let dirs = Dirs::from_env()?;
    // Flags and environment, then the user's and the administrator's config files.
    let server = crate::config::Config::load(&dirs)?.resolve(&args.server);
    let demo = args.demo;
    if !demo && server.server.is_none() {
        return Err(Error::Usage(crate::signin::NO_SERVER.into()));
    }
    let headless = !process::have_display();
    let opts = SignInOptions {
        timeout: Duration::from_secs(args.timeout),
        show: args.show || (demo && !headless),
        interactive: !args.non_interactive,
        use_session: !args.no_session,
        // Without a display, only a sign-in that needs no typing can work: the demo's
        // auto-login, or a --non-interactive re-login from the saved web session.
        xvfb: headless && (demo || args.non_interactive),
        verbosity,
        json_logs: log_format == LogFormat::Json,
        placement: Placement::from_caller(args.parent_window),
    };
    let browser = WindowBrowser { dirs };
    if !demo {
        let target = Target::from_args(&server)?;
        let pin = super::password::certificate_pin(
            target.client_cert.as_ref().map(|c| &c.cert),
            args.pin_stdin,
        )?;
        // Two sides: the one in service signs in, and the output names it.
        let target = target.with_pin(pin).in_service().await?;
        let token = browser.authenticate(&target, &opts).await?;
        return print(args, &target, &token);
    }

    let mut config = finesse_sso_emulator::EmulatorConfig::default();
    if headless {
        config.auto_login = Some(DEMO_USER.to_string());
    }
    let emu = finesse_sso_emulator::start(config)
        .await
        .map_err(|e| Error::Internal(format!("starting the demo emulator: {e}")))?;
    crate::stdio::note(format_args!(
        "finesse-sso: demo: signing in to the built-in emulator at {} as {DEMO_USER}{}",
        emu.finesse_url(),
        if headless {
            " (no display: the window runs under Xvfb and the emulator's IdP signs in by itself)"
        } else {
            " (the password is shown on the sign-in page)"
        }
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
    let result = browser.authenticate(&target, &opts).await;
    if let Ok(t) = &result {
        // Show the demo's token is real: the emulator's Finesse accepts it.
        let id = t.user_id.clone().unwrap_or_else(|| target.user.clone());
        match target.finesse()?.user(&id, &t.token).await {
            Ok(_) => crate::stdio::note(format_args!(
                "finesse-sso: demo: the emulator's Finesse accepts the token (GET /finesse/api/User/{id})"
            )),
            Err(e) => crate::stdio::note(format_args!(
                "finesse-sso: demo: the token was not accepted: {e}"
            )),
        }
    }
    emu.shutdown().await;
    print(args, &target, &result?)
}

fn print(
    args: &LoginArgs,
    target: &Target,
    token: &crate::finesse::token_response::TokenResponse,
) -> Result<()> {
    let expires_at = super::output::expires_at(
        time::OffsetDateTime::now_utc().unix_timestamp(),
        token.expires_in,
    );
    super::output::write(
        &mut std::io::stdout().lock(),
        args.format,
        token,
        &target.server,
        expires_at,
    )
}
