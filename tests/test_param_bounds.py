"""Parameter-Lipschitz bounds: soundness on random networks (no slack), exactness,
closed forms equal their recursions, rigorous centre norms, errors, CLI."""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.arith.enclosure import Truth, compare
from symlip.bounds import recursion as rec
from symlip.bounds.centre import (
    centre_norms,
    fast_spectral_upper,
)
from symlip.bounds.noglobal import no_global_bound
from symlip.bounds.param import param_lipschitz
from symlip.errors import InputError
from symlip.models.network import Network
from tests.clirun import run_cli as _run_cli

from .soundness import assert_param_quotients_below, ball_pairs

ACTS = ["tanh", "sigmoid", "gelu", "softplus"]


def random_net(rng, widths, act):
    ws = [rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])
          for k in range(len(widths) - 1)]
    bs = [0.3 * rng.standard_normal(widths[k + 1]) for k in range(len(widths) - 1)]
    return Network.from_arrays(ws, bs, act if len(widths) > 2 else None)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(1, 4), width=st.integers(1, 12), act=st.sampled_from(ACTS),
       log_r=st.floats(-4, 0), seed=st.integers(0, 2**31 - 1))
def test_param_bound_is_sound(depth, width, act, log_r, seed):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, 6))] + [width] * (depth - 1) + [int(rng.integers(1, 4))]
    net = random_net(rng, widths, act)
    r = 10.0 ** log_r
    X = rng.standard_normal((3, widths[0]))
    res = param_lipschitz(net, X, r, lower=False)
    theta0 = net.params()
    for a, b in ball_pairs(rng, theta0, r, 6):
        i = int(rng.integers(0, 3))
        assert_param_quotients_below(net, X[i], a, b, res.enclosure)
    # the most adversarial direction: top right singular vector of J at a random point
    i = 0
    J = net.with_params(theta0).param_jacobian(X[i])
    v = np.linalg.svd(J)[2][0]
    b = theta0 + 0.5 * r * v
    if not np.array_equal(theta0, b):
        assert_param_quotients_below(net, X[i], theta0, b, res.enclosure)


def test_lower_bounds_below_upper():
    rng = np.random.default_rng(3)
    for widths in ([3, 8, 1], [3, 8, 8, 2]):
        net = random_net(rng, widths, "tanh")
        X = rng.standard_normal((4, 3))
        for r in (1e-3, 1e-1):
            res = param_lipschitz(net, X, r)
            assert res.lower is not None and res.lower <= res.estimate * (1 + 1e-6)
            assert compare(res.lower_enclosure.lower, "<=", res.enclosure.upper) is Truth.TRUE
            assert res.estimate <= res.upper
            # pointwise max (float intervals) vs hull (mpmath): equal up to outward rounding
            assert float(res.extra["upper_pointwise"]) <= res.upper * (1 + 1e-12)
            d = res.to_dict()
            assert d["quantity"] == "param_lipschitz" and d["radius"] == r


@pytest.mark.parametrize("x", [[3.0, 4.0], [0.0, 0.0], [1e-3, -2.5]])
@pytest.mark.parametrize("r", [0.0, 1e-3, 10.0])
def test_single_linear_layer_is_exact(x, r):
    net = Network.from_arrays([[[0.5, -1.0]]], [[0.25]], None)
    res = param_lipschitz(net, [x], r, lower=False)
    exact = math.sqrt(x[0] ** 2 + x[1] ** 2 + 1)
    assert res.upper >= exact and res.upper <= exact * (1 + 1e-14)


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 8])
def test_unrolled_closed_form_equals_recursion(depth):
    defs, _ = rec.first_order_program(depth, centre=False)
    env = {}
    for d in defs:
        if str(d.symbol).startswith(("m_", "l_")):
            env[d.symbol] = d.expr.xreplace(env)
    lN = env[rec.l(depth)]
    assert sp.expand(lN ** 2 - rec.unrolled_first_order(depth)) == 0


def test_uniform_closed_form_equals_recursion():
    Lk, lN2, deriv = rec.uniform_first_order()
    k, N = sp.symbols("k N", integer=True, nonnegative=True)
    K1v, rho, c = sp.Rational(3, 4), sp.Rational(5, 3), sp.Rational(7, 2)
    subs = {rec.K1: K1v, sp.Symbol("rho", nonnegative=True): rho,
            sp.Symbol("c", nonnegative=True): c}
    L = sp.Integer(0)
    for depth in range(1, 9):
        # hidden recursion and the read-out, exactly in rationals
        lN2_rec = c ** 2 + 1 + rho ** 2 * L
        assert sp.simplify(lN2.subs(subs).subs(N, depth) - lN2_rec) == 0
        L = K1v ** 2 * (c ** 2 + 1 + rho ** 2 * L)
        assert sp.simplify(Lk.subs(subs).subs(k, depth) - L) == 0
    assert "rsolve" in deriv.to_text()


def test_program_formula_views_and_round_trip():
    defs, inputs = rec.first_order_program(3)
    f = rec.RecursiveFormula(defs, inputs, "L_param")
    g = rec.RecursiveFormula.from_srepr(f.srepr(), [str(s) for s in f.inputs], "L_param")
    assert g.srepr() == f.srepr()
    vals = {str(s): 1.5 for s in f.inputs}
    assert abs(f.estimate(vals) - f.enclose(vals).mid_float) < 1e-9
    from symlip.symbolic.formula import _NUMPY_MODULES

    direct = sp.lambdify(f.inputs, f.expr, modules=_NUMPY_MODULES)(*[1.5] * len(f.inputs))
    assert abs(direct - f.estimate(vals)) < 1e-12 * abs(direct)
    assert "l_{3}" in f.latex()


