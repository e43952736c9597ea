//! The emulator's settings: clap arguments of `finesse-sso emulate` and their value parsers.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};

use crate::secret::Secret;

/// Everything `finesse-sso emulate` accepts. `Default` equals the command-line defaults.
#[derive(Args, Clone, Debug)]
pub struct EmulatorConfig {
    /// Finesse port on 127.0.0.1 (0 = a random free port).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub finesse_port: u16,
    /// Finesse sides (1 or 2). Two sides share IdS, the users and the agents' CTI state, each
    /// with its own port, notification service and SystemInfo status; the second listens on a
    /// free port (the ready line's `sides`).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2))]
    pub sides: u8,
    /// Start Finesse side N (1 or 2) out of service: SystemInfo says OUT_OF_SERVICE, every
    /// other request is a 503 (repeatable; runtime: `set_in_service`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(usize))]
    pub out_of_service: Vec<usize>,
    /// Cisco Identity Service port on 127.0.0.1 (0 = a random free port).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub ids_port: u16,
    /// SAML IdP port on 127.0.0.1 (0 = a random free port).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub idp_port: u16,
    /// Serve plain http instead of https with a per-run CA.
    #[arg(long)]
    pub no_tls: bool,
    /// Where to write the per-run CA certificate (PEM); default: a private temporary file.
    #[arg(long, value_name = "PATH")]
    pub ca_out: Option<PathBuf>,
    /// `systemAuthMode` in SystemInfo.
    #[arg(long, value_enum, default_value_t = AuthMode::Sso)]
    pub auth_mode: AuthMode,
    /// `deploymentType` in SystemInfo (UCCX: loginId equals loginName).
    #[arg(long, value_enum, default_value_t = Deployment::Ucce)]
    pub deployment: Deployment,
    /// A user `NAME:PASSWORD[:SSO|NON_SSO]` (repeatable). Without any, the demo user
    /// `agent1` / `demo-password` exists.
    #[arg(long = "user", value_name = "NAME:PASSWORD[:MODE]", value_parser = parse_user)]
    pub users: Vec<UserSpec>,
    /// A file of users, one `name:password[:mode]` per line, `#` comments.
    #[arg(long, value_name = "PATH")]
    pub users_file: Option<PathBuf>,
    /// How the IdP signs a user in when it has no session for them: a password form, or one of
    /// the enterprise methods (see docs/emulator.md, "IdP login methods").
    #[arg(long, value_enum, default_value_t = IdpLogin::Password, value_name = "METHOD")]
    pub idp_login: IdpLogin,
    /// The IdP's Kerberos keytab (`HTTP/<host>` keys), for `--idp-login negotiate`.
    #[arg(long, value_name = "PATH")]
    pub idp_keytab: Option<PathBuf>,
    /// `--idp-login client-cert`: the CA (PEM) whose client certificates the certificate
    /// host accepts. The certificate's UPN (otherName SAN) or subject CN names the user.
    #[arg(long, value_name = "PEM")]
    pub idp_client_ca: Option<PathBuf>,
    /// `--idp-login client-cert`: the certificate host's port on 127.0.0.1 (0 = a random free port).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub idp_cert_port: u16,
    /// The IdP login page fills in and submits this user's credentials by JavaScript.
    #[arg(long, value_name = "USER")]
    pub auto_login: Option<String>,
    /// Whether `/finesse/api/UserAuthMode/<user>` answers, is disabled (403) or absent (404).
    #[arg(long, value_enum, default_value_t = UserAuthModeApi::Enabled)]
    pub user_auth_mode: UserAuthModeApi,
    /// Where Finesse reads `cc_username`: query or cookie (12.5+), or cookie only (11.6/12.0).
    #[arg(long, value_enum, default_value_t = CcUsernameMode::QueryOrCookie)]
    pub cc_username: CcUsernameMode,
    /// Realm of the users (`user_principal` = `user@realm`).
    #[arg(long, default_value = "finesse.com")]
    pub realm: String,
    /// Access-token lifetime: `300`, `300s`, `500ms`, `5m`, `2h`.
    #[arg(long, default_value = "300s", value_parser = crate::duration::parse_duration)]
    pub access_ttl: Duration,
    /// Refresh-token lifetime.
    #[arg(long, default_value = "7200s", value_parser = crate::duration::parse_duration)]
    pub refresh_ttl: Duration,
    /// Authorization-code lifetime.
    #[arg(long, default_value = "60s", value_parser = crate::duration::parse_duration)]
    pub code_ttl: Duration,
    /// A refresh issues a new refresh token (returned with `return_refresh_token=true`) and
    /// invalidates the old one.
    #[arg(long)]
    pub rotate_refresh: bool,
    /// Refresh answers 302 into the browser flow (IdS authorize) instead of JSON.
    #[arg(long)]
    pub refresh_redirect: bool,
    /// Answer ENDPOINT with STATUS (repeatable). ENDPOINT is a path or a short name (see docs).
    #[arg(long = "fail", value_name = "ENDPOINT=STATUS", value_parser = parse_fail)]
    pub fails: Vec<FailSpec>,
    /// With `--fail ENDPOINT=418|429`: the `Retry-After` seconds those answers carry, as the
    /// VPN-less reverse proxy's rate limit and client block do (none when not given).
    #[arg(long, value_name = "SECS")]
    pub retry_after: Option<u64>,
    /// Behind the VPN-less reverse proxy (Finesse 12.6/15.0): Finesse, IdS and the IdP are
    /// reached through one proxy origin only, routed by path (`/finesse`, `/desktop`, `/ws` to
    /// Finesse; `/ids` to IdS; `/idp` to the IdP), and every redirect names the proxy.
    #[arg(long)]
    pub vpnless: bool,
    /// Delay ENDPOINT by MS milliseconds (repeatable).
    #[arg(long = "delay", value_name = "ENDPOINT=MS", value_parser = parse_delay)]
    pub delays: Vec<DelaySpec>,
    /// Drop the connection halfway through each answer of ENDPOINT (repeatable): headers and
    /// half the body arrive, then the connection closes.
    #[arg(long = "cut", value_name = "ENDPOINT", value_parser = crate::endpoints::normalize_endpoint)]
    pub cuts: Vec<String>,
    /// The token endpoint answers truncated JSON.
    #[arg(long)]
    pub malformed_token_json: bool,
    /// The token endpoint answers the real token JSON as `text/html`.
    #[arg(long)]
    pub token_as_html: bool,
    /// Attack the client: forged token pages, a hostile iframe, a leaking IdP page, redirect
    /// loops, hostile schemes, plain http, pop-ups, a huge or malformed token answer.
    #[arg(long, value_enum, value_name = "MODE")]
    pub forge: Option<ForgeMode>,
    /// Append a JSON-lines request log (names only, never values) to this file.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The User API (sign-in, state, reason codes) and its fault knobs.
    #[command(flatten)]
    pub user_api: crate::user_api_config::UserApiConfig,
    /// The notification service (XMPP over WebSocket at `/ws/`) and its fault knobs.
    #[command(flatten)]
    pub xmpp: crate::xmpp_config::XmppConfig,
}

