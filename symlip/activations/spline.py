r"""Linear-spline activations (Ducotterd et al.) with exactly certified constants.

A :class:`LinearSpline` holds, per neuron $n$, coefficients $c_{n,0}, \dots, c_{n,K-1}$
(doubles) on the uniform grid $t_i = a + i T$, $T = (b - a)/(K - 1)$, of $[a, b]$
(usually $[-R, R]$).  Neuron $n$ computes the continuous piecewise-linear function with
$\sigma_n(t_i) = c_{n,i}$, extended linearly outside $[a, b]$ with the end slopes.
Slopes $s_{n,i} = (c_{n,i+1} - c_{n,i}) / T$.

**Everything certified here is exact.**  The grid step $T$ is in general not a double
($2R/(K-1)$ with $K - 1 = 100$), so nothing divides by a rounded $T$: every slope is the
rational number $(c_{i+1} - c_i)(K - 1)/(b - a)$ of the doubles $c_i, a, b$, computed in
:class:`fractions.Fraction` arithmetic, and rounded outward only once, when it becomes an
:class:`~symlip.arith.enclosure.Enclosure` (113 bits) or a double (``upper_float`` rounded up).
The same holds for spline values on intervals (:meth:`LinearSpline.interval_sigma`),
TV2 and the slope-constraint maps.

Constants (:attr:`LinearSpline.constants`):

* $K_1 = \max_{n,i} |s_{n,i}|$ — the Lipschitz constant of a continuous piecewise-linear
  function is its largest |slope| (the extension reuses the end slopes);
* $K_2 = \infty$ (the derivative jumps at a knot where consecutive slopes differ), or
  $0$ if every neuron is affine;
* $S_0 = \max_{n,i} |c_{n,i}|$ if both end slopes of every neuron are $0$ (then the
  range is the hull of the knot values), else $\infty$;
* $s_0 = \max_n |\sigma_n(0)|$.

Slope constraints ($\max_i |s_i| \le L$, i.e. $|c_{i+1} - c_i| \le L T$):

* :func:`clip_slopes` — the paper's map: clip the slopes to $[-L, L]$, rebuild by
  cumulative sum, shift to keep the mean of the coefficients;
* :func:`project_slopes` — the exact Euclidean projection (a QP per neuron), solved by
  dynamic programming in exact rational arithmetic (:func:`project_chain_exact`).

Both then round to doubles *feasibly* (:func:`round_feasible`): the double result is
verified in exact arithmetic to satisfy $\max|s_i| \le L$, so the certified $K_1$ of the
result is $\le L$ (see ``docs/splines.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import cached_property
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from mpmath import iv
from mpmath.libmp import from_rational, round_ceiling, round_floor

from symlip.activations.registry import AbstractActivation, ActivationConstants, Constant, X
from symlip.arith.enclosure import (
    Enclosure,
    endpoints,
    iv_from,
    make_mpf,
    mpf_to_fraction,
    working_precision,
)
from symlip.errors import InputError
from symlip.symbolic.derivation import Derivation, Tex

__all__ = [
    "LinearSpline",
    "clip_slopes",
    "project_slopes",
    "project_chain",
    "project_chain_exact",
    "clip_chain_exact",
    "round_feasible",
    "certify_max_slope",
    "kkt_residual_exact",
    "parse_grid",
    "spline_network",
    "read_spline_modules",
    "splines_for_layers",
    "spline_state",
]

_ENC_PREC = 113  # bits of the enclosures of exact rationals


# ----------------------------------------------------------------------------------
# exact helpers
# ----------------------------------------------------------------------------------


def _fr(x: Any) -> Fraction:
    """A double (or int / mpf / Fraction) as an exact Fraction."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, mpmath.mpf):
        return mpf_to_fraction(x)
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    return Fraction(float(x))  # exact: a double is a dyadic rational


def _frac_to_mpf(q: Fraction, prec: int, up: bool) -> mpmath.mpf:
    return make_mpf(from_rational(q.numerator, q.denominator, prec,
                             round_ceiling if up else round_floor))


def _frac_enclosure(q: Fraction, prec: int = _ENC_PREC) -> Enclosure:
    """The exact rational ``q`` as an enclosure (endpoints rounded outward to ``prec``)."""
    return Enclosure(_frac_to_mpf(q, prec, False), _frac_to_mpf(q, prec, True))


def _frac_to_float(q: Fraction, up: bool) -> float:
    """``q`` rounded to a double towards +inf (``up``) or -inf."""
    try:
        f = q.numerator / q.denominator  # correctly rounded to nearest
    except OverflowError:
        return math.inf if (q > 0) == up or q > 0 else -math.inf
    if up and Fraction(f) < q:
        f = math.nextafter(f, math.inf)
    elif not up and Fraction(f) > q:
        f = math.nextafter(f, -math.inf)
    return f


def _g6(q: Fraction) -> str:
    """``q`` with 6 significant digits for messages (no OverflowError past 1e308)."""
    from decimal import Decimal

    return format(Decimal(q.numerator) / Decimal(q.denominator), ".6g")


def parse_grid(grid: Any) -> tuple[float, float]:
    """The grid range ``(a, b)`` from ``R``, ``[R]`` or ``[a, b]`` (usually ``[-R, R]``).

    Raises:
        InputError: non-finite values, ``R <= 0`` or ``a >= b``, more than two values.

    Examples:
        >>> parse_grid(0.5), parse_grid([-1.0, 2.0])
        ((-0.5, 0.5), (-1.0, 2.0))
    """
    arr = np.asarray(grid)
    if arr.dtype.kind not in "fiu":
        raise InputError(f"spline grid must be numbers R or [a, b], got {grid!r}")
    vals = [float(v) for v in arr.ravel()]
    if not all(math.isfinite(v) for v in vals):
        raise InputError(f"spline grid must be finite, got {grid!r}")
    if len(vals) == 1:
        r = vals[0]
        if not r > 0:
            raise InputError(f"spline range R={r!r} must be > 0")
        return -r, r
    if len(vals) == 2:
        a, b = vals
        if not a < b:
            raise InputError(f"spline grid [a, b] = {vals} needs a < b")
        return a, b
    raise InputError(f"spline grid must be R, [R] or [a, b]; got {len(vals)} values {vals}")


# ----------------------------------------------------------------------------------
# the activation
# ----------------------------------------------------------------------------------


