#!/usr/bin/env python3
"""Writes Tests/Fixtures/metrics/metrics_v1.json, the reference values EvaluationTests compare with.

Run with the project's reference environment:  /tmp/tv/bin/python scripts/gen_metric_fixtures.py

Everything here is an independent, straightforward NumPy / SciPy / scikit-learn / torchvision /
pytorch-grad-cam computation of the conventions documented in Sources/Evaluation:
- a tiny "model": logits = W @ x.ravel() + b (W [K, C*H*W]) — the tests rebuild it in Swift;
- RISE deletion / insertion (descending map, ties by index, ceil(HW/n) pixels per step,
  trapezoid AUC over the true fraction changed), blur = torchvision gaussian_blur(11, 5);
- the study's Faith (raw logits), confidence change (softmax), ROAD imputation (pytorch-grad-cam's
  NoisyLinearImputer with noise 0), Wilcoxon (scipy defaults), Spearman, ROC-AUC, SSIM
  (scikit-image's algorithm rebuilt with scipy.ndimage.gaussian_filter), macro-F1, percentiles.
"""
import json, os, math
import numpy as np
import scipy.stats as st
from scipy.ndimage import gaussian_filter
from sklearn.metrics import roc_auc_score, f1_score, confusion_matrix
import torch
import torchvision.transforms.functional as TF
from pytorch_grad_cam.metrics.road import NoisyLinearImputer

VERSION = 1
rng = np.random.default_rng(20260126)
C, H, W, K = 3, 12, 12, 3
HW = H * W

Wm = rng.normal(0, 0.05, size=(K, C * HW)).astype(np.float32)
bias = np.array([0.1, -0.2, 0.05], dtype=np.float32)

def logits(xb):  # [N, C, H, W] -> [N, K], float64 accumulate
    return xb.reshape(xb.shape[0], -1).astype(np.float64) @ Wm.T.astype(np.float64) + bias

def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)

images = rng.uniform(0, 1, size=(2, C, H, W)).astype(np.float32)
# maps with ties: quantised to eighths
maps = (np.floor(rng.uniform(0, 1, size=(2, H, W)) * 8) / 8).astype(np.float32)

def blur(x):
    return TF.gaussian_blur(torch.from_numpy(x), [11, 11], [5.0, 5.0]).numpy()

