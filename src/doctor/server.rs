//! The doctor's network checks, with the trust and proxy every other verb would use: the CA
//! file, the proxy, whether Finesse answers, whether its certificate verifies, and the auth mode
//! it reports (through the same Finesse client as `login`).

use std::time::Duration;

use super::report::Check;
use crate::cli::ServerArgs;
use crate::error::Error;
use crate::finesse::client::{Finesse, UserMode};
use crate::finesse::xml::AuthMode;
use crate::http::{self, HttpOptions};
use crate::proxy::{Ask, ProxyRoute, ProxySetup};
use crate::redact;

/// How long the whole SystemInfo (and UserAuthMode) exchange may take.
const ASK_WITHIN: Duration = Duration::from_secs(30);

fn mode_name(m: &AuthMode) -> &'static str {
    match m {
        AuthMode::Sso => "SSO",
        AuthMode::NonSso => "NON_SSO",
        AuthMode::Hybrid => "HYBRID",
    }
}

/// Every network row, in order: `ca_file`, `proxy`, `finesse`, `tls`, `auth_mode`.
pub async fn checks(server: &ServerArgs) -> Vec<Check> {
    let mut rows = Vec::new();
    let ca_pem = match &server.ca_file {
        None => {
            rows.push(Check::skip(
                "ca_file",
                "none: the system store alone is trusted",
            ));
            None
        }
        Some(path) => match http::read_ca_file(path) {
            Ok(pem) => {
                let n = http::parse_pem_certs(&pem).map(|c| c.len()).unwrap_or(0);
                rows.push(Check::ok(
                    "ca_file",
                    format!(
                        "{}: {n} certificate(s), trusted with the system store",
                        path.display()
                    ),
                ));
                Some(pem)
            }
            Err(e) => {
                rows.push(Check::fail("ca_file", e.to_string()));
                None
            }
        },
    };
    // Never asks for a proxy password: without one in the URL the proxy says what it wants.
    let resolved = ProxySetup::resolve(
        server.proxy.as_deref(),
        server.proxy_bypass.as_deref(),
        Ask::Never,
    );
    let proxy = match resolved {
        Ok(setup) => {
            rows.push(proxy_row(&setup));
            setup
        }
        Err(e) => {
            rows.push(Check::fail("proxy", e.to_string()));
            return with_skips(rows, "the proxy setting is unusable");
        }
    };
    let Some(given) = server.server.as_deref() else {
        return with_skips(
            rows,
            "no server given (--server, FINESSE_SSO_SERVER or `server` in config.toml)",
        );
    };
    // Two sides listed: the rows below check the first (the one the helper prefers); the
    // `sides` row says what each side's SystemInfo reports.
    let sides = match crate::finesse::address::parse_sides(given) {
        Ok(sides) => sides,
        Err(e) => {
            rows.push(Check::fail("finesse", e.to_string()));
            rows.push(Check::skip("tls", "no usable server address"));
            rows.push(Check::skip("auth_mode", "no usable server address"));
            return rows;
        }
    };
    let base = sides[0].clone();
    let shown = redact::url(&base);
    let opts = HttpOptions {
        ca_pem: ca_pem.clone(),
        proxy: proxy.clone(),
        follow_redirects: false,
        timeout: Some(ASK_WITHIN),
    };
    let client = match http::client(&opts, None) {
        Ok(c) => c,
        Err(e) => {
            rows.push(Check::fail("finesse", e.to_string()));
            return with_skips(rows, "no HTTP client");
        }
    };
    if sides.len() > 1 {
        rows.push(sides_row(&client, &sides).await);
    }
    let finesse = Finesse::new(base.clone(), client);
    let trust = match (&server.ca_file, &ca_pem) {
        (Some(ca), Some(_)) => format!("the system store and {}", ca.display()),
        _ => "the system store".to_string(),
    };
    let via = proxy
        .route
        .proxy_for(&base)
        .map(|p| format!(" via {}", redact::url(p)))
        .unwrap_or_default();
    let plain = base.scheme() == "http";
    let asked = tokio::time::timeout(ASK_WITHIN, finesse.system_auth_mode()).await;
    let mode = match asked {
        Ok(Ok(mode)) => {
            rows.push(Check::ok(
                "finesse",
                format!("{shown} answers SystemInfo{via}"),
            ));
            rows.push(tls_ok(plain, &trust));
            mode
        }
        Ok(Err(Error::Tls { cause, .. })) => {
            rows.push(Check::ok(
                "finesse",
                format!("{shown} answers{via} (TLS handshake reached)"),
            ));
            rows.push(Check::fail(
                "tls",
                format!(
                    "the certificate does not verify with {trust}: {cause} (add its CA with --ca-file or to the system store)"
                ),
            ));
            rows.push(Check::skip("auth_mode", "no trusted answer from Finesse"));
            return rows;
        }
        Ok(Err(e @ Error::Network { .. })) => {
            rows.push(Check::fail("finesse", e.to_string()));
            return with_skips(rows, "Finesse cannot be reached");
        }
        Ok(Err(e)) => {
            // An answer, but not a usable SystemInfo (an HTTP error, not Finesse).
            rows.push(Check::fail("finesse", e.to_string()));
            rows.push(tls_ok(plain, &trust));
            rows.push(Check::skip("auth_mode", "Finesse gave no SystemInfo"));
            return rows;
        }
        Err(_) => {
            rows.push(Check::fail(
                "finesse",
                format!("{shown}: no answer within {} s", ASK_WITHIN.as_secs()),
            ));
            return with_skips(rows, "Finesse did not answer");
        }
    };
    rows.push(auth_mode(&finesse, &mode, server.user.as_deref()).await);
    rows
}

