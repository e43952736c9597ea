//! Where requests go: the one proxy resolution the window and the helper's own HTTP client
//! share. A `proxy` setting wins; otherwise the environment (`https_proxy`, `http_proxy`,
//! `all_proxy`, `no_proxy`, read the way curl reads them); otherwise the platform's own settings.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::redact::{self, Secret};

/// The route for one run, without credentials (those are a [`super::ProxyCredential`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ProxyRoute {
    /// No setting and nothing in the environment: each engine's system default (WebKitGTK:
    /// GLib's resolver, i.e. GNOME's settings or libproxy, PAC included; WebView2: WinINET,
    /// PAC and WPAD included; WKWebView: the system's). The helper's client: the Windows
    /// Internet Settings or macOS network settings when they name a proxy (no PAC), else direct.
    #[default]
    System,
    /// No proxy at all (`no_proxy=*`, or the built-in demo on loopback).
    Direct,
    /// Proxies we resolved ourselves and hand to both the window and the helper's client.
    Via(Box<ProxyServers>),
}

/// Resolved proxies. URLs carry no user name or password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyServers {
    /// For `https:` destinations (and every other scheme when `http` is absent and this came
    /// from a `proxy` setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<Url>,
    /// For `http:` destinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Url>,
    /// Hosts reached directly (curl's `no_proxy` syntax: `host`, `.domain`, IP, CIDR).
    #[serde(default)]
    pub bypass: Vec<String>,
    /// Where it came from, for messages: `proxy setting` or the variable's name.
    pub source: String,
}

/// A user name (and possibly a password) found in a proxy URL, percent-decoded.
#[derive(Debug, Clone)]
pub struct UrlUser {
    pub user: String,
    pub password: Option<Secret<String>>,
}

/// Where the proxy settings come from: the resolved `proxy` and `proxy_bypass` settings and a
/// way to read the environment (a closure, so tests need not touch the process's).
pub struct RouteInputs<'a> {
    pub proxy: Option<&'a str>,
    pub bypass: Option<&'a str>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// The first non-empty variable among `names` (curl's order: lower case first).
fn first_env(
    env: &dyn Fn(&str) -> Option<String>,
    names: &[&'static str],
) -> Option<(&'static str, String)> {
    names.iter().find_map(|n| {
        env(n)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| (*n, v))
    })
}

/// Resolves the route and the user named in the proxy URL, if any.
pub fn resolve(inputs: &RouteInputs<'_>) -> Result<(ProxyRoute, Option<UrlUser>)> {
    let env_bypass = first_env(inputs.env, &["no_proxy", "NO_PROXY"]).map(|(_, v)| v);
    if let Some(p) = inputs.proxy {
        let url = parse_proxy("--proxy", p, false)?;
        let bypass = inputs.bypass.map(str::to_string).or(env_bypass);
        let bypass = split_bypass(bypass.as_deref());
        if bypass.iter().any(|b| b == "*") {
            return Ok((ProxyRoute::Direct, None));
        }
        let (url, user) = strip_user(url);
        return Ok((
            ProxyRoute::Via(Box::new(ProxyServers {
                https: Some(url.clone()),
                http: Some(url),
                bypass,
                source: "proxy setting".into(),
            })),
            user,
        ));
    }
    let all = first_env(inputs.env, &["all_proxy", "ALL_PROXY"]);
    let https = first_env(inputs.env, &["https_proxy", "HTTPS_PROXY"]).or(all.clone());
    // curl reads only the lower-case `http_proxy` (CGI programs get `HTTP_PROXY` from a request).
    let http = first_env(inputs.env, &["http_proxy"]).or(all);
    if https.is_none() && http.is_none() {
        return Ok((ProxyRoute::System, None));
    }
    let bypass = split_bypass(inputs.bypass.or(env_bypass.as_deref()));
    if bypass.iter().any(|b| b == "*") {
        return Ok((ProxyRoute::Direct, None));
    }
    let parse = |v: Option<(&'static str, String)>| -> Result<Option<(Url, Option<UrlUser>)>> {
        v.map(|(name, value)| parse_proxy(name, &value, true).map(strip_user))
            .transpose()
    };
    let source = https.as_ref().or(http.as_ref()).map(|(n, _)| n.to_string());
    let https = parse(https)?;
    let http = parse(http)?;
    // The https proxy's user first: the sign-in is https.
    let user = https
        .as_ref()
        .and_then(|(_, u)| u.clone())
        .or_else(|| http.as_ref().and_then(|(_, u)| u.clone()));
    Ok((
        ProxyRoute::Via(Box::new(ProxyServers {
            https: https.map(|(u, _)| u),
            http: http.map(|(u, _)| u),
            bypass,
            source: source.unwrap_or_default(),
        })),
        user,
    ))
}

