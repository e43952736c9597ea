//! The doctor's engine checks: the browser engine the window needs (WebKitGTK on Linux, the
//! WebView2 runtime on Windows, WKWebView on macOS), and whether it can use security keys
//! (WebAuthn) for an IdP that asks for one.

use super::report::Check;

/// The WebKitGTK the window program links (wry's `webkit2gtk-4.1`) and the oldest it needs
/// (the `webkit2gtk` crate's `v2_38` feature).
#[cfg(target_os = "linux")]
const WEBKIT_LIB: &std::ffi::CStr = c"libwebkit2gtk-4.1.so.0";
#[cfg(target_os = "linux")]
const WEBKIT_MIN: (u32, u32) = (2, 38);

/// Linux: loads WebKitGTK as the window program would (so a missing dependency of it shows
/// too) and asks its version. Only this short-lived process loads it, never the agent.
#[cfg(target_os = "linux")]
pub fn engine() -> Check {
    const NAME: &str = "engine";
    let lib = WEBKIT_LIB.to_string_lossy();
    match webkit_version() {
        Err(why) => Check::fail(NAME, why),
        Ok((major, minor, micro)) if (major, minor) >= WEBKIT_MIN => {
            Check::ok(NAME, format!("WebKitGTK {major}.{minor}.{micro} ({lib})"))
        }
        Ok((major, minor, micro)) => Check::fail(
            NAME,
            format!(
                "WebKitGTK {major}.{minor}.{micro} ({lib}) is older than the {}.{} the window needs",
                WEBKIT_MIN.0, WEBKIT_MIN.1
            ),
        ),
    }
}

/// Linux: WebKitGTK releases have no WebAuthn (WebKit bug 205350; upstream work is in trunk
/// only), so `PublicKeyCredential` is undefined in the window. A warning, not a failure: most
/// IdPs offer other methods, and the window says so when one asks for a key.
#[cfg(target_os = "linux")]
pub fn webauthn() -> Check {
    const NAME: &str = "webauthn";
    match webkit_version() {
        Ok((major, minor, micro)) => Check::warn(
            NAME,
            format!(
                "not supported by the engine (WebKitGTK {major}.{minor}.{micro} checked: no \
                 WebAuthn): an IdP that asks for a security key cannot finish in the window, \
                 which says so; users pick another sign-in method"
            ),
        ),
        Err(_) => Check::skip(NAME, "WebKitGTK cannot be loaded (see the engine row)"),
    }
}

