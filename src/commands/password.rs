//! Reading a NON_SSO user's Finesse password: the first line of stdin (`--password-stdin`) or
//! a terminal prompt without echo (both in `crate::prompt`). Never from arguments or the
//! environment; never logged.

use crate::error::{Error, Result};
use crate::redact::Secret;

/// One line of stdin, without its line ending. An empty line is refused.
pub fn from_stdin() -> Result<Secret<String>> {
    crate::prompt::line_from_stdin("--password-stdin")
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