def test_centre_norms_enclose_high_precision_values():
    rng = np.random.default_rng(7)
    for act in ("tanh", "sigmoid", "softplus"):
        net = random_net(rng, [4, 9, 7, 3], act)
        X = 2 * rng.standard_normal((5, 4))
        cn = centre_norms(net, X)
        mpmath.mp.prec = 120
        try:
            f = {"tanh": mpmath.tanh, "sigmoid": lambda t: 1 / (1 + mpmath.exp(-t)),
                 "softplus": lambda t: mpmath.log(1 + mpmath.exp(t))}[act]
            for i, x in enumerate(X):
                a = [mpmath.mpf(float(v)) for v in x]
                for k, layer in enumerate(net.layers):
                    z = [sum((mpmath.mpf(float(w)) * v for w, v in zip(row, a)), mpmath.mpf(0))
                         + mpmath.mpf(float(b)) for row, b in zip(layer.weight, layer.bias)]
                    a = [f(v) for v in z] if k < net.depth - 1 else z
                    nrm = mpmath.sqrt(sum(v * v for v in a))
                    assert cn.A[k].lo[i] <= nrm <= cn.A[k].hi[i], (act, k, i)
        finally:
            mpmath.mp.prec = 53


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_centre_kernel_values_error_bound(name):
    """The float activation values of the centre pass are within E of the exact ones."""
    from symlip.bounds.centre import _KERNELS, _kernel_values

    rng = np.random.default_rng(1)
    z = np.concatenate([rng.standard_normal(400) * 6, [0.0, -0.0, 20.0, 25.0, -1e-300, 5e-324],
                        np.linspace(-3, 3, 301), [-800.0, 800.0]])
    v, E = _kernel_values(_KERNELS[name], z)
    f = mpmath.tanh if name == "tanh" else (lambda t: 1 / (1 + mpmath.exp(-t)))
    mpmath.mp.prec = 120
    try:
        worst = max(abs(f(mpmath.mpf(float(a))) - mpmath.mpf(float(b))) for a, b in zip(z, v))
    finally:
        mpmath.mp.prec = 53
    assert worst <= E < 1e-14


def test_fast_spectral_upper_is_an_upper_bound():
    from symlip.arith.norms import spectral_norm, spectral_norm_fast

    rng = np.random.default_rng(0)
    for shape in [(300, 260), (260, 300), (400, 400)]:
        w = rng.standard_normal(shape) / math.sqrt(shape[1])
        up = fast_spectral_upper(w)
        ref = spectral_norm(w)
        assert up >= ref.upper_float * (1 - 1e-9) and up >= ref.lower_float
        assert up <= ref.upper_float * (1 + 1e-4)
        # the fast variant is the same certificate (symlip.arith.norms), with a lower end too
        fast = spectral_norm_fast(w)
        assert fast.lower <= ref.upper and ref.lower <= fast.upper
        assert float(fast.width) <= 1e-6 * fast.upper_float


@pytest.mark.parametrize("radius", [-1.0, float("nan"), float("inf"), "x"])
def test_bad_radius(radius):
    net = Network.from_arrays([[[1.0, 2.0]]], [[0.0]], None)
    with pytest.raises(InputError, match="radius"):
        param_lipschitz(net, [[1.0, 1.0]], radius)


def test_bad_data():
    net = Network.from_arrays([[[1.0, 2.0]]], [[0.0]], None)
    with pytest.raises(InputError, match="non-finite"):
        param_lipschitz(net, [[1.0, float("nan")]], 0.1)
    with pytest.raises(InputError, match="shape"):
        param_lipschitz(net, [[1.0, 2.0, 3.0]], 0.1)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_no_global_bound(depth):
    d, facts = no_global_bound(depth)
    assert facts["degree_upper"] == facts["degree_lower"] == depth - 1
    assert facts["limit_upper"] == sp.oo and facts["limit_lower"] == sp.oo
    assert facts["ratio_limit"].is_finite
    assert "\\begin{align*}" in d.to_latex()


def run_cli(*args):
    return _run_cli(*args)


def test_cli_derive_and_errors():
    r = run_cli("derive", "--wrt", "params", "--depth", "3", "--format", "latex", "--uniform")
    assert r.returncode == 0, r.stderr
    assert "\\begin{align*}" in r.stdout and "rsolve" in r.stdout and "l_{3}" in r.stdout
    r = run_cli("derive", "--wrt", "gradient", "--depth", "2", "--activation", "relu")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "K2 = infinity" in r.stderr
    r = run_cli("derive", "--wrt", "params", "--depth", "0")
    assert r.returncode == 2 and "depth" in r.stderr


def test_cli_certify_params_and_verify(tmp_path):
    from symlip.models.io import save

    rng = np.random.default_rng(0)
    net = random_net(rng, [3, 6, 2], "tanh")
    save(net, tmp_path / "m.safetensors")
    np.save(tmp_path / "X.npy", rng.standard_normal((10, 3)))
    cert = tmp_path / "c.json"
    r = run_cli("certify", tmp_path / "m.safetensors", "--activation", "tanh", "--wrt", "params",
                "--data", tmp_path / "X.npy", "--radius", "0.01", "--json",
                "--certificate", cert)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["quantity"] == "param_lipschitz" and out["radius"] == 0.01
    assert float(out["lower"]) <= float(out["upper"])
    r = run_cli("verify", cert, "--model", tmp_path / "m.safetensors", "--data", tmp_path / "X.npy")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("certify", tmp_path / "m.safetensors", "--activation", "tanh", "--wrt", "params",
                "--data", tmp_path / "X.npy", "--radius", "-1")
    assert r.returncode == 2 and "radius" in r.stderr
