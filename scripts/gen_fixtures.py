#!/usr/bin/env python3
"""Writes the PyTorch / pytorch-grad-cam reference fixtures under Tests/Fixtures/.

Run by hand (CI never runs it; it has no PyTorch):

    /tmp/tv/bin/python scripts/gen_fixtures.py            # everything (~5 min on 2 cores)
    /tmp/tv/bin/python scripts/gen_fixtures.py --only models
    /tmp/tv/bin/python scripts/gen_fixtures.py --only cams

Every model gets the deterministic parameters of scripts/detparams.py (mirrored by
Tests/TestSupport/DeterministicParams.swift) and the fixed uint8 input image fed as x/255.
See scripts/README.md for the layout of the files and every sampling rule.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detparams as dp  # noqa: E402

FIXTURE_VERSION = 1
COMMAND = "/tmp/tv/bin/python scripts/gen_fixtures.py"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
ARCHS = ["resnet50", "resnet101", "densenet161", "efficientnet_b0", "vit_b_16"]
NUM_CLASSES = 3
SAMPLE_COUNT = 512          # sampled elements per large activation
FULL_LIMIT = 4096           # activations with at most this many elements are stored whole
CAM_PIXELS = 2048           # sampled pixels per CAM map (maps are bilinear upsamples of ≤14×14 grids)
CAM_TARGETS = [0, 1]        # explicit targets of the batch of two (image 0 → class 0, image 1 → class 1)

STAGES = {
    "resnet50": ["conv1", "bn1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "layer4.2"],
    "resnet101": ["conv1", "bn1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "layer4.2"],
    "densenet161": ["features.conv0", "features.denseblock1", "features.transition1", "features.denseblock2",
                    "features.transition2", "features.denseblock3", "features.transition3",
                    "features.denseblock4", "features.norm5"],
    "efficientnet_b0": [f"features.{i}" for i in range(9)] + ["avgpool"],
    "vit_b_16": ["conv_proj", "encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_5",
                 "encoder.layers.encoder_layer_11", "encoder.ln", "encoder.layers.encoder_layer_11.ln_1"],
}
GRADCAM_LAYER = {"resnet50": "layer4.2", "resnet101": "layer4.2", "densenet161": "features.norm5",
                 "efficientnet_b0": "features.8", "vit_b_16": "encoder.layers.encoder_layer_11.ln_1"}


def build(arch, image_size=None):
    kwargs = {"num_classes": NUM_CLASSES}
    if image_size is not None:
        kwargs["image_size"] = image_size
    m = getattr(torchvision.models, arch)(**kwargs)
    dp.fill_model(m)
    return m.eval()


def input_tensor(n, size):
    return torch.from_numpy(dp.input_image(n, size)).float().div(255)


def save(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, np.ascontiguousarray(arr))


def meta():
    import importlib.metadata as md
    return {"fixture_version": FIXTURE_VERSION, "command": COMMAND, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "grad_cam": md.version("grad-cam"),
            "numpy": np.__version__, "threads": torch.get_num_threads()}


# MARK: - deterministic-parameter and input fixtures

def write_common():
    out = os.path.join(ROOT, "models")
    os.makedirs(out, exist_ok=True)
    for n, size in [(2, 224), (2, 160), (1, 112)]:
        save(os.path.join(out, f"input_{size}.npy"), dp.input_image(n, size))
    cases = [("conv1.weight", [64, 3, 7, 7]), ("bn1.weight", [64]), ("bn1.bias", [64]),
             ("bn1.running_mean", [64]), ("bn1.running_var", [64]), ("bn1.num_batches_tracked", []),
             ("layer1.0.bn3.weight", [256]), ("fc.weight", [3, 2048]), ("fc.bias", [3]),
             ("class_token", [1, 1, 768]), ("encoder.pos_embedding", [1, 197, 768]),
             ("encoder.layers.encoder_layer_0.self_attention.in_proj_weight", [2304, 768]),
             ("encoder.layers.encoder_layer_0.self_attention.in_proj_bias", [2304]),
             ("encoder.layers.encoder_layer_0.ln_1.weight", [768]),
             ("features.denseblock1.denselayer1.conv1.weight", [192, 96, 1, 1]),
             ("features.1.0.block.0.0.weight", [32, 1, 3, 3]), ("ünïcode.κλειδί.weight", [5, 7])]
    values = []
    for key, shape in cases:
        full = dp.param(key, shape).reshape(-1)
        n = full.size
        for i in sorted({0, min(1, n - 1), n // 2, n - 1}):
            values.append({"key": key, "shape": shape, "index": i, "value": float(full[i])})
    uni = [{"key": k, "fnv1a64": f"{dp.fnv1a64(k):016x}", "u": [float(v) for v in dp.uniform(k, 4)]}
           for k in ["", "a", "fc.weight", "ünïcode.κλειδί.weight"]]
    sums = [{"key": k, "shape": s, "sum": float(dp.param(k, s).astype(np.float64).sum()),
             "sum_abs": float(np.abs(dp.param(k, s).astype(np.float64)).sum())} for k, s in cases[:4] + cases[10:12]]
    doc = dict(meta(), rule="see scripts/README.md (detparams.py)", gain=dp.GAIN, values=values, uniform=uni,
               tensor_sums=sums,
               inputs={f"input_{s}.npy": {"shape": [n, 3, s, s], "dtype": "uint8", "feed": "x/255 (float32)"}
                       for n, s in [(2, 224), (2, 160), (1, 112)]})
    with open(os.path.join(out, "deterministic_params.json"), "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)


# MARK: - model fixtures

def channel_sums(a, layout):
    a64 = a.astype(np.float64)
    if layout == "NCHW":
        return a64.reshape(a.shape[0], a.shape[1], -1).sum(axis=2).astype(np.float32)
    return a64.sum(axis=1).astype(np.float32)  # [N, T, C] → [N, C]


def write_model(arch):
    out = os.path.join(ROOT, "models", arch)
    os.makedirs(out, exist_ok=True)
    model = build(arch)
    mods = dict(model.named_modules())
    captured = {}

    def hook(name):
        # clone: densenet's norm5 output is relu'd in place afterwards; we want the module's output
        def f(_m, _i, o):
            captured[name] = o.detach().clone().numpy()
        return f

    handles = [mods[n].register_forward_hook(hook(n)) for n in STAGES[arch]]
    x = input_tensor(2, 224)
    with torch.no_grad():
        logits = model(x).numpy()
    for h in handles:
        h.remove()
    save(os.path.join(out, "logits.npy"), logits)
    layers = []
    for name in STAGES[arch]:
        a = captured[name]
        layout = "NCHW" if a.ndim == 4 else ("NTC" if a.ndim == 3 else "NC")
        entry = {"name": name, "shape": list(a.shape), "layout": layout,
                 "mean": float(a.astype(np.float64).mean()), "std": float(a.astype(np.float64).std()),
                 "absmax": float(np.abs(a).max())}
        if a.size <= FULL_LIMIT:
            entry["full"] = f"{name}.full.npy"
            save(os.path.join(out, entry["full"]), a.astype(np.float32))
        else:
            idx = dp.sample_indices(a.size, SAMPLE_COUNT)
            entry["sample_indices"] = f"{name}.idx.npy"
            entry["sample_values"] = f"{name}.sample.npy"
            save(os.path.join(out, entry["sample_indices"]), idx.astype(np.int32))
            save(os.path.join(out, entry["sample_values"]), a.reshape(-1)[idx].astype(np.float32))
            if layout in ("NCHW", "NTC"):
                entry["channel_sums"] = f"{name}.chsum.npy"
                save(os.path.join(out, entry["channel_sums"]), channel_sums(a, layout))
        layers.append(entry)
    index = dict(meta(), arch=arch, num_classes=NUM_CLASSES, batch=2, image_size=224,
                 input="../input_224.npy", logits="logits.npy", logits_values=logits.tolist(),
                 predicted=[int(v) for v in logits.argmax(1)], gradcam_layer=GRADCAM_LAYER[arch],
                 activations=layers)
    if arch == "vit_b_16":
        m160 = build(arch, image_size=160)
        with torch.no_grad():
            l160 = m160(input_tensor(2, 160)).numpy()
        save(os.path.join(out, "logits_160.npy"), l160)
        index["image_size_160"] = {"input": "../input_160.npy", "logits": "logits_160.npy",
                                   "logits_values": l160.tolist(),
                                   "pos_embedding_shape": list(m160.encoder.pos_embedding.shape)}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    print(f"models/{arch}: logits {np.round(logits, 3).tolist()}", flush=True)


# MARK: - CAM fixtures

def cam_setup(arch):
    from pytorch_grad_cam.utils.reshape_transforms import vit_reshape_transform
    model = build(arch)
    if arch.startswith("resnet"):
        return model, [model.layer4[-1]], None
    if arch == "densenet161":
        return model, [model.features[-1]], None
    if arch == "efficientnet_b0":
        return model, [model.features[-1]], None
    return model, [model.encoder.layers[-1].ln_1], \
        (lambda t: vit_reshape_transform(t, height=14, width=14))


def run_cam(cls, model, layers, reshape, x, targets, **kw):
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    extra = {k: kw.pop(k) for k in list(kw) if k in ("batch_size",)}
    cam = cls(model=model, target_layers=layers, reshape_transform=reshape)
    for k, v in extra.items():
        setattr(cam, k, v)
    tgt = None if targets is None else [ClassifierOutputTarget(c) for c in targets]
    t0 = time.time()
    maps = cam(input_tensor=x, targets=tgt, **kw)
    dt = time.time() - t0
    base = cam.base_cam if hasattr(cam, "base_cam") else cam
    acts = [list(a.shape) for a in base.activations_and_grads.activations]
    outputs = base.outputs if hasattr(base, "outputs") else None
    if hasattr(cam, "__exit__"):
        base.activations_and_grads.release()
    return np.asarray(maps, dtype=np.float32), acts, outputs, dt


def densenet_inplace_probe(model, x, targets):
    """What pytorch-grad-cam's hooks on features[-1] see on CPU, compared with an explicit computation."""
    from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients
    ag = ActivationsAndGradients(model, [model.features[-1]], None)
    out = ag(x)
    model.zero_grad()
    sum(out[i, c] for i, c in enumerate(targets)).backward()
    act_lib, grad_lib = ag.activations[0].numpy(), ag.gradients[0].numpy()
    ag.release()
    feats = model.features(x)
    feats.retain_grad()
    post = torch.relu(feats)
    post.retain_grad()
    logits = model.classifier(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(post, 1), 1))
    sum(logits[i, c] for i, c in enumerate(targets)).backward()
    pre, g_pre, g_post = feats.detach().numpy(), feats.grad.numpy(), post.grad.numpy()

    def close(a, b):
        return bool(np.allclose(a, b, rtol=1e-4, atol=1e-6))
    return {"activations_pre_relu": close(act_lib, pre),
            "activations_post_relu": close(act_lib, np.maximum(pre, 0)),
            "gradients_relu_masked": close(grad_lib, g_pre),
            "gradients_unmasked": close(grad_lib, g_post),
            "fraction_negative_pre_relu": float((pre < 0).mean()),
            "note": "activations_*: what the forward hook on features[-1] holds after the forward "
                    "(norm5 output vs relu(norm5 output)); gradients_relu_masked: equals d(sum of target "
                    "logits)/d(norm5 output); gradients_unmasked: equals the gradient at the relu output"}


