//! One client connection: `hello` first, then requests one at a time, with a line limit, read,
//! idle and write timeouts, and subscription pushes. Whatever a client sends or fails to send
//! (or to read), it only ever affects its own connection.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use super::keeper::Keeper;
use super::notifications::{Hold, Notifications, choose};
use super::out::Out;
use crate::error::ErrorKind;
use crate::ipc::protocol::{
    self, Ack, CAPABILITIES, Envelope, HelloInfo, MAX_LINE, Request, ResultBody, VERSION, WireError,
};
use crate::window::placement::{self, Placement};

/// How long `subscribe` waits for Finesse to say whether the user is SSO.
const MODE_WAIT: Duration = Duration::from_secs(5);

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
    /// The profile's one Finesse notification session, held by `notifications` subscribers.
    pub notifications: Arc<Notifications>,
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

/// What one connection holds between requests.
struct Session<W> {
    out: Arc<Out<W>>,
    hello_done: bool,
    subscription: Option<JoinHandle<()>>,
    /// This client's claim on the notification session (released when the connection ends).
    hold: Option<Hold>,
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
        hold: None,
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
    drop(session.hold);
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
        Request::Token {
            min_valid,
            parent_window,
            activation_token,
        } => {
            let placement = Placement {
                parent_window,
                activation_token: placement::activation_token(activation_token),
            };
            if !placement.is_empty() {
                ctx.keeper.place_next_window(placement);
            }
            let min_valid = Duration::from_secs(min_valid);
            // The held token's answer is made once per second, not once per client; the same
            // bytes `ok_line` makes of `keeper.token`'s answer (tests/it/agent.rs).
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
        Request::Subscribe(r) => {
            if !matches!(r.format.as_deref(), None | Some("native" | "acqueon")) {
                return protocol::error_line(
                    id,
                    WireError::new(ErrorKind::BadRequest, "format is native or acqueon"),
                );
            }
            if r.password.is_some() && !r.notifications {
                return protocol::error_line(
                    id,
                    WireError::new(
                        ErrorKind::Usage,
                        "`password` goes with `notifications: true` (a NON_SSO user's \
                         notification session) only",
                    ),
                );
            }
            // The credential of the notification session, checked before anything starts:
            // an SSO user's password and a NON_SSO user without one are refused here.
            let live = session.hold.as_ref().is_some_and(Hold::live);
            let auth = if r.notifications {
                // Asked once, then kept; a Finesse that does not answer soon leaves the check
                // to the session (at its first connect) rather than holding the answer.
                let sso = tokio::time::timeout(MODE_WAIT, ctx.desktop.uses_sso(&ctx.keeper))
                    .await
                    .unwrap_or_else(|_| {
                        Err(crate::error::Error::Internal(
                            "Finesse did not say in time whether the user is SSO".into(),
                        ))
                    });
                match choose(&ctx.keeper.target().user, sso, r.password.clone()) {
                    Ok(a) => (!live).then_some(a),
                    Err(e) => return protocol::error_line(id, WireError::from(&e)),
                }
            } else {
                None
            };
            let hold = |auth| ctx.notifications.hold(&ctx.keeper, &ctx.desktop.feed, auth);
            if session.subscription.is_none() {
                // Subscribed to the broadcast before the session starts: nothing is missed.
                let changes = ctx.keeper.subscribe();
                if let Some(auth) = auth {
                    match hold(auth) {
                        Ok(h) => session.hold = Some(h),
                        Err(e) => return protocol::error_line(id, WireError::from(&e)),
                    }
                }
                session.subscription = Some(tokio::spawn(super::push::forward(
                    ctx.keeper.clone(),
                    ctx.desktop.feed.clone(),
                    changes,
                    super::push::Wants::of(id.clone(), &r),
                    session.out.clone(),
                )));
            } else if let Some(auth) = auth {
                // Again after the session ended by itself (a refused password): a new claim.
                match hold(auth) {
                    Ok(h) => session.hold = Some(h),
                    Err(e) => return protocol::error_line(id, WireError::from(&e)),
                }
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
