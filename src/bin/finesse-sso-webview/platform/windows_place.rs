//! Windows: the window in front of its caller. The caller's HWND becomes our window's owner
//! (an owned window stays above its owner), and the reveal asks for the foreground, which
//! Windows grants only if the caller allowed it (`AllowSetForegroundWindow(<our pid>)`, see
//! docs/administrators.md). A handle that names no window is ignored with a warning.
//! Compile-checked only here.

use tao::platform::windows::{WindowBuilderExtWindows, WindowExtWindows};
use tao::window::{Window, WindowBuilder};
use windows::Win32::Foundation::HWND;
use windows::Win32::UI::WindowsAndMessaging::{IsWindow, SetForegroundWindow};

use finesse_sso::window::Placement;

/// Our window owned by the caller's, when it names a window.
pub fn place_builder(builder: WindowBuilder, placement: &Placement) -> WindowBuilder {
    let Some(handle) = placement.parent_window else {
        return builder;
    };
    let Ok(raw) = isize::try_from(handle.0) else {
        tracing::warn!("--parent-window {handle} ignored: not an HWND");
        return builder;
    };
    // SAFETY: IsWindow accepts any value and only reports whether it names a window.
    if !unsafe { IsWindow(Some(HWND(raw as *mut core::ffi::c_void))) }.as_bool() {
        tracing::warn!("--parent-window {handle} ignored: no such window");
        return builder;
    }
    builder.with_owner_window(raw)
}

/// The owner is set at creation; nothing more to do once the window exists.
pub fn place(_window: &Window, _placement: &Placement) {}

/// Asks for the foreground (granted when the caller called `AllowSetForegroundWindow`).
pub fn bring_to_front(window: &Window, _placement: &Placement) {
    window.set_focus();
    // SAFETY: our own live window's handle.
    let granted = unsafe { SetForegroundWindow(HWND(window.hwnd() as *mut core::ffi::c_void)) };
    if !granted.as_bool() {
        tracing::debug!(
            "Windows refused the foreground (the caller did not call AllowSetForegroundWindow)"
        );
    }
}
