"""Certified activation constants: closed forms, rigorous enclosures, dense-sampling
checks (NumPy and mpmath), overflow-safe numerics, and the ``symlip activation`` CLI."""

from __future__ import annotations

import json
import subprocess
import time

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symlip.activations.constants import derive_constants, sup_abs
from symlip.activations.registry import X, activation_names, get_activation
from symlip.activations.sup import certify_exact_max, exp_tail_enclosure, rigorous_sup_abs
from symlip.symbolic.compile import enclose
from symlip.symbolic.functions import sigmoid
from tests.clirun import run_cli

oo = sp.oo
S = sp.sqrt

# (name, param) -> exact (S0, K1, K2, s0); None = no closed form
EXPECTED = {
    ("identity", None): (oo, 1, 0, 0),
    ("relu", None): (oo, 1, oo, 0),
    ("leaky_relu", None): (oo, 1, oo, 0),
    ("leaky_relu", "1"): (oo, 1, 0, 0),
    ("leaky_relu", "2.5"): (oo, sp.Rational(5, 2), oo, 0),
    ("tanh", None): (1, 1, 4 * S(3) / 9, 0),
    ("sigmoid", None): (1, sp.Rational(1, 4), S(3) / 18, sp.Rational(1, 2)),
    ("softplus", None): (oo, 1, sp.Rational(1, 4), sp.log(2)),
    ("elu", None): (oo, 1, 1, 0),
    ("elu", "2"): (oo, 2, oo, 0),
    ("elu", "0.5"): (oo, 1, oo, 0),
    ("gelu", None): (oo, sp.Rational(1, 2) + sp.erf(1) / 2 + sp.exp(-1) / S(sp.pi),
                     S(2) / S(sp.pi), 0),
    ("silu", None): (oo, None, sp.Rational(1, 2), 0),
    ("sin", None): (1, 1, 1, 0),
    ("sin", "-2"): (1, 2, 4, 0),
    ("sin", "0.5"): (1, sp.Rational(1, 2), sp.Rational(1, 4), 0),
}
KEYS = ("S0", "K1", "K2", "sigma0")
ALL = sorted(EXPECTED, key=str)


def _silu_k1_reference() -> mpmath.mpf:
    """Independent value: silu' at the root of 2 + x(1 - 2 sigmoid(x)) = 0 (mpmath, 50 dps)."""
    with mpmath.workdps(50):
        s = lambda t: 1 / (1 + mpmath.exp(-t))  # noqa: E731
        r = mpmath.findroot(lambda t: 2 + t * (1 - 2 * s(t)), 2.4)
        return s(r) + r * s(r) * (1 - s(r))


@pytest.mark.parametrize("key", ALL, ids=[f"{n}({p})" for n, p in ALL])
def test_exact_forms_and_enclosures(key):
    act = get_activation(*key)
    c = act.constants
    for k, want in zip(KEYS, EXPECTED[key], strict=True):
        const = getattr(c, k)
        if want is oo:
            assert const.exact is oo and not const.is_finite, (key, k)
            assert const.to_dict()["upper"] == "inf"
            assert const.reason
            continue
        assert const.is_finite, (key, k)
        assert const.enclosure.width < 1e-12, (key, k, const.enclosure)
        if want is None:
            assert const.exact is None
            continue
        assert const.exact is not None, (key, k)
        assert sp.simplify(const.exact - sp.sympify(want)) == 0, (key, k, const.exact)
        w = enclose(sp.sympify(want))
        assert const.enclosure.lower <= w.upper and w.lower <= const.enclosure.upper


def test_silu_k1_enclosure_matches_independent_root():
    k1 = get_activation("silu").constants.K1
    ref = _silu_k1_reference()
    assert k1.enclosure.lower <= ref <= k1.enclosure.upper
    assert k1.enclosure.width < 1e-12
    assert "branch and bound" in k1.reason


def test_non_smooth_reasons():
    for name in ("relu", "leaky_relu"):
        k2 = get_activation(name).constants.K2
        assert "jumps at x = 0" in k2.reason
    assert "jumps" in get_activation("elu", "2").constants.K2.reason
    with pytest.raises(Exception, match="K2 = infinity"):
        get_activation("relu").require_smooth()


def test_cache_makes_second_call_cheap():
    act = get_activation("tanh")
    first = derive_constants(act)
    t0 = time.perf_counter()
    again = derive_constants(act)
    assert again is first
    assert time.perf_counter() - t0 < 0.01


# --------------------------------------------------------------------------------------
# dense sampling: sampled |sigma'|, |sigma''| never exceed the certified upper bound
# --------------------------------------------------------------------------------------

GRID = np.concatenate([np.linspace(-20, 20, 400_001),
                       np.array([-1e3, -300, -100, -50, -30, 30, 50, 100, 300, 1e3])])
