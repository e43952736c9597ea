//! `finesse-sso decode`: a JWT's header, claims and expiry, verified when given a public key.

use std::io::{IsTerminal, Read, Write};

use crate::cli::DecodeArgs;
use crate::error::{Error, Result};
use crate::jwt;

/// Upper bound on what we read from stdin: tokens are a few KiB.
const MAX_INPUT: u64 = 1 << 20;

pub fn run(args: &DecodeArgs, out: &mut dyn Write) -> Result<()> {
    let token = if args.token == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(MAX_INPUT)
            .read_to_string(&mut s)
            .map_err(|e| Error::Usage(format!("reading the token from stdin: {e}")))?;
        s
    } else {
        args.token.clone()
    };
    let token = token
        .trim()
        .trim_start_matches("Authorization:")
        .trim()
        .trim_start_matches("Bearer ")
        .trim();
    if token.is_empty() {
        return Err(Error::Usage("no token given (argument or stdin)".into()));
    }
    let decoded = match &args.public_key {
        None => jwt::decode(token),
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| Error::Usage(format!("--public-key {}: {e}", path.display())))?;
            match jwt::decode_verified(token, &pem) {
                Ok(d) => d,
                Err(jwt::VerifyError::Key(e)) => {
                    return Err(Error::Usage(format!(
                        "--public-key {}: {e}",
                        path.display()
                    )));
                }
                Err(e @ jwt::VerifyError::Signature(_)) => {
                    // Still show what the token says, marked invalid, then fail.
                    let mut d = jwt::decode(token);
                    d.signature = "invalid";
                    print(&d, args.json, out)?;
                    return Err(Error::TokenInvalid(e.to_string()));
                }
            }
        }
    };
    print(&decoded, args.json, out)
}

fn print(d: &jwt::Decoded, json: bool, out: &mut dyn Write) -> Result<()> {
    let io = crate::stdio::stdout_error;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if json || !std::io::stdout().is_terminal() {
        let mut v = serde_json::to_value(d).map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(exp) = d.expires_at {
            v["expires_in"] = exp.saturating_sub(now).into();
            v["expired"] = (exp <= now).into();
        }
        return writeln!(out, "{v}").map_err(io);
    }
    if !d.jwt {
        return writeln!(
            out,
            "opaque token (not a readable JWT): {}",
            d.reason.as_deref().unwrap_or("")
        )
        .map_err(io);
    }
    let pretty = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .and_then(|v| serde_json::to_string_pretty(v).ok())
            .unwrap_or_default()
    };
    writeln!(out, "Header:\n{}", pretty(&d.header)).map_err(io)?;
    writeln!(out, "Claims:\n{}", pretty(&d.claims)).map_err(io)?;
    writeln!(out, "Signature: {}", d.signature).map_err(io)?;
    if let Some(exp) = d.expires_at {
        writeln!(
            out,
            "Expires: {} ({})",
            super::output::rfc3339(exp),
            jwt::describe_expiry(exp, now)
        )
        .map_err(io)?;
    }
    Ok(())
}
