#!/usr/bin/env python3
"""Writes the checkpoint fixtures in Tests/Fixtures/checkpoints/ (NNTests/Checkpoint*Tests.swift).

Run:   /tmp/tv/bin/python scripts/gen_checkpoint_fixtures.py
Check: /tmp/tv/bin/python scripts/gen_checkpoint_fixtures.py --verify PATH.safetensors
       (PATH is the file CheckpointRoundTripTests writes; it is loaded with safetensors.torch.load_file,
       applied with load_state_dict(strict=True) and compared bit-exactly with the fixture model.)

The fixture model is a tiny conv+bn+linear nn.Sequential with deterministic weights and non-trivial
BatchNorm buffers. Expected values are stored as .npy (float32, tensors flattened and concatenated in
EXPECTED_KEYS order) so the Swift tests compare against numbers PyTorch produced, not its own output.
The hostile fixtures try to `touch /tmp/camaudit_pwned`; the tests check that file never appears.
"""
import argparse
import io
import os
import pickle
import sys
import zipfile

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "checkpoints")
PWNED = "/tmp/camaudit_pwned"


def tiny_model() -> nn.Sequential:
    torch.manual_seed(0)
    m = nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False),  # 0.weight [4,3,3,3]
        nn.BatchNorm2d(4),               # 1.weight/bias/running_mean/running_var/num_batches_tracked
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),                 # 5.weight [2,4], 5.bias [2]
    )
    with torch.no_grad():
        m[1].weight.uniform_(0.5, 1.5)
        m[1].bias.uniform_(-0.5, 0.5)
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
        m[1].num_batches_tracked.fill_(7)
    return m


def expected_blob(sd) -> np.ndarray:
    return np.concatenate([sd[k].detach().to(torch.float32).reshape(-1).numpy() for k in sd]).astype("<f4")


class Evil:
    """Unpickling this runs os.system — a loader that executes globals would create PWNED."""

    def __reduce__(self):
        return (os.system, ("touch " + PWNED,))


