//! The client end of the pipe (used by `token`, `agent status|stop`, `logout` and tests):
//! connect, exchange `hello`, send requests and read their replies or pushed events.

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};

use super::protocol::{
    self, Ack, Envelope, Event, HelloInfo, MAX_LINE, Outcome, Reply, Request, StatusInfo,
    TokenInfo, VERSION,
};
use super::transport::{self, Conn, ConnectError, Endpoint};
use crate::error::{Error, Result};
use crate::window::placement::Placement;

pub struct Client {
    reader: BufReader<ReadHalf<Conn>>,
    writer: WriteHalf<Conn>,
    next_id: u64,
    /// The agent's `hello` answer.
    pub hello: HelloInfo,
}

fn io(what: &str, e: std::io::Error) -> Error {
    Error::Agent(format!("{what}: {e}"))
}

impl Client {
    /// Connects to the agent of `ep` and says hello. `Err(AgentNotRunning)` when nobody listens,
    /// `Err(ForeignPipe)` when another user's process does.
    pub async fn connect(ep: &Endpoint, profile: &str, name: &str) -> Result<Client> {
        let conn = transport::connect(ep).await.map_err(|e| match e {
            ConnectError::Absent(_) => Error::AgentNotRunning(profile.to_string()),
            ConnectError::Foreign(why) => Error::ForeignPipe(format!("{} {why}", ep.display())),
            ConnectError::Failed(e) => io(&format!("connecting to {}", ep.display()), e),
        })?;
        Client::over(conn, name).await
    }

    /// Says hello over an already open stream.
    pub async fn over(conn: Conn, name: &str) -> Result<Client> {
        let (r, w) = tokio::io::split(conn);
        let mut c = Client {
            reader: BufReader::new(r),
            writer: w,
            next_id: 0,
            hello: HelloInfo {
                v: 0,
                agent: String::new(),
                capabilities: vec![],
                pid: 0,
                profile: String::new(),
                server: String::new(),
                user: String::new(),
            },
        };
        c.hello = c
            .call(Request::Hello {
                v: VERSION,
                client: Some(name.to_string()),
            })
            .await?;
        Ok(c)
    }

    async fn send(&mut self, request: Request) -> Result<u64> {
        self.next_id += 1;
        let env = Envelope {
            id: Some(Value::from(self.next_id)),
            request,
        };
        self.writer
            .write_all(protocol::line(&env).as_bytes())
            .await
            .map_err(|e| io("writing to the agent", e))?;
        self.writer
            .flush()
            .await
            .map_err(|e| io("writing to the agent", e))?;
        Ok(self.next_id)
    }

    /// One line from the agent, parsed as JSON (after `subscribe`: the next event).
    pub async fn read_value(&mut self) -> Result<Value> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| io("reading from the agent", e))?;
        if n == 0 {
            return Err(Error::Agent("the agent closed the connection".into()));
        }
        if !buf.ends_with(b"\n") {
            return Err(Error::Agent("the agent sent an overlong line".into()));
        }
        serde_json::from_slice(&buf)
            .map_err(|e| Error::Agent(format!("the agent sent something that is not JSON: {e}")))
    }

    /// Sends `request` and waits for its reply, skipping events that arrive meanwhile.
    pub async fn call<T: DeserializeOwned>(&mut self, request: Request) -> Result<T> {
        let op = request.op();
        let id = self.send(request).await?;
        loop {
            let v = self.read_value().await?;
            if v.get("event").is_some() {
                continue;
            }
            let reply: Reply<Value> = serde_json::from_value(v)
                .map_err(|e| Error::Agent(format!("{op}: unexpected reply: {e}")))?;
            // A reply without our id is a connection-level error (busy, read timeout).
            if reply.id.as_ref().is_some_and(|i| i != &Value::from(id)) {
                continue;
            }
            return match reply.outcome {
                Outcome::Result(v) => serde_json::from_value(v)
                    .map_err(|e| Error::Agent(format!("{op}: unexpected result: {e}"))),
                Outcome::Error(e) => Err(e.into()),
            };
        }
    }

    pub async fn token(&mut self, min_valid: u64) -> Result<TokenInfo> {
        self.token_placed(min_valid, Placement::default()).await
    }

    /// A token; a sign-in window it needs opens as `placement` says (in front of the caller).
    pub async fn token_placed(
        &mut self,
        min_valid: u64,
        placement: Placement,
    ) -> Result<TokenInfo> {
        self.call(Request::Token {
            min_valid,
            parent_window: placement.parent_window,
            activation_token: placement.activation_token,
        })
        .await
    }

    pub async fn status(&mut self) -> Result<StatusInfo> {
        self.call(Request::Status {}).await
    }

    pub async fn refresh(&mut self) -> Result<TokenInfo> {
        self.call(Request::Refresh {}).await
    }

    pub async fn logout(&mut self) -> Result<Ack> {
        self.call(Request::Logout {}).await
    }

    pub async fn stop(&mut self) -> Result<Ack> {
        self.call(Request::Stop {}).await
    }

    pub async fn subscribe(&mut self) -> Result<Ack> {
        self.call(Request::Subscribe(Default::default())).await
    }

    /// `subscribe` with options (Finesse notifications, no token events, a format).
    pub async fn subscribe_with(&mut self, r: super::events::SubscribeRequest) -> Result<Ack> {
        self.call(Request::Subscribe(r)).await
    }

    /// The next pushed event (after `subscribe`).
    pub async fn next_event(&mut self) -> Result<Event> {
        loop {
            let v = self.read_value().await?;
            if v.get("event").is_some() {
                return serde_json::from_value(v)
                    .map_err(|e| Error::Agent(format!("unexpected event: {e}")));
            }
        }
    }
}
