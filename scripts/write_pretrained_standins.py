#!/usr/bin/env python3
"""Stand-ins for torchvision's published ImageNet checkpoints, for tests of `camaudit paper --pretrained`.

The real files (resnet50-11ad3fa6.pth, …) cannot be downloaded on CI machines. This writes files in
their format without torch, with the standard library only:

- torch.save's zip container: ARCHIVE/data.pkl (protocol 2, storages as persistent ids
  ('storage', torch.FloatStorage, key, 'cpu', numel)), ARCHIVE/data/KEY (raw little-endian
  elements), ARCHIVE/byteorder and ARCHIVE/version, every entry stored uncompressed;
- a state dict with torchvision's keys, shapes and dtypes (read from
  Tests/Fixtures/models/ARCH/state_dict_keys.json, which scripts/gen_state_dict_keys.py wrote from
  torchvision itself for a 3-class model), with ImageNet's 1000-class heads;
- DenseNet-161 with the old `norm.1`/`conv.1` keys and no BatchNorm counters, like
  densenet161-8d451a50.pth, which was saved before PyTorch 0.4.1;
- each named STEM-HASH.pth as torch.hub names files, HASH the first 8 hex digits of the file's own
  SHA-256, so torch.hub's check_hash (and camaudit's) accepts it.

Values are deterministic (the same bytes, hence the same name, on every run): norm scales and running
variances 1, biases and running means 0, other weights of random sign with magnitudes in
[s, 2s), s ≈ 1/√fan_in, so a network built from them gives finite outputs.

    python3 scripts/write_pretrained_standins.py --out DIR [--model resnet50,densenet161]

Prints one line per file written. With PyTorch installed, `--verify DIR` loads every .pth in DIR
with torch.load(weights_only=True) and checks it against torchvision's model.
"""
import argparse
import collections
import hashlib
import io
import json
import math
import os
import pickle
import random
import re
import struct
import sys
import types
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# torchvision's file stems (the part before the hash), as in its weights enums' urls.
STEMS = {
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "densenet161": "densenet161",
    "efficientnet_b0": "efficientnet_b0_rwightman",
    "vit_b_16": "vit_b_16",
}

# The classifier of each: ImageNet's 1000 classes (the recorded keys were taken from a 3-class model).
HEADS = {
    "resnet50": "fc.", "resnet101": "fc.", "densenet161": "classifier.", "efficientnet_b0": "classifier.1.",
    "vit_b_16": "heads.head.",
}

# torchvision's DenseNet loader renames these old keys (densenet.py, _load_state_dict); written the old way.
OLD_DENSENET = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))([12])\.(weight|bias|running_mean|running_var)$")
# …and torchvision's pattern that renames them back (densenet.py, _load_state_dict).
TORCHVISION_DENSENET = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


# MARK: - The globals torch.save's pickle names, without torch

def _fake_torch():
    """Module objects `torch` and `torch._utils` holding the names data.pkl refers to, so that the
    standard pickler writes them as GLOBAL opcodes exactly as torch.save does."""
    if "torch._utils" in sys.modules:
        return sys.modules["torch"], sys.modules["torch._utils"]
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise RuntimeError("stand-in")
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)
    torch._utils = utils
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    return torch, utils


class Storage:
    def __init__(self, key, kind, numel):
        self.key, self.kind, self.numel = key, kind, numel


