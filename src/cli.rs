//! Command-line types (clap) only; `commands` turns them into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::logging::LogFormat;

pub mod desktop;

#[derive(Debug, Parser)]
#[command(
    name = "finesse-sso",
    version,
    about = "Get Cisco Finesse SSO tokens through the real sign-in page, for thick clients and scripts",
    after_help = "Exit codes: see `finesse-sso exit-codes` or the README.\nDocs: https://github.com/finesse-sso/finesse-sso#readme"
)]
pub struct Cli {
    /// More detail on stderr (-v info, -vv debug, -vvv trace). Secrets are redacted at every level.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in through the embedded browser and print the token (JSON by default).
    ///
    /// Needs a server (--server, FINESSE_SSO_SERVER or `server` in config.toml); `--demo` signs
    /// in to the built-in emulator instead.
    Login(LoginArgs),
    /// Show a JWT's header, claims (Cisco's nested `sub` too) and expiry.
    Decode(DecodeArgs),
    /// Run a Finesse + Cisco IdS + SAML IdP emulator on loopback (for tests and integrators).
    Emulate(finesse_sso_emulator::EmulatorConfig),
    /// Print a valid token from the background agent, starting it if it is not running.
    Token(TokenArgs),
    /// Our background agent: keeps the token fresh and serves it to local clients over a private pipe.
    Agent(AgentArgs),
    /// Forget the tokens and the saved web session: the next sign-in asks for the password.
    Logout(ProfileArgs),
    /// The Finesse agent's CTI session with the token: sign-in at an extension, state,
    /// sign-out, the User, reason codes (through the running agent when there is one).
    Desktop(desktop::DesktopArgs),
    /// Check what a sign-in needs (engine, display, window program, config files, state
    /// privacy, the agent; with a server: reachability, certificate, auth mode). Exit 22 when a
    /// check fails.
    Doctor(DoctorArgs),
    /// Print the exit-code table.
    ExitCodes,
}

/// Where the server is and how to reach it.
#[derive(Debug, Clone, Args, Default)]
pub struct ServerArgs {
    /// Finesse server: `host` (→ https://host:8445), `host:port` or an https URL; both sides
    /// of a Finesse cluster as `side-a,side-b` (the first preferred while in service).
    #[arg(long, env = "FINESSE_SSO_SERVER")]
    pub server: Option<String>,
    /// Finesse user (loginName or peripheral id), sent as `cc_username`.
    #[arg(long, env = "FINESSE_SSO_USER")]
    pub user: Option<String>,
    /// Extra CA certificates (PEM) to trust, for the helper's requests and inside the window.
    #[arg(long, env = "FINESSE_SSO_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Proxy for the window and the helper's requests (`http://[user@]host:port`); default: the
    /// environment (https_proxy, http_proxy, all_proxy), else the system's proxy settings.
    #[arg(long, env = "FINESSE_SSO_PROXY")]
    pub proxy: Option<String>,
    /// Hosts reached without the proxy, curl's no_proxy syntax (`corp.example,10.0.0.0/8`);
    /// default: no_proxy from the environment.
    #[arg(long, env = "FINESSE_SSO_PROXY_BYPASS")]
    pub proxy_bypass: Option<String>,
    /// Read the password of the proxy user (named in the proxy URL) from the first line of
    /// stdin; without it a terminal prompts. Never from arguments or the environment.
    #[arg(long)]
    pub proxy_password_stdin: bool,
    /// Profile: keeps its own agent and saved web session (several users or servers on one
    /// machine). Default: `profile` in the config file, else `default`.
    #[arg(long, env = "FINESSE_SSO_PROFILE")]
    pub profile: Option<String>,
    /// `kerberos_hosts` from the config files (no flag: an administrator's setting).
    #[arg(skip)]
    pub kerberos_hosts: Option<Vec<String>>,
    /// `[client_certificate]` from the config files (no flag: an administrator's setting).
    #[arg(skip)]
    pub client_certificate: Option<crate::client_cert::ClientCertificate>,
}

/// The profile used when neither flag, environment nor config file names one.
pub const DEFAULT_PROFILE: &str = "default";

