"""Controlled ODEs: solvers, files, the logarithmic-norm constant, soundness of the
first- and second-order bounds on random neural ODEs / CDEs (no slack), the ordering
euler <= flow <= MATH, discrete <= continuous for every N and the limit, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.arith.enclosure import Truth, compare
from symlip.arith.lognorm import nu_estimate, nu_upper
from symlip.bounds import cde_program as prog
from symlip.bounds.cde import (
    bound_formula,
    cde_quotient_from_witness,
    certified_inputs,
    loss_gradient,
)
from symlip.cde import ControlledODE, grad_lipschitz, param_lipschitz, time_grid
from symlip.errors import InputError, ModelFileError, NotSmoothError
from tests.clirun import run_cli

ACTS = ["tanh", "sigmoid", "softplus", "gelu", "sin"]


def make_control(kind: str, N: int, d: int, rng) -> np.ndarray:
    if kind == "time":
        t = time_grid(float(rng.uniform(0.3, 2.0)), N)
        return np.repeat(t, d, axis=1) if d > 1 else t
    steps = rng.normal(0, 1.5 / math.sqrt(N), (N, d))
    return np.vstack([np.zeros((1, d)), np.cumsum(steps, axis=0)])


def pairs_in_ball(model, U, x, r, rng, n_random=6):
    """Parameter pairs inside B_r: random pairs and pairs along the top Jacobian direction
    (where the quotient is largest), scaled slightly inside the ball."""
    th0 = model.params()
    P = th0.size
    out = []
    for _ in range(n_random):
        a = rng.standard_normal(P)
        b = rng.standard_normal(P)
        a *= r * rng.uniform(0, 1) / np.linalg.norm(a)
        b *= r * rng.uniform(0, 1) / np.linalg.norm(b)
        out.append((th0 + a * (1 - 1e-6), th0 + b * (1 - 1e-6)))
    for s in (0.0, 0.5, 0.99):
        u = rng.standard_normal(P)
        base = th0 + s * r * u / np.linalg.norm(u)
        J = model.with_params(base).param_jacobian(x[None, :], U)[0]
        v = np.linalg.svd(J)[2][0]
        t = min(1e-4, 0.5 * r * (1 - s)) if r > 0 else 0
        if t > 0:
            out.append((base, base + t * v))
    return out


def assert_quotients_below(model, U, x, pairs, upper, r):
    """Euler difference quotients <= upper; near-tight pairs re-checked rigorously."""
    for ta, tb in pairs:
        ya = model.with_params(ta).forward(x, U)
        yb = model.with_params(tb).forward(x, U)
        den = np.linalg.norm(ta - tb)
        if den == 0:
            continue
        q = np.linalg.norm(ya - yb) / den
        if q <= upper.upper_float * (1 - 1e-6):
            continue
        wit = {"x": list(map(float, x)), "theta": ta.tolist(), "theta_prime": tb.tolist()}
        enc = cde_quotient_from_witness(model, wit, r, U)
        assert compare(enc.lower, "<=", upper.upper) is Truth.TRUE, (q, upper.upper_float)


# ------------------------------------------------------------------------------------
# model and solvers
# ------------------------------------------------------------------------------------


def test_euler_by_hand_and_identity_field():
    m = ControlledODE([[2.0]], [1.0], [[[0.5]]], [[0.0]], [[1.0]], [0.0], "identity")
    # X0 = 2x + 1, X_{k+1} = X_k (1 + 0.5 h): exact Euler product
    out = m.forward([[1.0]], time_grid(1.0, 4))[0, 0]
    assert out == pytest.approx(3.0 * (1 + 0.125) ** 4, rel=1e-15)
    # the exact solution is 3 e^{0.5}; RK4 is 4th order
    errs = [abs(m.forward([[1.0]], time_grid(1.0, 1), "rk4", s)[0, 0] - 3 * math.exp(0.5))
            for s in (4, 8, 16)]
    assert errs[0] / errs[1] == pytest.approx(16, rel=0.1)
    errs = [abs(m.forward([[1.0]], time_grid(1.0, 1), "heun", s)[0, 0] - 3 * math.exp(0.5))
            for s in (8, 16)]
    assert errs[0] / errs[1] == pytest.approx(4, rel=0.1)


def test_substeps_equal_refined_grid():
    rng = np.random.default_rng(0)
    m = ControlledODE.random(2, 3, 2, 2, seed=1)
    U = make_control("walk", 5, 2, rng)
    fine = np.vstack([U[0]] + [U[k] + (U[k + 1] - U[k]) * (i + 1) / 3
                               for k in range(5) for i in range(3)])
    x = rng.normal(size=(3, 2))
    assert np.allclose(m.forward(x, U, "euler", 3), m.forward(x, fine), rtol=1e-13, atol=1e-13)


def test_param_jacobian_matches_finite_differences():
    rng = np.random.default_rng(2)
    m = ControlledODE.random(3, 4, 2, 2, seed=2, activation="softplus")
    U = make_control("walk", 7, 2, rng)
    x = rng.normal(size=(2, 3))
    J = m.param_jacobian(x, U)
    th, v, eps = m.params(), rng.normal(size=m.n_params), 1e-6
    fd = (m.with_params(th + eps * v).forward(x, U) - m.with_params(th - eps * v).forward(x, U))
    assert np.allclose(J @ v, fd / (2 * eps), atol=1e-7)


@pytest.mark.parametrize("act", ["tanh", "gelu", "relu"])
def test_interval_euler_encloses_float_euler(act):
    rng = np.random.default_rng(3)
    m = ControlledODE.random(2, 3, 2, 1, seed=3, activation=act)
    U = make_control("walk", 12, 2, rng)
    x = rng.normal(size=(4, 2))
    Y = m.interval_output(x, U)
    f = m.forward(x, U)
    assert np.all(Y.lo <= f + 1e-12) and np.all(f - 1e-12 <= Y.hi)
    assert np.max(Y.hi - Y.lo) < 1e-4
    e = m.interval_forward(x[0], U)[0]
    assert float(e.width) < 1e-11 and e.contains(float(f[0, 0])) or abs(
        e.mid_float - f[0, 0]) < 1e-12


# ------------------------------------------------------------------------------------
# files and input errors
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".npz", ".safetensors"])
def test_save_load_roundtrip(tmp_path, ext):
    m = ControlledODE.random(2, 3, 2, 1, seed=4, activation="softplus")
    p = tmp_path / f"m{ext}"
    m.save(p)
    m2 = ControlledODE.load(p)
    assert np.array_equal(m2.params(), m.params()) and m2.activation.name == "softplus"


def test_load_errors(tmp_path):
    m = ControlledODE.random(2, 3, 2, 1, seed=4)
    sd = dict(m.state_dict())
    p = tmp_path / "bad.npz"
    np.savez(p, **{k: v for k, v in sd.items() if k != "readout.bias"})
    with pytest.raises(ModelFileError, match="missing tensor.*readout.bias"):
        ControlledODE.load(p, "tanh")
    np.savez(p, **sd, extra=np.ones(2))
    with pytest.raises(ModelFileError, match="unknown tensor"):
        ControlledODE.load(p, "tanh")
    bad = dict(sd)
    bad["field.1.weight"] = np.ones((3, 2))
    np.savez(p, **bad)
    with pytest.raises(ModelFileError, match="field.1"):
        ControlledODE.load(p, "tanh")
    bad = dict(sd)
    bad["field.0.bias"] = np.array([1.0, np.nan, 0.0])
    np.savez(p, **bad)
    with pytest.raises(ModelFileError, match="non-finite"):
        ControlledODE.load(p, "tanh")
    bad = {k.replace("field.1", "field.2"): v for k, v in sd.items()}
    np.savez(p, **bad)
    with pytest.raises(ModelFileError, match="numbered 0..d-1"):
        ControlledODE.load(p, "tanh")
    np.savez(p, **{f"model.{k}": v for k, v in sd.items()})
    assert ControlledODE.load(p, "tanh").n_channels == 2  # common prefix stripped
    np.savez(p, **sd)
    with pytest.raises(InputError, match="does not record its activation"):
        ControlledODE.load(p)


def test_bad_inputs():
    m = ControlledODE.random(2, 3, 2, 1, seed=5)
    U = make_control("walk", 4, 2, np.random.default_rng(0))
    with pytest.raises(InputError, match="channel"):
        param_lipschitz(m, [[0.0, 1.0]], U[:, :1], 0.1)
    Ub = U.copy()
    Ub[2, 1] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        param_lipschitz(m, [[0.0, 1.0]], Ub, 0.1)
    with pytest.raises(InputError, match="radius"):
        param_lipschitz(m, [[0.0, 1.0]], U, -0.1)
    with pytest.raises(InputError, match="two grid points"):
        param_lipschitz(m, [[0.0, 1.0]], U[:1], 0.1)
    with pytest.raises(InputError, match="data has shape"):
        param_lipschitz(m, [[0.0, 1.0, 2.0]], U, 0.1)
    with pytest.raises(InputError, match="scheme"):
        param_lipschitz(m, [[0.0, 1.0]], U, 0.1, scheme="rk4")
    mr = ControlledODE.random(2, 3, 2, 1, seed=5, activation="relu")
    with pytest.raises(NotSmoothError):
        grad_lipschitz(mr, [[0.0, 1.0]], U, [[0.0]], "mse", 0.1)


# ------------------------------------------------------------------------------------
# the logarithmic-norm constant
# ------------------------------------------------------------------------------------


def test_nu_rotation_and_bounds():
    R = np.array([[0.0, 1.0], [-1.0, 0.0]])
    e, how = nu_upper(R)
    assert how == "vertices" and 0.5 <= e.upper_float < 0.5 + 1e-8
    assert np.linalg.eigvalsh((R + R.T) / 2)[-1] == 0  # mu_2(W) = 0 does not suffice
    rng = np.random.default_rng(6)
    for n in (1, 3, 5, 9):
        W = rng.normal(size=(n, n))
        up = nu_upper(W)[0].upper_float
        assert up <= np.linalg.norm(W, 2) * (1 + 1e-9) and up >= nu_estimate(W) * (1 - 1e-12)
        for _ in range(50):  # mu_2(S W) <= nu(W) for S in [0, 1]^n
            S = np.diag(rng.uniform(0, 1, n))
            assert np.linalg.eigvalsh((S @ W + W.T @ S) / 2)[-1] <= up


# ------------------------------------------------------------------------------------
# soundness: first order (euler map, exactly) and flow (refined Euler, RK4)
# ------------------------------------------------------------------------------------

model_params = dict(
    n0=st.integers(1, 3), n=st.integers(1, 4), d=st.integers(1, 2), m=st.integers(1, 2),
    act=st.sampled_from(ACTS + ["identity", "relu"]), scale=st.floats(0.5, 2.5),
    log_r=st.floats(-4, -0.5),
    N=st.integers(1, 12), kind=st.sampled_from(["time", "walk"]),
    seed=st.integers(0, 2**31 - 1))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**model_params)
def test_first_order_sound(n0, n, d, m, act, scale, log_r, N, kind, seed):
    rng = np.random.default_rng(seed)
    model = ControlledODE.random(n0, n, d, m, scale=scale, seed=seed, activation=act)
    U = make_control(kind, N, d, rng)
    X = rng.normal(size=(2, n0))
    r = 10.0 ** log_r
    res = param_lipschitz(model, X, U, r, lower=False)
    x = X[int(rng.integers(0, 2))]
    pairs = pairs_in_ball(model, U, x, r, rng)
    assert_quotients_below(model, U, x, pairs, res.enclosure, r)
    flow = param_lipschitz(model, X, U, r, scheme="flow", lower=False)
    assert res.upper <= flow.upper
    for ta, tb in pairs[:4]:  # refined Euler grids and RK4 (~ exact flow)
        den = np.linalg.norm(ta - tb)
        for scheme, sub in (("euler", 2), ("euler", 5), ("rk4", 4)):
            q = np.linalg.norm(model.with_params(ta).forward(x, U, scheme, sub)
                               - model.with_params(tb).forward(x, U, scheme, sub)) / den
            assert q <= flow.upper * (1 - 1e-6)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), act=st.sampled_from(["tanh", "sigmoid"]))
def test_certified_lower_below_upper(seed, act):
    rng = np.random.default_rng(seed)
    model = ControlledODE.random(2, 3, 1, 1, seed=seed, activation=act)
    res = param_lipschitz(model, rng.normal(size=(2, 2)), time_grid(1.0, 6), 0.05, seed=seed)
    assert res.lower is not None and res.lower > 0.5 * res.estimate  # a useful witness
    assert compare(res.lower_enclosure.lower, "<=", res.enclosure.upper) is Truth.TRUE


# ------------------------------------------------------------------------------------
# soundness: second order
# ------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 3), d=st.integers(1, 2), act=st.sampled_from(["tanh", "sigmoid",
                                                                     "softplus", "gelu"]),
       loss=st.sampled_from(["mse", "cross-entropy"]), log_r=st.floats(-3, -0.5),
       N=st.integers(1, 8), kind=st.sampled_from(["time", "walk"]),
       seed=st.integers(0, 2**31 - 1))
def test_second_order_sound(n, d, act, loss, log_r, N, kind, seed):
    rng = np.random.default_rng(seed)
    m_out = 2
    model = ControlledODE.random(2, n, d, m_out, seed=seed, activation=act)
    U = make_control(kind, N, d, rng)
    X = rng.normal(size=(3, 2))
    y = rng.normal(size=(3, m_out)) if loss == "mse" else rng.integers(0, m_out, 3)
    r = 10.0 ** log_r
    res = grad_lipschitz(model, X, U, y, loss, r, lower=False)
    for scheme in ("euler", "flow"):
        up = res.upper if scheme == "euler" else grad_lipschitz(
            model, X, U, y, loss, r, scheme="flow", lower=False).upper
        if scheme == "flow":
            assert res.upper <= up
    for ta, tb in pairs_in_ball(model, U, X[0], r, rng, n_random=4):
        ga = loss_gradient(model.with_params(ta), X, U, y, loss)
        gb = loss_gradient(model.with_params(tb), X, U, y, loss)
        q = np.linalg.norm(ga - gb) / np.linalg.norm(ta - tb)
        # float screen only: strictly below with a margin (never a slack on the bound)
        assert q <= res.upper * (1 - 1e-6)


# ------------------------------------------------------------------------------------
# ordering, discrete <= continuous, N -> infinity
# ------------------------------------------------------------------------------------


def _upper(model, X, U, r, scheme, **kw):
    ci = certified_inputs(model, X, U, r, centre=kw.get("centre", True) and scheme == "euler",
                          lognorm=kw.get("lognorm", True))
    f = bound_formula(scheme, ci)
    from symlip.bounds.cde import _args

    return f.enclose(_args(f, ci, hull=True)).upper_float


@pytest.mark.parametrize("seed", range(4))
def test_ordering_of_bounds(seed):
    rng = np.random.default_rng(seed)
    model = ControlledODE.random(2, 3, 2, 1, seed=seed, scale=1.5)
    U = make_control("walk", 10, 2, rng)
    X = rng.normal(size=(2, 2))
    r = 0.02
    e = _upper(model, X, U, r, "euler")
    e0 = _upper(model, X, U, r, "euler", centre=False, lognorm=False)
    f = _upper(model, X, U, r, "flow")
    f0 = _upper(model, X, U, r, "flow", lognorm=False)
    me = _upper(model, X, U, r, "math_euler")
    mc = _upper(model, X, U, r, "math")
    assert e <= e0 <= me <= mc
    assert e <= f <= f0 <= mc


def test_discrete_below_continuous_and_converges():
    model = ControlledODE.random(2, 3, 1, 1, seed=7, scale=1.5)
    X = np.array([[0.7, -0.4]])
    r = 0.01
    mc = _upper(model, X, time_grid(1.0, 1), r, "math")
    prev, vals = 0.0, []
    for N in (1, 2, 4, 8, 16, 64, 256, 1024):
        me = _upper(model, X, time_grid(1.0, N), r, "math_euler")
        assert prev <= me <= mc  # increasing in N, below the continuous bound
        prev = me
        vals.append(me)
    assert 1 - vals[-1] / mc < 5e-3  # (1 + a/N)^N -> e^a
    # the improved family: euler(N) <= flow(N) for every N, both converge to one limit
    gaps = []
    for N in (4, 16, 64, 256):
        U = time_grid(1.0, N)
        eu = _upper(model, X, U, r, "euler", centre=False)
        fl = _upper(model, X, U, r, "flow")
        assert eu <= fl
        gaps.append(fl / eu - 1)
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 2e-2


def test_sympy_limit_is_the_continuous_bound():
    lims = prog.uniform_limits()
    K1, rho, V1 = (sp.Symbol(s, nonnegative=True) for s in ("K1", "rho", "V1"))
    assert sp.simplify(lims["product"][1] - sp.exp(K1 * rho * V1)) == 0
    assert lims["continuous"][1] == 0
    lam = sp.Symbol("lambda", nonnegative=True)
    assert lims["lognorm"][1] == sp.exp(lam) and lims["flow"][1] == lam
    tex = prog.limit_derivation().to_latex()
    assert r"\lim" in tex and "e^{K_{1} V_{1} \\rho}" in tex


def test_step_formula_estimate_matches_enclosure_and_srepr_parses():
    from symlip.symbolic.formula import read_srepr

    model = ControlledODE.random(2, 3, 2, 1, seed=8)
    rng = np.random.default_rng(8)
    U = make_control("walk", 6, 2, rng)
    X = rng.normal(size=(1, 2))
    ci = certified_inputs(model, X, U, 0.1)
    f = bound_formula("euler", ci)
    from symlip.bounds.cde import _args

    args = _args(f, ci, hull=True)
    enc = f.enclose(args)
    est = f.estimate({k: v.mid_float for k, v in args.items()})
    assert enc.lower_float - 1e-9 <= est <= enc.upper_float + 1e-9
    assert isinstance(read_srepr(f.srepr()), sp.Tuple)
    assert "for } k = 0" in f.latex()


# ------------------------------------------------------------------------------------
# untied residual network
# ------------------------------------------------------------------------------------


def test_residual_program_sound():
    from symlip.bounds import recursion as rec

    rng = np.random.default_rng(9)
    n0, n, blocks, h = 2, 3, 4, 0.3
    A, a = rng.normal(size=(n, n0)), rng.normal(size=n) * 0.1
    Ws = [rng.normal(size=(n, n)) / math.sqrt(n) for _ in range(blocks)]
    bs = [rng.normal(size=n) * 0.1 for _ in range(blocks)]
    C, c = rng.normal(size=(1, n)), np.zeros(1)
    x = np.array([0.5, -1.0])
    r = 0.05

    def f(th):
        o = 0
        def take(shape):
            nonlocal o
            v = th[o:o + int(np.prod(shape))].reshape(shape)
            o += v.size
            return v
        A_, a_ = take((n, n0)), take((n,))
        z = A_ @ x + a_
        for _ in range(blocks):
            W_, b_ = take((n, n)), take((n,))
            z = z + h * np.tanh(W_ @ z + b_)
        return take((1, n)) @ z + take((1,))

    th0 = np.concatenate([A.ravel(), a]
                         + [v for W, b in zip(Ws, bs, strict=True) for v in (W.ravel(), b)]
                         + [C.ravel(), c])
    N = blocks + 2
    formula = prog.residual_program(N, centre=False)
    vals = {"r": r, "K1": 1.0, "s0": 0.0, "S0": 1.0, "c_0": float(np.linalg.norm(x)),
            f"rho_{1}": np.linalg.norm(A, 2) + r, f"beta_{1}": np.linalg.norm(a) + r,
            f"rho_{N}": np.linalg.norm(C, 2) + r, f"beta_{N}": np.linalg.norm(c) + r}
    for k in range(2, N):
        vals[f"rho_{k}"] = np.linalg.norm(Ws[k - 2], 2) + r
        vals[f"beta_{k}"] = np.linalg.norm(bs[k - 2]) + r
        vals[f"n_{k}"] = n
        vals[f"tau_{k}"] = h
    L = formula.estimate(vals) * (1 - 1e-9)  # float estimate; tolerance towards *smaller*
    del rec
    for _ in range(200):
        u, v = rng.normal(size=th0.size), rng.normal(size=th0.size)
        ta = th0 + r * rng.uniform() * u / np.linalg.norm(u)
        tb = th0 + r * rng.uniform() * v / np.linalg.norm(v)
        assert np.linalg.norm(f(ta) - f(tb)) / np.linalg.norm(ta - tb) <= L


# ------------------------------------------------------------------------------------
# CLI (in-process, tests/clirun.py)
# ------------------------------------------------------------------------------------


def run(*args):
    return run_cli(*args)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cde")
    model = ControlledODE.random(2, 3, 2, 1, seed=10)
    model.save(d / "m.safetensors")
    rng = np.random.default_rng(10)
    np.save(d / "U.npy", make_control("walk", 8, 2, rng))
    np.save(d / "X.npy", rng.normal(size=(3, 2)))
    np.save(d / "Y.npy", rng.normal(size=(3, 1)))
    np.save(d / "Ubad.npy", np.ones((8, 3)))
    return d


def test_cli_certify_params_json_and_verify(files):
    d = files
    r = run("certify", d / "m.safetensors", "--model-type", "cde", "--control", d / "U.npy",
            "--wrt", "params", "--data", d / "X.npy", "--radius", "0.01", "--json",
            "--certificate", d / "c.json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["quantity"] == "cde_param_lipschitz" and out["certified"] is True
    for key in ("radius", "upper", "lower", "estimate"):
        assert key in out
    assert float(out["lower"]) <= float(out["upper"])
    v = run("verify", d / "c.json", "--model", d / "m.safetensors", "--data", d / "X.npy",
            "--control", d / "U.npy")
    assert v.returncode == 0, v.stderr
    g = run("certify", d / "m.safetensors", "--model-type", "cde", "--control", d / "U.npy",
            "--wrt", "gradient", "--data", d / "X.npy", "--targets", d / "Y.npy",
            "--radius", "0.01", "--json")
    assert g.returncode == 0, g.stderr
    assert json.loads(g.stdout)["quantity"] == "cde_grad_lipschitz"


def test_cli_errors(files):
    d = files
    base = ["certify", d / "m.safetensors", "--model-type", "cde", "--wrt", "params",
            "--data", d / "X.npy"]
    r = run(*base, "--control", d / "Ubad.npy", "--radius", "0.1")
    assert r.returncode == 2 and "channel" in r.stderr and "Traceback" not in r.stderr
    r = run(*base, "--radius", "0.1")
    assert r.returncode == 2 and "--control" in r.stderr
    r = run(*base, "--control", d / "U.npy", "--radius", "-1")
    assert r.returncode == 2 and "radius" in r.stderr


def test_cli_derive():
    r = run("derive", "--model-type", "cde", "--wrt", "params", "--format", "latex")
    assert r.returncode == 0, r.stderr
    assert "Gronwall" in r.stdout and r"\lim" in r.stdout
    r = run("derive", "--model-type", "cde", "--wrt", "gradient")
    assert r.returncode == 0 and "Second order" in r.stdout
