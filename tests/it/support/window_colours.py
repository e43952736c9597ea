#!/usr/bin/python3
"""Print how many distinct colours an X11 window shows, as the X server has its pixels.

Usage: /usr/bin/python3 window_colours.py WINDOW_ID   (Debian python3-xlib). A look at the window
from outside the product, to hold the window program's own "shows its page" check to the truth.
"""
import sys

from Xlib import X, display

d = display.Display()
win = d.create_resource_object("window", int(sys.argv[1], 0))
g = win.get_geometry()
img = win.get_image(0, 0, g.width, g.height, X.ZPixmap, 0xFFFFFFFF)
# 32 bits a pixel (BGRX) on a 24-bit screen; the padding byte is not a colour.
pixels = {img.data[i : i + 3] for i in range(0, len(img.data), 4)}
print(len(pixels))
