//! Reading one secret line: the first line of stdin (a `--…-stdin` flag) or a terminal prompt
//! without echo. The one place passwords are read (the Finesse password of NON_SSO users, the
//! proxy password, a client certificate's PIN); never from arguments or the environment, never logged.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{Error, Result};
use crate::redact::Secret;

/// One line of stdin, without its line ending. An empty line is refused; `flag` names the
/// option that asked for it in the messages.
pub fn line_from_stdin(flag: &str) -> Result<Secret<String>> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("{flag}: reading stdin: {e}")))?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err(Error::Usage(format!("{flag}: stdin held no password")));
    }
    Ok(Secret::new(pw))
}

/// Whether a person can be asked on this terminal.
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks on the terminal (`label` on stderr), echo off. The caller checked [`can_prompt`].
pub fn hidden(label: &str) -> Result<Secret<String>> {
    let pw = hidden_line(label).map_err(|e| Error::Usage(format!("reading the password: {e}")))?;
    if pw.is_empty() {
        return Err(Error::Usage("no password given".into()));
    }
    Ok(Secret::new(pw))
}

/// `label` on stderr, then one line read with echo off; an empty line is the caller's to judge.
pub fn hidden_line(label: &str) -> std::io::Result<String> {
    // The prompt is for the person; a closed stderr must not stop the sign-in (crate::stdio).
    let mut err = crate::stdio::Stderr;
    let _ = write!(err, "{label}").and_then(|()| err.flush());
    let line = read_hidden()?;
    let _ = writeln!(err);
    Ok(line)
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
        "no hidden prompt on this platform: pipe the password on stdin",
    ))
}
