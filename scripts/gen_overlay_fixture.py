#!/usr/bin/env python3
"""Writes the overlay reference ReportTests reads: Tests/Fixtures/overlay/.

pytorch-grad-cam 1.5.7's show_cam_on_image(img, mask, use_rgb=True) on small images: the CAM
overlay convention of camaudit's figures (0.5*image + 0.5*JET(map), then divided by its maximum).
Regenerate with:  /tmp/tv/bin/python scripts/gen_overlay_fixture.py
Version 1. Needs numpy, opencv and grad-cam.
"""
import os

import numpy as np
from pytorch_grad_cam.utils.image import show_cam_on_image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "overlay")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(15)
H, W = 12, 16
yy, xx = np.mgrid[0:H, 0:W]
cases = {
    # A full-range map over a noisy grey image.
    "full": (rng.uniform(0, 0.9, (H, W)), np.exp(-((xx - 10) ** 2 + (yy - 5) ** 2) / 18.0)),
    # A map that never reaches 1 over a dark image: the division by the maximum brightens it.
    "dim": (rng.uniform(0, 0.3, (H, W)), 0.6 * xx / (W - 1)),
}
for name, (grey, cam) in cases.items():
    img = np.repeat(grey[:, :, None], 3, axis=2).astype(np.float32)          # [H,W,3] in [0,1]
    out = show_cam_on_image(img, cam.astype(np.float32), use_rgb=True)        # [H,W,3] uint8
    np.save(os.path.join(OUT, f"{name}_image.npy"), np.ascontiguousarray(img.transpose(2, 0, 1)))  # [3,H,W]
    np.save(os.path.join(OUT, f"{name}_map.npy"), cam.astype(np.float32))                          # [H,W]
    np.save(os.path.join(OUT, f"{name}_expected.npy"), out.astype(np.int32))                       # [H,W,3]
print("wrote", OUT)
