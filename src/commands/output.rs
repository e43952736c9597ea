//! The token as printed on stdout: JSON (default), bare token, Authorization header, or env.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;
use url::Url;

use crate::cli::OutputFormat;
use crate::error::{Error, Result};
use crate::finesse::token_response::TokenResponse;
use crate::redact::Secret;

/// What `login` and `token` print in JSON mode.
#[derive(Debug, Serialize)]
pub struct TokenOutput<'a> {
    pub token: &'a Secret<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<&'a Secret<String>>,
    pub expires_in: u64,
    /// RFC 3339, UTC.
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realm: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_principal: Option<&'a str>,
    pub server: String,
    /// Decoded access-token claims (`null` when the token is opaque).
    pub claims: Value,
}

pub use crate::wallclock::{expires_at, rfc3339};

/// Writes `t` (issued at `issued_unix`) in the requested format.
pub fn write(
    out: &mut dyn Write,
    format: OutputFormat,
    t: &TokenResponse,
    server: &Url,
    expires_at: i64,
) -> Result<()> {
    let io = crate::stdio::stdout_error;
    match format {
        OutputFormat::Json => {
            let decoded = crate::jwt::decode(t.token.expose());
            let o = TokenOutput {
                token: &t.token,
                refresh_token: t.refresh_token.as_ref(),
                expires_in: t.expires_in,
                expires_at: rfc3339(expires_at),
                user_id: t.user_id.as_deref(),
                realm: t.realm.as_deref(),
                user_principal: t.user_principal.as_deref(),
                server: server.as_str().trim_end_matches('/').to_string(),
                claims: decoded.claims.unwrap_or(Value::Null),
            };
            let s = serde_json::to_string(&o).map_err(|e| Error::Internal(e.to_string()))?;
            writeln!(out, "{s}").map_err(io)
        }
        OutputFormat::Token => writeln!(out, "{}", t.token.expose()).map_err(io),
        OutputFormat::Header => {
            writeln!(out, "Authorization: Bearer {}", t.token.expose()).map_err(io)
        }
        OutputFormat::Env => {
            // `export`: `eval "$(…)"` then reaches the programs the shell starts, not only the
            // shell itself.
            let mut line =
                |k: &str, v: &str| writeln!(out, "export {k}={}", shell_quote(v)).map_err(io);
            line("FINESSE_TOKEN", t.token.expose())?;
            if let Some(r) = &t.refresh_token {
                line("FINESSE_REFRESH_TOKEN", r.expose())?;
            }
            line("FINESSE_TOKEN_EXPIRES_AT", &rfc3339(expires_at))?;
            line("FINESSE_SERVER", server.as_str().trim_end_matches('/'))?;
            if let Some(u) = &t.user_id {
                line("FINESSE_USER_ID", u)?;
            }
            Ok(())
        }
    }
}

/// POSIX single-quoting: safe for `eval` whatever the value holds.
pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenResponse {
        TokenResponse::parse(
            br#"{"token":"a.b.c","refresh_token":"r.s.t","expires_in":300,"user_id":"agent1"}"#,
        )
        .unwrap()
    }

    fn render(f: OutputFormat) -> String {
        let mut v = Vec::new();
        write(
            &mut v,
            f,
            &sample(),
            &Url::parse("https://f.example:8445/").unwrap(),
            1_700_000_300,
        )
        .unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn formats() {
        let j: Value = serde_json::from_str(&render(OutputFormat::Json)).unwrap();
        assert_eq!(j["token"], "a.b.c");
        assert_eq!(j["refresh_token"], "r.s.t");
        assert_eq!(j["expires_at"], "2023-11-14T22:18:20Z");
        assert_eq!(j["server"], "https://f.example:8445");
        assert_eq!(j["claims"], Value::Null);
        assert_eq!(render(OutputFormat::Token), "a.b.c\n");
        assert_eq!(
            render(OutputFormat::Header),
            "Authorization: Bearer a.b.c\n"
        );
        let env = render(OutputFormat::Env);
        assert!(
            env.starts_with("export FINESSE_TOKEN='a.b.c'\nexport FINESSE_REFRESH_TOKEN='r.s.t'\n"),
            "{env}"
        );
        assert!(env.contains("export FINESSE_USER_ID='agent1'"));
        assert!(env.lines().all(|l| l.starts_with("export ")), "{env}");
    }

    /// Found by the security review: plain assignments set the variables for the shell that
    /// ran `eval` but not for the programs it starts (the thick client the token is for).
    #[cfg(unix)]
    #[test]
    fn env_format_reaches_child_processes_after_eval() {
        let script = "eval \"$1\"; exec sh -c 'printf %s \"$FINESSE_TOKEN|$FINESSE_USER_ID\"'";
        let out = std::process::Command::new("sh")
            .args(["-c", script, "sh", &render(OutputFormat::Env)])
            .env_remove("FINESSE_TOKEN")
            .env_remove("FINESSE_USER_ID")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a.b.c|agent1");
    }

    #[test]
    fn expiry_sums_saturate() {
        assert_eq!(expires_at(1_700_000_000, 300), 1_700_000_300);
        assert_eq!(expires_at(i64::MAX - 1, u64::MAX), i64::MAX);
        assert_eq!(rfc3339(expires_at(i64::MAX, u64::MAX)), "");
    }

    #[test]
    fn shell_quoting_is_eval_safe() {
        assert_eq!(shell_quote("it's $(x)"), r"'it'\''s $(x)'");
    }
}
