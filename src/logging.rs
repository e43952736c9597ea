//! Logging to stderr (through `stdio::Stderr`: a closed stderr loses the lines, never the
//! process): `-v` levels, text or JSON lines. Only this crate logs above warn, because
//! HTTP libraries log URLs (with codes and `cc_username`) at debug.

use std::io::IsTerminal;

use tracing_subscriber::{filter::Targets, fmt, prelude::*};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// What logs at `verbosity`: 0 = warnings, 1 = info (-v), 2 = debug (-vv), 3+ = trace (-vvv),
/// for this crate only; everything else at warn.
pub fn filter(verbosity: u8) -> Targets {
    let ours = match verbosity {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    Targets::new()
        .with_default(tracing::Level::WARN)
        .with_target(env!("CARGO_CRATE_NAME"), ours)
}

/// Logs to stderr from now on, filtered by [`filter`].
pub fn init(verbosity: u8, format: LogFormat) {
    let registry = tracing_subscriber::registry().with(filter(verbosity));
    let _ = match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(|| crate::stdio::Stderr)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_target(false)
                    .without_time(),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_writer(|| crate::stdio::Stderr)
                    .with_current_span(false),
            )
            .try_init(),
    };
}
