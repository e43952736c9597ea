//! Server-side GSSAPI for the IdP's Negotiate login: the system's `libgssapi_krb5.so.2`, opened
//! at run time (`dlopen`) through a minimal hand-written FFI, an acceptor credential from a
//! keytab, and one accepted SPNEGO token → the client's principal name.
//!
//! Why `dlopen` and not a crate: the emulator ships inside the product binary (`finesse-sso
//! emulate`), and linking libkrb5 would make every installation need it for a test feature. The
//! maintained GSSAPI crates (`libgssapi`, `cross-krb5`) generate their bindings with bindgen at
//! build time, which would put libclang and the krb5 headers into every build. Six functions
//! and two structs are written here by hand from MIT's `gssapi.h` / `gssapi_ext.h` instead.

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::Path;
use std::sync::Mutex;

/// Library names tried in order: MIT on Debian/Fedora, then the unversioned name, then Heimdal.
const LIBRARIES: &[&str] = &["libgssapi_krb5.so.2", "libgssapi_krb5.so", "libgssapi.so.3"];

type OmUint32 = u32;
type GssName = *mut c_void;
type GssCred = *mut c_void;
type GssCtx = *mut c_void;
type GssOid = *mut c_void;

#[repr(C)]
struct GssBuffer {
    length: usize,
    value: *mut c_void,
}

impl GssBuffer {
    fn empty() -> Self {
        GssBuffer {
            length: 0,
            value: std::ptr::null_mut(),
        }
    }
}

#[repr(C)]
struct KeyValue {
    key: *const c_char,
    value: *const c_char,
}

#[repr(C)]
struct KeyValueSet {
    count: OmUint32,
    elements: *const KeyValue,
}

const GSS_C_ACCEPT: c_int = 2;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;
const GSS_S_CONTINUE_NEEDED: OmUint32 = 1;

/// `GSS_ERROR(x)`: the routine or calling error bits.
fn is_error(major: OmUint32) -> bool {
    major & 0xffff_0000 != 0
}

type AcquireCredFrom = unsafe extern "C" fn(
    *mut OmUint32,
    GssName,
    OmUint32,
    *mut c_void,
    c_int,
    *const KeyValueSet,
    *mut GssCred,
    *mut *mut c_void,
    *mut OmUint32,
) -> OmUint32;
type AcceptSecContext = unsafe extern "C" fn(
    *mut OmUint32,
    *mut GssCtx,
    GssCred,
    *mut GssBuffer,
    *mut c_void,
    *mut GssName,
    *mut GssOid,
    *mut GssBuffer,
    *mut OmUint32,
    *mut OmUint32,
    *mut GssCred,
) -> OmUint32;
type DisplayName =
    unsafe extern "C" fn(*mut OmUint32, GssName, *mut GssBuffer, *mut GssOid) -> OmUint32;
type DisplayStatus = unsafe extern "C" fn(
    *mut OmUint32,
    OmUint32,
    c_int,
    GssOid,
    *mut OmUint32,
    *mut GssBuffer,
) -> OmUint32;
type ReleaseBuffer = unsafe extern "C" fn(*mut OmUint32, *mut GssBuffer) -> OmUint32;
type ReleaseHandle = unsafe extern "C" fn(*mut OmUint32, *mut *mut c_void) -> OmUint32;
type DeleteSecContext =
    unsafe extern "C" fn(*mut OmUint32, *mut GssCtx, *mut GssBuffer) -> OmUint32;

/// The functions used, resolved once from the library (which stays loaded for the process).
struct Lib {
    acquire_cred_from: AcquireCredFrom,
    accept_sec_context: AcceptSecContext,
    display_name: DisplayName,
    display_status: DisplayStatus,
    release_buffer: ReleaseBuffer,
    release_name: ReleaseHandle,
    release_cred: ReleaseHandle,
    delete_sec_context: DeleteSecContext,
}

