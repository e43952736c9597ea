//! `finesse-sso-webview`: the sign-in window process. Started by `finesse-sso` only; reads one
//! request line on stdin, prints one outcome line on stdout (see `finesse_sso::webview`).
//! Kept out of the main binary so `finesse-sso` and its agent never load WebKit.

#[cfg(all(feature = "webview", target_os = "linux"))]
mod linux;
#[cfg(feature = "webview")]
mod window;

use clap::Parser;

/// Logging flags only; the request comes on stdin.
#[derive(Parser)]
#[command(
    name = "finesse-sso-webview",
    version,
    about = "The sign-in window of finesse-sso (internal)"
)]
struct Args {
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    #[arg(long, value_enum, default_value_t = finesse_sso::logging::LogFormat::Text)]
    log_format: finesse_sso::logging::LogFormat,
}

fn main() {
    let args = Args::parse();
    finesse_sso::logging::init(args.verbose, args.log_format);
    #[cfg(feature = "webview")]
    window::run();
    #[cfg(not(feature = "webview"))]
    {
        println!(
            "{}",
            finesse_sso::webview::WindowOutcome::error(
                "no_display",
                "built without the `webview` feature"
            )
            .to_line()
        );
        std::process::exit(finesse_sso::error::exit::NO_DISPLAY);
    }
}
