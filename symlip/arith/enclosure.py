r"""Certified scalars: :class:`Enclosure`, three-valued comparison, exact conversions.

Guarantee (stated once, relied on everywhere): every function of :mod:`symlip.arith`
that returns an interval returns an *enclosure* — a closed interval that contains the
exact real value for every admissible value of its inputs — and every endpoint is
rounded outward (lower end towards $-\infty$, upper end towards $+\infty$).

This module holds the value type of a certified scalar (:class:`Enclosure`, exact binary
endpoints as ``mpmath.mpf``), the exact conversions between doubles, ``mpmath.mpf``,
Fractions and the decimal / hexadecimal text certificates store
(:func:`outward_decimal`, :func:`exact_hex`, :func:`parse_decimal_enclosure`), and
three-valued comparison (:class:`Truth`, :func:`compare`).

Exact inputs enter exactly: a float is the double it is (``Enclosure.point(0.1)``
encloses 0.1000000000000000055..., not 1/10).  Comparisons of intervals are
three-valued; never use the truth value of an ``mpmath.iv`` comparison (``None`` in
mpmath 1.3, an exception from 1.4).

Related modules: :mod:`symlip.arith.mpfuncs` (rigorous scalar functions on
``mpmath.iv`` intervals), :mod:`symlip.arith.array` (:class:`IntervalArray`),
:mod:`symlip.arith.kernels` (rigorous float64 transcendental kernels) and
:mod:`symlip.symbolic.compile` (SymPy expressions evaluated on intervals).
"""

from __future__ import annotations

import contextlib
import enum
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
from mpmath import iv
from mpmath.libmp import round_ceiling, round_floor
from mpmath.libmp.libmpf import from_int, from_man_exp, mpf_pos

__all__ = [
    "DEFAULT_PREC",
    "Enclosure",
    "Truth",
    "UnsupportedOperation",
    "compare",
    "endpoints",
    "exact_hex",
    "exact_mpf",
    "float_to_mpf",
    "iv_from",
    "make_mpf",
    "mpf_to_float",
    "mpf_to_fraction",
    "outward_decimal",
    "parse_decimal_enclosure",
    "parse_exact_hex",
    "working_precision",
]

#: Default binary precision (bits) of scalar interval evaluation.
DEFAULT_PREC = 80

# ``mpmath.mpf(x)`` re-rounds ``x`` to the *global* precision (to nearest): never use it
# on an endpoint.  ``make_mpf`` wraps a raw mpf tuple exactly.
make_mpf = mpmath.mp.make_mpf


class UnsupportedOperation(TypeError):
    """Raised when an interval backend cannot evaluate a node rigorously."""


# ----------------------------------------------------------------------------------
# precision and three-valued logic
# ----------------------------------------------------------------------------------


@contextlib.contextmanager
def working_precision(bits: int) -> Iterator[None]:
    """Run a block with ``mpmath.iv`` at ``bits`` of precision; restore it afterwards."""
    if bits < 10:
        raise ValueError(f"{bits=} must be >= 10")
    old = iv.prec
    iv.prec = int(bits)
    try:
        yield
    finally:
        iv.prec = old


class Truth(enum.Enum):
    """Outcome of a comparison of enclosures: decided either way, or undecided."""

    TRUE = "true"
    FALSE = "false"
    UNDECIDED = "undecided"

    def __bool__(self) -> bool:  # pragma: no cover - guard against misuse
        raise TypeError(
            "a Truth is three-valued; compare it with Truth.TRUE / Truth.FALSE explicitly"
        )

    def negate(self) -> Truth:
        return {Truth.TRUE: Truth.FALSE, Truth.FALSE: Truth.TRUE}.get(self, Truth.UNDECIDED)


def endpoints(x: Any) -> tuple[mpmath.mpf, mpmath.mpf]:
    """Exact endpoints (as ``mpmath.mpf``) of an enclosure, interval or exact number."""
    if isinstance(x, Enclosure):
        return x.lower, x.upper
    if hasattr(x, "_mpi_"):  # iv.mpf and mpmath's interval constants
        lo, hi = x._mpi_
        return make_mpf(lo), make_mpf(hi)
    if isinstance(x, (int, np.integer)):
        v = exact_mpf(x)
        return v, v
    if isinstance(x, (float, np.floating)):
        v = float_to_mpf(float(x))
        return v, v
    if isinstance(x, Fraction):
        e = Enclosure.from_fraction(x)
        return e.lower, e.upper
    if isinstance(x, mpmath.mpf):
        return x, x
    raise TypeError(f"cannot compare {type(x).__name__} value {x!r} as an interval")


