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
    *app.state()
        .request_counts
        .entry(req.path.clone())
        .or_insert(0) += 1;
    if let Origin::Finesse(side) = origin
        && let Some(refused) = out_of_service(app, side, &req.path)
    {
        return refused;
    }
    let (fail, delay) = app.faults.for_path(&req.path);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let resp = match fail {
        Some(status) => injected(origin, status),
        None => match origin {
            Origin::Finesse(side) => finesse::handle(app, side, &req),
            Origin::Ids => ids::handle(app, &req),
            Origin::Idp if req.path == idp_negotiate::PATH => idp_negotiate::handle(app, &req),
            Origin::Idp => idp::handle(app, &req),
            Origin::IdpCert => idp_cert::handle(app, &req),
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

fn injected(origin: Origin, status: u16) -> Resp {
    let msg = format!("injected failure (HTTP {status})");
    match origin {
        Origin::Finesse(_) => Resp::api_error(status, "Injected", &msg),
        _ => Resp::html(status, crate::pages::message("Injected failure", &msg)),
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
