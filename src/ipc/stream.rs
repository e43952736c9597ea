//! What both ends of the pipe hold once connected: a byte stream and who is on the other end.
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
