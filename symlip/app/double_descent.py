r"""``symlip reproduce double-descent``: Khromov & Singh's double descent of the Lipschitz
bounds in model width, with certified bounds.

One-hidden-layer ReLU MLPs $64 \to w \to 10$ are trained full-batch (Adam, MSE
$\frac12\|f - y\|^2$ on one-hot targets) on a small subset of scikit-learn's digits
(pixels scaled to $[0, 1]$) whose training labels are partly replaced by a random other
class (label noise), long enough to interpolate the training set once $w$ is past the
interpolation threshold (#parameters $75w + 10 \approx$ #train samples $\times$ 10
classes).  For each width and seed the final network gets

* ``upper``: the **certified** global input-Lipschitz upper bound (product of certified
  spectral norms; ReLU is 1-Lipschitz), rounded up;
* ``lower``: the data lower bound $\max_i\|J_f(x_i)\|_2$ over the training inputs
  (float64, an estimate), and ``lower_certified``, the certified difference quotient at
  the maximiser (rounded down);
* the train and test MSE and the test accuracy.

Values are averaged over the seeds.  The sweep is one task per (width, seed) submitted
to a :class:`concurrent.futures.Executor` — a local process pool by default; any
executor with ``submit`` works unchanged, e.g. a ``dask.distributed`` ``Client`` (its
``Client.submit`` returns futures with ``.result()``), so users with a cluster pass
``executor=Client(...)``.  :func:`train_width` is a top-level, picklable function.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Config", "QUICK", "FULL", "TINY", "train_width", "sweep", "run", "summary_text",
           "peak_index", "plot_sweep"]


@dataclass(frozen=True)
class Config:
    """One sweep: data subset, label noise, widths, seeds and training length."""

    widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256)
    seeds: tuple[int, ...] = (0, 1)
    n_train: int = 200
    noise: float = 0.2
    steps: int = 4000
    lr: float = 1e-3
    activation: str = "relu"
    extra: dict[str, Any] = field(default_factory=dict)


#: the configuration of ``--quick`` (CI runs it)
QUICK = Config()
#: the default configuration: a denser width grid and three seeds
FULL = Config(widths=(2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256),
              seeds=(0, 1, 2))
#: a tiny configuration for unit tests (not a reproduction)
TINY = Config(widths=(2, 8, 32), seeds=(0,), n_train=60, steps=150, lr=1e-2)


def _data(n_train: int, noise: float, seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(X))
    tr, te = perm[:n_train], perm[n_train:]
    ytr = y[tr].copy()
    flip = rng.random(n_train) < noise
    ytr[flip] = (ytr[flip] + rng.integers(1, 10, int(flip.sum()))) % 10  # another class
    return X[tr], ytr, X[te], y[te]


def train_width(cfg: Config, width: int, seed: int, progress: bool = False,
                record_every: int | None = None) -> dict[str, Any]:
    """Train one width with one seed and certify the final network (a sweep task:
    top-level and picklable, so any executor can run it).  With ``record_every``, a
    :class:`symlip.torch.track.Recorder` follows the training (every ``record_every``
    steps and at the end; local balls of radius 0.01) and is returned under
    ``"recorder"`` (not picklable: for in-process calls).

    Returns:
        ``{"width", "seed", "params", "train_loss", "test_loss", "test_acc", "upper",
        "lower", "lower_certified", "seconds"}`` (``upper`` certified, rounded up;
        ``lower_certified`` certified, rounded down; the rest floats).
    """
    import torch
    from torch import nn

    from symlip.bounds.input import certify_input_lower, input_lipschitz, jacobian_norms
    from symlip.torch._convert import to_network

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    Xtr, ytr, Xte, yte = _data(cfg.n_train, cfg.noise, seed)
    xt = torch.tensor(Xtr, dtype=torch.float32)
    xs = torch.tensor(Xte, dtype=torch.float32)
    Yt = torch.eye(10)[torch.as_tensor(ytr)]
    Ys = torch.eye(10)[torch.as_tensor(yte)]
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[cfg.activation]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, width), act(), nn.Linear(width, 10))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    bar = _bar(cfg.steps, f"width {width} seed {seed}", progress, leave=False)
    rec = None
    if record_every:
        from symlip.torch.track import Recorder

        rec = Recorder((xt, Yt), (xs, Ys), loss="mse", every=record_every,
                       local_radius=0.01, n_balls=2)
    for step in range(cfg.steps):
        if rec is not None:
            rec.maybe_record(step, model)
        opt.zero_grad()
        loss = 0.5 * ((model(xt) - Yt) ** 2).sum(1).mean()
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    if rec is not None:
        rec.record(cfg.steps, model)
    with torch.no_grad():
        train_loss = float(0.5 * ((model(xt) - Yt) ** 2).sum(1).mean())
        out = model(xs)
        test_loss = float(0.5 * ((out - Ys) ** 2).sum(1).mean())
        test_acc = float((out.argmax(1) == Ys.argmax(1)).float().mean())
    net = to_network(model)
    upper = input_lipschitz(net, lower=False).upper
    norms, vs = jacobian_norms(net, Xtr)
    i = int(np.argmax(norms))
    lower_cert = max(certify_input_lower(net, Xtr[i], vs[i])[0].lower_float, 0.0)
    extra = {} if rec is None else {"recorder": rec}
    return {**extra, "width": width, "seed": seed, "params": int(75 * width + 10),
            "train_loss": train_loss, "test_loss": test_loss, "test_acc": test_acc,
            "upper": upper, "lower": float(norms[i]), "lower_certified": lower_cert,
            "seconds": time.perf_counter() - t0}


def _bar(total: int, desc: str, progress: bool, leave: bool = True) -> Any:
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the torch extra
        return None
    return tqdm(total=total, desc=desc, leave=leave, file=sys.stderr, dynamic_ncols=True)


def sweep(cfg: Config = QUICK, *, executor: cf.Executor | Any | None = None,
          progress: bool = False, max_workers: int | None = None) -> dict[str, Any]:
    """Run the width sweep: one :func:`train_width` task per (width, seed), submitted to
    ``executor`` (``None``: a local :class:`~concurrent.futures.ProcessPoolExecutor`
    with ``max_workers`` processes, default the number of CPUs, at most the number of
    tasks).  Any object with ``submit(fn, *args)`` returning futures with ``.result()``
    works: a :class:`~concurrent.futures.ThreadPoolExecutor`, or a
    ``dask.distributed.Client`` unchanged.  Returns the per-run rows and the
    seed-averaged curves (``widths``, ``test_loss``, ``upper``, ``lower``, ...).
    A training progress bar per task is shown only when the tasks run one at a time
    (``max_workers=1``), the sweep bar always when ``progress``."""
    tasks = [(w, s) for w in cfg.widths for s in cfg.seeds]
    own = executor is None
    if own:
        n = max_workers or os.cpu_count() or 1
        # spawn, not fork: a forked child of a process that already ran PyTorch's
        # OpenMP thread pool can hang
        executor = cf.ProcessPoolExecutor(max_workers=max(1, min(n, len(tasks))),
                                          mp_context=mp.get_context("spawn"))
    train_bars = progress and max_workers == 1
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    bar = _bar(len(tasks), "double-descent sweep", progress)
    try:
        futures = [executor.submit(train_width, cfg, w, s, train_bars) for w, s in tasks]
        for f in futures:  # in submission order: deterministic tables
            rows.append(f.result())
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
        if own:
            executor.shutdown()
    return _aggregate(cfg, rows, time.perf_counter() - t0)


def _aggregate(cfg: Config, rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    keys = ("train_loss", "test_loss", "test_acc", "upper", "lower", "lower_certified")
    curves: dict[str, list[float]] = {k: [] for k in keys}
    for w in cfg.widths:
        sel = [r for r in rows if r["width"] == w]
        for k in keys:
            curves[k].append(float(np.mean([r[k] for r in sel])))
    peaks = {k: cfg.widths[peak_index(curves[k])] for k in ("test_loss", "upper", "lower")}
    it, iu = peak_index(curves["test_loss"]), peak_index(curves["upper"])
    n = len(cfg.widths)
    interior = 0 < it < n - 1 and 0 < iu < n - 1
    aligned = abs(it - iu) <= 1
    return {
        "widths": list(cfg.widths),
        "params": [75 * w + 10 for w in cfg.widths],
        **curves,
        "peaks": peaks,
        "target_met": bool(interior and aligned
                           and curves["test_loss"][-1] < curves["test_loss"][it]
                           and curves["upper"][-1] < curves["upper"][iu]),
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
        "runs": rows,
        "seconds": seconds,
        "note": "upper: certified (rounded up, mean over seeds of the certified per-run "
                "bounds); lower: max_i ||J(x_i)||_2 over the training inputs (float); "
                "lower_certified: certified difference quotient (rounded down); means "
                "over seeds are float averages.",
    }


def peak_index(values: list[float]) -> int:
    """Index of the largest value (the first one on ties)."""
    return int(np.argmax(values))


def plot_sweep(result: dict[str, Any], path: str | Path) -> Path:
    """Test loss and the upper / lower Lipschitz bounds against width (log x axis)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    w = result["widths"]
    thr = result["config"]["n_train"] * 10 / 75  # 75 w + 10 = n * classes
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].plot(w, result["test_loss"], "o-", label="test MSE")
    ax[0].set_title("test loss (train loss: dashed, right axis, log)")
    tw = ax[0].twinx()
    tw.plot(w, result["train_loss"], "s--", color="C1", label="train MSE")
    tw.set_yscale("log")
    ax[1].plot(w, result["upper"], "o-", color="C3", label="certified upper (product)")
    ax[1].set_title("certified upper bound")
    ax[2].plot(w, result["lower"], "^-", color="C2", label="data lower max ||J(x_i)||")
    ax[2].plot(w, result["lower_certified"], "v--", color="C4", label="certified lower")
    ax[2].set_title("lower bound")
    for a in ax:
        a.set_xscale("log", base=2)
        a.axvline(thr, color="grey", ls=":", lw=1)
        a.set_xlabel("hidden width w")
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    fig.suptitle(f"digits, {result['config']['n_train']} samples, "
                 f"{result['config']['noise']:.0%} label noise (dotted: 75w+10 = 10 n)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _write(result: dict[str, Any], out: Path) -> None:
    import csv

    out.mkdir(parents=True, exist_ok=True)
    (out / "double_descent.json").write_text(json.dumps(result, indent=2) + "\n")
    cols = ["width", "params", "train_loss", "test_loss", "test_acc", "upper", "lower",
            "lower_certified"]
    with open(out / "double_descent.csv", "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(cols)
        for i, w in enumerate(result["widths"]):
            wr.writerow([w, result["params"][i]] + [repr(result[c][i]) for c in cols[2:]])
    with open(out / "runs.csv", "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(result["runs"][0]))
        wr.writeheader()
        wr.writerows(result["runs"])
    plot_sweep(result, out / "double_descent.png")


def require_train_extra() -> None:
    """Raise :class:`~symlip.errors.InputError` (one line in the CLI) when PyTorch or
    scikit-learn is missing."""
    import importlib.util

    from symlip.errors import InputError

    missing = [m for m in ("torch", "sklearn") if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"this reproduction needs {' and '.join(missing)}; install the "
                         "'train' extra: pip install 'symlip[train]'")


def run(out: Path, *, quick: bool = False, progress: bool = True,
        executor: Any = None, config: Config | None = None) -> dict[str, Any]:
    """The reproduction: sweep, write ``double_descent.{json,csv,png}`` and ``runs.csv``
    to ``out``, then train the width of the test-loss peak again (first seed) with a
    :class:`~symlip.torch.track.Recorder` (``track_w{width}.{csv,json,png}``: the
    bounds and losses through training); return the summary (``widths``, ``test_loss``, ``upper``, ``lower`` per
    width and the peaks).  ``config`` overrides the quick/full configuration (the
    environment variable ``SYMLIP_DD_TINY=1`` selects :data:`TINY`, for tests)."""
    require_train_extra()
    if config is None:
        config = TINY if os.environ.get("SYMLIP_DD_TINY") == "1" else (
            QUICK if quick else FULL)
    result = sweep(config, executor=executor, progress=progress)
    _write(result, Path(out))
    # the training of the test-loss peak width, followed by the recorder
    peak = result["peaks"]["test_loss"]
    tracked = train_width(config, peak, config.seeds[0], progress,
                          record_every=max(1, config.steps // 8))
    tracked["recorder"].save(Path(out), name=f"track_w{peak}")
    return {"widths": result["widths"], "test_loss": result["test_loss"],
            "upper": result["upper"], "lower": result["lower"],
            "lower_certified": result["lower_certified"],
            "train_loss": result["train_loss"], "test_acc": result["test_acc"],
            "peaks": result["peaks"], "target_met": result["target_met"],
            "seconds": result["seconds"]}


def summary_text(result: dict[str, Any]) -> str:
    """The width table printed by ``symlip reproduce double-descent``."""
    lines = ["width  train MSE  test MSE  test acc  certified upper  data lower (float)  "
             "certified lower",
             "-----  ---------  --------  --------  ---------------  ------------------  "
             "---------------"]
    for i, w in enumerate(result["widths"]):
        lines.append(f"{w:5d}  {result['train_loss'][i]:9.4f}  {result['test_loss'][i]:8.4f}"
                     f"  {result['test_acc'][i]:8.3f}  {result['upper'][i]:15.6g}  "
                     f"{result['lower'][i]:18.6g}  {result['lower_certified'][i]:15.6g}")
    p = result["peaks"]
    lines.append(f"peaks: test loss at w={p['test_loss']}, certified upper at w={p['upper']}, "
                 f"data lower at w={p['lower']}; target (interior peaks within one width "
                 f"step, decreasing after): {'met' if result['target_met'] else 'NOT met'}")
    return "\n".join(lines)