def generate() -> None:
    os.makedirs(OUT, exist_ok=True)
    p = lambda name: os.path.join(OUT, name)
    m = tiny_model()
    sd = m.state_dict()
    print("keys:", [(k, tuple(v.shape), str(v.dtype)) for k, v in sd.items()])

    # float32, both formats, plus the torch pickle protocol 4 variant (FRAME, MEMOIZE, STACK_GLOBAL…)
    save_file({k: v.contiguous() for k, v in sd.items()}, p("tiny.safetensors"), metadata={"format": "pt"})
    torch.save(sd, p("tiny.pth"))
    torch.save(sd, p("tiny_p4.pth"), pickle_protocol=4)
    np.save(p("tiny_expected_f32.npy"), expected_blob(sd))

    # wrapped checkpoints: extra non-tensor entries and an optimizer state that uses only allowed globals
    trained = tiny_model()  # a separate copy: the step below changes its weights and BN buffers
    opt = torch.optim.SGD(trained.parameters(), lr=0.1, momentum=0.9)
    trained(torch.randn(2, 3, 5, 5)).sum().backward()
    opt.step()
    m2 = tiny_model()  # same values as sd
    torch.save({"state_dict": m2.state_dict(), "epoch": 3, "best_acc": 0.875, "arch": "tiny",
                "optimizer": opt.state_dict(), "flags": [True, False, None]}, p("tiny_wrapped.pth"))
    torch.save({"model": m2.state_dict()}, p("tiny_model_key.pth"))
    dp = nn.DataParallel(tiny_model())
    torch.save(dp.state_dict(), p("tiny_module_prefix.pth"))
    assert next(iter(dp.state_dict())).startswith("module.")
    torch.save({"state_dict": sd, "args": argparse.Namespace(lr=0.1)}, p("tiny_unknown_global.pth"))

    # reduced / widened precision; num_batches_tracked stays int64
    for tag, dt in [("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)]:
        sdc = {k: (v if k.endswith("num_batches_tracked") else v.to(dt)) for k, v in sd.items()}
        torch.save(sdc, p(f"tiny_{tag}.pth"))
        save_file(sdc, p(f"tiny_{tag}.safetensors"))
        np.save(p(f"tiny_expected_{tag}.npy"), expected_blob(sdc))

    # views: transposed, sliced with a step, offset into shared storage, expanded (stride 0)
    torch.manual_seed(1)
    base = torch.randn(4, 6)
    views = {
        "transposed": torch.randn(3, 5).t(),
        "strided": base[1:3, ::2],
        "offset": base[2:],
        "expanded": torch.randn(3, 1).expand(3, 4),
    }
    for k, v in views.items():
        print("view", k, tuple(v.shape), v.stride(), v.storage_offset(), v.is_contiguous())
    torch.save(views, p("views.pth"))
    np.save(p("views_expected.npy"), np.concatenate([v.contiguous().reshape(-1).numpy() for v in views.values()]).astype("<f4"))

    # integer tensor that is not num_batches_tracked: must be refused by name
    torch.save({"fc.weight": torch.ones(2, 2), "fc.index": torch.arange(4)}, p("int_tensor.pth"))

    # hostile: torch.save zip with an os.system reduce, a bare pickle, a protocol-4 bare pickle
    torch.save({"x": torch.ones(2), "payload": Evil()}, p("hostile.pth"))
    with open(p("hostile.pkl"), "wb") as f:
        pickle.dump(Evil(), f, protocol=2)
    with open(p("hostile_p4.pkl"), "wb") as f:
        pickle.dump({"payload": Evil()}, f, protocol=4)
    assert not os.path.exists(PWNED), "generator itself must not trigger the payload"

    # legacy (pre-1.6) non-zip torch.save format: refused with a clear message
    torch.save({"w": torch.ones(2)}, p("legacy.pth"), _use_new_zipfile_serialization=False)

    # the raw pickles of two archives, so the fuzz test can mutate the unpickler's input directly
    # (mutating it inside the zip mostly trips the CRC check first)
    for src, dst in [("tiny_wrapped.pth", "wrapped_data.pkl"), ("views.pth", "views_data.pkl")]:
        z = zipfile.ZipFile(p(src))
        open(p(dst), "wb").write(z.read(next(n for n in z.namelist() if n.endswith("/data.pkl"))))

    # damaged files
    raw = open(p("tiny.pth"), "rb").read()
    open(p("truncated.pth"), "wb").write(raw[: len(raw) // 2])
    raw = open(p("tiny.safetensors"), "rb").read()
    open(p("truncated.safetensors"), "wb").write(raw[: len(raw) * 2 // 3])
    n = int.from_bytes(raw[:8], "little")
    header = bytearray(raw[8:8 + n])
    header[len(header) // 2] = ord("}")  # a brace in the middle of the JSON text
    open(p("corrupt_header.safetensors"), "wb").write(raw[:8] + bytes(header) + raw[8 + n:])
    open(p("huge_header.safetensors"), "wb").write((10 ** 12).to_bytes(8, "little") + raw[8:])

    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(p(name)):8d}  {name}")


def verify(path: str) -> None:
    """Loads a Swift-written .safetensors with PyTorch and checks strict load + exact values."""
    m = tiny_model()
    ref = {k: v.clone() for k, v in m.state_dict().items()}
    loaded = load_file(path)
    target = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                           nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    target.load_state_dict(loaded, strict=True)
    bad = []
    for k, v in target.state_dict().items():
        if v.dtype != ref[k].dtype or not torch.equal(v, ref[k]):
            bad.append(k)
        print(f"{k:28s} {str(loaded[k].dtype):14s} {'OK' if k not in bad else 'NOT OK'}")
    print("verify:", "OK" if not bad else f"NOT OK {bad}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--verify", metavar="PATH")
    a = ap.parse_args()
    verify(a.verify) if a.verify else generate()