def compare(a: Any, op: str, b: Any) -> Truth:
    """Three-valued comparison of two enclosures (or exact numbers).

    ``compare(a, "<=", b)`` is ``Truth.TRUE`` when every point of ``a`` is <= every
    point of ``b``, ``Truth.FALSE`` when no point is, ``Truth.UNDECIDED`` otherwise.
    """
    alo, ahi = endpoints(a)
    blo, bhi = endpoints(b)
    if op == "<":
        return Truth.TRUE if ahi < blo else Truth.FALSE if alo >= bhi else Truth.UNDECIDED
    if op == "<=":
        return Truth.TRUE if ahi <= blo else Truth.FALSE if alo > bhi else Truth.UNDECIDED
    if op == ">":
        return compare(b, "<", a)
    if op == ">=":
        return compare(b, "<=", a)
    if op == "==":
        if alo == ahi == blo == bhi:
            return Truth.TRUE
        return Truth.FALSE if (ahi < blo or bhi < alo) else Truth.UNDECIDED
    if op == "!=":
        return compare(a, "==", b).negate()
    raise ValueError(f"{op=} must be one of <, <=, >, >=, ==, !=")


# ----------------------------------------------------------------------------------
# exact conversions
# ----------------------------------------------------------------------------------


def float_to_mpf(x: float) -> mpmath.mpf:
    """The double ``x`` as an exact ``mpmath.mpf`` (no rounding: mantissa and exponent)."""
    if math.isnan(x):
        raise ValueError("NaN has no enclosure")
    if math.isinf(x):
        return mpmath.inf if x > 0 else -mpmath.inf
    m, e = math.frexp(x)
    man = int(m * (1 << 53))
    return make_mpf(from_man_exp(man, e - 53))


def exact_mpf(x: Any) -> mpmath.mpf:
    """An exact mpf for an mpf, int, float or Fraction-free value (never re-rounded)."""
    if isinstance(x, mpmath.mpf):
        return x
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("a boolean is not a number")
    if isinstance(x, (int, np.integer)):
        return make_mpf(from_int(int(x)))
    if isinstance(x, (float, np.floating)):
        return float_to_mpf(float(x))
    raise TypeError(f"cannot take {type(x).__name__} {x!r} as an exact endpoint")


def mpf_to_fraction(x: mpmath.mpf) -> Fraction:
    """A finite mpf exactly as a Fraction."""
    sign, man, exp, _ = x._mpf_
    if not man and exp:  # pragma: no cover - inf/nan handled by callers
        raise ValueError(f"{x} is not finite")
    man = -int(man) if sign else int(man)
    return Fraction(man * (1 << exp)) if exp >= 0 else Fraction(man, 1 << -exp)


def _round_mpf(x: mpmath.mpf, prec: int, up: bool) -> mpmath.mpf:
    return make_mpf(mpf_pos(x._mpf_, prec, round_ceiling if up else round_floor))


def iv_from(lo: mpmath.mpf, hi: mpmath.mpf) -> iv.mpf:
    """An ``iv.mpf`` holding [lo, hi], rounded outward to the current ``iv.prec``."""
    p = iv.prec
    return iv.mpf((_round_mpf(lo, p, False), _round_mpf(hi, p, True)))


def mpf_to_float(x: mpmath.mpf, up: bool) -> float:
    """Round an mpf to a double in the given direction (exactly, via Fraction)."""
    if mpmath.isinf(x):
        return math.inf if x > 0 else -math.inf
    f = float(x)  # round to nearest
    if float_to_mpf(f) == x:  # exact
        return f
    if up:
        return f if float_to_mpf(f) >= x else math.nextafter(f, math.inf)
    return f if float_to_mpf(f) <= x else math.nextafter(f, -math.inf)


