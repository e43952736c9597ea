//! The notification service's transport: a WebSocket (RFC 6455) with the `xmpp` subprotocol
//! (RFC 7395) at `wss://<finesse>/ws/`, over TLS with the same trust as every other request
//! (system roots plus `--ca-file`) and through the same proxy (`--proxy`, else the
//! `https_proxy`/`no_proxy` environment; an HTTP CONNECT tunnel). Frames are size-bounded.
//!
//! Library: tokio-tungstenite (framing and the upgrade handshake only, without its TLS and
//! connect features). It is the maintained Tokio WebSocket implementation that reqwest-based
//! stacks use; with our own rustls stream it adds tungstenite, sha1 and a few leaf crates, no
//! C code and no second TLS stack. XMPP itself is hand-written (`stanza`, `session`): the few
//! stanzas Finesse needs do not justify an XMPP crate and its XML stack.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use url::Url;

use crate::error::{Error, Result, Step, host_of};
use crate::finesse::address::is_loopback;

const STEP: Step = "notifications";

/// Largest WebSocket message accepted. Stanzas have their own, smaller limit
/// (`stanza::MAX_STANZA`) so that an oversized one is skipped rather than fatal.
pub const MAX_MESSAGE: usize = 1024 * 1024;
/// The TCP connect, the proxy tunnel, TLS and the upgrade together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest proxy answer header read.
const MAX_PROXY_HEADER: usize = 8 * 1024;

/// A byte stream the WebSocket runs on (TCP, TLS, through a proxy or not).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Ws = WebSocketStream<Box<dyn Io>>;

/// How to reach the notification service: the CA and proxy of every other request.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    pub ca_pem: Option<Vec<u8>>,
    pub proxy: Option<Url>,
}

/// `wss://host:port/ws/` for a Finesse base URL (12.6+ serves it on the REST port, 8445);
/// `ws://` only where the base is plain `http://`, which `finesse::address` allows on loopback.
pub fn ws_url(base: &Url) -> Result<Url> {
    let mut u = base.clone();
    let scheme = match base.scheme() {
        "https" => "wss",
        "http" if is_loopback(base) => "ws",
        s => {
            return Err(Error::Usage(format!(
                "notifications: a {s} server has no WebSocket endpoint"
            )));
        }
    };
    u.set_scheme(scheme)
        .map_err(|()| Error::Internal("cannot set the WebSocket scheme".into()))?;
    u.set_path("/ws/");
    u.set_query(None);
    Ok(u)
}

/// Opens the WebSocket and checks that the server selected `xmpp`.
pub async fn connect(url: &Url, reach: &Reach) -> Result<Ws> {
    tokio::time::timeout(CONNECT_TIMEOUT, open(url, reach))
        .await
        .map_err(|_| Error::Network {
            step: STEP,
            host: host_of(url),
            cause: format!("no WebSocket within {} s", CONNECT_TIMEOUT.as_secs()),
        })?
}

async fn open(url: &Url, reach: &Reach) -> Result<Ws> {
    let host = url
        .host_str()
        .ok_or_else(|| Error::Usage("notifications: the URL has no host".into()))?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let net = |cause: String| Error::Network {
        step: STEP,
        host: host_of(url),
        cause,
    };
    let stream: Box<dyn Io> = match proxy_for(url, reach.proxy.as_ref())? {
        Some(proxy) => Box::new(tunnel(&proxy, &host, port).await?),
        None => Box::new(
            TcpStream::connect((host.trim_matches(['[', ']']), port))
                .await
                .map_err(|e| net(e.to_string()))?,
        ),
    };
    let stream: Box<dyn Io> = if url.scheme() == "wss" {
        Box::new(tls(stream, &host, reach.ca_pem.as_deref(), url).await?)
    } else {
        stream
    };
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| net(format!("WebSocket request: {e}")))?;
    let h = req.headers_mut();
    h.insert("sec-websocket-protocol", HeaderValue::from_static("xmpp"));
    h.insert(
        "user-agent",
        HeaderValue::from_static(crate::http::USER_AGENT),
    );
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let (ws, resp) = tokio_tungstenite::client_async_with_config(req, stream, Some(config))
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(r) => Error::Server {
                step: STEP,
                host: host_of(url),
                detail: format!("the WebSocket upgrade was answered HTTP {}", r.status()),
            },
            e => net(format!("WebSocket upgrade: {e}")),
        })?;
    // RFC 7395 §3.2: without `xmpp` selected, the client must close.
    let selected = resp
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("xmpp"));
    if !selected {
        return Err(Error::Server {
            step: STEP,
            host: host_of(url),
            detail: "the WebSocket server did not select the `xmpp` subprotocol".into(),
        });
    }
    Ok(ws)
}

