#!/usr/bin/env python3
"""Writes Tests/Fixtures/layers: pytorch-grad-cam GradCAM at a broad sample of layers per architecture.

Run by hand (CI has no PyTorch):

    /tmp/tv/bin/python scripts/gen_layer_fixtures.py

For each of the five architectures, with the deterministic parameters of scripts/detparams.py
(non-trivial BatchNorm statistics) and the fixed input batch of two 64×64 images (ViT-B/16 is built
with image_size=64: a 4×4 token grid):

- `input_64.npy`: uint8 [2, 3, 64, 64], the input batch (fed as x/255).
- `<arch>.json`:
  - `targetable`: every `named_modules()` path pytorch-grad-cam can target, with the shape of the
    tensor its forward hook records (first call): 4-D outputs, and for ViT the token tensors
    [N, T, C] (read through the usual reshape transform; `conv_proj` is 4-D and read as is).
  - `sampled`: the layers compared numerically, each with `modified_in_place` (true when the
    tensor the forward hook recorded was changed by a later in-place op before the forward ended,
    i.e. the activation pytorch-grad-cam uses is not the module's own output) and `max` (the map's
    largest value, 0 for the layers that get no gradient).
- `<arch>_maps.npy`: float16 [L, 2, 16, 16]: GradCAM maps (targets: image 0 → class 0, image 1 →
  class 1) at the 64×64 input size, sampled at pixels 2, 6, …, 62 in both directions, in the order
  of `sampled`.
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detparams as dp  # noqa: E402

FIXTURE_VERSION = 1
COMMAND = "/tmp/tv/bin/python scripts/gen_layer_fixtures.py"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "layers")
SIZE = 64
NUM_CLASSES = 3
PIXELS = list(range(2, SIZE, 4))  # 16 rows and columns of the 64×64 map

SAMPLED = {
    "resnet50": [
        "conv1", "bn1", "relu", "maxpool", "layer1", "layer1.0", "layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu",
        "layer1.0.conv2", "layer1.0.bn2", "layer1.0.conv3", "layer1.0.bn3", "layer1.0.downsample",
        "layer1.0.downsample.0", "layer1.0.downsample.1", "layer1.2.bn3", "layer2.0.downsample.1", "layer2.1.bn2",
        "layer2.3.relu", "layer3", "layer3.2", "layer3.5.conv1", "layer3.5.bn2", "layer4.0.conv2",
        "layer4.0.downsample", "layer4.1.bn1", "layer4.1.conv3", "layer4.2.bn3", "layer4.2.relu", "layer4.2.conv3",
        "layer4.2", "layer4", "avgpool",
    ],
    "resnet101": [
        "conv1", "bn1", "layer2.3.conv2", "layer3.0.downsample.1", "layer3.10.relu", "layer3.22.bn3", "layer3.22",
        "layer4.2.bn1", "layer4.2.bn2", "layer4.2",
    ],
    "densenet161": [
        "features.conv0", "features.norm0", "features.relu0", "features.pool0", "features.denseblock1",
        "features.denseblock1.denselayer1", "features.denseblock1.denselayer1.norm1",
        "features.denseblock1.denselayer1.relu1", "features.denseblock1.denselayer1.conv1",
        "features.denseblock1.denselayer1.norm2", "features.denseblock1.denselayer1.relu2",
        "features.denseblock1.denselayer1.conv2", "features.denseblock1.denselayer6.norm1", "features.transition1",
        "features.transition1.norm", "features.transition1.relu", "features.transition1.conv",
        "features.transition1.pool", "features.denseblock2.denselayer7.conv1", "features.denseblock3.denselayer20.norm2",
        "features.transition3.norm", "features.denseblock4.denselayer24.norm1", "features.denseblock4.denselayer24",
        "features.denseblock4", "features.norm5", "features",
    ],
    "efficientnet_b0": [
        "features.0", "features.0.0", "features.0.1", "features.0.2", "features.1", "features.1.0",
        "features.1.0.block.0", "features.1.0.block.0.0", "features.1.0.block.0.1", "features.1.0.block.1",
        "features.1.0.block.2", "features.1.0.block.2.1", "features.2.0.block.0.1", "features.2.1.block.1.0",
        "features.2.1.block.1", "features.2.1.block.3.1", "features.2.1.stochastic_depth", "features.2.1",
        "features.4.0.block.2.fc1", "features.5.2.block", "features.5.2.block.1.1", "features.5.2.block.1.2",
        "features.5.2.block.3", "features.5.2.block.3.1", "features.7", "features.8", "features.8.0",
        "features.8.1", "features.8.2", "features",
    ],
    "vit_b_16": [
        "conv_proj", "encoder.dropout", "encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_0.ln_1",
        "encoder.layers.encoder_layer_0.dropout", "encoder.layers.encoder_layer_0.ln_2",
        "encoder.layers.encoder_layer_0.mlp", "encoder.layers.encoder_layer_0.mlp.0",
        "encoder.layers.encoder_layer_0.mlp.1", "encoder.layers.encoder_layer_0.mlp.3",
        "encoder.layers.encoder_layer_5", "encoder.layers.encoder_layer_5.ln_2", "encoder.layers.encoder_layer_10",
        "encoder.layers.encoder_layer_10.mlp.1", "encoder.layers.encoder_layer_11.ln_1",
        "encoder.layers.encoder_layer_11.ln_2", "encoder.layers.encoder_layer_11.mlp",
        "encoder.layers.encoder_layer_11", "encoder.layers", "encoder.ln",
    ],
}


def build(arch):
    kwargs = {"num_classes": NUM_CLASSES}
    if arch == "vit_b_16":
        kwargs["image_size"] = SIZE
    m = getattr(torchvision.models, arch)(**kwargs)
    dp.fill_model(m)
    return m.eval()


def vit_reshape(t, grid=SIZE // 16):
    r = t[:, 1:, :].reshape(t.size(0), grid, grid, t.size(2))
    return r.transpose(2, 3).transpose(1, 2)


def recorded_outputs(model, x):
    """For every module: the shape of its first recorded output, and whether that tensor was modified
    in place after the hook saw it (its value at the end of the forward differs from a copy taken then)."""
    seen = {}
    hooks = []
    for name, mod in model.named_modules():
        if not name:
            continue

        def hook(m, inp, out, name=name):
            if name in seen or not torch.is_tensor(out):
                return
            seen[name] = (out, out.detach().clone(), out._version)
        hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return {n: (list(o.shape), bool(o._version != v or not torch.equal(o.detach(), c))) for n, (o, c, v) in seen.items()}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    pixels = dp.input_image(2, SIZE)
    np.save(os.path.join(OUT, "input_64.npy"), pixels)
    x = torch.from_numpy(pixels).float().div(255)
    targets = [ClassifierOutputTarget(0), ClassifierOutputTarget(1)]
    import importlib.metadata as md
    for arch, layers in SAMPLED.items():
        model = build(arch)
        outs = recorded_outputs(model, x)
        vit = arch == "vit_b_16"
        targetable = [{"path": n, "shape": s} for n, (s, _) in outs.items()
                      if len(s) == 4 or (vit and len(s) == 3 and s[1] == (SIZE // 16) ** 2 + 1)]
        mods = dict(model.named_modules())
        maps, sampled = [], []
        for name in layers:
            assert name in outs, f"{arch}: {name} is not a module with a tensor output"
            reshape = vit_reshape if vit and len(outs[name][0]) == 3 else None
            with GradCAM(model=model, target_layers=[mods[name]], reshape_transform=reshape) as cam:
                m = cam(input_tensor=x, targets=targets)
            sub = m[:, PIXELS][:, :, PIXELS]
            maps.append(sub)
            sampled.append({"path": name, "modified_in_place": outs[name][1], "max": float(m.max())})
            print(f"{arch} {name}: in-place {outs[name][1]}, max {m.max():.3f}", flush=True)
        np.save(os.path.join(OUT, f"{arch}_maps.npy"), np.stack(maps).astype(np.float16))
        index = {"fixture_version": FIXTURE_VERSION, "command": COMMAND, "torch": torch.__version__,
                 "torchvision": torchvision.__version__, "grad_cam": md.version("grad-cam"), "image_size": SIZE,
                 "pixels": PIXELS, "targets": [0, 1], "maps": f"{arch}_maps.npy", "sampled": sampled,
                 "targetable": targetable}
        with open(os.path.join(OUT, f"{arch}.json"), "w") as f:
            json.dump(index, f, indent=0)
            f.write("\n")


if __name__ == "__main__":
    main()
