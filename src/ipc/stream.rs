//! What both ends of the pipe hold once connected (a byte stream and who is on the other end),
//! and why a client could not connect.
//! A leaf, so the portable `transport` and the platform files never import each other.

use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// A connected byte stream (socket, pipe instance, or an in-memory duplex in tests).
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

pub type Conn = Pin<Box<dyn Stream>>;

/// Who is on the other end of an accepted connection (for the log).
#[derive(Debug, Clone, Copy, Default)]
pub struct Peer {
    pub pid: Option<i32>,
}

/// Why a client could not talk to the agent.
#[derive(Debug)]
pub enum ConnectError {
    /// Nobody listens (no socket or pipe, or a stale socket).
    Absent(std::io::Error),
    /// Something listens, but not our agent: another user's process. Nothing was sent or read.
    /// The text says what was found ("… is served by uid 1001, not by us (uid 1000)").
    Foreign(String),
    /// Anything else.
    Failed(std::io::Error),
}

impl ConnectError {
    /// Sorts a failed open: "nobody listens" (start an agent) or a fault.
    pub fn from_io(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ConnectError::Absent(e)
            }
            _ => ConnectError::Failed(e),
        }
    }
}
