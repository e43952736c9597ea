//! The Unix side of the pipe: a socket bound inside the private (0700) runtime directory,
//! born 0600 under a temporary name and renamed into place; every peer's uid is checked.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use super::stream::{Conn, ConnectError, Peer};
use crate::dirs::ensure_private_dir;
use crate::error::{Error, Result};

/// `sun_path` holds 108 bytes on Linux, 104 on macOS, the NUL included.
const MAX_SOCKET_PATH: usize = 100;

pub struct UnixServer {
    listener: UnixListener,
    path: PathBuf,
    uid: u32,
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

impl UnixServer {
    pub async fn bind(path: &Path) -> Result<Self> {
        let dir = path
            .parent()
            .ok_or_else(|| Error::state(path, "socket path has no directory"))?;
        ensure_private_dir(dir)?;
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(Error::state(
                path,
                format!(
                    "socket path is longer than {MAX_SOCKET_PATH} bytes; set XDG_RUNTIME_DIR or FINESSE_SSO_HOME to a shorter directory"
                ),
            ));
        }
        // A socket another user planted (and may serve) is not ours to yield to.
        crate::dirs::set_aside_foreign(path)?;
        match std::fs::symlink_metadata(path) {
            Ok(_) => {
                match connect(path).await {
                    Ok(_) => {
                        return Err(Error::AgentRunning(format!(
                            "our own agent already answers on {}",
                            path.display()
                        )));
                    }
                    Err(ConnectError::Foreign(why)) => {
                        return Err(Error::ForeignPipe(format!("{} {why}", path.display())));
                    }
                    Err(_) => {}
                }
                tracing::info!("removing the stale socket {}", path.display());
                std::fs::remove_file(path).map_err(|e| Error::state(path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::state(path, e)),
        }
        // Bind under a temporary name in the same 0700 directory, make it 0600, then rename:
        // the socket is never reachable at its real path with a wider mode, and no process-wide
        // umask is touched (other threads may be creating files).
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("agent.sock"),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp).map_err(|e| Error::state(&tmp, e))?;
        let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::state(path, e));
        }
        Ok(UnixServer {
            listener,
            path: path.to_path_buf(),
            uid: euid(),
        })
    }

    pub async fn accept(&mut self) -> std::io::Result<(Conn, Peer)> {
        loop {
            let (stream, _) = self.listener.accept().await?;
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == self.uid => {
                    let peer = Peer { pid: cred.pid() };
                    return Ok((Box::pin(stream), peer));
                }
                Ok(cred) => tracing::warn!(
                    "refused a connection from uid {} (pid {}): the agent serves uid {} only",
                    cred.uid(),
                    cred.pid()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "?".into()),
                    self.uid
                ),
                Err(e) => tracing::warn!("refused a connection whose peer is unknown: {e}"),
            }
        }
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub async fn connect(path: &Path) -> Result<Conn, ConnectError> {
    let s = UnixStream::connect(path)
        .await
        .map_err(ConnectError::from_io)?;
    // The agent must be ours too: a socket served by someone else is not talked to.
    let cred = s.peer_cred().map_err(ConnectError::Failed)?;
    server_verdict(cred.uid(), cred.pid(), euid())?;
    Ok(Box::pin(s))
}

/// Whether the process serving a socket is ours, from its uid (`SO_PEERCRED`). Pure.
fn server_verdict(server: u32, pid: Option<i32>, me: u32) -> Result<(), ConnectError> {
    if server == me {
        return Ok(());
    }
    let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    Err(ConnectError::Foreign(format!(
        "is served by uid {server}{pid}, not by us (uid {me})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::transport::Endpoint;
    use std::os::unix::fs::MetadataExt;

    #[tokio::test]
    async fn socket_is_private_and_a_stale_one_is_replaced() {
        let t = tempfile::tempdir().unwrap();
        let dirs = crate::dirs::Dirs::under(t.path());
        let ep = Endpoint::of(&dirs, "p").unwrap();
        // A stale socket: bound, then its listener dropped (a crashed agent).
        ensure_private_dir(&dirs.runtime).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&ep.path).unwrap());
        let mut server = UnixServer::bind(&ep.path).await.unwrap();
        let meta = std::fs::symlink_metadata(&ep.path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(&dirs.runtime).unwrap().mode() & 0o777,
            0o700
        );
        // A live one is not taken over.
        assert!(matches!(
            UnixServer::bind(&ep.path).await,
            Err(Error::AgentRunning(_))
        ));
        let client = tokio::spawn({
            let p = ep.path.clone();
            async move { connect(&p).await.map(|_| ()) }
        });
        let (_conn, peer) = server.accept().await.unwrap();
        assert_eq!(peer.pid, Some(std::process::id() as i32));
        client.await.unwrap().unwrap();
        server.remove();
        assert!(!ep.path.exists());
    }

    /// The decision behind refusing a socket someone else serves (the real refusal, with a
    /// server running as another uid, is `tests/it/security_pipe.rs`, as root).
    #[test]
    fn only_a_server_of_our_own_uid_is_talked_to() {
        assert!(server_verdict(1000, Some(7), 1000).is_ok());
        let Err(ConnectError::Foreign(why)) = server_verdict(65534, Some(7), 1000) else {
            panic!("another uid was accepted");
        };
        assert_eq!(why, "is served by uid 65534 (pid 7), not by us (uid 1000)");
        assert!(matches!(
            server_verdict(0, None, 1000),
            Err(ConnectError::Foreign(w)) if w == "is served by uid 0, not by us (uid 1000)"
        ));
    }

    #[tokio::test]
    async fn overlong_path_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let dirs = crate::dirs::Dirs::under(&t.path().join("x".repeat(120)));
        let ep = Endpoint::of(&dirs, "p").unwrap();
        let e = UnixServer::bind(&ep.path).await.err().unwrap();
        assert!(e.to_string().contains("longer than"), "{e}");
    }
}