impl Lib {
    fn open() -> Result<Lib, String> {
        let handle = LIBRARIES
            .iter()
            .find_map(|name| {
                let c = CString::new(*name).ok()?;
                // SAFETY: `c` is a valid C string; dlopen has no other precondition. The handle
                // is never closed, so the resolved pointers below stay valid.
                let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
                (!h.is_null()).then_some(h)
            })
            .ok_or_else(|| {
                format!(
                    "no GSSAPI library ({}): install MIT Kerberos' libgssapi-krb5-2 (Debian) or \
                     krb5-libs (Fedora)",
                    LIBRARIES.join(", ")
                )
            })?;
        let sym = |name: &str| -> Result<*mut c_void, String> {
            let c = CString::new(name).map_err(|e| e.to_string())?;
            // SAFETY: `handle` is a live dlopen handle and `c` a valid C string.
            let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
            match p.is_null() {
                true => Err(format!("the GSSAPI library has no `{name}`")),
                false => Ok(p),
            }
        };
        // SAFETY: each symbol is the GSSAPI function of that name, whose C signature (MIT
        // gssapi.h / gssapi_ext.h; KRB5_CALLCONV is the C ABI on Unix) its type spells out.
        unsafe {
            Ok(Lib {
                acquire_cred_from: std::mem::transmute::<*mut c_void, AcquireCredFrom>(sym(
                    "gss_acquire_cred_from",
                )?),
                accept_sec_context: std::mem::transmute::<*mut c_void, AcceptSecContext>(sym(
                    "gss_accept_sec_context",
                )?),
                display_name: std::mem::transmute::<*mut c_void, DisplayName>(sym(
                    "gss_display_name",
                )?),
                display_status: std::mem::transmute::<*mut c_void, DisplayStatus>(sym(
                    "gss_display_status",
                )?),
                release_buffer: std::mem::transmute::<*mut c_void, ReleaseBuffer>(sym(
                    "gss_release_buffer",
                )?),
                release_name: std::mem::transmute::<*mut c_void, ReleaseHandle>(sym(
                    "gss_release_name",
                )?),
                release_cred: std::mem::transmute::<*mut c_void, ReleaseHandle>(sym(
                    "gss_release_cred",
                )?),
                delete_sec_context: std::mem::transmute::<*mut c_void, DeleteSecContext>(sym(
                    "gss_delete_sec_context",
                )?),
            })
        }
    }

    /// The library's words for a failed call (major and minor status).
    fn describe(&self, major: OmUint32, minor: OmUint32) -> String {
        let mut parts = Vec::new();
        for (code, kind) in [(major, GSS_C_GSS_CODE), (minor, GSS_C_MECH_CODE)] {
            if code == 0 {
                continue;
            }
            let mut ctx: OmUint32 = 0;
            loop {
                let (mut min, mut buf) = (0, GssBuffer::empty());
                // SAFETY: out-pointers are valid; a null mech OID means the default mechanism.
                let maj = unsafe {
                    (self.display_status)(
                        &mut min,
                        code,
                        kind,
                        std::ptr::null_mut(),
                        &mut ctx,
                        &mut buf,
                    )
                };
                if is_error(maj) {
                    break;
                }
                parts.push(self.take_string(&mut buf));
                if ctx == 0 {
                    break;
                }
            }
        }
        match parts.is_empty() {
            true => format!("GSSAPI status {major:#x}/{minor:#x}"),
            false => parts.join("; "),
        }
    }

    /// Copies a buffer the library allocated, then releases it.
    fn take_string(&self, buf: &mut GssBuffer) -> String {
        let s = match buf.value.is_null() {
            true => String::new(),
            // SAFETY: the library filled `buf` with `length` readable bytes at `value`.
            false => unsafe {
                let bytes = std::slice::from_raw_parts(buf.value as *const u8, buf.length);
                String::from_utf8_lossy(bytes).into_owned()
            },
        };
        let mut min = 0;
        // SAFETY: `buf` was allocated by this library.
        unsafe { (self.release_buffer)(&mut min, buf) };
        s
    }
}

/// An acceptor credential from one keytab. The library's handle is used under a lock: MIT
/// documents concurrent use of one credential as safe, other implementations may not be.
pub(crate) struct Acceptor {
    lib: Lib,
    cred: Mutex<GssCred>,
}

// SAFETY: the credential handle is only used while its mutex is held, and the function pointers
// are plain code addresses.
unsafe impl Send for Acceptor {}
// SAFETY: as above; `&Acceptor` gives access to the handle only through the mutex.
unsafe impl Sync for Acceptor {}

/// Why a token was not accepted (a message for the IdP's page; it never quotes the token).
#[derive(Debug)]
pub(crate) struct Rejected(pub String);

