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

Whole-model fixtures (NNTests/CheckpointModelTests.swift; the scheme is in scripts/README.md): every
tensor of a torchvision model is a strided view into a few small shared storages, so torch.save writes
the full state dict of ResNet-101 or DenseNet-161 in under 300 kB, and the Swift test loads the file
exactly as a user would and compares logits with PyTorch's. Legacy (pre-1.6) files for each of the
five architectures in fp32 and fp16, an old-key DenseNet-161 (the layout of torchvision's original
ImageNet file, loaded here through torchvision's own DenseNet loader), a PyTorch Lightning checkpoint
(written by Lightning's Trainer) and a `{"epoch", "model_state_dict", "optimizer_state_dict"}` file.
"""
import argparse
import io
import os
import pickle
import sys
import zipfile

import numpy as np
import pickletools
import re
import collections

import torch
import torch.nn as nn
import torchvision
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detparams  # noqa: E402

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
    # for --checkpoint-key / --strip-prefix: two state dicts (the EMA copy zeroed so the tests can
    # tell which was read), a Lightning-style prefix, and two models under two prefixes
    zeros = collections.OrderedDict((k, torch.zeros_like(v) if v.is_floating_point() else v) for k, v in sd.items())
    torch.save({"model": m2.state_dict(), "model_ema": zeros, "epoch": 4}, p("tiny_two_state_dicts.pth"))
    torch.save({"epoch": 2, "global_step": 10, "pytorch-lightning_version": "2.6.6",
                "state_dict": collections.OrderedDict(("model." + k, v) for k, v in sd.items()),
                "optimizer_states": [opt.state_dict()], "hyper_parameters": {"lr": 1e-3, "classes": ("a", "b")}},
               p("tiny_lightning.pth"))
    both = collections.OrderedDict([("student." + k, v) for k, v in zeros.items()] + [("teacher." + k, v) for k, v in sd.items()])
    torch.save({"state_dict": both}, p("tiny_two_models.pth"))

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

    legacy_containers(p, sd, opt)
    whole_models(p)

    total = 0
    for name in sorted(os.listdir(OUT)):
        total += os.path.getsize(p(name))
        print(f"{os.path.getsize(p(name)):8d}  {name}")
    print(f"{total:8d}  total")


# ---------------------------------------------------------------------------------------------
# Legacy (pre-1.6) container: small files for every dtype, wrapped content, and hostile variants


def pickle_spans(raw: bytes):
    """(start, end) of each pickle at the head of a legacy file, found with pickletools (nothing is
    unpickled): magic number, protocol version, sys info, the object, the storage keys."""
    spans, pos = [], 0
    for _ in range(5):
        end = None
        for op, _arg, at in pickletools.genops(io.BytesIO(raw[pos:])):
            if op.name == "STOP":
                end = pos + at + 1
                break
        spans.append((pos, end))
        pos = end
    return spans


def legacy_containers(p, sd, opt) -> None:
    save = lambda obj, name, **kw: torch.save(obj, p(name), _use_new_zipfile_serialization=False, **kw)
    save(sd, "tiny_legacy.pth")
    save(sd, "tiny_legacy_p4.pth", pickle_protocol=4)
    for tag, dt in [("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)]:
        save({k: (v if k.endswith("num_batches_tracked") else v.to(dt)) for k, v in sd.items()}, f"tiny_legacy_{tag}.pth")
    # a training checkpoint in the legacy container: optimizer state (with momentum tensors) is skipped
    # (a set: protocol 2 pickles it as a call of builtins.set, which the reader allows)
    save({"epoch": 3, "model_state_dict": sd, "optimizer_state_dict": opt.state_dict(), "loss": 0.25,
          "tags": {"cam", "audit"}}, "tiny_legacy_wrapped.pth")
    for name in ["tiny_legacy.pth", "tiny_legacy_wrapped.pth"]:
        back = torch.load(p(name), weights_only=False)
        back = back.get("model_state_dict", back)
        assert all(torch.equal(back[k], sd[k]) for k in sd), name

    # storage views, which only PyTorch < 0.4 wrote (view_metadata in the persistent id): built by
    # hand with pickle in the layout _legacy_save had then, and read back by torch.load as the check
    legacy_storage_views(p("tiny_legacy_views.pth"))
    back = torch.load(p("tiny_legacy_views.pth"), weights_only=False)
    np.save(p("tiny_legacy_views_expected.npy"), np.concatenate([v.reshape(-1).numpy() for v in back.values()]).astype("<f4"))
    print("legacy views:", {k: (tuple(v.shape), v.stride(), v.storage_offset()) for k, v in back.items()})

    # hostile: the os.system payload in each of the five pickles in turn (written by pickle, spliced in)
    raw = open(p("tiny_legacy.pth"), "rb").read()
    spans = pickle_spans(raw)
    evil = pickle.dumps(Evil(), protocol=2)
    for i, what in enumerate(["magic", "protocol", "sysinfo", "object", "keys"]):
        a, b = spans[i]
        open(p(f"hostile_legacy_{what}.pth"), "wb").write(raw[:a] + evil + raw[b:])
    # and the way torch itself writes it: a payload object inside the saved dict
    save({"x": torch.ones(2), "payload": Evil()}, "hostile_legacy.pth")
    assert not os.path.exists(PWNED), "generator itself must not trigger the payload"


def legacy_storage_views(path: str) -> None:
    """{"a": 2x2 view at element 2 of a 10-element storage, "b": 3 elements at 6, "c": the root}."""
    import struct
    root = np.arange(10, dtype="<f4") * 0.5 - 1

    class Storage:
        def __init__(self, view):
            self.view = view

    class Rebuild:
        def __init__(self, storage, size, stride):
            self.args = (storage, 0, size, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, self.args)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", torch.FloatStorage, "root", "cpu", 10, obj.view)
            return None

    obj = collections.OrderedDict([("a", Rebuild(Storage(("v1", 2, 4)), (2, 2), (2, 1))),
                                   ("b", Rebuild(Storage(("v2", 6, 3)), (3,), (1,))),
                                   ("c", Rebuild(Storage(None), (10,), (1,)))])
    with open(path, "wb") as f:
        for head in [0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                                    "type_sizes": {"short": 2, "int": 4, "long": 4}}]:
            pickle.dump(head, f, protocol=2)
        Pickler(f, protocol=2).dump(obj)
        pickle.dump(["root"], f, protocol=2)
        f.write(struct.pack("<q", 10) + root.tobytes())


# ---------------------------------------------------------------------------------------------
# Whole torchvision models in a few hundred kB: every tensor is a view into shared storages

ARCHS = ["resnet50", "resnet101", "densenet161", "efficientnet_b0", "vit_b_16"]
IMAGE = 112  # input size (and vit_b_16's image_size): Tests/Fixtures/models/input_112.npy


def tv_model(arch: str, num_classes: int):
    kw = {"image_size": IMAGE} if arch == "vit_b_16" else {}
    return getattr(torchvision.models, arch)(weights=None, num_classes=num_classes, **kw).eval()


def group_of(key: str, v: torch.Tensor) -> str:
    """Which shared storage a state-dict entry views (one per value rule of detparams.py)."""
    last = key.rsplit(".", 1)[-1]
    if last == "num_batches_tracked":
        return "counter"
    if last in ("running_mean", "running_var"):
        return last
    if last in ("class_token", "pos_embedding"):
        return "embedding"
    if v.dim() >= 2:
        return f"fan_in={v[0].numel()}"  # He-uniform scale depends on fan_in only
    if key.endswith(".bn3.weight"):
        return "bn3.weight"
    return "weight" if last == "weight" else "bias"


def storage_values(group: str, n: int) -> np.ndarray:
    u = detparams.uniform("storage/" + group, n)
    if group == "counter":
        return np.full(n, 100, dtype=np.int64)
    if group.startswith("fan_in="):
        return (2 * u - 1) * np.sqrt(6.0 / int(group[7:]))
    return {"running_mean": 0.2 * (2 * u - 1), "running_var": 0.5 + u, "embedding": 0.1 * (2 * u - 1),
            "bn3.weight": 0.25 * (0.5 + u), "weight": 0.5 + u, "bias": 0.2 * (2 * u - 1)}[group]


def shared_view_state_dict(model, dtype) -> "collections.OrderedDict[str, torch.Tensor]":
    """The model's state dict with every entry a strided view (all strides 1: a Hankel pattern, so
    an [O, I] weight needs O+I-1 stored values) at a per-entry offset into its group's storage."""
    sd = model.state_dict()
    placed, length = {}, collections.Counter()
    count = collections.Counter()
    for k, v in sd.items():
        g = group_of(k, v)
        offset = (count[g] * 37) % 101
        count[g] += 1
        placed[k] = (g, offset)
        length[g] = max(length[g], offset + sum(d - 1 for d in v.shape) + 1)
    storages = {}
    for g, n in length.items():
        vals = storage_values(g, n)
        storages[g] = torch.from_numpy(vals) if g == "counter" else torch.from_numpy(vals.astype(np.float32)).to(dtype)
    out = collections.OrderedDict()
    for k, v in sd.items():
        g, offset = placed[k]
        out[k] = torch.as_strided(storages[g], tuple(v.shape), (1,) * v.dim(), offset)
    out._metadata = sd._metadata
    return out


def logits_of(model) -> np.ndarray:
    x = torch.from_numpy(detparams.input_image(1, IMAGE).astype(np.float32) / 255)
    with torch.no_grad():
        y = model(x)
    assert torch.isfinite(y).all()
    return y.numpy().astype("<f4")


def load_into(arch: str, num_classes: int, sd):
    m = tv_model(arch, num_classes)
    m.load_state_dict(sd, strict=True)
    return m


OLD_DENSE = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def whole_models(p) -> None:
    for arch in ARCHS:
        for tag, dt in [("f32", torch.float32), ("f16", torch.float16)]:
            sd = shared_view_state_dict(tv_model(arch, 1000), dt)
            name = f"legacy_{arch}_{tag}.pth"
            torch.save(sd, p(name), _use_new_zipfile_serialization=False)
            back = torch.load(p(name), weights_only=False)
            assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd), name
            y = logits_of(load_into(arch, 1000, back))
            np.save(p(f"legacy_{arch}_{tag}_logits.npy"), y)
            print(name, "logits", y.shape, "max|y|", float(np.abs(y).max()))

    # torchvision's original DenseNet-161 layout: legacy container, '.norm.1.weight'-style keys, no
    # num_batches_tracked; PyTorch's logits come from torchvision's own DenseNet loader
    new = shared_view_state_dict(tv_model("densenet161", 1000), torch.float16)
    old = collections.OrderedDict()
    for k, v in new.items():
        if k.endswith("num_batches_tracked"):
            continue
        old[OLD_DENSE.sub(lambda mt: mt.group(1) + "." + mt.group(2), k)] = v
    assert sum(k != j for k, j in zip(old, [k for k in new if not k.endswith("num_batches_tracked")])) == 78 * 10
    torch.save(old, p("densenet161_oldkeys.pth"), _use_new_zipfile_serialization=False)

    class FileWeights:
        def get_state_dict(self, progress=True, check_hash=True):
            return torch.load(p("densenet161_oldkeys.pth"), weights_only=False)

    m = tv_model("densenet161", 1000)
    torchvision.models.densenet._load_state_dict(m, FileWeights(), progress=False)
    np.save(p("densenet161_oldkeys_logits.npy"), logits_of(m.eval()))

    # a PyTorch Lightning checkpoint of a 3-class EfficientNet-B0 held as `self.model`
    lightning_checkpoint(p)

    # a plain training script's checkpoint of a 3-class ResNet-50
    sd = shared_view_state_dict(tv_model("resnet50", 3), torch.float32)
    stand_in = nn.Linear(2, 2)  # the optimizer's state layout without a full-size momentum copy
    opt = torch.optim.SGD(stand_in.parameters(), lr=0.01, momentum=0.9)
    stand_in(torch.ones(1, 2)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5)
    torch.save({"epoch": 12, "model_state_dict": sd, "optimizer_state_dict": opt.state_dict(),
                "scheduler_state_dict": sched.state_dict(), "loss": 0.4125, "best_acc1": torch.tensor(0.75),
                "classes": ["benign", "malignant", "normal"]}, p("resnet50_model_state_dict.pth"))
    np.save(p("resnet50_model_state_dict_logits.npy"), logits_of(load_into("resnet50", 3, sd)))


