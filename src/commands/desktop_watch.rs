//! `finesse-sso desktop watch`: subscribes to the profile's agent with its Finesse
//! notification session held and no token events, and prints each event as one JSON line on
//! stdout (as the agent sent it) until Ctrl-C or the agent goes away.

use crate::cli::desktop::WatchArgs;
use crate::error::{Error, Result};
use crate::ipc::events::SubscribeRequest;
use crate::logging::LogFormat;

pub async fn run(args: &WatchArgs, verbosity: u8, log_format: LogFormat) -> Result<()> {
    let mut client = super::token::agent_client(
        &args.server,
        super::token::Start {
            no_start: args.no_start,
            // A certificate PIN, if the agent needs one, is asked for at the terminal.
            pin_stdin: false,
        },
        "finesse-sso desktop watch",
        verbosity,
        log_format,
    )
    .await?;
    if !client
        .hello
        .capabilities
        .iter()
        .any(|c| c == "notifications")
    {
        return Err(Error::Agent(format!(
            "the running agent ({}) has no Finesse notifications; restart it",
            client.hello.agent
        )));
    }
    client
        .subscribe_with(SubscribeRequest {
            notifications: true,
            tokens: false,
            format: args.acqueon.then(|| "acqueon".to_string()),
            password: None,
        })
        .await?;
    crate::stdio::note(format_args!(
        "finesse-sso: desktop watch: {} at {}; Ctrl-C ends",
        client.hello.user, client.hello.server
    ));
    loop {
        let v = tokio::select! {
            v = client.read_value() => v?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        // Replies to nothing we sent (a connection-level error) end the watch with it.
        if let Some(e) = v.get("error") {
            return Err(Error::Agent(format!("the agent ended the watch: {e}")));
        }
        crate::stdio::print_line(&v.to_string())?;
    }
}