async fn tls(
    stream: Box<dyn Io>,
    host: &str,
    ca_pem: Option<&[u8]>,
    url: &Url,
) -> Result<tokio_rustls::client::TlsStream<Box<dyn Io>>> {
    let roots = crate::http::root_store(ca_pem).map_err(Error::Usage)?;
    let mut config = rustls::ClientConfig::builder_with_provider(crate::http::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // A WebSocket upgrade is HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .map_err(|e| Error::Usage(format!("notifications: host {host}: {e}")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|e| Error::Tls {
            step: STEP,
            host: host_of(url),
            cause: e.to_string(),
        })
}

/// The proxy for `url`: `--proxy`, else the environment; never for loopback (as `http::client`).
fn proxy_for(url: &Url, explicit: Option<&Url>) -> Result<Option<Url>> {
    if is_loopback(url) {
        return Ok(None);
    }
    let proxy = match explicit {
        Some(p) => Some(p.clone()),
        None => env_proxy(url, &|k| std::env::var(k).ok()),
    };
    match proxy {
        Some(p) if p.scheme() == "http" => Ok(Some(p)),
        Some(p) => Err(Error::Usage(format!(
            "notifications: the proxy {} is {}; the notification WebSocket goes through http:// proxies (CONNECT) only",
            crate::redact::url(&p),
            p.scheme()
        ))),
        None => Ok(None),
    }
}

/// `https_proxy`/`HTTPS_PROXY` (wss) or `http_proxy` (ws), then `all_proxy`, unless `no_proxy`
/// names the host (`*`, the host, or a parent domain).
fn env_proxy(url: &Url, var: &dyn Fn(&str) -> Option<String>) -> Option<Url> {
    let host = url.host_str()?.to_ascii_lowercase();
    let no_proxy = var("no_proxy")
        .or_else(|| var("NO_PROXY"))
        .unwrap_or_default();
    let bypass = no_proxy.split(',').map(str::trim).any(|e| {
        let e = e.trim_start_matches('.').to_ascii_lowercase();
        e == "*" || (!e.is_empty() && (host == e || host.ends_with(&format!(".{e}"))))
    });
    if bypass {
        return None;
    }
    let keys: &[&str] = if url.scheme() == "wss" {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "all_proxy", "ALL_PROXY"]
    };
    keys.iter()
        .filter_map(|k| var(k))
        .find(|v| !v.trim().is_empty())
        .and_then(|v| {
            let v = v.trim();
            // `host:port` without a scheme would parse with the host as its scheme.
            if v.contains("://") {
                Url::parse(v).ok()
            } else {
                Url::parse(&format!("http://{v}")).ok()
            }
        })
}

/// An HTTP CONNECT tunnel to `host:port` through `proxy` (its `user:password@`, if any, as
/// `Proxy-Authorization: Basic`; never in a message).
async fn tunnel(proxy: &Url, host: &str, port: u16) -> Result<BufReader<TcpStream>> {
    let shown = crate::redact::url(proxy);
    let fail = |cause: String| Error::Network {
        step: STEP,
        host: format!("proxy {shown}"),
        cause,
    };
    let p_host = proxy.host_str().ok_or_else(|| fail("no host".into()))?;
    let p_port = proxy.port_or_known_default().unwrap_or(80);
    let tcp = TcpStream::connect((p_host.trim_matches(['[', ']']), p_port))
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut s = BufReader::new(tcp);
    let target = format!("{host}:{port}");
    let mut head = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {}\r\n",
        crate::http::USER_AGENT
    );
    if !proxy.username().is_empty() {
        let user = percent(proxy.username());
        let pass = percent(proxy.password().unwrap_or(""));
        let cred = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        head.push_str(&format!("Proxy-Authorization: Basic {cred}\r\n"));
    }
    head.push_str("\r\n");
    s.get_mut()
        .write_all(head.as_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut status = String::new();
    let mut read = 0usize;
    loop {
        let mut line = String::new();
        let n = s
            .read_line(&mut line)
            .await
            .map_err(|e| fail(e.to_string()))?;
        read += n;
        if n == 0 || read > MAX_PROXY_HEADER {
            return Err(fail(
                "the proxy's answer to CONNECT ended early or is too long".into(),
            ));
        }
        if status.is_empty() {
            status = line.trim().to_string();
        } else if line == "\r\n" || line == "\n" {
            break;
        }
    }
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        return Err(fail(format!(
            "CONNECT {target} answered {:?}",
            status.chars().take(80).collect::<String>()
        )));
    }
    Ok(s)
}