#[derive(Parser)]
struct DefaultsOnly {
    #[command(flatten)]
    config: EmulatorConfig,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        // Parsing an empty command line keeps `Default` equal to the CLI defaults by construction.
        match DefaultsOnly::try_parse_from(["emulate"]) {
            Ok(d) => d.config,
            Err(e) => unreachable!("emulator defaults do not parse: {e}"),
        }
    }
}

/// The IdP's login method (one per run, as a customer's IdP policy picks one).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdpLogin {
    /// The user name and password form.
    Password,
    /// Kerberos (SPNEGO, Windows Integrated Authentication): `401 WWW-Authenticate: Negotiate`,
    /// verified against `--idp-keytab`; no form (see idp_negotiate.rs).
    Negotiate,
    /// The password form, then a second factor approved in a pop-up window the MFA page
    /// opens (`window.open`), which tells its opener by `postMessage` and closes, as Duo does.
    PopupMfa,
    /// A security key: the page calls `navigator.credentials.get({publicKey})` as Okta and
    /// Entra do, shows the IdP's own "not supported" text when that fails, and offers the
    /// password form as another way.
    SecurityKey,
    /// A TLS client certificate (or smart card), asked for by a separate certificate host of
    /// the IdP (its own port, like ADFS's `certauth` host); needs `--idp-client-ca`.
    ClientCert,
}