def write_cams(arch, pixels, pix_file):
    import pytorch_grad_cam as pgc
    out = os.path.join(ROOT, "cams", arch)
    os.makedirs(out, exist_ok=True)
    model, layers, reshape = cam_setup(arch)
    x = input_tensor(2, 224)
    with torch.no_grad():
        logits = model(x).numpy()
    pred = [int(v) for v in logits.argmax(1)]
    pred_224 = list(pred)
    cases = []
    extra = {}

    def write_index(complete=False):
        index = dict(meta(), arch=arch, batch=2, image_size=224, input="../../models/input_224.npy",
                     pixels="../pixels_224.npy", default_layer=GRADCAM_LAYER[arch], logits=logits.tolist(),
                     predicted=pred_224, explicit_targets=CAM_TARGETS, complete=complete, cases=cases, **extra)
        tmp = os.path.join(out, "index.json.tmp")
        with open(tmp, "w") as f:
            json.dump(index, f, indent=1)
        os.replace(tmp, os.path.join(out, "index.json"))

    def record(name, cls, targets, full=False, layer_names=None, lyr=None, **kw):
        try:
            maps, acts, _, dt = run_cam(cls, model, lyr or layers, reshape, x, targets, **kw)
        except Exception as e:  # a method that does not run on this arch is recorded, not fatal
            cases.append({"name": name, "method": cls.__name__, "error": f"{type(e).__name__}: {e}"})
            print(f"  {arch} {name}: ERROR {type(e).__name__}: {e}", flush=True)
            return None
        fname = f"{name}.npy"
        entry = {"name": name, "method": cls.__name__, "targets": targets,
                 "resolved_targets": targets if targets is not None else pred,
                 "layers": layer_names or [GRADCAM_LAYER[arch]],
                 "reshape_transform": "vit_reshape_transform(14, 14)" if reshape else None,
                 "options": {k: v for k, v in kw.items()}, "activation_shapes": acts,
                 "map_shape": list(maps.shape), "seconds": round(dt, 3),
                 "all_zero": bool(not maps.any())}
        if full:
            entry["full"] = fname
            save(os.path.join(out, fname), maps)
        else:
            entry["pixels"] = pix_file
            entry["sampled"] = fname
            save(os.path.join(out, fname), maps.reshape(maps.shape[0], -1)[:, pixels])
        cases.append(entry)
        print(f"  {arch} {name}: {dt:.2f}s", flush=True)
        write_index()
        return entry

    grad_methods = [pgc.GradCAM, pgc.HiResCAM, pgc.GradCAMPlusPlus, pgc.XGradCAM, pgc.LayerCAM,
                    pgc.GradCAMElementWise, pgc.EigenGradCAM, pgc.ShapleyCAM]
    for cls in grad_methods:
        full = arch == "resnet50" and cls is pgc.GradCAM
        record(f"{cls.__name__}_targets", cls, CAM_TARGETS, full=full)
        record(f"{cls.__name__}_none", cls, None, full=full)
    # target-independent methods: one case each
    for cls in [pgc.EigenCAM, pgc.KPCA_CAM]:
        record(f"{cls.__name__}", cls, None)
    # FinerCAM with explicit ClassifierOutputTargets is GradCAM; its own behaviour is targets=None.
    record("FinerCAM_none", pgc.FinerCAM, None)
    # Eigen methods' SVD sign is arbitrary: store the raw first-component projection too.
    from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection
    ag = ActivationsAndGradients(model, layers, reshape)
    with torch.no_grad():
        ag(x)
    a = ag.activations[0].numpy()
    ag.release()
    proj = get_2d_projection(a)
    save(os.path.join(out, "EigenCAM_projection.npy"), proj)
    extra["eigen_projection"] = {"file": "EigenCAM_projection.npy", "shape": list(proj.shape),
                                 "note": "get_2d_projection(activations) before ReLU/min-max/resize; "
                                         "the SVD sign is LAPACK's choice — align signs against this"}
    if arch == "resnet50":
        record("GradCAM_targets_aug_smooth", pgc.GradCAM, CAM_TARGETS, aug_smooth=True)
        record("GradCAM_targets_eigen_smooth", pgc.GradCAM, CAM_TARGETS, eigen_smooth=True)
        record("GradCAM_targets_layer3_layer4", pgc.GradCAM, CAM_TARGETS,
               layer_names=["layer3.5", "layer4.2"], lyr=[model.layer3[-1], model.layer4[-1]])
    if arch == "vit_b_16":
        record("GradCAM_targets_block_output", pgc.GradCAM, CAM_TARGETS,
               layer_names=["encoder.layers.encoder_layer_11"], lyr=[model.encoder.layers[-1]])
    if arch == "densenet161":
        extra["inplace_relu_probe"] = densenet_inplace_probe(model, x, CAM_TARGETS)
    if arch == "efficientnet_b0":
        x112 = input_tensor(1, 112)
        with torch.no_grad():
            extra["logits_112"] = model(x112).numpy().tolist()
        pix112 = dp.sample_indices(112 * 112, CAM_PIXELS, key="cam-pixels")
        save(os.path.join(ROOT, "cams", "pixels_112.npy"), pix112.astype(np.int32))
        x_saved = x
        x = x112
        pred_saved = pred
        pred = [int(np.argmax(extra["logits_112"][0]))]
        pixels_saved = pixels
        pixels = pix112
        for cls, bs in [(pgc.ScoreCAM, 16), (pgc.AblationCAM, 32)]:
            for tg, suffix in [([1], "targets"), (None, "none")]:
                e = record(f"{cls.__name__}_112_{suffix}", cls, tg, batch_size=bs)
                if e:
                    e["input"] = "../../models/input_112.npy"
                    e["pixels"] = "../pixels_112.npy"
                    e["options"]["batch_size"] = bs
        record("GradCAM_112_targets", pgc.GradCAM, [1])
        cases[-1]["input"] = "../../models/input_112.npy"
        cases[-1]["pixels"] = "../pixels_112.npy"
        x, pred, pixels = x_saved, pred_saved, pixels_saved
    # FullGrad (slowest; last) ignores target_layers and uses every Conv2d/BatchNorm2d bias.
    record("FullGrad_targets", pgc.FullGrad, CAM_TARGETS, layer_names=["<all Conv2d/BatchNorm2d with bias>"])
    record("FullGrad_none", pgc.FullGrad, None, layer_names=["<all Conv2d/BatchNorm2d with bias>"])
    write_index(complete=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["models", "cams"])
    ap.add_argument("--arch", action="append")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    archs = args.arch or ARCHS
    t0 = time.time()
    if args.only in (None, "models"):
        write_common()
        for a in archs:
            write_model(a)
    if args.only in (None, "cams"):
        pixels = dp.sample_indices(224 * 224, CAM_PIXELS, key="cam-pixels")
        if not os.path.exists(os.path.join(ROOT, "cams", "pixels_224.npy")):
            save(os.path.join(ROOT, "cams", "pixels_224.npy"), pixels.astype(np.int32))
        for a in archs:
            write_cams(a, pixels, "../pixels_224.npy")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