class Tensor:
    """Pickles as torch's tensors do: _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)."""
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, tuple(shape)

    def __reduce__(self):
        _, utils = _fake_torch()
        strides, acc = [], 1
        for n in reversed(self.shape):
            strides.append(acc)
            acc *= n
        return (utils._rebuild_tensor_v2, (self.storage, 0, self.shape, tuple(reversed(strides)), False, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            torch, _ = _fake_torch()
            return ("storage", getattr(torch, obj.kind), obj.key, "cpu", obj.numel)
        return None


# MARK: - Values

def float_bytes(rng, n, scale):
    """n float32s of random sign with magnitudes in [2^e, 2^(e+1)), 2^e the power of two ≤ scale:
    random mantissa and sign bits under a fixed exponent, done on one big integer (no numpy)."""
    e = 127 + math.floor(math.log2(scale))
    raw = int.from_bytes(rng.randbytes(4 * n), "little")
    keep = int.from_bytes(b"\xff\xff\x7f\x80" * n, "little")   # mantissa and sign of each word
    exp = int.from_bytes(struct.pack("<I", e << 23) * n, "little")
    return ((raw & keep) | exp).to_bytes(4 * n, "little")


def tensor_bytes(rng, key, shape, dtype):
    n = 1
    for d in shape:
        n *= d
    if dtype == "int64":
        return b"\0" * (8 * n)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_var" or (leaf == "weight" and len(shape) == 1):
        return struct.pack("<f", 1.0) * n
    if leaf in ("bias", "running_mean", "in_proj_bias") or key.endswith("_bias"):
        return b"\0" * (4 * n)
    if len(shape) == 3:  # ViT's class token and positional embedding: torchvision draws N(0, 0.02)
        return float_bytes(rng, n, 0.02)
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    return float_bytes(rng, n, 1 / (1.5 * max(fan_in, 1) ** 0.5))


# MARK: - Writing

def torchvision_keys(arch):
    """torchvision's state dict of `arch` with its ImageNet head: [(key, shape, dtype)]."""
    with open(os.path.join(ROOT, "Tests", "Fixtures", "models", arch, "state_dict_keys.json")) as f:
        keys = json.load(f)["keys"]
    head = HEADS[arch]
    return [(k, [1000] + s[1:] if k in (head + "weight", head + "bias") else s, d) for k, s, d in keys]


def standin_state_dict(arch):
    keys = torchvision_keys(arch)
    if arch == "densenet161":
        keys = [(OLD_DENSENET.sub(r"\1.\2.\3", k), s, d) for k, s, d in keys if not k.endswith("num_batches_tracked")]
    return keys


def write(arch, out):
    keys = standin_state_dict(arch)
    rng = random.Random("camaudit stand-in " + arch)
    tmp = os.path.join(out, ".%s.partial" % arch)
    archive = "archive"
    sd = collections.OrderedDict()
    datas = []
    for i, (k, shape, dtype) in enumerate(keys):
        kind = "LongStorage" if dtype == "int64" else "FloatStorage"
        numel = 1
        for d in shape:
            numel *= d
        sd[k] = Tensor(Storage(str(i), kind, numel), shape)
        datas.append((str(i), tensor_bytes(rng, k, shape, dtype)))

    def entry(name):
        info = zipfile.ZipInfo(archive + "/" + name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        return info

    buf = io.BytesIO()
    TorchPickler(buf, protocol=2).dump(sd)
    with zipfile.ZipFile(tmp, "w") as z:
        z.writestr(entry("data.pkl"), buf.getvalue())
        z.writestr(entry("byteorder"), b"little")
        for key, data in datas:
            z.writestr(entry("data/" + key), data)
        z.writestr(entry("version"), b"3\n")
    with open(tmp, "rb") as f:
        h = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
        os.fsync(f.fileno())
    path = os.path.join(out, "%s-%s.pth" % (STEMS[arch], h.hexdigest()[:8]))
    os.replace(tmp, path)
    return path


def verify(folder):
    """Loads every .pth in `folder` with PyTorch (torch.load, weights_only=True) and checks it against
    torchvision's model when torchvision is importable, else against its recorded keys and shapes."""
    import torch  # the real one: verify never writes, so the stand-in modules are never made
    try:
        import torchvision
    except ImportError:
        torchvision = None
    arch_of = {v: k for k, v in STEMS.items()}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".pth"):
            continue
        stem, digits = name[:-4].rsplit("-", 1)
        with open(os.path.join(folder, name), "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        assert sha.startswith(digits), name
        sd = torch.load(os.path.join(folder, name), map_location="cpu", weights_only=True)
        arch = arch_of[stem]
        if arch == "densenet161":  # torchvision's own renaming of the old keys
            sd = collections.OrderedDict((TORCHVISION_DENSENET.sub(r"\1\2", k), v) for k, v in sd.items())
        if torchvision is not None:
            model = getattr(torchvision.models, arch)()
            missing, unexpected = model.load_state_dict(sd, strict=False)
            assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (name, missing, unexpected)
            with torch.no_grad():
                y = model.eval()(torch.rand(1, 3, 224, 224))
            assert torch.isfinite(y).all() and y.shape == (1, 1000), name
            print("OK", name, "torch.load reads it; torchvision's", arch, "loads it; logits finite")
        else:
            want = {k: (s, d) for k, s, d in torchvision_keys(arch)}
            got = {k: (list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in sd.items()}
            extra = set(got) - set(want)
            missing = {k for k in set(want) - set(got) if not k.endswith("num_batches_tracked")}
            wrong = [k for k in got if k in want and got[k] != tuple(want[k]) and got[k] != (want[k][0], want[k][1])]
            assert not extra and not missing and not wrong, (name, sorted(extra)[:3], sorted(missing)[:3], wrong[:3])
            assert all(torch.isfinite(v).all() for v in sd.values() if v.is_floating_point()), name
            print("OK", name, "torch.load reads it:", len(sd), "tensors with torchvision's keys, shapes and dtypes (no torchvision here)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="folder to write into (created)")
    ap.add_argument("--model", default=",".join(STEMS), help="comma-separated architectures (default: all five)")
    ap.add_argument("--verify", metavar="DIR", help="load every .pth in DIR with PyTorch instead of writing")
    a = ap.parse_args()
    if a.verify:
        verify(a.verify)
        return
    if not a.out:
        ap.error("--out is required")
    archs = [m.strip() for m in a.model.split(",") if m.strip()]
    for m in archs:
        if m not in STEMS:
            ap.error("unknown model %r; choose from %s" % (m, ", ".join(STEMS)))
    os.makedirs(a.out, exist_ok=True)
    for m in archs:
        print(write(m, a.out))


if __name__ == "__main__":
    main()
