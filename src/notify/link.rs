//! The transport seam of a notification connection: text frames out and in over the WebSocket
//! (12.6+, `/ws/`) or BOSH (12.0/12.5, `/http-bind/`), chosen by the URL's path.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use super::bosh::Bosh;
use super::transport::{self, Choice, Reach, Ws};
use crate::error::{Error, Result};

pub enum Link {
    Ws(Box<Ws>),
    Bosh(Bosh),
}

/// The BOSH endpoint beside a WebSocket one: `https://host:port/http-bind/`.
pub fn bosh_url(url: &Url) -> Url {
    let mut u = url.clone();
    let scheme = match url.scheme() {
        "wss" => "https",
        "ws" => "http",
        s => s,
    };
    let _ = u.set_scheme(scheme);
    u.set_path("/http-bind/");
    u
}

/// Whether a notification URL is a BOSH endpoint (else a WebSocket one).
pub fn is_bosh(url: &Url) -> bool {
    url.path().trim_end_matches('/') == "/http-bind"
}

impl Link {
    /// Connects to `url` (a `/ws/` or `/http-bind/` URL) with the transport `reach` chooses.
    pub async fn connect(url: &Url, reach: &Reach) -> Result<Link> {
        // BOSH has no handshake of its own: the session creation is the first request.
        let bosh = || Ok(Link::Bosh(Bosh::new(&bosh_url(url), reach)?));
        match reach.transport {
            _ if is_bosh(url) => bosh(),
            Choice::Bosh => bosh(),
            Choice::Websocket => Ok(Link::Ws(Box::new(transport::connect(url, reach).await?))),
            Choice::Auto => match transport::connect(url, reach).await {
                Ok(ws) => Ok(Link::Ws(Box::new(ws))),
                // The server answered but refused the upgrade: 12.0/12.5 without WebSocket.
                Err(Error::Server { detail, .. }) => {
                    tracing::info!("notifications: no WebSocket ({detail}); trying BOSH");
                    bosh()
                }
                Err(e) => Err(e),
            },
        }
    }

    pub async fn send(&mut self, frame: String) -> std::result::Result<(), String> {
        match self {
            Link::Ws(ws) => ws
                .send(Message::text(frame))
                .await
                .map_err(|e| format!("WebSocket: {e}")),
            Link::Bosh(b) => b.send(frame),
        }
    }

    /// The next text frame, or why the connection ended.
    pub async fn recv(&mut self) -> std::result::Result<String, String> {
        let ws = match self {
            Link::Bosh(b) => return b.recv().await,
            Link::Ws(ws) => ws,
        };
        loop {
            match ws.next().await {
                None => return Err("the connection closed".into()),
                Some(Err(e)) => return Err(format!("WebSocket: {e}")),
                Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
                Some(Ok(Message::Close(_))) => {
                    return Err("the server closed the WebSocket".into());
                }
                Some(Ok(Message::Binary(_))) => {
                    tracing::warn!("notifications: skipped a binary frame (RFC 7395 uses text)");
                }
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn close(&mut self) {
        if let Link::Ws(ws) = self {
            let _ = ws.as_mut().close(None).await;
        }
    }
}