impl ServerArgs {
    /// The chosen profile (after `Config::resolve`, the resolved one).
    pub fn profile(&self) -> &str {
        self.profile.as_deref().unwrap_or(DEFAULT_PROFILE)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// One JSON object: token, refresh_token, expiry, user, claims.
    #[default]
    Json,
    /// The access token alone.
    Token,
    /// `Authorization: Bearer <token>`.
    Header,
    /// Shell exports (`export FINESSE_TOKEN=…`), for `eval`: child processes see them too.
    Env,
}

#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Sign in to the built-in emulator instead of a real Finesse (a demo; only with this flag).
    #[arg(long, conflicts_with = "server")]
    pub demo: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    pub format: OutputFormat,
    /// Show the window at once instead of only when a page needs you.
    #[arg(long)]
    pub show: bool,
    /// Never show a window: fail with exit code 14 if the identity provider needs you.
    #[arg(long, conflicts_with = "show")]
    pub non_interactive: bool,
    /// Neither restore nor save the web session (cookies) of this profile.
    #[arg(long)]
    pub no_session: bool,
    /// The calling application's window (X11 window id, decimal or 0x hex; Windows: an HWND):
    /// the sign-in window opens in front of it. Wayland: XDG_ACTIVATION_TOKEN is used instead.
    #[arg(long, value_name = "HANDLE")]
    pub parent_window: Option<crate::window::WindowHandle>,
    /// Read the client certificate's PIN (smart card) or PKCS#12 password from the first line
    /// of stdin (never from arguments or the environment). Default: a hidden terminal prompt.
    #[arg(long)]
    pub pin_stdin: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DecodeArgs {
    /// The JWT, or `-` (default) to read it from stdin. Prefer stdin: arguments show in `ps`.
    #[arg(default_value = "-")]
    pub token: String,
    /// Verify the signature with this PEM public key (IdS: /ids/v1/keys/token/public).
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// JSON output even on a terminal.
    #[arg(long)]
    pub json: bool,
}

/// Only the profile (commands that talk to a running agent).
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// Profile: each has its own agent, pipe and saved web session (default as for `login`).
    #[arg(long, env = "FINESSE_SSO_PROFILE")]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AgentCommand {
    /// Run in the foreground until stopped (terminal, systemd, launchd). Prints a ready line
    /// on stderr once clients can connect (and notifies systemd when NOTIFY_SOCKET is set).
    Run(AgentRunArgs),
    /// Start in the background (logging to a private file) and return once it accepts clients.
    Start(AgentRunArgs),
    /// Print the running agent's status as JSON.
    Status(ProfileArgs),
    /// Stop the running agent.
    Stop(ProfileArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AgentRunArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Give a sign-in window this many seconds (config: agent.sign_in_timeout; default 300).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub sign_in_timeout: Option<u64>,
    /// At most this many sign-in windows per hour that no client asked for
    /// (config: agent.max_prompts_per_hour; default 3; 0 = only when a client asks).
    #[arg(long)]
    pub max_prompts_per_hour: Option<u32>,
    /// Connections beyond this are refused with `busy` (config: agent.max_clients; default 512).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_clients: Option<u64>,
    /// Finesse notifications over `websocket` (12.6+), `bosh` (12.0/12.5) or `auto`: the
    /// WebSocket first, BOSH when the server refuses it (config: agent.notifications).
    #[arg(long, value_enum)]
    pub notifications: Option<crate::notify::transport::Choice>,
    /// Do not sign in at start; wait for the first client to ask.
    #[arg(long)]
    pub lazy: bool,
    /// Read the client certificate's PIN or PKCS#12 password from the first line of stdin,
    /// once; the agent holds it in memory for its sign-ins (as `login --pin-stdin`).
    #[arg(long)]
    pub pin_stdin: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The token must stay valid at least this many seconds (else it is refreshed first).
    #[arg(long, default_value_t = 10)]
    pub min_valid: u64,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    pub format: OutputFormat,
    /// Fail (exit 16) instead of starting an agent when none is running.
    #[arg(long)]
    pub no_start: bool,
    /// The calling application's window (X11 window id, decimal or 0x hex; Windows: an HWND):
    /// a sign-in window the agent opens for this request opens in front of it.
    #[arg(long, value_name = "HANDLE")]
    pub parent_window: Option<crate::window::WindowHandle>,
    /// When this starts an agent: read the client certificate's PIN or PKCS#12 password from
    /// the first line of stdin and hand it to the agent (as `login --pin-stdin`).
    #[arg(long)]
    pub pin_stdin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DoctorFormat {
    /// Columns for people: check, status, detail.
    #[default]
    Table,
    /// One JSON object: `ok`, `failed` (names) and `checks` (name, status, detail).
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// The server to check (and the CA file, proxy, user and profile), as `login` takes them;
    /// without --server, the configured one (none: the network checks are skipped).
    #[command(flatten)]
    pub server: ServerArgs,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = DoctorFormat::Table)]
    pub format: DoctorFormat,
}
