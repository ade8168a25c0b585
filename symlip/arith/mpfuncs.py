r"""Rigorous scalar functions on ``mpmath.iv`` intervals.

Every function returns an enclosure rounded outward (see :mod:`symlip.arith.enclosure`).
mpmath's own transcendental kernels round from a guard-bit approximation and can miss by
an ulp, so each is wrapped by :func:`widen`; the functions ``mpmath.iv`` lacks or gets
wrong (``tanh``, ``sinh``, ``cosh``, ``atan``, ``erf``, ``erfc``, ``sigmoid``) are built
from libmpi's directed-rounding kernels or a series with a proved remainder, evaluated at
monotone endpoints (``docs/intervals.md``).  The float64 counterparts are in
:mod:`symlip.arith.kernels`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import mpmath
from mpmath import iv
from mpmath.libmp import libmpi

from symlip.arith.enclosure import (
    Enclosure,
    endpoints,
    float_to_mpf,
    iv_from,
    make_mpf,
    working_precision,
)

__all__ = [
    "iv_abs",
    "iv_atan",
    "iv_cos",
    "iv_cosh",
    "iv_erf",
    "iv_erfc",
    "iv_exp",
    "iv_heaviside",
    "iv_hull",
    "iv_log",
    "iv_max",
    "iv_min",
    "iv_monotone",
    "iv_sigmoid",
    "iv_sin",
    "iv_sinh",
    "iv_sqrt",
    "iv_tanh",
    "widen",
]



def _as_iv(x: Any) -> iv.mpf:
    if isinstance(x, iv.mpf):
        return x
    if isinstance(x, Enclosure):
        return x.to_interval()
    if isinstance(x, float):
        v = float_to_mpf(x)
        return iv_from(v, v)
    return iv.mpf(x)


def _mpi(x: iv.mpf) -> tuple:
    return x._mpi_


def _make(mpi: tuple) -> iv.mpf:
    return iv.mpf((make_mpf(mpi[0]), make_mpf(mpi[1])))


def iv_monotone(f_point: Callable[[iv.mpf], iv.mpf], x: iv.mpf, increasing: bool) -> iv.mpf:
    """Enclosure of a monotone f on x from rigorous point enclosures at the endpoints."""
    lo, hi = endpoints(x)
    flo = f_point(iv_from(lo, lo))
    fhi = f_point(iv_from(hi, hi))
    if not increasing:
        flo, fhi = fhi, flo
    return iv.mpf((make_mpf(flo._mpi_[0]), make_mpf(fhi._mpi_[1])))


def widen(x: iv.mpf, ulps: int = 4) -> iv.mpf:
    """Move both endpoints outward by ``2**ulps`` units in the last place (relative).

    mpmath's transcendental kernels (``exp``, ``log``, ``sin``, ``cos``, libmpi's
    ``cosh_sinh``/``atan``, the constants) evaluate in fixed point with ~14 guard bits
    and then round in the requested direction; when the true value lies closer than the
    guard bits to a representable number the direction can be wrong.  Example:
    ``iv.exp(-2**-51)`` at 80 bits returns the point ``1 - 2**-51``, below the true
    value ``1 - 2**-51 + 2**-103 - ...``.  The error is below one ulp, so widening by
    a few ulps restores the enclosure property.  Zero and infinite ends are kept.
    """
    lo, hi = endpoints(x)
    shift = -(iv.prec - ulps)

    def out(v: mpmath.mpf, up: bool) -> mpmath.mpf:
        if v == 0 or mpmath.isinf(v):
            return v
        eps = mpmath.ldexp(abs(v), shift)
        return mpmath.fadd(v, eps if up else -eps, exact=True)

    return iv_from(out(lo, False), out(hi, True))


def _rigorous(f: Callable[..., iv.mpf]) -> Callable[..., iv.mpf]:
    """``f`` followed by :func:`widen` (see there for why)."""

    def g(*args: Any) -> iv.mpf:
        return widen(f(*args))

    g.__name__ = getattr(f, "__name__", "f")
    return g


iv_exp = _rigorous(iv.exp)
_iv_log_raw = _rigorous(iv.log)
iv_sin = _rigorous(iv.sin)
iv_cos = _rigorous(iv.cos)


def _tanh_point(x: iv.mpf) -> iv.mpf:
    lo, _ = endpoints(x)
    if lo < 0:
        return -_tanh_point(-x)
    if mpmath.isinf(lo):
        return iv.mpf(1)
    e = iv_exp(-2 * x)  # libmpi mpi_exp, widened (see widen)
    t = (1 - e) / (1 + e)
    return iv.mpf((max(make_mpf(t._mpi_[0]), mpmath.mpf(0)), min(make_mpf(t._mpi_[1]), 1)))


def iv_tanh(x: Any) -> iv.mpf:
    """Enclosure of tanh on an interval (tanh is increasing)."""
    return iv_monotone(_tanh_point, _as_iv(x), True)


def iv_sinh(x: Any) -> iv.mpf:
    """Enclosure of sinh (increasing), from libmpi's directed-rounding cosh/sinh kernel."""
    x = _as_iv(x)
    return iv_monotone(lambda p: widen(_make(libmpi.mpi_cosh_sinh(p._mpi_, iv.prec)[1])), x,
                     True)


