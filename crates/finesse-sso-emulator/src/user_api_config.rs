//! The User API's settings in `finesse-sso emulate`: extensions per user, reason codes, lockout,
//! and the fault knobs (503 for the first N requests, a device that never signs in).

use std::time::Duration;

use clap::Args;

/// Flattened into [`crate::EmulatorConfig`]; `Default` comes from there.
#[derive(Args, Clone, Debug)]
pub struct UserApiConfig {
    /// The extensions USER may sign in at (repeatable; default: user n of the list gets
    /// 1001000+n, the demo agent 1001001).
    #[arg(long = "extension", value_name = "USER=EXT[,EXT…]", value_parser = parse_extensions)]
    pub extensions: Vec<(String, Vec<String>)>,
    /// A device that never signs in: LOGIN at EXT answers 202 and the agent stays LOGOUT, as
    /// when the CTI server rejects the device asynchronously (repeatable).
    #[arg(long = "stuck-extension", value_name = "EXT")]
    pub stuck_extensions: Vec<String>,
    /// The first N requests to the User API answer 503 (Finesse not in service yet).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub user_api_unavailable: u32,
    /// No reason codes are configured: NOT_READY and LOGOUT need no `reasonCodeId`.
    #[arg(long)]
    pub no_reason_codes: bool,
    /// How long five consecutive wrong Basic passwords lock a user out of the User API.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::duration::parse_duration)]
    pub lockout: Duration,
}

/// `USER=EXT[,EXT…]`: digits only, at most 15 (E.164 on UCCX).
pub fn parse_extensions(s: &str) -> Result<(String, Vec<String>), String> {
    let (user, exts) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected USER=EXT[,EXT…]"))?;
    let exts: Vec<String> = exts.split(',').map(|e| e.trim().to_string()).collect();
    if user.trim().is_empty()
        || exts
            .iter()
            .any(|e| e.is_empty() || e.len() > 15 || !e.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!(
            "`{s}`: expected USER=EXT[,EXT…] with extensions of 1 to 15 digits"
        ));
    }
    Ok((user.trim().to_string(), exts))
}

impl UserApiConfig {
    /// The extensions of the user at `index` in the user list, named `name` or `login_id`.
    pub(crate) fn extensions_of(&self, index: usize, name: &str, login_id: &str) -> Vec<String> {
        self.extensions
            .iter()
            .find(|(u, _)| u == name || u == login_id)
            .map(|(_, e)| e.clone())
            .unwrap_or_else(|| vec![(1_001_001 + index).to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_parse_strictly() {
        assert_eq!(
            parse_extensions("agent1=1001001,1001002").unwrap(),
            ("agent1".into(), vec!["1001001".into(), "1001002".into()])
        );
        for bad in [
            "agent1",
            "=1",
            "a=",
            "a=12x",
            "a=1234567890123456",
            "a=1,,2",
        ] {
            assert!(parse_extensions(bad).is_err(), "{bad}");
        }
    }
}
