//! `finesse-sso desktop sign-in|state|sign-out|user|reasons`: the Finesse agent's CTI session
//! with the profile's token. Through the running agent when there is one (its token, no second
//! window, subscribers told); otherwise this process signs in as `login` does and calls the
//! User API itself. NON_SSO users authenticate with a password from stdin or a prompt.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::desktop_credentials::{SignedIn, sign_in_of};
use crate::cli::desktop::{
    AgentStateArg, CategoryArg, CommonArgs, DesktopArgs, DesktopCommand, DesktopFormat,
    MobileAgentMode,
};
use crate::config::Config;
use crate::dirs::Dirs;
use crate::error::{Error, ErrorKind, Result};
use crate::finesse::user_api::{Auth, Category, Credentials, Fixed, Reason, UserApi};
use crate::ipc::client::Client;
use crate::ipc::desktop::{
    AUTH_BASIC, AUTH_SSO_TOKEN, MobileAgentRequest, ReasonsRequest, ReasonsResult, SignInRequest,
    SignOutRequest, StateRequest, UserRequest, UserResult,
};
use crate::ipc::protocol::Request;
use crate::ipc::transport::Endpoint;
use crate::logging::LogFormat;
use crate::redact::Secret;
use crate::signin::{SignInBrowser, SignInOptions, Target, WindowBrowser};

/// One operation, in the pipe's terms (the local path runs the same).
#[derive(Debug, Clone)]
enum Op {
    SignIn(SignInRequest),
    State(StateRequest),
    SignOut(SignOutRequest),
    User(UserRequest),
    Reasons(ReasonsRequest),
}

/// What an operation printed.
enum Done {
    User(Box<UserResult>),
    Reasons(ReasonsResult),
}

impl Op {
    fn password(&mut self) -> &mut Option<Secret<String>> {
        match self {
            Op::SignIn(r) => &mut r.password,
            Op::State(r) => &mut r.password,
            Op::SignOut(r) => &mut r.password,
            Op::User(r) => &mut r.password,
            Op::Reasons(r) => &mut r.password,
        }
    }

    fn set_password(&mut self, pw: Option<Secret<String>>) {
        *self.password() = pw;
    }

    fn has_password(&mut self) -> bool {
        self.password().is_some()
    }
}

/// The operation of a command; `None` for `watch`, which is no request-and-answer.
fn op_of(cmd: &DesktopCommand) -> Option<(Op, &CommonArgs)> {
    Some(match cmd {
        DesktopCommand::Watch(_) => return None,
        DesktopCommand::SignIn(a) => (
            Op::SignIn(SignInRequest {
                extension: a.extension.clone().unwrap_or_else(|| DEMO_EXTENSION.into()),
                active_device_id: a.device.clone(),
                mobile_agent: a.mobile_agent.map(|m| MobileAgentRequest {
                    mode: match m {
                        MobileAgentMode::CallByCall => "CALL_BY_CALL",
                        MobileAgentMode::Nailed => "NAILED_CONNECTION",
                    }
                    .into(),
                    dial_number: a.dial_number.clone().unwrap_or_default(),
                }),
                password: None,
            }),
            &a.common,
        ),
        DesktopCommand::State(a) => (
            Op::State(StateRequest {
                state: match a.state {
                    AgentStateArg::Ready => "READY",
                    AgentStateArg::NotReady => "NOT_READY",
                }
                .into(),
                reason: a.reason.clone(),
                password: None,
            }),
            &a.common,
        ),
        DesktopCommand::SignOut(a) => (
            Op::SignOut(SignOutRequest {
                reason: a.reason.clone(),
                password: None,
            }),
            &a.common,
        ),
        DesktopCommand::User(c) => (Op::User(UserRequest::default()), c),
        DesktopCommand::Reasons(a) => (
            Op::Reasons(ReasonsRequest {
                category: Some(
                    match a.category {
                        CategoryArg::NotReady => "NOT_READY",
                        CategoryArg::Logout => "LOGOUT",
                        CategoryArg::All => "ALL",
                    }
                    .into(),
                ),
                password: None,
            }),
            &a.common,
        ),
    })
}