def iv_cosh(x: Any) -> iv.mpf:
    """Enclosure of cosh (decreasing on x <= 0, increasing on x >= 0)."""
    x = _as_iv(x)
    lo, hi = endpoints(x)

    def at(p: mpmath.mpf) -> iv.mpf:
        return widen(_make(libmpi.mpi_cosh_sinh(iv_from(p, p)._mpi_, iv.prec)[0]))

    top = max(make_mpf(at(lo)._mpi_[1]), make_mpf(at(hi)._mpi_[1]))
    bottom = mpmath.mpf(1) if lo <= 0 <= hi else min(
        make_mpf(at(lo)._mpi_[0]), make_mpf(at(hi)._mpi_[0])
    )
    return iv.mpf((bottom, top))


def iv_atan(x: Any) -> iv.mpf:
    """Enclosure of atan (increasing), from libmpi's directed-rounding atan kernel."""
    x = _as_iv(x)
    return iv_monotone(lambda p: widen(_make(libmpi.mpi_atan(p._mpi_, iv.prec))), x, True)


def _erf_point(x: iv.mpf) -> iv.mpf:
    r"""Rigorous erf at a point (a degenerate interval).

    For $0 \le x < T$: $\operatorname{erf}(x) = \frac{2}{\sqrt\pi}\sum_{n\ge0}
    \frac{(-1)^n x^{2n+1}}{n!(2n+1)}$.  Once $n + 1 > x^2$ the terms decrease in
    magnitude, so (alternating series) the remainder after the last term taken is at
    most the next term; the partial sum is computed in interval arithmetic with
    $\approx 1.45 x^2$ guard bits against cancellation.  For $x \ge T$, where
    $e^{-T^2}$ is below the working precision: $0 < \operatorname{erfc}(x) <
    e^{-x^2}/(x\sqrt\pi)$.
    """
    lo, _ = endpoints(x)
    if lo < 0:
        return -_erf_point(-x)
    p = iv.prec
    t_cut = mpmath.sqrt((p + 10) * mpmath.log(2))
    if lo >= t_cut:
        tail = iv_exp(-x * x) / (x * iv.sqrt(widen(iv.mpf(iv.pi))))
        return iv.mpf((make_mpf((1 - tail)._mpi_[0]), mpmath.mpf(1)))
    guard = int(1.45 * float(lo) ** 2) + 20
    with working_precision(p + guard):
        xx = iv_from(lo, lo)
        x2 = xx * xx
        term = xx  # x^{2n+1} / n!
        total = iv.mpf(0)
        n = 0
        eps = iv.mpf(2) ** (-(p + 8))
        while True:
            contrib = term / (2 * n + 1)
            total = total + contrib if n % 2 == 0 else total - contrib
            term = term * x2 / (n + 1)
            nxt = term / (2 * n + 3)
            n += 1
            if n > float(lo) ** 2 + 1 and endpoints(nxt)[1] < endpoints(eps)[0]:
                break
        bound = make_mpf(nxt._mpi_[1])
        total = total + iv.mpf((mpmath.fneg(bound, exact=True), bound))
        res = total * 2 / iv.sqrt(widen(iv.mpf(iv.pi)))
    lo_r, hi_r = endpoints(res)
    return iv_from(max(lo_r, mpmath.mpf(0)), min(hi_r, mpmath.mpf(1)))


