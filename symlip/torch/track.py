r"""Lipschitz bounds through training: a recorder for a PyTorch training loop.

At chosen steps the recorder converts the model (an ``nn.Sequential`` of ``Linear`` and
supported activation modules) to a symlip :class:`~symlip.models.network.Network` and records

* ``upper`` — the **certified** global upper bound on the input-Lipschitz constant
  ($\ell_2$), the product of per-layer factors
  (:func:`symlip.bounds.input.input_lipschitz`), rounded up;
* ``local_upper`` — the **certified** local upper bound on the balls
  $B(x_i, \varepsilon)$ around the few data points of largest Jacobian norm (the largest
  over those balls;
  :func:`symlip.bounds.input.local_input_lipschitz`), rounded up; optional;
* ``lower_data`` — the data lower bound of Khromov & Singh, $\max_i \|J_f(x_i)\|_2$ over
  the recorded data (float64 SVDs: an **estimate**, not certified);
* ``lower`` — its **certified** version: the lower end of an outward-rounded enclosure
  of the difference quotient $\|f(x) - f(x')\|/\|x - x'\|$ at the maximising point along
  its top singular direction (:func:`symlip.bounds.input.certify_input_lower`), rounded
  down;
* ``train_loss`` / ``test_loss`` — float losses of the model (PyTorch, not certified);
* ``fidelity = lower_data / upper`` (how much of the certified range the data attains).

Every certified number satisfies ``lower <= true Lipschitz constant <= upper`` for the
weights as recorded (the float32/float64 values of the parameters at that step).
The table is written as CSV and JSON and plotted with matplotlib (Agg).

Example::

    rec = symlip.track(train=(X, y), test=(Xt, yt), loss="mse", every=50)
    for step in range(1000):
        ...  # one optimiser step
        rec.maybe_record(step, model)
    rec.save("run/")          # track.csv, track.json, track.png
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from symlip.errors import InputError

__all__ = ["Recorder", "track", "COLUMNS", "plot_track", "torch_loss"]

#: the columns of the table, in order (``None`` where a quantity was not asked for)
COLUMNS = ("step", "train_loss", "test_loss", "upper", "local_upper", "lower_data",
           "lower", "fidelity", "seconds")


def torch_loss(loss: str | Callable[..., Any]) -> Callable[..., Any]:
    r"""The loss as a function ``(output, target) -> scalar tensor`` (mean over rows).

    ``"mse"``: $\frac12\|f(x) - y\|_2^2$ averaged over the rows (symlip's MSE, the loss of
    :func:`symlip.grad_lipschitz`); ``"cross-entropy"``: softmax cross-entropy with class
    indices; a callable is returned unchanged.
    """
    if callable(loss):
        return loss
    import torch.nn.functional as F

    if loss == "mse":
        def mse(out: Any, y: Any) -> Any:
            return 0.5 * ((out - y.to(out.dtype)) ** 2).sum(dim=1).mean()
        return mse
    if loss in ("cross-entropy", "ce", "cross_entropy"):
        def ce(out: Any, y: Any) -> Any:
            return F.cross_entropy(out, y.long())
        return ce
    raise InputError(f"loss={loss!r}; expected 'mse', 'cross-entropy' or a callable")


def _as_pair(data: Any, what: str) -> tuple[Any, Any] | None:
    if data is None:
        return None
    try:
        x, y = data
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a pair (inputs, targets), got "
                         f"{type(data).__name__}") from None
    import torch

    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if x.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise InputError(f"{what}: inputs of shape {tuple(x.shape)} and targets of shape "
                         f"{tuple(y.shape)}; expected (n, d) inputs and n >= 1 targets")
    return x, y


class Recorder:
    r"""Records certified Lipschitz bounds and losses of a model at chosen training steps.

    Args:
        train: ``(X, y)`` training inputs and targets (tensors or arrays); the train loss
            is computed on them and the data lower bound uses their inputs.
        test: optional ``(X, y)`` for the test loss.
        loss: ``"mse"`` ($\frac12\|f-y\|^2$, targets ``(n, outputs)``),
            ``"cross-entropy"`` (class indices) or a callable ``(output, target)``.
        every: record when ``step % every == 0`` (:meth:`maybe_record`).
        steps: an explicit set of steps to record instead of ``every``.
        local_radius: $\varepsilon$ of the local bound (``None``: not computed).
        n_balls: number of data points whose balls get a local bound: those with the
            largest $\|J_f(x_i)\|_2$ (so ``local_upper >= lower_data`` up to float error).
        lower_points: at most this many training rows for the data lower bound (the
            first ones); ``None`` for all.

    Attributes:
        rows: the recorded rows, dictionaries with keys :data:`COLUMNS`.
    """

    def __init__(self, train: Any, test: Any = None, *, loss: str | Callable[..., Any] = "mse",
                 every: int = 1, steps: Iterable[int] | None = None,
                 local_radius: float | None = None, n_balls: int = 3,
                 lower_points: int | None = 512) -> None:
        pair = _as_pair(train, "train")
        if pair is None:
            raise InputError("train data is required: pass train=(X, y)")
        self.train = pair
        self.test = _as_pair(test, "test")
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "loss")
        self.loss = torch_loss(loss)
        if not isinstance(every, int) or every < 1:
            raise InputError(f"every={every!r} must be an integer >= 1")
        self.every = every
        self.steps = None if steps is None else {int(s) for s in steps}
        if local_radius is not None and not (math.isfinite(local_radius) and local_radius >= 0):
            raise InputError(f"local_radius={local_radius!r} must be finite and >= 0")
        self.local_radius = local_radius
        if n_balls < 1:
            raise InputError(f"n_balls={n_balls!r} must be >= 1")
        self.n_balls = int(n_balls)
        self.lower_points = lower_points
        self.rows: list[dict[str, Any]] = []

    # -- recording ----------------------------------------------------------------
    def due(self, step: int) -> bool:
        """Whether :meth:`maybe_record` records at ``step``."""
        return step in self.steps if self.steps is not None else step % self.every == 0

    def maybe_record(self, step: int, model: Any) -> dict[str, Any] | None:
        """:meth:`record` if ``step`` is due (see ``every`` / ``steps``), else ``None``."""
        return self.record(step, model) if self.due(step) else None

    def _loss_of(self, model: Any, pair: tuple[Any, Any] | None) -> float | None:
        if pair is None:
            return None
        import torch

        x, y = pair
        p = next(model.parameters())
        with torch.no_grad():
            out = model(x.to(device=p.device, dtype=p.dtype))
            return float(self.loss(out, y.to(p.device)))

    def record(self, step: int, model: Any) -> dict[str, Any]:
        """Record the bounds and losses of ``model`` at ``step`` and return the row.

        Certified columns: ``upper`` and ``local_upper`` are rounded up, ``lower`` is
        rounded down; ``lower_data``, the losses and ``fidelity`` are float64 values.
        """
        from symlip.bounds.input import (
            certify_input_lower,
            input_lipschitz,
            jacobian_norms,
            local_over_data,
        )
        from symlip.torch._convert import to_network

        t0 = time.perf_counter()
        net = to_network(model)
        X = self.train[0].detach().to("cpu").double().numpy()
        if self.lower_points is not None:
            X = X[: self.lower_points]
        res = input_lipschitz(net, X, lower=False)
        upper = res.upper
        norms, vs = jacobian_norms(net, X)
        i = int(np.argmax(norms))
        lower_data = float(norms[i])
        enc, _ = certify_input_lower(net, X[i], vs[i])
        lower = max(enc.lower_float, 0.0)
        local_upper = None
        if self.local_radius is not None:
            top = np.argsort(norms)[::-1][: self.n_balls]
            local_upper = local_over_data(net, X[top], self.local_radius).upper_float
        row = {
            "step": int(step),
            "train_loss": self._loss_of(model, self.train),
            "test_loss": self._loss_of(model, self.test),
            "upper": upper,
            "local_upper": local_upper,
            "lower_data": lower_data,
            "lower": lower,
            "fidelity": lower_data / upper if upper > 0 else None,
            "seconds": time.perf_counter() - t0,
        }
        self.rows.append(row)
        return row

    # -- output ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The table as JSON-ready data: ``{"columns": [...], "rows": [...], ...}``."""
        return {"columns": list(COLUMNS), "loss": self.loss_name,
                "local_radius": self.local_radius, "rows": [dict(r) for r in self.rows],
                "certified": {"upper": "rounded up", "local_upper": "rounded up",
                              "lower": "rounded down"},
                "estimates": ["train_loss", "test_loss", "lower_data", "fidelity"]}

    def save(self, out: str | Path, *, name: str = "track", plot: bool = True) -> list[Path]:
        """Write ``name.csv``, ``name.json`` and (``plot``) ``name.png`` to the folder
        ``out`` (created if needed); returns the paths written.  Floats are written with
        ``repr`` (17 significant digits), so certified ends keep their rounding."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"{name}.csv", out / f"{name}.json"]
        with open(paths[0], "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for r in self.rows:
                w.writerow(["" if r[c] is None else repr(r[c]) for c in COLUMNS])
        paths[1].write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        if plot:
            paths.append(plot_track(self.rows, out / f"{name}.png"))
        return paths


def plot_track(rows: list[dict[str, Any]], path: str | Path, title: str | None = None
               ) -> Path:
    """Plot a recorded table: the bounds (log scale), the losses and the fidelity
    ``lower_data / upper`` against the step; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]

    def col(c: str) -> list[float]:
        return [math.nan if r[c] is None else r[c] for r in rows]

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].plot(steps, col("upper"), "o-", label="certified upper (global)")
    if any(r["local_upper"] is not None for r in rows):
        ax[0].plot(steps, col("local_upper"), "s-", label="certified upper (local balls)")
    ax[0].plot(steps, col("lower_data"), "^-", label="data lower max ||J(x_i)|| (float)")
    ax[0].plot(steps, col("lower"), "v--", label="certified lower")
    ax[0].set_yscale("log")
    ax[0].set_title("input-Lipschitz bounds")
    ax[1].plot(steps, col("train_loss"), "o-", label="train")
    if any(r["test_loss"] is not None for r in rows):
        ax[1].plot(steps, col("test_loss"), "s-", label="test")
    ax[1].set_yscale("log")
    ax[1].set_title("loss")
    ax[2].plot(steps, col("fidelity"), "o-")
    ax[2].set_title("fidelity = lower / upper")
    ax[2].set_ylim(0, 1.05)
    for a in ax:
        a.set_xlabel("step")
        a.grid(alpha=0.3)
    ax[0].legend(fontsize=7)
    ax[1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def track(train: Any, test: Any = None, **options: Any) -> Recorder:
    """A :class:`Recorder` for a training loop (see the module docstring):
    ``symlip.track(train=(X, y), test=(Xt, yt), loss="mse", every=50)``."""
    return Recorder(train, test, **options)
