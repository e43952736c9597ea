//! `finesse-sso agent run|start|status|stop` (our background agent process): resolve the
//! settings, then hand over to `agent::runner` or talk to the running agent.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::time::Duration;

use crate::agent::runner::{self, Launch, RunConfig};
use crate::cli::{AgentArgs, AgentCommand, AgentRunArgs, ProfileArgs, ServerArgs};
use crate::config::Config;
use crate::dirs::Dirs;
use crate::error::{Error, Result};
use crate::ipc::client::Client;
use crate::ipc::transport::Endpoint;
use crate::logging::LogFormat;
use crate::redact::Secret;
use crate::signin::{SignInOptions, Target};

/// How long `agent start` and `token` wait for a new agent to answer.
pub const START_WAIT: Duration = Duration::from_secs(20);

pub async fn run(args: &AgentArgs, verbosity: u8, log_format: LogFormat) -> Result<()> {
    let dirs = Dirs::from_env()?;
    let config = Config::load(&dirs)?;
    match &args.command {
        AgentCommand::Run(a) => {
            runner::run_foreground(run_config(&dirs, &config, a, verbosity, log_format)?).await
        }
        AgentCommand::Start(a) => {
            let server = resolve(&config, &a.server);
            // Fail here, not in the background; a proxy password is asked for here, once.
            let target = Target::from_args(&server)?;
            let ep = Endpoint::of(&dirs, server.profile())?;
            match Client::connect(&ep, server.profile(), "finesse-sso agent start").await {
                Ok(c) => {
                    return Err(Error::AgentRunning(format!(
                        "profile {} (pid {}) on {}",
                        server.profile(),
                        c.hello.pid,
                        ep.display()
                    )));
                }
                // Another user's process holds the name: starting ours cannot succeed.
                Err(e @ Error::ForeignPipe(_)) => return Err(e),
                Err(_) => {}
            }
            let hand_over = target.proxy.password_to_hand_over();
            let pin =
                super::password::certificate_pin(server.client_certificate.as_ref(), a.pin_stdin)?;
            let launch = launch(&server, a, verbosity, log_format, hand_over, pin)?;
            let c = runner::start_background(&dirs, server.profile(), &launch, START_WAIT).await?;
            crate::stdio::note(format_args!(
                "finesse-sso: agent started (pid {}) on {}; log: {}",
                c.hello.pid,
                ep.display(),
                runner::log_file(&dirs, server.profile()).display()
            ));
            Ok(())
        }
        AgentCommand::Status(p) => {
            let mut c = connect(&dirs, &config, p, "finesse-sso agent status").await?;
            let status = c.status().await?;
            let text = if std::io::stdout().is_terminal() {
                serde_json::to_string_pretty(&status)
            } else {
                serde_json::to_string(&status)
            }
            .map_err(|e| Error::Internal(e.to_string()))?;
            crate::stdio::print_line(&text)
        }
        AgentCommand::Stop(p) => {
            let mut c = connect(&dirs, &config, p, "finesse-sso agent stop").await?;
            c.stop().await?;
            let profile = profile_of(&config, p);
            let ep = Endpoint::of(&dirs, &profile)?;
            // Wait until it no longer answers, so `stop; start` works.
            for _ in 0..200 {
                if crate::ipc::transport::connect(&ep).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            crate::stdio::note(format_args!(
                "finesse-sso: agent for profile {profile} stopped"
            ));
            Ok(())
        }
    }
}

/// Flags and environment over the config files.
pub fn resolve(config: &Config, server: &ServerArgs) -> ServerArgs {
    config.resolve(server)
}

pub fn profile_of(config: &Config, p: &ProfileArgs) -> String {
    resolve(
        config,
        &ServerArgs {
            profile: p.profile.clone(),
            ..Default::default()
        },
    )
    .profile()
    .to_string()
}

/// Connects to the profile's running agent (`AgentNotRunning` otherwise).
pub async fn connect(dirs: &Dirs, config: &Config, p: &ProfileArgs, name: &str) -> Result<Client> {
    let profile = profile_of(config, p);
    let ep = Endpoint::of(dirs, &profile)?;
    Client::connect(&ep, &profile, name).await
}

fn run_config(
    dirs: &Dirs,
    config: &Config,
    a: &AgentRunArgs,
    verbosity: u8,
    log_format: LogFormat,
) -> Result<RunConfig> {
    let target = Target::from_args(&resolve(config, &a.server))?;
    let pin = super::password::certificate_pin(
        target.client_cert.as_ref().map(|c| &c.cert),
        a.pin_stdin,
    )?;
    let target = target.with_pin(pin);
    let tuning = config.agent();
    Ok(RunConfig {
        dirs: dirs.clone(),
        target,
        sign_in: SignInOptions {
            timeout: Duration::from_secs(
                a.sign_in_timeout.or(tuning.sign_in_timeout).unwrap_or(300),
            ),
            verbosity,
            json_logs: log_format == LogFormat::Json,
            ..SignInOptions::default()
        },
        prompts_per_hour: a
            .max_prompts_per_hour
            .or(tuning.max_prompts_per_hour)
            .unwrap_or(3),
        max_clients: a
            .max_clients
            .map(|n| n as usize)
            .or(tuning.max_clients)
            .unwrap_or(512),
        notifications: a.notifications.or(tuning.notifications).unwrap_or_default(),
        lazy: a.lazy,
    })
}

/// How a background `agent run` is started with the resolved settings. The server settings
/// travel in the child's environment (the `FINESSE_SSO_*` variables its flags already read),
/// not on its command line: every local user can read a process's arguments (`ps`,
/// `/proc/<pid>/cmdline`), while its environment is readable by the same user only, and a
/// proxy URL can carry a password. Only the profile and tuning flags stay in the arguments.
/// A proxy password asked for here (`hand_over`) and the client certificate's PIN go to the
/// agent on its stdin, named only by `--proxy-password-stdin` / `--pin-stdin`: never in its
/// arguments, environment or a file.
pub fn launch(
    server: &ServerArgs,
    a: &AgentRunArgs,
    verbosity: u8,
    log_format: LogFormat,
    hand_over: Option<&Secret<String>>,
    pin: Option<Secret<String>>,
) -> Result<Launch> {
    let mut v: Vec<OsString> = Vec::new();
    if verbosity > 0 {
        v.push(format!("-{}", "v".repeat(verbosity.min(4) as usize)).into());
    }
    if log_format == LogFormat::Json {
        v.extend(["--log-format".into(), "json".into()]);
    }
    v.extend(["agent".into(), "run".into()]);
    let mut opt = |name: &str, value: Option<OsString>| {
        if let Some(value) = value {
            v.push(name.into());
            v.push(value);
        }
    };
    opt("--profile", Some(server.profile().into()));
    opt(
        "--sign-in-timeout",
        a.sign_in_timeout.map(|n| n.to_string().into()),
    );
    opt(
        "--max-prompts-per-hour",
        a.max_prompts_per_hour.map(|n| n.to_string().into()),
    );
    opt("--max-clients", a.max_clients.map(|n| n.to_string().into()));
    opt(
        "--notifications",
        a.notifications
            .and_then(|c| clap::ValueEnum::to_possible_value(&c))
            .map(|v| v.get_name().to_string().into()),
    );
    if a.lazy {
        v.push("--lazy".into());
    }
    if hand_over.is_some() {
        v.push(crate::proxy::PASSWORD_STDIN_FLAG.into());
    }
    if pin.is_some() {
        v.push("--pin-stdin".into());
    }
    let ca = server
        .ca_file
        .as_ref()
        .map(std::path::absolute)
        .transpose()
        .map_err(|e| Error::Usage(format!("--ca-file: {e}")))?;
    // Unset ones are removed, so an inherited variable cannot differ from what was resolved.
    let env = vec![
        ("FINESSE_SSO_SERVER", server.server.clone().map(Into::into)),
        ("FINESSE_SSO_USER", server.user.clone().map(Into::into)),
        ("FINESSE_SSO_PROXY", server.proxy.clone().map(Into::into)),
        (
            "FINESSE_SSO_PROXY_BYPASS",
            server.proxy_bypass.clone().map(Into::into),
        ),
        ("FINESSE_SSO_CA_FILE", ca.map(Into::into)),
    ];
    Ok(Launch {
        args: v,
        env,
        stdin_lines: hand_over.cloned().into_iter().chain(pin).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the security review: `--proxy http://user:password@…` was on the background
    /// agent's command line, which every local user can read.
    #[test]
    fn server_settings_stay_off_the_command_line() {
        let server = ServerArgs {
            server: Some("finesse.example.com".into()),
            user: Some("agent1".into()),
            ca_file: Some("ca.pem".into()),
            proxy: Some("http://proxyuser:S3cretProxyPw@proxy.example:3128".into()),
            proxy_bypass: Some("corp.example".into()),
            proxy_password_stdin: false,
            profile: Some("lab".into()),
            ..Default::default()
        };
        let run = AgentRunArgs {
            server: server.clone(),
            sign_in_timeout: Some(60),
            max_prompts_per_hour: None,
            max_clients: None,
            notifications: None,
            lazy: true,
            pin_stdin: false,
        };
        let l = launch(&server, &run, 1, LogFormat::Text, None, None).unwrap();
        let args: Vec<String> = l.args.iter().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(
            args,
            [
                "-v",
                "agent",
                "run",
                "--profile",
                "lab",
                "--sign-in-timeout",
                "60",
                "--lazy"
            ]
        );
        let env = |k: &str| l.env.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(
            env("FINESSE_SSO_PROXY").unwrap(),
            "http://proxyuser:S3cretProxyPw@proxy.example:3128"
        );
        assert_eq!(env("FINESSE_SSO_SERVER").unwrap(), "finesse.example.com");
        assert!(std::path::Path::new(&env("FINESSE_SSO_CA_FILE").unwrap()).is_absolute());
        let none = ServerArgs::default();
        let l = launch(&none, &run, 0, LogFormat::Text, None, None).unwrap();
        assert!(
            l.env.iter().all(|(_, v)| v.is_none()),
            "unset ones are removed"
        );
        assert!(l.stdin_lines.is_empty());
        // A proxy password asked for here goes on the agent's stdin, named only by the flag.
        let pw = Secret::new("AskedProxyPw".to_string());
        let l = launch(&server, &run, 0, LogFormat::Text, Some(&pw), None).unwrap();
        let args: Vec<String> = l.args.iter().map(|a| a.to_string_lossy().into()).collect();
        assert!(
            args.contains(&"--proxy-password-stdin".to_string()),
            "{args:?}"
        );
        assert!(!args.iter().any(|a| a.contains("AskedProxyPw")));
        assert!(!l.env.iter().any(|(_, v)| {
            v.as_ref()
                .is_some_and(|v| v.to_string_lossy().contains("AskedProxyPw"))
        }));
        assert_eq!(l.stdin_lines.len(), 1);
        assert_eq!(l.stdin_lines[0].expose(), "AskedProxyPw");
    }
}
