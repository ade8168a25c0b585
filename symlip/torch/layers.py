r"""PyTorch modules of 1-Lipschitz networks (Ducotterd et al.; Anil et al.).

* :class:`LinearSpline` — learnable per-neuron linear-spline activations on a uniform grid
  of $[-R, R]$ with $K$ coefficients, linear extension outside, TV2 regulariser and a
  slope constraint (the paper's clip map, or symlip's exact projection).
* :func:`bjorck` / :class:`BjorckLinear` — Björck-Bowie orthonormalisation with gradients
  through the iterations; :class:`SpectralNormLinear` — spectral normalisation.
* :class:`GroupSort` (group size 2) and :class:`Abs` — 1-Lipschitz baselines.

Everything here is floating point: "1-Lipschitz" is a property of the real iteration,
not of the stored weights.  What *proves* a trained network 1-Lipschitz is the
certified-normalised export (:mod:`symlip.torch.export`) and ``symlip certify``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from torch import nn

from symlip.errors import InputError

__all__ = [
    "LinearSpline",
    "clip_slopes_torch",
    "tv2_torch",
    "bjorck",
    "spectral_bound",
    "BjorckLinear",
    "SpectralNormLinear",
    "GroupSort",
    "Abs",
]

CONSTRAINTS = ("clip", "project", "none")
INITS = ("relu", "identity", "abs")


def tv2_torch(coefficients: torch.Tensor, step: float) -> torch.Tensor:
    r"""Per-neuron $\mathrm{TV}^{(2)} = \lVert \Delta^2 c\rVert_1 / T$ (float; the sum of
    the absolute slope changes)."""
    d2 = coefficients[..., 2:] - 2 * coefficients[..., 1:-1] + coefficients[..., :-2]
    return d2.abs().sum(dim=-1) / step


def clip_slopes_torch(coefficients: torch.Tensor, step: float,
                      lipschitz: float = 1.0) -> torch.Tensor:
    r"""The paper's slope map, differentiable: clip the slopes to $[-L, L]$ (the
    differences to $[-LT, LT]$), rebuild by cumulative sum, shift so that each neuron's
    coefficient mean is unchanged.  Float arithmetic: slopes can exceed $L$ by rounding
    (:func:`symlip.activations.spline.clip_slopes` is the exact version)."""
    lt = float(lipschitz) * step
    d = torch.clamp(coefficients[..., 1:] - coefficients[..., :-1], -lt, lt)
    zero = torch.zeros_like(coefficients[..., :1])
    new = torch.cat([zero, torch.cumsum(d, dim=-1)], dim=-1)
    return new + (coefficients - new).mean(dim=-1, keepdim=True)


class LinearSpline(nn.Module):
    r"""Per-neuron learnable linear splines (B-splines of degree 1) on a uniform grid.

    Neuron $n$ maps $z$ to the continuous piecewise-linear function with
    $\sigma_n(t_i) = c_{n,i}$ at the knots $t_i = -R + iT$, $T = 2R/(K-1)$, extended
    linearly outside $[-R, R]$ with the end slopes — the same function as
    :class:`symlip.activations.spline.LinearSpline` (same formula, same operation order, so float64
    forwards agree to the last bit).

    Args:
        neurons: number of neurons (one spline each).
        knots: $K \ge 3$ coefficients per neuron.
        grid_range: $R > 0$.
        init: ``"relu"``, ``"identity"`` or ``"abs"`` (coefficients = the function at
            the knots; all three have slopes in $\{-1, 0, 1\}$).
        constraint: ``"clip"`` — the forward uses the paper's clip map of the raw
            coefficients (differentiable reparametrisation, as in the paper's code);
            ``"project"`` — projected gradient: the forward uses the raw coefficients
            and :meth:`constrain_` (call it after each optimiser step) replaces them by
            their exact Euclidean projection (:func:`symlip.activations.spline.project_slopes`,
            exact rationals: slower); ``"none"``.
        lipschitz: the slope bound $L$ (1 for 1-Lipschitz activations).
        dtype: of the coefficients (default: torch's default dtype); the initial
            values are rounded once from float64.

    Raises:
        InputError: bad sizes, range, init or constraint.
    """

    def __init__(self, neurons: int, knots: int = 101, grid_range: float = 0.5, *,
                 init: str = "relu", constraint: str = "clip",
                 lipschitz: float = 1.0, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not isinstance(neurons, int) or neurons < 1:
            raise InputError(f"{neurons=} must be an integer >= 1")
        if not isinstance(knots, int) or knots < 3:
            raise InputError(f"{knots=} must be an integer >= 3")
        if not (isinstance(grid_range, (int, float)) and math.isfinite(grid_range)
                and grid_range > 0):
            raise InputError(f"{grid_range=} must be a finite number > 0")
        if init not in INITS:
            raise InputError(f"{init=} must be one of {', '.join(INITS)}")
        if constraint not in CONSTRAINTS:
            raise InputError(f"{constraint=} must be one of {', '.join(CONSTRAINTS)}")
        self.neurons, self.knots = neurons, knots
        self.grid_range = float(grid_range)
        self.constraint, self.lipschitz = constraint, float(lipschitz)
        lo = -self.grid_range
        # the same rounded step as symlip.activations.spline.LinearSpline.step
        self.step = float((Fraction(self.grid_range) - Fraction(lo)) / (knots - 1))
        t = torch.tensor([float(Fraction(lo) + i * (Fraction(self.grid_range) * 2)
                                / (knots - 1)) for i in range(knots)], dtype=torch.float64)
        f = {"relu": torch.relu(t), "identity": t, "abs": t.abs()}[init]
        self.coefficients = nn.Parameter(
            f.to(dtype or torch.get_default_dtype()).repeat(neurons, 1).clone())

    def extra_repr(self) -> str:
        return (f"neurons={self.neurons}, knots={self.knots}, range={self.grid_range}, "
                f"constraint={self.constraint!r}")

    def effective_coefficients(self) -> torch.Tensor:
        """The coefficients the forward uses (after the clip map in ``"clip"`` mode)."""
        if self.constraint == "clip":
            return clip_slopes_torch(self.coefficients, self.step, self.lipschitz)
        return self.coefficients

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape[-1] != self.neurons:
            raise InputError(f"spline layer has {self.neurons} neurons but the input has "
                             f"shape {tuple(z.shape)} (neurons on the last axis)")
        c = self.effective_coefficients().to(z.dtype)
        u = (z - (-self.grid_range)) / self.step
        j = torch.clamp(torch.floor(u.detach()), 0, self.knots - 2).long()
        flat = c.reshape(-1)
        base = torch.arange(self.neurons, device=z.device) * self.knots
        idx = j + base
        c0 = flat[idx]
        c1 = flat[idx + 1]
        return c0 + (u - j.to(z.dtype)) * (c1 - c0)

    def tv2(self) -> torch.Tensor:
        """Per-neuron TV2 of the effective coefficients (a regulariser term, float)."""
        return tv2_torch(self.effective_coefficients(), self.step)

    @torch.no_grad()
    def constrain_(self) -> None:
        """``"project"`` mode: replace the coefficients by their exact projection onto
        $\\max_i |s_i| \\le L$ (a no-op in the other modes)."""
        if self.constraint != "project":
            return
        from symlip.activations.spline import project_slopes

        c = self.coefficients.detach().cpu().double().numpy()
        p = project_slopes(c, self.grid_range, repr(self.lipschitz))
        self.coefficients.copy_(torch.from_numpy(p).to(self.coefficients))

    def to_symlip(self, exact: bool = True) -> Any:
        """The activation as a :class:`symlip.activations.spline.LinearSpline` (float64).

        ``exact=True``: the effective coefficients exactly projected onto
        $\\max|s_i| \\le L$ (:func:`symlip.activations.spline.project_slopes`), so that the certified
        $K_1$ is $\\le L$; ``False``: the effective coefficients as they are."""
        from symlip.activations.spline import LinearSpline as NpSpline
        from symlip.activations.spline import project_slopes

        c = self.effective_coefficients().detach().cpu().double().numpy()
        if exact:
            c = project_slopes(c, self.grid_range, repr(self.lipschitz))
        return NpSpline(c, self.grid_range)


# ----------------------------------------------------------------------------------
# 1-Lipschitz linear layers
# ----------------------------------------------------------------------------------


def spectral_bound(w: torch.Tensor) -> torch.Tensor:
    r"""$\sqrt{\lVert W\rVert_1 \lVert W\rVert_\infty} \ge \lVert W\rVert_2$ (Hölder;
    float), the scaling that makes the Björck iteration converge."""
    return torch.sqrt(w.abs().sum(dim=0).max() * w.abs().sum(dim=1).max())


def bjorck(w: torch.Tensor, beta: float = 0.5, iters: int = 15, *,
           scale: bool = True) -> torch.Tensor:
    r"""Björck-Bowie orthonormalisation, differentiable through the iterations.

    $W \leftarrow (1 + \beta) W - \beta W W^\top W$ (Gram matrix on the smaller side),
    after dividing by :func:`spectral_bound` (``scale=True``) so that every singular
    value starts in $(0, 1]$, where $s \mapsto \tfrac32 s - \tfrac12 s^3$ stays $\le 1$
    and converges to 1.  A single row or column ($\min(m, n) = 1$) has one singular
    value: its limit $w / \lVert w\rVert_2$ is returned directly.  Float arithmetic:
    not certified.
    """
    if w.ndim != 2:
        raise InputError(f"bjorck needs a 2-D weight, got shape {tuple(w.shape)}")
    if min(w.shape) == 1 and iters > 0:
        # a row or column: the iteration converges to w / ||w||_2 (one singular value)
        n = torch.linalg.vector_norm(w)
        return w / torch.where(n > 0, n, torch.ones_like(n))
    if scale:
        n = spectral_bound(w)
        w = w / torch.where(n > 0, n, torch.ones_like(n))
    tall = w.shape[0] >= w.shape[1]
    for _ in range(int(iters)):
        if tall:
            w = (1 + beta) * w - beta * (w @ (w.t() @ w))
        else:
            w = (1 + beta) * w - beta * ((w @ w.t()) @ w)
    return w


class BjorckLinear(nn.Linear):
    """A Linear layer whose weight is :func:`bjorck` of a free parameter (gradients
    through the iterations)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 beta: float = 0.5, iters: int = 15) -> None:
        super().__init__(in_features, out_features, bias)
        self.beta, self.iters = beta, iters
        nn.init.orthogonal_(self.weight)

    def effective_weight(self) -> torch.Tensor:
        return bjorck(self.weight, self.beta, self.iters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.effective_weight(), self.bias)


class SpectralNormLinear(nn.Module):
    """A Linear layer divided by a power-iteration estimate of its spectral norm
    (:func:`torch.nn.utils.parametrizations.spectral_norm`; float, not certified)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 n_power_iterations: int = 1) -> None:
        super().__init__()
        self.linear = nn.utils.parametrizations.spectral_norm(
            nn.Linear(in_features, out_features, bias), n_power_iterations=n_power_iterations)

    @property
    def bias(self) -> torch.Tensor | None:
        return self.linear.bias

    def effective_weight(self) -> torch.Tensor:
        return self.linear.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class GroupSort(nn.Module):
    r"""GroupSort with group size 2 (MaxMin): each consecutive pair $(a, b)$ becomes
    $(\min(a, b), \max(a, b))$ — a permutation on each input, so 1-Lipschitz in
    $\ell_2$ and gradient-norm preserving.  Needs an even width."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[-1]
        if n % 2:
            raise InputError(f"GroupSort(2) needs an even width, got {n}")
        p = z.reshape(*z.shape[:-1], n // 2, 2)
        return torch.cat([p.min(dim=-1, keepdim=True).values,
                          p.max(dim=-1, keepdim=True).values], dim=-1).reshape(z.shape)


class Abs(nn.Module):
    """$z \\mapsto |z|$ (1-Lipschitz)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.abs()


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()
