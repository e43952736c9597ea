//! One module per verb: each turns parsed arguments into typed input and calls the library.

pub mod agent;
pub mod decode;
pub mod desktop;
mod desktop_credentials;
mod desktop_demo;
mod desktop_watch;
pub mod doctor;
pub mod emulate;
pub mod login;
pub mod logout;
pub mod output;
mod password;
pub mod token;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result, exit_codes};
use finesse_sso_emulator::EmulatorError;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Decode(args) => decode::run(&args, &mut std::io::stdout().lock()),
        Command::ExitCodes => {
            let rows: Vec<String> = exit_codes()
                .into_iter()
                .map(|(code, meaning)| format!("{code:>3}  {meaning}"))
                .collect();
            crate::stdio::print_line(&rows.join("\n"))
        }
        Command::Login(args) => runtime()?.block_on(login::run(&args, cli.verbose, cli.log_format)),
        Command::Token(args) => runtime()?.block_on(token::run(&args, cli.verbose, cli.log_format)),
        Command::Agent(args) => runtime()?.block_on(agent::run(&args, cli.verbose, cli.log_format)),
        Command::Logout(args) => runtime()?.block_on(logout::run(&args)),
        Command::Doctor(args) => {
            runtime()?.block_on(doctor::run(&args, &mut std::io::stdout().lock()))
        }
        Command::Desktop(args) => {
            runtime()?.block_on(desktop::run(&args, cli.verbose, cli.log_format))
        }
        Command::Emulate(config) => {
            runtime()?
                .block_on(emulate::run(config))
                .map_err(|e| match e {
                    EmulatorError::Output(io) => crate::stdio::stdout_error(io),
                    e => Error::Internal(e.to_string()),
                })
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))
}
