"""Residual layers in the feed-forward machinery: the layer, model files, soundness of the
input and parameter bounds on random residual networks (no slack), the untied ResNet
against the weight-tied Euler bound of symlip.cde, refusals, CLI certify + verify."""

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
from symlip.bounds.input import input_lipschitz
from symlip.bounds.param import param_lipschitz
from symlip.bounds.residual import layer_kinds
from symlip.errors import InputError, ModelFileError
from symlip.models import io
from symlip.models.network import DenseLayer, Network, ResidualLayer
from tests.clirun import run_cli as _run_cli
from tests.soundness import (
    assert_input_quotients_below,
    assert_param_quotients_below,
    ball_pairs,
)

ACTS = ["tanh", "sigmoid", "gelu"]


def random_resnet(rng, n_hidden, width, act, identity_readin=False):
    """Random network: ``n_hidden`` hidden layers, each dense or residual (at least one
    residual), widths ``width``, a linear read-out of 1-3 outputs."""
    kinds = [bool(rng.integers(0, 2)) for _ in range(n_hidden)]
    if not any(kinds):
        kinds[int(rng.integers(0, n_hidden))] = True
    n0 = width if kinds[0] else int(rng.integers(1, 6))
    n_out = int(rng.integers(1, 4))
    widths = [n0] + [width] * n_hidden + [n_out]
    ws = [rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])
          for k in range(n_hidden + 1)]
    bs = [0.3 * rng.standard_normal(widths[k + 1]) for k in range(n_hidden + 1)]
    steps = [float(rng.uniform(-1.5, 1.5)) if res else None for res in kinds] + [None]
    acts = [act] * n_hidden
    if identity_readin and not kinds[0]:
        acts[0] = "identity"
    return Network.from_arrays(ws, bs, acts, steps=steps)


# ------------------------------------------------------------------------------------
# the layer
# ------------------------------------------------------------------------------------


def _mp_sigma(name):
    return {"tanh": mpmath.tanh,
            "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
            "gelu": lambda z: z * (1 + mpmath.erf(z / mpmath.sqrt(2))) / 2,
            "identity": lambda z: z}[name]


def _mp_states(net, x, names):
    """The exact states a_1..a_{N-1} and f, at 120 digits (mpmath, exact weights)."""
    with mpmath.workdps(120):
        a = [mpmath.mpf(float(v)) for v in x]
        out = []
        for k, layer in enumerate(net.layers):
            W, b = layer.weight, layer.bias
            z = [sum(mpmath.mpf(float(W[i, j])) * a[j] for j in range(W.shape[1]))
                 + mpmath.mpf(float(b[i])) for i in range(W.shape[0])]
            if k == net.depth - 1:
                out.append(z)
                break
            s = [_mp_sigma(names[k])(v) for v in z]
            if isinstance(layer, ResidualLayer):
                h = mpmath.mpf(layer.step)
                a = [ai + h * si for ai, si in zip(a, s, strict=True)]
            else:
                a = s
            out.append(a)
        return out


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_hidden=st.integers(1, 4), width=st.integers(1, 8), act=st.sampled_from(ACTS),
       seed=st.integers(0, 2**31 - 1))
def test_forward_and_jacobians(n_hidden, width, act, seed):
    rng = np.random.default_rng(seed)
    net = random_resnet(rng, n_hidden, width, act, identity_readin=True)
    names = [a.name for a in net.activations]
    x = rng.standard_normal(net.widths[0])
    exact = _mp_states(net, x, names)
    # rigorous interval forward passes (float64 and 100 bits) contain the exact output
    for prec in (None, 100):
        enc = net.interval_forward(x, prec=prec)
        for e, v in zip(enc, exact[-1], strict=True):
            assert e.contains(v)
    # the centre states used by the parameter bound contain the exact states
    states = net.interval_trace(x[None, :]).states
    for box, ex in zip(states, exact, strict=True):
        for i, v in enumerate(ex):
            assert mpmath.mpf(float(box.lo[0, i])) <= v <= mpmath.mpf(float(box.hi[0, i]))
    # closed-form Jacobians agree with central differences
    f0 = net.forward(x)
    assert np.allclose(f0, [float(v) for v in exact[-1]], rtol=1e-12, atol=1e-12)
    J = net.input_jacobian(x)
    eps = 1e-6
    fd = np.stack([(net.forward(x + eps * e) - net.forward(x - eps * e)) / (2 * eps)
                   for e in np.eye(x.size)], axis=1)
    assert np.allclose(J, fd, rtol=1e-5, atol=1e-6)
    th = net.params()
    P = net.param_jacobian(x)
    idx = rng.choice(th.size, size=min(th.size, 12), replace=False)
    for i in idx:
        e = np.zeros(th.size)
        e[i] = eps
        col = (net.with_params(th + e).forward(x) - net.with_params(th - e).forward(x)) / (2 * eps)
        assert np.allclose(P[:, i], col, rtol=1e-5, atol=1e-6)