/// Finesse `systemAuthMode`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    #[value(name = "SSO")]
    Sso,
    #[value(name = "NON_SSO")]
    NonSso,
    #[value(name = "HYBRID")]
    Hybrid,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Sso => "SSO",
            AuthMode::NonSso => "NON_SSO",
            AuthMode::Hybrid => "HYBRID",
        }
    }
}

/// Per-user authentication mode (`UserAuthMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserMode {
    Sso,
    NonSso,
}

impl UserMode {
    pub fn as_str(self) -> &'static str {
        match self {
            UserMode::Sso => "SSO",
            UserMode::NonSso => "NON_SSO",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deployment {
    #[value(name = "UCCE")]
    Ucce,
    #[value(name = "UCCX")]
    Uccx,
}

impl Deployment {
    pub fn as_str(self) -> &'static str {
        match self {
            Deployment::Ucce => "UCCE",
            Deployment::Uccx => "UCCX",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAuthModeApi {
    /// 12.5+: answers per user.
    Enabled,
    /// `enableUserAuthMode false`: Cisco's 403 ApiErrors.
    Disabled,
    /// 11.6(1)/12.0(1): the API does not exist (404).
    Missing,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CcUsernameMode {
    /// 12.5(1)+ and the ES releases: query parameter or cookie.
    QueryOrCookie,
    /// 11.6(1)/12.0(1): only the `cc_username` cookie counts.
    CookieOnly,
}

/// Hostile behaviours for security tests of the client. Forged values contain `FORGED`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForgeMode {
    /// After IdP login, a token-shaped JSON on the IdP origin.
    IdpJson,
    /// After IdP login, a token-shaped JSON on the IdS origin.
    IdsJson,
    /// After IdP login, a token-shaped JSON at Finesse's token path on a look-alike origin:
    /// the same server (or, with `--vpnless`, the same proxy) named `localhost`, not `127.0.0.1`.
    LookAlike,
    /// The Finesse token URL answers HTML with a cross-origin iframe posting forged messages.
    Iframe,
    /// The IdP page tries to send `cc_username` and cookies to `/steal`.
    Leak,
    /// The token URL starts an endless chain of redirects and script navigations on the IdP.
    RedirectLoop,
    /// The token URL redirects to `file:///etc/passwd`.
    FileRedirect,
    /// The token URL redirects to a `data:application/json` URL holding a forged token.
    DataRedirect,
    /// The token URL redirects to a `javascript:` URL.
    JsRedirect,
    /// The token URL redirects to an app's custom scheme (`ciscosso://launch`).
    SchemeRedirect,
    /// The IdP login page tries a custom scheme (`ciscosso://`) first, then signs in normally.
    CustomScheme,
    /// The token URL redirects to plain `http://` on a non-loopback host.
    PlainHttp,
    /// The IdP login page opens pop-up windows (`window.open`, `target=_blank`), then signs in.
    Popup,
    /// The token URL (with a session) answers a 50 MiB `application/json` body.
    HugeToken,
    /// The real token JSON with extra unknown fields of every type (a safe continuation).
    ExtraFields,
    /// Token JSON with wrong-typed fields (`expires_in` a float, `user_id` a number).
    WrongTypes,
    /// Token JSON whose `expires_in` is negative: a token that expired before it arrived.
    ExpiredToken,
    /// A token whose JWT header says `alg: none`, unsigned, on the real token URL.
    AlgNone,
}

/// One configured user. The password never prints (`Secret`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSpec {
    pub name: String,
    pub password: Secret<String>,
    pub mode: UserMode,
}

impl fmt::Display for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.mode.as_str())
    }
}

/// `--fail ENDPOINT=STATUS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailSpec {
    pub endpoint: String,
    pub status: u16,
}

/// `--delay ENDPOINT=MS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelaySpec {
    pub endpoint: String,
    pub delay: Duration,
}

/// The demo user printed in the ready line and on the IdP page when no user is configured.
pub const DEMO_USER: &str = "agent1";
/// The demo user's documented password.
pub const DEMO_PASSWORD: &str = "demo-password";

