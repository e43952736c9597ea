//! Temporary entry point of the emulator branch: only the `emulate` verb. The project's real
//! `main.rs`/`cli.rs` replace this file on merge.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use finesse_sso::emulator::EmulatorConfig;

#[derive(Parser)]
#[command(name = "finesse-sso", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A faithful Finesse + IdS + IdP emulator on loopback.
    Emulate(EmulatorConfig),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("finesse-sso: tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let Command::Emulate(config) = cli.command;
    match rt.block_on(finesse_sso::commands::emulate::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("finesse-sso: {e}");
            ExitCode::from(1)
        }
    }
}