def test_layer_validation_and_structure():
    lay = ResidualLayer(np.eye(2), np.zeros(2), "1", step=0.25)
    assert lay.step == 0.25 and lay.shape == (2, 2) and "step=0.25" in repr(lay)
    with pytest.raises(InputError, match=r"shape \(2, 3\).*square"):
        ResidualLayer(np.ones((2, 3)), np.zeros(2), "1")
    for bad in (float("nan"), float("inf"), "0.5", None, True):
        with pytest.raises(InputError, match="step h=.*finite real"):
            ResidualLayer(np.eye(2), np.zeros(2), "1", step=bad)
    with pytest.raises(InputError, match="last layer.*linear read-out"):
        Network([DenseLayer(np.ones((2, 1)), np.zeros(2)), lay], "tanh")
    net = Network.from_arrays([np.ones((2, 1)), np.eye(2), np.ones((1, 2))],
                              [np.zeros(2), np.zeros(2), np.zeros(1)], "tanh",
                              steps=[None, -0.5, None])
    assert net.has_residual and net.residual_mask == [False, True, False]
    assert "1 residual block" in repr(net)
    assert layer_kinds(net) == ("dense", "residual")
    # the step is not a parameter, and survives with_params
    assert net.n_params == 2 + 2 + 4 + 2 + 2 + 1
    other = net.with_params(net.params() * 2)
    assert isinstance(other.layers[1], ResidualLayer) and other.layers[1].step == -0.5
    # a residual block with h = 0 is the identity
    z = Network.from_arrays([np.eye(2), np.ones((1, 2))], [np.ones(2), np.zeros(1)], "tanh",
                            steps=[0.0, None])
    assert z.forward(np.array([1.0, 2.0])).tolist() == [3.0]


# ------------------------------------------------------------------------------------
# soundness (no slack)
# ------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_hidden=st.integers(1, 4), width=st.integers(1, 8), act=st.sampled_from(ACTS),
       log_r=st.floats(-4, 0), seed=st.integers(0, 2**31 - 1))
def test_param_bound_is_sound(n_hidden, width, act, log_r, seed):
    rng = np.random.default_rng(seed)
    net = random_resnet(rng, n_hidden, width, act, identity_readin=bool(seed % 2))
    r = 10.0 ** log_r
    X = rng.standard_normal((3, net.widths[0]))
    res = param_lipschitz(net, X, r, lower=False)
    assert res.formula.name == "L_param" and "tau_" in res.formula.text()
    theta0 = net.params()
    for a, b in ball_pairs(rng, theta0, r, 6):
        i = int(rng.integers(0, 3))
        assert_param_quotients_below(net, X[i], a, b, res.enclosure)
    # the most adversarial direction: top right singular vector of J_theta
    J = net.param_jacobian(X[0])
    v = np.linalg.svd(J)[2][0]
    b = theta0 + 0.5 * r * v
    if not np.array_equal(theta0, b):
        assert_param_quotients_below(net, X[0], theta0, b, res.enclosure)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_hidden=st.integers(1, 4), width=st.integers(1, 8), act=st.sampled_from(ACTS),
       seed=st.integers(0, 2**31 - 1))
def test_input_bound_is_sound(n_hidden, width, act, seed):
    rng = np.random.default_rng(seed)
    net = random_resnet(rng, n_hidden, width, act)
    res = input_lipschitz(net, lower=False)
    n0 = net.widths[0]
    xs = 2 * rng.standard_normal((40, n0))
    scale = 10.0 ** rng.uniform(-6, 0.5, size=(40, 1))
    ys = xs + scale * rng.standard_normal((40, n0))
    keep = np.any(xs != ys, axis=1)
    assert_input_quotients_below(net, xs[keep], ys[keep], res.enclosure)
    # along the top singular vector of the input Jacobian
    J = net.input_jacobian(xs)
    v = np.linalg.svd(J)[2][:, 0, :]
    ys = xs + 1e-4 * v
    keep = np.any(xs != ys, axis=1)
    assert_input_quotients_below(net, xs[keep], ys[keep], res.enclosure)