/// Each listed side's SystemInfo status: ok when all serve, a warning while one does (the
/// helper uses it), a failure when none does.
async fn sides_row(client: &reqwest::Client, sides: &[url::Url]) -> Check {
    const NAME: &str = "sides";
    let mut serving = 0;
    let mut said = Vec::new();
    for side in sides {
        let asked = tokio::time::timeout(
            ASK_WITHIN,
            Finesse::new(side.clone(), client.clone()).system_info(),
        )
        .await;
        let what = match asked {
            Ok(Ok(info)) => {
                if crate::finesse::sides::in_service(&info) {
                    serving += 1;
                }
                info.status
                    .unwrap_or_else(|| "no status (taken as in service)".into())
            }
            Ok(Err(e)) => format!("not usable: {e}"),
            Err(_) => format!("no answer within {} s", ASK_WITHIN.as_secs()),
        };
        said.push(format!("{} {what}", redact::url(side)));
    }
    let said = said.join("; ");
    match serving {
        0 => Check::fail(NAME, format!("no side is in service: {said}")),
        n if n == sides.len() => Check::ok(NAME, said),
        _ => Check::warn(
            NAME,
            format!("{said} (the helper uses the side in service)"),
        ),
    }
}

fn tls_ok(plain: bool, trust: &str) -> Check {
    if plain {
        Check::skip("tls", "plain http (allowed on loopback only)")
    } else {
        Check::ok("tls", format!("the certificate verifies with {trust}"))
    }
}

/// The `finesse`, `tls` and `auth_mode` rows that were not reached, as skips.
fn with_skips(mut rows: Vec<Check>, why: &str) -> Vec<Check> {
    for name in ["finesse", "tls", "auth_mode"] {
        if !rows.iter().any(|c| c.name == name) {
            rows.push(Check::skip(name, why));
        }
    }
    rows
}

/// The resolved route (`crate::proxy`), shown without credentials. A proxy user without a
/// password in the URL is not asked for here: the proxy's answer then says what it wants.
fn proxy_row(setup: &ProxySetup) -> Check {
    let user = match &setup.credential {
        Some(_) => ", with the proxy URL's user and password".to_string(),
        None => String::new(),
    };
    match &setup.route {
        ProxyRoute::System => Check::skip(
            "proxy",
            "none: direct connections (the window follows the system's proxy settings, if any)",
        ),
        route => Check::ok("proxy", format!("{}{user}", route.describe())),
    }
}

/// SSO is what `login` needs; HYBRID is asked per user when one is known; NON_SSO is worth a
/// warning (no SSO token; `desktop` asks for a password instead).
async fn auth_mode(finesse: &Finesse, mode: &AuthMode, user: Option<&str>) -> Check {
    const NAME: &str = "auth_mode";
    let non_sso = "login and token cannot work; desktop commands ask for the password";
    match (mode, user) {
        (AuthMode::Sso, _) => Check::ok(NAME, "SSO"),
        (AuthMode::NonSso, _) => Check::warn(NAME, format!("NON_SSO: {non_sso}")),
        (AuthMode::Hybrid, None) => {
            Check::ok(NAME, "HYBRID (per user; give --user to ask about one)")
        }
        (AuthMode::Hybrid, Some(u)) => {
            match tokio::time::timeout(ASK_WITHIN, finesse.user_auth_mode(u)).await {
                Ok(Ok(UserMode::Known(AuthMode::NonSso))) => {
                    Check::warn(NAME, format!("HYBRID; user {u} is NON_SSO: {non_sso}"))
                }
                Ok(Ok(UserMode::Known(m))) => {
                    Check::ok(NAME, format!("HYBRID; user {u} is {}", mode_name(&m)))
                }
                Ok(Ok(UserMode::Unavailable(why))) => Check::ok(
                    NAME,
                    format!("HYBRID; UserAuthMode unavailable ({why}): sign-ins go on with SSO"),
                ),
                Ok(Err(e)) => Check::fail(NAME, format!("HYBRID; UserAuthMode: {e}")),
                Err(_) => Check::fail(NAME, "HYBRID; UserAuthMode did not answer in time"),
            }
        }
    }
}
