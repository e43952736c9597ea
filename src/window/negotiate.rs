//! Kerberos (Negotiate/SPNEGO) for the window's engine, as pure strings: the `kerberos_hosts`
//! entries checked and normalised, libsoup's trust list (Linux, `SOUP_GSSAPI_TRUSTED_URIS`) and
//! the whole WebView2 browser-argument string (Windows, `--auth-server-allowlist`).

use std::ffi::OsStr;

use url::Url;

use crate::error::{Error, Result};
use crate::proxy::ProxyRoute;
use crate::proxy::route::{chromium_bypass_list, chromium_proxy_server};

/// libsoup's list of the URIs it may offer Negotiate to (read once, when the network process
/// starts its first Negotiate auth).
pub const SOUP_TRUSTED_URIS_ENV: &str = "SOUP_GSSAPI_TRUSTED_URIS";

/// The trust list that trusts no host. libsoup 3.2 (libsoup/auth/soup-auth-negotiate.c,
/// `check_auth_trusted_uri`) offers Negotiate to EVERY https URI when its list is unset or holds
/// no URI that parses (an empty value included), so "none" must be a real URI that matches no
/// server: `.invalid` is reserved and never resolves (RFC 6761 §6.4).
pub const NO_TRUSTED_HOST: &str = "https://kerberos-off.invalid";

/// wry 0.57's own WebView2 arguments (src/webview2/mod.rs, `create_environment`), which
/// `with_additional_browser_args` replaces: its mini-menu, PDF and SmartScreen switches.
pub const WRY_DEFAULT_ARGS: &str = "--disable-features=msWebOOUI,msPdfOOUI,msSmartScreenProtection";

/// Checks `kerberos_hosts` entries and returns them as `host` or `host:port` (lower case; the
/// https port 443 dropped). Exact hosts only: libsoup matches hosts exactly (no wildcards or
/// domain suffixes), so the list means the same on every platform.
pub fn parse_hosts(entries: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for raw in entries {
        let e = raw.trim();
        let bad = |why: &str| {
            Error::Usage(format!(
                "kerberos_hosts: `{e}` {why} (expected a host name or address, optionally \
                 with :port, e.g. \"adfs.example.com\")"
            ))
        };
        if e.is_empty() {
            return Err(bad("is empty"));
        }
        if e.contains(['*', '/', '@', ',', '?', '#', ' ', '\\']) {
            return Err(bad(
                "is not a plain host (no scheme, path, wildcard or list)",
            ));
        }
        let url = Url::parse(&format!("https://{e}/")).map_err(|_| bad("is not a valid host"))?;
        let host = url.host_str().ok_or_else(|| bad("has no host"))?;
        let norm = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        if !out.contains(&norm) {
            out.push(norm);
        }
    }
    Ok(out)
}