def test_lower_bounds_below_upper_and_derivations():
    rng = np.random.default_rng(5)
    net = random_resnet(rng, 3, 4, "tanh")
    X = rng.standard_normal((6, net.widths[0]))
    for res in (param_lipschitz(net, X, 0.01), input_lipschitz(net, X)):
        assert res.lower_enclosure is not None
        assert compare(res.lower_enclosure.lower, "<=", res.enclosure.upper) is Truth.TRUE
        assert res.estimate <= res.enclosure.upper_float
    res = param_lipschitz(net, X, 0.01)
    text = res.derivation.to_markdown()
    assert "Residual block" in text and "tau" in text
    assert res.extra["layer_kinds"][-1] == "readout"
    inp = input_lipschitz(net, X)
    assert "\\operatorname{Lip}(R_k) \\le K^{(k)}_{1} \\rho_{k} \\tau_{k} + 1" in (
        inp.derivation.to_markdown())
    # the input product: the residual factors are 1 + tau K rho
    for k, kind in enumerate(net.residual_mask, start=1):
        if kind:
            assert f"tau_{k}" in inp.inputs


def test_dense_kinds_give_the_feed_forward_program():
    """One source: all-dense kinds are exactly :func:`first_order_program`."""
    for depth in (1, 2, 4):
        a, ia = rec.first_order_program(depth)
        b, ib = rec.network_first_order_program(["dense"] * (depth - 1), bias_option=False)
        assert sp.srepr(sp.Tuple(*[sp.Tuple(d.symbol, d.expr) for d in a])) == \
            sp.srepr(sp.Tuple(*[sp.Tuple(d.symbol, d.expr) for d in b]))
        assert ia == ib


def test_bound_at_least_the_jacobian_norm_at_radius_zero():
    """r = 0: the bound is still >= ||J_theta f|| at the centre (a residual block with the
    identity activation; K1 = 1, S0 = infinity)."""
    rng = np.random.default_rng(1)
    net = Network.from_arrays([rng.standard_normal((3, 3)), rng.standard_normal((1, 3))],
                              [rng.standard_normal(3), np.zeros(1)], "identity",
                              steps=[0.5, None])
    X = rng.standard_normal((4, 3))
    res = param_lipschitz(net, X, 0.0)
    jn = max(np.linalg.norm(net.param_jacobian(x), 2) for x in X)
    assert jn <= res.enclosure.upper_float


