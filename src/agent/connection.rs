//! One client connection: `hello` first, then requests one at a time, with a line limit, read,
//! idle and write timeouts, and subscription pushes. Whatever a client sends or fails to send
//! (or to read), it only ever affects its own connection.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use super::keeper::{Change, Keeper};
use crate::error::ErrorKind;
use crate::ipc::protocol::{
    self, Ack, CAPABILITIES, EVENT_LOGGED_OUT, EVENT_TOKEN, Envelope, Event, HelloInfo, Id,
    MAX_LINE, Request, ResultBody, VERSION, WireError,
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
    /// The `desktop_*` operations' cached client and lookups.
    pub desktop: super::desktop::Desktop,
}

enum ReadError {
    Eof,
    Io,
    TooLong,
    Timeout,
    Idle,
}

/// The hello or idle deadline of one connection: one timer, armed once and moved only when it
/// fires before the deadline has really passed. A new timer per request cost a timer-wheel
/// insertion and removal on every answer (docs/benchmarks.md "The pipe").
struct IdleTimer {
    sleep: Pin<Box<Sleep>>,
    /// When the connection began waiting for its current line.
    since: Instant,
}

impl IdleTimer {
    fn new(first_limit: Duration) -> Self {
        let since = Instant::now();
        IdleTimer {
            sleep: Box::pin(tokio::time::sleep_until(since + first_limit)),
            since,
        }
    }

    /// Resolves once `limit` has passed since `since`.
    async fn expired(&mut self, limit: Duration) {
        loop {
            let due = self.since + limit;
            if self.sleep.deadline() > due {
                self.sleep.as_mut().reset(due); // a shorter limit (not in use today)
            }
            self.sleep.as_mut().await;
            if Instant::now() >= due {
                return;
            }
            self.sleep.as_mut().reset(due);
        }
    }
}

