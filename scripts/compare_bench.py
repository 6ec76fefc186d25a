"""Side-by-side table of `camaudit bench` (bench.json) and scripts/bench_torch.py (bench_torch.json),
both run on the same machine at the same thread count: `make bench` runs the two and then this.

usage: python3 scripts/compare_bench.py bench.json bench_torch.json
A ratio > 1 means camaudit is faster."""
import json
import sys

NAMES = {"gradcam": "GradCAM", "hirescam": "HiResCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM",
         "layercam": "LayerCAM", "gradcamelementwise": "GradCAMElementWise", "eigencam": "EigenCAM",
         "eigengradcam": "EigenGradCAM", "scorecam": "ScoreCAM", "ablationcam": "AblationCAM", "random": "RandomCAM"}


def main(ours_path, torch_path):
    ours = json.load(open(ours_path))
    text = open(torch_path).read()
    ref = json.loads(text[text.index("{"):])  # pytorch-grad-cam prints warnings on stdout before the JSON
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


if __name__ == "__main__":
    main(*sys.argv[1:3])