# ------------------------------------------------------------------------------------
# untied ResNet with equal weights vs the weight-tied Euler bound of symlip.cde
# ------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(n_steps=st.integers(1, 6), centre=st.booleans(), bounded=st.booleans(),
       lognorm=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_untied_program_at_most_tied_euler(n_steps, centre, bounded, lognorm, seed):
    """Same inputs (equal weights: rho_k = rho, beta_k = beta, gamma_k = ||sigma(b)||,
    tau_k = w_k, g_k = w_k gamma, nu_k(tied) = w_k nu): untied <= tied Euler (with the
    logarithmic norm on both sides or on neither), equal for N = 1."""
    from symlip.bounds import cde_program as prog

    rng = np.random.default_rng(seed)
    N = n_steps
    v = {name: float(rng.uniform(0.05, 2.0)) for name in
         ("r", "K1", "s0", "S0", "xi", "rho_A", "beta_a", "rho", "beta", "rho_C", "beta_c",
          "gamma", "nu")}
    v["n"] = float(rng.integers(1, 9))
    w = rng.uniform(0.01, 0.8, size=N)
    A = rng.uniform(0.0, 3.0, size=N + 1)
    tied = prog.euler_program(N, 1, bounded=bounded, centre=centre, lognorm=lognorm)
    tv = {"r": v["r"], "K1": v["K1"], "s0": v["s0"], "n": v["n"], "xi": v["xi"],
          "rho_A": v["rho_A"], "beta_a": v["beta_a"], "rho": v["rho"], "beta": v["beta"],
          "rho_C": v["rho_C"]}
    if bounded:
        tv["S0"] = v["S0"]
    for k in range(N):
        tv[f"w_{k}"], tv[f"v_1_{k}"], tv[f"g_{k}"] = w[k], w[k], w[k] * v["gamma"]
        if lognorm:
            tv[f"nu_{k}"] = w[k] * v["nu"]
    if centre:
        tv.update({f"A_{k}": A[k] for k in range(N + 1)})
    defs, inputs = rec.network_first_order_program(
        ["linear"] + ["residual"] * N, bounded=bounded, centre=centre,
        lognorm=range(2, N + 2) if lognorm else ())
    untied = rec.RecursiveFormula(defs, inputs, "L_param")
    uv = {"r": v["r"], "c_0": v["xi"], "K1": v["K1"], "s0": v["s0"], "rho_1": v["rho_A"],
          "beta_1": v["beta_a"], f"rho_{N + 2}": v["rho_C"], f"beta_{N + 2}": v["beta_c"]}
    if bounded:
        uv["S0"] = v["S0"]
    if centre:
        uv["A_1"] = A[0]
    for k in range(2, N + 2):
        uv.update({f"rho_{k}": v["rho"], f"beta_{k}": v["beta"], f"n_{k}": v["n"],
                   f"tau_{k}": w[k - 2], f"gamma_{k}": v["gamma"]})
        if lognorm:
            uv[f"nu_{k}"] = v["nu"]
        if centre:
            uv[f"A_{k}"] = A[k - 1]
    lt, lu = tied.estimate(tv), untied.estimate(uv)
    assert lu <= lt * (1 + 1e-12)
    if N == 1:
        assert lu == pytest.approx(lt, rel=1e-12)


def test_untied_certified_vs_tied_certified():
    """End to end: the untied ResNet with the Euler weights (h_k = the grid steps) has a
    certified bound <= the certified weight-tied Euler bound (logarithmic norm off on
    both sides, and on on both sides); with one step they agree (same program, inputs
    from different rigorous passes)."""
    from symlip.bounds.residual import residual_param_lipschitz
    from symlip.cde import ControlledODE, time_grid
    from symlip.cde import param_lipschitz as cde_param

    rng = np.random.default_rng(4)
    n0, n = 2, 3
    A, a = rng.standard_normal((n, n0)), 0.1 * rng.standard_normal(n)
    W, b = rng.standard_normal((n, n)) / math.sqrt(n), 0.1 * rng.standard_normal(n)
    C, c = rng.standard_normal((1, n)), np.zeros(1)
    X = rng.standard_normal((3, n0))
    for steps in (1, 5):
        U = time_grid(1.0, steps)
        h = float(U[1, 0] - U[0, 0])
        model = ControlledODE(A, a, [W], [b], C, c, "tanh")
        net = Network.from_arrays([A] + [W] * steps + [C], [a] + [b] * steps + [c],
                                  ["identity"] + ["tanh"] * steps,
                                  steps=[None] + [h] * steps + [None])
        assert np.allclose(net.forward(X), model.forward(X, U), rtol=1e-12)
        for ln in (False, True):
            tied = cde_param(model, X, U, 0.01, lognorm=ln, lower=False)
            untied = residual_param_lipschitz(net, X, 0.01, lower=False, lognorm=ln,
                                              jac=False)
            assert ("q_2" in untied.formula.text()) is ln
            if steps == 1:
                assert untied.enclosure.upper_float == pytest.approx(
                    tied.enclosure.upper_float, rel=1e-9)
            else:
                assert untied.enclosure.upper_float < tied.enclosure.upper_float


# ------------------------------------------------------------------------------------
# model files
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["npz", "safetensors"])
def test_io_round_trip(tmp_path, ext):
    rng = np.random.default_rng(2)
    net = random_resnet(rng, 4, 3, "gelu")
    p = tmp_path / f"m.{ext}"
    io.save(net, p)
    back = io.load(p)
    assert back.residual_mask == net.residual_mask
    assert [getattr(lay, "step", None) for lay in back.layers] == \
        [getattr(lay, "step", None) for lay in net.layers]
    assert np.array_equal(back.params(), net.params())
    X = rng.standard_normal((4, net.widths[0]))
    assert np.array_equal(back.forward(X), net.forward(X))