/// `NAME:PASSWORD[:SSO|NON_SSO]`. A password ending in `:SSO` needs an explicit mode after it.
pub fn parse_user(s: &str) -> Result<UserSpec, String> {
    let s = s.trim();
    let (name, rest) = s
        .split_once(':')
        .ok_or_else(|| "expected NAME:PASSWORD[:SSO|NON_SSO]".to_string())?;
    let (password, mode) = match rest.rsplit_once(':') {
        Some((p, "SSO")) => (p, UserMode::Sso),
        Some((p, "NON_SSO")) => (p, UserMode::NonSso),
        _ => (rest, UserMode::Sso),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err("user name must be non-empty ASCII letters, digits or . _ - @".into());
    }
    if password.is_empty() {
        return Err(format!("user {name}: empty password"));
    }
    Ok(UserSpec {
        name: name.to_string(),
        password: Secret::new(password.to_string()),
        mode,
    })
}

/// Users from a file: one `name:password[:mode]` per line; blank lines and `#` comments skipped.
pub fn parse_users_file(text: &str) -> Result<Vec<UserSpec>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| parse_user(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

fn split_endpoint(s: &str) -> Result<(String, &str), String> {
    let (ep, v) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("`{s}`: expected ENDPOINT=VALUE"))?;
    let ep = crate::endpoints::normalize_endpoint(ep)?;
    Ok((ep, v))
}

pub fn parse_fail(s: &str) -> Result<FailSpec, String> {
    let (endpoint, v) = split_endpoint(s)?;
    let status: u16 = v
        .parse()
        .ok()
        .filter(|n| (100..=599).contains(n))
        .ok_or_else(|| format!("`{v}` is not an HTTP status (100-599)"))?;
    Ok(FailSpec { endpoint, status })
}

pub fn parse_delay(s: &str) -> Result<DelaySpec, String> {
    let (endpoint, v) = split_endpoint(s)?;
    let ms: u64 = v
        .parse()
        .map_err(|_| format!("`{v}` is not a number of milliseconds"))?;
    Ok(DelaySpec {
        endpoint,
        delay: Duration::from_millis(ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_cli() {
        let c = EmulatorConfig::default();
        assert_eq!(c.finesse_port, 0);
        assert!(!c.no_tls);
        assert_eq!(c.auth_mode, AuthMode::Sso);
        assert_eq!(c.access_ttl, Duration::from_secs(300));
        assert_eq!(c.refresh_ttl, Duration::from_secs(7200));
        assert_eq!(c.code_ttl, Duration::from_secs(60));
        assert!(c.users.is_empty() && c.forge.is_none());
    }

    #[test]
    fn users_parse_with_optional_mode() {
        let u = parse_user("bob:pa:ss:NON_SSO").unwrap();
        assert_eq!(
            (u.name.as_str(), u.password.expose().as_str(), u.mode),
            ("bob", "pa:ss", UserMode::NonSso)
        );
        assert_eq!(parse_user("bob:pw").unwrap().mode, UserMode::Sso);
        assert!(parse_user("bob").is_err());
        assert!(parse_user(":pw").is_err());
        assert!(parse_user("bob:").is_err());
        assert!(!format!("{:?}", parse_user("bob:hunter2").unwrap()).contains("hunter2"));
        let f = parse_users_file("# team\n\na:1\nb:2:NON_SSO\n").unwrap();
        assert_eq!(f.len(), 2);
        assert!(
            parse_users_file("a:1\nbad\n")
                .unwrap_err()
                .contains("line 2")
        );
    }

    #[test]
    fn durations_and_faults_parse() {
        let f = parse_fail("token=503").unwrap();
        assert_eq!((f.endpoint.as_str(), f.status), ("/desktop/sso/token", 503));
        assert_eq!(
            parse_fail("/finesse/api/SystemInfo=500").unwrap().endpoint,
            "/finesse/api/SystemInfo"
        );
        assert!(parse_fail("token=abc").is_err() && parse_fail("nosuch=500").is_err());
        assert_eq!(
            parse_delay("acs=20").unwrap().delay,
            Duration::from_millis(20)
        );
    }
}
