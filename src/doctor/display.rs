//! The doctor's display check: on X11/Wayland systems, whether `WAYLAND_DISPLAY` or `DISPLAY`
//! names a display that accepts connections (the window's own check only sees the variables).

use super::report::Check;

/// Where a display name leads.
#[cfg(all(unix, not(target_os = "macos")))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socket {
    Unix(std::path::PathBuf),
    Tcp(String, u16),
}

/// X11's `DISPLAY` (`[host]:N[.S]`): a local socket `/tmp/.X11-unix/XN`, or TCP port 6000+N.
#[cfg(all(unix, not(target_os = "macos")))]
pub fn x11_socket(display: &str) -> Option<Socket> {
    let (host, rest) = display.rsplit_once(':')?;
    let number: u16 = rest.split('.').next()?.parse().ok()?;
    match host {
        "" | "unix" => Some(Socket::Unix(format!("/tmp/.X11-unix/X{number}").into())),
        h if h.starts_with('/') => Some(Socket::Unix(display.into())), // launchd-style path
        h => Some(Socket::Tcp(
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            6000u16.checked_add(number)?,
        )),
    }
}

/// Wayland's `WAYLAND_DISPLAY`: an absolute path, or a name inside `XDG_RUNTIME_DIR`.
#[cfg(all(unix, not(target_os = "macos")))]
pub fn wayland_socket(name: &str, runtime_dir: Option<&std::path::Path>) -> Option<Socket> {
    let p = std::path::Path::new(name);
    if p.is_absolute() {
        return Some(Socket::Unix(p.into()));
    }
    runtime_dir.map(|d| Socket::Unix(d.join(name)))
}

/// Whether something accepts connections at `socket` (not whether we may draw there).
#[cfg(all(unix, not(target_os = "macos")))]
fn reachable(socket: &Socket) -> Result<(), String> {
    use std::time::Duration;
    match socket {
        Socket::Unix(path) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Ok(()),
            #[cfg(target_os = "linux")]
            Err(e) => {
                // X servers on Linux also listen on the abstract name (containers may lack /tmp's).
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(
                    path.as_os_str().as_encoded_bytes(),
                )
                .and_then(|a| std::os::unix::net::UnixStream::connect_addr(&a))
                .map(|_| ())
                .map_err(|_| format!("{}: {e}", path.display()))
            }
            #[cfg(not(target_os = "linux"))]
            Err(e) => Err(format!("{}: {e}", path.display())),
        },
        Socket::Tcp(host, port) => {
            use std::net::ToSocketAddrs;
            let addrs = (host.as_str(), *port)
                .to_socket_addrs()
                .map_err(|e| format!("{host}:{port}: {e}"))?;
            let mut last = format!("{host}:{port}: no address");
            for a in addrs {
                match std::net::TcpStream::connect_timeout(&a, Duration::from_secs(3)) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = format!("{host}:{port}: {e}"),
                }
            }
            Err(last)
        }
    }
}

/// Linux and other X11/Wayland systems: `WAYLAND_DISPLAY` or `DISPLAY` must name a display that
/// answers. Without either, a private Xvfb can still host a sign-in that needs no typing.
#[cfg(all(unix, not(target_os = "macos")))]
pub fn display() -> Check {
    const NAME: &str = "display";
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let runtime = var("XDG_RUNTIME_DIR").map(std::path::PathBuf::from);
    let mut tried = Vec::new();
    let wayland = var("WAYLAND_DISPLAY").map(|w| {
        let s = wayland_socket(&w, runtime.as_deref()).ok_or("XDG_RUNTIME_DIR is not set");
        (format!("WAYLAND_DISPLAY={w}"), s)
    });
    let x11 = var("DISPLAY").map(|d| {
        let s = x11_socket(&d).ok_or("not of the form [host]:N[.S]");
        (format!("DISPLAY={d}"), s)
    });
    for (which, socket) in [wayland, x11].into_iter().flatten() {
        match socket.map_err(String::from).and_then(|s| reachable(&s)) {
            Ok(()) => return Check::ok(NAME, format!("{which} accepts connections")),
            Err(e) => tried.push(format!("{which}: {e}")),
        }
    }
    if !tried.is_empty() {
        return Check::fail(NAME, tried.join("; "));
    }
    if crate::window::xvfb::available() {
        Check::warn(
            NAME,
            "none (DISPLAY and WAYLAND_DISPLAY unset); Xvfb is installed, so a sign-in that \
             needs no typing (login --demo, --non-interactive) still works",
        )
    } else {
        Check::fail(
            NAME,
            "none: DISPLAY and WAYLAND_DISPLAY are unset and Xvfb is not installed, so the \
             sign-in window cannot open",
        )
    }
}

#[cfg(any(windows, target_os = "macos"))]
pub fn display() -> Check {
    Check::skip(
        "display",
        "the window opens on the signed-in user's desktop",
    )
}

// X11 and Wayland sockets are Unix paths (`/tmp/w` is not absolute on Windows).
#[cfg(all(test, unix, not(target_os = "macos")))]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn display_names_lead_to_sockets() {
        assert_eq!(
            x11_socket(":0"),
            Some(Socket::Unix("/tmp/.X11-unix/X0".into()))
        );
        assert_eq!(
            x11_socket(":99.0"),
            Some(Socket::Unix("/tmp/.X11-unix/X99".into()))
        );
        assert_eq!(
            x11_socket("unix:3"),
            Some(Socket::Unix("/tmp/.X11-unix/X3".into()))
        );
        assert_eq!(
            x11_socket("localhost:10.0"),
            Some(Socket::Tcp("localhost".into(), 6010))
        );
        assert_eq!(x11_socket("[::1]:1"), Some(Socket::Tcp("::1".into(), 6001)));
        for bad in ["", "0", ":x", "host:", ":70000"] {
            assert_eq!(x11_socket(bad), None, "{bad:?}");
        }
        assert_eq!(
            wayland_socket("wayland-0", Some(Path::new("/run/user/1000"))),
            Some(Socket::Unix("/run/user/1000/wayland-0".into()))
        );
        assert_eq!(
            wayland_socket("/tmp/w", None),
            Some(Socket::Unix("/tmp/w".into()))
        );
        assert_eq!(wayland_socket("wayland-0", None), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_listening_socket_is_reachable_and_a_missing_one_is_not() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("w");
        let _l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        reachable(&Socket::Unix(p)).unwrap();
        let e = reachable(&Socket::Unix(t.path().join("none"))).unwrap_err();
        assert!(e.contains("none"), "{e}");
    }
}