/// The demo agent's extension at the built-in emulator.
pub const DEMO_EXTENSION: &str = "1001001";

pub async fn run(args: &DesktopArgs, verbosity: u8, log_format: LogFormat) -> Result<()> {
    let Some((mut op, common)) = op_of(&args.command) else {
        let DesktopCommand::Watch(w) = &args.command else {
            return Err(Error::Internal(
                "a desktop command without an operation".into(),
            ));
        };
        return super::desktop_watch::run(w, verbosity, log_format).await;
    };
    if common.password_stdin && common.server.proxy_password_stdin {
        return Err(Error::Usage(
            "--password-stdin and --proxy-password-stdin both read stdin: give one (the proxy \
             password can also be typed at a prompt, or be in the proxy URL of the config file)"
                .into(),
        ));
    }
    if common.password_stdin {
        op.set_password(Some(super::password::from_stdin()?));
    }
    if let DesktopCommand::SignIn(a) = &args.command
        && a.demo
    {
        let done =
            super::desktop_demo::run(common, op_local_sign_in(&op)?, verbosity, log_format).await?;
        return print(common.format, &Done::User(Box::new(done)));
    }
    let dirs = Dirs::from_env()?;
    let config = Config::load(&dirs)?;
    let server = super::agent::resolve(&config, &common.server);
    let profile = server.profile().to_string();
    let ep = Endpoint::of(&dirs, &profile)?;
    let done = match Client::connect(&ep, &profile, "finesse-sso desktop").await {
        Ok(mut client) => {
            super::token::check_same_target(&client, &server)?;
            via_agent(&mut client, op).await?
        }
        Err(Error::AgentNotRunning(_)) => {
            // With two sides listed, the one in service (its REST calls and its window).
            let target = Target::from_args(&server)?.in_service().await?;
            let opts = SignInOptions {
                timeout: Duration::from_secs(common.timeout),
                verbosity,
                json_logs: log_format == LogFormat::Json,
                ..SignInOptions::default()
            };
            locally(&dirs, &target, &opts, op).await?
        }
        Err(e) => return Err(e),
    };
    print(common.format, &done)
}

fn op_local_sign_in(op: &Op) -> Result<SignInRequest> {
    match op {
        Op::SignIn(r) => Ok(r.clone()),
        _ => Err(Error::Internal("--demo is a sign-in option".into())),
    }
}

/// Through the agent; a NON_SSO user is asked for the password once if the agent needs it.
async fn via_agent(client: &mut Client, mut op: Op) -> Result<Done> {
    let user = client.hello.user.clone();
    let first = call(client, op.clone()).await;
    let done = match first {
        Err(Error::FromAgent { kind, .. })
            if kind == ErrorKind::PasswordRequired && !op.has_password() =>
        {
            op.set_password(Some(super::password::prompt(&user)?));
            call(client, op).await?
        }
        r => r?,
    };
    if let Done::User(u) = &done {
        say(u, "the agent's");
    }
    Ok(done)
}

async fn call(client: &mut Client, op: Op) -> Result<Done> {
    Ok(match op {
        Op::SignIn(r) => Done::User(Box::new(client.call(Request::DesktopSignIn(r)).await?)),
        Op::State(r) => Done::User(Box::new(client.call(Request::DesktopState(r)).await?)),
        Op::SignOut(r) => Done::User(Box::new(client.call(Request::DesktopSignOut(r)).await?)),
        Op::User(r) => Done::User(Box::new(client.call(Request::DesktopUser(r)).await?)),
        Op::Reasons(r) => Done::Reasons(client.call(Request::DesktopReasons(r)).await?),
    })
}

