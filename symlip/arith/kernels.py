r"""Rigorous vectorised kernels for elementary functions on float64 interval arrays.

Every public kernel takes the endpoint arrays ``lo, hi`` of intervals $[lo, hi]$ and
returns endpoint arrays ``(LO, HI)`` with

$$ LO \le f(t) \le HI \quad\text{for every real } t \in [lo, hi] $$

(an *enclosure*, rounded outward).  No NumPy transcendental function is used: NumPy's
``exp``/``tanh``/``log`` carry no accuracy guarantee.  The kernels use only the IEEE 754
operations that are correctly rounded (``+ - * /``), exact operations (``ldexp``,
``frexp``, ``rint``, comparisons, integer arithmetic), and ``nextafter``.

How a point value is made rigorous (the same three steps for every kernel):

1. *Reduction* (exact or with a proved error, by hand, see each kernel): e.g.
   $x = n \ln 2/128 + \rho$.
2. *Core*: a short straight-line program of ``+ - * /`` on doubles (a Taylor polynomial
   by Horner's rule, a quotient).  Its rounding error is bounded **mechanically**: the
   very same Python function is run once on :class:`_Err` objects, an abstract
   arithmetic that propagates, in exact rational arithmetic, an enclosure of the exact
   value and a bound $|\hat c - c| \le R|c| + A$ through the IEEE model
   $\mathrm{fl}(a \circ b) = (a \circ b)(1 + \delta) + \eta$, $|\delta| \le u = 2^{-53}$,
   $|\eta| \le 2^{-1075}$ ($\eta = 0$ for $\pm$).  The mathematical truncation error
   (Lagrange / alternating / Cauchy remainder) is added on top.  The result is one
   constant per kernel: a relative error bound $E$ with $|f - y| \le E|f| + A$.
3. *Widening*: with $D \ge (E' + u)/(1 - u)$, $E' = E/(1-E)$, a multiple of $2^{-52}$,
   ``fl(y * (1 - D)) <= f <= fl(y * (1 + D))`` (for $y > 0$; mirrored for $y < 0$)
   because a round-to-nearest product is within a factor $1 \pm u$ of the exact one.
   Results below $2^{-960}$ in magnitude (where the absolute floor $A$ matters and
   products may be subnormal) are widened further by $A$ and one ``nextafter``.

Monotone functions map $[lo, hi]$ to $[f(lo)^-, f(hi)^+]$, so only endpoint values are
needed.  See ``docs/intervals.md`` for the derivations and the bounds obtained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np
from mpmath import iv

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import make_mpf, mpf_to_fraction, working_precision
from symlip.arith.mpfuncs import iv_atan, iv_erf, iv_exp, iv_log, widen

__all__ = [
    "softmax_box",
    "KERNEL_BOUNDS",
    "atan",
    "cosh",
    "erf",
    "erfc",
    "exp",
    "log",
    "log1p_exp",
    "sigmoid",
    "sinh",
    "tanh",
]

U = Fraction(1, 2**53)  # unit roundoff of binary64, round to nearest
ETA = Fraction(1, 2**1075)  # half the smallest subnormal: underflow error of * and /
_TINY = 2.0**-1000  # below this |y|, the absolute error floor is applied explicitly
_DBL_MAX = float(np.finfo(np.float64).max)
_INF = np.inf


# ----------------------------------------------------------------------------------
# exact rational helpers (used at table-building time only)
# ----------------------------------------------------------------------------------


def _F(x: float) -> Fraction:
    """The double ``x`` as an exact Fraction."""
    return Fraction(float(x))


def _round_frac(q: Fraction, up: bool, bits: int = 80) -> Fraction:
    """Round ``q`` to ``bits`` significant bits, up or down (keeps Fractions small)."""
    if q == 0:
        return q
    n, d = q.numerator, q.denominator
    e = n.bit_length() - d.bit_length() if n > 0 else (-n).bit_length() - d.bit_length()
    shift = bits - e
    scaled = q * (Fraction(2) ** shift)
    m = math.ceil(scaled) if up else math.floor(scaled)
    return Fraction(m) / (Fraction(2) ** shift)


def _ru(q: Fraction) -> Fraction:
    return _round_frac(Fraction(q), True)


def _rd(q: Fraction) -> Fraction:
    return _round_frac(Fraction(q), False)


def _iv_fracs(x: Any) -> tuple[Fraction, Fraction]:
    """Exact endpoints of an ``mpmath.iv`` interval as Fractions."""
    lo, hi = x._mpi_
    return mpf_to_fraction(make_mpf(lo)), mpf_to_fraction(make_mpf(hi))


def _exp_up(a: Fraction) -> Fraction:
    """A rational upper bound of e^a for 0 <= a <= 1 (e^a <= 1 + a + a^2)."""
    assert 0 <= a <= 1
    return 1 + a + a * a


# ----------------------------------------------------------------------------------
# the abstract arithmetic that bounds rounding errors of a core program
# ----------------------------------------------------------------------------------


class _Err:
    r"""A quantity of a floating-point program, for mechanical error analysis.

    ``[lo, hi]`` encloses the *exact* value $c$ (the program run in real arithmetic on
    the true inputs) over the whole input domain, and the computed double $\hat c$
    satisfies $|\hat c - c| \le R|c| + A$.  Arithmetic with other ``_Err`` objects or
    floats (exact constants) applies the IEEE 754 model of round to nearest:
    $\mathrm{fl}(a \circ b) = (a \circ b)(1+\delta) + \eta$, $|\delta| \le u$,
    $|\eta| \le 2^{-1075}$ for ``*``/``/`` and $\eta = 0$ for ``+``/``-``.
    All bounds are rational, rounded outward.
    """
    __slots__ = ("lo", "hi", "R", "A")

    def __init__(self, lo: Fraction, hi: Fraction, R: Fraction = Fraction(0),
                 A: Fraction = Fraction(0)) -> None:
        if lo > hi:
            raise ValueError(f"bad range [{lo}, {hi}]")
        self.lo, self.hi = _rd(lo), _ru(hi)
        self.R, self.A = _ru(R), _ru(A)

    @classmethod
    def const(cls, v: float, true: Any = None) -> _Err:
        """The double ``v`` standing for the real ``true`` (a Fraction or an enclosure
        ``(lo, hi)``); its error is |v - true|."""
        fv = _F(v)
        if true is None:
            return cls(fv, fv)
        tlo, thi = (true, true) if isinstance(true, Fraction) else true
        return cls(tlo, thi, Fraction(0), max(abs(fv - tlo), abs(thi - fv)))

    @staticmethod
    def _wrap(o: Any) -> _Err:
        if isinstance(o, _Err):
            return o
        return _Err.const(float(o))

    @property
    def mag(self) -> Fraction:
        return max(abs(self.lo), abs(self.hi))

    @property
    def min_abs(self) -> Fraction:
        if self.lo <= 0 <= self.hi:
            return Fraction(0)
        return min(abs(self.lo), abs(self.hi))

    def _rounded(self, lo: Fraction, hi: Fraction, R: Fraction, A: Fraction,
                 eta: Fraction) -> _Err:
        # |fl(c^) - c^| <= u |c^| + eta and |c^| <= |c| (1 + R) + A
        return _Err(lo, hi, R + U * (1 + R), A * (1 + U) + eta)

    def __neg__(self) -> _Err:
        return _Err(-self.hi, -self.lo, self.R, self.A)

    def __add__(self, o: Any) -> _Err:
        a, b = self, self._wrap(o)
        for z, other in ((a, b), (b, a)):
            if z.lo == z.hi == 0 and z.R == 0 and z.A == 0:
                return other  # fl(0 + v) = v exactly
        lo, hi = a.lo + b.lo, a.hi + b.hi
        if (a.lo >= 0 and b.lo >= 0) or (a.hi <= 0 and b.hi <= 0):
            # same sign: |a| + |b| = |a + b|, so the relative errors average with weights
            # |a|/|a+b| <= a.mag/(a.mag + b.min_abs) (and likewise for b)
            wa = a.mag / (a.mag + b.min_abs) if a.mag else Fraction(0)
            wb = b.mag / (b.mag + a.min_abs) if b.mag else Fraction(0)
            R, A = min(max(a.R, b.R), a.R * wa + b.R * wb), a.A + b.A
        elif b.mag < a.min_abs or a.mag < b.min_abs:
            big, small = (a, b) if b.mag < a.min_abs else (b, a)
            beta = small.mag / big.min_abs  # |small| <= beta |big|, |big| <= |a+b|/(1-beta)
            R, A = (big.R + small.R * beta) / (1 - beta), a.A + b.A
        else:  # cancellation possible: absolute error only
            R, A = Fraction(0), a.R * a.mag + b.R * b.mag + a.A + b.A
        return self._rounded(lo, hi, R, A, Fraction(0))

    __radd__ = __add__

    def __sub__(self, o: Any) -> _Err:
        return self + (-self._wrap(o))

    def __rsub__(self, o: Any) -> _Err:
        return self._wrap(o) + (-self)

    def __mul__(self, o: Any) -> _Err:
        a, b = self, self._wrap(o)
        ps = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        R = a.R + b.R + a.R * b.R
        A = b.A * a.mag * (1 + a.R) + a.A * b.mag * (1 + b.R) + a.A * b.A
        return self._rounded(min(ps), max(ps), R, A, ETA)

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> _Err:
        a, b = self, self._wrap(o)
        bmin = b.min_abs
        if bmin == 0:
            raise ZeroDivisionError("divisor range contains 0")
        kappa = 1 - b.R - b.A / bmin
        if kappa <= 0:
            raise ZeroDivisionError("divisor error too large")
        qs = [a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi]
        R = (a.R + b.R + b.A / bmin) / kappa
        A = a.A / (bmin * kappa)
        return self._rounded(min(qs), max(qs), R, A, ETA)

    def __rtruediv__(self, o: Any) -> _Err:
        return self._wrap(o) / self

    def relative(self, trunc_abs: Fraction, f_min: Fraction) -> Fraction:
        """Relative error bound w.r.t. a true value f with |f| >= f_min > 0 when the
        exact program value I differs from f by at most ``trunc_abs``:
        |y - f| <= R|I| + A + t <= R|f| + (A + t(1 + R))."""
        return _ru(self.R + (self.A + trunc_abs * (1 + self.R)) / f_min)


def _rel_xaw(w: _Err, a_dbl: float = 1.0, a_true: Any = None) -> tuple[Fraction, Fraction]:
    r"""Error of $y = \mathrm{fl}(\mathrm{fl}(x a) + \mathrm{fl}(x \hat w))$ relative to
    $x(a^* + w)$, for an exact double $x$ (``fl(x * 1.0) = x``).

    With $|\hat w - w| \le R_w|w| + A_w$, $|w| \le W$, $\hat W = W(1+R_w) + A_w$:
    $|y - x(a^*+w)| \le |x|\,[\epsilon_a + |a|\delta_1 + R_wW + A_w + u\hat W +
    u(|a|(1+\delta_1) + \hat W(1+u))] + 2\eta(1+u)$, $\delta_1 = 0$ if $a = 1$ else $u$,
    and $|x(a^* + w)| \ge |x|(a^*_{min} - W)$.  Returns (R, A).
    """
    W = w.mag
    Wc = W * (1 + w.R) + w.A
    a = _F(a_dbl)
    if a_true is None:
        ea, a_min = Fraction(0), a
    else:
        ea = max(abs(a - a_true[0]), abs(a_true[1] - a))
        a_min = a_true[0]
    d1 = Fraction(0) if a_dbl == 1.0 else U
    num = ea + a * d1 + (w.R * W + w.A) + Wc * U + U * (a * (1 + d1) + Wc * (1 + U))
    if a_min <= W:
        raise ValueError("a* + w may vanish")
    return _ru(num / (a_min - W)), _ru(2 * ETA * (1 + U))


# ----------------------------------------------------------------------------------
# widening a point approximation into an enclosure
# ----------------------------------------------------------------------------------


def _widen_D(R: Fraction, A: Fraction = Fraction(0)) -> float:
    """D (a multiple of 2^-52) such that fl(y(1-D)) <= f <= fl(y(1+D)) for y > 0 when
    |f - y| <= R|f| + A and |y| >= _TINY (mirrored for y < 0)."""
    R, A = Fraction(R), Fraction(A)
    assert R < Fraction(1, 2**20), R
    e1 = (R + A / _F(_TINY)) / (1 - R)  # |f - y| <= e1 |y|
    need = (e1 + U) / (1 - U)
    m = math.ceil(need * 2**52)
    return m * 2.0**-52


def _abs_floor(R: Fraction, A: Fraction) -> float:
    """A double >= A/(1-R) + 2^-1074 (absolute widening for |y| < _TINY)."""
    return float(_ru(Fraction(A) / (1 - Fraction(R)) + Fraction(1, 2**1074))) * (1 + 2**-50)


def _enclose_point(y: np.ndarray, D: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure [lo, hi] of f at each point from its approximation y (see _widen_D)."""
    s = np.sign(y) * D
    lo = y * (1.0 - s)
    hi = y * (1.0 + s)
    ay = np.abs(y)
    tiny = ay < _TINY
    if tiny.any():
        lo[tiny] = np.nextafter(lo[tiny] - floor, -_INF)
        hi[tiny] = np.nextafter(hi[tiny] + floor, _INF)
    return lo, hi


