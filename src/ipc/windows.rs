//! The Windows side of the pipe: a named pipe scoped to the user's SID and the terminal-server
//! session, created as the first instance, refusing remote clients, with a DACL that grants
//! the current user alone (`D:P(A;;GA;;;<SID>)`).

use std::ffi::c_void;
use std::path::Path;

use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeServer, ServerOptions};
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_PIPE_BUSY, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
    TokenUser,
};
use windows_sys::Win32::System::RemoteDesktop::ProcessIdToSessionId;
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetCurrentProcessId, OpenProcessToken,
};

use super::stream::{Conn, Peer};
use crate::error::{Error, Result};

fn last_os_error(what: &str) -> Error {
    Error::Agent(format!("{what}: {}", std::io::Error::last_os_error()))
}

/// The current user's SID as a string (`S-1-5-21-…`).
pub fn user_sid() -> Result<String> {
    // SAFETY: standard token query; every handle and buffer is checked and released here.
    unsafe {
        let mut token: HANDLE = std::ptr::null_mut();
        if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0 {
            return Err(last_os_error("OpenProcessToken"));
        }
        let mut len = 0u32;
        GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut len);
        let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
        let ok = GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast::<c_void>(),
            len,
            &mut len,
        );
        CloseHandle(token);
        if ok == 0 {
            return Err(last_os_error("GetTokenInformation(TokenUser)"));
        }
        let user = &*(buf.as_ptr().cast::<TOKEN_USER>());
        let mut wide: *mut u16 = std::ptr::null_mut();
        if ConvertSidToStringSidW(user.User.Sid, &mut wide) == 0 {
            return Err(last_os_error("ConvertSidToStringSidW"));
        }
        let mut n = 0;
        while *wide.add(n) != 0 {
            n += 1;
        }
        let sid = String::from_utf16_lossy(std::slice::from_raw_parts(wide, n));
        LocalFree(wide.cast());
        Ok(sid)
    }
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
        user_sid()?,
        session_id()
    ))
}

/// A self-relative security descriptor from SDDL, freed on drop.
struct Descriptor(PSECURITY_DESCRIPTOR);

// SAFETY: the descriptor is immutable after creation and only read by CreateNamedPipe.
unsafe impl Send for Descriptor {}
// SAFETY: as above.
unsafe impl Sync for Descriptor {}

impl Descriptor {
    fn current_user_only() -> Result<Self> {
        let sddl = format!("D:P(A;;GA;;;{})", user_sid()?);
        let wide: Vec<u16> = sddl.encode_utf16().chain(Some(0)).collect();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `wide` is NUL-terminated; `sd` receives a LocalAlloc'd descriptor.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(last_os_error(
                "ConvertStringSecurityDescriptorToSecurityDescriptorW",
            ));
        }
        Ok(Descriptor(sd))
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe {
            LocalFree(self.0.cast());
        }
    }
}

pub struct PipeServer {
    name: String,
    sd: Descriptor,
    next: NamedPipeServer,
}

impl PipeServer {
    fn create(name: &str, sd: &Descriptor, first: bool) -> std::io::Result<NamedPipeServer> {
        let mut attrs = SECURITY_ATTRIBUTES {
            nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: sd.0,
            bInheritHandle: 0,
        };
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

    pub fn bind(path: &Path) -> Result<Self> {
        let name = path.to_string_lossy().into_owned();
        let sd = Descriptor::current_user_only()?;
        let next = Self::create(&name, &sd, true).map_err(|e| {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                Error::AgentRunning(format!("the pipe {name} already exists"))
            } else {
                Error::Agent(format!("creating the pipe {name}: {e}"))
            }
        })?;
        Ok(PipeServer { name, sd, next })
    }

    pub async fn accept(&mut self) -> std::io::Result<(Conn, Peer)> {
        self.next.connect().await?;
        let fresh = Self::create(&self.name, &self.sd, false)?;
        let conn = std::mem::replace(&mut self.next, fresh);
        Ok((Box::pin(conn), Peer::default()))
    }
}

pub async fn connect(path: &Path) -> std::io::Result<Conn> {
    let name = path.to_string_lossy().into_owned();
    for _ in 0..50 {
        match ClientOptions::new().open(&name) {
            Ok(c) => return Ok(Box::pin(c)),
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{name}: every pipe instance stayed busy"),
    ))
}