def curve(start, finish, m, cls, steps):
    order = np.argsort(-m.ravel(), kind="stable")
    s = -(-HW // steps)
    pts = -(-HW // s) + 1
    fr, sc = [], []
    for k in range(pts):
        n = min(k * s, HW)
        img = start.reshape(C, HW).copy()
        img[:, order[:n]] = finish.reshape(C, HW)[:, order[:n]]
        fr.append(n / HW)
        sc.append(float(softmax(logits(img.reshape(1, C, H, W)))[0, cls]))
    fr, sc = np.array(fr), np.array(sc)
    auc = float(np.sum((fr[1:] - fr[:-1]) * (sc[1:] + sc[:-1]) / 2))
    return {"fractions": fr.tolist(), "scores": sc.tolist(), "auc": auc}

x0, m0 = images[0], maps[0]
cls0 = int(np.argmax(logits(x0[None])[0]))
blurred = blur(x0)
meanbase = np.broadcast_to(x0.reshape(C, -1).mean(axis=1)[:, None, None], x0.shape).astype(np.float32)
rise = {}
for steps in (10, 50):
    rise[f"deletion_zero_{steps}"] = curve(x0, np.zeros_like(x0), m0, cls0, steps)
    rise[f"deletion_blur_{steps}"] = curve(x0, blurred, m0, cls0, steps)
    rise[f"deletion_mean_{steps}"] = curve(x0, meanbase, m0, cls0, steps)
    rise[f"insertion_{steps}"] = curve(blurred, x0, m0, cls0, steps)

clean = logits(images)
pred = clean.argmax(axis=1)
masked = images * (1 - maps[:, None])
faith_pred = (clean[np.arange(2), pred] - logits(masked)[np.arange(2), pred]).tolist()
true_cls = np.array([2, 0])
faith_true = (clean[np.arange(2), true_cls] - logits(masked)[np.arange(2), true_cls]).tolist()
expl = images * maps[:, None]
conf = {"clean": softmax(clean)[np.arange(2), pred].tolist(), "explained": softmax(logits(expl))[np.arange(2), pred].tolist()}

# ROAD imputation, MoRF at the 80th percentile, noise 0 (pytorch-grad-cam's code).
thr = np.percentile(m0, 80)
keep = np.float32(m0 < thr)
imputed = NoisyLinearImputer(noise=0.0)(torch.from_numpy(x0.copy()), torch.from_numpy(keep)).numpy()

def wil(x, y, **kw):
    r = st.wilcoxon(x, y, **kw)
    return {"x": list(map(float, x)), "y": list(map(float, y)), "statistic": float(r.statistic), "pvalue": float(r.pvalue), "kw": kw}

wcases = []
a = rng.normal(0, 1, 10); wcases.append(wil(a + 0.5, a + rng.normal(0, 1, 10) ))
a = np.round(rng.normal(0.3, 1, 12), 1); b = np.round(rng.normal(0, 1, 12), 1); b[3] = a[3]; b[5] = a[5] - 0.5; b[7] = a[7] - 0.5
wcases.append(wil(a, b))                          # ties + a zero, n = 12: permutation
a = np.round(rng.normal(0.2, 1, 30), 1); b = np.round(rng.normal(0, 1, 30), 1); b[0] = a[0]
wcases.append(wil(a, b))                          # ties + zero, n = 30: normal
wcases.append(wil(a, b, zero_method="pratt"))
a = rng.normal(0.1, 1, 60); b = rng.normal(0, 1, 60)
wcases.append(wil(a, b))                          # n = 60: normal
a = rng.normal(0.4, 1, 20); b = rng.normal(0, 1, 20)
wcases.append(wil(a, b))                          # n = 20, no ties: exact
wcases.append(wil(a, b, correction=True, method="asymptotic"))

sp_a = np.round(rng.normal(0, 1, 40), 1); sp_b = np.round(sp_a + rng.normal(0, 1, 40), 1)
spearman = {"a": sp_a.tolist(), "b": sp_b.tolist(), "rho": float(st.spearmanr(sp_a, sp_b).statistic),
            "pearson": float(st.pearsonr(sp_a, sp_b).statistic)}

auc_scores = np.floor(rng.uniform(0, 1, 50) * 6) / 6
auc_labels = (rng.uniform(0, 1, 50) < 0.3 + 0.5 * auc_scores).astype(int)
auc = {"scores": auc_scores.tolist(), "labels": auc_labels.tolist(), "auc": float(roc_auc_score(auc_labels, auc_scores))}

def ssim_ref(x, y):  # scikit-image structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)
    f = lambda z: gaussian_filter(z, sigma=1.5, truncate=3.5)
    ux, uy = f(x), f(y)
    vx, vy, vxy = f(x * x) - ux * ux, f(y * y) - uy * uy, f(x * y) - ux * uy
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    S = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    return float(S[5:-5, 5:-5].mean())
sa = rng.uniform(0, 1, (16, 14)); sb = np.clip(sa + rng.normal(0, 0.2, sa.shape), 0, 1)
ssim = {"a": sa.ravel().tolist(), "b": sb.ravel().tolist(), "h": 16, "w": 14, "ssim": ssim_ref(sa, sb)}

yt = rng.integers(0, 3, 40); yp = np.where(rng.uniform(0, 1, 40) < 0.7, yt, rng.integers(0, 3, 40))
cls = {"truth": yt.tolist(), "pred": yp.tolist(), "macro_f1": float(f1_score(yt, yp, average="macro")),
       "confusion": confusion_matrix(yt, yp, labels=[0, 1, 2]).tolist()}

pv = rng.normal(0, 1, 23)
perc = {"values": pv.tolist(), "q": [0, 2.5, 10, 50, 80, 97.5, 100], "p": [float(np.percentile(pv, q)) for q in [0, 2.5, 10, 50, 80, 97.5, 100]]}

out = {
    "version": VERSION, "generator": "scripts/gen_metric_fixtures.py",
    "C": C, "H": H, "W": W, "K": K, "weight": Wm.ravel().tolist(), "bias": bias.tolist(),
    "images": images.ravel().tolist(), "maps": maps.ravel().tolist(),
    "blurred0": blurred.ravel().tolist(), "class0": cls0, "rise": rise,
    "faith_pred": faith_pred, "faith_true": faith_true, "true_classes": true_cls.tolist(), "predicted": pred.tolist(),
    "confidence": conf, "road_keep": keep.ravel().tolist(), "road_imputed": imputed.ravel().tolist(),
    "wilcoxon": wcases, "spearman": spearman, "auc": auc, "ssim": ssim, "classification": cls, "percentile": perc,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "metrics", "metrics_v1.json")
with open(path, "w") as fh:
    json.dump(out, fh)
print("wrote", os.path.normpath(path), os.path.getsize(path), "bytes")
for c in wcases: print("wilcoxon", len(c["x"]), c["kw"], c["statistic"], c["pvalue"])
