r"""``symlip reproduce certified-gd``: gradient descent with the certified step
$1/L_{grad}$ (:class:`symlip.torch.CertifiedGD`) against a fixed learning rate and
Armijo backtracking, on the same task.

Task: a tanh MLP $64 \to 32 \to 10$ in float64, full-batch MSE $\frac12\|f - y\|^2$ on
one-hot targets, on the first 300 images of scikit-learn's digits (pixels in
$[0, 1]$); every method starts from the same initialisation and runs the same number
of steps.  Methods:

* ``fixed``: plain gradient descent with a fixed learning rate (0.1: the largest of
  0.1, 0.5, 1 that does not diverge on this task; it was tuned by hand, which is the
  point of comparison);
* ``armijo``: backtracking line search on the same gradient: start at twice the last
  accepted step (first: 1), halve until
  $L(\theta - t g) \le L(\theta) - 10^{-4} t \|g\|^2$ (each trial is a forward pass);
* ``certified``: :class:`~symlip.torch.CertifiedGD` (re-certified every 10 steps).

Written: ``certified_gd.json`` / ``.csv`` (loss per step and elapsed seconds for each
method) and ``certified_gd.png`` (loss against steps and against wall time).  The
summary says whether the training loss ever increased for each method
(``max_increase``); for CertifiedGD the descent lemma says it cannot.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["task", "train", "run", "summary_text", "plot_comparison", "METHODS"]

METHODS = ("fixed", "armijo", "certified")


def task(n: int = 300, width: int = 32, seed: int = 0) -> tuple[Any, Any, Any]:
    """``(model, X, Y)``: the float64 tanh MLP and the digits data of the comparison."""
    import torch
    from sklearn.datasets import load_digits
    from torch import nn

    X, y = load_digits(return_X_y=True)
    Xt = torch.tensor(X[:n] / 16.0, dtype=torch.float64)
    Yt = torch.eye(10, dtype=torch.float64)[torch.as_tensor(y[:n])]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, width), nn.Tanh(), nn.Linear(width, 10)).double()
    return model, Xt, Yt


def _mse(model: Any, X: Any, Y: Any) -> Any:
    return 0.5 * ((model(X) - Y) ** 2).sum(1).mean()


def train(method: str, steps: int, *, lr: float = 0.1, every: int = 10,
          progress: bool = False, n: int = 300, width: int = 32) -> dict[str, Any]:
    """Train the comparison task with one method; returns ``{"loss": [...],
    "seconds": [...], ...}`` (the loss before each step and once after the last; the
    elapsed wall time at the same moments)."""
    import torch

    from symlip.torch.optim import CertifiedGD

    if method not in METHODS:
        raise ValueError(f"method={method!r}; expected one of {METHODS}")
    torch.set_num_threads(1)
    model, X, Y = task(n, width)
    params = list(model.parameters())
    opt = CertifiedGD(model, X, Y, "mse", radius=0.05, every=every) \
        if method == "certified" else None
    t_armijo = 1.0
    losses, times, etas = [], [], []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=method, file=sys.stderr, leave=False,
                   dynamic_ncols=True)
    t0 = time.perf_counter()
    for _ in range(steps):
        for p in params:
            p.grad = None
        loss = _mse(model, X, Y)
        loss.backward()
        losses.append(float(loss.detach()))
        times.append(time.perf_counter() - t0)
        if method == "certified":
            opt.step()
            etas.append(opt.history[-1]["eta"])
        else:
            with torch.no_grad():
                if method == "fixed":
                    t = lr
                else:
                    gn2 = float(sum((p.grad ** 2).sum() for p in params))
                    old = [p.detach().clone() for p in params]
                    t = 2 * t_armijo
                    while True:
                        for p, o in zip(params, old, strict=True):
                            p.copy_(o - t * p.grad)
                        if float(_mse(model, X, Y)) <= float(loss.detach()) - 1e-4 * t * gn2 \
                                or t < 1e-12:
                            break
                        t *= 0.5
                    for p, o in zip(params, old, strict=True):
                        p.copy_(o)
                    t_armijo = t
                for p in params:
                    p.add_(p.grad, alpha=-t)
            etas.append(t)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    with torch.no_grad():
        losses.append(float(_mse(model, X, Y)))
    times.append(time.perf_counter() - t0)
    inc = float(np.max(np.diff(losses))) if len(losses) > 1 else 0.0
    out = {"method": method, "loss": losses, "seconds": times, "eta": etas,
           "final_loss": losses[-1], "max_increase": inc, "total_seconds": times[-1]}
    if opt is not None:
        out["certifications"] = int(sum(h["certified"] for h in opt.history))
        out["shortened"] = int(sum(h["shortened"] for h in opt.history))
        out["L_grad_last"] = opt.history[-1]["L_grad"]
    return out


def plot_comparison(runs: dict[str, dict[str, Any]], path: str | Path) -> Path:
    """One figure: training loss against steps and against wall time, every method."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, r in runs.items():
        label = {"fixed": "fixed lr", "armijo": "Armijo backtracking",
                 "certified": "CertifiedGD (1/L_grad)"}[name]
        ax[0].plot(range(len(r["loss"])), r["loss"], label=label)
        ax[1].plot(r["seconds"], r["loss"], label=label)
    ax[0].set_xlabel("step")
    ax[1].set_xlabel("wall time [s]")
    for a in ax:
        a.set_yscale("log")
        a.set_ylabel("training loss (MSE/2)")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle("digits (300 images), tanh MLP 64-32-10, full batch, float64")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def run(out: Path, *, quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run the three methods (``quick``: 150 steps, else 1000; the environment variable
    ``SYMLIP_CGD_TINY=1`` selects 15 steps on 60 images, for tests), write the files to
    ``out`` and return the summary."""
    from symlip.app.double_descent import require_train_extra

    require_train_extra()
    tiny = os.environ.get("SYMLIP_CGD_TINY") == "1"
    steps = 15 if tiny else (150 if quick else 1000)
    n = 60 if tiny else 300
    runs = {m: train(m, steps, progress=progress, n=n) for m in METHODS}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "certified_gd.json").write_text(json.dumps(runs, indent=1) + "\n")
    import csv

    with open(out / "certified_gd.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method", "step", "loss", "seconds"])
        for m, r in runs.items():
            for i, (loss, s) in enumerate(zip(r["loss"], r["seconds"], strict=True)):
                w.writerow([m, i, repr(loss), repr(s)])
    plot_comparison(runs, out / "certified_gd.png")
    keys = ("final_loss", "max_increase", "total_seconds", "certifications", "shortened",
            "L_grad_last")
    return {"steps": steps, "n_train": n,
            "methods": {m: {k: r[k] for k in keys if k in r} for m, r in runs.items()}}


def summary_text(result: dict[str, Any]) -> str:
    """The comparison table printed by ``symlip reproduce certified-gd``."""
    lines = [f"{result['steps']} full-batch steps, {result['n_train']} digits, tanh 64-32-10",
             "method     final loss   max increase  seconds  certifications",
             "---------  -----------  ------------  -------  --------------"]
    for m, r in result["methods"].items():
        lines.append(f"{m:9s}  {r['final_loss']:11.6g}  {r['max_increase']:12.3g}  "
                     f"{r['total_seconds']:7.2f}  {r.get('certifications', '-')!s:>14}")
    c = result["methods"]["certified"]
    lines.append("CertifiedGD never increased the training loss" if c["max_increase"] <= 0
                 else "CertifiedGD INCREASED the training loss (a bug: please report)")
    return "\n".join(lines)
