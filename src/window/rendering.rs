//! Which rendering variables the window process gets (WebKitGTK): the pre-emptive one on
//! NVIDIA's driver or where GL can only be software, and the safer set of the one restart after
//! the renderer died or painted nothing. Pure: a function of the caller's environment and a few
//! facts of the machine. A variable the user set (any value, even empty) is never overridden.

use std::ffi::OsString;

/// WebKitGTK ≥ 2.42's DMA-BUF renderer: blank windows and aborts on NVIDIA, Wayland, VMs.
pub const DMABUF: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";
/// Accelerated compositing (GL in the web process) off: the classic blank-window remedy.
pub const COMPOSITING: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
/// GDK's backend: `x11` runs the window through X11 (XWayland in a Wayland session).
pub const GDK_BACKEND: &str = "GDK_BACKEND";

/// One variable set for the window process.
pub type Var = (&'static str, &'static str);

/// What the decision depends on besides the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The window's engine is WebKitGTK (Linux); elsewhere nothing is set.
    pub webkitgtk: bool,
    /// NVIDIA's proprietary kernel module is loaded (`/sys/module/nvidia`).
    pub nvidia: bool,
    /// An X11 display is reachable (`DISPLAY`, or our own Xvfb).
    pub x11: bool,
    /// A GPU render node (`/dev/dri/renderD*`) this user can open; without one, GL is Mesa's
    /// software rasteriser (VMs, containers, Xvfb).
    pub gpu: bool,
}

impl Facts {
    /// This machine's facts; `own_x11`: the window runs on a display of our own (Xvfb).
    pub fn probe(own_x11: bool) -> Facts {
        Facts {
            webkitgtk: cfg!(target_os = "linux"),
            nvidia: std::path::Path::new("/sys/module/nvidia").exists(),
            x11: own_x11 || std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()),
            gpu: render_node_usable(),
        }
    }
}

/// Whether any `/dev/dri/renderD*` opens for reading and writing (as Mesa opens it).
fn render_node_usable() -> bool {
    let Ok(dir) = std::fs::read_dir("/dev/dri") else {
        return false;
    };
    dir.flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("renderD")
            && std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(e.path())
                .is_ok()
    })
}

/// The first window's variables: the DMA-BUF renderer off where NVIDIA's driver is loaded
/// (what wails does, whatever the session type), since its blank window may never crash; and
/// where there is no GPU to share buffers from: with software GL the DMA-BUF renderer only
/// adds work (measured on the bare wry window: 0.87–0.91× the sign-in time, 0.95× the memory;
/// docs/benchmarks.md).
pub fn first(env: impl Fn(&str) -> Option<OsString>, facts: Facts) -> Vec<Var> {
    let mut out = vec![];
    if why_first(facts).is_some() {
        set_default(&mut out, &env, DMABUF, "1");
    }
    out
}

/// Why the first window gets [`first`]'s variables, in words for the log.
pub fn why_first(facts: Facts) -> Option<&'static str> {
    match facts {
        Facts {
            webkitgtk: false, ..
        } => None,
        Facts { nvidia: true, .. } => Some("NVIDIA's driver is loaded"),
        Facts { gpu: false, .. } => Some("no GPU render node (GL is software)"),
        _ => None,
    }
}

/// The restarted window's variables: the DMA-BUF renderer off, compositing off, and, as the
/// last resort, the X11 backend where X11 is there. The first window's choice is kept.
pub fn safer(env: impl Fn(&str) -> Option<OsString>, facts: Facts) -> Vec<Var> {
    let mut out = vec![];
    if !facts.webkitgtk {
        return out;
    }
    set_default(&mut out, &env, DMABUF, "1");
    set_default(&mut out, &env, COMPOSITING, "1");
    if facts.x11 {
        set_default(&mut out, &env, GDK_BACKEND, "x11");
    }
    out
}

/// `A=1, B=1` for messages; says so when there was nothing left to change.
pub fn describe(vars: &[Var]) -> String {
    if vars.is_empty() {
        return "nothing changed: every rendering variable is already set in the environment"
            .into();
    }
    vars.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn set_default(
    out: &mut Vec<Var>,
    env: &impl Fn(&str) -> Option<OsString>,
    name: &'static str,
    value: &'static str,
) {
    if env(name).is_none() {
        out.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(set: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |k| set.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
    }

    const LINUX: Facts = Facts {
        webkitgtk: true,
        nvidia: false,
        x11: true,
        gpu: true,
    };

    #[test]
    fn the_first_window_disables_dmabuf_only_on_nvidia_or_software_gl_and_only_if_unset() {
        assert_eq!(first(env(&[]), LINUX), vec![]);
        assert_eq!(why_first(LINUX), None);
        let no_gpu = Facts {
            gpu: false,
            ..LINUX
        };
        assert_eq!(first(env(&[]), no_gpu), vec![(DMABUF, "1")]);
        assert_eq!(first(env(&[(DMABUF, "0")]), no_gpu), vec![]);
        assert!(why_first(no_gpu).unwrap().contains("software"));
        let nvidia = Facts {
            nvidia: true,
            ..LINUX
        };
        assert_eq!(first(env(&[]), nvidia), vec![(DMABUF, "1")]);
        assert_eq!(first(env(&[(DMABUF, "0")]), nvidia), vec![]);
        assert_eq!(first(env(&[(DMABUF, "")]), nvidia), vec![]);
        let windows = Facts {
            webkitgtk: false,
            ..nvidia
        };
        assert_eq!(first(env(&[]), windows), vec![]);
    }

    #[test]
    fn the_restart_adds_every_safer_setting_the_user_left_unset() {
        assert_eq!(
            safer(env(&[]), LINUX),
            vec![(DMABUF, "1"), (COMPOSITING, "1"), (GDK_BACKEND, "x11")]
        );
        let wayland_only = Facts {
            x11: false,
            ..LINUX
        };
        assert_eq!(
            safer(env(&[]), wayland_only),
            vec![(DMABUF, "1"), (COMPOSITING, "1")]
        );
        assert_eq!(
            safer(env(&[(COMPOSITING, "0"), (GDK_BACKEND, "wayland")]), LINUX),
            vec![(DMABUF, "1")]
        );
        let all = &[(DMABUF, "0"), (COMPOSITING, "0"), (GDK_BACKEND, "wayland")];
        assert_eq!(safer(env(all), LINUX), vec![]);
        assert!(describe(&[]).contains("nothing changed"));
        assert_eq!(
            describe(&safer(env(&[]), wayland_only)),
            "WEBKIT_DISABLE_DMABUF_RENDERER=1, WEBKIT_DISABLE_COMPOSITING_MODE=1"
        );
        let mac = Facts {
            webkitgtk: false,
            ..LINUX
        };
        assert_eq!(safer(env(&[]), mac), vec![]);
    }
}
