#!/usr/bin/env python3
"""PyTorch / pytorch-grad-cam side of the side-by-side benchmark; prints one JSON object.

    /tmp/tv/bin/python scripts/bench_torch.py --threads 2 [--quick] [--arch resnet50 ...]

At torch.set_num_threads(--threads), 224×224 inputs, num_classes=3, eval mode, deterministic
parameters (scripts/detparams.py) and the fixed input image (no normalisation):

- forward:  torchvision forward ms/image at batch 1 and 8 (torch.no_grad)
- gradcam:  pytorch-grad-cam GradCAM ms/image at batch 1 and 8, default layers, targets=None
- methods:  every pytorch-grad-cam method on resnet50 at batch 1 (ScoreCAM/AblationCAM run one forward
            per channel of layer4 — 2048 — and take minutes; --quick skips them)
- scorecam_efficientnet_b0: ScoreCAM on features[-1] (1280 channels), batch 1, its default batch 16
- rise:     RISE deletion + insertion for one image and its GradCAM map: 50 steps each, the 50
            perturbed inputs of a curve in one batch, blur kernel 11 σ 5, softmax probability of the
            explained (predicted) class, AUC by the trapezoid rule; pairs/s excludes the map
- training: AdamW steps (train mode, dropout off, cross-entropy, backward, optimizer step) at batch
            16 and 224/128 px (--train-sizes), images/s and peak RSS (VmHWM); --training-only runs
            this section alone

Each timing is the best of --repeats runs after one warm-up run, as `camaudit bench` takes its own.
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

ARCHS = ["resnet50", "resnet101", "densenet161", "efficientnet_b0", "vit_b_16"]


def build(arch):
    m = getattr(torchvision.models, arch)(num_classes=3)
    dp.fill_model(m)
    return m.eval()


def default_layers(arch, m):
    from pytorch_grad_cam.utils.reshape_transforms import vit_reshape_transform
    if arch.startswith("resnet"):
        return [m.layer4[-1]], None
    if arch in ("densenet161", "efficientnet_b0"):
        return [m.features[-1]], None
    return [m.encoder.layers[-1].ln_1], (lambda t: vit_reshape_transform(t, 14, 14))


def images(n, size=224):
    # tile the fixed pair of images to any batch size
    base = torch.from_numpy(dp.input_image(2, size)).float().div(255)
    return base[torch.arange(n) % 2].contiguous()


def timed(fn, repeats):
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def bench_forward(m, batch, repeats):
    x = images(batch)

    def run():
        with torch.no_grad():
            m(x)
    return 1000 * timed(run, repeats) / batch


def bench_cam(cls, m, layers, reshape, batch, repeats, **attrs):
    x = images(batch)
    cam = cls(model=m, target_layers=layers, reshape_transform=reshape)
    for k, v in attrs.items():
        setattr(cam, k, v)

    def run():
        cam(input_tensor=x, targets=None)
    try:
        return 1000 * timed(run, repeats) / batch, None
    except Exception as e:  # noqa: BLE001 — report, keep benchmarking
        return None, f"{type(e).__name__}: {e}"
    finally:
        cam.activations_and_grads.release() if hasattr(cam, "activations_and_grads") else None


def rise_pair(m, x, saliency, cls_idx, steps=50):
    """Deletion and insertion AUCs for one image x [1,3,H,W] and saliency [H,W]."""
    import torchvision.transforms.functional as TF
    _, c, h, w = x.shape
    order = torch.argsort(torch.from_numpy(saliency).reshape(-1), descending=True)
    blurred = TF.gaussian_blur(x, kernel_size=11, sigma=5.0)
    counts = [round(k * h * w / steps) for k in range(steps + 1)]
    # ranks[p] = position of pixel p in the saliency order; step k changes pixels with rank < counts[k]
    ranks = torch.empty(h * w, dtype=torch.long)
    ranks[order] = torch.arange(h * w)
    masks = torch.stack([(ranks < counts[k]).reshape(1, h, w) for k in range(steps + 1)]).float()  # [51,1,H,W]
    deletion = x * (1 - masks[1:])                        # k = 1..50 (k = 0 is x itself)
    insertion = blurred * (1 - masks[:-1]) + x * masks[:-1]  # k = 0..49 (k = 50 is x itself)
    with torch.no_grad():
        p0 = torch.softmax(m(x), 1)[0, cls_idx].item()
        pd = torch.softmax(m(deletion), 1)[:, cls_idx].numpy()
        pi = torch.softmax(m(insertion), 1)[:, cls_idx].numpy()
    del_curve = np.concatenate([[p0], pd])
    ins_curve = np.concatenate([pi, [p0]])
    frac = np.array(counts, dtype=np.float64) / (h * w)
    return float(np.trapezoid(del_curve, frac)), float(np.trapezoid(ins_curve, frac))


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return -1


def bench_training(archs, repeats, quick, sizes=None):
    """Full AdamW steps (train mode, dropout off, cross-entropy, backward, step) as `camaudit bench`
    times them: batch 16 at 224 and 128 px (--train-sizes; quick: batch 4 at 64), best of `repeats`
    after a warm-up, peak RSS per row (reset through /proc/self/clear_refs; `make bench` runs one
    architecture and size per process, so no row sees memory a previous row left to the allocator)."""
    rows = []
    batch = 4 if quick else 16
    for arch in archs:
        for size in (sizes or ([64] if quick else [224, 128])):
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            m = (torchvision.models.vit_b_16(num_classes=3, image_size=size) if arch == "vit_b_16"
                 else getattr(torchvision.models, arch)(num_classes=3))
            m.train()
            for mod in m.modules():
                if isinstance(mod, torch.nn.Dropout) or type(mod).__name__ == "StochasticDepth":
                    mod.eval()
            opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
            x = torch.rand(batch, 3, size, size)
            y = torch.arange(batch) % 3

            def step():
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(m(x), y).backward()
                opt.step()
            t = timed(step, repeats)
            rows.append({"arch": arch, "image_size": size, "batch": batch, "seconds_per_step": round(t, 3),
                         "images_per_s": round(batch / t, 2), "peak_rss_mb": round(peak_rss_mb())})
            print(f"# train {arch} {size}px: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="skip ScoreCAM/AblationCAM on resnet50")
    ap.add_argument("--arch", action="append")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--training-only", action="store_true", help="only the training section")
    ap.add_argument("--train-sizes", help="image sizes of the training section, comma-separated (default 224,128)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import importlib.metadata as md
    import pytorch_grad_cam as pgc
    archs = args.arch or ARCHS
    out = {"tool": "scripts/bench_torch.py", "torch": torch.__version__, "torchvision": torchvision.__version__,
           "grad_cam": md.version("grad-cam"), "threads": args.threads, "quick": args.quick,
           "image_size": 224, "unit": "ms/image unless named otherwise", "repeats": args.repeats,
           "forward": {}, "gradcam": {}, "methods_resnet50": {}, "rise": {}}
    sizes = [int(v) for v in args.train_sizes.split(",")] if args.train_sizes else None
    out["training"] = bench_training(archs, args.repeats, args.quick, sizes)
    if args.training_only:
        return out
    for arch in archs:
        m = build(arch)
        layers, reshape = default_layers(arch, m)
        out["forward"][arch] = {f"batch{b}": round(bench_forward(m, b, args.repeats), 2) for b in (1, 8)}
        out["gradcam"][arch] = {}
        for b in (1, 8):
            ms, err = bench_cam(pgc.GradCAM, m, layers, reshape, b, max(1, args.repeats - 1))
            out["gradcam"][arch][f"batch{b}"] = round(ms, 2) if ms else err
        # RISE: one image, its GradCAM map, deletion + insertion
        x = images(1)
        cam = pgc.GradCAM(model=m, target_layers=layers, reshape_transform=reshape)
        sal = cam(input_tensor=x, targets=None)[0]
        cam.activations_and_grads.release()
        with torch.no_grad():
            cls_idx = int(m(x).argmax(1))
        t = timed(lambda: rise_pair(m, x, sal, cls_idx), max(1, args.repeats - 1))
        d, i = rise_pair(m, x, sal, cls_idx)
        out["rise"][arch] = {"pairs_per_s": round(1 / t, 3), "seconds_per_pair": round(t, 3),
                             "forwards_per_pair": 101, "deletion_auc": round(d, 4), "insertion_auc": round(i, 4)}
        print(f"# {arch}: {out['forward'][arch]} gradcam {out['gradcam'][arch]} rise {out['rise'][arch]}",
              file=sys.stderr, flush=True)
    if "resnet50" in archs:
        m = build("resnet50")
        layers, _ = default_layers("resnet50", m)
        methods = [pgc.GradCAM, pgc.HiResCAM, pgc.GradCAMPlusPlus, pgc.XGradCAM, pgc.LayerCAM,
                   pgc.GradCAMElementWise, pgc.EigenCAM, pgc.EigenGradCAM, pgc.KPCA_CAM, pgc.FullGrad,
                   pgc.ShapleyCAM, pgc.FinerCAM, pgc.RandomCAM]
        if not args.quick:
            methods += [pgc.ScoreCAM, pgc.AblationCAM]
        for cls in methods:
            reps = 1 if cls in (pgc.ScoreCAM, pgc.AblationCAM) else args.repeats
            if cls in (pgc.ScoreCAM, pgc.AblationCAM):
                # one warm-up would double minutes of work: time a single run
                x = images(1)
                cam = cls(model=m, target_layers=layers)
                t0 = time.perf_counter()
                cam(input_tensor=x, targets=None)
                ms, err = 1000 * (time.perf_counter() - t0), None
                cam.activations_and_grads.release()
            else:
                ms, err = bench_cam(cls, m, layers, None, 1, reps)
            out["methods_resnet50"][cls.__name__] = round(ms, 2) if ms else err
            print(f"# resnet50 {cls.__name__}: {out['methods_resnet50'][cls.__name__]}", file=sys.stderr, flush=True)
        if args.quick:
            out["methods_resnet50"]["note"] = "--quick: ScoreCAM/AblationCAM skipped (2048 forwards each)"
    if "efficientnet_b0" in archs:
        m = build("efficientnet_b0")
        x = images(1)
        cam = pgc.ScoreCAM(model=m, target_layers=[m.features[-1]])
        t0 = time.perf_counter()
        cam(input_tensor=x, targets=None)
        out["scorecam_efficientnet_b0"] = {"batch1_ms": round(1000 * (time.perf_counter() - t0), 1),
                                           "channels": 1280, "scorecam_batch_size": 16, "runs": 1}
        cam.activations_and_grads.release()
    return out


if __name__ == "__main__":
    import contextlib
    # pytorch-grad-cam prints warnings and progress on stdout: keep stdout for the JSON alone.
    with contextlib.redirect_stdout(sys.stderr):
        result = main()
    print(json.dumps(result, indent=1))
