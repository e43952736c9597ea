//! The `finesse-sso` binary: parse, set up logging, run, map the error to an exit code.

#![deny(clippy::print_stdout, clippy::print_stderr)] // through finesse_sso::stdio

use clap::Parser;

fn main() {
    let cli = finesse_sso::cli::Cli::parse();
    finesse_sso::logging::init(cli.verbose, cli.log_format);
    let code = match finesse_sso::commands::run(cli) {
        Ok(()) => 0,
        Err(e) => {
            // A reader that went away is told nothing more (it cannot hear it).
            if !matches!(e, finesse_sso::error::Error::StdoutClosed) {
                finesse_sso::stdio::note(format_args!("finesse-sso: {e}"));
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
