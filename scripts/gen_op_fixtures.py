#!/usr/bin/env python3
"""Writes PyTorch reference values for TensorCore's kernel tests into Tests/Fixtures/ops/.

Each case saves its inputs, a random upstream gradient `dy`, the output `y` and the gradients of
L = sum(dy * y) as small float32 .npy files named <case>_<tensor>.npy. Run with a Python that has
torch and numpy (e.g. /tmp/tv/bin/python scripts/gen_op_fixtures.py); CI only reads the files.
"""
import os
import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "ops")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(1234)


def save(case, **tensors):
    for name, t in tensors.items():
        a = t.detach().cpu().numpy().astype(np.float32) if torch.is_tensor(t) else np.asarray(t, dtype=np.float32)
        np.save(os.path.join(OUT, f"{case}_{name}.npy"), a)


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float64) * scale).float().requires_grad_(True)


def run(case, fn, inputs, **extra):
    y = fn(*inputs)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    named = {f"in{i}": t for i, t in enumerate(inputs)}
    grads = {f"grad{i}": t.grad for i, t in enumerate(inputs) if t.grad is not None}
    save(case, y=y, dy=dy, **named, **grads, **extra)


# conv2d: groups 2, dilation 2, stride 2, asymmetric input, padding 2, batch 2.
x, w, b = leaf(2, 4, 9, 11), leaf(6, 2, 3, 3, scale=0.3), leaf(6)
run("conv_grouped_dilated", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=2, dilation=2, groups=2), [x, w, b])

# depthwise 5x5 stride 2 padding 2.
x, w, b = leaf(2, 3, 10, 9), leaf(3, 1, 5, 5, scale=0.3), leaf(3)
run("conv_depthwise", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=2, groups=3), [x, w, b])

# bilinear resize (align_corners=False, antialias off): up non-integer and down non-integer.
x = leaf(1, 2, 5, 7)
run("resize_up", lambda x: F.interpolate(x, size=(12, 9), mode="bilinear", align_corners=False), [x])
x = leaf(1, 2, 13, 11)
run("resize_down", lambda x: F.interpolate(x, size=(5, 4), mode="bilinear", align_corners=False), [x])

# exact GELU.
x = leaf(3, 17, scale=2.0)
run("gelu", lambda x: F.gelu(x), [x])

# layerNorm over the last dimension.
x, w, b = leaf(2, 3, 10, scale=2.0), leaf(10), leaf(10)
run("layernorm", lambda x, w, b: F.layer_norm(x, (10,), w, b, eps=1e-6), [x, w, b])

# attention through nn.MultiheadAttention with given projections.
B, T, C, H = 2, 5, 8, 2
mha = torch.nn.MultiheadAttention(C, H, batch_first=True)
x = leaf(B, T, C)
y, probs = mha(x, x, x, need_weights=True, average_attn_weights=False)
dy = torch.randn_like(y)
(y * dy).sum().backward()
save("mha", in0=x, y=y, probs=probs, dy=dy, grad0=x.grad,
     in_proj_weight=mha.in_proj_weight, in_proj_bias=mha.in_proj_bias,
     out_proj_weight=mha.out_proj.weight, out_proj_bias=mha.out_proj.bias)

# adaptive average pooling to non-divisible sizes.
x = leaf(2, 3, 10, 7)
run("adaptive_avg", lambda x: F.adaptive_avg_pool2d(x, (4, 3)), [x])

# max pooling 3x3 stride 2 padding 1, ceil mode (odd size where the last window overhangs).
x = leaf(2, 2, 10, 8)
run("maxpool_ceil", lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), [x])

# average pooling ceil mode, count_include_pad both ways.
x = leaf(1, 2, 7, 6)
run("avgpool_ceil_pad", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=True), [x])
x = leaf(1, 2, 7, 6)
run("avgpool_ceil_nopad", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), [x])

# nearest resize (forward only: torch 'nearest').
x = leaf(1, 1, 5, 7)
save("nearest", in0=x, y=F.interpolate(x, size=(8, 3), mode="nearest"))

# cross-entropy with label smoothing.
logits = leaf(4, 5)
targets = torch.tensor([0, 3, 4, 1])
loss = F.cross_entropy(logits, targets, label_smoothing=0.1)
loss.backward()
save("cross_entropy", in0=logits, targets=targets.float(), y=loss.reshape(1), grad0=logits.grad)

print("wrote", len(os.listdir(OUT)), "files to", os.path.normpath(OUT))
