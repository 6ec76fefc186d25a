"""Deterministic parameters and inputs shared by the Python fixture scripts and Swift tests.

The rule (mirrored exactly by Tests/TestSupport/DeterministicParams.swift; see scripts/README.md):

    key_seed  = FNV-1a 64-bit over the UTF-8 bytes of the key
    u(key, i) = fin(key_seed + (i+1)*0x9E3779B97F4A7C15 mod 2^64) >> 40, divided by 2^24   in [0, 1)
    fin(z)    : z = (z ^ (z>>30))*0xBF58476D1CE4E5B9; z = (z ^ (z>>27))*0x94D049BB133111EB; z ^ (z>>31)

i is the flat C-order element index. The value depends on the key's last component and the shape:

    *.num_batches_tracked          0
    *.running_mean                 0.2*(2u-1)
    *.running_var                  0.5 + u
    *class_token, *pos_embedding   0.1*(2u-1)
    ndim >= 2 (other)              (2u-1)*sqrt(3*GAIN/fan_in), fan_in = prod(shape[1:])
    ndim 1, key ends '.bn3.weight' (ResNet bottleneck's last BN)  0.25*(0.5 + u)
    ndim 1, last component 'weight' (BatchNorm/LayerNorm scale)   0.5 + u
    ndim 1, other (biases)         0.2*(2u-1)

Products are formed in float64 and rounded once to float32 so Swift reproduces every bit.
"""
import numpy as np

GAIN = 2.0
MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def fnv1a64(key: str) -> int:
    h = 0xCBF29CE484222325
    for b in key.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def uniform(key: str, n: int) -> np.ndarray:
    """u(key, i) for i in 0..<n as float64 (exact 24-bit fractions)."""
    with np.errstate(over="ignore"):
        seed = np.uint64(fnv1a64(key))
        z = seed + (np.arange(1, n + 1, dtype=np.uint64) * GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def param(key: str, shape) -> np.ndarray:
    """The deterministic value of the state_dict entry `key` with `shape` (float32, C order)."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if shape else 1
    last = key.rsplit(".", 1)[-1]
    if last == "num_batches_tracked":
        return np.zeros(shape, dtype=np.float32)
    u = uniform(key, n)
    if last == "running_mean":
        v = 0.2 * (2 * u - 1)
    elif last == "running_var":
        v = 0.5 + u
    elif last in ("class_token", "pos_embedding"):
        v = 0.1 * (2 * u - 1)
    elif len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        v = (2 * u - 1) * np.sqrt(3.0 * GAIN / fan_in)
    elif last == "weight" and key.endswith(".bn3.weight"):
        # ResNet bottleneck: damp the residual branch (torchvision's zero_init_residual idea) so
        # 33 residual additions do not double the variance 33 times.
        v = 0.25 * (0.5 + u)
    elif last == "weight":
        v = 0.5 + u
    else:
        v = 0.2 * (2 * u - 1)
    return v.astype(np.float32).reshape(shape)


def sample_indices(numel: int, count: int, key: str = "sample") -> np.ndarray:
    """Sorted flat indices floor(u(key, j)*numel), j < count (duplicates possible)."""
    return np.sort(np.floor(uniform(key, count) * numel).astype(np.int64))


def input_image(n: int, size: int) -> np.ndarray:
    """The fixed test input [n, 3, size, size] as uint8 (feed it as x/255, like ToTensor).

    Pixel (b, c, y, x) with s = (y+0.5)/size, t = (x+0.5)/size:
      smooth = 0.45 + 0.25*sin(2*pi*((1+b)*s + 0.5*c*t)) * cos(2*pi*(1.5*t - 0.3*b))
               + 0.35*exp(-((s-cy)^2 + (t-cx)^2)/0.02),  (cy, cx) = (0.35, 0.6) for even b, (0.65, 0.3) for odd b
      noise  = 0.15*(u('input/<size>', flat index) - 0.5)
      value  = round(255*clip(smooth + noise, 0, 1))
    """
    b, c, y, x = np.meshgrid(np.arange(n), np.arange(3), np.arange(size), np.arange(size), indexing="ij")
    s = (y + 0.5) / size
    t = (x + 0.5) / size
    cy = np.where(b % 2 == 0, 0.35, 0.65)
    cx = np.where(b % 2 == 0, 0.6, 0.3)
    smooth = 0.45 + 0.25 * np.sin(2 * np.pi * ((1 + b) * s + 0.5 * c * t)) * np.cos(2 * np.pi * (1.5 * t - 0.3 * b)) \
        + 0.35 * np.exp(-((s - cy) ** 2 + (t - cx) ** 2) / 0.02)
    noise = 0.15 * (uniform(f"input/{size}", smooth.size).reshape(smooth.shape) - 0.5)
    return np.round(255 * np.clip(smooth + noise, 0, 1)).astype(np.uint8)


def fill_model(model) -> None:
    """Overwrites every parameter and buffer of a torch model in place."""
    import torch
    sd = model.state_dict()
    new = {}
    for k, v in sd.items():
        arr = param(k, tuple(v.shape))
        new[k] = torch.from_numpy(arr).to(v.dtype)
    model.load_state_dict(new, strict=True)
