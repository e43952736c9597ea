//! Where the pipe lives and how both ends open it: a Unix socket in the private runtime
//! directory, or a per-user, per-session Windows named pipe. Platform code is in `unix.rs` and
//! `windows.rs`; this file is the portable face.

use std::path::PathBuf;

use crate::dirs::Dirs;
use crate::error::Result;

pub use super::stream::{Conn, ConnectError, Peer, Stream};

/// The address of one profile's agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Unix: the socket path. Windows: `\\.\pipe\finesse-sso-<SID>-<session>-<profile>`.
    pub path: PathBuf,
    /// The single-instance lock file next to it.
    pub lock: PathBuf,
}

impl Endpoint {
    /// The endpoint of `profile` (the name was checked by `Dirs::profile`).
    pub fn of(dirs: &Dirs, profile: &str) -> Result<Self> {
        dirs.profile(profile)?;
        Self::locate(dirs, profile)
    }

    /// The same address, creating nothing (`doctor` looks without touching the state).
    pub fn locate(dirs: &Dirs, profile: &str) -> Result<Self> {
        dirs.profile_path(profile)?;
        let lock = dirs.runtime.join(format!("{profile}.lock"));
        #[cfg(unix)]
        let path = dirs.runtime.join(format!("{profile}.sock"));
        #[cfg(windows)]
        let path = PathBuf::from(super::windows::pipe_name(profile)?);
        Ok(Endpoint { path, lock })
    }

    pub fn display(&self) -> String {
        self.path.display().to_string()
    }
}

/// The agent's listening end.
pub struct Listener {
    #[cfg(unix)]
    inner: super::unix::UnixServer,
    #[cfg(windows)]
    inner: super::windows::PipeServer,
}

impl Listener {
    /// Binds the endpoint. The caller holds the instance lock, so an existing socket is stale
    /// unless something answers on it.
    pub async fn bind(ep: &Endpoint) -> Result<Self> {
        #[cfg(unix)]
        let inner = super::unix::UnixServer::bind(&ep.path).await?;
        #[cfg(windows)]
        let inner = super::windows::PipeServer::bind(&ep.path).await?;
        Ok(Listener { inner })
    }

    /// The next connection from our own user; others are refused and logged here.
    pub async fn accept(&mut self) -> std::io::Result<(Conn, Peer)> {
        self.inner.accept().await
    }

    /// Removes the socket file (Unix); pipes vanish with their handles.
    pub fn remove(&self) {
        #[cfg(unix)]
        self.inner.remove();
    }
}

/// Opens a connection to the agent at `ep`, after checking that our own user serves it
/// (nothing is sent or read before).
pub async fn connect(ep: &Endpoint) -> Result<Conn, ConnectError> {
    #[cfg(unix)]
    {
        super::unix::connect(&ep.path).await
    }
    #[cfg(windows)]
    {
        super::windows::connect(&ep.path).await
    }
}
