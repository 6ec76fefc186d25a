"""Phantom learnability and trainer parity: the same manifest and recipe through PyTorch and `camaudit train`.

    # PyTorch only (fast to iterate on the data design):
    /tmp/tv/bin/python scripts/phantom_torch.py --data quick/manifest.csv --profile quick --models resnet50 --threads 2
    # both trainers, all five architectures, a parity table (markdown + JSON) in --out:
    /tmp/tv/bin/python scripts/phantom_torch.py --data quick/manifest.csv --profile quick --models all \\
        --ours .build/release/camaudit --threads 2 --out parity
    # shortcut experiment: train on the marked set, score the test split of the clean one too:
    /tmp/tv/bin/python scripts/phantom_torch.py --data sc/manifest.csv --clean sc/manifest_clean.csv --profile quick ...

The recipe of each profile is the table in docs/PHANTOMS.md (kept in `RECIPES` below); any option
given on the command line overrides it. PyTorch trains with scripts/train_torch.py (torchvision's
builders and initialisation, AdamW, cross-entropy, Resize + ToTensor, best-validation checkpoint,
camaudit's per-epoch schedule); `--ours` runs `camaudit train` with the same options and reads its
NAME.test.json. Test accuracy and macro-F1 are computed the same way on both sides.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_torch  # noqa: E402

ARCHS = ["resnet50", "resnet101", "densenet161", "efficientnet_b0", "vit_b_16"]

# The profiles' training recipes (docs/PHANTOMS.md). Data: `camaudit synth --count C --size S --seed 0`.
RECIPES = {
    "tiny": dict(image_size=64, epochs=1, batch_size=16, lr=1e-3, weight_decay=0.01, schedule="none", warmup_epochs=0,
                 head_init="zeros"),
    "quick": dict(image_size=64, epochs=10, batch_size=16, lr=1e-3, weight_decay=0.01, schedule="cosine", warmup_epochs=1,
                  head_init="zeros"),
    "full": dict(image_size=224, epochs=20, batch_size=16, lr=1e-4, weight_decay=0.01, schedule="none", warmup_epochs=0,
                 head_init="zeros"),
}
# Per-architecture departures from a profile's recipe (PhantomProfile.exceptions).
EXCEPTIONS = {"quick": {"efficientnet_b0": dict(epochs=20)}}


def recipe_for(profile, recipe, arch):
    """The profile's recipe for one architecture (command-line overrides already in `recipe`)."""
    return {**recipe, **EXCEPTIONS.get(profile, {}).get(arch, {})}


def torch_args(manifest, arch, recipe, seed, threads):
    a = train_torch.parser().parse_args(["--model", arch, "--data", manifest])
    for key, value in recipe.items():
        setattr(a, key, value)
    a.seed, a.threads = seed, threads
    return a


def run_ours(binary, manifest, arch, recipe, seed, threads, out):
    base = os.path.join(out, f"ours_{arch}_s{seed}")
    cmd = [binary, "train", "--model", arch, "--data", manifest, "--out", base + ".safetensors", "--quiet",
           "--threads", str(threads), "--seed", str(seed), "--epochs", str(recipe["epochs"]),
           "--batch-size", str(recipe["batch_size"]), "--lr", str(recipe["lr"]), "--weight-decay", str(recipe["weight_decay"]),
           "--schedule", recipe["schedule"], "--warmup-epochs", str(recipe["warmup_epochs"]),
           "--image-size", str(recipe["image_size"]), "--head-init", recipe["head_init"],
           *(["--progressive", recipe["progressive"]] if recipe.get("progressive") else []),
           "--overwrite"]  # a rerun retrains (its time is measured) rather than being refused
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.time() - t0
    with open(base + ".test.json") as f:
        test = json.load(f)
    with open(base + ".json") as f:
        record = json.load(f)
    return {"command": " ".join(cmd), "seconds": seconds, "checkpoint": base + ".safetensors",
            "test": {"accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
                     "confusion_matrix": test.get("confusion_matrix")},
            "best_epoch": record.get("bestEpoch")}


def score_clean(arch, manifest, recipe, checkpoint, threads):
    """Scores a checkpoint on another manifest's test split (the unmarked slices)."""
    a = torch_args(manifest, arch, recipe, 0, threads)
    a.check_load = checkpoint
    return train_torch.run(a)["test"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="manifest.csv written by camaudit synth")
    ap.add_argument("--clean", default=None, help="manifest_clean.csv (synth --also-clean): also score its test split")
    ap.add_argument("--profile", default="quick", choices=sorted(RECIPES))
    ap.add_argument("--models", default="all", help="comma-separated, or all")
    ap.add_argument("--seeds", default="42", help="comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ours", default=None, help="path to the camaudit binary: also train with it")
    ap.add_argument("--skip-torch", action="store_true", help="only camaudit (with --ours)")
    ap.add_argument("--out", default="phantom-torch-out")
    for key, value in RECIPES["quick"].items():
        ap.add_argument("--" + key.replace("_", "-"), type=type(value), default=None)
    ap.add_argument("--progressive", default=None, help="SIZE:EPOCHS (camaudit train --progressive)")
    a = ap.parse_args()
    recipe = dict(RECIPES[a.profile])
    for key in list(recipe) + ["progressive"]:
        if getattr(a, key) is not None:
            recipe[key] = getattr(a, key)
    archs = ARCHS if a.models == "all" else a.models.split(",")
    os.makedirs(a.out, exist_ok=True)
    results = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        for arch in archs:
            arch_recipe = recipe if a.epochs is not None else recipe_for(a.profile, recipe, arch)
            row = {"model": arch, "seed": seed, "recipe": arch_recipe, "manifest": a.data}
            if not a.skip_torch:
                t = train_torch.run(torch_args(a.data, arch, arch_recipe, seed, a.threads))
                row["torch"] = {"seconds": t["seconds"], "test": t["test"], "history": t["history"]}
                print(f"torch {arch} s{seed}: test acc {t['test']['accuracy']:.3f} F1 {t['test']['macro_f1']:.3f} "
                      f"({t['seconds']:.0f} s)", flush=True)
            if a.ours:
                o = run_ours(a.ours, a.data, arch, arch_recipe, seed, a.threads, a.out)
                row["ours"] = o
                print(f"ours  {arch} s{seed}: test acc {o['test']['accuracy']:.3f} F1 {o['test']['macro_f1']:.3f} "
                      f"({o['seconds']:.0f} s)", flush=True)
                if a.clean:
                    row["ours_clean_test"] = score_clean(arch, a.clean, arch_recipe, o["checkpoint"], a.threads)
            results.append(row)
            with open(os.path.join(a.out, "results.json"), "w") as f:
                json.dump(results, f, indent=1)
    lines = ["| model | seed | PyTorch acc | PyTorch macro-F1 | PyTorch s | camaudit acc | camaudit macro-F1 | camaudit s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        t, o = r.get("torch"), r.get("ours")
        cell = lambda d, k: f"{d['test'][k]:.3f}" if d else "—"
        secs = lambda d: f"{d['seconds']:.0f}" if d else "—"
        lines.append(f"| {r['model']} | {r['seed']} | {cell(t, 'accuracy')} | {cell(t, 'macro_f1')} | {secs(t)} | "
                     f"{cell(o, 'accuracy')} | {cell(o, 'macro_f1')} | {secs(o)} |")
    table = "\n".join(lines)
    with open(os.path.join(a.out, "parity.md"), "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