def _good():
    return {"0.weight": np.ones((3, 2)), "0.bias": np.zeros(3),
            "2.weight": np.eye(3), "2.bias": np.zeros(3), "2.residual": np.array([0.5]),
            "4.weight": np.ones((1, 3)), "4.bias": np.zeros(1)}


@pytest.mark.parametrize("change, message", [
    ({"2.weight": np.ones((3, 2))}, r"'2.weight' of residual block 2 has shape \(3, 2\)"),
    ({"2.residual": np.array([np.nan])}, r"'2.residual' \(the residual step h\) has 1 non-finite"),
    ({"2.residual": np.array([np.inf])}, r"'2.residual' \(the residual step h\) has 1 non-finite"),
    ({"2.residual": np.array([0.5, 1.0])}, r"'2.residual' has shape \(2,\); expected shape \(1,\)"),
    ({"2.residual": np.array([1], dtype=np.int32)}, r"'2.residual' has unsupported dtype int32"),
    ({"4.residual": np.array([1.0]), "4.weight": np.ones((3, 3)), "4.bias": np.zeros(3)},
     r"last module 4 is a residual block"),
    ({"2.bias": None}, r"module 2 has .* but no '2.bias'"),
])
def test_bad_residual_files(tmp_path, change, message):
    t = _good()
    for k, v in change.items():
        if v is None:
            del t[k]
        else:
            t[k] = v
    p = tmp_path / "bad.npz"
    np.savez(p, **t)
    with pytest.raises(ModelFileError, match=message):
        io.load(p, "tanh")
    assert io.load(_write(tmp_path, _good()), "tanh").has_residual


def _write(tmp_path, t):
    p = tmp_path / "good.npz"
    np.savez(p, **t)
    return p


# ------------------------------------------------------------------------------------
# refusals and the CLI
# ------------------------------------------------------------------------------------


def test_gradient_bound_accepts_residual_layers():
    """Lemma 9 (tests/test_residual_smooth.py tests its soundness)."""
    from symlip.bounds.smooth import grad_lipschitz

    rng = np.random.default_rng(0)
    net = random_resnet(rng, 2, 3, "tanh")
    X = rng.standard_normal((3, net.widths[0]))
    y = rng.standard_normal((3, net.widths[-1]))
    res = grad_lipschitz(net, X, y, "mse", 0.1)
    assert res.extra["method"] == "residual" and res.upper > 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_hidden=st.integers(1, 4), width=st.integers(1, 8), act=st.sampled_from(ACTS),
       log_eps=st.floats(-4, 0), seed=st.integers(0, 2**31 - 1), mean_value=st.booleans())
def test_local_input_bound_is_sound(n_hidden, width, act, log_eps, seed, mean_value):
    """Pairs inside B(x0, eps): quotient <= the certified local bound <= the global one
    (with and without the mean-value boxes, i.e. input- and output-side products)."""
    import symlip.bounds.input as inp
    from symlip.bounds.input import local_input_lipschitz

    rng = np.random.default_rng(seed)
    net = random_resnet(rng, n_hidden, width, act)
    eps = 10.0 ** log_eps
    n0 = net.widths[0]
    x0 = rng.standard_normal(n0)
    budget = inp.MEAN_VALUE_BUDGET
    inp.MEAN_VALUE_BUDGET = budget if mean_value else 0
    try:
        res_local = local_input_lipschitz(net, x0, eps)
        local, inputs = res_local.enclosure, res_local.inputs
    finally:
        inp.MEAN_VALUE_BUDGET = budget
    glob = input_lipschitz(net, lower=False).enclosure
    assert compare(local.upper, "<=", glob.upper) is Truth.TRUE
    # the interval-Jacobian term (I + h diag(s) W factors) never loosens the old bound
    from symlip.arith.enclosure import Enclosure
    from symlip.bounds.input import _lognorm_layers, _residual_mask, local_input_formula

    old = local_input_formula(net.depth, residual=_residual_mask(net),
                              lognorm=_lognorm_layers(net)).enclose(
        {**inputs, "J_loc": Enclosure.unbounded_above(0)})
    assert compare(local.upper, "<=", old.upper) is Truth.TRUE
    u = rng.standard_normal((30, n0))
    xs = x0 + eps * rng.uniform(0, 1, (30, 1)) * u / np.linalg.norm(u, axis=1, keepdims=True)
    v = rng.standard_normal((30, n0))
    ys = x0 + eps * rng.uniform(0, 1, (30, 1)) * v / np.linalg.norm(v, axis=1, keepdims=True)
    # and steep pairs: a small step along the top right singular vector of J
    from symlip.bounds.input import jacobian_norms

    _, vs = jacobian_norms(net, xs)
    xs, ys = np.concatenate([xs, xs]), np.concatenate([ys, xs + 1e-3 * eps * vs])
    inside = (np.linalg.norm(xs - x0, axis=1) < eps) & (np.linalg.norm(ys - x0, axis=1) < eps)
    keep = inside & np.any(xs != ys, axis=1)
    assert_input_quotients_below(net, xs[keep], ys[keep], local)


