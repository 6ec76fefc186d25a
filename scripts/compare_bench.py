"""Side-by-side table of `camaudit bench` and scripts/bench_torch.py, both run on the same machine at
the same thread count. `make bench` runs the two alternately, one architecture at a time (so both
sides of a ratio are timed within the same minutes on a shared machine), then this.

usage: python3 scripts/compare_bench.py --ours bench-*.json --torch bench_torch-*.json [--json OUT]
A ratio > 1 means camaudit is faster."""
import argparse
import json

NAMES = {"gradcam": "GradCAM", "hirescam": "HiResCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM",
         "layercam": "LayerCAM", "gradcamelementwise": "GradCAMElementWise", "eigencam": "EigenCAM",
         "eigengradcam": "EigenGradCAM", "scorecam": "ScoreCAM", "ablationcam": "AblationCAM", "random": "RandomCAM"}


def load_torch(path):
    return json.load(open(path))


def merge(docs):
    """One document from several runs: lists are concatenated, per-architecture dicts united."""
    out = {}
    for d in docs:
        for k, v in d.items():
            if isinstance(v, list):
                out.setdefault(k, []).extend(v)
            elif isinstance(v, dict):
                out.setdefault(k, {}).update(v)
            else:
                out.setdefault(k, v)
    return out


def main(ours_paths, torch_paths):
    ours = merge(json.load(open(p)) for p in ours_paths)
    ref = merge(load_torch(p) for p in torch_paths)
    print(f"\ncamaudit vs PyTorch {ref.get('torch')} / pytorch-grad-cam {ref.get('grad_cam')}, "
          f"threads {ours.get('threads')} vs {ref.get('threads')} (ratio = PyTorch time / camaudit time)")
    print(f"{'what':44s} {'camaudit':>12s} {'PyTorch':>12s} {'ratio':>7s}")

    def row(name, a, b, unit="ms/img"):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > 0:
            print(f"{name:44s} {a:10.1f}{unit[:2]:>2s} {b:10.1f}{unit[:2]:>2s} {b / a:7.2f}")
        else:
            print(f"{name:44s} {str(a):>12s} {str(b):>12s} {'–':>7s}")

    for r in ours.get("models", []):
        b = r["batch"]
        t = ref.get("forward", {}).get(r["model"], {}).get(f"batch{b}")
        row(f"forward {r['model']} batch {b}", r["ms_per_image"], t)
    for r in ours.get("cams", []):
        if r["method"] == "gradcam":
            t = ref.get("gradcam", {}).get(r["model"], {}).get(f"batch{r['batch']}")
        elif r["model"] == "resnet50":
            t = ref.get("methods_resnet50", {}).get(NAMES.get(r["method"], ""))
        elif r["model"] == "efficientnet_b0" and r["method"] == "scorecam":
            t = ref.get("scorecam_efficientnet_b0", {}).get("batch1_ms")
        else:
            t = None
        row(f"{r['method']} {r['model']} batch {r['batch']}", r["ms_per_image"], t)
    for r in ours.get("metrics", []):
        t = ref.get("rise", {}).get(r["model"], {}).get("pairs_per_s")
        a = r.get("images_per_second")
        if isinstance(a, (int, float)) and isinstance(t, (int, float)) and t > 0:
            print(f"{'deletion+insertion ' + r['model'] + ' (img/s)':44s} {a:12.3f} {t:12.3f} {a / t:7.2f}")
    train_ref = {(r["arch"], r["image_size"]): r for r in ref.get("training", [])}
    if ours.get("training"):
        print(f"\ntraining step, AdamW (images/s, ratio = camaudit / PyTorch, > 1: camaudit faster; peak RSS of each process)")
        print(f"{'architecture':24s} {'size':>4s} {'batch':>5s} {'camaudit':>9s} {'PyTorch':>9s} {'ratio':>6s} {'peak MB ours':>12s} {'PyTorch':>8s}")
    for r in ours.get("training", []):
        t = train_ref.get((r["arch"], r["image_size"]), {})
        a, b = r.get("images_per_s"), t.get("images_per_s")
        num = lambda v: isinstance(v, (int, float))  # noqa: E731
        ratio = f"{a / b:6.2f}" if num(a) and num(b) and b > 0 else f"{'–':>6s}"
        theirs = f"{b:9.2f}" if num(b) else f"{'–':>9s}"
        peak = t.get("peak_rss_mb")
        print(f"{r['arch']:24s} {r['image_size']:4d} {r['batch']:5d} {a:9.2f} {theirs} {ratio} "
              f"{r.get('peak_rss_mb', -1):12.0f} {peak if num(peak) else '–':>8}")
    sweep = ours.get("sweep")
    if sweep:
        print("\nsweep throughput (no PyTorch counterpart; efficiency = rate / (cores × rate at one core))")
        for r in sweep.get("scaling", []):
            print(f"{r['cores']:3d} cores: best {r['workers']} worker(s) × {r['threads']} thread(s): {r['units_per_s']:.3f} units/s, "
                  f"{r['values_per_s']:.1f} values/s, efficiency {r['efficiency']:.2f}")
        for r in sweep.get("overhead", []):
            print(f"{r['what']}: {r['seconds']:.2f} s = {100 * r['fraction_of_run']:.4f}% of the estimated run of {r['units']:.0f} units")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", nargs="+", required=True)
    ap.add_argument("--torch", nargs="+", required=True)
    a = ap.parse_args()
    main(a.ours, a.torch)
