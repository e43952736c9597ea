//! The endpoints that faults name: short names, their paths, and which request paths they cover.
//! A leaf: the flags (`config`) and the runtime switches (`faults`) both parse endpoints here.

/// Short endpoint names accepted by `--fail`/`--delay` and the `Faults` setters, with their paths.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("systeminfo", "/finesse/api/SystemInfo"),
    ("userauthmode", "/finesse/api/UserAuthMode"),
    ("user", "/finesse/api/User"),
    ("token", "/desktop/sso/token"),
    ("authcode", "/desktop/sso/authcode"),
    ("ssotest", "/desktop/sso/test"),
    ("authorize", "/ids/v1/oauth/authorize"),
    ("acs", "/ids/saml/response"),
    ("relay", "/ids/relay"),
    ("keys", "/ids/v1/keys/token/public"),
    ("idp-sso", "/idp/sso"),
    ("login", "/idp/login"),
    ("ws", "/ws"),
];

/// A short name or a path (`/...`) to the path it stands for.
pub fn normalize_endpoint(ep: &str) -> Result<String, String> {
    let ep = ep.trim();
    if ep.starts_with('/') {
        return Ok(ep.trim_end_matches('/').to_string());
    }
    ENDPOINTS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(ep))
        .map(|(_, path)| path.to_string())
        .ok_or_else(|| {
            let names: Vec<&str> = ENDPOINTS.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown endpoint `{ep}`: use a path or one of {}",
                names.join(", ")
            )
        })
}

/// Whether `path` is the endpoint or below it (`/finesse/api/User` covers `/finesse/api/User/x`).
pub(crate) fn covers(endpoint: &str, path: &str) -> bool {
    path == endpoint
        || path
            .strip_prefix(endpoint)
            .is_some_and(|rest| rest.starts_with('/'))
}
