//! Reading the secrets a person gives: a NON_SSO user's Finesse password and a client
//! certificate's PIN (or PKCS#12 password), each from the first line of stdin
//! (`--password-stdin`, `--pin-stdin`) or a terminal prompt without echo (both in
//! `crate::prompt`). Never from arguments or the environment; never logged.

use crate::client_cert::ClientCertificate;
use crate::error::{Error, Result};
use crate::redact::Secret;

/// One line of stdin, without its line ending. An empty line is refused.
pub fn from_stdin() -> Result<Secret<String>> {
    crate::prompt::line_from_stdin("--password-stdin")
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
        return crate::prompt::line_from_stdin("--pin-stdin").map(Some);
    }
    // Windows and macOS: the card's own system prompt asks (docs/administrators.md).
    if !cfg!(target_os = "linux") || !cert.needs_secret() || !crate::prompt::can_prompt() {
        return Ok(None);
    }
    let pin = crate::prompt::hidden_line(&format!(
        "PIN or password for the client certificate ({}; empty: none): ",
        cert.describe()
    ))
    .map_err(|e| Error::Usage(format!("reading the PIN: {e}")))?;
    Ok((!pin.is_empty()).then(|| Secret::new(pin)))
}

/// Prompts on the terminal when there is one; otherwise says how to give the password.
pub fn prompt(user: &str) -> Result<Secret<String>> {
    if !crate::prompt::can_prompt() {
        return Err(Error::PasswordRequired(format!(
            "{user} is a NON_SSO user: Finesse needs the password (pipe it with --password-stdin)"
        )));
    }
    crate::prompt::hidden(&format!("Finesse password for {user}: "))
}