def iv_erf(x: Any) -> iv.mpf:
    """Enclosure of erf on an interval (erf is increasing); ``mpmath.iv.erf`` is not used."""
    return iv_monotone(_erf_point, _as_iv(x), True)


def iv_erfc(x: Any) -> iv.mpf:
    """Enclosure of erfc = 1 - erf on an interval (absolute accuracy)."""
    return 1 - iv_erf(x)


# ----------------------------------------------------------------------------------
# algebraic helpers (exact or rounded outward by mpmath.iv)
# ----------------------------------------------------------------------------------


def iv_sqrt(x: iv.mpf) -> iv.mpf:
    lo, hi = endpoints(x)
    if hi < 0:
        raise ValueError(f"sqrt of a negative interval {x}")
    return iv.sqrt(iv_from(max(lo, mpmath.mpf(0)), hi))


def iv_abs(x: iv.mpf) -> iv.mpf:
    lo, hi = endpoints(x)
    if lo >= 0:
        return x
    if hi <= 0:
        return -x
    # fneg(exact=True): unary minus on an mpf rounds to mp.prec (53 bits, to nearest)
    return iv.mpf((mpmath.mpf(0), max(mpmath.fneg(lo, exact=True), hi)))


def iv_max(*xs: iv.mpf) -> iv.mpf:
    ends = [endpoints(x) for x in xs]
    return iv.mpf((max(e[0] for e in ends), max(e[1] for e in ends)))


def iv_min(*xs: iv.mpf) -> iv.mpf:
    ends = [endpoints(x) for x in xs]
    return iv.mpf((min(e[0] for e in ends), min(e[1] for e in ends)))


def iv_hull(xs: Sequence[iv.mpf]) -> iv.mpf:
    ends = [endpoints(x) for x in xs]
    return iv.mpf((min(e[0] for e in ends), max(e[1] for e in ends)))


def iv_log(x: iv.mpf) -> iv.mpf:
    lo, hi = endpoints(x)
    if hi <= 0:
        raise ValueError(f"log of a non-positive interval {x}")
    if lo <= 0:
        return iv.mpf((-mpmath.inf, make_mpf(_iv_log_raw(iv_from(hi, hi))._mpi_[1])))
    return _iv_log_raw(x)


def iv_heaviside(x: iv.mpf, h0: Any = None) -> iv.mpf:
    """Heaviside step on an interval: 0 left of 0, 1 right of 0, H(0) = h0 (default 1/2)."""
    lo, hi = endpoints(x)
    vals = []
    if lo < 0:
        vals.append(iv.mpf(0))
    if hi > 0:
        vals.append(iv.mpf(1))
    if lo <= 0 <= hi:
        vals.append(iv.mpf(0.5) if h0 is None else h0)
    return iv_hull(vals)


def _sigmoid_point(x: iv.mpf) -> iv.mpf:
    return 1 / (1 + iv_exp(-x))


def iv_sigmoid(x: Any) -> iv.mpf:
    """Enclosure of the logistic sigmoid 1/(1 + e^-x) on an interval (increasing)."""
    return iv_monotone(_sigmoid_point, _as_iv(x), True)
