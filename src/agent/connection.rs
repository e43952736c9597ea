//! One client connection: `hello` first, then requests one at a time, with a line limit, read
//! and idle timeouts, a bounded write queue, and subscription pushes. Whatever a client sends
//! or fails to send, it only ever affects its own connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, mpsc, watch};

use super::keeper::{Change, Keeper};
use crate::ipc::protocol::{
    self, Ack, CAPABILITIES, EVENT_LOGGED_OUT, EVENT_TOKEN, Event, HelloInfo, Id, MAX_LINE,
    Request, ResultBody, VERSION, WireError, kind,
};

/// Limits on one connection.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_line: usize,
    /// A started line must be complete within this (slow senders are dropped).
    pub read_timeout: Duration,
    /// `hello` must arrive within this.
    pub hello_timeout: Duration,
    /// A connection without requests (and without a subscription) is closed after this.
    pub idle_timeout: Duration,
    /// A write the client does not read within this closes the connection.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: MAX_LINE,
            read_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// What the connection shares with the server.
pub struct Context {
    pub keeper: Arc<Keeper>,
    pub profile: String,
    pub limits: Limits,
    /// Set to true by a `stop` request.
    pub stop: watch::Sender<bool>,
    /// The `desktop_*` operations' cached client and lookups (issue 11).
    pub desktop: super::desktop::Desktop,
}

enum ReadError {
    Eof,
    Io,
    TooLong,
    Timeout,
    Idle,
}

/// Reads one line: waiting up to `idle` for its first byte, then `read_timeout` for the rest.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limits: &Limits,
    idle: Option<Duration>,
) -> Result<(), ReadError> {
    buf.clear();
    let first = async { r.fill_buf().await.map(|b| b.is_empty()) };
    let empty = match idle {
        Some(d) => tokio::time::timeout(d, first)
            .await
            .map_err(|_| ReadError::Idle)?,
        None => first.await,
    }
    .map_err(|_| ReadError::Io)?;
    if empty {
        return Err(ReadError::Eof);
    }
    let rest = async {
        loop {
            let chunk = r.fill_buf().await.map_err(|_| ReadError::Io)?;
            if chunk.is_empty() {
                return Err(ReadError::Eof); // disconnected mid-line
            }
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if buf.len() + take > limits.max_line {
                return Err(ReadError::TooLong);
            }
            buf.extend_from_slice(&chunk[..take]);
            r.consume(take);
            if done {
                return Ok(());
            }
        }
    };
    tokio::time::timeout(limits.read_timeout, rest)
        .await
        .map_err(|_| ReadError::Timeout)?
}

