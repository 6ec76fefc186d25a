"""RISE deletion/insertion and the study's Faith on a real architecture, for the Swift evaluation tests.

resnet50 with the deterministic weights of scripts/gen_fixtures.py (3 classes), the first 224×224 fixture
image, and pytorch-grad-cam's GradCAM map for it (Tests/Fixtures/cams/resnet50/GradCAM_none.npy, image 0).
Definitions as in issue 6 / Sources/Evaluation/Faithfulness.swift: pixels by descending map value, ties by
index (stable argsort); each of `steps` steps changes the next ceil(HW/steps) pixels in all channels;
deletion sets them to 0; insertion starts from torchvision gaussian_blur(kernel 11, sigma 5) and reveals
the original; score = softmax probability of the predicted class; AUC = trapezoid over the fraction changed.
Faith = logit_y(x) - logit_y(x * (1 - L)).

Run by hand: /tmp/tv/bin/python scripts/gen_rise_fixture.py  → Tests/Fixtures/metrics/resnet50_rise.json"""
import json
import math
import os
import sys

import numpy as np
import torch
import torchvision.transforms.functional as TF

sys.path.insert(0, os.path.dirname(__file__))
from gen_fixtures import build, input_tensor  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures")


def curve(model, start, finish, order, steps, cls):
    _, c, h, w = start.shape
    hw = h * w
    s = math.ceil(hw / steps)
    points = math.ceil(hw / s) + 1
    rank = np.empty(hw, dtype=np.int64)
    rank[order] = np.arange(hw)
    xs, batch = [], []
    for k in range(points):
        changed = min(k * s, hw)
        m = torch.from_numpy((rank < changed).reshape(1, 1, h, w).astype(np.float32))
        batch.append(start * (1 - m) + finish * m)
        xs.append(changed / hw)
    with torch.no_grad():
        probs = torch.cat([torch.softmax(model(torch.cat(batch[i:i + 16])), 1) for i in range(0, len(batch), 16)])
    ys = probs[:, cls].double().numpy()
    return xs, ys.tolist(), float(np.trapezoid(ys, xs))


def main():
    torch.set_num_threads(2)
    model = build("resnet50")
    x = input_tensor(2, 224)[0:1]
    sal = np.load(os.path.join(ROOT, "cams", "resnet50", "GradCAM_none.npy"))[0].astype(np.float32)
    with torch.no_grad():
        logits = model(x)
    cls = int(logits.argmax(1))
    order = np.argsort(-sal.reshape(-1), kind="stable")
    steps = 50
    dx, dy, dauc = curve(model, x, torch.zeros_like(x), order, steps, cls)
    blurred = TF.gaussian_blur(x, kernel_size=11, sigma=5.0)
    ix, iy, iauc = curve(model, blurred, x, order, steps, cls)
    with torch.no_grad():
        masked = model(x * (1 - torch.from_numpy(sal)[None, None]))
    faith = float(logits[0, cls] - masked[0, cls])
    doc = {"version": 1, "command": "/tmp/tv/bin/python scripts/gen_rise_fixture.py", "torch": torch.__version__,
           "arch": "resnet50", "image": "models/input_224.npy[0]", "map": "cams/resnet50/GradCAM_none.npy[0]",
           "class": cls, "steps": steps, "deletion": {"x": dx, "y": dy, "auc": dauc},
           "insertion": {"x": ix, "y": iy, "auc": iauc}, "faith": faith}
    with open(os.path.join(ROOT, "metrics", "resnet50_rise.json"), "w") as f:
        json.dump(doc, f)
    print("class", cls, "deletion", dauc, "insertion", iauc, "faith", faith)


if __name__ == "__main__":
    main()