def run_cli(*args):
    return _run_cli(*args)


def test_cli_certify_and_verify(tmp_path):
    rng = np.random.default_rng(7)
    net = random_resnet(rng, 3, 4, "sigmoid")
    m = tmp_path / "res.safetensors"
    io.save(net, m)
    np.save(tmp_path / "X.npy", rng.standard_normal((8, net.widths[0])))
    np.save(tmp_path / "Y.npy", rng.standard_normal((8, net.widths[-1])))
    for wrt, extra in (("params", ["--radius", "0.01"]), ("input", ["--input-radius", "0.1"])):
        cert = tmp_path / f"{wrt}.json"
        r = run_cli("certify", m, "--wrt", wrt, "--data", tmp_path / "X.npy", *extra,
                    "--json", "--certificate", cert)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert float(out["lower"]) <= float(out["upper"])
        if wrt == "input":
            assert float(out["local_upper"]) <= float(out["upper"])
        r = run_cli("verify", cert, "--model", m, "--data", tmp_path / "X.npy")
        assert r.returncode == 0, r.stdout + r.stderr
    # the same weights without the residual keys are a different model: verify fails
    io.save(Network([DenseLayer(lay.weight, lay.bias, lay.name) for lay in net.layers],
                    net.activations), tmp_path / "dense.safetensors")
    r = run_cli("verify", tmp_path / "params.json", "--model", tmp_path / "dense.safetensors",
                "--data", tmp_path / "X.npy")
    assert r.returncode != 0


def test_cli_derive_layers():
    r = run_cli("derive", "--layers", "linear,residual,residual", "--format", "latex")
    assert r.returncode == 0, r.stderr
    assert "tau_{2}" in r.stdout and "Residual block" in r.stdout and "l_{4}" in r.stdout
    r = run_cli("derive", "--layers", "linear,resid")
    assert r.returncode == 2 and "--layers" in r.stderr and "'resid'" in r.stderr
    r = run_cli("derive", "--wrt", "gradient", "--layers", "dense,residual")
    assert r.returncode == 0 and "Lemma 9" in r.stdout
    r = run_cli("derive", "--layers", "dense,residual", "--depth", "5")
    assert r.returncode == 2 and "contradicts" in r.stderr


@pytest.mark.parametrize("h", [1.0, -1.0, 0.5, -2.0])
@pytest.mark.parametrize("kind", ["contraction", "rotation", "random"])
def test_lognorm_factor_is_sound_and_tighter(h, kind):
    """The logarithmic-norm factor of a tanh block: sampled quotients (near-tight ones
    re-checked rigorously) stay below the certified bound, which is <= 1 + tau K rho."""
    rng = np.random.default_rng(11)
    W = {"contraction": -3.0 * np.eye(2),
         "rotation": 3.0 * np.array([[0.0, 1.0], [-1.0, 0.0]]),
         "random": rng.standard_normal((2, 2))}[kind]
    net = Network.from_arrays([W, np.eye(2)], [0.1 * rng.standard_normal(2), np.zeros(2)],
                              "tanh", steps=[h, None])
    res = input_lipschitz(net, lower=False)
    assert "nu_1" in res.inputs
    plain = 1 + abs(h) * res.inputs["rho_1"].upper_float
    assert res.enclosure.upper_float <= plain * (1 + 1e-12)
    xs = 0.5 * rng.standard_normal((400, 2))
    ys = xs + 10.0 ** rng.uniform(-6, 0, size=(400, 1)) * rng.standard_normal((400, 2))
    keep = np.any(xs != ys, axis=1)
    assert_input_quotients_below(net, xs[keep], ys[keep], res.enclosure)
    X = rng.standard_normal((3, 2))
    pres = param_lipschitz(net, X, 0.05, lower=False)
    assert pres.extra["lognorm_layers"] == [1]
    theta0 = net.params()
    for _ in range(20):
        u, v = rng.standard_normal(theta0.size), rng.standard_normal(theta0.size)
        a = theta0 + 0.05 * rng.uniform() * u / np.linalg.norm(u)
        b = theta0 + 0.05 * rng.uniform() * v / np.linalg.norm(v)
        assert_param_quotients_below(net, X[0], a, b, pres.enclosure)


