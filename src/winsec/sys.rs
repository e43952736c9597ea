//! The Win32 calls behind `winsec`: the current user's SID, a process's user, a pipe's server
//! and owner, reading and setting file DACLs, and creating folders and files born private.
//! Every handle and buffer is released here; the judgements are the pure modules'.

use std::ffi::c_void;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::FromRawHandle;
use std::path::Path;
use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ALREADY_EXISTS, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE, LocalFree,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW, GetSecurityInfo,
    SDDL_REVISION_1, SE_FILE_OBJECT, SE_KERNEL_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, GetSecurityDescriptorDacl, GetTokenInformation,
    OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
    SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::{
    CREATE_NEW, CreateDirectoryW, CreateFileW, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_DELETE,
    FILE_SHARE_READ, FILE_SHARE_WRITE,
};
use windows_sys::Win32::System::Pipes::GetNamedPipeServerProcessId;
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::sddl::{self, Descriptor};
use super::sid::Sid;

/// The last OS error, prefixed with the call that failed.
fn os_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// Reads a NUL-terminated UTF-16 string that `LocalAlloc` allocated, and frees it.
///
/// # Safety
/// `p` is a valid NUL-terminated string from a call that documents `LocalFree`.
unsafe fn take_local_string(p: *mut u16) -> String {
    let mut n = 0;
    // SAFETY: the caller promises a NUL-terminated string.
    while unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    // SAFETY: `n` UTF-16 units precede the NUL.
    let s = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, n) });
    // SAFETY: allocated with LocalAlloc by the API that returned it.
    unsafe { LocalFree(p.cast()) };
    s
}

/// A handle closed on drop.
struct Owned(HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: a handle this module opened and nobody else closes.
        unsafe { CloseHandle(self.0) };
    }
}

/// The user of an access token.
fn token_user(token: HANDLE) -> io::Result<Sid> {
    let mut len = 0u32;
    // SAFETY: a size query: no buffer is written.
    unsafe { GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    // SAFETY: `buf` holds `len` bytes, 8-aligned as TOKEN_USER needs.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast::<c_void>(),
            len,
            &mut len,
        )
    };
    if ok == 0 {
        return Err(os_error("GetTokenInformation(TokenUser)"));
    }
    // SAFETY: the call succeeded, so `buf` starts with a TOKEN_USER whose SID points into it.
    let user = unsafe { &*(buf.as_ptr().cast::<TOKEN_USER>()) };
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: a valid SID; `text` receives a LocalAlloc'd string.
    if unsafe { ConvertSidToStringSidW(user.User.Sid, &mut text) } == 0 {
        return Err(os_error("ConvertSidToStringSidW"));
    }
    // SAFETY: returned by ConvertSidToStringSidW, freed with LocalFree.
    let text = unsafe { take_local_string(text) };
    Sid::parse(&text).map_err(io::Error::other)
}

/// The current user's SID (read once: a process's user does not change).
pub fn current_user() -> io::Result<Sid> {
    static USER: OnceLock<Sid> = OnceLock::new();
    if let Some(u) = USER.get() {
        return Ok(u.clone());
    }
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this process; `token` receives a handle closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(os_error("OpenProcessToken"));
    }
    let token = Owned(token);
    let user = token_user(token.0)?;
    Ok(USER.get_or_init(|| user).clone())
}

/// The user a process runs as. Fails when the process may not be opened (another user's, at
/// a higher integrity level or protected): the caller decides what that means.
pub fn process_user(pid: u32) -> io::Result<Sid> {
    // SAFETY: OpenProcess returns null on failure, checked.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return Err(os_error(&format!("OpenProcess({pid})")));
    }
    let process = Owned(process);
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: an open process handle; `token` receives a handle closed below.
    if unsafe { OpenProcessToken(process.0, TOKEN_QUERY, &mut token) } == 0 {
        return Err(os_error(&format!("OpenProcessToken({pid})")));
    }
    let token = Owned(token);
    token_user(token.0)
}

/// The id of the process serving the pipe a client handle is connected to.
pub fn pipe_server_pid(pipe: HANDLE) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: writes one u32; `pipe` is a connected client handle the caller owns.
    if unsafe { GetNamedPipeServerProcessId(pipe, &mut pid) } == 0 {
        return Err(os_error("GetNamedPipeServerProcessId"));
    }
    Ok(pid)
}