class LinearSpline(AbstractActivation):
    r"""Per-neuron linear splines on a uniform grid, linear extension outside.

    Args:
        coefficients: shape ``(neurons, K)`` (one spline per neuron of the layer) or
            ``(K,)`` (one spline shared by every neuron); $K \ge 2$.  float16/32/64,
            converted exactly to float64.
        grid: ``R`` / ``[R]`` for $[-R, R]$, or ``[a, b]``.
        name: a label for messages and derivations.

    Raises:
        InputError: bad shapes, fewer than 2 knots, non-finite coefficients, bad grid.

    Examples:
        >>> sp_ = LinearSpline([[0.0, 0.0, 1.0]], 1.0)   # ReLU-like: knots -1, 0, 1
        >>> sp_.sigma(np.array([[-2.0], [0.5], [3.0]])).ravel().tolist()
        [0.0, 0.5, 3.0]
        >>> sp_.constants.K1.exact, sp_.tv2()[0].upper_str()
        (1, '1')
    """

    def __init__(self, coefficients: Any, grid: Any, name: str = "spline") -> None:
        from symlip.models.network import check_real_array

        c = check_real_array(coefficients, "spline coefficients")
        if c.ndim == 1:
            shared = True
            c = c[None, :]
        elif c.ndim == 2:
            shared = False
        else:
            raise InputError(
                f"spline coefficients must have shape (neurons, K) or (K,), got {c.shape}"
            )
        if c.shape[1] < 2 or c.shape[0] < 1:
            raise InputError(
                f"spline coefficients have shape {c.shape}; need >= 1 neuron and K >= 2 knots"
            )
        self.lo, self.hi = parse_grid(grid)
        c.flags.writeable = False
        self._c = c
        self.shared = shared
        self.name = name
        self.latex_name = r"\sigma_{\mathrm{spline}}"

    # -- structure ---------------------------------------------------------------------
    @property
    def coefficients(self) -> np.ndarray:
        """Read-only float64 array ``(neurons, K)`` (``(1, K)`` for a shared spline)."""
        return self._c

    @property
    def neurons(self) -> int:
        """Number of coefficient rows (1 for a shared spline)."""
        return self._c.shape[0]

    @property
    def knots(self) -> int:
        """K, the number of coefficients per neuron."""
        return self._c.shape[1]

    @property
    def grid(self) -> tuple[float, float]:
        return self.lo, self.hi

    @property
    def label(self) -> str:
        who = "shared" if self.shared else f"{self.neurons} neurons"
        return f"spline(K={self.knots}, [{self.lo:g}, {self.hi:g}], {who})"

    def __repr__(self) -> str:
        return f"LinearSpline({self.label})"

    @cached_property
    def step_exact(self) -> Fraction:
        """The grid step $T = (b - a)/(K - 1)$ as an exact rational."""
        return (_fr(self.hi) - _fr(self.lo)) / (self.knots - 1)

    @property
    def step(self) -> float:
        """T rounded to nearest (for NumPy evaluation only; not certified)."""
        return float(self.step_exact)

    def knot_positions(self) -> np.ndarray:
        """The knots $t_i$ rounded to nearest doubles (an estimate)."""
        return np.array([float(_fr(self.lo) + i * self.step_exact) for i in range(self.knots)])

    def _row(self, neuron: int | None) -> np.ndarray:
        if self.shared:
            return self._c[0]
        if neuron is None or not 0 <= int(neuron) < self.neurons:
            raise InputError(
                f"{neuron=} is not a neuron of a spline layer with {self.neurons} neurons"
            )
        return self._c[int(neuron)]

    @cached_property
    def _rows_fr(self) -> list[list[Fraction]]:
        return [[Fraction(float(v)) for v in row] for row in self._c]

    # -- NumPy evaluation (float64 estimates) --------------------------------------
    def _gather(self, z: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        z = np.asarray(z, dtype=float)
        K = self.knots
        u = (z - self.lo) / self.step
        j = np.clip(np.floor(np.nan_to_num(u, nan=0.0, posinf=K, neginf=-1.0)), 0, K - 2)
        j = j.astype(np.intp)
        if self.shared:
            c0, c1 = self._c[0][j], self._c[0][j + 1]
        else:
            if z.ndim == 0 or z.shape[-1] != self.neurons:
                raise InputError(
                    f"spline layer has {self.neurons} neurons but the input has shape "
                    f"{z.shape} (neurons must be on the last axis)"
                )
            rows = np.broadcast_to(np.arange(self.neurons), z.shape)
            c0, c1 = self._c[rows, j], self._c[rows, j + 1]
        return u, j, c0, c1

    def sigma(self, z: np.ndarray) -> np.ndarray:
        """$\\sigma(z)$ in float64 (neurons on the last axis). Not certified."""
        u, j, c0, c1 = self._gather(z)
        return c0 + (u - j) * (c1 - c0)

    def dsigma(self, z: np.ndarray) -> np.ndarray:
        """$\\sigma'(z)$ in float64 (the right derivative at a knot). Not certified."""
        _, _, c0, c1 = self._gather(z)
        return (c1 - c0) / self.step

    def d2sigma(self, z: np.ndarray) -> np.ndarray:
        """Zero for an affine spline; otherwise refuses (the derivative jumps)."""
        self.require_smooth("the second derivative")
        return np.zeros(np.shape(z))

    def estimate_slopes(self) -> np.ndarray:
        """Slopes ``(neurons, K - 1)`` in float64 (an estimate; see :meth:`slopes_exact`)."""
        return np.diff(self._c, axis=1) / self.step

    def slopes_exact(self, neuron: int | None = None) -> list[Fraction]:
        """The exact slopes $s_i = (c_{i+1} - c_i)/T$ of one neuron, as rationals."""
        row = self._rows_fr[0 if self.shared else self._index(neuron)]
        T = self.step_exact
        return [(b - a) / T for a, b in zip(row, row[1:], strict=False)]

    def _index(self, neuron: int | None) -> int:
        self._row(neuron)
        return int(neuron)  # type: ignore[arg-type]

    # -- SymPy form --------------------------------------------------------------------
    def piecewise(self, neuron: int | None = 0) -> sp.Expr:
        """Neuron ``neuron``'s spline as an exact SymPy ``Piecewise`` in :data:`X`.

        The coefficients and knots enter as exact rationals (the doubles they are).

        Examples:
            >>> LinearSpline([0.0, 0.0, 1.0], 1.0).piecewise()
            Piecewise((0, x < 0), (x, True))
        """
        i0 = 0 if self.shared else self._index(neuron)
        row = [sp.Rational(q.numerator, q.denominator) for q in self._rows_fr[i0]]
        T = sp.Rational(self.step_exact.numerator, self.step_exact.denominator)
        a = sp.Rational(*_fr(self.lo).as_integer_ratio())
        K = self.knots
        pieces = []
        for i in range(K - 1):
            s = (row[i + 1] - row[i]) / T
            line = sp.expand(row[i] + s * (X - (a + i * T)))
            if i == K - 2:
                pieces.append((line, True))
            else:
                pieces.append((line, X < a + (i + 1) * T))
        # merge consecutive pieces with the same line
        merged: list[tuple[sp.Expr, Any]] = []
        for line, cond in pieces:
            if merged and sp.simplify(merged[-1][0] - line) == 0:
                merged[-1] = (line, cond)
            else:
                merged.append((line, cond))
        return sp.Piecewise(*merged)

    # -- exact evaluation --------------------------------------------------------------
    def _u(self, z: Fraction) -> Fraction:
        return (z - _fr(self.lo)) / self.step_exact

    def value_exact(self, z: Any, neuron: int | None = 0) -> Fraction:
        """$\\sigma_n(z)$ exactly, for a double / int / mpf / Fraction ``z``."""
        row = self._rows_fr[0 if self.shared else self._index(neuron)]
        return self._value(row, self._u(_fr(z)))

    def _value(self, row: list[Fraction], u: Fraction) -> Fraction:
        j = min(max(math.floor(u), 0), self.knots - 2)
        return row[j] + (u - j) * (row[j + 1] - row[j])

    def range_exact(self, zlo: Any, zhi: Any, neuron: int | None = 0) -> tuple[Fraction, Fraction]:
        """Exact $[\\min, \\max]$ of $\\sigma_n$ on $[z_{lo}, z_{hi}]$.

        A continuous piecewise-linear function attains its extremes on an interval at
        the endpoints or at the knots inside it.
        """
        i0 = 0 if self.shared else self._index(neuron)
        row = self._rows_fr[i0]
        ul, uh = self._u(_fr(zlo)), self._u(_fr(zhi))
        if ul > uh:
            raise InputError(f"interval [{zlo}, {zhi}] has lower end > upper end")
        vals = [self._value(row, ul), self._value(row, uh)]
        m1, m2 = max(math.ceil(ul), 0), min(math.floor(uh), self.knots - 1)
        if m1 <= m2:
            seg = self._c[i0, m1:m2 + 1]
            vals += [Fraction(float(seg.min())), Fraction(float(seg.max()))]
        return min(vals), max(vals)

    def slope_sup_exact(self, zlo: Any, zhi: Any, neuron: int | None = 0) -> Fraction:
        """Exact $\\max |s_j|$ over the pieces that meet $[z_{lo}, z_{hi}]$ (an upper bound
        of $|\\sigma_n'|$ there; the local Lipschitz constant on the interval)."""
        i0 = 0 if self.shared else self._index(neuron)
        ul, uh = self._u(_fr(zlo)), self._u(_fr(zhi))
        K = self.knots
        j1 = min(max(math.floor(ul), 0), K - 2)
        j2 = min(max(math.floor(uh), 0), K - 2)
        seg = self._rows_fr[i0][j1:j2 + 2]
        return max(abs(b - a) for a, b in zip(seg, seg[1:], strict=False)) / self.step_exact

    # -- rigorous interval evaluation -----------------------------------------------
    def interval_sigma(self, z: Any, neuron: int | None = None) -> Any:
        """Rigorous enclosure of $\\sigma_n$ on an ``mpmath.iv`` interval (or Enclosure,
        or float): the exact range (:meth:`range_exact`), rounded outward to ``iv.prec``."""
        lo, hi = endpoints(z)
        if not (mpmath.isfinite(lo) and mpmath.isfinite(hi)):
            raise InputError(f"spline input interval [{lo}, {hi}] must be finite")
        a, b = self.range_exact(lo, hi, 0 if neuron is None and self.shared else neuron)
        p = iv.prec
        return iv_from(_frac_to_mpf(a, p, False), _frac_to_mpf(b, p, True))

    def interval_sigma_array(self, lo: np.ndarray, hi: np.ndarray,
                             layer: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rigorous float64 bounds of $\\sigma$ on boxes ``[lo_i, hi_i]`` (neuron ``i``),
        rounded outward (used by :func:`~symlip.models.network.sigma_box`)."""
        lo = np.asarray(lo, float).ravel()
        hi = np.asarray(hi, float).ravel()
        self._check_width(lo.size)
        out_lo, out_hi = np.empty_like(lo), np.empty_like(hi)
        for i in range(lo.size):
            a, b = self.range_exact(lo[i], hi[i], i if not self.shared else 0)
            out_lo[i], out_hi[i] = _frac_to_float(a, False), _frac_to_float(b, True)
        return out_lo, out_hi

    def dsigma_abs_sup(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Certified upper bounds (rounded up) of $\\sup |\\sigma_i'|$ on ``[lo_i, hi_i]``."""
        lo = np.asarray(lo, float)
        hi = np.asarray(hi, float)
        flat_lo, flat_hi = lo.ravel(), hi.ravel()
        self._check_width(flat_lo.size)
        out = np.empty_like(flat_lo)
        for i in range(flat_lo.size):
            q = self.slope_sup_exact(flat_lo[i], flat_hi[i], i if not self.shared else 0)
            out[i] = _frac_to_float(q, True)
        return out.reshape(lo.shape)

    def _check_width(self, n: int) -> None:
        if not self.shared and n != self.neurons:
            raise InputError(f"spline layer has {self.neurons} neurons, got {n} intervals")

    # -- certified constants -----------------------------------------------------------
    def _max_abs_diff(self, order: int) -> list[tuple[Fraction, int]]:
        """Per neuron: exact $\\max_i |\\Delta^{order} c_i|$ and its index ``i``.

        For ``order == 1`` the float differences are correctly rounded images of the
        exact ones, and rounding to nearest is monotone, so the exact maximum is among
        the entries whose float |difference| is largest: only those are evaluated
        exactly.
        """
        out = []
        for n, row in enumerate(self._c):
            d = np.abs(np.diff(row, n=order))
            if order == 1:
                cand = np.flatnonzero(d == d.max())
            else:
                cand = range(d.size)
            rf = self._rows_fr[n]
            best = max(
                (abs(rf[i + 1] - rf[i]) if order == 1 else abs(rf[i + 2] - 2 * rf[i + 1] + rf[i]),
                 int(i)) for i in cand
            )
            out.append(best)
        return out

    def certify_max_slope(self) -> list[Enclosure]:
        """Per neuron, an enclosure of $\\max_i |s_{n,i}|$ (exact rational, rounded
        outward to 113 bits)."""
        T = self.step_exact
        return [_frac_enclosure(d / T) for d, _ in self._max_abs_diff(1)]

    def tv2_exact(self) -> list[Fraction]:
        """Per neuron, $\\mathrm{TV}^{(2)}(\\sigma_n) = \\sum_i |s_{n,i+1} - s_{n,i}|
        = \\|\\Delta^2 c_n\\|_1 / T$ exactly."""
        T = self.step_exact
        out = []
        for rf in self._rows_fr:
            tot = sum((abs(rf[i + 2] - 2 * rf[i + 1] + rf[i]) for i in range(len(rf) - 2)),
                      Fraction(0))
            out.append(tot / T)
        return out

    def tv2(self) -> list[Enclosure]:
        """Per neuron, a certified enclosure of the second-order total variation."""
        return [_frac_enclosure(q) for q in self.tv2_exact()]

    def summary_fields(self) -> dict[str, Any]:
        """What describes the spline beyond its constants (JSON-ready; printed by
        ``symlip activation spline``): knots, neurons, grid and step, and per neuron the
        certified enclosures of TV2 and of the largest slope."""
        tv = self.tv2()
        return {"knots": self.knots, "neurons": self.neurons, "shared": self.shared,
                "grid": [self.lo, self.hi], "step": self.step,
                "tv2": [e.to_dict() for e in tv],
                "max_slope": [e.to_dict() for e in self.certify_max_slope()]}

    def estimate_tv2(self) -> np.ndarray:
        """Per neuron TV2 in float64 (an estimate)."""
        return np.abs(np.diff(self._c, n=2, axis=1)).sum(axis=1) / self.step

    @cached_property
    def constants(self) -> ActivationConstants:
        """Certified $S_0, K_1, K_2, s_0$ (see the module docstring), each with its
        derivation; the enclosures are exact rationals rounded outward."""
        T = self.step_exact
        Ts = _sym(T)
        who = "the shared spline" if self.shared else "neurons"
        # K1
        diffs = self._max_abs_diff(1)
        n1 = max(range(len(diffs)), key=lambda n: diffs[n][0])
        d1, i1 = diffs[n1]
        k1 = d1 / T
        dk1 = Derivation("Lipschitz constant of a linear spline")
        dk1.assume(rf"knots $t_i = a + iT$, $i = 0..{self.knots - 1}$, "
                   rf"$T = (b - a)/(K - 1) = {sp.latex(Ts)}$ (exact)")
        dk1.assume("linear extension outside $[a, b]$ with the end slopes")
        dk1.step(Tex(r"K_1"), "=", Tex(r"\max_{n,i} |c_{n,i+1} - c_{n,i}| / T"),
                 "a continuous piecewise-linear map is Lipschitz with its largest |slope|")
        dk1.then("=", _sym(d1) / Ts, f"attained by neuron {n1}, piece {i1} (exact doubles)")
        dk1.then("=", _sym(k1), "exact rational arithmetic")
        K1 = Constant("K1", _frac_enclosure(k1), _sym(k1),
                      f"max |slope| over {who}", dk1)
        # K2
        tv = self.tv2_exact()
        dk2 = Derivation("Lipschitz constant of the spline's derivative")
        if all(t == 0 for t in tv):
            dk2.step(Tex(r"K_2"), "=", 0, "every neuron is affine: $\\sigma'$ is constant")
            K2 = Constant("K2", Enclosure.point(0), sp.Integer(0),
                          "every spline is affine (all slopes equal)", dk2)
        else:
            n2 = next(n for n, t in enumerate(tv) if t != 0)
            s = self.slopes_exact(n2 if not self.shared else None)
            i2 = next(i for i in range(len(s) - 1) if s[i] != s[i + 1])
            knot = _fr(self.lo) + (i2 + 1) * T
            reason = (f"the derivative of neuron {n2} jumps from {_g6(s[i2])} to "
                      f"{_g6(s[i2 + 1])} at the knot {_g6(knot)}: a linear "
                      "spline is not C^1, so sigma' has no Lipschitz constant")
            dk2.step(Tex(r"\sigma'(t^-) - \sigma'(t^+)"), "=", _sym(s[i2] - s[i2 + 1]),
                     f"neuron {n2}, knot {i2 + 1}")
            dk2.step(Tex(r"K_2"), "=", sp.oo, "a jump of $\\sigma'$ admits no Lipschitz bound")
            K2 = Constant("K2", Enclosure.unbounded_above(0), sp.oo, reason, dk2)
        # S0
        s0d = Derivation("sup |sigma| of a linear spline")
        ends_flat = all(row[1] == row[0] and row[-1] == row[-2] for row in self._c)
        if ends_flat:
            m = float(np.abs(self._c).max())
            s0d.step(Tex(r"S_0"), "=", Tex(r"\max_{n,i} |c_{n,i}|"),
                     "both end slopes are 0: the range is the hull of the knot values")
            s0d.then("=", _sym(Fraction(m)), "exact")
            S0 = Constant("S0", Enclosure.point(m), _sym(Fraction(m)),
                          "both end slopes are 0 for every neuron", s0d)
        else:
            bad = next(n for n, row in enumerate(self._c)
                       if not (row[1] == row[0] and row[-1] == row[-2]))
            s0d.step(Tex(r"S_0"), "=", sp.oo,
                     f"neuron {bad} has a non-zero end slope: unbounded linear extension")
            S0 = Constant("S0", Enclosure.unbounded_above(0), sp.oo,
                          f"neuron {bad} has a non-zero end slope (linear extension is "
                          "unbounded)", s0d)
        # sigma0
        v0 = [abs(self._value(rf, self._u(Fraction(0)))) for rf in self._rows_fr]
        n0 = max(range(len(v0)), key=lambda n: v0[n])
        sd = Derivation("|sigma(0)| of a linear spline")
        sd.step(Tex(r"s_0 = \max_n |\sigma_n(0)|"), "=", _sym(v0[n0]),
                f"linear interpolation of neuron {n0}'s coefficients at 0, exact")
        sig0 = Constant("sigma0", _frac_enclosure(v0[n0]), _sym(v0[n0]),
                        f"attained by neuron {n0}", sd)
        d = Derivation(f"constants of {self.label}")
        for c in (S0, K1, K2, sig0):
            d.section(c.derivation)
        return ActivationConstants(S0, K1, K2, sig0, d)

    # -- where the derivative jumps (witness of K2 = infinity) --------------------
    def _first_jump(self) -> tuple[int, int] | None:
        for n in range(self.neurons):
            s = self.slopes_exact(None if self.shared else n)
            for i in range(len(s) - 1):
                if s[i] != s[i + 1]:
                    return n, i + 1
        return None

    @property
    def kink(self) -> float | None:
        """A knot (nearest double) where some neuron's slope jumps; ``None`` if affine."""
        j = self._first_jump()
        return None if j is None else float(_fr(self.lo) + j[1] * self.step_exact)

    def scalar_activation(self) -> LinearSpline:
        """The spline of the neuron whose slope jumps at :attr:`kink`, as a shared
        (scalar) activation — for witnesses built on one-neuron networks."""
        j = self._first_jump()
        n = 0 if j is None else j[0]
        return LinearSpline(self._c[n], [self.lo, self.hi], name=f"{self.name}[{n}]")

    # -- coefficients as parameters ------------------------------------------------
    def coefficient_weights(self, z: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The interpolation weights: $\\sigma(z) = (1 - f) c_j + f c_{j+1}$ with
        ``(j, 1 - f, f)`` per entry of ``z`` (float64; $f < 0$ or $> 1$ outside the grid).
        """
        z = np.asarray(z, dtype=float)
        K = self.knots
        u = (z - self.lo) / self.step
        j = np.clip(np.floor(u), 0, K - 2).astype(np.intp)
        f = u - j
        return j, 1 - f, f

    def certify_coefficient_factor(self, zmax: Any) -> Enclosure:
        r"""Certified $w = \sup_{|z| \le z_{\max}} \sup_{dc \ne 0} |d\sigma(z)| / \|dc\|_2$.

        Theorem: $\sigma(z; c)$ is linear in $c$ with weights $(1 - f, f)$ on two
        neighbouring coefficients.  Inside the grid $0 \le f \le 1$ and
        $\sqrt{(1-f)^2 + f^2} \le 1$; at distance $sT$ beyond the grid the weights are
        $(1 + s, -s)$ and the factor is $\sqrt{(1+s)^2 + s^2}$, increasing in $s$.  So
        $w = \sqrt{(1+s)^2 + s^2}$ with $s = \max(0, (z_{\max} - b)/T, (a + z_{\max})/T)$,
        computed exactly and rounded up (the square root in outward interval arithmetic).

        Args:
            zmax: an upper bound of $|z|$ (float, mpf or Enclosure: its upper end).

        Returns:
            An enclosure whose upper end bounds the factor (``inf`` if ``zmax`` is).
        """
        if isinstance(zmax, Enclosure):
            zmax = zmax.upper
        zm = mpmath.mpf(zmax) if not isinstance(zmax, (mpmath.mpf, float, int)) else zmax
        if isinstance(zm, (float, int)) and not math.isfinite(zm):
            return Enclosure.unbounded_above(1)
        if isinstance(zm, mpmath.mpf) and not mpmath.isfinite(zm):
            return Enclosure.unbounded_above(1)
        q = _fr(zm)
        if q < 0:
            raise InputError(f"zmax={float(q)!r} must be >= 0")
        T = self.step_exact
        s = max(Fraction(0), (q - _fr(self.hi)) / T, (_fr(self.lo) + q) / T)
        if s == 0:
            return Enclosure.point(1)
        v = (1 + s) ** 2 + s**2
        with mpmath.workprec(_ENC_PREC):
            lo = mpmath.sqrt(_frac_to_mpf(v, _ENC_PREC, False), rounding="f")
            hi = mpmath.sqrt(_frac_to_mpf(v, _ENC_PREC, True), rounding="c")
        return Enclosure(lo, hi)

    def ball_slope_bound(self, radius: Any) -> Enclosure:
        r"""Certified $K_1$ over all coefficient arrays within Frobenius distance ``radius``:
        $K_1(\bar c) + \sqrt 2\, r / T$ (a slope changes by $|dc_{i+1} - dc_i|/T \le
        \sqrt 2 \|dc\|_2 / T$), rounded up."""
        r = Enclosure.point(radius) if not isinstance(radius, Enclosure) else radius
        T = self.step_exact
        with working_precision(_ENC_PREC):  # iv.prec; mpmath.workprec sets mp.prec only
            inv_t = _frac_enclosure(1 / T).to_interval()
            k = (self.constants.K1.enclosure.to_interval()
                 + iv.sqrt(2) * iv.mpf((r.lower, r.upper)) * inv_t)
        return Enclosure.from_interval(k)

    # -- model files -------------------------------------------------------------------
    def grid_array(self) -> np.ndarray:
        """``[R]`` for a symmetric grid, else ``[a, b]`` (what a model file stores)."""
        return np.array([self.hi]) if self.lo == -self.hi else np.array([self.lo, self.hi])


def _sym(q: Fraction) -> sp.Rational:
    return sp.Rational(q.numerator, q.denominator)


# ----------------------------------------------------------------------------------
# slope constraints: the paper's map and the exact projection
# ----------------------------------------------------------------------------------


def _check_constraint_args(coefficients: Any, grid: Any, lipschitz: Any
                           ) -> tuple[np.ndarray, bool, float, float, Fraction]:
    from symlip.models.network import check_real_array

    c = check_real_array(coefficients, "spline coefficients")
    shared = c.ndim == 1
    if shared:
        c = c[None, :]
    if c.ndim != 2 or c.shape[1] < 2:
        raise InputError(f"spline coefficients have shape {np.shape(coefficients)}; expected "
                         "(neurons, K) or (K,) with K >= 2")
    lo, hi = parse_grid(grid)
    if isinstance(lipschitz, str):
        L = Fraction(lipschitz)
    else:
        if not (isinstance(lipschitz, (int, float, np.integer, np.floating))
                and math.isfinite(float(lipschitz))):
            raise InputError(f"lipschitz={lipschitz!r} must be a finite number >= 0")
        L = _fr(lipschitz)
    if L < 0:
        raise InputError(f"lipschitz={lipschitz!r} must be >= 0")
    return c, shared, lo, hi, L


def _bound_a(lo: float, hi: float, K: int, L: Fraction) -> Fraction:
    """The exact bound $a = L T$ on consecutive coefficient differences."""
    return L * (_fr(hi) - _fr(lo)) / (K - 1)


def clip_chain_exact(c: Sequence[Any], a: Fraction) -> list[Fraction]:
    """The paper's map in exact arithmetic: differences clipped to $[-a, a]$, rebuilt by
    cumulative sum from 0, then shifted so that the mean equals the mean of ``c``."""
    cf = [_fr(v) for v in c]
    out = [Fraction(0)]
    for x0, x1 in zip(cf, cf[1:], strict=False):
        out.append(out[-1] + min(max(x1 - x0, -a), a))
    shift = (sum(cf, Fraction(0)) - sum(out, Fraction(0))) / len(cf)
    return [v + shift for v in out]


def project_chain_exact(c: Sequence[Any], a: Fraction) -> list[Fraction]:
    r"""Exact Euclidean projection of ``c`` onto $\{x : |x_{i+1} - x_i| \le a\}$.

    Solves $\min_x \tfrac12 \|x - c\|^2$ s.t. $|x_{i+1} - x_i| \le a$ by dynamic
    programming in exact rational arithmetic.  With $F_0(y) = \tfrac12 (y - c_0)^2$,
    $G_i(y) = \min_{|x - y| \le a} F_i(x)$ and $F_{i+1} = G_i + \tfrac12(\cdot - c_{i+1})^2$,
    the optimal value is $\min F_{K-1}$.  Each $F_i$ is strictly convex with a continuous
    piecewise-linear increasing derivative, stored exactly as pieces
    ``(start, end, slope, intercept)``; if $m_i = \arg\min F_i$ then
    $G_i'(y) = F_i'(y + a)$ for $y < m_i - a$, $0$ on $[m_i - a, m_i + a]$,
    $F_i'(y - a)$ for $y > m_i + a$.  Backward pass: $x_{K-1} = m_{K-1}$,
    $x_i = \mathrm{clip}(m_i, x_{i+1} - a, x_{i+1} + a)$ (the minimiser of a strictly
    convex function over an interval).  Exact arithmetic makes the result the exact
    optimum; :func:`kkt_residual_exact` re-checks it independently.

    Args:
        c: the coefficients (doubles or Fractions).
        a: the bound (a non-negative Fraction).

    Returns:
        The projection as exact Fractions.

    Examples:
        >>> [str(v) for v in project_chain_exact([0.0, 2.0], Fraction(1))]
        ['1/2', '3/2']
    """
    cf = [_fr(v) for v in c]
    if a < 0:
        raise InputError(f"bound a={a} must be >= 0")
    # derivative of F_0: y - c0 on (-inf, inf)
    pieces: list[list[Any]] = [[None, None, 1, -cf[0]]]  # start, end (None = infinite)
    mins: list[Fraction] = []
    for i in range(len(cf)):
        if i > 0:
            m = mins[-1]
            new: list[list[Any]] = []
            for st, en, s, b in pieces:
                # left part (x < m) -> shifted by -a: derivative F'(y + a)
                if st is None or st < m:
                    e2 = m if en is None or en > m else en
                    new.append([None if st is None else st - a, e2 - a, s, b + s * a])
            new.append([m - a, m + a, 0, Fraction(0)])
            for st, en, s, b in pieces:
                if en is None or en > m:
                    s2 = m if st is None or st < m else st
                    new.append([s2 + a, None if en is None else en + a, s, b - s * a])
            # add the quadratic term of c_i
            pieces = [[st, en, s + 1, b - cf[i]] for st, en, s, b in new
                      if st is None or en is None or st < en]
        # root of the (strictly increasing) derivative
        root = None
        for st, en, s, b in pieces:
            r = -b / s
            if (st is None or r >= st) and (en is None or r <= en):
                root = r
                break
        assert root is not None, "derivative of a strictly convex function has a root"
        mins.append(root)
    x = [Fraction(0)] * len(cf)
    x[-1] = mins[-1]
    for i in range(len(cf) - 2, -1, -1):
        x[i] = min(max(mins[i], x[i + 1] - a), x[i + 1] + a)
    return x


def _project_chain_float(c: np.ndarray, a: float) -> np.ndarray:
    """The dynamic programme of :func:`project_chain_exact` in float64, vectorised over
    the pieces (an approximation used only to guess the active constraints)."""
    K = c.size
    st = np.array([-np.inf])
    en = np.array([np.inf])
    s = np.array([1.0])
    b = np.array([-c[0]])
    mins = np.empty(K)
    for i in range(K):
        if i > 0:
            m = mins[i - 1]
            left = st < m
            right = en > m
            lst, len_ = st[left] - a, np.minimum(en[left], m) - a
            rst, ren = np.maximum(st[right], m) + a, en[right] + a
            st = np.concatenate([lst, [m - a], rst])
            en = np.concatenate([len_, [m + a], ren])
            b = np.concatenate([b[left] + s[left] * a, [0.0], b[right] - s[right] * a])
            s = np.concatenate([s[left], [0.0], s[right]])
            keep = st < en
            st, en, s, b = st[keep], en[keep], s[keep] + 1.0, b[keep] - c[i]
        # value of the derivative at the piece ends decides where the root is
        vals = s * np.where(np.isfinite(en), en, 0.0) + b
        k = int(np.argmax((vals >= 0) | ~np.isfinite(en)))
        mins[i] = -b[k] / s[k]
    x = np.empty(K)
    x[-1] = mins[-1]
    for i in range(K - 2, -1, -1):
        x[i] = min(max(mins[i], x[i + 1] - a), x[i + 1] + a)
    return x


def _solve_active_set(cf: list[Fraction], signs: list[int], a: Fraction) -> list[Fraction]:
    r"""Exact minimiser of $\|x - c\|^2$ with $x_{i+1} - x_i = \mathrm{sign}_i\, a$ on
    the constraints with a non-zero sign (blocks of linked coordinates; each block's
    level is the mean of $c_j - \mathrm{offset}_j$)."""
    x: list[Fraction] = []
    start = 0
    K = len(cf)
    while start < K:
        end = start
        offs = [Fraction(0)]
        while end < K - 1 and signs[end] != 0:
            offs.append(offs[-1] + signs[end] * a)
            end += 1
        level = sum((cf[j] - offs[j - start] for j in range(start, end + 1)),
                    Fraction(0)) / (end - start + 1)
        x += [level + o for o in offs]
        start = end + 1
    return x


def project_chain(c: Sequence[Any], a: Fraction) -> list[Fraction]:
    """Exact projection, fast path: guess the active set with the float64 programme,
    solve the equality-constrained problem exactly and accept it iff the exact KKT
    conditions hold (:func:`kkt_residual_exact` — a proof of optimality); otherwise
    fall back to :func:`project_chain_exact`."""
    cf = [_fr(v) for v in c]
    arr = np.array([float(v) for v in cf])
    af = float(a)
    if np.all(np.isfinite(arr)) and len(cf) > 1:
        xf = _project_chain_float(arr, af)
        tol = 1e-9 * (af + float(np.max(np.abs(arr))) + 1e-300)
        d = np.diff(xf)
        signs = [1 if di >= af - tol else -1 if di <= -af + tol else 0 for di in d]
        x = _solve_active_set(cf, signs, a)
        if kkt_residual_exact(cf, x, a)["optimal"]:
            return x
    return project_chain_exact(cf, a)


def kkt_residual_exact(c: Sequence[Any], x: Sequence[Fraction], a: Fraction) -> dict[str, Any]:
    r"""Check the KKT conditions of the projection exactly.

    $x$ is the projection of $c$ onto $\{|x_{i+1} - x_i| \le a\}$ iff (convex problem,
    linear constraints) there are multipliers $\lambda$ with $c - x = D^\top \lambda$,
    which forces $\lambda_i = \sum_{j \le i} (x_j - c_j)$ and $\sum_j (x_j - c_j) = 0$,
    and $\lambda_i > 0 \Rightarrow x_{i+1} - x_i = a$,
    $\lambda_i < 0 \Rightarrow x_{i+1} - x_i = -a$, plus feasibility.

    Returns:
        ``{"feasible", "stationary", "complementary", "optimal"}`` booleans (exact).
    """
    cf = [_fr(v) for v in c]
    feasible = all(abs(x1 - x0) <= a for x0, x1 in zip(x, x[1:], strict=False))
    lam = []
    acc = Fraction(0)
    for xi, ci in zip(x, cf, strict=False):
        acc += xi - ci
        lam.append(acc)
    stationary = lam[-1] == 0
    comp = all((li == 0) or (li > 0 and x[i + 1] - x[i] == a) or
               (li < 0 and x[i + 1] - x[i] == -a) for i, li in enumerate(lam[:-1]))
    return {"feasible": feasible, "stationary": stationary, "complementary": comp,
            "optimal": feasible and stationary and comp}


def round_feasible(x: Sequence[Fraction], a: Fraction) -> np.ndarray:
    r"""Round an exactly feasible chain ($|x_{i+1} - x_i| \le a$) to doubles that are
    still feasible, verified exactly.

    Left to right: $\hat x_0 = \mathrm{fl}(x_0)$; $\hat x_{i+1}$ is the double nearest
    to $x_{i+1}$ if it satisfies $|\hat x_{i+1} - \hat x_i| \le a$ exactly, otherwise
    the next doubles towards $\hat x_i$ are tried (finitely many: $\hat x_i$ itself is
    feasible).  Each entry moves by a few ulps at most.
    """
    out = np.array([float(q) for q in x])
    # fast sufficient test: fl(|d|) <= a_lo (1 - 2u) implies |d| <= a exactly
    a_safe = _frac_to_float(a, False) * (1 - 2.0**-51)
    for i in range(1, out.size):
        if abs(out[i] - out[i - 1]) <= a_safe:
            continue
        prev = Fraction(float(out[i - 1]))
        f = float(out[i])
        while abs(Fraction(f) - prev) > a:
            f = math.nextafter(f, out[i - 1])
        out[i] = f
    return out


def _apply(coefficients: Any, grid: Any, lipschitz: Any, chain: Any) -> np.ndarray:
    c, shared, lo, hi, L = _check_constraint_args(coefficients, grid, lipschitz)
    a = _bound_a(lo, hi, c.shape[1], L)
    out = np.stack([round_feasible(chain(row, a), a) for row in c])
    return out[0] if shared else out


def clip_slopes(coefficients: Any, grid: Any, lipschitz: Any = 1.0, *,
                exact: bool = True) -> np.ndarray:
    r"""The paper's slope-constraining map: clip slopes to $[-L, L]$, rebuild by
    cumulative sum, keep the mean of the coefficients.

    Args:
        coefficients: ``(neurons, K)`` or ``(K,)``.
        grid: ``R`` or ``[a, b]``.
        lipschitz: $L \ge 0$ (float, or an exact decimal string such as ``"1"``).
        exact: ``True`` (default): the map in exact rational arithmetic, rounded to
            doubles with :func:`round_feasible` — the result's certified max slope is
            $\le L$ (the mean is kept up to a few ulps).  ``False``: the paper's
            float64 recipe verbatim (``clip(diff, -L T, L T)``, ``cumsum``, mean shift);
            its max slope can exceed $L$ by rounding errors
            (:func:`certify_max_slope` will say so).

    Returns:
        Float64 coefficients of the same shape.

    Examples:
        >>> clip_slopes([0.0, 4.0, 4.0], 1.0).tolist()   # T = 1: slope 4 -> 1, same mean
        [2.0, 3.0, 3.0]
    """
    if exact:
        return _apply(coefficients, grid, lipschitz, clip_chain_exact)
    c, shared, lo, hi, L = _check_constraint_args(coefficients, grid, lipschitz)
    T = (hi - lo) / (c.shape[1] - 1)
    lt = float(L) * T
    d = np.clip(np.diff(c, axis=1), -lt, lt)
    new = np.concatenate([np.zeros((c.shape[0], 1)), np.cumsum(d, axis=1)], axis=1)
    new = new + (c - new).mean(axis=1, keepdims=True)
    return new[0] if shared else new


def project_slopes(coefficients: Any, grid: Any, lipschitz: Any = 1.0) -> np.ndarray:
    r"""Euclidean projection of each neuron's coefficients onto $\{\max_i |s_i| \le L\}$.

    The exact projection (:func:`project_chain_exact`, exact rationals) rounded to
    doubles with :func:`round_feasible`: the result's certified max slope is $\le L$
    and each entry is within a few ulps of the exact projection.  Never farther from
    the input than :func:`clip_slopes` (up to those ulps): the paper's map is feasible.

    Examples:
        >>> [round(float(v), 12) for v in project_slopes([0.0, 4.0, 4.0], 1.0)]  # T = 1
        [1.666666666667, 2.666666666667, 3.666666666667]
    """
    return _apply(coefficients, grid, lipschitz, project_chain)


def certify_max_slope(coefficients: Any, grid: Any) -> list[Enclosure]:
    """Per neuron, the enclosure of $\\max_i |s_i|$ of coefficients on a grid (exact
    rational, rounded outward); see :meth:`LinearSpline.certify_max_slope`."""
    return LinearSpline(coefficients, grid).certify_max_slope()


# ----------------------------------------------------------------------------------
# model files: <i>.coefficients and <i>.grid (hooks used by symlip.models.io)
# ----------------------------------------------------------------------------------

#: module kind for :data:`symlip.models.io.MODULE_KINDS`: required and optional suffixes
SPLINE_SUFFIXES = (frozenset({"coefficients", "grid"}), frozenset())


def read_spline_modules(path: str, tensors: Any, groups: Any) -> dict[int, LinearSpline]:
    """The spline activation modules of a state dict, by Sequential index.

    ``<i>.coefficients``: shape ``(neurons, K)`` (or ``(K,)``: one spline shared by
    the layer), ``<i>.grid``: ``[R]`` or ``[a, b]``; float16/32/64.

    Raises:
        ModelFileError: bad shapes, dtypes, values (the tensor is named).
    """
    from symlip.errors import ModelFileError
    from symlip.models.network import check_real_array

    out: dict[int, LinearSpline] = {}
    for idx, group in groups:
        if set(group) != set(SPLINE_SUFFIXES[0]):
            continue
        ck, gk = group["coefficients"], group["grid"]
        for key in (ck, gk):
            arr = np.asarray(tensors[key])
            if not (arr.dtype.kind == "f" and arr.dtype.itemsize in (2, 4, 8)):
                raise ModelFileError(f"{path!r}: tensor {key!r} has unsupported dtype "
                                     f"{arr.dtype}; expected float16, float32 or float64")
        c = check_real_array(tensors[ck], f"{path!r}: tensor {ck!r}", ModelFileError)
        g = check_real_array(tensors[gk], f"{path!r}: tensor {gk!r}", ModelFileError)
        if c.ndim not in (1, 2) or c.shape[-1] < 2 or 0 in c.shape:
            raise ModelFileError(f"{path!r}: tensor {ck!r} has shape {tuple(c.shape)}; "
                                 "expected (neurons, K) or (K,) with K >= 2")
        if g.ndim != 1 or g.size not in (1, 2):
            raise ModelFileError(f"{path!r}: tensor {gk!r} has shape {tuple(g.shape)}; "
                                 "expected [R] or [a, b]")
        try:
            out[idx] = LinearSpline(c, g, name=f"spline[{idx}]")
        except InputError as exc:
            raise ModelFileError(f"{path!r}: module {idx}: {exc}") from None
    return out


def splines_for_layers(path: str, layers: Sequence[Any], splines: dict[int, LinearSpline]
                       ) -> list[LinearSpline]:
    """One spline per hidden layer: the spline module between Linear ``i`` and ``j`` is
    the one whose index lies strictly between them (exactly one must).

    Raises:
        ModelFileError: a gap with no or several splines, a spline after the read-out,
            a spline whose neuron count differs from the layer width.
    """
    from symlip.errors import ModelFileError

    idx = [int(layer.name) for layer in layers]
    used: set[int] = set()
    out = []
    for k in range(len(layers) - 1):
        inside = [i for i in splines if idx[k] < i < idx[k + 1]]
        if len(inside) != 1:
            what = "no" if not inside else f"{len(inside)}"
            raise ModelFileError(
                f"{path!r}: {what} spline module(s) between Linear modules {idx[k]} and "
                f"{idx[k + 1]}; a spline network needs exactly one after each hidden layer"
            )
        s = splines[inside[0]]
        width = layers[k].shape[0]
        if not s.shared and s.neurons != width:
            raise ModelFileError(
                f"{path!r}: tensor '{inside[0]}.coefficients' has {s.neurons} rows but "
                f"Linear module {idx[k]} has {width} outputs"
            )
        used.add(inside[0])
        out.append(s)
    extra = sorted(set(splines) - used)
    if extra:
        raise ModelFileError(f"{path!r}: spline module(s) {extra} are not between two Linear "
                             "modules (symlip networks end with a linear read-out)")
    return out


def spline_state(net: Any, keys: Sequence[str]) -> tuple[list[str], dict[str, np.ndarray]] | None:
    """Keys and spline tensors for saving ``net``; ``None`` if it has no spline.

    Linear layers keep their integer names when consecutive names leave room for the
    spline index between them (else ``0, 2, 4, ...``); the spline after Linear ``i`` is
    stored at index ``i + 1``.

    Raises:
        InputError: splines mixed with registry activations (not supported in files).
    """
    acts = list(net.activations)
    if not any(isinstance(a, LinearSpline) for a in acts):
        return None
    if not all(isinstance(a, LinearSpline) for a in acts):
        raise InputError("a model file can hold spline activations only for every hidden "
                         "layer, not mixed with registry activations")
    ints = [int(k) for k in keys]
    if any(b - a < 2 for a, b in zip(ints, ints[1:], strict=False)):
        keys = [str(2 * k) for k in range(len(keys))]
        ints = [int(k) for k in keys]
    tensors: dict[str, np.ndarray] = {}
    for k, a in enumerate(acts):
        i = ints[k] + 1
        coeff = a.coefficients[0] if a.shared else a.coefficients
        tensors[f"{i}.coefficients"] = np.ascontiguousarray(coeff, dtype=np.float64)
        tensors[f"{i}.grid"] = np.ascontiguousarray(a.grid_array(), dtype=np.float64)
    return list(keys), tensors


def spline_network(weights: Sequence[Any], biases: Sequence[Any],
                   coefficients: Sequence[Any], grid: Any = None, *,
                   grids: Sequence[Any] | None = None) -> Any:
    """A :class:`~symlip.models.network.Network` with one :class:`LinearSpline` per hidden layer.

    Args:
        weights, biases: as for :meth:`Network.from_arrays`.
        coefficients: one array ``(n_k, K)`` (or ``(K,)``) per hidden layer.
        grid: ``R`` or ``[a, b]`` for every spline.
        grids: alternatively one grid per hidden layer.

    Examples:
        >>> net = spline_network([[[1.0]], [[1.0]]], [[0.0], [0.0]], [[[0.0, 0.0, 1.0]]], 1.0)
        >>> net.forward([[-1.0], [2.0]]).ravel().tolist()
        [0.0, 2.0]
    """
    from symlip.models.network import Network

    coefficients = list(coefficients)
    if grids is None:
        grids = [grid] * len(coefficients)
    elif len(grids) != len(coefficients):
        raise InputError(f"{len(grids)} grids for {len(coefficients)} spline layers")
    acts = [LinearSpline(c, g, name=f"spline[{2 * k + 1}]")
            for k, (c, g) in enumerate(zip(coefficients, grids, strict=False))]
    return Network.from_arrays(weights, biases, acts if acts else None)
