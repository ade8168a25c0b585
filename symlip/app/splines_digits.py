r"""``symlip reproduce splines-digits``: certified robust accuracy of 1-Lipschitz
classifiers with ReLU, GroupSort and learnable linear-spline activations on the digits
data set that scikit-learn ships (8x8 images, pixels scaled to $[0, 1]$).

Each network (``64-64-64-10``, Björck layers, multi-class hinge loss) is exported
certified-normalised and certified (:func:`symlip.models.lipschitz_layers.certify_lipschitz_network`):
$L_{\mathrm{cert}}$ is the certified upper bound of its $\ell_2$ Lipschitz constant.
A test example counts as certified robust at radius $\varepsilon$ when it is classified
correctly and its margin $f_y(x) - \max_{j \ne y} f_j(x) \ge \sqrt2\, L_{\mathrm{cert}}\,
\varepsilon$ — each difference $f_y - f_j$ is $\sqrt2 L$-Lipschitz, so no perturbation of
norm $\le \varepsilon$ changes the class.  The margin is a *certified* lower end: the
outputs are enclosed by :meth:`symlip.models.network.Network.interval_forward` and the threshold
$\sqrt2 L \varepsilon$ is rounded up (mpmath intervals).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run", "summary_text", "CONFIGS", "certified_margins"]

ARCHS = ("relu", "groupsort", "spline")
EPS = (0.0, 0.1, 0.25, 0.5)

CONFIGS: dict[str, dict[str, Any]] = {
    "full": {"widths": [64, 64, 64, 10], "knots": 21, "grid_range": 1.0, "epochs": 60,
             "batch_size": 64, "lr": 5e-3, "spline_lr": 5e-4, "margin": 0.7,
             "tv2_weight": 1e-5, "seed": 0},
    "quick": {"widths": [64, 32, 32, 10], "knots": 21, "grid_range": 1.0, "epochs": 12,
              "batch_size": 64, "lr": 5e-3, "spline_lr": 5e-4, "margin": 0.7,
              "tv2_weight": 1e-5, "seed": 0},
}


def certified_margins(net: Any, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""Per example, a certified lower bound of $f_y(x) - \max_{j\ne y} f_j(x)$
    (interval forward pass; rounded down to a double)."""
    import mpmath

    from symlip.arith.enclosure import Enclosure

    out = np.empty(len(X))
    for i, (x, c) in enumerate(zip(X, y, strict=True)):
        enc = net.interval_forward(x)
        lo_y = enc[int(c)].lower
        hi_other = max(e.upper for j, e in enumerate(enc) if j != int(c))
        d = mpmath.fsub(lo_y, hi_other, exact=True)
        out[i] = Enclosure(d, d).lower_float
    return out


def _threshold_up(L_upper: float, eps: float) -> float:
    """$\\sqrt2 L \\varepsilon$ rounded up to a double (``eps`` taken as the double)."""
    from mpmath import iv

    from symlip.arith.enclosure import Enclosure

    old = iv.prec
    iv.prec = 80
    try:
        t = iv.sqrt(iv.mpf(2)) * iv.mpf(L_upper) * iv.mpf(eps)
    finally:
        iv.prec = old
    return Enclosure.from_interval(t).upper_float


def run(out: Path, *, quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train the three classifiers, export and certify them, and compute the
    certified robust accuracy at each radius of :data:`EPS`.  Writes ``results.json``,
    ``table.md`` and ``models/<arch>.safetensors``.

    Returns ``{"robust_accuracy": {ARCH: {EPS: ACC}}, "certified_upper": {ARCH: L},
    "verdicts": {ARCH: VERDICT}, "clean_accuracy": {ARCH: ACC}}``."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from symlip.models.lipschitz_layers import certify_lipschitz_network
    from symlip.torch.export import export
    from symlip.torch.models import LipschitzMLP
    from symlip.torch.train import train_classifier

    cfg = CONFIGS["quick" if quick else "full"]
    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    xt, yt = torch.from_numpy(Xtr), torch.from_numpy(ytr).long()
    robust: dict[str, dict[str, float]] = {}
    uppers: dict[str, float] = {}
    verdicts: dict[str, str] = {}
    clean: dict[str, float] = {}
    t_all = time.perf_counter()
    for arch in ARCHS:
        torch.manual_seed(cfg["seed"])
        model = LipschitzMLP(cfg["widths"], arch, spline={
            "knots": cfg["knots"], "grid_range": cfg["grid_range"], "init": "relu",
            "constraint": "clip"}, dtype=torch.float64)
        train_classifier(model, xt, yt, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                         lr=cfg["lr"], spline_lr=cfg["spline_lr"], margin=cfg["margin"],
                         tv2_weight=cfg["tv2_weight"] if arch == "spline" else 0.0,
                         seed=cfg["seed"], progress=progress, desc=f"digits/{arch}")
        model.eval()
        net = export(model, out / "models" / f"{arch}.safetensors")
        res = certify_lipschitz_network(net, 1, Xte[:32])
        L = res.upper
        uppers[arch], verdicts[arch] = L, res.extra["verdict"]
        pred = net.forward(Xte).argmax(axis=1)
        clean[arch] = float((pred == yte).mean())
        m = certified_margins(net, Xte, yte)
        robust[arch] = {}
        for eps in EPS:
            thr = _threshold_up(L, eps)
            ok = (pred == yte) & (m >= thr) & ((m > 0) if eps == 0 else True)
            robust[arch][f"{eps:g}"] = float(ok.mean())
    summary = {"robust_accuracy": robust, "clean_accuracy": clean,
               "certified_upper": uppers, "verdicts": verdicts}
    full = {**summary, "config": {**cfg, "mode": "quick" if quick else "full"},
            "n_test": len(yte), "seconds": round(time.perf_counter() - t_all, 1)}
    (out / "results.json").write_text(json.dumps(full, indent=2) + "\n")
    (out / "table.md").write_text(summary_text(summary) + "\n")
    return summary


def summary_text(result: dict[str, Any]) -> str:
    """Certified robust accuracy per activation and radius, as Markdown."""
    eps = list(next(iter(result["robust_accuracy"].values())))
    lines = ["| activation | clean | " + " | ".join(f"eps={e}" for e in eps)
             + " | certified L | verdict |",
             "|---|---|" + "---|" * len(eps) + "---|---|"]
    for arch, row in result["robust_accuracy"].items():
        lines.append(f"| {arch} | {result['clean_accuracy'][arch]:.3f} | "
                     + " | ".join(f"{row[e]:.3f}" for e in eps)
                     + f" | {result['certified_upper'][arch]:.17g} | "
                     f"{result['verdicts'][arch]} |")
    lines.append("")
    lines.append("certified robust accuracy (l2 radius eps; margin >= sqrt(2) L eps, "
                 "margins from the interval forward pass)")
    return "\n".join(lines)
