"""PyTorch side of `camaudit train`: the same manifest, recipe and split, for the parity comparison.

    /tmp/tv/bin/python scripts/train_torch.py --model resnet50 --data MANIFEST.csv [--epochs 20 ...]
    /tmp/tv/bin/python scripts/train_torch.py --model resnet50 --data MANIFEST.csv --check-load weights/NAME.safetensors

Training: torchvision's builder with num_classes = the manifest's classes (PyTorch's own random
initialisation from --seed), AdamW (or SGD), cross-entropy, images Resize((S, S)) + ToTensor (PIL,
no mean/std), DataLoader(shuffle=--shuffle, drop_last=False); the checkpoint with the best validation
accuracy is kept and the test split scored with it (accuracy, macro-F1), printed as JSON.

--check-load: loads a checkpoint written by `camaudit train` into the torchvision model with
strict=True and scores the test split with it (proves the file is a valid torchvision state dict).
"""
import argparse
import csv
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision
from PIL import Image
from torchvision import transforms


def read_manifest(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    root = os.path.dirname(os.path.abspath(path))
    classes = {}
    for r in rows:
        classes[int(r["class_index"])] = r["class"]
    names = [classes[i] for i in sorted(classes)]
    items = {s: [(os.path.join(root, r["file"]) if not r["file"].startswith("/") else r["file"], int(r["class_index"]))
                 for r in rows if r["split"] == s] for s in ("train", "val", "test")}
    return names, items


def augment_basic(x, rng):
    """camaudit's `--augment basic` (Sources/Training/Augment.swift), the same draws and the same
    inverse map: random resized crop (area 0.8-1, aspect 3/4-4/3), horizontal flip (p 0.5), rotation
    U(-10, 10) degrees about the centre (bilinear, zero fill), brightness and contrast x U(0.9, 1.1)
    about the image mean, clamped to [0, 1]. x: [3, S, S] float tensor."""
    c, h, w = x.shape
    area = rng.uniform(0.8, 1.0) * h * w
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw, ch = min(w, np.sqrt(area * aspect)), min(h, np.sqrt(area / aspect))
    x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    flip = rng.uniform() < 0.5
    angle = np.deg2rad(rng.uniform(-10, 10))
    brightness, contrast = rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1)
    oy, ox = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    dx, dy = ox + 0.5 - w / 2, oy + 0.5 - h / 2
    u = np.cos(angle) * dx + np.sin(angle) * dy + w / 2
    v = -np.sin(angle) * dx + np.cos(angle) * dy + h / 2
    inside = (u >= 0) & (v >= 0) & (u < w) & (v < h)
    if flip:
        u = w - u
    fx = np.clip(x0 + u * cw / w - 0.5, 0, w - 1)
    fy = np.clip(y0 + v * ch / h - 0.5, 0, h - 1)
    ix, iy = fx.astype(int), fy.astype(int)
    ix1, iy1 = np.minimum(ix + 1, w - 1), np.minimum(iy + 1, h - 1)
    ax, ay = fx - ix, fy - iy
    p = x.numpy()
    top = p[:, iy, ix] * (1 - ax) + p[:, iy, ix1] * ax
    bottom = p[:, iy1, ix] * (1 - ax) + p[:, iy1, ix1] * ax
    out = np.where(inside, top * (1 - ay) + bottom * ay, 0.0)
    mean = out.mean()
    out = np.clip((out * brightness - mean * brightness) * contrast + mean * brightness, 0, 1)
    return torch.from_numpy(out.astype(np.float32))


class Rows(torch.utils.data.Dataset):
    def __init__(self, items, size, augment=False, seed=0):
        self.items = items
        self.tf = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])
        self.augment, self.seed, self.epoch = augment, seed, 0

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        x = self.tf(Image.open(path).convert("RGB"))
        if self.augment:
            x = augment_basic(x, np.random.default_rng([self.seed, self.epoch, i]))
        return x, label


def build(arch, k, size, head_init="torchvision"):
    if arch == "vit_b_16":
        model = torchvision.models.vit_b_16(num_classes=k, image_size=size)
    else:
        model = getattr(torchvision.models, arch)(num_classes=k)
    if head_init == "zeros":
        # camaudit train --head-init zeros: the classifier's last Linear starts at zero.
        head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
    return model


def score(model, loader, k):
    model.eval()
    truth, pred = [], []
    with torch.no_grad():
        for x, y in loader:
            pred += model(x).argmax(1).tolist()
            truth += y.tolist()
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(truth, pred):
        cm[t, p] += 1
    f1s = []
    for c in range(k):
        tp, fn, fp = cm[c, c], cm[c].sum() - cm[c, c], cm[:, c].sum() - cm[c, c]
        if tp + fn + fp:
            f1s.append(2 * tp / (2 * tp + fn + fp))
    return {"accuracy": float(np.trace(cm) / max(1, cm.sum())), "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
            "confusion_matrix": cm.tolist()}


