//! The process's stdout and stderr, written without panicking: stdout writes report a reader that
//! went away as [`Error::StdoutClosed`] (exit 141, quiet), stderr writes never fail.
//!
//! `println!`/`eprintln!` panic when the write fails ("failed printing to stdout: Pipe not
//! connected (os error 233)" under Wine, `EPIPE` on Unix once the reader has exited); a token
//! helper outlives its readers routinely (`finesse-sso token | head -c0`, a thick client that
//! exits, a service manager that closes the console), so every line goes through here.

use std::io::Write;

use crate::error::Error;

/// Windows errors that mean the pipe's reader is gone: `ERROR_BROKEN_PIPE`, `ERROR_NO_DATA`
/// ("the pipe is being closed"), `ERROR_PIPE_NOT_CONNECTED`. std maps only some of them to
/// [`std::io::ErrorKind::BrokenPipe`].
const WINDOWS_CLOSED: [i32; 3] = [109, 232, 233];

/// Whether a failed write means the reader went away (rather than, say, a full disk).
pub fn reader_gone(e: &std::io::Error) -> bool {
    closed(e.kind(), e.raw_os_error(), cfg!(windows))
}

/// [`reader_gone`] on its parts, so both platforms' rules are tested everywhere.
fn closed(kind: std::io::ErrorKind, raw: Option<i32>, windows: bool) -> bool {
    kind == std::io::ErrorKind::BrokenPipe
        || (windows && raw.is_some_and(|c| WINDOWS_CLOSED.contains(&c)))
}

/// The error for a failed write to stdout: [`Error::StdoutClosed`] when the reader went away,
/// otherwise an internal error naming the cause.
pub fn stdout_error(e: std::io::Error) -> Error {
    if reader_gone(&e) {
        Error::StdoutClosed
    } else {
        Error::Internal(format!("writing to stdout: {e}"))
    }
}

/// Writes `text` and a newline to stdout and flushes, as one write: `println!` without the panic.
pub fn print_line(text: &str) -> crate::error::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// A line for the person at the terminal, on stderr: `eprintln!` without the panic. A failure is
/// ignored: there is nobody left to tell, and the work (and stdout, the API) goes on.
pub fn note(line: std::fmt::Arguments<'_>) {
    let mut err = Stderr;
    let _ = writeln!(err, "{line}");
}

/// Stderr for loggers and notes: a failed write is reported as written, so nothing above it
/// (tracing's formatter, `writeln!`) turns a closed stderr into an error or a panic.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // All or nothing: a partial line on a dying pipe is not worth a retry loop.
        let _ = std::io::stderr().lock().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind as K;

    #[test]
    fn a_gone_reader_is_told_from_other_failures() {
        assert!(closed(K::BrokenPipe, Some(32), false)); // EPIPE
        assert!(!closed(K::StorageFull, Some(28), false)); // ENOSPC is a real failure
        // The Windows codes count on Windows only (109 etc. mean something else on Unix).
        for code in WINDOWS_CLOSED {
            assert!(closed(K::Other, Some(code), true), "{code}");
            assert!(!closed(K::Other, Some(code), false), "{code}");
        }
        assert!(!closed(K::PermissionDenied, Some(5), true)); // ERROR_ACCESS_DENIED
        assert!(!closed(K::Other, None, true));
    }

    #[test]
    fn a_closed_stdout_is_its_own_error_and_exit_code() {
        let gone = stdout_error(std::io::Error::from(K::BrokenPipe));
        assert!(matches!(gone, Error::StdoutClosed), "{gone:?}");
        assert_eq!(gone.exit_code(), crate::error::exit::STDOUT_CLOSED);
        let full = stdout_error(std::io::Error::from(K::StorageFull));
        assert!(matches!(&full, Error::Internal(m) if m.starts_with("writing to stdout: ")));
        assert_eq!(full.exit_code(), crate::error::exit::INTERNAL);
    }
}