_CHUNK = 1 << 13  # elements per block: temporaries stay in cache, below malloc mmap size


def _chunked(point: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
             x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a point-enclosure function block by block (same results, faster)."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.ravel()
    n = flat.size
    if n <= _CHUNK:
        a, b = point(flat)
        return a.reshape(x.shape), b.reshape(x.shape)
    lo = np.empty(n)
    hi = np.empty(n)
    for i in range(0, n, _CHUNK):
        a, b = point(flat[i:i + _CHUNK])
        lo[i:i + _CHUNK] = a
        hi[i:i + _CHUNK] = b
    return lo.reshape(x.shape), hi.reshape(x.shape)


def _point_or_two(lo: np.ndarray, hi: np.ndarray,
                  point: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                  increasing: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of a monotone f on [lo, hi] from point enclosures at the endpoints."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    lo, hi = np.broadcast_arrays(lo, hi)
    if lo is hi or np.array_equal(lo, hi):
        return _chunked(point, lo)
    alo, ahi = _chunked(point, lo)
    blo, bhi = _chunked(point, hi)
    return (alo, bhi) if increasing else (blo, ahi)


def _split(mask: np.ndarray, x: np.ndarray,
           f_true: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
           f_false: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate f_true where mask holds and f_false elsewhere, each on its subset only."""
    if mask.all():
        return f_true(x)
    if not mask.any():
        return f_false(x)
    lo = np.empty_like(x)
    hi = np.empty_like(x)
    a, b = f_true(x[mask])
    lo[mask], hi[mask] = a, b
    nm = ~mask
    a, b = f_false(x[nm])
    lo[nm], hi[nm] = a, b
    return lo, hi


def _w_poly(s: Any, a: list[Any]) -> Any:
    """w = s * (a[0] + a[1] s + a[2] s^2 + ...), Horner's rule."""
    p = a[-1]
    for c in reversed(a[:-1]):
        p = p * s + c
    return s * p


def _small_odd(x: Any, a0: float, a: list[Any]) -> Any:
    """x * (a0 + s P(s)), s = x^2, computed as fl(fl(x a0) + fl(x w)); fl(x * 1) = x."""
    w = _w_poly(x * x, a)
    return (x if a0 == 1.0 else x * a0) + x * w


def _small_odd_bound(x0: Fraction, a0: tuple[Fraction, Fraction],
                     a: list[tuple[Fraction, Fraction]], trunc_rel: Fraction
                     ) -> tuple[float, list[float], Fraction, Fraction]:
    """Doubles for the coefficients and the proved (R, A) of :func:`_small_odd` on
    [0, x0], for an odd series whose partial sum differs from f by <= trunc_rel |f|."""
    a0d = float((a0[0] + a0[1]) / 2)
    ad = [float((lo + hi) / 2) for lo, hi in a]
    x = _Err(Fraction(0), x0)
    w = _w_poly(x * x, [_Err.const(d, t) for d, t in zip(ad, a, strict=True)])
    R, A = _rel_xaw(w, a0d, None if a0[0] == a0[1] == _F(a0d) else a0)
    return a0d, ad, _ru(R * (1 + trunc_rel) + trunc_rel), A


#: Proved relative error bounds E (|f - y| <= E|f| before widening) and widening factors
#: D of each kernel, filled in when a kernel's tables are built.  For the report/docs.
KERNEL_BOUNDS: dict[str, dict[str, float]] = {}


def _record(name: str, R: Fraction, D: float) -> None:
    KERNEL_BOUNDS[name] = {"E_over_u": float(R / U), "D_over_u": D / 2.0**-53}


# ----------------------------------------------------------------------------------
# exp
# ----------------------------------------------------------------------------------


def _exp_core(r: Any, T: Any, K: Any) -> Any:
    """T * (1 + r + r^2/2 + ... + r^5/120), written as T + T*q to keep q's error small."""
    s = K.c5 * r + K.c4
    s = s * r + K.c3
    s = s * r + K.c2
    s = s * r + 1.0
    q = s * r
    return T + T * q


@cache
def _exp_tables() -> SimpleNamespace:
    r"""Tables and the proved error constant of the exp kernel.

    Reduction: $n = \mathrm{rint}(\mathrm{fl}(x \cdot C))$, $C = \mathrm{fl}(128/\ln 2)$,
    $n = 128k + j$, $0 \le j < 128$; $\rho = x - n\ln 2/128$, so
    $e^x = 2^k\, 2^{j/128} e^{\rho}$.  $\ln 2/128 = L_1 + L_2 + L_3$ with $L_1$ of 32
    significant bits, so $n L_1$ is exact for $|n| < 2^{21}$; $r = \mathrm{fl}(
    \mathrm{fl}(x - nL_1) - \mathrm{fl}(nL_2))$ and $|r - \rho| \le \Delta_r$ (below).
    Core: $T_j(1 + q(r))$, $q$ the degree-5 Taylor polynomial of $e^r - 1$; Lagrange
    remainder $|\rho|^6/720\, e^{|\rho|}$.  $2^k$ is applied exactly (a product with the
    double $2^k$ when the result is normal, else ``ldexp`` and one ``nextafter``).
    """
    # mpmath's iv.exp / iv.log round in the requested direction from a guard-bit
    # approximation and can miss by an ulp: use the widened wrappers (see widen)
    with working_precision(200):
        ln2 = _iv_fracs(iv_log(iv.mpf(2)))
        l128 = (ln2[0] / 128, ln2[1] / 128)
        inv = (128 / ln2[1], 128 / ln2[0])
        tab_true = [_iv_fracs(iv_exp(iv_log(iv.mpf(2)) * j / 128)) for j in range(128)]
    C = float(inv[0])
    # L1: ln2/128 truncated to 32 significant bits
    m, e = math.frexp(float(l128[0]))
    L1 = math.ldexp(math.floor(m * 2**32), e - 32)
    L2 = float(l128[0] - _F(L1))
    L3 = max(abs(l128[0] - _F(L1) - _F(L2)), abs(l128[1] - _F(L1) - _F(L2)))
    T = np.array([float((a + b) / 2) for a, b in tab_true])
    xmax = Fraction(746)
    # |x C/... - n| <= 1/2 + |x| (|C - 128/ln2| + u C)
    cerr = max(abs(_F(C) - inv[0]), abs(_F(C) - inv[1]))
    frac_dev = Fraction(1, 2) + xmax * (cerr + U * _F(C) * 2)
    rho = _ru(frac_dev * l128[1])
    nmax = math.ceil(xmax * inv[1] + 1)
    assert nmax < 2**21
    B1 = rho + nmax * (abs(_F(L2)) + L3)  # |x - n L1|
    dr = _ru(nmax * L3 + 3 * U * (1 + U) * (B1 + nmax * abs(_F(L2))))
    coef = {f"c{i}": Fraction(1, math.factorial(i)) for i in range(2, 6)}
    Kf = SimpleNamespace(**{k: float(v) for k, v in coef.items()})
    Ke = SimpleNamespace(**{k: _Err.const(float(v), v) for k, v in coef.items()})
    worst = Fraction(0)
    trunc_rel = rho**6 / 720 * _exp_up(rho)
    for j in range(128):
        r = _Err(-rho, rho, Fraction(0), dr)
        Tj = _Err.const(float(T[j]), tab_true[j])
        y = _exp_core(r, Tj, Ke)
        f_min = tab_true[j][0] * (1 - rho)  # e^-rho >= 1 - rho
        # the exact program value is T_true * (Taylor poly at rho); e^rho - poly <= trunc
        rel = y.relative(tab_true[j][1] * trunc_rel, f_min)
        worst = max(worst, rel)
    D = _widen_D(worst)
    _record("exp", worst, D)
    return SimpleNamespace(C=C, L1=L1, L2=L2, T=T, K=Kf, R=worst, D=D, rho=rho, dr=dr)


def _exp_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y_m, k) with e^x ~ y_m 2^k, |e^x - y_m 2^k| <= R e^x; x finite in [-746, 710]."""
    t = _exp_tables()
    n = np.rint(x * t.C)
    r = (x - n * t.L1) - n * t.L2
    ni = n.astype(np.int64)
    j = ni & 127
    k = ni >> 7
    y = _exp_core(r, np.take(t.T, j), t.K)
    return y, k


def _pow2(k: np.ndarray) -> np.ndarray:
    """2.0**k for integer arrays with -1022 <= k <= 1023 (built from the bits; exact)."""
    return ((k + 1023) << 52).view(np.float64)


def _exp_point(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure [lo, hi] of e^x at each point x (any float64 incl. +-inf)."""
    t = _exp_tables()
    x = np.asarray(x, dtype=np.float64)
    xmin, xmax = (x.min(), x.max()) if x.size else (0.0, 0.0)
    extreme = xmin < -707.0 or xmax > 709.0
    xc = np.clip(x, -746.0, 710.0) if extreme else x
    y, k = _exp_parts(xc)
    lo = y * (1.0 - t.D)
    hi = y * (1.0 + t.D)
    if not extreme:  # -1022 < k < 1023: 2^k is a normal double, the products are exact
        scale = _pow2(k)
        return lo * scale, hi * scale
    with np.errstate(over="ignore"):
        lo = np.ldexp(lo, k)
        hi = np.ldexp(hi, k)
    if xmin < -707.0:  # results may be subnormal: ldexp rounded them to nearest
        sub = hi < 2.0**-1021
        lo[sub] = np.maximum(np.nextafter(lo[sub], -_INF), 0.0)
        hi[sub] = np.nextafter(hi[sub], _INF)
    if xmax > 709.0:
        np.minimum(lo, _DBL_MAX, out=lo)  # lo overflowed: e^x > lo_m 2^k > DBL_MAX
        hi[x > 709.78] = _INF
    return lo, hi


def exp(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of $e^t$ for $t \in [lo, hi]$ (increasing).

    Bound: before widening, $|y - e^x| \le E e^x$ with $E$ = ``KERNEL_BOUNDS['exp']``
    (about $1.1u$); results are rounded outward by $D$ and ``ldexp``; subnormal results
    get one more ``nextafter``; overflow gives ``[DBL_MAX, inf]``, underflow ``[0, 2^-1074]``.

    Examples:
        >>> import numpy as np
        >>> lo, hi = exp(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
        >>> bool(lo[0] <= 1.0 <= hi[0]) and bool(lo[1] < 2.718281828459045 < hi[1])
        True
    """
    return _point_or_two(lo, hi, _exp_point)


# ----------------------------------------------------------------------------------
# log and log1p
# ----------------------------------------------------------------------------------

def softmax_box(F: IntervalArray) -> IntervalArray:
    r"""Enclosure of $\mathrm{softmax}$ over a box of rows ``F`` (``(n, nN)``):
    $p_j = 1/\sum_i e^{f_i - f_j}$, each difference, exponential (:func:`exp`), sum and
    reciprocal outward rounded.  (Written as a sum of $e^{f_i - f_j} \le$ finite values,
    it cannot overflow where the naive $e^{f_j}/\sum_i e^{f_i}$ would.)"""
    n, nN = F.lo.shape
    los, his = [], []
    for j in range(nN):
        S = IntervalArray(np.zeros(n))
        for i in range(nN):
            d = F[:, i] - F[:, j]
            S = S + IntervalArray(*exp(d.lo, d.hi))
        pj = S.reciprocal()
        los.append(pj.lo), his.append(pj.hi)
    return IntervalArray(np.stack(los, axis=1), np.stack(his, axis=1))


def _log1p_w(z: Any, K: Any) -> Any:
    """w = z P(z), P = -1/2 + z/3 - ... + z^6/8 (log1p(z) ~ z + z w, degree 8)."""
    s = K.c8 * z + K.c7
    for c in (K.c6, K.c5, K.c4, K.c3, K.c2):
        s = s * z + c
    return s * z


def _log1p_core(z: Any, L: Any, K: Any) -> Any:
    """L + (z + z w): log(c_j) + log1p(z)."""
    w = _log1p_w(z, K)
    return L + (z + z * w)


_LOG_DEG = 8


@cache
def _log_tables() -> SimpleNamespace:
    r"""Tables and proved constants of the log kernels.

    log1p(v) for $v \in [-1/4, 1/2]$: $j = \mathrm{rint}(128v)$, $c_j = 1 + j/128$,
    $r = v - j/128$ (exact: Sterbenz), $z = \mathrm{fl}(r / c_j)$, $|z| \le 1/192$;
    $\log(1+v) = \log c_j + \log(1 + r/c_j)$; series $\sum (-1)^{i+1} z^i / i$ to degree 8,
    alternating with decreasing terms: remainder $\le |z|^9/9$.  For $j = 0$ the table
    value is exactly 0 and the bound is relative to $|\log(1+z)| \ge |z|(1 - |z|/2)$.
    log(x): $x = m 2^e$ with $m \in [3/4, 3/2)$ (``frexp``, exact), $\log x = e L_1 +
    (e L_2 + \operatorname{log1p}(m - 1))$ with $L_1$ of 40 bits ($eL_1$ exact).
    """
    js = range(-32, 65)
    with working_precision(200):  # widened iv.log (see symlip.arith.mpfuncs.widen)
        ltrue = {j: _iv_fracs(iv_log(1 + iv.mpf(j) / 128)) for j in js}
        ln2 = _iv_fracs(iv_log(iv.mpf(2)))
    Ltab = np.array([float((ltrue[j][0] + ltrue[j][1]) / 2) for j in js])
    coef = {f"c{i}": Fraction((-1) ** (i + 1), i) for i in range(2, _LOG_DEG + 1)}
    Kf = SimpleNamespace(**{k: float(v) for k, v in coef.items()})
    Ke = SimpleNamespace(**{k: _Err.const(float(v), v) for k, v in coef.items()})
    zmax = _ru(Fraction(1, 256) / Fraction(3, 4) * (1 + 2 * U))  # |r/c_j| (1 + u)
    trunc = zmax ** (_LOG_DEG + 1) / (_LOG_DEG + 1)
    # j = 0: relative (L = 0 exactly, z = v exact)
    worst_abs = Fraction(0)  # absolute bound over j != 0 (log1p has |value| >= 1/256 there)
    worst_rel = Fraction(0)
    A0 = Fraction(0)
    for j in js:
        if j == 0:
            # L_0 = 0 exactly and z = v exact: fl(0 + v) = v, v = fl(z + fl(z w))
            z = _Err(-Fraction(1, 256), Fraction(1, 256))
            Rv, Av = _rel_xaw(_log1p_w(z, Ke))  # relative to z (1 + w) = partial sum
            # |log1p(z)| >= |z| (1 - |z|/2); truncation <= |z|^9/9 -> relative
            zrel = (Fraction(1, 256) ** _LOG_DEG / (_LOG_DEG + 1)) / (1 - Fraction(1, 512))
            rel = _ru(Rv * (1 + zrel) + zrel)
            A0 = Av
            worst_rel = max(worst_rel, rel)
            worst_abs = max(worst_abs, _ru(rel * Fraction(1, 256) * 2 + Av))
            continue
        c = 1 + Fraction(j, 128)
        # z = fl(r / c): exact r in [-1/256, 1/256]; model the division in the analyzer
        r = _Err(-Fraction(1, 256), Fraction(1, 256))
        z = r / _Err.const(float(c))
        y = _log1p_core(z, _Err.const(float(Ltab[j + 32]), ltrue[j]), Ke)
        f_lo = min(abs(ltrue[j][0]), abs(ltrue[j][1])) - Fraction(1, 256) / (c - Fraction(1, 256))
        absb = _ru(y.R * y.mag + y.A + trunc)
        worst_abs = max(worst_abs, absb)
        worst_rel = max(worst_rel, y.relative(trunc, _rd(f_lo)))
    rel_log1p = worst_rel  # relative bound of log1p(v) over v in [-1/4, 1/2]
    # log: e L1 + (e L2 + w), w = log1p(m - 1) with |w| <= log(1.5), abs err worst_abs
    m2, e2 = math.frexp(float(ln2[0]))
    L1 = math.ldexp(math.floor(m2 * 2**40), e2 - 40)
    L2 = float(ln2[0] - _F(L1))
    l2true = (ln2[0] - _F(L1), ln2[1] - _F(L1))
    rel_log = rel_log1p  # e = 0 case
    wlo, whi = _rd(Fraction(-288, 1000)), _ru(Fraction(406, 1000))  # log(3/4), log(3/2)
    for lo_e, hi_e in [(2**i, 2 ** (i + 1) - 1) for i in range(11)]:
        for sign in (1, -1):
            e_lo, e_hi = sorted((sign * lo_e, sign * hi_e))
            eL1 = _Err(e_lo * _F(L1), e_hi * _F(L1))  # exact product
            eL2 = _Err(Fraction(e_lo), Fraction(e_hi)) * _Err.const(L2, l2true)
            w = _Err(wlo, whi, Fraction(0), worst_abs)
            y = eL1 + (eL2 + w)
            # |log x| >= |e| ln2 - max|log m|: e>0: e ln2 + log m >= e ln2 - 0.288;
            # e<0: |e ln2 + log m| >= |e| ln2 - 0.406
            fmin = lo_e * ln2[0] - (Fraction(288, 1000) if sign > 0 else Fraction(406, 1000))
            rel_log = max(rel_log, y.relative(Fraction(0), _rd(fmin)))
    D1 = _widen_D(rel_log1p, A0)
    D = _widen_D(rel_log, A0)
    _record("log1p", rel_log1p, D1)
    _record("log", rel_log, D)
    return SimpleNamespace(L=Ltab, K=Kf, L1=L1, L2=L2, D=D, D1=D1, R=rel_log, R1=rel_log1p,
                           floor=_abs_floor(rel_log, A0))


def _log1p_small(v: np.ndarray) -> np.ndarray:
    """Approximation of log1p(v), v in [-1/4, 1/2] (error: _log_tables().R1)."""
    t = _log_tables()
    j = np.rint(v * 128.0)
    r = v - j * (1.0 / 128)
    ji = j.astype(np.int64)
    z = r / (1.0 + j * (1.0 / 128))
    return _log1p_core(z, np.take(t.L, ji + 32), t.K)


def _log_point(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of log at points x >= 0 (log 0 = -inf, log inf = inf)."""
    t = _log_tables()
    x = np.asarray(x, dtype=np.float64)
    pos = (x > 0) & (x < _INF)
    xs = np.where(pos, x, 1.0)
    m, e = np.frexp(xs)  # m in [1/2, 1), exact
    low = m < 0.75
    m = np.where(low, m * 2.0, m)
    e = (e - low).astype(np.float64)
    w = _log1p_small(m - 1.0)
    y = e * t.L1 + (e * t.L2 + w)
    lo, hi = _enclose_point(y, t.D, t.floor)
    if not pos.all():
        lo[x == 0] = -_INF
        hi[x == 0] = -_DBL_MAX
        lo[x == _INF] = _DBL_MAX
        hi[x == _INF] = _INF
    return lo, hi


def log(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of $\log t$ for $t \in [lo, hi]$, $hi > 0$; the lower end is $-\infty$
    where the interval reaches 0.

    Raises:
        ValueError: some interval has ``hi <= 0`` (log undefined on all of it).
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    if (hi <= 0).any():
        bad = hi[hi <= 0].ravel()[0]
        raise ValueError(f"log of an interval with upper end {bad!r} <= 0")
    return _point_or_two(np.maximum(lo, 0.0), hi, _log_point)


def _log1p_point(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of log(1 + v) for points v in [0, 1] (used by softplus)."""
    t = _log_tables()
    big = v > 0.5
    # v in (1/2, 1]: log(1+v) = ln2 + log1p((v-1)/2), (v-1)/2 exact, in (-1/4, 0]
    vv = np.where(big, (v - 1.0) * 0.5, v)
    w = _log1p_small(vv)
    y = np.where(big, t.L1 + (t.L2 + w), w)  # e = 1 case of log, bound rel_log covers it
    return _enclose_point(y, t.D, t.floor)


# ----------------------------------------------------------------------------------
# functions built on exp: tanh, sigmoid, softplus, sinh, cosh
# ----------------------------------------------------------------------------------


def _ratio_core(e: Any) -> Any:
    """(1 - e) / (1 + e)."""
    return (1.0 - e) / (1.0 + e)


_TANH_X0 = 0.375
_TANH_BIG = 20.0


@cache
def _tanh_tables() -> SimpleNamespace:
    r"""Proved constants of the tanh kernel.

    $|x| \le 3/8$: odd Taylor series $\tanh x = \sum_n a_n x^{2n-1}$,
    $a_n = 2^{2n}(2^{2n}-1)B_{2n}/(2n)!$; signs alternate and $|a_{n+1}|/|a_n| \le 5/\pi^2$,
    so for $|x| \le 1$ the terms decrease and the remainder is at most the first omitted
    term.  $3/8 < |x| \le 20$: $\tanh|x| = (1-e)/(1+e)$, $e = e^{-2|x|}$ from the exp
    kernel (relative error $E_{\exp}$).  $|x| > 20$: $1 - \tanh|x| < 2e^{-40} < 2^{-56}$,
    so the value at 20 is a valid lower bound and 1 an upper bound.
    """
    import sympy as sp

    ex = _exp_tables()
    n_terms = 1
    x0 = _F(_TANH_X0)

    def a(n: int) -> Fraction:
        b = sp.bernoulli(2 * n)
        v = sp.Rational(2 ** (2 * n) * (2 ** (2 * n) - 1)) * b / sp.factorial(2 * n)
        return Fraction(int(v.p), int(v.q))

    while abs(a(n_terms + 1)) * x0 ** (2 * n_terms) > U / 64:
        n_terms += 1
    coeffs = [(a(n), a(n)) for n in range(2, n_terms + 1)]
    # tanh x >= x (1 - x^2/3) on [0, 1]; first omitted term relative to it
    trunc_rel = abs(a(n_terms + 1)) * x0 ** (2 * n_terms) / (1 - x0**2 / 3)
    _, ad, R_small, A_small = _small_odd_bound(x0, (Fraction(1), Fraction(1)), coeffs,
                                               trunc_rel)
    Kf = SimpleNamespace(a=ad)
    # large path: e in [e^-40, e^{-2 x0}], relative error ex.R
    e_hi = Fraction(1) / (1 + 2 * x0 + 2 * x0 * x0)  # e^{-a} <= 1/(1 + a + a^2/2)
    e = _Err(Fraction(0), e_hi, ex.R)
    yb = _ratio_core(e)
    # tanh(x0) >= x0 - x0^3/3
    R_big = yb.relative(Fraction(0), x0 - x0**3 / 3)
    R = max(R_small, R_big)
    D = _widen_D(R, A_small)
    _record("tanh", R, D)
    return SimpleNamespace(K=Kf, D=D, floor=_abs_floor(R, A_small), n_terms=n_terms)


def _tanh_abs_approx(ax: np.ndarray) -> np.ndarray:
    """Approximation of tanh on |x| values (clipped to [0, 20])."""
    t = _tanh_tables()
    small = ax <= _TANH_X0

    def f_small(v: np.ndarray) -> np.ndarray:
        return _small_odd(v, 1.0, t.K.a)

    def f_big(v: np.ndarray) -> np.ndarray:
        y, k = _exp_parts(-2.0 * np.minimum(v, _TANH_BIG))
        return _ratio_core(y * _pow2(k))  # -2v >= -40: normal

    if small.all():
        return f_small(ax)
    if not small.any():
        return f_big(ax)
    out = np.empty_like(ax)
    out[small] = f_small(ax[small])
    nm = ~small
    out[nm] = f_big(ax[nm])
    return out


def _odd_point(x: np.ndarray, approx: Callable[[np.ndarray], np.ndarray], D: float,
               floor: float, sup: float, big: float) -> tuple[np.ndarray, np.ndarray]:
    """Point enclosure of an odd increasing f with f(|x|) <= sup, from an approximation on
    |x|; for |x| > big the true value is above the value at big (lower bound kept) and
    below ``sup``."""
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    y = approx(ax)
    lo_a, hi_a = _enclose_point(y, D, floor)
    np.minimum(hi_a, sup, out=hi_a)
    if (ax > big).any():
        hi_a[ax > big] = sup
    np.maximum(lo_a, 0.0, out=lo_a)
    neg = x < 0
    lo = np.where(neg, -hi_a, lo_a)
    hi = np.where(neg, -lo_a, hi_a)
    return lo, hi


def _tanh_point(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _tanh_tables()
    return _odd_point(x, _tanh_abs_approx, t.D, t.floor, 1.0, _TANH_BIG)


def tanh(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of $\tanh t$ for $t \in [lo, hi]$ (increasing, odd, $|\tanh| < 1$).

    Error: $|y - \tanh x| \le E|\tanh x|$ (+ $2^{-1074}$-scale floor for tiny results),
    $E$ = ``KERNEL_BOUNDS['tanh']``; see :func:`_tanh_tables`.
    """
    return _point_or_two(lo, hi, _tanh_point)


def _sig_pos_core(e: Any) -> Any:
    return 1.0 / (1.0 + e)


def _sig_neg_core(e: Any) -> Any:
    return e / (1.0 + e)


_SIG_BIG = 40.0
_SIG_NEG = -700.0


@cache
def _sigmoid_tables() -> SimpleNamespace:
    r"""sigma(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, e = e^{-|x|} from exp.

    Valid for $-700 \le x \le 40$ where $e \ge e^{-700}$ is normal.  $x > 40$: lower bound
    from 40, upper 1 ($1 - \sigma(x) < e^{-40} < 2^{-57}$).  $x < -700$: $e^x(1 - e^x) \le
    \sigma(x) \le e^x$; the exp enclosure and one ``nextafter`` down cover it.
    """
    ex = _exp_tables()
    e = _Err(Fraction(0), Fraction(1), ex.R)
    # the analyser needs e > 0 only in 1 + e (same sign), e ranges over (0, 1]
    yp = _sig_pos_core(e)
    yn = _sig_neg_core(_Err(Fraction(1, 2**1100), Fraction(1), ex.R))
    R = max(yp.R + yp.A * 2, yn.R)  # yp >= 1/2; yn: purely relative (A = 0 up to eta)
    A = yn.A
    D = _widen_D(R, A)
    _record("sigmoid", R, D)
    return SimpleNamespace(D=D, floor=_abs_floor(R, A))


def _sigmoid_point(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _sigmoid_tables()
    x = np.asarray(x, dtype=np.float64)
    xc = np.clip(x, _SIG_NEG, _SIG_BIG)
    ym, k = _exp_parts(-np.abs(xc))
    e = ym * _pow2(k)  # -|xc| >= -700: normal
    y = np.where(xc >= 0, 1.0, e) / (1.0 + e)
    lo, hi = _enclose_point(y, t.D, t.floor)
    np.minimum(hi, 1.0, out=hi)
    np.maximum(lo, 0.0, out=lo)
    if (x > _SIG_BIG).any():
        hi[x > _SIG_BIG] = 1.0
    far = x < _SIG_NEG
    if far.any():
        elo, ehi = _exp_point(x[far])
        lo[far] = np.maximum(np.nextafter(elo, -_INF), 0.0)
        hi[far] = ehi
    return lo, hi


def sigmoid(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of $\sigma(t) = 1/(1+e^{-t})$ for $t \in [lo, hi]$ (increasing)."""
    return _point_or_two(lo, hi, _sigmoid_point)


_SP_BIG = 40.0
_SP_NEG = -700.0


def _softplus_point(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of $\log(1 + e^x)$ at points.

    $\log(1+e^x) = \max(x, 0) + \operatorname{log1p}(e^{-|x|})$.  The log1p term is
    enclosed by interval arithmetic on the exp and log1p enclosures (log1p increasing),
    then added to $\max(x,0)$ with outward rounding.  $x > 40$: $x < \log(1+e^x) < x +
    e^{-x}$, so $[x, x(1 + 2^{-52})]$ (upper rounded).  $x < -700$: $e^x - e^{2x}/2 \le
    \log(1+e^x) \le e^x$.
    """
    x = np.asarray(x, dtype=np.float64)
    xc = np.clip(x, _SP_NEG, _SP_BIG)
    elo, ehi = _exp_point(-np.abs(xc))  # e in (0, 1]
    np.minimum(ehi, 1.0, out=ehi)
    llo = _log1p_point(elo)[0]
    lhi = _log1p_point(ehi)[1]
    p = np.maximum(xc, 0.0)
    lo = np.nextafter(p + np.maximum(llo, 0.0), -_INF)
    hi = np.nextafter(p + lhi, _INF)
    np.maximum(lo, p, out=lo)  # log1p(...) >= 0
    big = x > _SP_BIG
    if big.any():
        lo[big] = x[big]
        with np.errstate(over="ignore"):  # near DBL_MAX the upper end is +inf: still sound
            hi[big] = np.nextafter(x[big] * (1 + 2.0**-52), _INF)
    far = x < _SP_NEG
    if far.any():
        flo, fhi = _exp_point(x[far])
        lo[far] = np.maximum(np.nextafter(flo, -_INF), 0.0)
        hi[far] = fhi
    np.maximum(lo, 0.0, out=lo)
    return lo, hi


def log1p_exp(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of softplus $\log(1 + e^t)$ for $t \in [lo, hi]$ (increasing); finite
    wherever $t$ is (no overflow: for $t > 40$ the enclosure is $[t, t(1+2^{-52})^+]$)."""
    return _point_or_two(lo, hi, _softplus_point)


def _sinh_core(e: Any) -> Any:
    return (e - 1.0 / e) * 0.5


def _cosh_core(e: Any) -> Any:
    return (e + 1.0 / e) * 0.5


_SINH_X0 = 0.5
_SINH_BIG = 20.0


@cache
def _hyp_tables() -> SimpleNamespace:
    r"""sinh: $|x| \le 1/2$ odd Taylor series (positive terms, tail $\le$ first omitted
    term $\times 1/(1 - x^2/((2K+2)(2K+3)))$); $1/2 < |x| \le 20$: $(e - 1/e)/2$, $e = e^{|x|}$;
    $|x| > 20$: $e^{|x|}/2 \,(1 - e^{-2|x|})$ (the $e^{-40}$ factor is absorbed in $D$),
    computed as exp's mantissa with the exponent lowered by one (no overflow before
    the true value overflows).  cosh: $(e + 1/e)/2$, same ranges."""
    ex = _exp_tables()
    x0 = _F(_SINH_X0)
    n = 1
    while x0 ** (2 * n) / math.factorial(2 * n + 1) > U / 64:
        n += 1
    coeffs = [(Fraction(1, math.factorial(2 * i + 1)),) * 2 for i in range(1, n)]
    # positive terms; tail <= 2 x (first omitted term / x), relative to sinh x >= x
    trunc_rel = x0 ** (2 * n) / math.factorial(2 * n + 1) * 2
    _, ad, R_small, A = _small_odd_bound(x0, (Fraction(1), Fraction(1)), coeffs, trunc_rel)
    Kf = SimpleNamespace(a=ad)
    e = _Err(Fraction(3, 2), Fraction(10) ** 9, ex.R)  # e^{1/2} > 3/2, e^20 < 1e9
    R_big = _sinh_core(e).R
    R_c = _cosh_core(_Err(Fraction(1), Fraction(10) ** 9, ex.R)).R
    R_huge = ex.R + Fraction(1, 2**57) + U  # e^{-40} < 2^-57
    Rs = max(R_small, R_big, R_huge)
    Rc = max(R_c, R_huge)
    Ds, Dc = _widen_D(Rs, A), _widen_D(Rc)
    _record("sinh", Rs, Ds)
    _record("cosh", Rc, Dc)
    return SimpleNamespace(K=Kf, Ds=Ds, Dc=Dc, floor=_abs_floor(Rs, A))


def _sinh_cosh_abs(ax: np.ndarray, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of sinh or cosh at |x| values (any size, inf allowed)."""
    t = _hyp_tables()
    D = t.Ds if which == "sinh" else t.Dc
    xc = np.minimum(ax, 711.0)
    ym, k = _exp_parts(xc)
    mid = xc <= _SINH_BIG
    y = np.empty_like(ax)
    kk = np.zeros(ax.shape, dtype=np.int64)
    if mid.any():
        e = ym[mid] * _pow2(k[mid])  # |x| <= 20: normal
        y[mid] = _sinh_core(e) if which == "sinh" else _cosh_core(e)
    big = ~mid
    if big.any():
        y[big] = ym[big]
        kk[big] = k[big] - 1
    if which == "sinh":
        small = ax <= _SINH_X0
        if small.any():
            y[small] = _small_odd(ax[small], 1.0, t.K.a)
    lo, hi = _enclose_point(y, D, t.floor)
    if big.any():
        with np.errstate(over="ignore"):
            lo = np.minimum(np.ldexp(lo, kk), _DBL_MAX)
            hi = np.ldexp(hi, kk)
        hi[ax > 710.5] = _INF
    np.maximum(lo, 1.0 if which == "cosh" else 0.0, out=lo)
    return lo, hi


def _sinh_point(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    lo_a, hi_a = _sinh_cosh_abs(np.abs(x), "sinh")
    neg = x < 0
    return np.where(neg, -hi_a, lo_a), np.where(neg, -lo_a, hi_a)


def sinh(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of $\sinh t$ for $t \in [lo, hi]$ (increasing)."""
    return _point_or_two(lo, hi, _sinh_point)


def cosh(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of $\cosh t$ for $t \in [lo, hi]$: even, minimum 1 at 0."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    a, b = np.abs(lo), np.abs(hi)
    straddle = (lo <= 0) & (hi >= 0)
    near = np.where(straddle, 0.0, np.minimum(a, b))
    far = np.maximum(a, b)
    rlo = _chunked(lambda v: _sinh_cosh_abs(v, "cosh"), near)[0]
    rhi = _chunked(lambda v: _sinh_cosh_abs(v, "cosh"), far)[1]
    return rlo, rhi


# ----------------------------------------------------------------------------------
# erf, erfc: Maclaurin series near 0, Taylor tables with Cauchy tails on [1/2, 6]
# ----------------------------------------------------------------------------------

_ERF_X0 = 0.5
_ERF_STEP = 32  # centres i/32
_ERF_H = Fraction(1, 64)
_ERF_DEG = 10
_ERF_TOP = 6.0 + 1.0 / 64
_CHAIN = 26  # degree of the Taylor steps that carry erf from centre to centre


def _erf_table_core(t: Any, C: list[Any]) -> Any:
    p = C[-1]
    for c in reversed(C[:-1]):
        p = p * t + c
    return p


@cache
def _erf_tables() -> SimpleNamespace:
    r"""Proved constants of the erf kernel.

    $|x| \le 1/2$: $\operatorname{erf} x = \frac{2}{\sqrt\pi}\sum_n \frac{(-1)^n
    x^{2n+1}}{n!(2n+1)}$, alternating with decreasing terms: remainder $\le$ first omitted
    term.  $1/2 < x \le 6 + 1/64$: centre $c = \mathrm{rint}(32x)/32$, $t = x - c$ exact
    (Sterbenz), $|t| \le 1/64$; degree-10 Taylor polynomial at $c$ with coefficients
    $a_0 = \operatorname{erf} c$ (rigorous ``iv_erf``), $a_n = \frac{2}{\sqrt\pi}e^{-c^2}
    (-1)^{n-1}H_{n-1}(c)/n!$ (exact Hermite values, interval $e^{-c^2}$), each stored as
    the nearest double with its enclosure in the analysis.  Tail (Cauchy, disc of radius
    1): $|a_n| \le M$, $M = \max_{|z-c|=1}|\operatorname{erf} z - \operatorname{erf} c|
    \le \frac{2}{\sqrt\pi} e$, so the remainder is $\le M\, h^{11}/(1-h)$, $h = 1/64$.
    $x > 6 + 1/64$: $0 < \operatorname{erfc} x < e^{-x^2}/(x\sqrt\pi) < 2^{-54}$, so
    $\operatorname{erf} x \in [1 - 2^{-53}, 1]$.
    """
    x0 = _F(_ERF_X0)
    with working_precision(160):
        # pi and exp from mpmath are widened by a few ulps (see symlip.arith.mpfuncs.widen)
        tsp = _iv_fracs(2 / iv.sqrt(widen(iv.mpf(iv.pi))))
        n = 1
        while x0 ** (2 * n) / (math.factorial(n) * (2 * n + 1)) > U / 64:
            n += 1
        small_true = [
            (_rd(tsp[0] * Fraction((-1) ** i, math.factorial(i) * (2 * i + 1))),
             _ru(tsp[1] * Fraction((-1) ** i, math.factorial(i) * (2 * i + 1))))
            for i in range(n)
        ]
        small_true = [(min(a, b), max(a, b)) for a, b in small_true]
        # relative to erf x >= (2/sqrt pi) x (1 - x^2/3)
        trunc_rel = x0 ** (2 * n) / (math.factorial(n) * (2 * n + 1)) * tsp[1] / (
            tsp[0] * (1 - x0**2 / 3))
        a0d, ad, R_small, A_small = _small_odd_bound(x0, small_true[0], small_true[1:],
                                                     trunc_rel)
        Ks = SimpleNamespace(a0=a0d, a=ad)
        # tables
        i_lo, i_hi = 16, int(_ERF_TOP * _ERF_STEP) + 1
        centres = list(range(i_lo, i_hi + 1))
        coef = np.zeros((_ERF_DEG + 1, len(centres)))
        M = tsp[1] * Fraction(27183, 10000)
        h = _ERF_H
        trunc = M * h ** (_ERF_DEG + 1) / (1 - h)
        worst = Fraction(0)
        # erf at the centres: a rigorous chain of Taylor steps of length 1/32 from
        # erf(1/2) (iv_erf), degree _CHAIN with the same Cauchy tail (radius 1)
        a0 = _iv_fracs(iv_erf(iv.mpf(i_lo) / _ERF_STEP))
        step = Fraction(1, _ERF_STEP)
        chain_tail = _ru(M * step ** (_CHAIN + 1) / (1 - step))
        for col, i in enumerate(centres):
            c = Fraction(i, _ERF_STEP)
            g = _iv_fracs(2 / iv.sqrt(widen(iv.mpf(iv.pi)))
                          * iv_exp(-(iv.mpf(i) / _ERF_STEP) ** 2))
            H = [Fraction(1), 2 * c]
            while len(H) < _CHAIN:
                k = len(H) - 1
                H.append(2 * c * H[k] - 2 * k * H[k - 1])
            true = [a0]
            for m in range(1, _CHAIN + 1):
                v = Fraction((-1) ** (m - 1)) * H[m - 1] / math.factorial(m)
                lo_, hi_ = sorted((g[0] * v, g[1] * v))
                true.append((lo_, hi_))
            nxt_lo = sum(t[0] * step**m for m, t in enumerate(true)) - chain_tail
            nxt_hi = sum(t[1] * step**m for m, t in enumerate(true)) + chain_tail
            a0 = (_rd(nxt_lo), _ru(nxt_hi))
            true = true[: _ERF_DEG + 1]
            dbl = [float((a + b) / 2) for a, b in true]
            coef[:, col] = dbl
            C = [_Err.const(dv, tv) for dv, tv in zip(dbl, true, strict=True)]
            ye = _erf_table_core(_Err(-h, h), C)
            f_min = a0[0] - tsp[1] * h  # erf' <= 2/sqrt(pi)
            worst = max(worst, ye.relative(trunc, f_min))
    R = max(R_small, worst)
    D = _widen_D(R, A_small)
    _record("erf", R, D)
    return SimpleNamespace(Ks=Ks, coef=coef, i_lo=i_lo, D=D, floor=_abs_floor(R, A_small),
                           R=R)


def _erf_abs_approx(ax: np.ndarray) -> np.ndarray:
    t = _erf_tables()
    xc = np.minimum(ax, _ERF_TOP)
    small = xc <= _ERF_X0
    out = np.empty_like(ax)
    if small.any():
        out[small] = _small_odd(xc[small], t.Ks.a0, t.Ks.a)
    nm = ~small
    if nm.any():
        v = xc[nm]
        i = np.rint(v * _ERF_STEP)
        tt = v - i * (1.0 / _ERF_STEP)
        idx = i.astype(np.int64) - t.i_lo
        C = t.coef[:, idx]
        out[nm] = _erf_table_core(tt, list(C))
    return out


def _erf_point(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _erf_tables()
    return _odd_point(x, _erf_abs_approx, t.D, t.floor, 1.0, _ERF_TOP)


def erf(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of $\operatorname{erf} t$ for $t \in [lo, hi]$ (increasing, odd)."""
    return _point_or_two(lo, hi, _erf_point)


def _erfc_point(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""erfc = 1 - erf, enclosed as [1 - erf_hi, 1 - erf_lo] rounded outward; for
    $x > 6$: $e^{-x^2}/(x\sqrt\pi)\,(1 - 1/(2x^2)) \le \operatorname{erfc} x \le
    e^{-x^2}/(x\sqrt\pi)$ in interval arithmetic (absolute accuracy below 6, about
    $1/(2x^2)$ relative above)."""
    x = np.asarray(x, dtype=np.float64)
    elo, ehi = _erf_point(x)
    lo = np.maximum(np.nextafter(1.0 - ehi, -_INF), 0.0)
    hi = np.minimum(np.nextafter(1.0 - elo, _INF), 2.0)
    far = x > 6.0
    if far.any():
        v = IntervalArray(x[far])
        sq = v.square()
        e_lo, e_hi = exp(-sq.hi, -sq.lo)
        spi = IntervalArray(1.7724538509055159, 1.772453850905516)  # encloses sqrt(pi)
        base = IntervalArray(e_lo, e_hi) / (v * spi)
        corr = 1.0 - (IntervalArray(0.5) / sq)
        low = base * corr
        lo[far] = np.maximum(low.lo, 0.0)
        hi[far] = base.hi
    return lo, hi


def erfc(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of $\operatorname{erfc} t$ for $t \in [lo, hi]$ (decreasing)."""
    return _point_or_two(lo, hi, _erfc_point, increasing=False)


# ----------------------------------------------------------------------------------
# atan: Taylor tables with Cauchy tails on [0, 1], atan x = pi/2 - atan(1/x) above
# ----------------------------------------------------------------------------------

_AT_STEP = 32
_AT_H = Fraction(1, 64)
_AT_DEG = 11


@cache
def _atan_tables() -> SimpleNamespace:
    r"""Proved constants of the atan kernel.

    $|x| \le 1/64$: $x - x^3/3 + \dots$ (alternating, decreasing: remainder $\le$ first
    omitted term).  $1/64 < w \le 1$: centre $c = \mathrm{rint}(32w)/32$, $t = w - c$
    (exact), $|t| \le 1/64$; Taylor coefficients of atan at $c$: $a_0 = \operatorname{atan}
    c$ (rigorous libmpi), $a_{n+1} = g_n/(n+1)$ where $(1+c^2)g_n + 2c\,g_{n-1} + g_{n-2} =
    [n=0]$ (exact rationals).  Tail: atan is analytic on the disc $|z - c| \le 1/2$,
    where $|1 + z^2| = |z-i||z+i| \ge 1/4$, so $|\operatorname{atan} z - \operatorname{atan} c|
    \le 2$ and the remainder is $\le 2 (2h)^{12}/(1-2h)$.  $x > 1$: $w = \mathrm{fl}(1/x)$
    has relative error $u$ (handled as an input error $|t - t_{exact}| \le u$), and
    $\operatorname{atan} x = \pi/2 - \operatorname{atan}(1/x)$.
    """
    x0 = Fraction(1, 64)
    n = 1
    while x0 ** (2 * n) / (2 * n + 1) > U / 64:
        n += 1
    small = [(Fraction((-1) ** i, 2 * i + 1),) * 2 for i in range(1, n)]
    trunc_rel = x0 ** (2 * n) / (2 * n + 1) / (1 - x0**2 / 3)  # atan x >= x (1 - x^2/3)
    _, ad, R_small, A_small = _small_odd_bound(x0, (Fraction(1), Fraction(1)), small,
                                               trunc_rel)
    Ks = SimpleNamespace(a=ad)
    centres = list(range(1, _AT_STEP + 1))
    coef = np.zeros((_AT_DEG + 1, len(centres)))
    h = _AT_H
    hh = h + U  # for x > 1 the computed 1/x is within u of the true one
    trunc = 2 * (2 * hh) ** (_AT_DEG + 1) / (1 - 2 * hh)
    worst_direct = Fraction(0)
    worst_inv = Fraction(0)
    with working_precision(160):
        pi2 = _iv_fracs(widen(iv.mpf(iv.pi)) / 2)  # mpmath's pi widened (see widen)
        for col, i in enumerate(centres):
            c = Fraction(i, _AT_STEP)
            a0 = _iv_fracs(iv_atan(iv.mpf(i) / _AT_STEP))
            g: list[Fraction] = []
            for m in range(_AT_DEG):
                v = Fraction(1 if m == 0 else 0)
                if m >= 1:
                    v -= 2 * c * g[m - 1]
                if m >= 2:
                    v -= g[m - 2]
                g.append(v / (1 + c * c))
            true = [a0] + [(g[m] / (m + 1), g[m] / (m + 1)) for m in range(_AT_DEG)]
            dbl = [float((a + b) / 2) for a, b in true]
            coef[:, col] = dbl
            C = [_Err.const(dv, tv) for dv, tv in zip(dbl, true, strict=True)]
            f_min = a0[0] - h  # atan' <= 1
            ye = _erf_table_core(_Err(-h, h), C)
            worst_direct = max(worst_direct, ye.relative(trunc, f_min))
            # x > 1: w = fl(1/x) in [c - h, c + h] (up to u): t has absolute error <= u
            yi = _erf_table_core(_Err(-hh, hh, Fraction(0), U), C)
            big = _Err.const(float((pi2[0] + pi2[1]) / 2), pi2) - yi
            worst_inv = max(worst_inv, big.relative(trunc, Fraction(785, 1000)))
        # x > 1 with w = fl(1/x) <= 1/64 on the series path: relative error R_small + u
        ys = _Err(Fraction(0), Fraction(1, 64) * (1 + 2 * U), R_small + 2 * U, 2 * ETA)
        big = _Err.const(float((pi2[0] + pi2[1]) / 2), pi2) - ys
        worst_inv = max(worst_inv, big.relative(Fraction(0), Fraction(785, 1000)))
    R = max(R_small, worst_direct, worst_inv)
    D = _widen_D(R, A_small)
    _record("atan", R, D)
    return SimpleNamespace(Ks=Ks, coef=coef, pi2=float((pi2[0] + pi2[1]) / 2), D=D,
                           floor=_abs_floor(R, A_small))


def _atan_abs_approx(ax: np.ndarray) -> np.ndarray:
    t = _atan_tables()
    inv = ax > 1.0
    w = np.where(inv, 1.0 / np.where(inv, ax, 1.0), ax)
    small = w <= 1.0 / 64
    out = np.empty_like(ax)
    if small.any():
        out[small] = _small_odd(w[small], 1.0, t.Ks.a)
    nm = ~small
    if nm.any():
        v = w[nm]
        i = np.rint(v * _AT_STEP)
        tt = v - i * (1.0 / _AT_STEP)
        C = t.coef[:, i.astype(np.int64) - 1]
        out[nm] = _erf_table_core(tt, list(C))
    if inv.any():
        out[inv] = t.pi2 - out[inv]
    return out


def _atan_point(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _atan_tables()
    # atan(|x|) < pi/2 < 1.5707963267948968 (the double above pi/2)
    return _odd_point(x, _atan_abs_approx, t.D, t.floor, 1.5707963267948968, _INF)


def atan(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Enclosure of $\operatorname{atan} t$ for $t \in [lo, hi]$ (increasing, odd)."""
    return _point_or_two(lo, hi, _atan_point)
