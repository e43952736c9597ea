//! `finesse-sso desktop watch`: subscribes to the profile's agent with its Finesse
//! notification session held and no token events, and prints each event as one JSON line on
//! stdout (as the agent sent it) until Ctrl-C, the agent goes away, or the session ends for
//! good (a refused password: exit with its kind). A NON_SSO user's password goes in the
//! request only (from stdin or a prompt).

use serde_json::Value;

use crate::cli::desktop::WatchArgs;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::events::SubscribeRequest;
use crate::logging::LogFormat;
use crate::redact::Secret;

pub async fn run(args: &WatchArgs, verbosity: u8, log_format: LogFormat) -> Result<()> {
    let password =
        super::password::stdin_if(args.password_stdin, args.server.proxy_password_stdin)?;
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
    if password.is_some() {
        takes_password(&client.hello)?;
    }
    let request = |password: Option<Secret<String>>| SubscribeRequest {
        notifications: true,
        tokens: false,
        format: args.acqueon.then(|| "acqueon".to_string()),
        password,
    };
    let asked = password.is_some();
    match client.subscribe_with(request(password)).await {
        // A NON_SSO user: asked once at the terminal (or told to use --password-stdin).
        Err(Error::FromAgent {
            kind: ErrorKind::PasswordRequired,
            ..
        }) if !asked => {
            let p = super::password::prompt(&client.hello.user)?;
            client.subscribe_with(request(Some(p))).await?;
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
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
        if let Some(e) = ended(&v) {
            return Err(e);
        }
    }
}

/// An agent older than NON_SSO notifications would refuse the password less clearly.
fn takes_password(hello: &crate::ipc::protocol::HelloInfo) -> Result<()> {
    if hello
        .capabilities
        .iter()
        .any(|c| c == "notifications_password")
    {
        return Ok(());
    }
    Err(Error::Agent(format!(
        "the running agent ({}) takes no password for notifications; restart it",
        hello.agent
    )))
}

/// The session's `ended` event (native or Acqueon's), as the error that ends the watch.
fn ended(v: &Value) -> Option<Error> {
    let (data, status) = if v["event"] == "notifications" {
        (v, &v["state"])
    } else if v["subtopic"] == "SetConnectionStatus" {
        let d = &v["message"]["data"];
        (d, &d["status"])
    } else {
        return None;
    };
    (status == "ended").then(|| Error::FromAgent {
        kind: ErrorKind::from(data["kind"].as_str().unwrap_or("")),
        message: format!(
            "the notification session ended: {}",
            data["reason"].as_str().unwrap_or("no reason given")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_ended_session_ends_the_watch_with_its_kind() {
        let native = json!({"event":"notifications","id":1,"state":"ended",
            "reason":"User on f: rejected (HTTP 401)","kind":"auth_rejected"});
        let e = ended(&native).unwrap();
        assert_eq!(e.exit_code(), 13, "{e}");
        assert!(e.to_string().contains("rejected (HTTP 401)"), "{e}");
        let acqueon = json!({"channel":"Cisco","topic":"Connection","subtopic":"SetConnectionStatus",
            "message":{"data":{"status":"ended","reason":"locked","kind":"account_locked"}}});
        assert_eq!(
            ended(&acqueon).map(|e| e.exit_code()),
            Some(ErrorKind::AccountLocked.exit_code())
        );
        for going_on in [
            json!({"event":"notifications","state":"disconnected","reason":"x","retry_in_ms":0}),
            json!({"event":"user","user":{"state":"ended"}}),
            json!({"subtopic":"SetConnectionStatus","message":{"data":{"status":"connected"}}}),
        ] {
            assert!(ended(&going_on).is_none(), "{going_on}");
        }
    }
}