/// Without an agent: the auth mode decides between a window sign-in and the password.
async fn locally(dirs: &Dirs, target: &Target, opts: &SignInOptions, mut op: Op) -> Result<Done> {
    let finesse = target.finesse()?;
    let (creds, user_id, auth): (Arc<dyn Credentials>, String, &str) =
        match finesse.require_sso(&target.user).await {
            Ok(()) => {
                if op.has_password() {
                    crate::stdio::note(format_args!(
                        "finesse-sso: desktop: {} uses SSO: the password is not used",
                        target.user
                    ));
                    op.set_password(None);
                }
                let auth = WindowBrowser { dirs: dirs.clone() };
                let t = auth.authenticate(target, opts).await?;
                let user_id = t.user_id.clone().unwrap_or_else(|| target.user.clone());
                let creds = SignedIn {
                    finesse,
                    user: target.user.clone(),
                    token: Mutex::new(t),
                };
                (Arc::new(creds), user_id, AUTH_SSO_TOKEN)
            }
            Err(Error::NotSso { .. }) => {
                let password = match take_password(&mut op) {
                    Some(p) => p,
                    None => super::password::prompt(&target.user)?,
                };
                let creds = Fixed(Auth::Basic {
                    user: target.user.clone(),
                    password,
                });
                (Arc::new(creds), target.user.clone(), AUTH_BASIC)
            }
            Err(e) => return Err(e),
        };
    let api = UserApi::new(target.server.clone(), target.http()?, creds);
    let done = run_op(&api, &user_id, op).await?;
    let done = match done {
        Done::User(mut u) => {
            u.auth = auth.into();
            say(&u, "a new");
            Done::User(u)
        }
        d => d,
    };
    Ok(done)
}

fn take_password(op: &mut Op) -> Option<Secret<String>> {
    op.password().take()
}

/// Runs `op` with `api` in this process.
async fn run_op(api: &UserApi, user_id: &str, op: Op) -> Result<Done> {
    let user = |user| {
        Done::User(Box::new(UserResult {
            user,
            auth: String::new(),
            password_ignored: false,
        }))
    };
    Ok(match op {
        Op::SignIn(r) => user(api.sign_in(user_id, &sign_in_of(r)?).await?),
        Op::State(r) => {
            let reason = r.reason.as_deref().map(Reason::parse);
            user(
                api.set_state(user_id, r.state == "READY", reason.as_ref())
                    .await?,
            )
        }
        Op::SignOut(r) => {
            let reason = r.reason.as_deref().map(Reason::parse);
            user(api.sign_out(user_id, reason.as_ref()).await?)
        }
        Op::User(_) => user(api.get_user(user_id).await?),
        Op::Reasons(r) => {
            let category = match r.category.as_deref() {
                Some("LOGOUT") => Category::Logout,
                Some("ALL") => Category::All,
                _ => Category::NotReady,
            };
            let login_id = api.login_id(user_id).await?;
            Done::Reasons(ReasonsResult {
                category: category.as_str().into(),
                reasons: api.reason_codes(&login_id, category).await?,
            })
        }
    })
}

/// One line on stderr saying what happened.
fn say(u: &UserResult, whose: &str) {
    let how = if u.auth == AUTH_BASIC {
        "Basic auth".to_string()
    } else {
        format!("{whose} SSO token")
    };
    crate::stdio::note(format_args!(
        "finesse-sso: desktop: {} ({}) is {}{} ({how}){}",
        u.user.login_name,
        u.user.login_id,
        u.user.state,
        if u.user.extension.is_empty() {
            String::new()
        } else {
            format!(" at extension {}", u.user.extension)
        },
        if u.password_ignored {
            "; the password was not used (SSO user)"
        } else {
            ""
        }
    ));
}

fn print(format: DesktopFormat, done: &Done) -> Result<()> {
    let io = crate::stdio::stdout_error;
    let ser = |e: serde_json::Error| Error::Internal(e.to_string());
    let mut out = std::io::stdout().lock();
    match (format, done) {
        (DesktopFormat::Json, Done::User(u)) => {
            writeln!(out, "{}", serde_json::to_string(&u.user).map_err(ser)?).map_err(io)
        }
        (DesktopFormat::Json, Done::Reasons(r)) => {
            writeln!(out, "{}", serde_json::to_string(r).map_err(ser)?).map_err(io)
        }
        (DesktopFormat::State, Done::User(u)) => writeln!(out, "{}", u.user.state).map_err(io),
        (DesktopFormat::State, Done::Reasons(r)) => {
            for c in &r.reasons {
                writeln!(out, "{}\t{}", c.id, c.label).map_err(io)?;
            }
            Ok(())
        }
    }
}
