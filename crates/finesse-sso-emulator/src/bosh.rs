//! Finesse's notification service over BOSH (XEP-0124 with XEP-0206) at `/http-bind/` on the
//! Finesse port, as 12.0/12.5 served it on 7443: POSTs of `text/xml` `<body/>`s, a session per
//! `sid` whose task runs the same XMPP session core as the WebSocket service (`xmpp::Session`),
//! `rid` strictly one more each request (one request early may wait for the one due), one request held up to `wait`, the restart after SASL.
//! Strict: what a client gets wrong ends the session with a terminate and a recorded violation.

use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

use crate::app::App;
use crate::bosh_body::{self as body, ClientBody, Exchange};
use crate::request::Req;
use crate::response::Resp;
use crate::state::random_id;
use crate::xmpp::{DOMAIN, End, Session, Timers};
use crate::xmpp_stanza::{self as st, Inbound};

/// How long a session lives with no request held (the `inactivity` it announces).
const INACTIVITY: Duration = Duration::from_secs(60);
const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

pub(crate) fn is_bosh_path(path: &str) -> bool {
    path == "/http-bind/" || path == "/http-bind"
}

/// One POST to `/http-bind/`: a session creation, or a request of a live session (answered
/// when its session task says so: at once, or after holding it).
pub(crate) async fn handle(app: &Arc<App>, side: usize, req: &Req) -> Resp {
    let refuse = |status: u16, why: String| {
        app.xmpp.violation(format!("BOSH: {why}"));
        Resp::api_error(status, "Bad Request", &why)
    };
    if req.method != Method::POST {
        return refuse(405, format!("{} (BOSH is POST only)", req.method))
            .with_header("allow", "POST");
    }
    if !req.content_type().starts_with("text/xml") {
        let ct = req.content_type();
        return refuse(
            415,
            format!("Content-Type {ct:?}, not text/xml (XEP-0124 §3)"),
        );
    }
    if req.body.len() > st::MAX_CLIENT_FRAME {
        let len = req.body.len();
        return refuse(
            413,
            format!("a body of {len} bytes (at most {})", st::MAX_CLIENT_FRAME),
        );
    }
    let parsed = std::str::from_utf8(&req.body)
        .map_err(|_| "the body is not UTF-8".to_string())
        .and_then(body::parse);
    let b = match parsed {
        Ok(b) => b,
        Err(why) => {
            app.xmpp.violation(format!("BOSH: {why}"));
            return answer(body::terminate(Some("bad-request"), ""));
        }
    };
    let Some(sid) = b.sid.clone() else {
        return answer(create(app, side, b));
    };
    // An unknown or ended session: XEP-0124 §17.3 (a client learns of a drop this way).
    let item_not_found = || answer(body::terminate(Some("item-not-found"), ""));
    let Some(inbox) = app.xmpp.bosh_session(&sid) else {
        return item_not_found();
    };
    let (reply, answered) = oneshot::channel();
    if inbox.send(Exchange { body: b, reply }).await.is_err() {
        return item_not_found();
    }
    match answered.await {
        Ok(text) => answer(text),
        Err(_) => item_not_found(),
    }
}

fn answer(text: String) -> Resp {
    Resp::new(200, CONTENT_TYPE, text)
}

/// Session creation (XEP-0124 §7.1, XEP-0206 §5): `rid`, `to` (the XMPP domain),
/// `xmpp:version="1.0"`, `wait` and `hold="1"`; the answer carries the SASL features.
fn create(app: &Arc<App>, side: usize, b: ClientBody) -> String {
    let fail = |condition: &str, why: String| {
        app.xmpp.violation(format!("BOSH session creation: {why}"));
        body::terminate(Some(condition), "")
    };
    if b.restart || b.terminate || !b.stanzas.is_empty() {
        return fail(
            "bad-request",
            "a creation request carries no restart, terminate or stanza".into(),
        );
    }
    let (Some(wait), Some(hold)) = (b.wait, b.hold) else {
        return fail(
            "bad-request",
            format!("wait={:?} hold={:?}: both are required", b.wait, b.hold),
        );
    };
    if hold != 1 {
        return fail(
            "bad-request",
            format!("hold={hold}: Finesse holds one request"),
        );
    }
    let mut session = Session::new(app.clone(), side, false);
    let mut out = Vec::new();
    let open = Inbound::Open {
        to: b.to.clone(),
        version: b.version.clone(),
    };
    if let Some(End::Error(condition, text)) = session.on_inbound(&mut out, open) {
        let why = format!("{condition}: {text}");
        session.finish(why.clone());
        let condition = if condition == "host-unknown" {
            "host-unknown"
        } else {
            "bad-request"
        };
        return fail(condition, why);
    }
    let wait = Duration::from_secs(wait)
        .min(app.xmpp.bosh_wait)
        .max(Duration::from_secs(1));
    let sid = random_id(16);
    let (inbox, requests) = mpsc::channel(4);
    app.xmpp.bosh_open(sid.clone(), inbox);
    let task = Bosh {
        app: app.clone(),
        sid: sid.clone(),
        session,
        next_rid: b.rid + 1,
        wait,
        held: None,
        out: Vec::new(),
        ahead: None,
    };
    tokio::spawn(task.run(requests));
    body::created(
        &sid,
        wait.as_secs(),
        INACTIVITY.as_secs(),
        DOMAIN,
        &out.concat(),
    )
}