/// Serves one connection until the client leaves, misbehaves, or the agent stops.
pub async fn serve<S>(stream: S, ctx: Arc<Context>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, mut w) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(8 * 1024, r);
    // The writer owns the socket's write half; everyone else queues lines for it.
    let (tx, mut rx) = mpsc::channel::<String>(32);
    let write_timeout = ctx.limits.write_timeout;
    let writer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            let wrote = tokio::time::timeout(write_timeout, async {
                w.write_all(line.as_bytes()).await?;
                w.flush().await
            })
            .await;
            if !matches!(wrote, Ok(Ok(()))) {
                break;
            }
        }
        let _ = tokio::time::timeout(write_timeout, w.shutdown()).await;
    });
    let mut subscription: Option<tokio::task::JoinHandle<()>> = None;
    let mut hello_done = false;
    let mut stop_after = false;
    let mut buf = Vec::with_capacity(256);
    loop {
        let idle = if !hello_done {
            Some(ctx.limits.hello_timeout)
        } else if subscription.is_some() {
            None
        } else {
            Some(ctx.limits.idle_timeout)
        };
        match read_line(&mut reader, &mut buf, &ctx.limits, idle).await {
            Ok(()) => {}
            Err(ReadError::Eof | ReadError::Io) => break,
            Err(e) => {
                let (k, m) = match e {
                    ReadError::TooLong => (
                        kind::LINE_TOO_LONG,
                        format!("a line may hold at most {} bytes", ctx.limits.max_line),
                    ),
                    ReadError::Idle if !hello_done => {
                        (kind::HELLO_REQUIRED, "no hello in time".to_string())
                    }
                    ReadError::Idle => (kind::READ_TIMEOUT, "idle for too long".to_string()),
                    _ => (
                        kind::READ_TIMEOUT,
                        "the request line did not complete in time".to_string(),
                    ),
                };
                let _ = tx.try_send(protocol::error_line(None, WireError::new(k, m)));
                break;
            }
        }
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            continue; // blank lines are keep-alives
        }
        let env = match protocol::parse_request(&buf) {
            Ok(env) => env,
            Err((id, e)) => {
                if tx.send(protocol::error_line(id, e)).await.is_err() || !hello_done {
                    break;
                }
                continue;
            }
        };
        let id = env.id;
        if !hello_done {
            let Request::Hello { v, client } = env.request else {
                let _ = tx
                    .send(protocol::error_line(
                        id,
                        WireError::new(kind::HELLO_REQUIRED, "send hello first"),
                    ))
                    .await;
                break;
            };
            if v != VERSION {
                let _ = tx
                    .send(protocol::error_line(
                        id,
                        WireError::new(
                            kind::VERSION_MISMATCH,
                            format!("this agent speaks protocol {VERSION}, the client {v}"),
                        ),
                    ))
                    .await;
                break;
            }
            tracing::debug!(
                "client {:?} connected",
                client
                    .as_deref()
                    .unwrap_or("?")
                    .chars()
                    .take(64)
                    .collect::<String>()
            );
            hello_done = true;
            let hello = hello_info(&ctx);
            if tx
                .send(protocol::ok_line(id, ResultBody::Hello(hello)))
                .await
                .is_err()
            {
                break;
            }
            continue;
        }
        let reply = match env.request {
            Request::Hello { .. } => protocol::ok_line(id, ResultBody::Hello(hello_info(&ctx))),
            Request::Token { min_valid } => {
                match ctx.keeper.token(Duration::from_secs(min_valid)).await {
                    Ok(t) => protocol::ok_line(id, ResultBody::Token(t)),
                    Err(e) => protocol::error_line(id, e),
                }
            }
            Request::Refresh {} => match ctx.keeper.refresh().await {
                Ok(t) => protocol::ok_line(id, ResultBody::Token(t)),
                Err(e) => protocol::error_line(id, e),
            },
            Request::Status {} => protocol::ok_line(
                id,
                ResultBody::Status(Box::new(ctx.keeper.status(&ctx.profile))),
            ),
            Request::Logout {} => match ctx.keeper.logout().await {
                Ok(()) => protocol::ok_line(id, ResultBody::Ack(Ack { ok: true })),
                Err(e) => protocol::error_line(id, WireError::from(&e)),
            },
            Request::Subscribe {} => {
                if subscription.is_none() {
                    subscription = Some(tokio::spawn(forward(
                        ctx.keeper.clone(),
                        ctx.keeper.subscribe(),
                        id.clone(),
                        tx.clone(),
                    )));
                }
                protocol::ok_line(id, ResultBody::Ack(Ack { ok: true }))
            }
            Request::Stop {} => {
                tracing::info!("stop requested over the pipe");
                stop_after = true;
                protocol::ok_line(id, ResultBody::Ack(Ack { ok: true }))
            }
            // desktop (issue 11): one arm per operation, the work is in `agent::desktop`.
            Request::DesktopSignIn(r) => ctx.desktop.sign_in(&ctx.keeper, id, r).await,
            Request::DesktopState(r) => ctx.desktop.state(&ctx.keeper, id, r).await,
            Request::DesktopSignOut(r) => ctx.desktop.sign_out(&ctx.keeper, id, r).await,
            Request::DesktopUser(r) => ctx.desktop.user(&ctx.keeper, id, r).await,
            Request::DesktopReasons(r) => ctx.desktop.reasons(&ctx.keeper, id, r).await,
            Request::Acqueon(m) => ctx.desktop.acqueon(&ctx.keeper, id, m).await,
        };
        if tx.send(reply).await.is_err() || stop_after {
            break;
        }
    }
    if let Some(s) = subscription {
        s.abort();
    }
    drop(tx);
    let _ = writer.await;
    // Only now: the acknowledgement has been written before the agent goes away.
    if stop_after {
        let _ = ctx.stop.send(true);
    }
}

fn hello_info(ctx: &Context) -> HelloInfo {
    HelloInfo {
        v: VERSION,
        agent: concat!("finesse-sso/", env!("CARGO_PKG_VERSION")).into(),
        capabilities: CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        pid: std::process::id(),
        profile: ctx.profile.clone(),
        server: ctx.keeper.server().to_string(),
        user: ctx.keeper.target().user.clone(),
    }
}

/// Pushes the current token (if valid) and then every change to one subscriber.
async fn forward(
    keeper: Arc<Keeper>,
    mut changes: broadcast::Receiver<Change>,
    id: Option<Id>,
    tx: mpsc::Sender<String>,
) {
    let event = |h: &super::held::Held| Event {
        event: EVENT_TOKEN.into(),
        id: id.clone(),
        result: Some(keeper.info(h)),
    };
    let mut last_serial = 0;
    if let Some(h) = keeper.current(Duration::ZERO) {
        last_serial = h.serial;
        if tx.send(protocol::line(&event(&h))).await.is_err() {
            return;
        }
    }
    loop {
        let line = match changes.recv().await {
            Ok(Change::Token(h)) if h.serial > last_serial => {
                last_serial = h.serial;
                protocol::line(&event(&h))
            }
            Ok(Change::Token(_)) => continue,
            Ok(Change::LoggedOut) => protocol::line(&Event {
                event: EVENT_LOGGED_OUT.into(),
                id: id.clone(),
                result: None,
            }),
            Ok(Change::User(u)) => super::desktop::user_event(id.clone(), &u),
            // Missed some: the newest token is what matters.
            Err(broadcast::error::RecvError::Lagged(_)) => match keeper.current(Duration::ZERO) {
                Some(h) if h.serial > last_serial => {
                    last_serial = h.serial;
                    protocol::line(&event(&h))
                }
                _ => continue,
            },
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if tx.send(line).await.is_err() {
            return;
        }
    }
}
