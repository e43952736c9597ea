//! A refused tunnel, looked at once: the helper's HTTP client reports a proxy's non-200 answer
//! to `CONNECT` without its status, and proxies answer a wrong password with 407 or (tinyproxy
//! 1.11.1) 401. After such a failure, one bare `CONNECT` with the same credential reads the
//! status, so the error can say "wrong proxy password" instead of "unreachable".

use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use url::Url;

use super::ProxySetup;
use crate::error::{Error, host_of};

/// How long the look may take; it only explains an error already there.
const WITHIN: Duration = Duration::from_secs(10);

/// `err` as a [`Error::ProxyAuth`] when it came from a tunnel the proxy refused for its
/// credentials; otherwise `err` unchanged.
pub async fn explain(err: Error, setup: &ProxySetup, dest: &Url) -> Error {
    let Some(proxy) = setup.route.proxy_for(dest) else {
        return err;
    };
    match &err {
        // A 407 to the tunnel: say whether credentials were given, and whose.
        Error::ProxyAuth(_) => Error::ProxyAuth(rejected(setup, proxy, 407)),
        Error::Network { cause, .. } if cause.contains("tunnel error") => {
            match tokio::time::timeout(WITHIN, connect_status(setup, proxy, dest)).await {
                Ok(Some(status @ (401 | 407))) => Error::ProxyAuth(rejected(setup, proxy, status)),
                _ => err,
            }
        }
        _ => err,
    }
}

/// The message for a proxy that refused (or asked for) credentials.
pub fn rejected(setup: &ProxySetup, proxy: &Url, status: u16) -> String {
    let at = host_of(proxy);
    match &setup.credential {
        Some(_) => format!(
            "the proxy {at} rejected the proxy password (for the user in the proxy URL; HTTP \
             {status}); it was not tried again"
        ),
        None => format!(
            "the proxy {at} asks for a user name and password (HTTP {status}): put the user \
             in the proxy URL (http://user@{at}); the password is then asked for"
        ),
    }
}

/// The status line of a bare `CONNECT` to `dest` through an `http:` proxy.
async fn connect_status(setup: &ProxySetup, proxy: &Url, dest: &Url) -> Option<u16> {
    if proxy.scheme() != "http" {
        return None;
    }
    let addr = (proxy.host_str()?, proxy.port_or_known_default()?);
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let target = host_of(dest);
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(c) = &setup.credential {
        let pair = format!("{}:{}", c.user, c.password.expose());
        let b64 = base64::engine::general_purpose::STANDARD.encode(pair);
        head.push_str(&format!("Proxy-Authorization: Basic {b64}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).await.ok()?;
    // `HTTP/1.x NNN reason`
    line.split_whitespace().nth(1)?.parse().ok()
}
