"""lipschitz_verdict decides against the exact decimal target, never its double."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp

from symlip.arith.enclosure import Enclosure
from symlip.arith.verdict import lipschitz_verdict
from symlip.bounds.result import BoundResult
from symlip.symbolic.derivation import Derivation
from symlip.symbolic.formula import Formula

a = sp.Symbol("a", nonnegative=True)


def _result(upper: float, lower: float | None = None) -> BoundResult:
    e = Enclosure.from_floats(upper, upper)
    low = None if lower is None else Enclosure.from_floats(lower, upper)
    return BoundResult("input_lipschitz", "l2", e, Formula(a, [a]), {"a": e},
                       Derivation("d"), lower_enclosure=low)


def test_upper_equal_to_the_double_is_not_certified_for_the_decimal():
    # the double 0.1 is 0.1000000000000000055... > 1/10
    v = lipschitz_verdict(_result(0.1), 0.1)
    assert v["verdict"] == "undecided"
    assert Fraction(v["margin"]) >= Fraction(0.1) - Fraction(1, 10) > 0


def test_lower_equal_to_the_double_refutes_the_decimal():
    # the certified lower bound is the double 0.1 > 1/10 exactly: refuted
    v = lipschitz_verdict(_result(0.2, lower=0.1), "0.1")
    assert v["verdict"] == "refuted"


@pytest.mark.parametrize("target", [0.3, "0.3", Fraction(3, 10)])
def test_certified_and_refuted_when_clear(target):
    assert lipschitz_verdict(_result(0.25), target)["verdict"] == "certified-0.3-lipschitz"
    assert lipschitz_verdict(_result(0.5, lower=0.4), target)["verdict"] == "refuted"
    assert lipschitz_verdict(_result(0.5, lower=0.2), target)["verdict"] == "undecided"


def test_exact_targets_hit_exactly():
    assert lipschitz_verdict(_result(1.0), 1)["verdict"] == "certified-1-lipschitz"
    assert lipschitz_verdict(_result(0.125), 0.125)["verdict"] == "certified-0.125-lipschitz"
    assert lipschitz_verdict(_result(0.125), 0.125)["margin"] == "0"