def learning_rate(base, schedule, epoch, epochs, warmup):
    """camaudit's per-epoch schedule (docs/TRAINING.md): warmup, then none / cosine / step."""
    if epoch < warmup:
        return base * (epoch + 1) / (warmup + 1)
    e, span = epoch - warmup, max(1, epochs - warmup)
    if schedule == "cosine":
        return base * 0.5 * (1 + np.cos(np.pi * e / span))
    if schedule == "step":
        return base * 0.1 ** (e // max(1, span // 3))
    return base


def parser():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="manifest.csv")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=None)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--shuffle", default="true", choices=["true", "false"])
    ap.add_argument("--schedule", default="none", choices=["none", "cosine", "step"])
    ap.add_argument("--warmup-epochs", type=int, default=0)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--augment", default="none", choices=["none", "basic"])
    ap.add_argument("--no-dropout", action="store_true")
    ap.add_argument("--head-init", default="torchvision", choices=["torchvision", "zeros"])
    ap.add_argument("--progressive", default=None,
                    help="SIZE:EPOCHS, camaudit train --progressive: the first EPOCHS epochs at SIZE px (train and val), "
                         "the rest at --image-size; only those can be the best checkpoint")
    ap.add_argument("--check-load", default=None, help="a camaudit checkpoint to load strictly and score")
    return ap


def main():
    print(json.dumps(run(parser().parse_args()), indent=1))


def run(a):
    """Trains (or with --check-load scores) one model; returns the result as a dict."""
    started = time.time()
    if a.threads:
        torch.set_num_threads(a.threads)
    names, items = read_manifest(a.data)
    k = len(names)
    mk = lambda s, shuffle=False: torch.utils.data.DataLoader(Rows(items[s], a.image_size), batch_size=a.batch_size, shuffle=shuffle)
    train_rows = Rows(items["train"], a.image_size, augment=a.augment == "basic", seed=a.seed)
    torch.manual_seed(a.seed)
    model = build(a.model, k, a.image_size, a.head_init)
    if a.no_dropout:
        # camaudit train --no-dropout: dropout and stochastic depth off, BatchNorm still in training mode.
        for m in model.modules():
            if isinstance(m, (nn.Dropout, torchvision.ops.StochasticDepth)):
                m.p = 0.0
    if a.check_load:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(a.check_load), strict=True)
        return {"checkpoint": a.check_load, "strict_load": "ok", "test": score(model, mk("test"), k)}
    wd = a.weight_decay if a.weight_decay is not None else (0.01 if a.optimizer == "adamw" else 0.0)
    opt = (torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=wd) if a.optimizer == "adamw"
           else torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=wd))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    low_size, low_epochs = (int(v) for v in a.progressive.split(":")) if a.progressive else (a.image_size, 0)
    low_train = Rows(items["train"], low_size, augment=a.augment == "basic", seed=a.seed)
    low_val = torch.utils.data.DataLoader(Rows(items["val"], low_size), batch_size=a.batch_size)
    best, best_state, history = -1.0, None, []
    for epoch in range(a.epochs):
        low = epoch < low_epochs
        rows = low_train if low else train_rows
        lr = learning_rate(a.lr, a.schedule, epoch, a.epochs, a.warmup_epochs)
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        t0, seen, correct, total = time.time(), 0, 0, 0.0
        rows.epoch = epoch
        for x, y in torch.utils.data.DataLoader(rows, batch_size=a.batch_size, shuffle=a.shuffle == "true"):
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y); seen += len(y); correct += (out.argmax(1) == y).sum().item()
        v = score(model, low_val if low else mk("val"), k)
        history.append({"epoch": epoch + 1, "train_loss": total / seen, "train_accuracy": correct / seen,
                        "val_accuracy": v["accuracy"], "lr": lr, "seconds": time.time() - t0,
                        "image_size": low_size if low else a.image_size})
        print(json.dumps(history[-1]), file=sys.stderr)
        if not low and v["accuracy"] > best:
            best, best_state = v["accuracy"], {kk: vv.clone() for kk, vv in model.state_dict().items()}
    model.load_state_dict(best_state)
    return {"model": a.model, "best_val_accuracy": best, "test": score(model, mk("test"), k), "history": history,
            "seconds": time.time() - started}


if __name__ == "__main__":
    main()
