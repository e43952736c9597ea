//! The `emulate` verb: start the emulator, print the ready line, serve until Ctrl-C/SIGTERM.

use std::future::Future;
use std::io::Write;

use finesse_sso_emulator::{self as emulator, EmulatorConfig, EmulatorError};

/// Runs `finesse-sso emulate`: one JSON ready line on stdout, logs on stderr, clean exit on
/// Ctrl-C or SIGTERM.
pub async fn run(config: EmulatorConfig) -> Result<(), EmulatorError> {
    // Handlers are installed before the ready line, so a signal right after it is not lost.
    let stop = stop_signal().map_err(EmulatorError::Signal)?;
    let mut out = std::io::stdout();
    run_until(config, &mut out, stop).await
}

/// Like [`run`] with the output and the stop condition passed in (tests use a channel).
pub async fn run_until<W: Write>(
    config: EmulatorConfig,
    out: &mut W,
    stop: impl Future<Output = Result<(), std::io::Error>>,
) -> Result<(), EmulatorError> {
    let emu = emulator::start(config).await?;
    let line = emu.ready_line().to_string();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(EmulatorError::Output)?;
    let result = stop.await;
    tracing::info!("stopping the emulator");
    emu.shutdown().await;
    result.map_err(EmulatorError::Signal)
}

/// Installs the Ctrl-C (and on Unix SIGTERM) handlers now; the future resolves on either.
pub fn stop_signal() -> Result<impl Future<Output = Result<(), std::io::Error>>, std::io::Error> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => Ok(()),
                _ = term.recv() => Ok(()),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async { tokio::signal::ctrl_c().await })
    }
}
