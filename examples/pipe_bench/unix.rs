//! The pipe benchmark on Unix: the agent's socket and the echo's are Unix sockets, the agent's
//! memory is its `VmRSS` and its children are read from `/proc`.

use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use crate::measure::Fail;

/// What the memory rows measure.
pub const MEMORY: &str = "RSS";

/// A client's connection to the agent or the echo.
pub type Stream = UnixStream;

pub async fn connect(path: &Path) -> Result<Stream, Fail> {
    Ok(UnixStream::connect(path).await?)
}

/// Where an echo server listens: a socket in a private temporary directory.
pub struct EchoPlace {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl EchoPlace {
    pub fn new() -> Result<EchoPlace, Fail> {
        let dir = tempfile::tempdir()?;
        Ok(EchoPlace {
            path: dir.path().join("echo.sock"),
            _dir: dir,
        })
    }
}

pub struct EchoListener(UnixListener);

impl EchoListener {
    pub fn bind(path: &Path) -> Result<EchoListener, Fail> {
        Ok(EchoListener(UnixListener::bind(path)?))
    }

    pub async fn accept(&mut self) -> std::io::Result<UnixStream> {
        Ok(self.0.accept().await?.0)
    }
}

/// The process's resident set in KiB.
pub fn rss_kib(pid: u32) -> Result<u64, Fail> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}

/// Whether the process has children (the sign-in window and WebKit's helpers).
pub fn has_children(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        std::fs::read_to_string(t.path().join("children")).is_ok_and(|c| !c.trim().is_empty())
    })
}
