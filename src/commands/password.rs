//! Reading the secrets a person gives: a NON_SSO user's Finesse password and a client
//! certificate's PIN (or PKCS#12 password), each from the first line of stdin
//! (`--password-stdin`, `--pin-stdin`) or a terminal prompt without echo. Never from arguments
//! or the environment; never logged.

use std::io::{BufRead, IsTerminal, Write};

use crate::client_cert::ClientCertificate;
use crate::error::{Error, Result};
use crate::redact::Secret;

/// One line of stdin, without its line ending. An empty line is refused.
pub fn from_stdin() -> Result<Secret<String>> {
    line_of_stdin("--password-stdin", "password")
}

/// The first line of stdin for `flag`, naming `what` it should have held when empty.
fn line_of_stdin(flag: &str, what: &str) -> Result<Secret<String>> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("{flag}: reading stdin: {e}")))?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err(Error::Usage(format!("{flag}: stdin held no {what}")));
    }
    Ok(Secret::new(pw))
}

/// The configured client certificate's PIN or PKCS#12 password, asked once per process:
/// with `--pin-stdin` the first line of stdin; else, when the certificate needs one and stdin
/// is a terminal, a hidden prompt (an empty answer: none). Otherwise none: a card that then
/// asks ends the sign-in with `password_required` (docs/administrators.md).
pub fn certificate_pin(
    cert: Option<&ClientCertificate>,
    pin_stdin: bool,
) -> Result<Option<Secret<String>>> {
    let Some(cert) = cert else {
        if pin_stdin {
            tracing::warn!("--pin-stdin: no [client_certificate] is configured; stdin not read");
        }
        return Ok(None);
    };
    if pin_stdin {
        return line_of_stdin("--pin-stdin", "PIN").map(Some);
    }
    // Windows and macOS: the card's own system prompt asks (docs/administrators.md).
    if !cfg!(target_os = "linux") || !cert.needs_secret() || !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let mut err = crate::stdio::Stderr;
    let _ = write!(
        err,
        "PIN or password for the client certificate ({}; empty: none): ",
        cert.describe()
    )
    .and_then(|()| err.flush());
    let pin = read_hidden().map_err(|e| Error::Usage(format!("reading the PIN: {e}")))?;
    let _ = writeln!(err);
    Ok((!pin.is_empty()).then(|| Secret::new(pin)))
}

/// Prompts on the terminal when there is one; otherwise says how to give the password.
pub fn prompt(user: &str) -> Result<Secret<String>> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::PasswordRequired(format!(
            "{user} is a NON_SSO user: Finesse needs the password (pipe it with --password-stdin)"
        )));
    }
    // The prompt is for the person; a closed stderr must not stop the sign-in (crate::stdio).
    let mut err = crate::stdio::Stderr;
    let _ = write!(err, "Finesse password for {user}: ").and_then(|()| err.flush());
    let pw = read_hidden().map_err(|e| Error::Usage(format!("reading the password: {e}")))?;
    let _ = writeln!(err);
    if pw.is_empty() {
        return Err(Error::Usage("no password given".into()));
    }
    Ok(Secret::new(pw))
}

/// Reads a line from stdin with the terminal's echo off, restoring it whatever happens.
#[cfg(unix)]
fn read_hidden() -> std::io::Result<String> {
    use std::os::fd::AsRawFd;
    let fd = std::io::stdin().as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal fd (checked above).
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `old` is a valid termios to fill; `fd` is open.
    if unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: the same fd with a modified copy of its own settings.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    r?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(not(unix))]
fn read_hidden() -> std::io::Result<String> {
    Err(std::io::Error::other(
        "no hidden prompt on this platform: use --password-stdin or --pin-stdin",
    ))
}
