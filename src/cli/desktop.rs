//! Command-line types (clap) of `finesse-sso desktop`: the Finesse agent's CTI session.

use clap::{Args, Subcommand, ValueEnum};

use super::ServerArgs;

#[derive(Debug, Clone, Args)]
pub struct DesktopArgs {
    #[command(subcommand)]
    pub command: DesktopCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum DesktopCommand {
    /// Sign the Finesse agent in at an extension (PUT User LOGIN) and print the User.
    SignIn(SignInArgs),
    /// Set the agent READY or NOT_READY and print the User.
    State(StateArgs),
    /// Sign the agent out (LOGOUT) and print the User.
    SignOut(SignOutArgs),
    /// Print the agent's User object (state, extension, reason, team, …).
    User(CommonArgs),
    /// Print the reason codes a NOT_READY or a sign-out may carry.
    Reasons(ReasonsArgs),
    /// Print one JSON line per Finesse event (the agent's state, CTI errors, service status,
    /// the notification session) until interrupted. Holds the agent's notification session.
    Watch(WatchArgs),
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Do not start an agent when none runs for the profile (exit 16 instead).
    #[arg(long)]
    pub no_start: bool,
    /// Print Acqueon-style envelopes (`Finesse / Agent / Login`, `Cisco / Agent /
    /// SetAgentState`, …) instead of the pipe's own events.
    #[arg(long)]
    pub acqueon: bool,
}

/// What every `desktop` command takes. The token comes from the profile's running agent;
/// without one, the command signs in as `login` does.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// NON_SSO users: read the Finesse password from the first line of stdin (never from
    /// arguments or the environment). Without it a terminal prompts when Finesse needs one.
    #[arg(long)]
    pub password_stdin: bool,
    /// Give a sign-in window (no agent running) this many seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = DesktopFormat::Json)]
    pub format: DesktopFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DesktopFormat {
    /// One JSON object: the User (reasons: `{category, reasons}`).
    Json,
    /// The agent's state alone (`NOT_READY`); reasons: `id<TAB>label` lines.
    State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MobileAgentMode {
    /// A call-by-call connection to the agent's phone for each call.
    CallByCall,
    /// One nailed connection for the whole session.
    Nailed,
}

#[derive(Debug, Clone, Args)]
pub struct SignInArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The extension (device) to sign in at.
    #[arg(long, required_unless_present = "demo")]
    pub extension: Option<String>,
    /// Mobile agent: how Finesse reaches the agent's phone (needs --dial-number).
    #[arg(long, value_enum, requires = "dial_number")]
    pub mobile_agent: Option<MobileAgentMode>,
    /// Mobile agent: the number Finesse calls.
    #[arg(long, requires = "mobile_agent")]
    pub dial_number: Option<String>,
    /// The active device id (UCCE shared lines).
    #[arg(long)]
    pub device: Option<String>,
    /// Sign the demo agent in at the built-in emulator (extension 1001001 unless given).
    #[arg(long, conflicts_with = "server")]
    pub demo: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentStateArg {
    Ready,
    NotReady,
}

#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// The state to set.
    #[arg(value_enum)]
    pub state: AgentStateArg,
    /// NOT_READY: a reason code id or label (`desktop reasons` lists them).
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SignOutArgs {
    /// A sign-out reason code id or label (`desktop reasons --category logout`).
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CategoryArg {
    NotReady,
    Logout,
    All,
}

#[derive(Debug, Clone, Args)]
pub struct ReasonsArgs {
    #[arg(long, value_enum, default_value_t = CategoryArg::NotReady)]
    pub category: CategoryArg,
    #[command(flatten)]
    pub common: CommonArgs,
}
