//! The socket's write half of one connection, shared by its replies and its subscription's
//! pushes, with the write timeout that drops a client which stops reading.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

/// The socket's write half, shared by the replies and the subscription's pushes: each line is
/// written whole under the lock, within `timeout`, by whoever has it (no writer task: handing
/// every answer to another task cost a wake-up and a poll per answer). A client that does not
/// read in time breaks it, which ends the connection.
pub struct Out<W> {
    w: Mutex<W>,
    timeout: Duration,
    broken: AtomicBool,
}

impl<W: AsyncWrite + Unpin> Out<W> {
    pub fn new(w: W, timeout: Duration) -> Self {
        Out {
            w: Mutex::new(w),
            timeout,
            broken: AtomicBool::new(false),
        }
    }

    /// Writes one line; false once the client has failed to take a line in time.
    pub async fn send(&self, line: &str) -> bool {
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

    pub async fn close(&self) {
        let _ = tokio::time::timeout(self.timeout, async { self.w.lock().await.shutdown().await })
            .await;
    }
}
