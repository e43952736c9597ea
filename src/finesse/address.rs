//! Turning what the user typed (`finesse.example.com`, a URL) into the Finesse base URL.

use url::{Host, Url};

use crate::error::{Error, Result};

/// Finesse 11.0+ serves HTTPS on 8445 (reference §1.7).
pub const DEFAULT_PORT: u16 = 8445;

/// Whether a URL's host is loopback (the only place plain `http://` is allowed).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A bare host (optionally `host:port`) becomes `https://host:8445/`; a URL is kept as given
/// (its origin only). Plain `http://` is refused except on loopback (tests, the emulator).
pub fn parse(input: &str) -> Result<Url> {
    let input = input.trim();
    if input.is_empty() {
        return Err(Error::Usage("--server is empty".into()));
    }
    let url = if input.contains("://") {
        Url::parse(input).map_err(|e| Error::Usage(format!("--server {input:?}: {e}")))?
    } else {
        let with_port = if has_port(input) {
            input.to_string()
        } else {
            format!("{input}:{DEFAULT_PORT}")
        };
        Url::parse(&format!("https://{with_port}/"))
            .map_err(|e| Error::Usage(format!("--server {input:?}: {e}")))?
    };
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(Error::Usage(format!(
                "--server {input:?}: plain http is refused (tokens would cross the network in clear); use https"
            )));
        }
        s => {
            return Err(Error::Usage(format!(
                "--server {input:?}: scheme {s} is not https"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::Usage(format!("--server {input:?}: no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Usage(
            "--server must not carry user:password@".into(),
        ));
    }
    let mut base = url;
    base.set_path("/");
    base.set_query(None);
    base.set_fragment(None);
    Ok(base)
}

/// `server` naming one side or both (`a,b`, as the config file's list is joined): each parsed
/// as [`parse`], in the order given (the first is preferred), none twice.
pub fn parse_sides(input: &str) -> Result<Vec<Url>> {
    let mut sides: Vec<Url> = Vec::new();
    for part in input.split(',') {
        let url = parse(part)?;
        if sides.contains(&url) {
            return Err(Error::Usage(format!(
                "--server names {} twice",
                url.as_str().trim_end_matches('/')
            )));
        }
        sides.push(url);
    }
    Ok(sides)
}

fn has_port(hostport: &str) -> bool {
    match hostport.rsplit_once(':') {
        // An IPv6 literal without brackets has colons but no port.
        Some((h, p)) => {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sides_in_order_each_checked() {
        let s = parse_sides("finesse-a.example, https://finesse-b.example:8445").unwrap();
        assert_eq!(
            s.iter().map(Url::as_str).collect::<Vec<_>>(),
            [
                "https://finesse-a.example:8445/",
                "https://finesse-b.example:8445/"
            ]
        );
        assert_eq!(parse_sides("one.example").unwrap().len(), 1);
        for bad in [
            "a.example,",
            "a.example,a.example:8445",
            "a.example,http://b.example",
        ] {
            assert!(parse_sides(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_forms() {
        assert_eq!(
            parse("finesse.example.com").unwrap().as_str(),
            "https://finesse.example.com:8445/"
        );
        assert_eq!(
            parse("finesse.example.com:443").unwrap().as_str(),
            "https://finesse.example.com/"
        );
        assert_eq!(
            parse("https://f.example:8445/desktop/x?y#z")
                .unwrap()
                .as_str(),
            "https://f.example:8445/"
        );
        assert_eq!(
            parse("http://127.0.0.1:9000").unwrap().as_str(),
            "http://127.0.0.1:9000/"
        );
        assert_eq!(parse("[::1]:9000").unwrap().as_str(), "https://[::1]:9000/");
        for bad in [
            "",
            "http://finesse.example.com",
            "ftp://x",
            "https://u:p@x.example",
            "https://",
        ] {
            assert!(matches!(parse(bad), Err(Error::Usage(_))), "{bad:?}");
        }
    }
}
