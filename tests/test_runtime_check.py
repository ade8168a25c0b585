"""The run-time cross-check of issue #19: every certified result checks that the float
(lambdified) evaluation of its expression at the centre of its certified inputs lies in
the interval enclosure of the same expression; a failure refuses the result."""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest
import sympy as sp

from symlip.arith.enclosure import Enclosure
from symlip.errors import InternalError
from symlip.models.network import Network
from symlip.symbolic.formula import Formula

RNG = np.random.default_rng(19)
W = [RNG.standard_normal((5, 3)), RNG.standard_normal((4, 5)), RNG.standard_normal((2, 4))]
B = [0.1 * RNG.standard_normal(5), 0.1 * RNG.standard_normal(4), 0.1 * RNG.standard_normal(2)]
X = RNG.standard_normal((6, 3))
Y = RNG.standard_normal((6, 2))


def _net(act="tanh"):
    return Network.from_arrays(W, B, act)


def _input():
    from symlip.bounds.input import input_lipschitz

    return input_lipschitz(_net(), X, input_radius=0.1, lower=False)


def _params():
    from symlip.bounds.param import param_lipschitz

    return param_lipschitz(_net(), X, 0.05, lower=False)


def _gradient():
    from symlip.bounds.smooth import grad_lipschitz

    return grad_lipschitz(_net(), X, Y, "mse", 0.05, lower=False)


def _residual():
    from symlip.bounds.param import param_lipschitz

    net = Network.from_arrays([W[0], 0.3 * np.eye(5), W[1][:, :5], W[2]],
                              [B[0], np.zeros(5), B[1], B[2]], "tanh",
                              steps=[None, 0.5, None, None])
    return param_lipschitz(net, X, 0.05, lower=False)


def _spline():
    from symlip.activations.spline import spline_network
    from symlip.bounds.spline_param import spline_param_lipschitz

    C = [RNG.standard_normal((5, 6)), RNG.standard_normal(6)]
    return spline_param_lipschitz(spline_network(W, B, C, 1.5), X, 0.05, lower=False)


def _cde(order):
    from symlip.cde import ControlledODE, grad_lipschitz, param_lipschitz

    model = ControlledODE.random(2, 3, 2, 1, seed=10)
    U = np.cumsum(np.random.default_rng(1).normal(size=(9, 2)) * 0.1, axis=0)
    Xc = np.random.default_rng(2).normal(size=(3, 2))
    if order == 1:
        return param_lipschitz(model, Xc, U, 0.01, lower=False)
    Yc = np.random.default_rng(3).normal(size=(3, 1))
    return grad_lipschitz(model, Xc, U, Yc, "mse", 0.01, lower=False)


KINDS = {"input+local": _input, "params": _params, "gradient": _gradient,
         "residual": _residual, "spline": _spline, "cde params": lambda: _cde(1),
         "cde gradient": lambda: _cde(2)}


_CACHE: dict = {}


def result(kind):
    if kind not in _CACHE:
        _CACHE[kind] = KINDS[kind]()
    return _CACHE[kind]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_bound_kind_carries_the_check(kind):
    res = result(kind)
    assert res.checked == {"float_in_enclosure": True}
    d = res.to_dict()
    assert d["checked"] == {"float_in_enclosure": True}
    json.dumps(d)
    detail = res._check_detail
    assert detail["operations"] >= 1
    # the float value really lies in the recomputed enclosure of the hull inputs
    enc = res.formula.enclose(res.inputs)
    v = detail["float_value"]
    assert enc.lower - detail["tolerance"] <= v <= enc.upper + detail["tolerance"]


def _corrupt(monkeypatch, cls, shift):
    real = cls.enclose

    def bad(self, *a, **k):
        e = real(self, *a, **k)
        return Enclosure(e.lower + shift(e), e.upper + shift(e))

    monkeypatch.setattr(cls, "enclose", bad)


