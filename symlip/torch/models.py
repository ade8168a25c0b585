"""1-Lipschitz multilayer perceptrons: 1-Lipschitz linear layers and 1-Lipschitz
activations (ReLU, GroupSort, absolute value, learnable linear splines)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from symlip.errors import InputError
from symlip.torch.layers import Abs, BjorckLinear, GroupSort, LinearSpline, SpectralNormLinear

__all__ = ["LipschitzMLP", "ACTIVATIONS"]

ACTIVATIONS = ("relu", "groupsort", "abs", "spline")
LINEARS = ("bjorck", "spectral")


class LipschitzMLP(nn.Module):
    """``Linear, act, Linear, act, ..., Linear`` with 1-Lipschitz layers.

    Args:
        widths: ``[n_0, n_1, ..., n_N]`` (e.g. ``[1, 10, 10, 10, 1]``).
        activation: ``"relu"``, ``"groupsort"`` (group size 2: even hidden widths),
            ``"abs"`` or ``"spline"`` (one :class:`LinearSpline` per hidden layer).
        linear: ``"bjorck"`` (:class:`BjorckLinear`) or ``"spectral"``.
        spline: keyword arguments of :class:`LinearSpline` (``knots``, ``grid_range``,
            ``init``, ``constraint``).
        bjorck_iters: Björck iterations per forward (15 in the paper).
        dtype: of every parameter (default: torch's default dtype).

    Raises:
        InputError: fewer than two widths, an unknown activation or linear layer, an
            odd hidden width with GroupSort.
    """

    def __init__(self, widths: Sequence[int], activation: str = "spline", *,
                 linear: str = "bjorck", spline: dict[str, Any] | None = None,
                 bjorck_iters: int = 15, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise InputError(f"widths={widths} needs >= 2 positive entries")
        if activation not in ACTIVATIONS:
            raise InputError(f"{activation=} must be one of {', '.join(ACTIVATIONS)}")
        if linear not in LINEARS:
            raise InputError(f"{linear=} must be one of {', '.join(LINEARS)}")
        if activation == "groupsort" and any(w % 2 for w in widths[1:-1]):
            raise InputError(f"GroupSort(2) needs even hidden widths, got {widths[1:-1]}")
        self.widths, self.activation, self.linear_kind = widths, activation, linear
        self.linears = nn.ModuleList()
        self.acts = nn.ModuleList()
        for k in range(len(widths) - 1):
            if linear == "bjorck":
                self.linears.append(BjorckLinear(widths[k], widths[k + 1],
                                                 iters=bjorck_iters))
            else:
                self.linears.append(SpectralNormLinear(widths[k], widths[k + 1]))
            if k < len(widths) - 2:
                self.acts.append(self._act(activation, widths[k + 1],
                                           {"dtype": dtype, **(spline or {})}))
        if dtype is not None:
            self.to(dtype)

    @staticmethod
    def _act(name: str, n: int, spline: dict[str, Any]) -> nn.Module:
        if name == "relu":
            return nn.ReLU()
        if name == "groupsort":
            return GroupSort()
        if name == "abs":
            return Abs()
        return LinearSpline(n, **spline)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, lin in enumerate(self.linears):
            x = lin(x)
            if k < len(self.acts):
                x = self.acts[k](x)
        return x

    def splines(self) -> list[LinearSpline]:
        return [a for a in self.acts if isinstance(a, LinearSpline)]

    def tv2(self) -> torch.Tensor:
        """Sum of the TV2 of every spline neuron (0 without splines)."""
        s = [a.tv2().sum() for a in self.splines()]
        return torch.stack(s).sum() if s else torch.zeros(())

    def constrain_(self) -> None:
        """Apply the projection of ``"project"``-mode splines (after an optimiser step)."""
        for a in self.splines():
            a.constrain_()

    def effective_weights(self) -> list[torch.Tensor]:
        return [lin.effective_weight() for lin in self.linears]
