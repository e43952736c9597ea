//! The notification service's transport: a WebSocket (RFC 6455) with the `xmpp` subprotocol
//! (RFC 7395) at `wss://<finesse>/ws/`, over TLS with the same trust as every other request
//! (system roots plus `--ca-file`) and through the same proxy route and credential
//! (`crate::proxy`; an HTTP CONNECT tunnel). Frames are size-bounded.
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

use crate::error::{Error, Result, Step, Throttle, host_of};
use crate::finesse::address::is_loopback;
use crate::proxy::{ProxyCredential, ProxySetup};

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

/// Which transport to use (config `agent.notifications`, flag `--notifications`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    /// The WebSocket first (`/ws/`); on an HTTP answer that refuses the upgrade (a 404 on
    /// 12.0/12.5 without it), BOSH at `/http-bind/` on the same port.
    #[default]
    Auto,
    Websocket,
    Bosh,
}

/// How to reach the notification service: the CA and proxy of every other request.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    pub ca_pem: Option<Vec<u8>>,
    pub proxy: ProxySetup,
    /// WebSocket, BOSH, or the first that answers.
    pub transport: Choice,
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
    let stream: Box<dyn Io> = match proxy_for(url, &reach.proxy)? {
        Some(proxy) => {
            Box::new(tunnel(&proxy, reach.proxy.credential.as_ref(), &host, port).await?)
        }
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
            tokio_tungstenite::tungstenite::Error::Http(r) => {
                let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok());
                Throttle::error(STEP, host_of(url), r.status().as_u16(), retry_after)
                    .unwrap_or_else(|| Error::Server {
                        step: STEP,
                        host: host_of(url),
                        detail: format!("the WebSocket upgrade was answered HTTP {}", r.status()),
                    })
            }
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

/// The proxy for `url` on the route every other request takes (`wss` goes where `https`
/// goes). A system route without a static proxy (only the engine evaluates PAC) is direct.
fn proxy_for(url: &Url, setup: &ProxySetup) -> Result<Option<Url>> {
    let mut dest = url.clone();
    let as_http = if url.scheme() == "ws" {
        "http"
    } else {
        "https"
    };
    dest.set_scheme(as_http)
        .map_err(|()| Error::Internal("notifications: a WebSocket URL without a host".into()))?;
    match setup.route.proxy_for(&dest) {
        Some(p) if p.scheme() == "http" => Ok(Some(p.clone())),
        Some(p) => Err(Error::Usage(format!(
            "notifications: the proxy {} is {}; the notification WebSocket goes through http:// proxies (CONNECT) only",
            crate::redact::url(p),
            p.scheme()
        ))),
        None => Ok(None),
    }
}

/// An HTTP CONNECT tunnel to `host:port` through `proxy` (the proxy credential, if any, as
/// `Proxy-Authorization: Basic`; never in a message). A 407 is `proxy_auth`, never retried.
async fn tunnel(
    proxy: &Url,
    credential: Option<&ProxyCredential>,
    host: &str,
    port: u16,
) -> Result<BufReader<TcpStream>> {
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
    if let Some(c) = credential {
        let cred = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            c.user,
            c.password.expose()
        ));
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
    if code == "407" {
        return Err(Error::ProxyAuth(format!(
            "the proxy {shown} refused the notification tunnel: {}",
            if credential.is_some() {
                "wrong proxy user or password"
            } else {
                "it asks for a user and password (name the user in the proxy URL)"
            }
        )));
    }
    if code != "200" {
        return Err(fail(format!(
            "CONNECT {target} answered {:?}",
            status.chars().take(80).collect::<String>()
        )));
    }
    Ok(s)
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
    fn the_websocket_takes_the_route_of_every_request() {
        let via = |https: &str, bypass: &[&str]| ProxySetup {
            route: crate::proxy::ProxyRoute::Via(Box::new(crate::proxy::ProxyServers {
                https: Some(Url::parse(https).unwrap()),
                http: Some(Url::parse("http://plain.example:80").unwrap()),
                bypass: bypass.iter().map(|b| b.to_string()).collect(),
                source: "test".into(),
            })),
            credential: None,
        };
        let wss = Url::parse("wss://finesse.corp.example:8445/ws/").unwrap();
        assert_eq!(
            proxy_for(&wss, &via("http://proxy.example:3128", &[]))
                .unwrap()
                .unwrap()
                .as_str(),
            "http://proxy.example:3128/"
        );
        let ws = Url::parse("ws://127.0.0.1:9/ws/").unwrap();
        assert_eq!(
            proxy_for(&ws, &via("http://proxy.example:3128", &[]))
                .unwrap()
                .unwrap()
                .as_str(),
            "http://plain.example/"
        );
        for no in ["corp.example", ".example", "*", "finesse.corp.example"] {
            assert!(
                proxy_for(&wss, &via("http://p:1", &[no]))
                    .unwrap()
                    .is_none(),
                "{no}"
            );
        }
        assert!(proxy_for(&wss, &ProxySetup::default()).unwrap().is_none());
        assert!(
            proxy_for(&wss, &via("socks5://p:1", &[]))
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
        let p = Url::parse(&format!("http://127.0.0.1:{p_port}")).unwrap();
        let credential = ProxyCredential {
            user: "u@x".into(),
            password: crate::redact::Secret::new("p:w".into()),
            asked: false,
        };
        let mut s = tunnel(&p, Some(&credential), "127.0.0.1", t_port)
            .await
            .unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "hello through");
        let head = seen.await.unwrap();
        assert!(head.starts_with(&format!("CONNECT 127.0.0.1:{t_port} HTTP/1.1\r\n")));
        let cred = base64::engine::general_purpose::STANDARD.encode("u@x:p:w");
        assert!(head.contains(&format!("Proxy-Authorization: Basic {cred}\r\n")));
        let refused = tunnel(
            &Url::parse("http://127.0.0.1:1").unwrap(),
            Some(&credential),
            "h",
            1,
        )
        .await
        .unwrap_err();
        assert!(!refused.to_string().contains("p:w"));
    }
}
