"""Writes Tests/Fixtures/training: PyTorch references for the Training module's tests.

    /tmp/tv/bin/python scripts/gen_training_fixtures.py [--only optim|float64|ARCH ...]

- optim.json: torch.optim.AdamW and torch.optim.SGD (default single-tensor CPU path) run on small
  parameter vectors with given gradients, the parameters after every step; nn.CrossEntropyLoss with
  label smoothing and class weights, loss and gradient.
- <arch>.json for each of the five architectures: deterministic weights (scripts/detparams.py),
  3 classes, 64x64 inputs (ViT-B/16 built with image_size=64), batches of 8 from
  detparams.input_image(16, 64)/255 (stored as uint8 in input_64.npy; step k uses images 8*(k%2) ..
  8*(k%2)+7), labels i % 3, the
  model in training mode with dropout and stochastic depth off (BatchNorm in training mode).
  5 AdamW steps and, from fresh weights, 5 SGD-momentum steps: the loss at every step, and per
  state-dict entry after the last step (and per parameter the gradient of the first step) its sum,
  sum of |x| and SAMPLE elements at the indices detparams.sample_indices(numel, SAMPLE,
  key="train/" + key) (full dumps would be hundreds of MB).
- float64_losses.json: the same 5 AdamW and 5 SGD steps of each architecture run by PyTorch in
  float64 (weights and images cast after the float32 construction). The deep ReLU networks amplify
  float32 rounding step by step: PyTorch's own float32 losses drift from these by up to 1.7e-3
  (ResNet-101, SGD step 5), so the tests hold camaudit to these, the exact trajectory, at 1e-3.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.ops import StochasticDepth

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detparams  # noqa: E402

VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "training")
ARCHS = ["resnet50", "resnet101", "densenet161", "efficientnet_b0", "vit_b_16"]
SIZE = 64
BATCH = 8
STEPS = 5
LABELS = [i % 3 for i in range(2 * BATCH)]
SAMPLE = 8
# Small steps keep the 5-step trajectory well conditioned: PyTorch float32 and float64 agree on
# every loss to ~3e-5 relative at these rates (at AdamW 1e-4 / SGD 1e-2 and 32 px they differ by
# 8% / 360%: tiny batches through BatchNorm at 1x1 spatial size amplify rounding chaotically).
ADAMW = dict(lr=1e-5, weight_decay=0.01)
SGD = dict(lr=1e-4, momentum=0.9, weight_decay=1e-4)


def floats(t):
    """float32 values written with 9 significant digits (enough to round-trip a float32)."""
    return [float(f"{v:.9g}") for v in np.asarray(t, dtype=np.float32).reshape(-1)]


# MARK: - optimizers and loss

def optim_case(name, make, n=7, steps=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    p0 = torch.randn(n, generator=g) * 0.5
    grads = [torch.randn(n, generator=g) * (0.1 if k % 2 else 1.0) for k in range(steps)]
    p = nn.Parameter(p0.clone())
    opt = make([p])
    after = []
    for gk in grads:
        p.grad = gk.clone()
        opt.step()
        after.append(floats(p.detach()))
    return {"name": name, "initial": floats(p0), "grads": [floats(x) for x in grads], "after": after}


def optim_fixture():
    cases = [
        optim_case("adamw_default", lambda ps: torch.optim.AdamW(ps, lr=1e-3)),
        optim_case("adamw_wd", lambda ps: torch.optim.AdamW(ps, lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1), seed=1),
        optim_case("sgd_plain", lambda ps: torch.optim.SGD(ps, lr=0.1), seed=2),
        optim_case("sgd_momentum_wd", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01), seed=3),
        optim_case("sgd_nesterov", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, weight_decay=0.001, nesterov=True), seed=4),
    ]
    hyper = {
        "adamw_default": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01),
        "adamw_wd": dict(lr=0.05, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.1),
        "sgd_plain": dict(lr=0.1, momentum=0.0, weight_decay=0.0, nesterov=False),
        "sgd_momentum_wd": dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=False),
        "sgd_nesterov": dict(lr=0.05, momentum=0.8, weight_decay=0.001, nesterov=True),
    }
    for c in cases:
        c["hyper"] = {k: float(v) for k, v in hyper[c["name"]].items()}
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(5, 4, generator=g) * 2
    targets = [0, 3, 1, 1, 2]
    losses = []
    for smoothing, weights in [(0.0, None), (0.1, None), (0.0, [0.5, 2.0, 1.0, 3.0]), (0.2, [0.5, 2.0, 1.0, 3.0])]:
        x = logits.clone().requires_grad_(True)
        w = torch.tensor(weights) if weights is not None else None
        loss = nn.CrossEntropyLoss(weight=w, label_smoothing=smoothing)(x, torch.tensor(targets))
        loss.backward()
        losses.append({"label_smoothing": smoothing, "weights": weights, "loss": float(loss.detach()), "grad": floats(x.grad)})
    return {"fixture_version": VERSION, "optimizers": cases,
            "cross_entropy": {"logits": floats(logits), "shape": [5, 4], "targets": targets, "cases": losses}}


# MARK: - architectures

def build(arch):
    if arch == "vit_b_16":
        m = torchvision.models.vit_b_16(num_classes=3, image_size=SIZE)
    else:
        m = getattr(torchvision.models, arch)(num_classes=3)
    detparams.fill_model(m)
    m.train()
    # --no-dropout: dropout and stochastic depth off, BatchNorm still in training mode.
    for mod in m.modules():
        if isinstance(mod, (nn.Dropout, StochasticDepth)):
            mod.eval()
    return m


def summaries(named):
    """{key: {shape, sum, abs_sum, indices, values}} for (key, tensor) pairs."""
    out = {}
    for k, v in named:
        a = v.detach().to(torch.float64).numpy().reshape(-1)
        idx = detparams.sample_indices(a.size, min(SAMPLE, a.size), key="train/" + k)
        out[k] = {"shape": list(v.shape), "sum": float(f"{a.sum():.10g}"), "abs_sum": float(f"{np.abs(a).sum():.10g}"),
                  "values": floats(a[idx])}
    return out


def run(arch, images, make_opt, dtype=torch.float32):
    torch.manual_seed(0)
    m = build(arch).to(dtype)
    images = images.to(dtype)
    opt = make_opt(m.parameters())
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    grads = None
    for step in range(STEPS):
        b = step % 2
        x = images[b * BATCH:(b + 1) * BATCH]
        y = torch.tensor(LABELS[b * BATCH:(b + 1) * BATCH])
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(m(x), y)
        loss.backward()
        if step == 0 and dtype == torch.float32:
            grads = summaries((k, p.grad) for k, p in m.named_parameters())
        opt.step()
        losses.append(float(loss))
    if dtype != torch.float32:
        return {"losses": losses}
    return {"losses": losses, "first_grads": grads, "state": summaries(m.state_dict().items())}


def write_input():
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, f"input_{SIZE}.npy"), detparams.input_image(2 * BATCH, SIZE))


def arch_fixture(arch):
    images = torch.from_numpy(detparams.input_image(2 * BATCH, SIZE).astype(np.float32) / 255.0)
    return {"fixture_version": VERSION, "arch": arch, "image_size": SIZE, "batch": BATCH, "steps": STEPS,
            "labels": LABELS, "num_classes": 3, "sample": SAMPLE,
            "adamw": {"hyper": ADAMW, **run(arch, images, lambda ps: torch.optim.AdamW(ps, **ADAMW))},
            "sgd": {"hyper": SGD, **run(arch, images, lambda ps: torch.optim.SGD(ps, **SGD))}}


def float64_losses():
    images = torch.from_numpy(detparams.input_image(2 * BATCH, SIZE).astype(np.float32) / 255.0)
    losses = {}
    for a in ARCHS:
        losses[a] = {"adamw": run(a, images, lambda ps: torch.optim.AdamW(ps, **ADAMW), torch.float64)["losses"],
                     "sgd": run(a, images, lambda ps: torch.optim.SGD(ps, **SGD), torch.float64)["losses"]}
        print(a, losses[a])
    return {"fixture_version": VERSION, "losses": losses}


def write(name, obj):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    want = set(args.only) if args.only else {"optim", "float64", *ARCHS}
    write_input()
    if "optim" in want:
        write("optim.json", optim_fixture())
    for a in ARCHS:
        if a in want:
            write(f"{a}.json", arch_fixture(a))
    if "float64" in want:
        write("float64_losses.json", float64_losses())


if __name__ == "__main__":
    main()
