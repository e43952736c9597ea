//! Linux: the window in front of its caller. X11: transient for the caller's window (a
//! foreign GDK window, so `WM_TRANSIENT_FOR` names it and the window manager stacks ours above
//! it); Wayland: the caller's xdg-activation token as the startup id. Both: `present()` on
//! reveal, which passes focus-stealing prevention where `set_focus` does not.

use gdkx11::gdk;
use gtk::glib::translate::{FromGlibPtrFull, ToGlibPtr};
use gtk::prelude::{Cast, GtkWindowExt, WidgetExt};
use tao::platform::unix::WindowExtUnix;
use tao::window::{Window, WindowBuilder};

use finesse_sso::window::Placement;

/// Nothing to set before the window exists on Linux (Windows sets its owner there).
pub fn place_builder(builder: WindowBuilder, _placement: &Placement) -> WindowBuilder {
    builder
}

/// Makes the (hidden) window transient for the caller's window, before it is ever mapped.
/// A handle that names no window, or one given on Wayland, is ignored with a warning.
pub fn place(window: &Window, placement: &Placement) {
    let Some(handle) = placement.parent_window else {
        return;
    };
    let gtk_window = window.gtk_window();
    let display = gtk_window.display();
    let Some(x11) = display.downcast_ref::<gdkx11::X11Display>() else {
        tracing::warn!(
            "--parent-window {handle} ignored: not an X11 display (Wayland uses XDG_ACTIVATION_TOKEN)"
        );
        return;
    };
    // The safe binding of this call assumes success; GDK answers NULL (after trapping the X
    // error) when the id names no window, so it is called directly and checked.
    // SAFETY: a live X11 display; the returned reference is owned by us (transfer full).
    let foreign = unsafe {
        let ptr =
            gdkx11::ffi::gdk_x11_window_foreign_new_for_display(x11.to_glib_none().0, handle.0);
        (!ptr.is_null()).then(|| gdk::Window::from_glib_full(ptr))
    };
    let Some(parent) = foreign else {
        tracing::warn!("--parent-window {handle} ignored: no such X11 window");
        return;
    };
    // The GDK window exists once realised (not mapped): the hint is there before the first map.
    gtk_window.realize();
    match gtk_window.window() {
        Some(ours) => {
            ours.set_transient_for(&parent);
            tracing::debug!("the window is transient for X11 window {handle}");
        }
        None => tracing::warn!("--parent-window {handle} ignored: the window has no GDK window"),
    }
}

/// Shows the window in front: the activation token first (Wayland), then `present()`.
pub fn bring_to_front(window: &Window, placement: &Placement) {
    let gtk_window = window.gtk_window();
    if let Some(token) = &placement.activation_token {
        gtk_window.set_startup_id(token);
    }
    gtk_window.present();
}
