//! The Windows side of the pipe: a named pipe scoped to the user's SID and the terminal-server
//! session, created as the first instance, refusing remote clients, with a DACL that grants
//! the current user alone (`D:P(A;;GA;;;<SID>)`). Both ends check who holds the name: a
//! client talks only to a server running as its own user, and an agent that finds the name
//! taken tells its own running agent (exit 15) from another user's squatter (exit 21).

use std::ffi::c_void;
use std::os::windows::io::AsRawHandle;
use std::path::Path;

use tokio::net::windows::named_pipe::{
    ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions,
};
use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_PIPE_BUSY};
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
use windows_sys::Win32::Storage::FileSystem::SECURITY_IDENTIFICATION;
use windows_sys::Win32::System::RemoteDesktop::ProcessIdToSessionId;
use windows_sys::Win32::System::Threading::GetCurrentProcessId;

use super::stream::{Conn, ConnectError, Peer};
use crate::error::{Error, Result};
use crate::winsec::pipe_peer::{self, Found, Holder};
use crate::winsec::sddl::pipe_sddl;
use crate::winsec::sid::Sid;
use crate::winsec::sys::{self, SecurityDescriptor};

fn me() -> Result<Sid> {
    sys::current_user().map_err(|e| Error::Agent(format!("reading our own user: {e}")))
}

/// The terminal-services session of this process (0 on a console without RDS).
fn session_id() -> u32 {
    let mut id = 0u32;
    // SAFETY: writes one u32.
    unsafe {
        ProcessIdToSessionId(GetCurrentProcessId(), &mut id);
    }
    id
}

/// `\\.\pipe\finesse-sso-<SID>-<session>-<profile>`: pipe names are machine-global, so the
/// user and the session are part of the name (several users on one terminal server).
pub fn pipe_name(profile: &str) -> Result<String> {
    Ok(format!(
        r"\\.\pipe\finesse-sso-{}-{}-{profile}",
        me()?,
        session_id()
    ))
}

/// Opens `name` as a client, waiting out busy instances for about a second. Identification-
/// level impersonation only: a server that is not ours cannot act as us with our handle.
/// What failed is returned with what it means for who holds the name.
async fn open(name: &str) -> std::result::Result<NamedPipeClient, (Found, std::io::Error)> {
    let mut opts = ClientOptions::new();
    opts.security_qos_flags(SECURITY_IDENTIFICATION);
    for _ in 0..50 {
        match opts.open(name) {
            Ok(c) => return Ok(c),
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
                return Err((Found::Refused, e));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err((Found::Nothing, e));
            }
            Err(e) => return Err((Found::Failed(e.to_string()), e)),
        }
    }
    Err((
        Found::Busy,
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("{name}: every pipe instance stayed busy"),
        ),
    ))
}

/// Who serves a connected client handle: the server process's user, and the pipe's owner.
fn identify(client: &NamedPipeClient) -> Found {
    let handle = client.as_raw_handle();
    let pid = sys::pipe_server_pid(handle);
    Found::Server {
        pid: pid.as_ref().ok().copied(),
        user: pid.and_then(sys::process_user).map_err(|e| e.to_string()),
        owner: sys::handle_owner(handle).map_err(|e| e.to_string()),
    }
}

/// Who holds `name` now (the connection made to find out is closed at once).
async fn holder(name: &str, me: &Sid) -> Holder {
    match open(name).await {
        Ok(client) => pipe_peer::judge(me, &identify(&client)),
        Err((found, _)) => pipe_peer::judge(me, &found),
    }
}

pub struct PipeServer {
    name: String,
    sd: SecurityDescriptor,
    next: NamedPipeServer,
}

impl PipeServer {
    fn create(
        name: &str,
        sd: &SecurityDescriptor,
        first: bool,
    ) -> std::io::Result<NamedPipeServer> {
        let mut attrs: SECURITY_ATTRIBUTES = sd.attributes();
        // SAFETY: `attrs` and the descriptor it points to outlive the call.
        unsafe {
            ServerOptions::new()
                .first_pipe_instance(first)
                .reject_remote_clients(true)
                .create_with_security_attributes_raw(
                    name,
                    (&mut attrs as *mut SECURITY_ATTRIBUTES).cast::<c_void>(),
                )
        }
    }

