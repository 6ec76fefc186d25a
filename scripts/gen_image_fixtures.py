#!/usr/bin/env python3
"""Writes the small image fixtures ImagingTests read: Tests/Fixtures/images/.

Each input image is written by PIL; the expected pixels are what PIL (and, for the resize
fixtures, torchvision) return when they read/resize it, saved as .npy (uint8 or int32).
Regenerate with:  /tmp/tv/bin/python scripts/gen_image_fixtures.py
Version 1. Needs numpy and Pillow; torchvision is used for the resize references when present.
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "images")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1234)


def save_npy(name, arr):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(arr))


def expected(name, path):
    """What PIL decodes (np.array of Image.open), stored beside the file."""
    a = np.array(Image.open(path))
    save_npy(name, a.astype(np.int32))
    return a


def add_gama(png_bytes, gamma=45455):
    """Insert a gAMA chunk right after IHDR (libpng would gamma-convert 16-bit data because of it)."""
    ihdr_end = 8 + 8 + 13 + 4
    data = struct.pack(">I", gamma)
    chunk = struct.pack(">I", len(data)) + b"gAMA" + data + struct.pack(">I", zlib.crc32(b"gAMA" + data) & 0xFFFFFFFF)
    return png_bytes[:ihdr_end] + chunk + png_bytes[ihdr_end:]


def smooth(h, w, c=None):
    """A smooth random image with sharp edges (so resize errors would show)."""
    y, x = np.mgrid[0:h, 0:w]
    shape = (h, w) if c is None else (h, w, c)
    base = rng.integers(0, 256, size=shape).astype(np.float64) * 0.3
    wave = 127 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    if c is not None:
        wave = wave[..., None] * np.linspace(0.6, 1.0, c)[None, None, :]
    img = base + wave * 0.7
    img[h // 3: h // 2, w // 4: w // 2, ...] = 250
    return np.clip(img, 0, 255).astype(np.uint8)


# --- PNG decoding fixtures ---------------------------------------------------------------
grey8 = rng.integers(0, 256, size=(9, 13), dtype=np.uint8)
Image.fromarray(grey8).save(os.path.join(OUT, "grey8.png"))
expected("grey8.npy", os.path.join(OUT, "grey8.png"))

grey16 = rng.integers(0, 65536, size=(7, 11)).astype(np.uint16)
grey16[0, 0], grey16[0, 1], grey16[0, 2] = 0, 65535, 1024 - 600  # black, white, −600 HU at +1024 storage
Image.fromarray(grey16).save(os.path.join(OUT, "grey16.png"))
a16 = np.array(Image.open(os.path.join(OUT, "grey16.png"))).astype(np.int32)
assert (a16 == grey16).all(), "PIL did not round-trip 16-bit grey"
save_npy("grey16.npy", a16)
with open(os.path.join(OUT, "grey16.png"), "rb") as f:
    raw = f.read()
with open(os.path.join(OUT, "grey16_gama.png"), "wb") as f:
    f.write(add_gama(raw))

la = rng.integers(0, 256, size=(6, 5, 2), dtype=np.uint8)
Image.fromarray(la).save(os.path.join(OUT, "grey_alpha.png"))
expected("grey_alpha.npy", os.path.join(OUT, "grey_alpha.png"))

rgb = rng.integers(0, 256, size=(5, 8, 3), dtype=np.uint8)
Image.fromarray(rgb).save(os.path.join(OUT, "rgb.png"))
expected("rgb.npy", os.path.join(OUT, "rgb.png"))

rgba = rng.integers(0, 256, size=(7, 6, 4), dtype=np.uint8)
Image.fromarray(rgba).save(os.path.join(OUT, "rgba.png"))
expected("rgba.npy", os.path.join(OUT, "rgba.png"))

pal_idx = rng.integers(0, 16, size=(10, 12), dtype=np.uint8)
pal = Image.fromarray(pal_idx)
palette = rng.integers(0, 256, size=(16 * 3,), dtype=np.uint8)
pal.putpalette(palette.tolist())
pal.save(os.path.join(OUT, "palette.png"))
np_rgb = np.array(Image.open(os.path.join(OUT, "palette.png")).convert("RGB"))
save_npy("palette.npy", np_rgb.astype(np.int32))

# --- JPEG fixtures (PIL-encoded; expected = PIL's decode) ----------------------------------
jgrey = smooth(24, 40)
Image.fromarray(jgrey).save(os.path.join(OUT, "grey.jpg"), quality=90)
expected("grey_jpg.npy", os.path.join(OUT, "grey.jpg"))
Image.fromarray(jgrey).save(os.path.join(OUT, "grey_progressive.jpg"), quality=85, progressive=True)
expected("grey_progressive_jpg.npy", os.path.join(OUT, "grey_progressive.jpg"))
jrgb = smooth(30, 21, 3)
Image.fromarray(jrgb).save(os.path.join(OUT, "rgb.jpg"), quality=92)
expected("rgb_jpg.npy", os.path.join(OUT, "rgb.jpg"))
Image.fromarray(jrgb).save(os.path.join(OUT, "rgb_progressive.jpg"), quality=80, progressive=True)
expected("rgb_progressive_jpg.npy", os.path.join(OUT, "rgb_progressive.jpg"))

# --- Resize fixtures: torchvision Resize((224, 224)) on PIL images -------------------------
try:
    from torchvision import transforms
    resize = transforms.Resize((224, 224))
    resize_nearest = transforms.Resize((224, 224), interpolation=transforms.InterpolationMode.NEAREST)
    source = "torchvision"
except Exception:  # CI-free fallback: the same call torchvision makes
    resize = lambda im: im.resize((224, 224), Image.BILINEAR)
    resize_nearest = lambda im: im.resize((224, 224), Image.NEAREST)
    source = "PIL"

down = smooth(301, 263)          # downscale, non-square (antialias support > 1)
Image.fromarray(down).save(os.path.join(OUT, "resize_down_grey.png"))
save_npy("resize_down_grey_224.npy", np.array(resize(Image.open(os.path.join(OUT, "resize_down_grey.png")))))
up = smooth(97, 131, 3)          # upscale, colour
Image.fromarray(up).save(os.path.join(OUT, "resize_up_rgb.png"))
save_npy("resize_up_rgb_224.npy", np.array(resize(Image.open(os.path.join(OUT, "resize_up_rgb.png")))))
mask = np.zeros((512, 623), np.uint8)  # the odd IQ-OTH/NCCD size
mask[100:180, 200:333] = 255
mask[300:301, 40:600] = 255
Image.fromarray(mask).save(os.path.join(OUT, "mask_512x623.png"))
save_npy("mask_512x623_nearest_224.npy", np.array(resize_nearest(Image.open(os.path.join(OUT, "mask_512x623.png")))))
with open(os.path.join(OUT, "README.txt"), "w") as f:
    f.write("Generated by scripts/gen_image_fixtures.py (version 1); resize references from %s.\n" % source)
print("wrote fixtures to", os.path.abspath(OUT), "resize reference:", source)