/// The value for [`SOUP_TRUSTED_URIS_ENV`]: each host as `https://host[:port]` (libsoup compares
/// scheme, host and port; `https://host` means port 443), or [`NO_TRUSTED_HOST`] for none.
pub fn soup_trusted_uris(hosts: &[String]) -> String {
    match hosts.is_empty() {
        true => NO_TRUSTED_HOST.to_string(),
        false => hosts
            .iter()
            .map(|h| format!("https://{h}"))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// What the window process sets before WebKit starts: `None` when the user's environment
/// already names a trust list (theirs is used as it is, `kerberos_hosts` then does nothing).
pub fn soup_env_value(existing: Option<&OsStr>, hosts: &[String]) -> Option<String> {
    match existing {
        Some(_) => None,
        None => Some(soup_trusted_uris(hosts)),
    }
}

/// The WHOLE WebView2 argument string, or `None` when wry's own defaults serve (the system
/// proxy and no Kerberos hosts). wry's `with_additional_browser_args` replaces its defaults, so
/// they are repeated here; then the proxy route (`--no-proxy-server`, or `--proxy-server` +
/// `--proxy-bypass-list`, host and port only: no credentials on a process command line, see
/// `proxy::route`), and `--auth-server-allowlist` (the spelling runtime 110+ reads;
/// `--auth-server-whitelist` stopped working there). No hosts: no allow-list, so WebView2 keeps
/// its default (Integrated Authentication for intranet servers only, or the admin policy).
pub fn webview2_browser_args(route: &ProxyRoute, hosts: &[String]) -> Option<String> {
    let mut args = String::from(WRY_DEFAULT_ARGS);
    match route {
        ProxyRoute::System if hosts.is_empty() => return None,
        ProxyRoute::System => {}
        ProxyRoute::Direct => args.push_str(" --no-proxy-server"),
        ProxyRoute::Via(s) => {
            if let Some(server) = chromium_proxy_server(s) {
                args.push_str(&format!(" --proxy-server=\"{server}\""));
            }
            args.push_str(&format!(
                " --proxy-bypass-list=\"{}\"",
                chromium_bypass_list(&s.bypass)
            ));
        }
    }
    if !hosts.is_empty() {
        args.push_str(" --auth-server-allowlist=");
        args.push_str(&hosts.join(","));
    }
    Some(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::ProxyServers;

    fn hosts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hosts_are_checked_and_normalised() {
        let h = parse_hosts(&hosts(&[
            " ADFS.Example.com ",
            "127.0.0.1:9443",
            "adfs.example.com:443",
            "[::1]:8443",
        ]))
        .unwrap();
        assert_eq!(h, ["adfs.example.com", "127.0.0.1:9443", "[::1]:8443"]);
        for bad in [
            "",
            "*.example.com",
            "https://adfs.example.com",
            "adfs.example.com/x",
            "a,b",
            "u@adfs",
            "adfs:99999",
        ] {
            let e = parse_hosts(&hosts(&[bad])).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::USAGE, "{bad}");
            assert!(e.to_string().contains("kerberos_hosts"), "{e}");
        }
        assert!(parse_hosts(&[]).unwrap().is_empty());
    }

    #[test]
    fn libsoup_trusts_exactly_the_hosts_or_none() {
        assert_eq!(
            soup_trusted_uris(&hosts(&["adfs.example.com", "127.0.0.1:9443"])),
            "https://adfs.example.com,https://127.0.0.1:9443"
        );
        // Never empty: an empty list means "every https host" to libsoup.
        assert_eq!(soup_trusted_uris(&[]), NO_TRUSTED_HOST);
        assert!(Url::parse(NO_TRUSTED_HOST).is_ok());
        // The user's own value stays, whatever it is.
        let theirs = OsStr::new("https://sso.corp");
        assert_eq!(soup_env_value(Some(theirs), &hosts(&["a"])), None);
        assert_eq!(soup_env_value(Some(OsStr::new("")), &[]), None);
        assert_eq!(
            soup_env_value(None, &hosts(&["a"])).as_deref(),
            Some("https://a")
        );
    }

    #[test]
    fn webview2_args_keep_wry_defaults_and_the_proxy() {
        assert_eq!(webview2_browser_args(&ProxyRoute::System, &[]), None);
        assert_eq!(
            webview2_browser_args(&ProxyRoute::System, &hosts(&["adfs.corp"])).unwrap(),
            format!("{WRY_DEFAULT_ARGS} --auth-server-allowlist=adfs.corp")
        );
        assert_eq!(
            webview2_browser_args(&ProxyRoute::Direct, &[]).unwrap(),
            format!("{WRY_DEFAULT_ARGS} --no-proxy-server")
        );
        let route = ProxyRoute::Via(Box::new(ProxyServers {
            https: Some(Url::parse("http://proxy.corp:3128").unwrap()),
            http: Some(Url::parse("http://proxy.corp:3128").unwrap()),
            bypass: vec!["corp.example".into()],
            source: "proxy setting".into(),
        }));
        let a = webview2_browser_args(&route, &hosts(&["adfs.corp", "sts.corp:8443"])).unwrap();
        assert!(a.starts_with(WRY_DEFAULT_ARGS), "{a}");
        assert!(
            a.contains(" --proxy-server=\"") && a.contains("proxy.corp:3128"),
            "{a}"
        );
        assert!(a.contains(" --proxy-bypass-list=\"corp.example"), "{a}");
        assert!(
            a.ends_with(" --auth-server-allowlist=adfs.corp,sts.corp:8443"),
            "{a}"
        );
    }
}
