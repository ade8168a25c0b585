"""The interval layer: known traps, rigorous kernels, exact conversions."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import (
    Enclosure,
    Truth,
    UnsupportedOperation,
    compare,
    outward_decimal,
    parse_decimal_enclosure,
    working_precision,
)
from symlip.symbolic.compile import enclose, interval_lambdify
from symlip.symbolic.functions import sigmoid

x, y = sp.symbols("x y", real=True)


def ref(fn, v, prec=300):
    with mpmath.workprec(prec):
        return fn(mpmath.mpf(v))


def test_max_plus_exp_trap():
    # lambdify would print Max as Python max(), which picks a branch on intervals
    f = interval_lambdify([x], sp.Max(x, 0) + sp.exp(x))
    e = Enclosure.from_interval(f(Enclosure.from_floats(-0.5, 1.0)))
    assert e.lower <= mpmath.exp(-0.5) and e.lower > 0.6065
    assert e.upper >= mpmath.e and e.upper < 3.7183


def test_piecewise_straddling_break_joins_branches():
    f = interval_lambdify([x], sp.Piecewise((x**2, x < 0), (x + 1, True)))
    e = Enclosure.from_interval(f(Enclosure.from_floats(-1.0, 1.0)))
    assert e.contains(0) and e.contains(2) and e.contains(1)
    # entirely on one side: only that branch
    e2 = Enclosure.from_interval(f(Enclosure.from_floats(0.5, 1.0)))
    assert e2.lower == 1.5 and e2.upper == 2


def test_piecewise_undecided_condition_on_point_break():
    f = interval_lambdify([x], sp.Piecewise((-1, x < 0), (1, True)))
    e = Enclosure.from_interval(f(0.0))
    assert e.lower == 1 and e.upper == 1
    e = Enclosure.from_interval(f(Enclosure.from_floats(-1e-300, 0.0)))
    assert e.lower == -1 and e.upper == 1


@pytest.mark.parametrize(
    "fn,mfn",
    [(sp.tanh, mpmath.tanh), (sp.erf, mpmath.erf), (sp.atan, mpmath.atan),
     (sp.sinh, mpmath.sinh), (sp.cosh, mpmath.cosh), (sp.erfc, mpmath.erfc),
     (sp.exp, mpmath.exp), (sp.sin, mpmath.sin), (sp.cos, mpmath.cos),
     (sigmoid, lambda t: 1 / (1 + mpmath.exp(-t)))],
)
@pytest.mark.parametrize("v", [-40.0, -6.5, -3.0, -0.7, -1e-9, 0.0, 1e-300, 0.3, 1.0, 5.9, 7.0, 40.0])
def test_point_kernels_enclose_high_precision_reference(fn, mfn, v):
    f = interval_lambdify([x], fn(x))
    e = Enclosure.from_interval(f(v))
    r = ref(mfn, v)
    assert e.contains(r), (fn, v, e, r)
    assert e.width <= mpmath.mpf(2) ** -60 * max(1, abs(r))


@settings(max_examples=60, deadline=None)
@given(st.floats(-8, 8), st.floats(0, 3))
def test_monotone_kernels_on_intervals(a, w):
    lo, hi = a, a + w
    for fn, mfn in [(sp.tanh, mpmath.tanh), (sp.erf, mpmath.erf), (sp.atan, mpmath.atan)]:
        e = Enclosure.from_interval(interval_lambdify([x], fn(x))(Enclosure.from_floats(lo, hi)))
        for t in np.linspace(lo, hi, 5):
            assert e.contains(ref(mfn, float(t)))


def test_mpmath_iv_lacks_or_breaks_these_functions():
    # the reason the kernels exist
    from mpmath import iv

    assert not hasattr(iv, "tanh") and not hasattr(iv, "atan")


def test_constants_enclosed_exactly():
    e = enclose(4 * sp.sqrt(3) / 9)
    with mpmath.workprec(200):
        assert e.contains(4 * mpmath.sqrt(3) / 9)
    assert 0 < e.width < 1e-20
    k = enclose(sp.Rational(1, 2) + sp.erf(1) / 2 + sp.exp(-1) / sp.sqrt(sp.pi))
    with mpmath.workprec(200):
        assert k.contains(mpmath.mpf(1) / 2 + mpmath.erf(1) / 2 + mpmath.exp(-1) / mpmath.sqrt(mpmath.pi))
    assert enclose(sp.Rational(1, 3)).contains(Fraction(1, 3))


def test_float_enters_as_its_double_not_the_decimal():
    e = Enclosure.point(0.1)
    assert e.lower == e.upper
    assert not e.contains(Fraction(1, 10))
    d = parse_decimal_enclosure("0.1", "0.1")
    assert d.contains(Fraction(1, 10)) and d.width > 0


def test_outward_decimal_rounding():
    third = mpmath.mpf(1) / 3
    assert outward_decimal(third, 5, up=True) == "0.33334"
    assert outward_decimal(third, 5, up=False) == "0.33333"
    assert outward_decimal(-third, 5, up=True) == "-0.33333"
    assert outward_decimal(-third, 5, up=False) == "-0.33334"
    assert outward_decimal(mpmath.inf) == "inf"
    for v in [1e-300, -2.5e17, 123.456, 1 / 7]:
        assert Fraction(outward_decimal(v, 6, up=True)) >= Fraction(v)
        assert Fraction(outward_decimal(v, 6, up=False)) <= Fraction(v)


def test_enclosure_never_rounds_endpoints_to_global_precision():
    with working_precision(200):
        e = enclose(sp.Rational(1, 3), prec=200)
    assert e.lower < e.upper
    assert e.width < mpmath.mpf(2) ** -150


def test_three_valued_comparison():
    a = Enclosure.from_floats(1, 2)
    assert compare(a, "<", 3) is Truth.TRUE
    assert compare(a, ">", 3) is Truth.FALSE
    assert compare(a, "<", 1.5) is Truth.UNDECIDED
    with pytest.raises(TypeError):
        bool(Truth.UNDECIDED)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3),
       st.lists(st.floats(0, 10), min_size=3, max_size=3))
def test_numpy_backend_encloses_mpmath_backend(mids, rads):
    expr = sp.sqrt(x**2 + 1) * y - sp.Max(x, y) / (y**2 + 1) + sp.Abs(x - y) ** 3
    fn = interval_lambdify([x, y], expr, backend="numpy")
    fm = interval_lambdify([x, y], expr, backend="mpmath", prec=200)
    xs = np.array(mids)
    ys = (np.array(mids) - np.array(rads), np.array(mids) + np.array(rads))
    arr = fn(xs, ys)
    for i in range(3):
        with mpmath.workprec(200):
            for t in (ys[0][i], ys[1][i], (ys[0][i] + ys[1][i]) / 2):
                v = expr.subs({x: sp.Float(xs[i], 53), y: sp.Float(float(t), 53)})
                assert arr.lo[i] <= float(v.evalf(60)) <= arr.hi[i] or Enclosure.from_floats(
                    arr.lo[i], arr.hi[i]).contains(mpmath.mpf(str(v.evalf(60))))
        em = Enclosure.from_interval(fm(float(xs[i]), Enclosure.from_floats(ys[0][i], ys[1][i])))
        assert arr.lo[i] <= em.upper_float and em.lower_float <= arr.hi[i]


def test_numpy_backend_refuses_transcendentals():
    with pytest.raises(UnsupportedOperation):
        interval_lambdify([x], sp.sin(x), backend="numpy")  # exp is rigorous there now


def test_numpy_outward_rounding_is_strict():
    a = IntervalArray(np.array([0.1]))
    s = a + a + a
    assert s.lo[0] < 0.30000000000000004 or s.lo[0] <= 0.3
    assert Enclosure.from_floats(s.lo[0], s.hi[0]).contains(Fraction(3) * Fraction(0.1))


def test_abs_of_a_straddling_interval_keeps_its_high_precision_end():
    """``-lo`` on an mpf rounds to 53 bits: |[-(1 + 2^-70), 1/2]| must reach 1 + 2^-70."""
    import mpmath
    import sympy as sp

    from symlip.arith.enclosure import Enclosure
    from symlip.symbolic.compile import interval_lambdify

    x = sp.Symbol("x", real=True)
    lo = mpmath.fadd(1, mpmath.ldexp(1, -70), exact=True)
    r = Enclosure.from_interval(interval_lambdify([x], sp.Abs(x), prec=113)(
        Enclosure(mpmath.fneg(lo, exact=True), mpmath.mpf(0.5))))
    assert r.lower == 0 and r.upper >= lo


def test_decimal_reader_refuses_huge_exponents_and_non_decimals():
    # a tampered certificate must not make verify expand a billion-digit integer
    from symlip.arith.enclosure import parse_decimal_enclosure

    for bad in ("1e999999999", "-2E-100000", "abc", "1/3", "0x1p3", ""):
        with pytest.raises(ValueError):
            parse_decimal_enclosure(bad, bad)
    e = parse_decimal_enclosure("0.1", "1e300")

    def exact(x):
        m, ex = x.man_exp
        return Fraction(m) * Fraction(2) ** ex

    assert exact(e.lower) <= Fraction(1, 10) and exact(e.upper) >= Fraction(10) ** 300