def test_dense_chain_helpers_refuse_residual_layers():
    """Public helpers that walk the dense chain raise instead of returning wrong numbers."""
    from symlip.bounds.centre import centre_jacobians, centre_norms, interval_trace
    from symlip.bounds.smooth import interval_loss_gradient, loss_enclosure, loss_gradient

    rng = np.random.default_rng(3)
    net = random_resnet(rng, 2, 3, "tanh")
    X = rng.standard_normal((2, net.widths[0]))
    y = rng.standard_normal((2, net.widths[-1]))
    # loss_gradient backpropagates through the blocks (residual_smooth)
    assert loss_gradient(net, X, y, "mse").shape == net.params().shape
    # interval_loss_gradient goes through the blocks: it encloses the float gradient
    g = interval_loss_gradient(net, X, y, "mse")
    f = loss_gradient(net, X, y, "mse")
    assert np.all(g.lo <= f + 1e-12) and np.all(f - 1e-12 <= g.hi)
    assert np.max(g.hi - g.lo) < 1e-12
    from symlip.bounds.gauss_newton import float_loss_gradient

    for call in (lambda: centre_norms(net, X), lambda: interval_trace(net, X),
                 lambda: centre_jacobians(net, X),
                 lambda: loss_enclosure(net, X, y, "mse"),
                 lambda: float_loss_gradient(net, X, y, "mse")):
        with pytest.raises(InputError, match="not supported for networks with residual layers"):
            call()


def test_centre_jacobian_option_makes_the_residual_param_bound_tight():
    """At most 16 points: $l_N \\le J^z_N + g_Nr$ with the certified centre Jacobian and
    Lemma 9's second-order bound; sound against sampled quotients, several times below
    the first-order recursion at r = 1e-3, and re-checked by ``verify``'s rebuild."""
    from symlip.bounds.residual import rebuild, residual_param_lipschitz

    rng = np.random.default_rng(11)
    widths = [2] + [8] * 9 + [1]
    ws = [rng.standard_normal((widths[k + 1], widths[k])) / np.sqrt(widths[k])
          for k in range(len(widths) - 1)]
    bs = [0.1 * rng.standard_normal(widths[k + 1]) for k in range(len(widths) - 1)]
    net = Network.from_arrays(ws, bs, ["identity"] + ["tanh"] * 8,
                              steps=[None] + [0.25] * 8 + [None])
    X = rng.standard_normal((16, 2))
    res = param_lipschitz(net, X, 1e-3)
    old = residual_param_lipschitz(net, X, 1e-3, jac=False, lower=False)
    assert res.extra["centre_jacobians"] and not old.extra["centre_jacobians"]
    assert res.estimate <= res.upper < old.upper / 3
    assert compare(res.lower_enclosure.lower, "<=", res.enclosure.upper) is Truth.TRUE
    theta = net.params()
    for _ in range(20):  # quotients of pairs inside the ball, no slack
        u, v = rng.standard_normal((2, theta.size))
        a = theta + 1e-3 * rng.uniform(0, 1) * u / np.linalg.norm(u)
        b = theta + 1e-3 * rng.uniform(0, 1) * v / np.linalg.norm(v)
        fa, fb = net.with_params(a).forward(X), net.with_params(b).forward(X)
        q = np.max(np.linalg.norm(fa - fb, axis=1)) / np.linalg.norm(a - b)
        assert q <= res.upper
    formula, inputs = rebuild(net, X, 1e-3)
    assert formula.enclose(inputs).upper_float == res.upper
    assert any(k.startswith("Jz_") for k in inputs)
