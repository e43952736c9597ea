//! One notification connection: the link (WebSocket or BOSH) driven by the session machine. It establishes
//! (open, SASL, bind, presence, Finesse's presence), then yields PubSub items, answers server
//! pings, sends ours on a timer, and closes with `<close/>`. Frames that are too large or not
//! XML are logged and skipped; the connection goes on.

use std::time::Duration;

use tokio::time::{Instant, Interval};
use url::Url;

use super::link::Link;
use super::session::{Login, Machine, Out, SessionError};
use super::stanza;
use super::transport::Reach;
use crate::error::{Error, Result, Step, host_of};

const STEP: Step = "notifications";

/// A PubSub item: (node, payload text).
pub type Item = (String, String);

/// An established session.
pub struct Connection {
    ws: Link,
    machine: Machine,
    host: String,
    pub jid: String,
}

/// What `next` saw.
#[derive(Debug)]
pub enum Happening {
    Item(Item),
    /// The connection is over (server close, stream error, pings unanswered, socket error).
    Lost(String),
}

fn session_error(host: &str, e: SessionError) -> Error {
    match e {
        SessionError::TokenRefused(_) | SessionError::PasswordRefused(_) => Error::AuthRejected {
            step: STEP,
            host: host.to_string(),
            detail: e.to_string(),
        },
        e => Error::Server {
            step: STEP,
            host: host.to_string(),
            detail: e.to_string(),
        },
    }
}

/// Reads the next text frame, skipping (and logging) what cannot be a stanza.
async fn read(link: &mut Link) -> std::result::Result<stanza::Inbound, String> {
    loop {
        let text = link.recv().await?;
        match stanza::parse(&text) {
            Ok(f) => return Ok(f),
            Err(e) => tracing::warn!("notifications: skipped a frame: {e}"),
        }
    }
}

async fn send(link: &mut Link, s: String) -> std::result::Result<(), String> {
    link.send(s).await
}

impl Connection {
    /// Connects and walks the session to online within `within`; items that arrive before
    /// Finesse's presence are returned with it. Without Finesse's presence after
    /// `presence_wait`, the session counts as online anyway.
    pub async fn establish(
        url: &Url,
        reach: &Reach,
        login: Login,
        within: Duration,
        presence_wait: Duration,
    ) -> Result<(Connection, Vec<Item>)> {
        let host = host_of(url);
        let deadline = Instant::now() + within;
        let timeout = || Error::Network {
            step: STEP,
            host: host.clone(),
            cause: format!("the session was not up within {} s", within.as_secs()),
        };
        let mut ws = tokio::time::timeout_at(deadline, Link::connect(url, reach))
            .await
            .map_err(|_| timeout())??;
        let mut machine = Machine::new(login).map_err(|e| session_error(&host, e))?;
        let net = |cause: String| Error::Network {
            step: STEP,
            host: host.clone(),
            cause,
        };
        let Out::Send(first) = machine.start() else {
            return Err(Error::Internal(
                "the session did not start with a frame".into(),
            ));
        };
        send(&mut ws, first).await.map_err(net)?;
        let mut items = Vec::new();
        let mut presence_at: Option<Instant> = None;
        loop {
            let wait = presence_at.map_or(deadline, |p| p.min(deadline));
            let frame = match tokio::time::timeout_at(wait, read(&mut ws)).await {
                Ok(f) => f.map_err(net)?,
                Err(_) if Instant::now() < deadline => {
                    // Finesse's presence did not come: online all the same.
                    if let Some(Out::Online(jid)) = machine.assume_online() {
                        tracing::debug!("notifications: no presence from Finesse; online as {jid}");
                        return Ok((
                            Connection {
                                ws,
                                machine,
                                host,
                                jid,
                            },
                            items,
                        ));
                    }
                    continue;
                }
                Err(_) => return Err(timeout()),
            };
            for out in machine.on(frame).map_err(|e| session_error(&host, e))? {
                match out {
                    Out::Send(s) => send(&mut ws, s).await.map_err(net)?,
                    Out::Item(node, payload) => items.push((node, payload)),
                    Out::Online(jid) => {
                        return Ok((
                            Connection {
                                ws,
                                machine,
                                host,
                                jid,
                            },
                            items,
                        ));
                    }
                }
            }
            if presence_at.is_none() && machine.phase() == super::session::Phase::Presence {
                presence_at = Some(Instant::now() + presence_wait);
            }
        }
    }

    /// The next item, answering pings and sending ours on `pings`, or why the connection ended.
    pub async fn next(&mut self, pings: &mut Interval, max_missed: u32) -> Happening {
        loop {
            let frame = tokio::select! {
                f = read(&mut self.ws) => f,
                _ = pings.tick() => {
                    match self.machine.tick(max_missed) {
                        Ok(Some(Out::Send(s))) => {
                            if let Err(e) = send(&mut self.ws, s).await {
                                return Happening::Lost(e);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => return Happening::Lost(e.to_string()),
                    }
                    continue;
                }
            };
            let frame = match frame {
                Ok(f) => f,
                Err(e) => return Happening::Lost(e),
            };
            let outs = match self.machine.on(frame) {
                Ok(o) => o,
                Err(e) => return Happening::Lost(session_error(&self.host, e).to_string()),
            };
            let mut item = None;
            for out in outs {
                match out {
                    Out::Send(s) => {
                        if let Err(e) = send(&mut self.ws, s).await {
                            return Happening::Lost(e);
                        }
                    }
                    // One event holds one item in Finesse's notifications; more are rare.
                    Out::Item(n, p) if item.is_none() => item = Some((n, p)),
                    Out::Item(n, p) => {
                        tracing::warn!(
                            "notifications: skipped a second item of one event ({n}, {} bytes)",
                            p.len()
                        );
                    }
                    Out::Online(_) => {}
                }
            }
            if let Some(i) = item {
                return Happening::Item(i);
            }
        }
    }

    /// Ends the session: unavailable presence, `<close/>`, and the items that still arrive
    /// before the server's `<close/>` (at most `drain`).
    pub async fn close(mut self, drain: Duration) -> Vec<Item> {
        let _ = send(&mut self.ws, stanza::unavailable()).await;
        let _ = send(&mut self.ws, stanza::close()).await;
        let mut items = Vec::new();
        let until = Instant::now() + drain;
        while let Ok(Ok(frame)) = tokio::time::timeout_at(until, read(&mut self.ws)).await {
            match self.machine.on(frame) {
                Ok(outs) => items.extend(outs.into_iter().filter_map(|o| match o {
                    Out::Item(n, p) => Some((n, p)),
                    _ => None,
                })),
                Err(_) => break,
            }
        }
        self.ws.close().await;
        items
    }
}