def lightning_checkpoint(p) -> None:
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    class Classifier(pl.LightningModule):
        def __init__(self, lr: float = 1e-3, num_classes: int = 3):
            super().__init__()
            self.save_hyperparameters()
            self.model = tv_model("efficientnet_b0", num_classes)
            self.loss = nn.CrossEntropyLoss()

        def forward(self, x):
            return self.model(x)

        def training_step(self, batch, _):
            x, y = batch
            return self.loss(self(x), y)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)

    module = Classifier()
    views = shared_view_state_dict(module.model, torch.float32)
    # the module's parameters and buffers become the views, so Lightning saves the small storages
    for k, v in views.items():
        owner, name = module.model.get_submodule(k.rsplit(".", 1)[0]), k.rsplit(".", 1)[1]
        if name in owner._parameters:
            owner._parameters[name].data = v
        else:
            owner._buffers[name] = v
    data = DataLoader(TensorDataset(torch.zeros(2, 3, IMAGE, IMAGE), torch.zeros(2, dtype=torch.long)), batch_size=2)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=0, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=os.path.join(OUT, ".lightning"))
    trainer.fit(module, data)
    path = p("lightning_efficientnet_b0.ckpt")
    trainer.save_checkpoint(path)
    import shutil
    shutil.rmtree(os.path.join(OUT, ".lightning"), ignore_errors=True)
    ck = torch.load(path, weights_only=False)
    print("lightning top-level keys:", list(ck))
    assert all(k.startswith("model.") for k in ck["state_dict"]), list(ck["state_dict"])[:5]
    sd = {k[len("model."):]: v for k, v in ck["state_dict"].items()}
    np.save(p("lightning_efficientnet_b0_logits.npy"), logits_of(load_into("efficientnet_b0", 3, sd)))


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