/// A proxy URL. Its messages show it redacted: it may carry `user:password@`. Environment
/// values may omit the scheme (`proxy:3128` means `http://proxy:3128`, as for curl).
pub fn parse_proxy(name: &str, p: &str, scheme_optional: bool) -> Result<Url> {
    let p = p.trim();
    let with_scheme = match scheme_optional && !p.contains("://") {
        true => format!("http://{p}"),
        false => p.to_string(),
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        Error::Usage(format!(
            "{name} {}: {e} (expected http://host:port or socks5://host:port)",
            redact::url_str(&with_scheme)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") || !url.has_host() {
        // `user:password@host` without a scheme parses with the user as its "scheme".
        let shown = match url.cannot_be_a_base() {
            true => format!("<a value of {} bytes>", p.len()),
            false => redact::url(&url),
        };
        return Err(Error::Usage(format!(
            "{name} {shown}: expected http://host:port or socks5://host:port"
        )));
    }
    Ok(url)
}

/// The URL without its user information, and that information decoded.
fn strip_user(mut url: Url) -> (Url, Option<UrlUser>) {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = (!url.username().is_empty()).then(|| UrlUser {
        user: decode(url.username()),
        password: url.password().map(|p| Secret::new(decode(p))),
    });
    let _ = url.set_username("");
    let _ = url.set_password(None);
    (url, user)
}

/// `no_proxy`'s entries: comma or space separated, empty ones dropped.
fn split_bypass(list: Option<&str>) -> Vec<String> {
    list.unwrap_or_default()
        .split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl ProxyRoute {
    /// The proxy for a destination URL, or `None` for a direct connection (bypassed, or no
    /// proxy for its scheme). `System` is `None` too: only the engine knows.
    pub fn proxy_for(&self, dest: &Url) -> Option<&Url> {
        let ProxyRoute::Via(s) = self else {
            return None;
        };
        let host = dest
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        if s.bypass.iter().any(|b| bypass_matches(b, host)) {
            return None;
        }
        match dest.scheme() {
            "http" => s.http.as_ref(),
            _ => s.https.as_ref(),
        }
    }

    /// One line for logs and `doctor`: where the route came from and where it goes.
    pub fn describe(&self) -> String {
        match self {
            ProxyRoute::System => "the system's proxy settings".into(),
            ProxyRoute::Direct => "direct connections (no_proxy=*)".into(),
            ProxyRoute::Via(s) => {
                let url = s.https.as_ref().or(s.http.as_ref()).map(redact::url);
                let url = url.unwrap_or_default();
                let bypass = match s.bypass.is_empty() {
                    true => String::new(),
                    false => format!(" (not for {})", s.bypass.join(",")),
                };
                match s.source.as_str() {
                    "proxy setting" => format!("{url}{bypass}"),
                    var => format!("from {var}: {url}{bypass}"),
                }
            }
        }
    }
}

/// curl's `no_proxy` rule for one entry: `*`; an IP address or CIDR range; a domain matching
/// itself and its subdomains (a leading dot is ignored). A `:port` suffix is ignored.
pub fn bypass_matches(entry: &str, host: &str) -> bool {
    if entry == "*" {
        return true;
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return match entry.split_once('/') {
            Some((net, bits)) => in_cidr(ip, net, bits),
            None => entry.trim_start_matches('[').trim_end_matches(']').parse() == Ok(ip),
        };
    }
    let entry = entry.trim_start_matches("*.").trim_start_matches('.');
    let entry = entry.rsplit_once(':').map_or(entry, |(h, _)| h);
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let entry = entry.to_ascii_lowercase();
    host == entry || host.ends_with(&format!(".{entry}"))
}

fn in_cidr(ip: std::net::IpAddr, net: &str, bits: &str) -> bool {
    use std::net::IpAddr;
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Chromium's `--proxy-server` value for WebView2: one proxy, or one per scheme.
pub fn chromium_proxy_server(s: &ProxyServers) -> Option<String> {
    let hostport = |u: &Url| {
        let host = u.host_str().unwrap_or_default();
        let port = u.port_or_known_default().unwrap_or(8080);
        format!("{}://{host}:{port}", u.scheme())
    };
    match (&s.https, &s.http) {
        (Some(a), Some(b)) if a == b => Some(hostport(a)),
        (a, b) => {
            let rules: Vec<String> = [("https", a), ("http", b)]
                .into_iter()
                .filter_map(|(scheme, u)| u.as_ref().map(|u| format!("{scheme}={}", hostport(u))))
                .collect();
            (!rules.is_empty()).then(|| rules.join(";"))
        }
    }
}

/// Chromium's `--proxy-bypass-list` for the same hosts curl's rule bypasses: a domain entry
/// becomes itself and `*.` itself, and `<-loopback>` stops Chromium's own implicit loopback
/// bypass, which GLib, curl and reqwest do not have.
pub fn chromium_bypass_list(bypass: &[String]) -> String {
    let mut out = Vec::new();
    for b in bypass {
        let is_ip = b.split('/').next().is_some_and(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok()
        });
        if is_ip {
            out.push(b.clone());
        } else {
            let d = b.trim_start_matches("*.").trim_start_matches('.');
            out.push(d.to_string());
            out.push(format!("*.{d}"));
        }
    }
    out.push("<-loopback>".into());
    out.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(
        proxy: Option<&str>,
        bypass: Option<&str>,
        vars: &[(&str, &str)],
    ) -> Result<(ProxyRoute, Option<UrlUser>)> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| map.get(k).cloned();
        resolve(&RouteInputs {
            proxy,
            bypass,
            env: &env,
        })
    }

    fn via(r: &ProxyRoute) -> &ProxyServers {
        match r {
            ProxyRoute::Via(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_setting_wins_over_the_environment_and_keeps_its_user_apart() {
        let (r, user) = resolve_with(
            Some("http://alice%40corp:p%3Ass@proxy.example:3128"),
            None,
            &[
                ("https_proxy", "http://other:1"),
                ("no_proxy", "corp.example"),
            ],
        )
        .unwrap();
        let s = via(&r);
        assert_eq!(
            s.https.as_ref().unwrap().as_str(),
            "http://proxy.example:3128/"
        );
        assert_eq!(s.http, s.https);
        assert_eq!(
            s.bypass,
            ["corp.example"],
            "no_proxy applies to a setting too"
        );
        let user = user.unwrap();
        assert_eq!(user.user, "alice@corp");
        assert_eq!(user.password.unwrap().expose(), "p:ss");
        assert!(!format!("{r:?}").contains("p:ss") && !r.describe().contains("alice"));
        let (r, _) = resolve_with(
            Some("http://p:1"),
            Some("a.example,b.example"),
            &[("no_proxy", "x")],
        )
        .unwrap();
        assert_eq!(via(&r).bypass, ["a.example", "b.example"]);
    }

    #[test]
    fn the_environment_is_read_as_curl_reads_it() {
        assert_eq!(resolve_with(None, None, &[]).unwrap().0, ProxyRoute::System);
        let (r, user) = resolve_with(
            None,
            None,
            &[
                ("HTTPS_PROXY", "proxy.example:3128"),
                ("all_proxy", "http://all:1"),
                ("NO_PROXY", " a.example, 10.0.0.0/8 "),
            ],
        )
        .unwrap();
        let s = via(&r);
        assert_eq!(s.source, "HTTPS_PROXY");
        assert_eq!(
            s.https.as_ref().unwrap().as_str(),
            "http://proxy.example:3128/"
        );
        assert_eq!(s.http.as_ref().unwrap().as_str(), "http://all:1/");
        assert_eq!(s.bypass, ["a.example", "10.0.0.0/8"]);
        assert!(user.is_none());
        // Upper-case HTTP_PROXY is not read (a CGI request can set it).
        let (r, _) = resolve_with(
            None,
            None,
            &[
                ("HTTP_PROXY", "http://evil:1"),
                ("https_proxy", "http://p:2"),
            ],
        )
        .unwrap();
        assert_eq!(via(&r).http, None);
        let (r, user) = resolve_with(None, None, &[("https_proxy", "http://bob@p:2")]).unwrap();
        assert_eq!(via(&r).source, "https_proxy");
        let user = user.unwrap();
        assert_eq!((user.user.as_str(), user.password.is_none()), ("bob", true));
        assert_eq!(
            resolve_with(
                None,
                None,
                &[("https_proxy", "http://p:2"), ("no_proxy", "*")]
            )
            .unwrap()
            .0,
            ProxyRoute::Direct
        );
    }

    #[test]
    fn bad_values_are_named_without_their_secret() {
        for (proxy, vars) in [
            (Some("http://u:S3cret@[::1"), vec![]),
            (None, vec![("https_proxy", "ftp://u:S3cret@p:21")]),
            (None, vec![("all_proxy", "http://u:S3cret@p:99999")]),
        ] {
            let e = resolve_with(proxy, None, &vars).unwrap_err();
            let m = e.to_string();
            assert!(!m.contains("S3cret") && !m.contains("u:"), "{m}");
            assert!(m.contains("--proxy") || m.contains("_proxy"), "{m}");
            assert_eq!(e.exit_code(), crate::error::exit::USAGE);
        }
    }

    #[test]
    fn destinations_follow_scheme_and_bypass() {
        let (r, _) = resolve_with(
            None,
            None,
            &[
                ("https_proxy", "http://p:3128"),
                (
                    "no_proxy",
                    ".corp.example,127.0.0.0/8,::1,host.example:8445",
                ),
            ],
        )
        .unwrap();
        let at = |u: &str| r.proxy_for(&Url::parse(u).unwrap()).map(|u| u.to_string());
        assert_eq!(
            at("https://finesse.example:8445/").as_deref(),
            Some("http://p:3128/")
        );
        assert_eq!(at("http://finesse.example/"), None, "no http proxy");
        assert_eq!(at("https://corp.example/"), None);
        assert_eq!(at("https://ids.corp.example/"), None);
        assert_eq!(
            at("https://notcorp.example/").as_deref(),
            Some("http://p:3128/")
        );
        assert_eq!(at("https://127.0.0.5:1/"), None);
        assert_eq!(at("https://[::1]:1/"), None);
        assert_eq!(at("https://host.example:1/"), None);
        assert_eq!(at("https://10.0.0.1:1/").as_deref(), Some("http://p:3128/"));
        assert_eq!(
            ProxyRoute::System.proxy_for(&Url::parse("https://x/").unwrap()),
            None
        );
    }

    #[test]
    fn chromium_gets_the_same_proxies_and_bypass() {
        let (r, _) = resolve_with(
            Some("http://p.example:3128"),
            Some("corp.example,10.1.0.0/16"),
            &[],
        )
        .unwrap();
        let s = via(&r);
        assert_eq!(chromium_proxy_server(s).unwrap(), "http://p.example:3128");
        assert_eq!(
            chromium_bypass_list(&s.bypass),
            "corp.example;*.corp.example;10.1.0.0/16;<-loopback>"
        );
        let (r, _) = resolve_with(
            None,
            None,
            &[("https_proxy", "http://a:1"), ("http_proxy", "http://b:2")],
        )
        .unwrap();
        assert_eq!(
            chromium_proxy_server(via(&r)).unwrap(),
            "https=http://a:1;http=http://b:2"
        );
    }

    #[test]
    fn the_route_crosses_the_wire_without_credentials() {
        let (r, _) = resolve_with(Some("http://u:S3cret@p:1"), None, &[]).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("S3cret") && !json.contains("u@"), "{json}");
        assert_eq!(serde_json::from_str::<ProxyRoute>(&json).unwrap(), r);
        let sys = serde_json::to_string(&ProxyRoute::System).unwrap();
        assert_eq!(sys, r#"{"mode":"system"}"#);
    }
}