def outward_decimal(x: Any, digits: int = 17, up: bool = True) -> str:
    """A decimal string for ``x`` rounded up (``up=True``) or down, with ``digits``
    significant digits.  Infinities are ``"inf"`` / ``"-inf"``.

    The string parses back (``Fraction(s)``) to a number >= x (or <= x): rounding is
    done in exact rational arithmetic.
    """
    x = exact_mpf(x)
    if mpmath.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    q = mpf_to_fraction(x)
    k = _floor_log10(abs(q))
    shift = digits - 1 - k
    scaled = q * Fraction(10) ** shift
    n = math.ceil(scaled) if up else math.floor(scaled)
    d = Decimal(n).scaleb(-shift)
    s = format(d.normalize(), "f") if -7 <= k <= 16 else str(d.normalize())
    return s


def _floor_log10(q: Fraction) -> int:
    k = len(str(q.numerator)) - len(str(q.denominator))
    while Fraction(10) ** k > q:
        k -= 1
    while Fraction(10) ** (k + 1) <= q:
        k += 1
    return k


# ----------------------------------------------------------------------------------
# Enclosure: the public value type of a certified scalar
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enclosure:
    """A closed interval ``[lower, upper]`` certified to contain a real quantity.

    The endpoints are exact binary numbers (``mpmath.mpf``).  ``upper`` is the certified
    upper bound: it is the upper endpoint of an outward-rounded enclosure.
    """

    lower: mpmath.mpf
    upper: mpmath.mpf

    def __post_init__(self) -> None:
        lo, hi = exact_mpf(self.lower), exact_mpf(self.upper)
        if mpmath.isnan(lo) or mpmath.isnan(hi):
            raise ValueError("an enclosure cannot have NaN endpoints")
        if lo > hi:
            raise ValueError(f"enclosure lower={lo} > upper={hi}")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    # -- constructors ------------------------------------------------------------
    @classmethod
    def from_interval(cls, x: iv.mpf) -> Enclosure:
        lo, hi = x._mpi_
        return cls(make_mpf(lo), make_mpf(hi))

    @classmethod
    def from_floats(cls, lower: float, upper: float) -> Enclosure:
        """Enclosure with float endpoints taken exactly as the doubles they are."""
        return cls(float_to_mpf(float(lower)), float_to_mpf(float(upper)))

    @classmethod
    def point(cls, value: float | int) -> Enclosure:
        """The exact value of a double or an integer (a float is *not* read as decimal)."""
        v = exact_mpf(value)
        return cls(v, v)

    @classmethod
    def from_fraction(cls, q: Fraction, prec: int = 113) -> Enclosure:
        num = make_mpf(from_int(q.numerator))
        den = make_mpf(from_int(q.denominator))
        with mpmath.workprec(prec):
            lo = mpmath.fdiv(num, den, rounding="f")
            hi = mpmath.fdiv(num, den, rounding="c")
        return cls(lo, hi)

    @classmethod
    def unbounded_above(cls, lower: Any = 0) -> Enclosure:
        return cls(exact_mpf(lower), mpmath.inf)

    # -- views -------------------------------------------------------------------
    def to_interval(self) -> iv.mpf:
        return iv_from(self.lower, self.upper)

    @property
    def is_finite(self) -> bool:
        return not (mpmath.isinf(self.lower) or mpmath.isinf(self.upper))

    @property
    def width(self) -> mpmath.mpf:
        """upper - lower, computed exactly."""
        return mpmath.fsub(self.upper, self.lower, exact=True)

    @property
    def upper_float(self) -> float:
        """The upper endpoint rounded *up* to a double (still a certified upper bound)."""
        return mpf_to_float(self.upper, up=True)

    @property
    def lower_float(self) -> float:
        """The lower endpoint rounded *down* to a double."""
        return mpf_to_float(self.lower, up=False)

    @property
    def mid_float(self) -> float:
        if not self.is_finite:
            return float(self.upper) if mpmath.isinf(self.lower) is False else float(self.lower)
        return float((self.lower + self.upper) / 2)

    def contains(self, x: Any) -> bool:
        lo, hi = endpoints(x)
        return self.lower <= lo and hi <= self.upper

    def hull(self, other: Enclosure) -> Enclosure:
        return Enclosure(min(self.lower, other.lower), max(self.upper, other.upper))

    def lower_str(self, digits: int = 17) -> str:
        return outward_decimal(self.lower, digits, up=False)

    def upper_str(self, digits: int = 17) -> str:
        return outward_decimal(self.upper, digits, up=True)

    def to_dict(self, digits: int = 17, exact: bool = False) -> dict[str, str]:
        """``{"lower": ..., "upper": ...}`` as decimal strings rounded outward; with
        ``exact=True`` also ``"lower_exact"``/``"upper_exact"``: the binary endpoints
        exactly, as ``"[-]0x<hex mantissa>p<exponent>"`` (see :func:`exact_hex`)."""
        d = {"lower": self.lower_str(digits), "upper": self.upper_str(digits)}
        if exact:
            d["lower_exact"] = exact_hex(self.lower)
            d["upper_exact"] = exact_hex(self.upper)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, str]) -> Enclosure:
        """Inverse of :meth:`to_dict`; exact endpoints are used when present and must lie
        inside the decimal ones (else ``ValueError``: the numbers were edited)."""
        dec = parse_decimal_enclosure(d["lower"], d["upper"])
        if "lower_exact" not in d and "upper_exact" not in d:
            return dec
        ex = cls(parse_exact_hex(d["lower_exact"]), parse_exact_hex(d["upper_exact"]))
        if not (dec.lower <= ex.lower and ex.upper <= dec.upper):
            raise ValueError(f"decimal endpoints [{d['lower']}, {d['upper']}] do not enclose "
                             "the exact ones: the numbers were edited")
        return ex

    def __repr__(self) -> str:
        return f"[{self.lower_str(12)}, {self.upper_str(12)}]"


