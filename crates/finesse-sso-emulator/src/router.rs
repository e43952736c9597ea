//! The dispatch of one request to its origin's handlers, with counting, injected delays and
//! failures, cut answers and the request log around it.

use std::time::Instant;

use crate::app::{App, Origin};
use crate::log::{Entry, now_rfc3339};
use crate::request::Req;
use crate::response::Resp;
use crate::{finesse, idp, idp_cert, idp_negotiate, ids};

/// Handles one request end to end: count, delay, injected failure or the real handler, log.
pub(crate) async fn handle(app: &App, origin: Origin, req: Req) -> Resp {
    let started = Instant::now();
    let origin = match origin {
        Origin::Proxy => match Origin::behind_proxy(&req.path) {
            Some(o) => o,
            None => return Resp::html(404, crate::pages::message("Not found", "not proxied")),
        },
        o => o,
    };
    *app.state()
        .request_counts
        .entry(req.path.clone())
        .or_insert(0) += 1;
    if let Origin::Finesse(side) = origin
        && let Some(refused) = out_of_service(app, side, &req.path)
    {
        return refused;
    }
    app.faults.wait_while_held(&req.path).await;
    let (fail, delay) = app.faults.for_path(&req.path);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let resp = match fail {
        Some(status) => injected(app, origin, status),
        None => match origin {
            Origin::Finesse(side) => finesse::handle(app, side, &req),
            Origin::Ids => ids::handle(app, &req),
            Origin::Idp if req.path == idp_negotiate::PATH => idp_negotiate::handle(app, &req),
            Origin::Idp => idp::handle(app, &req),
            Origin::IdpCert => idp_cert::handle(app, &req),
            Origin::Proxy => Resp::html(500, crate::pages::message("Proxy", "unrouted")),
        },
    };
    let resp = if app.faults.cut(&req.path) {
        cut(resp)
    } else {
        resp
    };
    app.log.record(&Entry {
        time: now_rfc3339(),
        origin: origin.as_str(),
        method: req.method.as_str(),
        path: &req.path,
        query: req.query.iter().map(|(k, _)| k.clone()).collect(),
        form: req.form_names(),
        cookies: req.cookies.iter().map(|(k, _)| k.clone()).collect(),
        status: resp.status,
        ms: started.elapsed().as_millis() as u64,
    });
    resp
}

/// Marks the answer to be cut halfway (the server sends half, then drops the connection).
fn cut(mut resp: Resp) -> Resp {
    resp.cut = true;
    resp
}

/// An injected failure. 418 and 429 are the VPN-less proxy's client block and rate limit
/// (reference §5, §7.1): an nginx page, with `Retry-After` when `--retry-after` is set.
pub(crate) fn injected(app: &App, origin: Origin, status: u16) -> Resp {
    let msg = format!("injected failure (HTTP {status})");
    let resp = match (origin, status) {
        (_, 418 | 429) => Resp::html(status, crate::pages::message("Request rejected", &msg)),
        (Origin::Finesse(_), _) => Resp::api_error(status, "Injected", &msg),
        _ => Resp::html(status, crate::pages::message("Injected failure", &msg)),
    };
    match app.faults.retry_after() {
        Some(secs) if matches!(status, 418 | 429) => {
            resp.with_header("retry-after", &secs.to_string())
        }
        _ => resp,
    }
}

/// A side out of service answers only SystemInfo (which says so); every other request is a 503
/// and a violation: a client checks SystemInfo before it uses a side (Cisco's desktop does).
pub(crate) fn out_of_service(app: &App, side: usize, path: &str) -> Option<Resp> {
    if app.xmpp.in_service(side) || path == "/finesse/api/SystemInfo" {
        return None;
    }
    app.xmpp.violation(format!(
        "{path} on Finesse side {} while it is OUT_OF_SERVICE (SystemInfo says so)",
        side + 1
    ));
    Some(Resp::api_error(
        503,
        "Service Unavailable",
        "this Finesse side is OUT_OF_SERVICE",
    ))
}