/// Why a BOSH session stops: the XMPP session ended, or the client broke BOSH itself.
enum Stop {
    Xmpp(End),
    Bosh(&'static str, String),
}

struct Bosh {
    app: Arc<App>,
    sid: String,
    session: Session,
    next_rid: u64,
    wait: Duration,
    /// The request held for the server's next stanzas, and until when.
    held: Option<(oneshot::Sender<String>, Instant)>,
    /// Stanzas for the client, sent with the next answer.
    out: Vec<String>,
    /// A request that arrived one `rid` early (two in flight race): handled after the one due
    /// (XEP-0124 §14.1).
    ahead: Option<Exchange>,
}

impl Bosh {
    async fn run(mut self, mut requests: mpsc::Receiver<Exchange>) {
        let mut events = self.app.xmpp.subscribe();
        let mut kill = self.app.xmpp.kill_switch();
        let mut timers = Timers::idle();
        let far = Timers::idle().ping_at;
        let mut idle_since = Instant::now();
        let stop = loop {
            let held_until = self.held.as_ref().map_or(far, |h| h.1);
            let idle_until = match self.held {
                Some(_) => far,
                None => idle_since + INACTIVITY,
            };
            let step = tokio::select! {
                ex = requests.recv() => match ex {
                    None => Some(Stop::Xmpp(End::Dropped("shut down"))),
                    Some(ex) => {
                        let was = self.session.is_bound();
                        let step = self.on_request(ex);
                        if !was && self.session.is_bound() {
                            timers = Timers::bound(&self.app);
                        }
                        step
                    }
                },
                published = events.recv() => match published {
                    Ok(p) => self.session.on_published(&mut self.out, &p).map(Stop::Xmpp),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => Some(Stop::Xmpp(End::Dropped("shut down"))),
                },
                _ = sleep_until(timers.ping_at) => {
                    timers.ping_at = Instant::now() + self.app.xmpp.server_ping();
                    self.session.on_ping_due(&mut self.out).map(Stop::Xmpp)
                }
                _ = sleep_until(timers.drop_at) => Some(Stop::Xmpp(End::Dropped("--xmpp-drop-after"))),
                _ = kill.changed() => Some(Stop::Xmpp(End::Dropped("dropped (fault knob)"))),
                _ = sleep_until(held_until) => {
                    self.answer(body::reply(""));
                    None
                }
                _ = sleep_until(idle_until) => Some(Stop::Xmpp(End::Dropped("BOSH inactivity: no request held"))),
            };
            if step.is_none() && !self.out.is_empty() && self.held.is_some() {
                let payload = self.out.drain(..).collect::<String>();
                self.answer(body::reply(&payload));
            }
            if self.held.is_none() {
                idle_since = Instant::now();
            }
            if let Some(stop) = step {
                break stop;
            }
        };
        // New requests learn of the end as `item-not-found`; the held one gets the reason.
        self.app.xmpp.bosh_close(&self.sid);
        let payload = self.out.drain(..).collect::<String>();
        let why = match stop {
            Stop::Xmpp(End::Closed(why)) => {
                self.answer(body::terminate(None, &payload));
                why.to_string()
            }
            Stop::Xmpp(End::Error(condition, text)) => {
                self.app.xmpp.violation(format!("{condition}: {text}"));
                let error = st::stream_error(condition, &text);
                self.answer(body::terminate(
                    Some("remote-stream-error"),
                    &(payload + &error),
                ));
                format!("{condition}: {text}")
            }
            Stop::Xmpp(End::Dropped(why)) => {
                self.answer(body::terminate(Some("remote-connection-failed"), ""));
                why.to_string()
            }
            Stop::Bosh(condition, text) => {
                self.app.xmpp.violation(format!("BOSH {condition}: {text}"));
                self.answer(body::terminate(Some(condition), ""));
                format!("BOSH {condition}: {text}")
            }
        };
        self.session.finish(why);
    }

    /// One request; one that is a `rid` early waits for the one due.
    fn on_request(&mut self, ex: Exchange) -> Option<Stop> {
        if ex.body.rid == self.next_rid + 1 && self.ahead.is_none() {
            self.ahead = Some(ex);
            return None;
        }
        if let Some(stop) = self.on_due(ex) {
            return Some(stop);
        }
        match self.ahead.take() {
            Some(ex) => self.on_due(ex),
            None => None,
        }
    }

    /// The request due: the held one (if any) is answered, this one is held; then its `rid`, a
    /// restart, its stanzas and a terminate are handled in that order.
    fn on_due(&mut self, ex: Exchange) -> Option<Stop> {
        let payload = self.out.drain(..).collect::<String>();
        self.answer(body::reply(&payload));
        self.held = Some((ex.reply, Instant::now() + self.wait));
        let b = ex.body;
        if b.rid != self.next_rid {
            let want = self.next_rid;
            return Some(Stop::Bosh(
                "item-not-found",
                format!(
                    "rid {} where {want} was due (one more than the last)",
                    b.rid
                ),
            ));
        }
        self.next_rid += 1;
        if b.restart {
            if !b.stanzas.is_empty() {
                return Some(Stop::Bosh(
                    "bad-request",
                    "a restart request carries stanzas".into(),
                ));
            }
            let open = Inbound::Open {
                to: b.to,
                version: b.version,
            };
            if let Some(end) = self.session.on_inbound(&mut self.out, open) {
                return Some(Stop::Xmpp(end));
            }
        }
        for stanza in &b.stanzas {
            if let Some(end) = self.session.on_frame(&mut self.out, stanza) {
                return Some(Stop::Xmpp(end));
            }
        }
        b.terminate
            .then_some(Stop::Xmpp(End::Closed("BOSH terminate")))
    }

    fn answer(&mut self, text: String) {
        if let Some((reply, _)) = self.held.take() {
            // The client may have gone; the session learns that from its inactivity.
            let _ = reply.send(text);
        }
    }
}
