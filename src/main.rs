//! The `finesse-sso` binary: parse, set up logging, run, map the error to an exit code.

use clap::Parser;

fn main() {
    let cli = finesse_sso::cli::Cli::parse();
    finesse_sso::logging::init(cli.verbose, cli.log_format);
    let code = match finesse_sso::commands::run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("finesse-sso: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