# (name, param, k) for which the sup of |sigma^(k)| is attained (sampling gets within 1e-6)
ATTAINED = {("tanh", None, 1), ("tanh", None, 2), ("sigmoid", None, 1), ("sigmoid", None, 2),
            ("softplus", None, 2), ("gelu", None, 1), ("gelu", None, 2), ("silu", None, 1),
            ("silu", None, 2), ("sin", None, 1), ("sin", None, 2), ("sin", "-2", 1),
            ("sin", "-2", 2), ("identity", None, 1), ("relu", None, 1),
            ("leaky_relu", None, 1), ("elu", "2", 1), ("softplus", None, 1), ("elu", None, 1)}


@pytest.mark.parametrize("key", ALL, ids=[f"{n}({p})" for n, p in ALL])
def test_dense_numpy_sampling_below_certified(key):
    act = get_activation(*key)
    c = act.constants
    grid = GRID[np.abs(GRID * 0.5 if key[0] == "sin" else GRID) < np.inf]
    for k, const, f in ((1, c.K1, act.dsigma), (2, c.K2, act.d2sigma)):
        if not const.is_finite:
            continue
        vals = np.abs(f(grid))
        assert np.all(np.isfinite(vals)), (key, k)
        top = float(vals.max())
        ub = const.upper
        # float rounding of the sampled values: a few ulps of slack on the *sample*
        assert top <= ub * (1 + 4e-16) + 1e-300, (key, k, top, ub)
        if (key[0], key[1], k) in ATTAINED:
            assert ub - top < 1e-6 or key[0] == "elu", (key, k, top, ub)


def _mp_fn(expr):
    e = expr.rewrite(sp.exp) if expr.has(sigmoid) else expr
    return sp.lambdify(X, e, modules=[{"Heaviside": lambda t, *_: mpmath.mpf(t > 0)}, "mpmath"])


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "gelu", "silu", "elu"])
def test_mpmath_sampling_below_certified(name):
    """High-precision samples (independent of NumPy) near the maximisers and far out."""
    act = get_activation(name)
    c = act.constants
    r = float(sp.log(2 + S(3)))  # sigmoid'' maximiser; tanh'' at r / 2
    pts = list(np.linspace(-8, 8, 321)) + [-1e3, -60, 60, 1e3, 2 ** 0.5, 2.3993572, -2.3993572,
                                           r, -r, r / 2, -r / 2]
    with mpmath.workdps(40):
        for k, const in ((1, c.K1), (2, c.K2)):
            if not const.is_finite:
                continue
            f = _mp_fn(act.derivatives[k])
            top = max(abs(f(mpmath.mpf(float(p)))) for p in pts)
            assert top <= const.enclosure.upper, (name, k, top)
            if name != "elu" and not (name == "softplus" and k == 1):
                assert const.enclosure.upper - top < 1e-6, (name, k, top)


@settings(deadline=None, max_examples=200)
@given(st.floats(-60, 60, allow_nan=False), st.sampled_from(
    ["tanh", "sigmoid", "softplus", "gelu", "silu", "elu", "sin"]))
def test_property_random_points_below_certified(z, name):
    act = get_activation(name)
    c = act.constants
    assert abs(float(act.dsigma(np.array([z]))[0])) <= c.K1.upper * (1 + 4e-16)
    assert abs(float(act.d2sigma(np.array([z]))[0])) <= c.K2.upper * (1 + 4e-16)
    if c.S0.is_finite:
        assert abs(float(act.sigma(np.array([z]))[0])) <= c.S0.upper * (1 + 4e-16)


# --------------------------------------------------------------------------------------
# the rigorous sup machinery as an independent cross-check of the closed forms
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,k", [("tanh", 2), ("sigmoid", 2), ("softplus", 2),
                                    ("sigmoid", 1), ("tanh", 1)])
def test_branch_and_bound_agrees_with_closed_form(name, k):
    act = get_activation(name)
    exact = getattr(act.constants, f"K{k}").exact
    r = rigorous_sup_abs(act.derivatives[k], X, name="h")
    e = enclose(exact)
    assert r.enclosure.lower <= e.upper and e.lower <= r.enclosure.upper
    assert r.enclosure.width < 1e-12


def test_branch_and_bound_gelu_compact():
    """GELU has Gaussian tails (no exp-rational tail bound): cross-check on [-30, 30]."""
    act = get_activation("gelu")
    for k in (1, 2):
        exact = getattr(act.constants, f"K{k}").exact
        r = rigorous_sup_abs(act.derivatives[k], X, -30, 30, name="h")
        e = enclose(exact)
        assert r.enclosure.lower <= e.upper and e.lower <= r.enclosure.upper


