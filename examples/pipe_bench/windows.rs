//! The pipe benchmark on Windows: the agent's named pipe is opened with the crate's own client
//! (`ipc::transport::connect`, which checks that our own user serves it), the echo listens on a
//! named pipe of its own, and the agent's memory is its working set (`GetProcessMemoryInfo`).

use std::ffi::OsString;
use std::os::windows::io::{FromRawHandle, OwnedHandle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use finesse_sso::ipc::transport::{self, ConnectError, Endpoint};
use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION};

use crate::measure::Fail;

/// What the memory rows measure (the JSON keeps the `rss_kib` name for the same column).
pub const MEMORY: &str = "working set";

/// A client's connection to the agent or the echo.
pub type Stream = transport::Conn;

/// Opens the pipe `path` as the crate's clients do (the same options, the same check of who
/// serves it, before a byte is sent); the echo is ours too, so it passes the same check.
pub async fn connect(path: &Path) -> Result<Stream, Fail> {
    let ep = Endpoint {
        path: path.to_path_buf(),
        lock: PathBuf::new(),
    };
    transport::connect(&ep).await.map_err(|e| match e {
        ConnectError::Absent(e) | ConnectError::Failed(e) => {
            format!("opening {}: {e}", path.display()).into()
        }
        ConnectError::Foreign(why) => format!("{} {why}", path.display()).into(),
    })
}

/// Where an echo server listens: a pipe name of its own (pipes vanish with their handles).
pub struct EchoPlace {
    pub path: PathBuf,
}

impl EchoPlace {
    pub fn new() -> Result<EchoPlace, Fail> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Ok(EchoPlace {
            path: format!(r"\\.\pipe\pipe_bench-echo-{}-{n}", std::process::id()).into(),
        })
    }
}

/// The echo's pipe, served as the agent serves its own: one instance waits for the next client,
/// and each accept creates its successor (remote clients refused; no DACL of its own: the
/// floor has no checks).
pub struct EchoListener {
    name: OsString,
    next: NamedPipeServer,
}

impl EchoListener {
    pub fn bind(path: &Path) -> Result<EchoListener, Fail> {
        let name = path.as_os_str().to_owned();
        let next = Self::create(&name, true)?;
        Ok(EchoListener { name, next })
    }

    fn create(name: &OsString, first: bool) -> std::io::Result<NamedPipeServer> {
        ServerOptions::new()
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .create(name)
    }

    pub async fn accept(&mut self) -> std::io::Result<NamedPipeServer> {
        self.next.connect().await?;
        let fresh = Self::create(&self.name, false)?;
        Ok(std::mem::replace(&mut self.next, fresh))
    }
}

fn open_process(pid: u32) -> Result<OwnedHandle, Fail> {
    // SAFETY: plain call; the handle is checked before use.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        let e = std::io::Error::last_os_error();
        return Err(format!("opening process {pid}: {e}").into());
    }
    // SAFETY: a valid process handle that nothing else owns; closed when dropped.
    Ok(unsafe { OwnedHandle::from_raw_handle(h) })
}

/// The process's working set in KiB.
pub fn rss_kib(pid: u32) -> Result<u64, Fail> {
    use std::os::windows::io::AsRawHandle;
    let process = open_process(pid)?;
    let size = size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
    // SAFETY: all-zero is a valid PROCESS_MEMORY_COUNTERS (integers only).
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    counters.cb = size;
    // SAFETY: the handle is open and the struct is `size` bytes, as `cb` says.
    if unsafe { K32GetProcessMemoryInfo(process.as_raw_handle(), &mut counters, size) } == 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!("the working set of process {pid}: {e}").into());
    }
    Ok(counters.WorkingSetSize as u64 / 1024)
}

/// Whether the process has children (the sign-in window).
pub fn has_children(pid: u32) -> bool {
    use std::os::windows::io::AsRawHandle;
    // SAFETY: plain call; the handle is checked before use.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if snap == INVALID_HANDLE_VALUE || snap.is_null() {
        return false;
    }
    // SAFETY: a valid snapshot handle that nothing else owns; closed when dropped.
    let snap = unsafe { OwnedHandle::from_raw_handle(snap) };
    // SAFETY: all-zero is a valid PROCESSENTRY32W (integers and an array of them).
    let mut entry: PROCESSENTRY32W = unsafe { std::mem::zeroed() };
    entry.dwSize = size_of::<PROCESSENTRY32W>() as u32;
    // SAFETY: the snapshot is open and `dwSize` says how big the entry is.
    let mut more = unsafe { Process32FirstW(snap.as_raw_handle(), &mut entry) } != 0;
    while more {
        if entry.th32ParentProcessID == pid && entry.th32ProcessID != pid {
            return true;
        }
        // SAFETY: as above.
        more = unsafe { Process32NextW(snap.as_raw_handle(), &mut entry) } != 0;
    }
    false
}