fn percent(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ws_url_follows_the_base() {
        let u = |s: &str| ws_url(&Url::parse(s).unwrap()).map(|u| u.to_string());
        assert_eq!(
            u("https://f.example:8445/").unwrap(),
            "wss://f.example:8445/ws/"
        );
        assert_eq!(u("http://127.0.0.1:9/").unwrap(), "ws://127.0.0.1:9/ws/");
        assert!(u("http://f.example/").is_err());
    }

    #[test]
    fn the_environment_proxy_honours_no_proxy() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let wss = Url::parse("wss://finesse.corp.example:8445/ws/").unwrap();
        let e = env(&[("https_proxy", "proxy.example:3128")]);
        assert_eq!(
            env_proxy(&wss, &e).unwrap().as_str(),
            "http://proxy.example:3128/"
        );
        for no in ["corp.example", ".example", "*", "finesse.corp.example"] {
            let pairs: &'static [(&str, &str)] =
                Box::leak(Box::new([("HTTPS_PROXY", "http://p:1"), ("no_proxy", no)]));
            assert!(env_proxy(&wss, &env(pairs)).is_none(), "{no}");
        }
        assert!(env_proxy(&wss, &env(&[("http_proxy", "http://p:1")])).is_none());
        assert!(
            proxy_for(
                &Url::parse("wss://127.0.0.1:1/ws/").unwrap(),
                Some(&Url::parse("http://p:1").unwrap())
            )
            .unwrap()
            .is_none()
        );
        assert!(
            proxy_for(&wss, Some(&Url::parse("socks5://p:1").unwrap()))
                .unwrap_err()
                .to_string()
                .contains("http:// proxies")
        );
    }

    /// A CONNECT tunnel through a strict stand-in proxy that checks the request line and the
    /// credentials, then relays bytes.
    #[tokio::test]
    async fn connect_tunnels_through_an_http_proxy() {
        use tokio::io::AsyncReadExt as _;
        let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let t_port = target.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = target.accept().await.unwrap();
            s.write_all(b"hello through").await.unwrap();
        });
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p_port = proxy.local_addr().unwrap().port();
        let seen = tokio::spawn(async move {
            let (s, _) = proxy.accept().await.unwrap();
            let mut s = BufReader::new(s);
            let mut head = String::new();
            loop {
                let mut l = String::new();
                s.read_line(&mut l).await.unwrap();
                head.push_str(&l);
                if l == "\r\n" {
                    break;
                }
            }
            let mut up = TcpStream::connect(("127.0.0.1", t_port)).await.unwrap();
            s.get_mut()
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .unwrap();
            let mut buf = vec![0; 64];
            let n = up.read(&mut buf).await.unwrap();
            s.get_mut().write_all(&buf[..n]).await.unwrap();
            head
        });
        let p = Url::parse(&format!("http://u%40x:p%3Aw@127.0.0.1:{p_port}")).unwrap();
        let mut s = tunnel(&p, "127.0.0.1", t_port).await.unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "hello through");
        let head = seen.await.unwrap();
        assert!(head.starts_with(&format!("CONNECT 127.0.0.1:{t_port} HTTP/1.1\r\n")));
        let cred = base64::engine::general_purpose::STANDARD.encode("u@x:p:w");
        assert!(head.contains(&format!("Proxy-Authorization: Basic {cred}\r\n")));
        let refused = tunnel(&Url::parse("http://127.0.0.1:1").unwrap(), "h", 1)
            .await
            .unwrap_err();
        assert!(!refused.to_string().contains("p%3Aw"));
    }
}