def test_softplus_k1_not_attained_tail_bound():
    r = rigorous_sup_abs(sigmoid(X), X, name="s")  # softplus' = sigmoid, sup 1 at +oo
    assert r.enclosure.lower <= 1 <= r.enclosure.upper


def test_exp_tail_enclosure_contains_samples_and_rejects_polynomials():
    h = sp.diff(X * sigmoid(X), X)
    rng, lemma = exp_tail_enclosure(h, X, 10, "+")
    assert "decreases" in lemma
    with mpmath.workdps(30):
        f = _mp_fn(h)
        for t in (10, 11, 20, 100, 1e4):
            assert rng.contains(Enclosure_point(f(mpmath.mpf(t))))
    with pytest.raises(ValueError):
        exp_tail_enclosure(X**2, X, 10, "+")
    with pytest.raises(ValueError):
        exp_tail_enclosure(X * sp.exp(-X), X, 0.5, "+")  # M < k


def Enclosure_point(v):  # noqa: N802 - tiny helper: an exact enclosure of an mpf
    from symlip.arith.enclosure import Enclosure

    return Enclosure(v, v)


def test_certify_exact_max_rejects_non_critical_point():
    g = sp.diff(X * sigmoid(X), X, 2)
    assert certify_exact_max(g, X, sp.Integer(1), -oo, oo) is None
    value, d = certify_exact_max(g, X, sp.Integer(0), -oo, oo)
    assert value == sp.Rational(1, 2) and len(d) >= 3


def test_sup_abs_exact_and_derivation_steps():
    r = sup_abs(sp.diff(sp.tanh(X), X, 2), X, name="h")
    assert r.exact == 4 * S(3) / 9
    text = r.derivation.to_text()
    assert "critical points" in text and "limit at +oo" in text and "compare all" in text


# --------------------------------------------------------------------------------------
# numerics of sigma, sigma', sigma'': overflow-safe, match mpmath
# --------------------------------------------------------------------------------------

NUM_PTS = np.concatenate([np.linspace(-40, 40, 241), [-1e3, -700, -200, 200, 700, 1e3],
                          [-1e-9, 1e-9, 0.0]])


@pytest.mark.parametrize("name", sorted(activation_names()))
def test_numpy_matches_mpmath_including_large_inputs(name):
    act = get_activation(name)
    smooth = act.constants.K2.is_finite
    pts = NUM_PTS if smooth else NUM_PTS[NUM_PTS != 0]
    fns = [act.sigma, act.dsigma] + ([act.d2sigma] if smooth else [])
    with mpmath.workdps(40):
        for k, f in enumerate(fns):
            got = f(pts)
            assert np.all(np.isfinite(got)), (name, k)
            ref_f = _mp_fn(act.derivatives[k])
            ref = np.array([float(ref_f(mpmath.mpf(float(p)))) for p in pts])
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-13,
                                       err_msg=f"{name} derivative {k}")


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli("activation", *args)


def test_cli_json_contract():
    p = _cli("gelu", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert {"name", "S0", "K1", "K2", "sigma0"} <= set(doc)
    assert doc["name"] == "gelu"
    for k in KEYS:
        assert set(doc[k]) == {"lower", "upper", "exact", "latex"}
    assert doc["S0"]["upper"] == "inf"
    k1 = doc["K1"]
    assert float(k1["lower"]) <= 1.1289041451851548 <= float(k1["upper"])
    assert sp.simplify(sp.sympify(k1["exact"]) - EXPECTED[("gelu", None)][1]) == 0


def test_cli_param_and_inf():
    p = _cli("elu", "--param", "2", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["K2"]["upper"] == "inf" and doc["K1"]["upper"] == "2"


def test_cli_unknown_name_exit_2_one_line():
    p = _cli("nosuchact")
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr
    for n in activation_names():
        assert n in lines[0]


def test_cli_latex_and_table():
    p = _cli("sigmoid", "--latex")
    assert p.returncode == 0, p.stderr
    assert r"\begin{align*}" in p.stdout and "critical points" in p.stdout
    p = _cli("tanh")
    assert p.returncode == 0
    assert "K2 = Lip(sigma')" in p.stdout and "4*sqrt(3)/9" in p.stdout


def test_cache_keeps_float_and_decimal_parameters_apart():
    """The double 0.1 and the decimal "0.1" are different slopes (regression: the cache
    was keyed by str(param), so the first one asked for was returned for both)."""
    from fractions import Fraction

    a = get_activation("leaky_relu", "0.1")
    b = get_activation("leaky_relu", 0.1)
    assert a is not b
    assert a is get_activation("leaky_relu", "0.10")
    from symlip.activations.registry import X

    assert float(b.expr.args[0][0].subs(X, -1)) == -0.1
    assert Fraction(str(a.expr.args[0][0].subs(X, -1))) == Fraction(-1, 10)