/// WebKitGTK's version, from the library the window links; why not when it cannot be loaded.
#[cfg(target_os = "linux")]
fn webkit_version() -> Result<(u32, u32, u32), String> {
    use std::ffi::{CStr, c_uint};
    let lib = WEBKIT_LIB.to_string_lossy();
    // SAFETY: a constant NUL-terminated name. The handle is never closed: GLib-based libraries
    // do not support being unloaded, and this process ends soon.
    let handle = unsafe { libc::dlopen(WEBKIT_LIB.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns NULL or a NUL-terminated message owned by libc.
        let why = unsafe {
            let e = libc::dlerror();
            (!e.is_null()).then(|| CStr::from_ptr(e).to_string_lossy().into_owned())
        };
        return Err(format!(
            "WebKitGTK cannot be loaded ({}): install libwebkit2gtk-4.1-0",
            why.unwrap_or_else(|| lib.to_string())
        ));
    }
    let part = |symbol: &CStr| -> Option<u32> {
        // SAFETY: `handle` is live; the symbol, when present, is WebKitGTK's
        // `guint webkit_get_*_version(void)`.
        unsafe {
            let f = libc::dlsym(handle, symbol.as_ptr());
            (!f.is_null())
                .then(|| std::mem::transmute::<*mut libc::c_void, extern "C" fn() -> c_uint>(f)())
        }
    };
    let version = (
        part(c"webkit_get_major_version"),
        part(c"webkit_get_minor_version"),
        part(c"webkit_get_micro_version"),
    );
    match version {
        (Some(major), Some(minor), Some(micro)) => Ok((major, minor, micro)),
        _ => Err(format!("{lib} loaded but does not tell its version")),
    }
}

#[cfg(target_os = "macos")]
pub fn engine() -> Check {
    Check::ok("engine", "WKWebView (part of macOS)")
}

/// macOS: WKWebView has WebAuthn, but for another site's keys (an IdP's) an app needs Apple's
/// managed entitlement, which this build does not carry.
#[cfg(target_os = "macos")]
pub fn webauthn() -> Check {
    Check::warn(
        "webauthn",
        "WKWebView: needs the com.apple.developer.web-browser.public-key-credential \
         entitlement (granted by Apple) for an IdP's security keys; this build does not carry it",
    )
}

/// Windows: WebView2 has WebAuthn (security keys and Windows Hello, through webauthn.dll).
#[cfg(windows)]
pub fn webauthn() -> Check {
    Check::ok(
        "webauthn",
        "supported by the engine (WebView2: security keys and Windows Hello)",
    )
}

/// The WebView2 Evergreen runtime's client id in EdgeUpdate's registry keys.
#[cfg(windows)]
const WEBVIEW2_CLIENT: &str =
    r"Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}";

/// Windows: a Fixed Version runtime named by `WEBVIEW2_BROWSER_EXECUTABLE_FOLDER`, else the
/// Evergreen runtime's `pv` value where Microsoft documents it (per-machine, then per-user).
/// Read from the registry: this executable does not load WebView2Loader.dll.
#[cfg(windows)]
pub fn engine() -> Check {
    use windows_sys::Win32::System::Registry::{HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE};
    const NAME: &str = "engine";
    if let Some(dir) =
        std::env::var_os("WEBVIEW2_BROWSER_EXECUTABLE_FOLDER").filter(|d| !d.is_empty())
    {
        let dir = std::path::PathBuf::from(dir);
        return if dir.join("msedgewebview2.exe").is_file() {
            Check::ok(
                NAME,
                format!("WebView2 Fixed Version runtime at {}", dir.display()),
            )
        } else {
            Check::fail(
                NAME,
                format!(
                    "WEBVIEW2_BROWSER_EXECUTABLE_FOLDER names {}, which holds no msedgewebview2.exe",
                    dir.display()
                ),
            )
        };
    }
    let places = [
        (
            HKEY_LOCAL_MACHINE,
            format!(r"SOFTWARE\WOW6432Node\{WEBVIEW2_CLIENT}"),
            r"HKLM (per-machine)",
        ),
        (
            HKEY_LOCAL_MACHINE,
            format!(r"SOFTWARE\{WEBVIEW2_CLIENT}"),
            r"HKLM (per-machine)",
        ),
        (
            HKEY_CURRENT_USER,
            format!(r"Software\{WEBVIEW2_CLIENT}"),
            r"HKCU (per-user)",
        ),
    ];
    for (root, key, scope) in &places {
        if let Some(pv) = registry_string(*root, key, "pv").filter(|pv| webview2_installed(pv)) {
            return Check::ok(NAME, format!("WebView2 runtime {pv} ({scope})"));
        }
    }
    Check::fail(
        NAME,
        "no WebView2 runtime (no `pv` under EdgeUpdate\\Clients\\{F3017226-…} in HKLM or HKCU): \
         install the Evergreen runtime (docs/packaging.md)",
    )
}

/// Microsoft's rule for the `pv` value: present, not empty, not `0.0.0.0`.
#[cfg(any(windows, test))]
fn webview2_installed(pv: &str) -> bool {
    let pv = pv.trim();
    !pv.is_empty() && pv != "0.0.0.0"
}

/// A `REG_SZ` value, or `None` when the key or value is absent (or too long to be a version).
#[cfg(windows)]
fn registry_string(
    root: windows_sys::Win32::System::Registry::HKEY,
    key: &str,
    value: &str,
) -> Option<String> {
    use windows_sys::Win32::System::Registry::{RRF_RT_REG_SZ, RegGetValueW};
    let wide = |s: &str| s.encode_utf16().chain(Some(0)).collect::<Vec<u16>>();
    let (key, value) = (wide(key), wide(value));
    let mut buf = [0u16; 128];
    let mut len = size_of_val(&buf) as u32;
    // SAFETY: NUL-terminated names; `buf` and `len` describe a writable buffer of `len` bytes.
    let rc = unsafe {
        RegGetValueW(
            root,
            key.as_ptr(),
            value.as_ptr(),
            RRF_RT_REG_SZ,
            std::ptr::null_mut(),
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (rc == 0).then(|| {
        let n = (len as usize / 2).min(buf.len());
        String::from_utf16_lossy(&buf[..n])
            .trim_end_matches('\0')
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webview2_pv_rule() {
        assert!(webview2_installed("120.0.2210.91"));
        assert!(!webview2_installed(""));
        assert!(!webview2_installed(" "));
        assert!(!webview2_installed("0.0.0.0"));
    }
}
