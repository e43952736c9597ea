//! Serving one origin: accept loop on a loopback listener, optional TLS, HTTP/1.1 via hyper,
//! bounded request bodies, and a shutdown signal that ends the loop and open connections.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::app::{App, Origin};
use crate::request::Req;
use crate::response::Resp;

/// Largest request body accepted (SAML responses are a few KiB).
const MAX_BODY: usize = 256 * 1024;
/// A client that does not finish the TLS handshake in this time is dropped.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server; sending `true` on (or dropping) the stop channel ends it.
pub(crate) struct Server {
    task: JoinHandle<()>,
}

impl Server {
    /// A server whose accept loop runs in `task` (the IdP's certificate host has its own).
    pub(crate) fn from_task(task: JoinHandle<()>) -> Self {
        Server { task }
    }

    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Binds `127.0.0.1:port` (0 = any free port).
pub(crate) async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port)).await
}

pub(crate) fn spawn(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    origin: Origin,
    app: Arc<App>,
    mut stop: watch::Receiver<bool>,
) -> Server {
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.changed() => break,
            };
            let (tcp, _peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(origin = origin.as_str(), "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // As Finesse's Tomcat and the VPN-less nginx do: an answer's last TLS record is not
            // held back for the client's delayed ACK (≈ 40 ms a new connection, at random).
            let _ = tcp.set_nodelay(true);
            *app.state()
                .connection_counts
                .entry(origin.as_str())
                .or_insert(0) += 1;
            let app = app.clone();
            let tls = tls.clone();
            let mut conn_stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = serve_conn(tcp, tls, origin, app) => {}
                    _ = conn_stop.changed() => {}
                }
            });
        }
    });
    Server { task }
}

async fn serve_conn(
    tcp: tokio::net::TcpStream,
    tls: Option<TlsAcceptor>,
    origin: Origin,
    app: Arc<App>,
) {
    let service = service_fn(move |req: Request<Incoming>| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(dispatch(&app, origin, req).await) }
    });
    let result = match tls {
        Some(acceptor) => {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    // Expected when a client does not trust the per-run CA.
                    tracing::debug!(origin = origin.as_str(), "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => return,
            };
            http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
        }
        None => {
            http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await
        }
    };
    if let Err(e) = result {
        tracing::debug!(origin = origin.as_str(), "connection ended: {e}");
    }
}

/// What the servers answer with: a whole body, or one cut halfway (`--cut`).
pub(crate) type Answer = Either<Full<Bytes>, CutBody>;

/// Announces the whole length, yields the first half, then fails: hyper has sent the status,
/// the headers and half the body, and closes the connection.
pub(crate) struct CutBody {
    half: Option<Bytes>,
    full: u64,
}

impl Body for CutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(match self.half.take() {
            Some(b) => Ok(Frame::data(b)),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "emulator: answer cut halfway (--cut)",
            )),
        }))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.full)
    }
}

pub(crate) async fn dispatch(
    app: &Arc<App>,
    origin: Origin,
    req: Request<Incoming>,
) -> Response<Answer> {
    // The notification service takes the connection over (WebSocket, RFC 7395); BOSH is
    // plain requests, below, once the body is read.
    let ws_side = match origin {
        Origin::Finesse(side) => Some(side),
        // The VPN-less proxy fronts the one side.
        Origin::Proxy => Some(0),
        _ => None,
    };
    if let Some(side) = ws_side
        && crate::xmpp::is_ws_path(req.uri().path())
    {
        *app.state().request_counts.entry("/ws/".into()).or_insert(0) += 1;
        if let (Some(status), _) = app.faults.for_path("/ws/") {
            return into_hyper(crate::router::injected(app, origin, status));
        }
        if let Some(refused) = crate::router::out_of_service(app, side, "/ws/") {
            return into_hyper(refused);
        }
        if !app.xmpp.transport.websocket() {
            return into_hyper(Resp::api_error(
                404,
                "Not Found",
                "no WebSocket here (--xmpp-transport)",
            ));
        }
        return into_hyper(crate::xmpp::accept(app.clone(), side, req));
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return into_hyper(Resp::api_error(
                413,
                "Payload Too Large",
                &format!("request body over {MAX_BODY} bytes or unreadable"),
            ));
        }
    };
    let req = Req::new(
        parts.method,
        parts.uri.path(),
        parts.uri.query(),
        parts.headers,
        body,
    );
    if let Some(side) = ws_side
        && crate::bosh::is_bosh_path(&req.path)
    {
        *app.state()
            .request_counts
            .entry("/http-bind/".into())
            .or_insert(0) += 1;
        if let (Some(status), _) = app.faults.for_path("/http-bind/") {
            return into_hyper(crate::router::injected(app, origin, status));
        }
        if let Some(refused) = crate::router::out_of_service(app, side, "/http-bind/") {
            return into_hyper(refused);
        }
        if !app.xmpp.transport.bosh() {
            return into_hyper(Resp::api_error(
                404,
                "Not Found",
                "no BOSH here (--xmpp-transport)",
            ));
        }
        return into_hyper(crate::bosh::handle(app, side, &req).await);
    }
    into_hyper(crate::router::handle(app, origin, req).await)
}

fn into_hyper(r: Resp) -> Response<Answer> {
    let mut b = Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let body = if r.cut {
        let full = r.body.len().max(2);
        let mut half = r.body;
        half.truncate(full / 2);
        Either::Right(CutBody {
            half: Some(Bytes::from(half)),
            full: full as u64,
        })
    } else {
        Either::Left(Full::new(Bytes::from(r.body)))
    };
    b.body(body).unwrap_or_else(|_| {
        // Only a header with bytes hyper refuses can land here; answer plainly instead.
        let mut resp = Response::new(Either::Left(Full::new(Bytes::from_static(
            b"internal error",
        ))));
        *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}
