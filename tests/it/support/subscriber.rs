//! A raw pipe subscriber for the agent's tests: `hello`, then `subscribe` with the fields a
//! test gives, then the event lines one by one (shared by the notification tests); and JSON
//! lines read with a deadline from any stream (the subscriber's socket, `desktop watch`'s stdout).

use std::time::Duration;

use finesse_sso::ipc::transport::Endpoint;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};

/// One JSON value per line, each awaited for at most 20 s.
pub(crate) struct JsonLines<R>(tokio::io::Lines<BufReader<R>>);

impl<R: AsyncRead + Unpin> JsonLines<R> {
    pub(crate) fn new(r: R) -> JsonLines<R> {
        JsonLines(BufReader::new(r).lines())
    }

    /// The next line as JSON; fails when none comes in time or the stream ends.
    pub(crate) async fn next(&mut self) -> Value {
        let l = tokio::time::timeout(Duration::from_secs(20), self.0.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("the stream still open");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not one JSON line ({e}): {l}"))
    }

    /// The next value for which `which` holds, skipping the others.
    pub(crate) async fn until(&mut self, which: impl Fn(&Value) -> bool) -> Value {
        loop {
            let v = self.next().await;
            if which(&v) {
                return v;
            }
        }
    }
}

/// A raw subscriber: `hello`, then `subscribe` with `extra`; its event lines one by one.
pub(crate) struct Sub {
    pub(crate) lines: JsonLines<tokio::net::unix::OwnedReadHalf>,
    _w: tokio::net::unix::OwnedWriteHalf,
}

impl Sub {
    pub(crate) async fn new(ep: &Endpoint, extra: Value) -> Sub {
        Sub::open(ep, extra)
            .await
            .unwrap_or_else(|ack| panic!("subscribe refused: {ack}"))
    }

    /// Like `new`, or the agent's answer when it refused the subscription.
    pub(crate) async fn open(ep: &Endpoint, extra: Value) -> Result<Sub, Value> {
        let s = tokio::net::UnixStream::connect(&ep.path).await.unwrap();
        let (r, mut w) = s.into_split();
        let mut lines = BufReader::new(r).lines();
        let mut sub = json!({"op":"subscribe","id":"s"});
        for (k, v) in extra.as_object().unwrap() {
            sub[k] = v.clone();
        }
        w.write_all(format!("{}\n{sub}\n", json!({"op":"hello","v":1})).as_bytes())
            .await
            .unwrap();
        lines.next_line().await.unwrap().unwrap();
        let ack: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        if ack["result"]["ok"] != true {
            return Err(ack);
        }
        Ok(Sub {
            lines: JsonLines(lines),
            _w: w,
        })
    }

    pub(crate) async fn next(&mut self) -> Value {
        self.lines.next().await
    }

    /// Subscribes with `notifications` (no tokens) and waits for the session to be up.
    pub(crate) async fn session(ep: &Endpoint) -> Sub {
        let mut sub = Sub::new(ep, json!({"notifications": true, "tokens": false})).await;
        sub.connected().await;
        sub
    }

    /// The next `notifications` event saying `connected`, with every event skipped on the way.
    pub(crate) async fn connected(&mut self) -> (Value, Vec<Value>) {
        let mut all = Vec::new();
        loop {
            let (v, skipped) = self.until("notifications").await;
            all.extend(skipped);
            if v["state"] == "connected" {
                return (v, all);
            }
            all.push(v);
        }
    }

    /// The next Acqueon line that is not the session's state (`SetConnectionStatus`).
    pub(crate) async fn next_but_connection(&mut self) -> Value {
        loop {
            let v = self.next().await;
            if v["subtopic"] != "SetConnectionStatus" {
                return v;
            }
        }
    }

    /// The next event of kind `event`, with those of other kinds it skipped.
    pub(crate) async fn until(&mut self, event: &str) -> (Value, Vec<Value>) {
        let mut skipped = Vec::new();
        loop {
            let v = self.next().await;
            if v["event"] == event {
                return (v, skipped);
            }
            skipped.push(v);
        }
    }

    /// The next `user` event's state; fails on another `user` event in between.
    pub(crate) async fn state(&mut self) -> String {
        let (v, skipped) = self.until("user").await;
        assert!(skipped.iter().all(|s| s["event"] != "user"), "{skipped:?}");
        v["user"]["state"].as_str().unwrap().to_string()
    }
}