/// Owner and DACL of an object as SDDL, parsed.
fn descriptor_of(
    object: impl FnOnce(u32, *mut PSECURITY_DESCRIPTOR) -> u32,
    what: &str,
    info: u32,
) -> io::Result<Descriptor> {
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    let status = object(info, &mut sd);
    if status != 0 {
        let e = io::Error::from_raw_os_error(status as i32);
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sd` is the descriptor just returned; `text` receives a LocalAlloc'd string.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd,
            SDDL_REVISION_1,
            info,
            &mut text,
            std::ptr::null_mut(),
        )
    };
    let converted = if ok == 0 {
        Err(os_error(
            "ConvertSecurityDescriptorToStringSecurityDescriptorW",
        ))
    } else {
        // SAFETY: returned by the conversion above, freed with LocalFree.
        Ok(unsafe { take_local_string(text) })
    };
    // SAFETY: GetSecurityInfo/GetNamedSecurityInfoW allocate the descriptor with LocalAlloc.
    unsafe { LocalFree(sd.cast()) };
    Descriptor::parse(&converted?).map_err(io::Error::other)
}

/// The owner of a kernel object (a pipe) from a handle with `READ_CONTROL`.
pub fn handle_owner(handle: HANDLE) -> io::Result<Sid> {
    let sd = descriptor_of(
        |info, sd| {
            // SAFETY: only the descriptor is requested; it is freed by `descriptor_of`.
            unsafe {
                GetSecurityInfo(
                    handle,
                    SE_KERNEL_OBJECT,
                    info,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    sd,
                )
            }
        },
        "GetSecurityInfo(pipe)",
        OWNER_SECURITY_INFORMATION,
    )?;
    sd.owner
        .ok_or_else(|| io::Error::other("the pipe's descriptor has no owner"))
}

/// Owner and DACL of a file or folder.
pub fn path_descriptor(path: &Path) -> io::Result<Descriptor> {
    let name = wide(path);
    descriptor_of(
        |info, sd| {
            // SAFETY: `name` is NUL-terminated; only the descriptor is requested.
            unsafe {
                GetNamedSecurityInfoW(
                    name.as_ptr(),
                    SE_FILE_OBJECT,
                    info,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    sd,
                )
            }
        },
        "GetNamedSecurityInfoW",
        OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
    )
}

/// A self-relative security descriptor built from SDDL, freed on drop.
pub struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

// SAFETY: the descriptor is immutable after creation and only read by the calls given it.
unsafe impl Send for SecurityDescriptor {}
// SAFETY: as above.
unsafe impl Sync for SecurityDescriptor {}

impl SecurityDescriptor {
    pub fn from_sddl(sddl: &str) -> io::Result<Self> {
        let text: Vec<u16> = sddl.encode_utf16().chain(Some(0)).collect();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `text` is NUL-terminated; `sd` receives a LocalAlloc'd descriptor.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                text.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(os_error(
                "ConvertStringSecurityDescriptorToSecurityDescriptorW",
            ));
        }
        Ok(SecurityDescriptor(sd))
    }

    /// Security attributes pointing at this descriptor (valid while it lives), not inheritable.
    pub fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.0,
            bInheritHandle: 0,
        }
    }

    fn dacl(&self) -> io::Result<*mut ACL> {
        let (mut present, mut defaulted) = (0, 0);
        let mut dacl: *mut ACL = std::ptr::null_mut();
        // SAFETY: a valid descriptor; the DACL pointer points into it.
        if unsafe { GetSecurityDescriptorDacl(self.0, &mut present, &mut dacl, &mut defaulted) }
            == 0
        {
            return Err(os_error("GetSecurityDescriptorDacl"));
        }
        if present == 0 {
            return Err(io::Error::other("the descriptor has no DACL"));
        }
        Ok(dacl)
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.0.cast()) };
    }
}

/// Replaces the DACL of a file or folder with the private one, protected from inheritance.
/// On a folder, Windows passes the new inheritable entries on to what is inside.
pub fn set_private(path: &Path, user: &Sid, folder: bool) -> io::Result<()> {
    let sd = SecurityDescriptor::from_sddl(&sddl::private_sddl(user, folder))?;
    let name = wide(path);
    // SAFETY: `name` is NUL-terminated; the DACL lives in `sd`, alive for the call.
    let status = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            sd.dacl()?,
            std::ptr::null(),
        )
    };
    if status != 0 {
        let e = io::Error::from_raw_os_error(status as i32);
        return Err(io::Error::new(
            e.kind(),
            format!("SetNamedSecurityInfoW: {e}"),
        ));
    }
    Ok(())
}

/// Creates a folder born with the private DACL. `Ok(false)`: it existed already.
pub fn create_private_dir(path: &Path, user: &Sid) -> io::Result<bool> {
    let sd = SecurityDescriptor::from_sddl(&sddl::private_sddl(user, true))?;
    let attrs = sd.attributes();
    let name = wide(path);
    // SAFETY: `name` is NUL-terminated; `attrs` and its descriptor outlive the call.
    if unsafe { CreateDirectoryW(name.as_ptr(), &attrs) } != 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(ERROR_ALREADY_EXISTS as i32) {
        return Ok(false);
    }
    Err(e)
}

/// Creates a new file (never an existing one) born with the private DACL, open for writing:
/// no moment exists when another user could open it.
pub fn create_private_file(path: &Path, user: &Sid) -> io::Result<std::fs::File> {
    let sd = SecurityDescriptor::from_sddl(&sddl::private_sddl(user, false))?;
    let attrs = sd.attributes();
    let name = wide(path);
    // SAFETY: `name` is NUL-terminated; `attrs` and its descriptor outlive the call. The share
    // mode is std's, so the file can be renamed while open.
    let handle = unsafe {
        CreateFileW(
            name.as_ptr(),
            GENERIC_WRITE,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            &attrs,
            CREATE_NEW,
            FILE_ATTRIBUTE_NORMAL,
            std::ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh handle nobody else owns; the File closes it.
    Ok(unsafe { std::fs::File::from_raw_handle(handle) })
}
