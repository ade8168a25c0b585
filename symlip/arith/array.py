r"""Arrays of float64 intervals with outward-rounded arithmetic (:class:`IntervalArray`).

Only the operations IEEE 754 rounds correctly are offered (``+ - * /``, ``sqrt``,
integer powers, ``abs``, ``max``, ``min``); each result endpoint is moved one ulp
outward with ``numpy.nextafter``, so the computed interval contains the exact result.
Transcendental functions on interval arrays are the kernels of
:mod:`symlip.arith.kernels`; products of matrices with boxes are in
:mod:`symlip.arith.linalg`.
"""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np
from mpmath import iv

from symlip.arith.enclosure import Enclosure, UnsupportedOperation

__all__ = ["IntervalArray"]


_NEG_INF = -np.inf
_POS_INF = np.inf
_NP_BLOCK = 1 << 13  # elements per block when a compiled program runs on large arrays


def _dn(a: np.ndarray) -> np.ndarray:
    return np.nextafter(a, _NEG_INF)


def _up(a: np.ndarray) -> np.ndarray:
    return np.nextafter(a, _POS_INF)


class IntervalArray:
    """Arrays of float64 intervals ``[lo, hi]`` with outward-rounded arithmetic.

    Only operations that IEEE 754 rounds correctly are offered; each result endpoint is
    moved one ulp outward, so the computed interval contains the exact result.
    """

    __slots__ = ("lo", "hi")
    __array_priority__ = 100

    def __init__(self, lo: Any, hi: Any | None = None) -> None:
        lo = np.asarray(lo, dtype=np.float64)
        hi = lo if hi is None else np.asarray(hi, dtype=np.float64)
        if np.isnan(lo).any() or np.isnan(hi).any():
            raise ValueError("NaN in an interval array")
        self.lo, self.hi = np.broadcast_arrays(lo, hi)

    @classmethod
    def from_enclosure(cls, e: Enclosure) -> IntervalArray:
        return cls(e.lower_float, e.upper_float)

    @staticmethod
    def wrap(x: Any) -> IntervalArray:
        """``x`` as an interval array: itself, an :class:`Enclosure` rounded outward to
        doubles, or an exact number (a float is the double it is)."""
        if isinstance(x, IntervalArray):
            return x
        if isinstance(x, Enclosure):
            return IntervalArray.from_enclosure(x)
        if isinstance(x, (int, np.integer)) and abs(int(x)) <= 2**53:
            return IntervalArray(float(x))
        if isinstance(x, (float, np.floating)):
            return IntervalArray(float(x))
        raise UnsupportedOperation(f"cannot use {x!r} in interval arrays")

    # the former private spelling, kept while the parallel #14 branches merge
    _wrap = wrap

    def __add__(self, o: Any) -> IntervalArray:
        o = self.wrap(o)
        with np.errstate(over="ignore"):  # +-inf sums: one step inward is still outside
            return IntervalArray(_dn(self.lo + o.lo), _up(self.hi + o.hi))

    __radd__ = __add__

    def __neg__(self) -> IntervalArray:
        return IntervalArray(-self.hi, -self.lo)

    def __sub__(self, o: Any) -> IntervalArray:
        return self + (-self.wrap(o))

    def __rsub__(self, o: Any) -> IntervalArray:
        return self.wrap(o) + (-self)

    def __mul__(self, o: Any) -> IntervalArray:
        o = self.wrap(o)
        # overflow: a product beyond 1.8e308 rounds to +-inf, moved one step inward by
        # _dn/_up below (DBL_MAX is still on the right side of the exact product)
        with np.errstate(invalid="ignore", over="ignore"):
            p0, p1, p2, p3 = self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi
        # a NaN product is inf * 0, which is 0 for intervals; fmin/fmax skip it, and the
        # 0 is then also the product of the other (finite) endpoint with that 0, unless
        # every product is NaN ([-inf, inf] * [0, 0]), handled below
        lo = np.fmin(np.fmin(p0, p1), np.fmin(p2, p3))
        hi = np.fmax(np.fmax(p0, p1), np.fmax(p2, p3))
        if np.isnan(lo).any():
            lo = np.where(np.isnan(lo), 0.0, lo)
            hi = np.where(np.isnan(hi), 0.0, hi)
        return IntervalArray(_dn(lo), _up(hi))

    __rmul__ = __mul__

    def reciprocal(self) -> IntervalArray:
        pos = self.lo > 0
        neg = self.hi < 0
        ok = pos | neg
        with np.errstate(divide="ignore"):
            lo = np.where(ok, _dn(1.0 / np.where(ok, self.hi, 1.0)), _NEG_INF)
            hi = np.where(ok, _up(1.0 / np.where(ok, self.lo, 1.0)), _POS_INF)
        return IntervalArray(lo, hi)

    def __truediv__(self, o: Any) -> IntervalArray:
        o = self.wrap(o)
        # direct quotients are correctly rounded; use them when the divisor excludes 0
        if np.all((o.lo > 0) | (o.hi < 0)):
            with np.errstate(invalid="ignore"):
                qs = [self.lo / o.lo, self.lo / o.hi, self.hi / o.lo, self.hi / o.hi]
            if any(np.isnan(q).any() for q in qs):
                return self * o.reciprocal()
            lo = np.minimum(np.minimum(qs[0], qs[1]), np.minimum(qs[2], qs[3]))
            hi = np.maximum(np.maximum(qs[0], qs[1]), np.maximum(qs[2], qs[3]))
            return IntervalArray(_dn(lo), _up(hi))
        return self * o.reciprocal()

    def __rtruediv__(self, o: Any) -> IntervalArray:
        return self.wrap(o) / self

    def sqrt(self) -> IntervalArray:
        if np.any(self.hi < 0):
            raise ValueError("sqrt of an interval that is entirely negative")
        lo = np.maximum(self.lo, 0.0)
        return IntervalArray(np.maximum(_dn(np.sqrt(lo)), 0.0), _up(np.sqrt(self.hi)))

    def abs(self) -> IntervalArray:
        lo = np.where(self.lo >= 0, self.lo, np.where(self.hi <= 0, -self.hi, 0.0))
        hi = np.maximum(np.abs(self.lo), np.abs(self.hi))
        return IntervalArray(lo, hi)

    def square(self) -> IntervalArray:
        a = self.abs()
        with np.errstate(over="ignore"):  # +inf: _dn gives DBL_MAX, below the square
            return IntervalArray(_dn(a.lo * a.lo), _up(a.hi * a.hi))

    def __pow__(self, n: Any) -> IntervalArray:
        if isinstance(n, (int, np.integer)):
            n = int(n)
            if n == 0:
                return IntervalArray(np.ones_like(self.lo))
            if n < 0:
                return (self ** (-n)).reciprocal()
            if n % 2 == 0:
                r = self.square()
                return r if n == 2 else r ** (n // 2)
            r = self
            for _ in range(n - 1):
                r = r * self
            return r
        raise UnsupportedOperation(f"interval arrays support integer powers only, not {n!r}")

    @staticmethod
    def maximum(*xs: Any) -> IntervalArray:
        ws = [IntervalArray.wrap(x) for x in xs]
        lo, hi = ws[0].lo, ws[0].hi
        for w in ws[1:]:
            lo, hi = np.maximum(lo, w.lo), np.maximum(hi, w.hi)
        return IntervalArray(lo, hi)

    @staticmethod
    def minimum(*xs: Any) -> IntervalArray:
        ws = [IntervalArray.wrap(x) for x in xs]
        lo, hi = ws[0].lo, ws[0].hi
        for w in ws[1:]:
            lo, hi = np.minimum(lo, w.lo), np.minimum(hi, w.hi)
        return IntervalArray(lo, hi)

    def __len__(self) -> int:
        return len(self.lo)

    def __getitem__(self, idx: Any) -> IntervalArray:
        return IntervalArray(self.lo[idx], self.hi[idx])

    def upper_max(self) -> Enclosure:
        """Enclosure [max lo, max hi]: the upper end bounds the largest element."""
        return Enclosure.from_floats(float(np.max(self.lo)), float(np.max(self.hi)))

    def mean(self) -> Enclosure:
        """Certified enclosure of the mean of the (exact) values the elements enclose:
        ``math.fsum`` of each end is correctly rounded, one ulp outward makes it a bound,
        and the division by the count is an outward-rounded interval operation."""
        if self.lo.size == 0:
            raise ValueError("the mean of an empty IntervalArray is undefined")
        try:
            lo = math.fsum(self.lo.ravel().tolist())
            hi = math.fsum(self.hi.ravel().tolist())
        except OverflowError:  # a partial sum beyond 1.8e308: directed mpf sums instead
            return Enclosure(_directed_mean(self.lo.ravel().tolist(), "d"),
                             _directed_mean(self.hi.ravel().tolist(), "u"))
        tot = iv.mpf([float(np.nextafter(lo, -np.inf)), float(np.nextafter(hi, np.inf))])
        return Enclosure.from_interval(tot / self.lo.size)

    def __repr__(self) -> str:
        return f"IntervalArray(lo={self.lo!r}, hi={self.hi!r})"



def _directed_mean(values: list[float], rounding: str) -> mpmath.mpf:
    """The mean of doubles with every operation rounded in direction ``rounding``
    (``"d"``: a lower bound, ``"u"``: an upper bound) at 113 bits; mpf exponents do not
    overflow."""
    tot = mpmath.mpf(0)
    for v in values:
        tot = mpmath.fadd(tot, v, prec=113, rounding=rounding)
    return mpmath.fdiv(tot, len(values), prec=113, rounding=rounding)