@pytest.mark.parametrize("kind", ["params", "input+local"])
def test_a_corrupted_enclosure_is_refused(monkeypatch, kind):
    from symlip.symbolic.recursion import RecursiveFormula

    cls = RecursiveFormula if kind == "params" else Formula
    # the enclosure moved below the value by its width plus 1e-9 relative: refused
    _corrupt(monkeypatch, cls,
             lambda e: -(e.upper - e.lower) - abs(e.upper) * mpmath.mpf("1e-9") - 1e-300)
    with pytest.raises(InternalError, match="outside the interval enclosure"):
        KINDS[kind]()


def test_a_refused_result_is_one_cli_line_exit_3(monkeypatch, tmp_path, capsys):
    from symlip.cli import main
    from symlip.models.io import save
    from symlip.symbolic.recursion import RecursiveFormula

    save(_net(), tmp_path / "m.npz")
    np.save(tmp_path / "X.npy", X)
    _corrupt(monkeypatch, RecursiveFormula, lambda e: -abs(e.upper) - 1)
    code = main(["certify", str(tmp_path / "m.npz"), "--wrt", "params", "--radius", "0.1",
                 "--data", str(tmp_path / "X.npy"), "--json", "--certificate",
                 str(tmp_path / "c.json")])
    out, err = capsys.readouterr()
    assert code == 3 and out == ""
    assert len(err.strip().splitlines()) == 1 and "result refused" in err
    assert not (tmp_path / "c.json").exists()


def test_tolerance_is_a_few_ulps_and_nan_is_refused():
    a, b = sp.symbols("a b", nonnegative=True)
    f = Formula(sp.sqrt(a**2 + b**2), [a, b], name="h")
    d = f.check_float_in_enclosure({"a": Enclosure.point(3), "b": Enclosure.point(4)})
    assert d["float_value"] == 5.0 and d["tolerance"] < 1e-13
    # an input enclosure narrower than a double's spacing (no double inside): the box is
    # widened to hold the centre double, so the check still holds
    third = Enclosure(mpmath.mpf(1) / 3 - mpmath.mpf(2) ** -80, mpmath.mpf(1) / 3 + mpmath.mpf(2) ** -80)
    assert f.check_float_in_enclosure({"a": third, "b": third})["float_in_enclosure"]
    g = Formula(a / b, [a, b], name="q")
    with pytest.raises(InternalError, match="NaN"):
        g.check_float_in_enclosure({"a": Enclosure.point(0), "b": Enclosure.point(0)})


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_derivation_shows_simplified_closed_forms_equal_to_definitions(kind):
    """Issue #19: each bound's derivation holds the per-layer closed forms, each followed
    by a "(simplified)" step; the simplified form equals the substituted definitions
    exactly at random positive rational points."""
    from fractions import Fraction

    from symlip.symbolic.simplify import CLOSED_FORM_TITLE, layer_closed_forms

    res = result(kind)
    secs = []

    def walk(d):
        if d.title == CLOSED_FORM_TITLE:
            secs.append(d)
        for s_ in d.sections:
            walk(s_)

    walk(res.derivation)
    assert len(secs) >= 1
    steps = [s_ for sec in secs for s_ in sec.steps]
    assert any(s_.lhs is None and s_.rel == "=" and "(simplified)" in s_.why for s_ in steps)
    assert "(simplified)" in res.derivation.to_latex()
    rng = np.random.default_rng(len(kind))
    for e in layer_closed_forms(res.formula):
        before, after = e["generic_before"], e["generic_after"]
        if sp.srepr(before) == sp.srepr(after):
            continue
        for _ in range(3):
            pt = {x: sp.Rational(Fraction(int(rng.integers(1, 40)), int(rng.integers(1, 12))))
                  for x in before.free_symbols | after.free_symbols}
            diff = before.xreplace(pt) - after.xreplace(pt)
            assert sp.simplify(diff) == 0, (e["generic_symbol"], before, after, pt)
