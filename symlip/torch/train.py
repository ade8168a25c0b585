"""Small training loops for 1-Lipschitz networks (Adam, mini-batches, TV2 regulariser,
tqdm progress on stderr).  Floating point; nothing here is certified."""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn

__all__ = ["train_regression", "train_classifier", "progress_bar"]


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar on stderr (a no-op object when disabled)."""
    if enabled:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, file=sys.stderr, leave=False)

    class _Null:
        def update(self, n: int = 1) -> None:
            pass

        def set_postfix_str(self, s: str) -> None:
            pass

        def close(self) -> None:
            pass

    return _Null()


def _optimiser(model: nn.Module, lr: float, spline_lr: float | None) -> torch.optim.Optimizer:
    spl = [p for n, p in model.named_parameters() if n.endswith("coefficients")]
    rest = [p for n, p in model.named_parameters() if not n.endswith("coefficients")]
    groups = [{"params": rest, "lr": lr}]
    if spl:
        groups.append({"params": spl, "lr": spline_lr if spline_lr is not None else lr})
    return torch.optim.Adam(groups)


def _loop(model: nn.Module, X: torch.Tensor, loss_fn: Any, *, epochs: int,
          batch_size: int, lr: float, spline_lr: float | None, tv2_weight: float,
          seed: int, progress: bool, desc: str, milestones: tuple[float, ...]) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    opt = _optimiser(model, lr, spline_lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(
        opt, [int(m * epochs) for m in milestones], gamma=0.1)
    n = X.shape[0]
    bar = progress_bar(epochs, desc, progress)
    history = []
    try:
        for _ in range(epochs):
            perm = torch.randperm(n, generator=g)
            tot = 0.0
            for i in range(0, n, batch_size):
                idx = perm[i:i + batch_size]
                opt.zero_grad()
                loss = loss_fn(idx)
                reg = loss + tv2_weight * model.tv2() if tv2_weight else loss
                reg.backward()
                opt.step()
                if hasattr(model, "constrain_"):
                    model.constrain_()
                tot += float(loss.detach()) * len(idx)
            sched.step()
            history.append(tot / n)
            bar.update(1)
            bar.set_postfix_str(f"loss {history[-1]:.3g}")
    finally:
        bar.close()
    return history


def train_regression(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *,
                     epochs: int = 100, batch_size: int = 10, lr: float = 1e-3,
                     spline_lr: float | None = None, tv2_weight: float = 0.0,
                     seed: int = 0, progress: bool = False, desc: str = "train",
                     milestones: tuple[float, ...] = (0.5, 0.75)) -> list[float]:
    """Minimise the mean squared error (+ ``tv2_weight`` times the splines' TV2) with
    Adam; learning rates divided by 10 at the ``milestones`` (fractions of ``epochs``).
    Returns the per-epoch training MSE."""
    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        return ((model(X[idx]) - y[idx]) ** 2).mean()

    model.train()
    return _loop(model, X, loss_fn, epochs=epochs, batch_size=batch_size, lr=lr,
                 spline_lr=spline_lr, tv2_weight=tv2_weight, seed=seed,
                 progress=progress, desc=desc, milestones=milestones)


def train_classifier(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *,
                     epochs: int = 50, batch_size: int = 64, lr: float = 1e-3,
                     spline_lr: float | None = None, tv2_weight: float = 0.0,
                     margin: float = 0.5, seed: int = 0, progress: bool = False,
                     desc: str = "train", milestones: tuple[float, ...] = (0.5, 0.75)
                     ) -> list[float]:
    r"""Multi-class hinge loss with margin (the usual loss of 1-Lipschitz classifiers):
    $\sum_{j \ne y} \max(0, m - (f_y - f_j))$, averaged.  A margin $m$ aims at
    certified robustness at radius $m / (\sqrt2 L)$.  Returns the per-epoch loss."""
    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        out = model(X[idx])
        fy = out.gather(1, y[idx, None])
        h = torch.relu(margin - (fy - out))
        h = h.scatter(1, y[idx, None], 0.0)
        return h.sum(dim=1).mean()

    model.train()
    return _loop(model, X, loss_fn, epochs=epochs, batch_size=batch_size, lr=lr,
                 spline_lr=spline_lr, tv2_weight=tv2_weight, seed=seed,
                 progress=progress, desc=desc, milestones=milestones)