    pub async fn bind(path: &Path) -> Result<Self> {
        let name = path.to_string_lossy().into_owned();
        let me = me()?;
        let sd = SecurityDescriptor::from_sddl(&pipe_sddl(&me))
            .map_err(|e| Error::Agent(format!("the pipe's security descriptor: {e}")))?;
        let creating = |e: std::io::Error| Error::Agent(format!("creating the pipe {name}: {e}"));
        let next = match Self::create(&name, &sd, true) {
            Ok(p) => p,
            // The first-instance create fails when the name exists: ours, or a squatter's?
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                match holder(&name, &me).await {
                    Holder::Ours => {
                        return Err(Error::AgentRunning(format!(
                            "our own agent already serves the pipe {name}"
                        )));
                    }
                    Holder::Foreign(why) => {
                        return Err(Error::ForeignPipe(format!(
                            "cannot start: the pipe {name} {why}"
                        )));
                    }
                    // It went away meanwhile: try once more.
                    Holder::Absent => Self::create(&name, &sd, true).map_err(creating)?,
                    Holder::Unknown(why) => {
                        return Err(Error::Agent(format!(
                            "the pipe {name} exists, but who holds it cannot be told: {why}"
                        )));
                    }
                }
            }
            Err(e) => return Err(creating(e)),
        };
        Ok(PipeServer { name, sd, next })
    }

    pub async fn accept(&mut self) -> std::io::Result<(Conn, Peer)> {
        self.next.connect().await?;
        let fresh = Self::create(&self.name, &self.sd, false)?;
        let conn = std::mem::replace(&mut self.next, fresh);
        Ok((Box::pin(conn), Peer::default()))
    }
}

/// Opens the agent's pipe and checks, before a byte is sent or read, that a process of our own
/// user serves it.
pub async fn connect(path: &Path) -> std::result::Result<Conn, ConnectError> {
    let name = path.to_string_lossy().into_owned();
    let me = sys::current_user().map_err(ConnectError::Failed)?;
    let client = match open(&name).await {
        Ok(c) => c,
        Err((found, e)) => {
            return Err(match pipe_peer::judge(&me, &found) {
                Holder::Absent => ConnectError::Absent(e),
                Holder::Foreign(why) => ConnectError::Foreign(why),
                Holder::Ours | Holder::Unknown(_) => ConnectError::Failed(e),
            });
        }
    };
    match pipe_peer::judge(&me, &identify(&client)) {
        Holder::Ours => Ok(Box::pin(client)),
        Holder::Foreign(why) => Err(ConnectError::Foreign(why)),
        Holder::Absent | Holder::Unknown(_) => Err(ConnectError::Failed(std::io::Error::other(
            "the pipe's server could not be identified",
        ))),
    }
}

/// The real calls. Under Wine (one user) only the "ours" side can be shown; the foreign side is
/// `winsec::pipe_peer`'s unit tests. Wine does not enforce `FILE_FLAG_FIRST_PIPE_INSTANCE`, so
/// what a second agent is told needs Windows itself.
#[cfg(test)]
mod tests {
    use super::*;

    fn test_pipe(tag: &str) -> String {
        format!(
            r"\\.\pipe\finesse-sso-test-{tag}-{}-{}",
            std::process::id(),
            session_id()
        )
    }

    #[tokio::test]
    async fn our_own_server_is_recognised_at_both_ends() {
        let name = test_pipe("ours");
        let path = Path::new(&name);
        let mut server = PipeServer::bind(path).await.unwrap();
        let me = sys::current_user().unwrap();
        // The client's check finds our own process behind the pipe.
        let client = open(&name).await.unwrap();
        let found = identify(&client);
        let Found::Server { pid, user, owner } = &found else {
            panic!("{found:?}");
        };
        assert_eq!(*pid, Some(std::process::id()));
        assert_eq!(user.as_ref().unwrap(), &me);
        assert!(owner.is_ok(), "{owner:?}");
        assert_eq!(pipe_peer::judge(&me, &found), Holder::Ours);
        // Each accept leaves a fresh instance for the next client (or a second agent's probe).
        let _first = server.accept().await.unwrap();
        let _second = connect(path).await.unwrap();
        let _accepted = server.accept().await.unwrap();
        assert_eq!(holder(&name, &me).await, Holder::Ours);
        let absent = test_pipe("absent");
        assert!(matches!(
            connect(Path::new(&absent)).await,
            Err(ConnectError::Absent(_))
        ));
        assert_eq!(holder(&absent, &me).await, Holder::Absent);
    }

    #[tokio::test]
    #[cfg_attr(
        skip_windows_security_tests,
        ignore = "Windows only: Wine does not enforce FILE_FLAG_FIRST_PIPE_INSTANCE"
    )]
    async fn a_second_agent_is_told_our_own_runs() {
        let name = test_pipe("second");
        let path = Path::new(&name);
        let _server = PipeServer::bind(path).await.unwrap();
        match PipeServer::bind(path).await {
            Err(e @ Error::AgentRunning(_)) => assert_eq!(e.exit_code(), 15),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a second first instance was created"),
        }
    }
}
