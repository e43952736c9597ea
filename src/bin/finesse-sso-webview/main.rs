//! `finesse-sso-webview`: the sign-in window process. Started by `finesse-sso` only; reads one
//! request line on stdin, writes one outcome line on the answer channel the parent passed it
//! (see `finesse_sso::window`). Kept out of the main binary so `finesse-sso` and its agent never
//! load WebKit.

mod answer;
#[cfg(feature = "webview")]
mod assembly;
#[cfg(feature = "webview")]
mod event;
#[cfg(feature = "webview")]
mod paint_watch;
#[cfg(feature = "webview")]
mod platform;
#[cfg(feature = "webview")]
mod popup;
#[cfg(feature = "webview")]
mod security_key;
#[cfg(feature = "webview")]
mod session;
#[cfg(feature = "webview")]
mod title;

use clap::Parser;
use finesse_sso::window::channel;

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
    // First, while this process is one thread and has started nothing: no process started from
    // here (WebKit's helpers) may inherit the answer channel.
    let channel = channel::take_answer_channel();
    let args = Args::parse();
    finesse_sso::logging::init(args.verbose, args.log_format);
    let Some(channel) = channel else {
        finesse_sso::stdio::note(format_args!(
            "finesse-sso-webview: no answer channel ({} names none): it is started by finesse-sso only",
            channel::ANSWER_ENV
        ));
        std::process::exit(finesse_sso::error::exit::INTERNAL);
    };
    answer::install(channel);
    #[cfg(feature = "webview")]
    session::run();
    #[cfg(not(feature = "webview"))]
    answer::finish(finesse_sso::window::WindowOutcome::error(
        finesse_sso::error::ErrorKind::NoDisplay,
        "built without the `webview` feature",
    ));
}
