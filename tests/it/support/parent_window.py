#!/usr/bin/python3
"""Stand in for a thick client's main window: map one X11 top-level window, print its id,
keep it until stdin closes.

Usage: /usr/bin/python3 parent_window.py TITLE   (Debian python3-xlib; DISPLAY names the display)
"""
import sys

from Xlib import X, Xatom, display

d = display.Display()
screen = d.screen()
win = screen.root.create_window(
    50, 50, 640, 480, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
    background_pixel=screen.white_pixel, event_mask=X.StructureNotifyMask,
)
win.set_wm_name(sys.argv[1])
win.change_property(d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING"), 8,
                    sys.argv[1].encode())
win.set_wm_class("parent", "FinesseSsoTestParent")
win.map()
d.flush()
print(hex(win.id), flush=True)
sys.stdin.read()  # the test closes stdin when done
win.destroy()
d.flush()