/// Reads one line: waiting up to `idle` (from now) for its first byte, then `read_timeout` for
/// the rest.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limits: &Limits,
    idle: Option<(&mut IdleTimer, Duration)>,
) -> Result<(), ReadError> {
    buf.clear();
    let first = async { r.fill_buf().await.map(|b| b.is_empty()) };
    let empty = match idle {
        Some((timer, limit)) => {
            timer.since = Instant::now();
            tokio::select! {
                biased;
                got = first => got,
                () = timer.expired(limit) => return Err(ReadError::Idle),
            }
        }
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

/// The socket's write half, shared by the replies and the subscription's pushes: each line is
/// written whole under the lock, within `timeout`, by whoever has it (no writer task: handing
/// every answer to another task cost a wake-up and a poll per answer). A client that does not
/// read in time breaks it, which ends the connection.
struct Out<W> {
    w: Mutex<W>,
    timeout: Duration,
    broken: AtomicBool,
}

impl<W: AsyncWrite + Unpin> Out<W> {
    fn new(w: W, timeout: Duration) -> Self {
        Out {
            w: Mutex::new(w),
            timeout,
            broken: AtomicBool::new(false),
        }
    }

    /// Writes one line; false once the client has failed to take a line in time.
    async fn send(&self, line: &str) -> bool {
        if self.broken.load(Ordering::Relaxed) {
            return false;
        }
        let wrote = tokio::time::timeout(self.timeout, async {
            let mut w = self.w.lock().await;
            w.write_all(line.as_bytes()).await?;
            w.flush().await
        })
        .await;
        let ok = matches!(wrote, Ok(Ok(())));
        if !ok {
            // Half a line may be out: nothing more goes after it.
            self.broken.store(true, Ordering::Relaxed);
        }
        ok
    }

    async fn close(&self) {
        let _ = tokio::time::timeout(self.timeout, async { self.w.lock().await.shutdown().await })
            .await;
    }
}

/// What one connection holds between requests.
struct Session<W> {
    out: Arc<Out<W>>,
    hello_done: bool,
    subscription: Option<JoinHandle<()>>,
    /// A `stop` was acknowledged: close, then tell the agent to stop.
    stop_after: bool,
}

/// Serves one connection until the client leaves, misbehaves, or the agent stops: reads
/// lines, lets `handshake` answer the first request and `dispatch` every later one.
pub async fn serve<S>(stream: S, ctx: Arc<Context>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(8 * 1024, r);
    let mut session = Session {
        out: Arc::new(Out::new(w, ctx.limits.write_timeout)),
        hello_done: false,
        subscription: None,
        stop_after: false,
    };
    let mut timer = IdleTimer::new(ctx.limits.hello_timeout);
    let mut buf = Vec::with_capacity(256);
    loop {
        let idle = if !session.hello_done {
            Some((&mut timer, ctx.limits.hello_timeout))
        } else if session.subscription.is_some() {
            None
        } else {
            Some((&mut timer, ctx.limits.idle_timeout))
        };
        match read_line(&mut reader, &mut buf, &ctx.limits, idle).await {
            Ok(()) => {}
            Err(ReadError::Eof | ReadError::Io) => break,
            Err(e) => {
                let failure = read_failure(e, session.hello_done, &ctx.limits);
                session.out.send(&protocol::error_line(None, failure)).await;
                break;
            }
        }
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            continue; // blank lines are keep-alives
        }
        let env = match protocol::parse_request(&buf) {
            Ok(env) => env,
            Err((id, e)) => {
                let sent = session.out.send(&protocol::error_line(id, e)).await;
                if !sent || !session.hello_done {
                    break;
                }
                continue;
            }
        };
        let (reply, go_on) = if session.hello_done {
            let reply = dispatch(&ctx, &mut session, env).await;
            (reply, !session.stop_after)
        } else {
            match handshake(&ctx, env) {
                Ok(hello) => {
                    session.hello_done = true;
                    (hello, true)
                }
                Err(refusal) => (refusal, false),
            }
        };
        if !session.out.send(&reply).await || !go_on {
            break;
        }
    }
    if let Some(s) = session.subscription {
        s.abort();
    }
    session.out.close().await;
    // Only now: the acknowledgement has been written before the agent goes away.
    if session.stop_after {
        let _ = ctx.stop.send(true);
    }
}

/// The error a client gets before a read failure closes its connection.
fn read_failure(e: ReadError, hello_done: bool, limits: &Limits) -> WireError {
    let (kind, message) = match e {
        ReadError::TooLong => (
            ErrorKind::LineTooLong,
            format!("a line may hold at most {} bytes", limits.max_line),
        ),
        ReadError::Idle if !hello_done => {
            (ErrorKind::HelloRequired, "no hello in time".to_string())
        }
        ReadError::Idle => (ErrorKind::ReadTimeout, "idle for too long".to_string()),
        ReadError::Timeout | ReadError::Eof | ReadError::Io => (
            ErrorKind::ReadTimeout,
            "the request line did not complete in time".to_string(),
        ),
    };
    WireError::new(kind, message)
}

/// The first request must be `hello` in our major version: `Ok` with the hello reply, or
/// `Err` with the refusal, after which the connection closes.
fn handshake(ctx: &Context, env: Envelope) -> Result<String, String> {
    let id = env.id;
    let Request::Hello { v, client } = env.request else {
        return Err(protocol::error_line(
            id,
            WireError::new(ErrorKind::HelloRequired, "send hello first"),
        ));
    };
    if v != VERSION {
        return Err(protocol::error_line(
            id,
            WireError::new(
                ErrorKind::VersionMismatch,
                format!("this agent speaks protocol {VERSION}, the client {v}"),
            ),
        ));
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
    Ok(protocol::ok_line(id, ResultBody::Hello(hello_info(ctx))))
}

/// Answers one request after the handshake (the reply line). `subscribe` starts the pushes;
/// `stop` marks the session to close and stop the agent once the reply is written.
async fn dispatch<W>(ctx: &Arc<Context>, session: &mut Session<W>, env: Envelope) -> String
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let id = env.id;
    match env.request {
        Request::Hello { .. } => protocol::ok_line(id, ResultBody::Hello(hello_info(ctx))),
        Request::Token { min_valid } => {
            let min_valid = Duration::from_secs(min_valid);
            // The held token's answer is made once per second, not once per client.
            if let Some(json) = ctx.keeper.held_answer(min_valid) {
                return protocol::ok_line_json(id.as_ref(), &json);
            }
            match ctx.keeper.token(min_valid).await {
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
            if session.subscription.is_none() {
                session.subscription = Some(tokio::spawn(forward(
                    ctx.keeper.clone(),
                    ctx.keeper.subscribe(),
                    id.clone(),
                    session.out.clone(),
                )));
            }
            protocol::ok_line(id, ResultBody::Ack(Ack { ok: true }))
        }
        Request::Stop {} => {
            tracing::info!("stop requested over the pipe");
            session.stop_after = true;
            protocol::ok_line(id, ResultBody::Ack(Ack { ok: true }))
        }
        // The Finesse desktop: one arm per operation, the work is in `agent::desktop`.
        Request::DesktopSignIn(r) => ctx.desktop.sign_in(&ctx.keeper, id, r).await,
        Request::DesktopState(r) => ctx.desktop.state(&ctx.keeper, id, r).await,
        Request::DesktopSignOut(r) => ctx.desktop.sign_out(&ctx.keeper, id, r).await,
        Request::DesktopUser(r) => ctx.desktop.user(&ctx.keeper, id, r).await,
        Request::DesktopReasons(r) => ctx.desktop.reasons(&ctx.keeper, id, r).await,
        Request::Acqueon(m) => ctx.desktop.acqueon(&ctx.keeper, id, m).await,
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
async fn forward<W: AsyncWrite + Unpin>(
    keeper: Arc<Keeper>,
    mut changes: broadcast::Receiver<Change>,
    id: Option<Id>,
    out: Arc<Out<W>>,
) {
    let event = |h: &super::held::Held| Event {
        event: EVENT_TOKEN.into(),
        id: id.clone(),
        result: Some(keeper.info(h)),
    };
    let mut last_serial = 0;
    if let Some(h) = keeper.current(Duration::ZERO) {
        last_serial = h.serial;
        if !out.send(&protocol::line(&event(&h))).await {
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
        if !out.send(&line).await {
            return;
        }
    }
}