def exact_hex(x: mpmath.mpf) -> str:
    """An mpf exactly as ``"[-]0x<hex mantissa>p<binary exponent>"`` (``"inf"``, ``"-inf"``)."""
    x = exact_mpf(x)
    if mpmath.isinf(x):
        return "inf" if x > 0 else "-inf"
    sign, man, exp, _ = x._mpf_
    return f"{'-' if sign else ''}0x{int(man):x}p{int(exp)}"


def parse_exact_hex(s: str) -> mpmath.mpf:
    """Inverse of :func:`exact_hex` (exact; raises ``ValueError`` on malformed text)."""
    s = str(s).strip()
    if s in ("inf", "-inf"):
        return mpmath.inf if s == "inf" else -mpmath.inf
    neg = s.startswith("-")
    body = s[1:] if neg else s
    if not body.startswith("0x") or "p" not in body:
        raise ValueError(f"{s!r} is not an exact binary number '0x<hex>p<exp>'")
    man_s, exp_s = body[2:].split("p", 1)
    man, exp = int(man_s, 16), int(exp_s)
    return make_mpf(from_man_exp(-man if neg else man, exp))


#: a decimal number as certificates write it (no spaces, optional exponent)
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE](?P<exp>[+-]?\d+))?")
#: far beyond any double (1e308) and any bound symlip writes; larger exponents are
#: rejected instead of expanded into huge integers
_MAX_DECIMAL_EXPONENT = 10_000


def parse_decimal_enclosure(lower: str, upper: str, prec: int = 113) -> Enclosure:
    """Read decimal strings back into an enclosure that contains both exact decimals."""

    def read(s: str, up: bool) -> mpmath.mpf:
        s = str(s).strip()
        if s in ("inf", "+inf", "Infinity"):
            return mpmath.inf
        if s in ("-inf", "-Infinity"):
            return -mpmath.inf
        # Fraction("1e999999999") would build a billion-digit integer: cap the exponent
        m = _DECIMAL.fullmatch(s)
        if m is None:
            raise ValueError(f"{s!r} is not a decimal number")
        if m.group("exp") and abs(int(m.group("exp"))) > _MAX_DECIMAL_EXPONENT:
            raise ValueError(f"{s!r} has an exponent beyond +-{_MAX_DECIMAL_EXPONENT}")
        e = Enclosure.from_fraction(Fraction(s), prec)
        return e.upper if up else e.lower

    return Enclosure(read(lower, False), read(upper, True))
