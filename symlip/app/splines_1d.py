r"""``symlip reproduce splines-1d``: 1-Lipschitz networks with ReLU, GroupSort and
learnable linear-spline activations fitting 1-D functions (Ducotterd et al., JMLR 2024,
section "1-D function fitting"), each trained network exported certified-normalised
and certified 1-Lipschitz.

Targets on $[-1, 1]$ (our implementations of the paper's functions):

* ``slope1`` — a random continuous piecewise-linear function with slopes $\pm1$ that
  changes slope at 9 uniform random knots (mean zero);
* ``threshold`` — $x + 2\tau$ for $x \le -\tau$, $-x$ on $[-\tau, \tau]$, $x - 2\tau$
  beyond ($\tau = 1/20$): an $|x|$-type kink pair of slope $\pm1$;
* ``cosine`` — $\cos(7\pi x)/(7\pi)$ (smooth, slopes up to 1).

Architecture (all three activations): widths ``1-10-10-10-1``, Björck-orthonormalised
linear layers (15 iterations, gradients through them); splines with 101 coefficients on
$[-0.5, 0.5]$, ReLU initialisation, the paper's clip map during training.  Each trained
network is exported (:func:`symlip.torch.export.export`), certified with
:func:`symlip.bounds.input.certify_lipschitz_network` against the target 1, and the
test MSE is that of the **exported (certified) network**.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run", "summary_text", "TARGETS", "ARCHS", "CONFIGS", "make_target"]

ARCHS = ("relu", "groupsort", "spline")
TARGETS = ("slope1", "threshold", "cosine")
#: targets built from slopes +-1 with kinks (the claim "splines fit best" is about these)
KINK_TARGETS = ("slope1", "threshold")

CONFIGS: dict[str, dict[str, Any]] = {
    # the paper: batch 10, 1000 epochs, 25 models; here one model per cell, fewer steps
    "full": {"widths": [1, 10, 10, 10, 1], "knots": 101, "grid_range": 0.5,
             "n_train": 1000, "n_test": 10000, "epochs": 100, "batch_size": 50,
             "lr": 2e-3, "spline_lr": 2e-4, "tv2_weight": 1e-7, "seed": 0},
    "quick": {"widths": [1, 10, 10, 10, 1], "knots": 101, "grid_range": 0.5,
              "n_train": 1000, "n_test": 2001, "epochs": 25, "batch_size": 100,
              "lr": 1e-2, "spline_lr": 1e-3, "tv2_weight": 1e-7, "seed": 0},
}


def make_target(name: str, seed: int = 0) -> Any:
    """The target function ``f(x)`` (NumPy, vectorised) of a name in :data:`TARGETS`."""
    if name == "slope1":
        rng = np.random.default_rng(seed)
        knots = np.sort(rng.uniform(-1.0, 1.0, 9))

        def raw(x: np.ndarray) -> np.ndarray:
            v = np.maximum(x + 1.0, 0.0)
            for i, k in enumerate(knots):
                v = v + 2.0 * (-1.0) ** (i + 1) * np.maximum(x - k, 0.0)
            return v

        mean = float(raw(np.linspace(-1.0, 1.0, 200001)).mean())
        return lambda x: raw(x) - mean
    if name == "threshold":
        tau = 0.05
        return lambda x: np.where(x <= -tau, x + 2 * tau, np.where(x <= tau, -x, x - 2 * tau))
    if name == "cosine":
        return lambda x: np.cos(7 * np.pi * x) / (7 * np.pi)
    raise ValueError(f"unknown target {name!r}; expected one of {TARGETS}")


def _train_one(arch: str, x: Any, y: Any, cfg: dict[str, Any], progress: bool,
               desc: str) -> Any:
    import torch

    from symlip.torch.models import LipschitzMLP
    from symlip.torch.train import train_regression

    torch.manual_seed(cfg["seed"])
    model = LipschitzMLP(cfg["widths"], arch, spline={
        "knots": cfg["knots"], "grid_range": cfg["grid_range"], "init": "relu",
        "constraint": "clip"}, dtype=torch.float64)
    train_regression(model, x, y, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                     lr=cfg["lr"], spline_lr=cfg["spline_lr"],
                     tv2_weight=cfg["tv2_weight"] if arch == "spline" else 0.0,
                     seed=cfg["seed"], progress=progress, desc=desc)
    model.eval()
    return model


def run(out: Path, *, quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train, export, certify and plot; write ``results.json``, ``table.md``,
    ``fits.png`` and ``models/<arch>-<target>.safetensors`` to ``out``.

    Returns ``{"targets": {NAME: {"relu": MSE, "groupsort": MSE, "spline": MSE}},
    "verdicts": {"ARCH/NAME": VERDICT}}`` (MSE of the exported, certified networks on
    the test grid; verdicts against the Lipschitz target 1)."""
    import torch

    from symlip.bounds.input import certify_lipschitz_network
    from symlip.torch.export import export

    cfg = CONFIGS["quick" if quick else "full"]
    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg["seed"] + 1)
    x_tr = rng.uniform(-1.0, 1.0, (cfg["n_train"], 1))
    x_te = np.linspace(-1.0, 1.0, cfg["n_test"])[:, None]
    targets: dict[str, dict[str, float]] = {}
    verdicts: dict[str, str] = {}
    details: dict[str, Any] = {}
    fits: dict[str, dict[str, np.ndarray]] = {}
    t_all = time.perf_counter()
    for name in TARGETS:
        f = make_target(name, cfg["seed"])
        xt, yt = torch.from_numpy(x_tr), torch.from_numpy(f(x_tr))
        y_te = f(x_te)
        targets[name], fits[name] = {}, {"target": y_te[:, 0]}
        for arch in ARCHS:
            t0 = time.perf_counter()
            model = _train_one(arch, xt, yt, cfg, progress, f"{arch}/{name}")
            t_train = time.perf_counter() - t0
            with torch.no_grad():
                torch_mse = float(((model(torch.from_numpy(x_te)).numpy() - y_te) ** 2).mean())
            net = export(model, out / "models" / f"{arch}-{name}.safetensors")
            pred = net.forward(x_te)
            mse = float(((pred - y_te) ** 2).mean())
            res = certify_lipschitz_network(net, 1, x_te[::max(1, len(x_te) // 200)])
            key = f"{arch}/{name}"
            targets[name][arch] = mse
            verdicts[key] = res.extra["verdict"]
            fits[name][arch] = pred[:, 0]
            details[key] = {"mse": mse, "mse_torch": torch_mse, "verdict": verdicts[key],
                            "certified_upper": res.upper, "certified_lower": res.lower,
                            "train_seconds": round(t_train, 2)}
    summary = {"targets": targets, "verdicts": verdicts}
    _plot(out / "fits.png", x_te[:, 0], fits, targets)
    full = {**summary, "config": {**cfg, "mode": "quick" if quick else "full"},
            "details": details, "seconds": round(time.perf_counter() - t_all, 1)}
    (out / "results.json").write_text(json.dumps(full, indent=2) + "\n")
    (out / "table.md").write_text(summary_text(summary) + "\n")
    return summary


def _plot(path: Path, x: np.ndarray, fits: dict[str, dict[str, np.ndarray]],
          targets: dict[str, dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(fits), figsize=(5 * len(fits), 3.6), squeeze=False)
    for ax, (name, curves) in zip(axes[0], fits.items(), strict=False):
        ax.plot(x, curves["target"], "k-", lw=2.5, alpha=0.35, label="target")
        for arch, style in zip(ARCHS, ("C0--", "C1-.", "C3-"), strict=False):
            ax.plot(x, curves[arch], style, lw=1.2,
                    label=f"{arch} (MSE {targets[name][arch]:.1e})")
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("certified 1-Lipschitz networks 1-10-10-10-1")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary_text(result: dict[str, Any]) -> str:
    """The MSE table (best per row marked) and the verdicts, as Markdown."""
    lines = ["| target | " + " | ".join(ARCHS) + " |", "|---|" + "---|" * len(ARCHS)]
    for name, row in result["targets"].items():
        best = min(row, key=row.get)
        cells = [f"**{row[a]:.3e}**" if a == best else f"{row[a]:.3e}" for a in ARCHS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("test MSE of the exported networks; verdicts (Lipschitz target 1):")
    for key, v in result["verdicts"].items():
        lines.append(f"  {key}: {v}")
    return "\n".join(lines)
