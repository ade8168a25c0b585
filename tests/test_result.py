"""BoundResult's printed numbers keep their direction: uppers rounded up, lowers down."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp

from symlip.arith.enclosure import Enclosure
from symlip.bounds.result import BoundResult
from symlip.symbolic.derivation import Derivation
from symlip.symbolic.formula import Formula

a = sp.Symbol("a", nonnegative=True)


def _result(lower: float, upper: float) -> BoundResult:
    return BoundResult("input_lipschitz", "l2", Enclosure.from_floats(upper, upper),
                       Formula(a, [a]), {"a": Enclosure.from_floats(upper, upper)},
                       Derivation("d"), lower_enclosure=Enclosure.from_floats(lower, upper),
                       estimate=lower)


def _field(text: str, key: str) -> str:
    return text.split(f"{key}=")[1].split(" ")[0]


@pytest.mark.parametrize("lower,upper", [(1.2345675, 2.0), (0.99999999, 1.0000001),
                                         (3.0000004999, 3.1)])
def test_repr_rounds_lower_down_and_upper_up(lower, upper):
    text = repr(_result(lower, upper))
    assert Fraction(_field(text, "lower")) <= Fraction(lower)
    assert Fraction(_field(text, "upper")) >= Fraction(upper)
    assert "(certified)" in text
