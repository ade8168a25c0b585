"""read_srepr: the restricted certificate reader round-trips what srepr writes."""

from __future__ import annotations

import pytest
import sympy as sp

from symlip.symbolic.formula import Formula, read_srepr
from symlip.symbolic.functions import sigmoid

x = sp.Symbol("x", nonnegative=True)
y = sp.Symbol("y")

ROUND_TRIP = [
    sp.oo,
    -sp.oo,
    x + sp.oo,
    sp.oo * x,
    sp.Max(x, y, sp.Integer(3)),
    sp.Min(y, sp.oo + x),
    sp.Piecewise((x, x > 1), (sp.oo, True)),
    sp.Piecewise((y, y < 0), (-sp.oo, sp.Eq(y, 2)), (sp.Rational(1, 3), True)),
    sp.pi * x + sp.E,
    sp.sqrt(2) * sp.exp(x) * sp.log(1 + x),
    sp.Abs(y) ** sp.Rational(3, 2),
    sigmoid(y) * sp.tanh(y),
    sp.Float("0.1", 30) * x,
    sp.Tuple(x, sp.oo, -sp.oo),
]


@pytest.mark.parametrize("expr", ROUND_TRIP, ids=str)
def test_read_srepr_round_trips(expr):
    assert read_srepr(sp.srepr(expr)) == expr


def test_formula_with_infinity_round_trips():
    f = Formula(sp.Max(x * y, sp.oo * x), [x, y], name="L")
    g = Formula.from_srepr(f.srepr(), ["x", "y"], name="L")
    assert g.expr == f.expr
    assert [str(s) for s in g.inputs] == ["x", "y"]


@pytest.mark.parametrize(
    "text",
    [
        "zoo",
        "nan",
        "__import__('os')",
        "Symbol('x').evalf()",
        "os",
        "Add(Symbol('x'), foo)",
        "Integer(1) + Integer(2)",
        "Add(",
    ],
)
def test_read_srepr_rejects(text):
    with pytest.raises(ValueError):
        read_srepr(text)