impl Acceptor {
    /// Opens the library and acquires the keytab's acceptor credential (every principal in it).
    pub fn from_keytab(keytab: &Path) -> Result<Acceptor, String> {
        let meta =
            std::fs::metadata(keytab).map_err(|e| format!("keytab {}: {e}", keytab.display()))?;
        if !meta.is_file() {
            return Err(format!("keytab {}: not a file", keytab.display()));
        }
        let lib = Lib::open()?;
        let path = CString::new(keytab.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("keytab {}: the path holds a NUL byte", keytab.display()))?;
        // The replay cache lives beside the keytab (a throwaway realm's files stay together),
        // not in MIT's default `/var/tmp/krb5_<uid>.rcache2`.
        let mut rcache = b"file2:".to_vec();
        rcache.extend_from_slice(keytab.as_os_str().as_encoded_bytes());
        rcache.extend_from_slice(b".rcache2");
        let rcache = CString::new(rcache)
            .map_err(|_| format!("keytab {}: the path holds a NUL byte", keytab.display()))?;
        let elements = [
            KeyValue {
                key: c"keytab".as_ptr(),
                value: path.as_ptr(),
            },
            KeyValue {
                key: c"rcache".as_ptr(),
                value: rcache.as_ptr(),
            },
        ];
        let store = KeyValueSet {
            count: 2,
            elements: elements.as_ptr(),
        };
        let (mut minor, mut cred) = (0, std::ptr::null_mut());
        // SAFETY: every pointer is valid for the call; null name / mechs / outputs are the
        // documented GSS_C_NO_NAME, GSS_C_NO_OID_SET and "not wanted".
        let major = unsafe {
            (lib.acquire_cred_from)(
                &mut minor,
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                GSS_C_ACCEPT,
                &store,
                &mut cred,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if is_error(major) {
            return Err(format!(
                "keytab {}: no acceptor credential: {}",
                keytab.display(),
                lib.describe(major, minor)
            ));
        }
        Ok(Acceptor {
            lib,
            cred: Mutex::new(cred),
        })
    }

    /// Accepts one client token (the bytes of `Authorization: Negotiate <base64>`): the
    /// client's principal (`user@REALM`) and the reply token for `WWW-Authenticate`, if any.
    /// Kerberos through SPNEGO completes in one round trip; a context that wants more is refused.
    pub fn accept(&self, token: &[u8]) -> Result<(String, Vec<u8>), Rejected> {
        let cred = self.cred.lock().unwrap_or_else(|p| p.into_inner());
        let mut input = GssBuffer {
            length: token.len(),
            value: token.as_ptr() as *mut c_void,
        };
        let (mut minor, mut ctx, mut src) = (0, std::ptr::null_mut(), std::ptr::null_mut());
        let mut output = GssBuffer::empty();
        // SAFETY: `input` points at `token`, which outlives the call and is only read; the
        // out-pointers are valid; null bindings / mech / flags / time / delegated are "none".
        let major = unsafe {
            (self.lib.accept_sec_context)(
                &mut minor,
                &mut ctx,
                *cred,
                &mut input,
                std::ptr::null_mut(),
                &mut src,
                std::ptr::null_mut(),
                &mut output,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        drop(cred);
        let reply = self.lib.take_bytes(&mut output);
        let result = if is_error(major) {
            Err(Rejected(self.lib.describe(major, minor)))
        } else if major & GSS_S_CONTINUE_NEEDED != 0 {
            Err(Rejected(
                "the security context needs more than one round trip (not supported)".into(),
            ))
        } else {
            self.name(src).map(|n| (n, reply))
        };
        let mut min = 0;
        // SAFETY: `src` and `ctx` are null or handles this library returned; each is released
        // once (the release functions accept null handles).
        unsafe {
            if !src.is_null() {
                (self.lib.release_name)(&mut min, &mut src);
            }
            if !ctx.is_null() {
                (self.lib.delete_sec_context)(&mut min, &mut ctx, std::ptr::null_mut());
            }
        }
        result
    }

    fn name(&self, src: GssName) -> Result<String, Rejected> {
        if src.is_null() {
            return Err(Rejected("the context named no client".into()));
        }
        let (mut minor, mut buf) = (0, GssBuffer::empty());
        // SAFETY: `src` is a name this library returned; the out-pointers are valid.
        let major =
            unsafe { (self.lib.display_name)(&mut minor, src, &mut buf, std::ptr::null_mut()) };
        if is_error(major) {
            return Err(Rejected(self.lib.describe(major, minor)));
        }
        Ok(self.lib.take_string(&mut buf))
    }
}

impl Lib {
    fn take_bytes(&self, buf: &mut GssBuffer) -> Vec<u8> {
        if buf.value.is_null() {
            return Vec::new();
        }
        // SAFETY: the library filled `buf` with `length` readable bytes at `value`.
        let v = unsafe { std::slice::from_raw_parts(buf.value as *const u8, buf.length).to_vec() };
        let mut min = 0;
        // SAFETY: `buf` was allocated by this library.
        unsafe { (self.release_buffer)(&mut min, buf) };
        v
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        let cred = self.cred.get_mut().unwrap_or_else(|p| p.into_inner());
        if !cred.is_null() {
            let mut min = 0;
            // SAFETY: the handle came from gss_acquire_cred_from and is released once.
            unsafe { (self.lib.release_cred)(&mut min, cred) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_keytab_is_named() {
        let Err(e) = Acceptor::from_keytab(Path::new("/nonexistent/idp.keytab")) else {
            panic!("a missing keytab was accepted")
        };
        assert!(e.contains("/nonexistent/idp.keytab"), "{e}");
    }
}
