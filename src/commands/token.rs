//! `finesse-sso token`: ask the profile's background agent for a token (starting it if needed)
//! and print it in the requested format.

use crate::cli::{AgentRunArgs, TokenArgs};
use crate::config::Config;
use crate::dirs::Dirs;
use crate::error::{Error, Result};
use crate::finesse::token_response::TokenResponse;
use crate::ipc::client::Client;
use crate::ipc::transport::Endpoint;
use crate::logging::LogFormat;
use crate::signin::Target;
use crate::window::Placement;

pub async fn run(args: &TokenArgs, verbosity: u8, log_format: LogFormat) -> Result<()> {
    let start = Start {
        no_start: args.no_start,
        pin_stdin: args.pin_stdin,
    };
    let mut client = agent_client(
        &args.server,
        start,
        "finesse-sso token",
        verbosity,
        log_format,
    )
    .await?;
    let placement = Placement::from_caller(args.parent_window);
    let t = client.token_placed(args.min_valid, placement).await?;
    let server_url = url::Url::parse(&t.server)
        .map_err(|e| Error::Agent(format!("the agent named a bad server URL: {e}")))?;
    let expires_at = super::output::expires_at(
        time::OffsetDateTime::now_utc().unix_timestamp(),
        t.expires_in,
    );
    let resp = TokenResponse {
        token: t.token,
        refresh_token: None,
        expires_in: t.expires_in,
        user_id: t.user_id,
        realm: t.realm,
        user_principal: t.user_principal,
    };
    super::output::write(
        &mut std::io::stdout().lock(),
        args.format,
        &resp,
        &server_url,
        expires_at,
    )
}

/// Whether a missing agent may be started, and where its client-certificate PIN comes from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Start {
    pub no_start: bool,
    pub pin_stdin: bool,
}

/// A connection to the profile's agent (started, lazily, when none runs and `start.no_start`
/// is false), checked to serve the server and user asked for.
pub(super) async fn agent_client(
    args: &crate::cli::ServerArgs,
    start: Start,
    name: &str,
    verbosity: u8,
    log_format: LogFormat,
) -> Result<Client> {
    let dirs = Dirs::from_env()?;
    let config = Config::load(&dirs)?;
    let server = super::agent::resolve(&config, args);
    let profile = server.profile().to_string();
    let ep = Endpoint::of(&dirs, &profile)?;
    let client = match Client::connect(&ep, &profile, name).await {
        Ok(c) => c,
        Err(Error::AgentNotRunning(_)) if !start.no_start => {
            let target = Target::from_args(&server).map_err(|e| match e {
                // A proxy password that cannot be asked for keeps its own kind (exit 23).
                e @ Error::ProxyAuth(_) => e,
                e => Error::Usage(format!(
                    "no agent runs for profile {profile}, and one cannot be started: {e}"
                )),
            })?;
            let run = AgentRunArgs {
                server: server.clone(),
                sign_in_timeout: None,
                max_prompts_per_hour: None,
                max_clients: None,
                notifications: None,
                // It signs in as soon as its pipe is up, while this process connects and asks
                // (the request then joins that sign-in): a cold `token` is the agent's start
                // plus one sign-in, not one after the other (issue 16, goal 3).
                lazy: false,
                pin_stdin: false,
            };
            let hand_over = target.proxy.password_to_hand_over();
            let pin = super::password::certificate_pin(
                server.client_certificate.as_ref(),
                start.pin_stdin,
            )?;
            let launch =
                super::agent::launch(&server, &run, verbosity, log_format, hand_over, pin)?;
            tracing::info!("starting an agent for profile {profile}");
            crate::agent::runner::start_background(
                &dirs,
                &profile,
                &launch,
                super::agent::START_WAIT,
            )
            .await?
        }
        Err(e) => return Err(e),
    };
    check_same_target(&client, &server)?;
    Ok(client)
}

/// A running agent for another server or user is not silently used.
pub(super) fn check_same_target(client: &Client, wanted: &crate::cli::ServerArgs) -> Result<()> {
    let h = &client.hello;
    if let Some(user) = &wanted.user
        && user != &h.user
    {
        return Err(Error::Usage(format!(
            "the agent of profile {} signs in {} (not {user}); stop it or use another --profile",
            h.profile, h.user
        )));
    }
    // An agent names the first side listed, whichever side it uses now.
    if let Some(s) = &wanted.server
        && let Ok(sides) = crate::finesse::address::parse_sides(s)
        && let Some(url) = sides.first()
        && url.as_str().trim_end_matches('/') != h.server
    {
        return Err(Error::Usage(format!(
            "the agent of profile {} serves {} (not {}); stop it or use another --profile",
            h.profile,
            h.server,
            url.as_str().trim_end_matches('/')
        )));
    }
    Ok(())
}
