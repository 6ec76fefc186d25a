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


class Rows(torch.utils.data.Dataset):
    def __init__(self, items, size):
        self.items = items
        self.tf = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        return self.tf(Image.open(path).convert("RGB")), label


def build(arch, k, size):
    if arch == "vit_b_16":
        return torchvision.models.vit_b_16(num_classes=k, image_size=size)
    return getattr(torchvision.models, arch)(num_classes=k)


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
    torch.manual_seed(a.seed)
    model = build(a.model, k, a.image_size)
    if a.check_load:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(a.check_load), strict=True)
        return {"checkpoint": a.check_load, "strict_load": "ok", "test": score(model, mk("test"), k)}
    wd = a.weight_decay if a.weight_decay is not None else (0.01 if a.optimizer == "adamw" else 0.0)
    opt = (torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=wd) if a.optimizer == "adamw"
           else torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=wd))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    best, best_state, history = -1.0, None, []
    for epoch in range(a.epochs):
        lr = learning_rate(a.lr, a.schedule, epoch, a.epochs, a.warmup_epochs)
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        t0, seen, correct, total = time.time(), 0, 0, 0.0
        for x, y in mk("train", a.shuffle == "true"):
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y); seen += len(y); correct += (out.argmax(1) == y).sum().item()
        v = score(model, mk("val"), k)
        history.append({"epoch": epoch + 1, "train_loss": total / seen, "train_accuracy": correct / seen,
                        "val_accuracy": v["accuracy"], "lr": lr, "seconds": time.time() - t0})
        print(json.dumps(history[-1]), file=sys.stderr)
        if v["accuracy"] > best:
            best, best_state = v["accuracy"], {kk: vv.clone() for kk, vv in model.state_dict().items()}
    model.load_state_dict(best_state)
    return {"model": a.model, "best_val_accuracy": best, "test": score(model, mk("test"), k), "history": history,
            "seconds": time.time() - started}


if __name__ == "__main__":
    main()
