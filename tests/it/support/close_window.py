#!/usr/bin/python3
"""Close an X11 window the way a window manager does: send it WM_DELETE_WINDOW.

Usage: /usr/bin/python3 close_window.py WINDOW_ID   (Debian python3-xlib; Xvfb has no window manager, and `xdotool windowclose`
destroys the window instead of asking it to close.)
"""
import sys

from Xlib import X, display, protocol

d = display.Display()
win = d.create_resource_object("window", int(sys.argv[1], 0))
wm_protocols = d.intern_atom("WM_PROTOCOLS")
wm_delete = d.intern_atom("WM_DELETE_WINDOW")
event = protocol.event.ClientMessage(
    window=win, client_type=wm_protocols, data=(32, [wm_delete, X.CurrentTime, 0, 0, 0])
)
win.send_event(event, event_mask=X.NoEventMask)
d.flush()
