"""rigorous_sup_abs stays an enclosure for non-smooth g (jumps, kinks)."""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp

from symlip.activations.sup import certify_exact_max, rigorous_sup_abs

x = sp.Symbol("x", real=True)
R = sp.Rational


@pytest.mark.parametrize("g,lo,hi,true", [
    # a jump away from the first box centre: SymPy's derivative (0) misses it, and the
    # mean-value form g(0) + g'(X) X = {0} used to cut the box's bound to 0
    (sp.Piecewise((0, x < R(3, 10)), (5, True)), -1, 1, 5),
    (sp.Piecewise((x, x < R(1, 3)), (x - 1, True)), -1, 1, 1),
    (sp.Heaviside(x - R(1, 7)) * 3 + x / 10, -1, 1, R(31, 10)),
    (sp.Abs(x - R(1, 5)) - 2, -1, 1, 2),  # |g| = 2 at the kink x = 1/5
])
def test_sup_of_non_smooth_g_is_enclosed(g, lo, hi, true):
    r = rigorous_sup_abs(g, x, lo, hi)
    with mpmath.workprec(200):
        t = mpmath.mpf(sp.Rational(true).p) / sp.Rational(true).q
        assert r.enclosure.lower <= t <= r.enclosure.upper, r.enclosure


def test_no_exact_certificate_for_non_smooth_g():
    g = sp.Piecewise((-(x**2) + 1, x < 1), (10, True))  # g'(0) = 0 but the sup is 10
    assert certify_exact_max(g, x, sp.Integer(0), -2, 2) is None


def test_smooth_g_still_tight():
    r = rigorous_sup_abs(x * sp.exp(-x), x, 0, 5)
    assert r.exact == sp.exp(-1) and r.enclosure.width < 1e-12


def test_result_carries_its_derivation_and_no_fake_argmax():
    g = x * sp.exp(-(x**2)) + x / 7  # no exact maximiser is guessed for this one
    r = rigorous_sup_abs(g, x, -3, 3, name="g")
    assert r.derivation.title.startswith("rigorous supremum of |g|")
    assert len(r.derivation.steps) >= 2  # branch and bound + the comparison
    assert r.evaluations > 0
    assert r.argmax_exact is None or r.exact is not None


def test_negative_side_maximum_is_not_rounded_down():
    # sup |x - 2^-60| on [-1, 0] is 1 + 2^-60, attained where g < 0: the upper end used
    # to be max(-lo, hi) with -lo rounded to 53 bits (to nearest): 1, below the sup
    g = x - R(1, 2**60)
    r = rigorous_sup_abs(g, x, -1, 0)
    true = mpmath.fadd(1, mpmath.ldexp(1, -60), exact=True)
    assert r.enclosure.lower <= true <= r.enclosure.upper, r.enclosure
