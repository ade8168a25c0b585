"""Linear-spline activations: exact constants, slope constraints, files, CLI, bounds."""

from __future__ import annotations

import json
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.activations.registry import X
from symlip.activations.spline import (
    LinearSpline,
    certify_max_slope,
    clip_chain_exact,
    clip_slopes,
    kkt_residual_exact,
    project_chain,
    project_chain_exact,
    project_slopes,
)
from symlip.arith.enclosure import Enclosure, Truth, compare, working_precision
from symlip.bounds.input import input_lipschitz, input_quotient_from_witness
from symlip.errors import InputError, ModelFileError, NotSmoothError
from symlip.models.io import load, save
from symlip.models.network import spline_network
from tests.clirun import run_cli

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def brute_slopes(c, lo, hi):
    T = (Fraction(hi) - Fraction(lo)) / (len(c) - 1)
    return [(Fraction(b) - Fraction(a)) / T for a, b in zip(c, c[1:], strict=False)]


def exact_value(c, lo, hi, z):
    """Reference: the spline by its definition (knots, end-slope extension)."""
    K = len(c)
    T = (Fraction(hi) - Fraction(lo)) / (K - 1)
    z = Fraction(z)
    s = brute_slopes(c, lo, hi)
    if z <= Fraction(lo):
        return Fraction(c[0]) + s[0] * (z - Fraction(lo))
    if z >= Fraction(hi):
        return Fraction(c[-1]) + s[-1] * (z - Fraction(hi))
    for i in range(K - 1):
        t1 = Fraction(lo) + (i + 1) * T
        if z <= t1:
            return Fraction(c[i]) + s[i] * (z - (Fraction(lo) + i * T))
    raise AssertionError


# ------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------


def test_numpy_matches_definition_inside_and_outside():
    rng = np.random.default_rng(0)
    c = rng.standard_normal((3, 7))
    s = LinearSpline(c, 0.5)
    z = rng.uniform(-2, 2, (50, 3))
    v = s.sigma(z)
    for b in range(50):
        for n in range(3):
            ref = exact_value(list(c[n]), -0.5, 0.5, z[b, n])
            assert abs(v[b, n] - float(ref)) <= 1e-12 * (1 + abs(float(ref)))
            assert s.value_exact(z[b, n], n) == ref
    # derivative: the slope of the piece
    d = s.dsigma(np.array([[-3.0, 0.01, 3.0]]))
    sl = s.estimate_slopes()
    assert np.allclose(d[0], [sl[0, 0], sl[1, 3], sl[2, -1]])


def test_shared_spline_any_shape_and_neuron_check():
    s = LinearSpline([0.0, 0.0, 1.0], 1.0)
    assert s.sigma(np.array([[-5.0, 0.5, 2.0, 7.0]])).tolist() == [[0.0, 0.5, 2.0, 7.0]]
    p = LinearSpline(np.zeros((2, 3)), 1.0)
    with pytest.raises(InputError, match="2 neurons"):
        p.sigma(np.zeros((4, 3)))
    with pytest.raises(InputError, match="K >= 2"):
        LinearSpline([[1.0]], 1.0)
    with pytest.raises(InputError, match="R=-1.0"):
        LinearSpline([0.0, 1.0], -1.0)
    with pytest.raises(InputError, match="a < b"):
        LinearSpline([0.0, 1.0], [1.0, 1.0])


def test_piecewise_is_exact():
    c = [0.1, -0.3, 0.7, 0.2, 0.2]
    s = LinearSpline(c, 0.3)  # T = 0.15, not a double
    e = s.piecewise()
    for z in ["-1", "-0.3", "-0.1", "0", "0.123", "0.3", "2"]:
        q = Fraction(z)
        val = e.subs(X, sp.Rational(q.numerator, q.denominator))
        assert sp.Rational(val) == sp.Rational(*exact_value(c, -0.3, 0.3, q).as_integer_ratio())


@SETTINGS
@given(seed=st.integers(0, 2**31), K=st.integers(2, 12))
def test_interval_sigma_encloses_range(seed, K):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((2, K))
    s = LinearSpline(c, float(rng.uniform(0.1, 3)))
    a, b = np.sort(rng.uniform(-4, 4, 2))
    enc = Enclosure.from_interval(s.interval_sigma(Enclosure.from_floats(a, b).to_interval(), 1))
    for z in np.linspace(a, b, 33):
        q = s.value_exact(float(z), 1)
        assert Fraction(enc.lower_float) <= q <= Fraction(enc.upper_float)
    lo, hi = s.interval_sigma_array(np.array([a, a]), np.array([b, b]))
    assert Fraction(lo[1]) <= Fraction(enc.lower_float) + Fraction(1, 10**12)
    assert Fraction(hi[1]) >= s.value_exact(float(b), 1)
    # a point interval is tight (exact value rounded outward)
    with working_precision(113):
        p = s.interval_sigma(Enclosure.point(float(a)).to_interval(), 0)
    pe = Enclosure.from_interval(p)
    assert pe.lower_float <= float(s.value_exact(float(a), 0)) <= pe.upper_float
    assert float(pe.width) <= 2.0**-100 * (1 + abs(float(a)) + np.abs(c).max())


# ------------------------------------------------------------------------------------
# constants
# ------------------------------------------------------------------------------------


@SETTINGS
@given(seed=st.integers(0, 2**31), K=st.integers(2, 40), R=st.sampled_from([0.5, 0.3, 1.7, 3.0]))
def test_k1_and_tv2_are_the_exact_rationals(seed, K, R):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((3, K)) * 10.0 ** rng.integers(-3, 3)
    s = LinearSpline(c, R)
    slopes = [brute_slopes(list(row), -R, R) for row in c]
    k1 = max(abs(v) for row in slopes for v in row)
    assert s.constants.K1.exact == sp.Rational(k1.numerator, k1.denominator)
    assert s.constants.K1.enclosure.contains(Enclosure.from_fraction(k1).lower)
    assert s.constants.K1.enclosure.contains(Enclosure.from_fraction(k1).upper)
    for n, e in enumerate(s.certify_max_slope()):
        m = max(abs(v) for v in slopes[n])
        assert e.lower <= Enclosure.from_fraction(m).lower and e.upper >= \
            Enclosure.from_fraction(m).upper
    tv = s.tv2_exact()
    for n in range(3):
        ref = sum((abs(b - a) for a, b in zip(slopes[n], slopes[n][1:], strict=False)), Fraction(0))
        assert tv[n] == ref
        assert abs(s.estimate_tv2()[n] - float(ref)) <= 1e-9 * (1 + float(ref))


def test_nonrepresentable_step_is_handled_exactly():
    # T = 2 * 0.5 / 100 = 1/100 is not a double; c_i = fl(i * fl(0.01)) - 0.5
    K, R = 101, 0.5
    c = np.array([i * 0.01 - 0.5 for i in range(K)])
    s = LinearSpline(c, R)
    exact = max(abs(v) for v in brute_slopes(list(c), -R, R))
    assert exact != 1  # rounding moved some slope off 1 ...
    assert s.constants.K1.exact == sp.Rational(exact.numerator, exact.denominator)
    # ... and the float estimate is not what is certified
    assert compare(s.constants.K1.enclosure, "==", 1) is not Truth.TRUE


def test_s0_k2_sigma0():
    s = LinearSpline([[2.0, 2.0, -1.0, 3.0, 3.0]], 2.0)  # flat ends: bounded
    c = s.constants
    assert c.S0.exact == 3 and c.S0.is_finite
    assert not c.K2.is_finite and "jumps" in c.K2.reason
    assert c.sigma0.exact == 1  # knot 0 has coefficient -1
    u = LinearSpline([[0.0, 1.0, 3.0]], 1.0).constants
    assert not u.S0.is_finite and "end slope" in u.S0.reason
    aff = LinearSpline([[-1.0, 0.0, 1.0]], 1.0)
    assert aff.constants.K2.exact == 0 and aff.is_smooth
    assert aff.d2sigma(np.zeros((2, 1))).tolist() == [[0.0], [0.0]]
    with pytest.raises(NotSmoothError, match="jumps"):
        s.d2sigma(np.zeros((1, 1)))


# ------------------------------------------------------------------------------------
# slope constraints
# ------------------------------------------------------------------------------------


@SETTINGS
@given(seed=st.integers(0, 2**31), K=st.integers(2, 30),
       L=st.sampled_from([1.0, 0.5, 2.0, 0.1]), R=st.sampled_from([0.5, 1.0, 0.3, 2.5]))
def test_constraint_maps_are_certified_feasible_and_projection_is_closer(seed, K, L, R):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((3, K)) * rng.uniform(0.1, 5)
    Lq = Fraction(L)
    clipped = clip_slopes(c, R, L)
    projected = project_slopes(c, R, L)
    for arr in (clipped, projected):
        for e in certify_max_slope(arr, R):
            assert compare(e.upper, "<=", Enclosure.point(L)) is Truth.TRUE
    a = Lq * Fraction(2 * R) / (K - 1)
    for n in range(3):
        x = project_chain_exact(c[n], a)
        assert kkt_residual_exact(c[n], x, a)["optimal"]
        assert project_chain(c[n], a) == x
        m = clip_chain_exact(c[n], a)
        assert kkt_residual_exact(c[n], m, a)["feasible"]
        dist = lambda y, n=n: sum((yi - Fraction(ci)) ** 2 for yi, ci in zip(y, c[n], strict=False))  # noqa: E731
        assert dist(x) <= dist(m)
        # the paper's map keeps the mean exactly; so does the projection (KKT)
        assert sum(m) == sum(Fraction(v) for v in c[n]) == sum(x)
        # double results are within a few ulps of the exact maps
        assert np.allclose(projected[n], [float(v) for v in x], rtol=1e-14, atol=1e-14)
        assert np.allclose(clipped[n], [float(v) for v in m], rtol=1e-14, atol=1e-14)


def test_float_recipe_can_exceed_the_bound_and_the_check_says_so():
    c = np.random.default_rng(0).standard_normal((4, 101)) * 3
    f = clip_slopes(c, 0.5, 1.0, exact=False)
    verdicts = [compare(e.upper, "<=", 1) for e in certify_max_slope(f, 0.5)]
    assert any(v is not Truth.TRUE for v in verdicts)
    exact = clip_slopes(c, 0.5, 1.0)
    assert all(compare(e.upper, "<=", 1) is Truth.TRUE for e in certify_max_slope(exact, 0.5))
    assert np.allclose(f, exact, atol=1e-12)


def test_projection_small_example_and_errors():
    assert [str(v) for v in project_chain_exact([0.0, 4.0, 4.0], Fraction(1))] == \
        ["5/3", "8/3", "11/3"]
    with pytest.raises(InputError, match="lipschitz"):
        clip_slopes([0.0, 1.0], 1.0, -1.0)


# ------------------------------------------------------------------------------------
# coefficient sensitivity and parameter bounds
# ------------------------------------------------------------------------------------


def test_coefficient_factor_is_sound():
    rng = np.random.default_rng(3)
    s = LinearSpline(rng.standard_normal(6), 1.0)
    assert s.certify_coefficient_factor(0.9).upper == 1
    for zmax in [0.5, 1.0, 1.7, 5.0]:
        w = s.certify_coefficient_factor(zmax).upper_float
        for _ in range(200):
            z = rng.uniform(-zmax, zmax)
            dc = rng.standard_normal(6)
            s2 = LinearSpline(s.coefficients[0] + dc, 1.0)
            q = abs(s2.value_exact(z) - s.value_exact(z)) / Fraction(np.linalg.norm(dc))
            assert float(q) <= w * (1 + 1e-15)


def test_spline_param_bound_with_coefficients_is_sound():
    from symlip.bounds.spline_param import spline_grad_lipschitz, spline_param_lipschitz

    rng = np.random.default_rng(1)
    W = [rng.standard_normal((4, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 3))]
    b = [rng.standard_normal(4) * 0.1, rng.standard_normal(3) * 0.1, rng.standard_normal(2) * 0.1]
    C = [rng.standard_normal((4, 7)), rng.standard_normal(7)]  # per-neuron and shared
    net = spline_network(W, b, C, 1.0)
    Xd = rng.standard_normal((6, 3)) * 2
    r = 0.05
    res = spline_param_lipschitz(net, Xd, r, lower=True)
    assert res.lower <= res.upper
    params = W + b + C

    def f(P):
        return spline_network(P[:3], P[3:6], P[6:], 1.0).forward(Xd)

    def pert(s):
        d = [rng.standard_normal(a.shape) for a in params]
        n = np.sqrt(sum((x**2).sum() for x in d))
        return [x * s / n for x in d]

    best = 0.0
    for _ in range(60):
        d1, d2 = pert(rng.uniform(0, r)), pert(rng.uniform(0, r))
        f1 = f([a + x for a, x in zip(params, d1, strict=False)])
        f2 = f([a + x for a, x in zip(params, d2, strict=False)])
        dn = np.sqrt(sum(((x - y) ** 2).sum() for x, y in zip(d1, d2, strict=False)))
        best = max(best, float(np.linalg.norm(f1 - f2, axis=1).max() / dn))
    assert best <= res.upper
    with pytest.raises(NotSmoothError, match="jumps"):
        spline_grad_lipschitz(net)


# ------------------------------------------------------------------------------------
# soundness of the input bound on random spline networks (rigorous quotients)
# ------------------------------------------------------------------------------------


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), depth=st.integers(1, 4), width=st.integers(1, 6),
       K=st.integers(2, 9), shared=st.booleans())
def test_input_bound_dominates_difference_quotients(seed, depth, width, K, shared):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, width + 1)) for _ in range(depth + 1)]
    W = [rng.standard_normal((m, n)) / np.sqrt(n) for n, m in zip(widths, widths[1:], strict=False)]
    b = [0.1 * rng.standard_normal(m) for m in widths[1:]]
    C = [rng.standard_normal(K) if shared else rng.standard_normal((m, K))
         for m in widths[1:-1]]
    net = spline_network(W, b, C, float(rng.uniform(0.2, 2)))
    res = input_lipschitz(net, rng.standard_normal((8, widths[0])), seed=seed)
    assert compare(res.lower_enclosure.lower, "<=", res.enclosure.upper) is Truth.TRUE
    for _ in range(6):
        x = rng.standard_normal(widths[0]) * 2
        y = x + rng.standard_normal(widths[0]) * rng.uniform(1e-3, 2)
        q = input_quotient_from_witness(net, {"x": x.tolist(), "x_prime": y.tolist()})
        assert compare(q.lower, "<=", res.enclosure.upper) is Truth.TRUE
    # (float64 quotients are not compared: for a tight network such as a 1x1 layer they
    # can exceed the exact constant by a rounding error; the rigorous ones above cannot)


# ------------------------------------------------------------------------------------
# model files and CLI
# ------------------------------------------------------------------------------------


def _net():
    H = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0
    c = np.array([[-1, 0, 1, 1], [1, 0, -1, -2], [0, 0, 0, 0], [0.5, 0, 1, 2]]) * 2 / 3
    return spline_network([H, H[:1]], [np.zeros(4), [0.0]], [c], 1.0)


@pytest.mark.parametrize("ext", ["npz", "safetensors"])
def test_model_file_roundtrip(tmp_path, ext):
    net = _net()
    p = tmp_path / f"m.{ext}"
    save(net, p)
    back = load(p)
    x = np.random.default_rng(0).standard_normal((5, 4))
    assert np.array_equal(back.forward(x), net.forward(x))
    a = back.activations[0]
    assert isinstance(a, LinearSpline) and np.array_equal(a.coefficients,
                                                          net.activations[0].coefficients)
    with pytest.raises(InputError, match="spline activations"):
        load(p, "relu")


def test_model_file_errors(tmp_path):
    H = np.eye(2)
    base = {"0.weight": H, "0.bias": np.zeros(2), "2.weight": H, "2.bias": np.zeros(2)}
    p = tmp_path / "a.npz"
    np.savez(p, **base, **{"1.coefficients": np.zeros((3, 4)), "1.grid": np.array([1.0])})
    with pytest.raises(ModelFileError, match="3 rows"):
        load(p)
    np.savez(p, **base, **{"1.coefficients": np.zeros((2, 4))})
    with pytest.raises(ModelFileError, match="'1.grid'"):
        load(p)
    np.savez(p, **base, **{"3.coefficients": np.zeros((2, 4)), "3.grid": np.array([1.0]),
                           "1.coefficients": np.zeros((2, 4)), "1.grid": np.array([1.0])})
    with pytest.raises(ModelFileError, match=r"\[3\]"):
        load(p)
    np.savez(p, **base, **{"1.coefficients": np.zeros(4), "1.grid": np.array([-1.0, 2.0])})
    net = load(p)  # shared spline, general grid
    assert net.activations[0].shared and net.activations[0].grid == (-1.0, 2.0)
    np.savez(p, **base, **{"1.coefficients": np.zeros(4), "1.grid": np.array([0.0])})
    with pytest.raises(ModelFileError, match="R=0.0"):
        load(p)


def _cli(*args):
    return run_cli(*args, warnings_filter="ignore")


def test_cli_certify_and_activation(tmp_path):
    p = tmp_path / "m.npz"
    save(_net(), p)
    r = _cli("certify", str(p), "--wrt", "input", "--json", "--target", "1")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["verdict"] == "certified-1-lipschitz"
    C = tmp_path / "C.npy"
    np.save(C, np.array([[0.0, 0.0, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0]]))
    r = _cli("activation", "spline", "--coefficients", str(C), "--range", "1.5", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["K1"]["upper"] == "1" and d["K2"]["upper"] == "inf"
    assert [t["upper"] for t in d["tv2"]] == ["1", "1"] and d["grid"] == [-1.5, 1.5]
    r = _cli("activation", "spline", "--coefficients", str(C))
    assert r.returncode == 2 and "--range" in r.stderr and "Traceback" not in r.stderr
    r = _cli("certify", str(p), "--wrt", "gradient", "--data", str(C), "--radius", "0.1")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_mpmath_precision_untouched():
    s = LinearSpline([0.0, 1.0, 0.0], 1.0)
    before = (mpmath.mp.prec, mpmath.iv.prec)
    s.interval_sigma(Enclosure.from_floats(-0.3, 0.2).to_interval())
    s.certify_coefficient_factor(3.0)
    assert (mpmath.mp.prec, mpmath.iv.prec) == before


# ------------------------------------------------------------------------------------
# soundness of the parameter bound, coefficients included (rigorous quotients, no slack)
# ------------------------------------------------------------------------------------


def _enclosed_quotient(nets, thetas, xs):
    """Rigorous enclosure of max_x ||f(x; theta_1) - f(x; theta_2)|| / ||theta_1 - theta_2||
    (the parameter vectors are lists of float64 arrays, the difference enclosed exactly)."""
    from mpmath import iv

    step = iv.mpf(0)
    for a, b in zip(*thetas, strict=True):
        for u, v in zip(np.ravel(a), np.ravel(b), strict=True):
            d = iv.mpf(float(u)) - iv.mpf(float(v))
            step += d * d
    best = None
    for x in xs:
        f1, f2 = (n.interval_forward(x) for n in nets)
        diff = sum(((p.to_interval() - q.to_interval()) ** 2 for p, q in zip(f1, f2, strict=True)),
                   iv.mpf(0))
        q = Enclosure.from_interval(iv.sqrt(diff) / iv.sqrt(step))
        best = q if best is None or q.lower > best.lower else best
    return best, Enclosure.from_interval(iv.sqrt(step))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), depth=st.integers(1, 3), width=st.integers(1, 5),
       K=st.integers(2, 8), shared=st.booleans(), asym=st.booleans(),
       r=st.sampled_from([1e-3, 0.05, 0.3, 1.0]))
def test_spline_param_bound_dominates_rigorous_quotients(seed, depth, width, K, shared, asym, r):
    """Weights, biases AND coefficients perturbed inside the ball: every rigorous
    difference quotient (lower end) is <= the certified upper bound, no slack."""
    from symlip.bounds.spline_param import spline_param_lipschitz

    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, width + 1)) for _ in range(depth + 1)]
    W = [rng.standard_normal((m, n)) / np.sqrt(n) for n, m in zip(widths, widths[1:], strict=False)]
    b = [0.3 * rng.standard_normal(m) for m in widths[1:]]
    C = [rng.standard_normal(K) if shared else rng.standard_normal((m, K))
         for m in widths[1:-1]]
    # symmetric [-R, R] or an asymmetric grid (possibly not containing 0)
    lo = float(rng.uniform(-2, 0.3)) if asym else None
    grid = [lo, lo + float(rng.uniform(0.2, 2))] if asym else float(rng.uniform(0.2, 2))
    net = spline_network(W, b, C, grid)
    X = rng.standard_normal((4, widths[0])) * rng.uniform(0.5, 3)  # often beyond the grid
    res = spline_param_lipschitz(net, X, r, lower=False)
    upper = res.enclosure.upper
    params = W + b + C
    n_w = len(W)

    def build(P):
        return spline_network(P[:n_w], P[n_w:2 * n_w], P[2 * n_w:], grid)

    def in_ball(scale):
        d = [rng.standard_normal(a.shape) for a in params]
        if rng.random() < 0.3:  # coefficients only
            d = [np.zeros_like(x) if i < 2 * n_w else x for i, x in enumerate(d)]
        n = np.sqrt(sum((x**2).sum() for x in d)) or 1.0
        P = [a + x * (scale / n) for a, x in zip(params, d, strict=True)]
        _, dist = _enclosed_quotient([net, net], [P, params], [])
        assert compare(dist.upper, "<=", r) is Truth.TRUE  # really inside the closed ball
        return P

    sizes = np.cumsum([a.size for a in params])[:-1]

    def unflat(vec):
        return [x.reshape(a.shape) for x, a in zip(np.split(vec, sizes), params, strict=True)]

    def along(v, t):  # params + t v (v a unit vector)
        P = [a + t * x for a, x in zip(params, unflat(v), strict=True)]
        _, dist = _enclosed_quotient([net, net], [P, params], [])
        assert compare(dist.upper, "<=", r) is Truth.TRUE
        return P

    # the worst local direction at the first point (top singular vector of a central
    # finite-difference Jacobian in all parameters): quotients near the true constant
    flat = np.concatenate([a.ravel() for a in params])
    h = 1e-6
    J = np.stack([(build(unflat(flat + h * e)).forward(X[:1])
                   - build(unflat(flat - h * e)).forward(X[:1]))[0] / (2 * h)
                  for e in np.eye(flat.size)], axis=1)
    v = np.linalg.svd(J)[2][0]
    pairs = [(along(v, 0.999 * r), along(v, -0.999 * r)), (along(v, 0.999 * r), params)]
    for _ in range(3):
        P2 = params if rng.random() < 0.3 else in_ball(r * rng.uniform(0, 0.999))
        pairs.append((in_ball(r * rng.uniform(0, 0.999)), P2))
    for P1, P2 in pairs:
        if all(np.array_equal(a, c) for a, c in zip(P1, P2, strict=True)):
            continue
        q, _ = _enclosed_quotient([build(P1), build(P2)], [P1, P2], X)
        assert compare(q.lower, "<=", upper) is Truth.TRUE, (q, res.enclosure)


# ------------------------------------------------------------------------------------
# the projection is exact: independent brute force and the variational inequality
# ------------------------------------------------------------------------------------


def _solve_exact(M, v):
    """Gauss-Jordan elimination in Fractions (M square, non-singular)."""
    n = len(M)
    A = [list(row) + [vi] for row, vi in zip(M, v, strict=True)]
    for i in range(n):
        p = next(k for k in range(i, n) if A[k][i] != 0)
        A[i], A[p] = A[p], A[i]
        for k in range(n):
            if k != i and A[k][i] != 0:
                f = A[k][i] / A[i][i]
                A[k] = [x - f * y for x, y in zip(A[k], A[i], strict=True)]
    return [A[i][n] / A[i][i] for i in range(n)]


def _brute_projection(c, a):
    """min ||x - c||^2 s.t. |x_{i+1} - x_i| <= a, by enumerating every sign pattern:
    the projection solves the equality-constrained problem of its own active set, so it
    is the closest feasible candidate (x = c - A^T (A A^T)^{-1} (A c - b))."""
    import itertools

    K = len(c)
    best = None
    for signs in itertools.product((-1, 0, 1), repeat=K - 1):
        rows = [i for i, s in enumerate(signs) if s]
        x = list(c)
        if rows:
            A = [[Fraction(-1 if j == i else 1 if j == i + 1 else 0) for j in range(K)]
                 for i in rows]
            resid = [sum((r[j] * c[j] for j in range(K)), Fraction(0)) - signs[i] * a
                     for r, i in zip(A, rows, strict=True)]
            AAt = [[sum((p[j] * q[j] for j in range(K)), Fraction(0)) for q in A] for p in A]
            lam = _solve_exact(AAt, resid)
            x = [c[j] - sum((A[k][j] * lam[k] for k in range(len(rows))), Fraction(0))
                 for j in range(K)]
        if all(abs(x1 - x0) <= a for x0, x1 in zip(x, x[1:], strict=False)):
            d = sum(((xi - ci) ** 2 for xi, ci in zip(x, c, strict=True)), Fraction(0))
            if best is None or d < best[0]:
                best = (d, x)
    return best[1]


@SETTINGS
@given(seed=st.integers(0, 2**31), K=st.integers(2, 6),
       a=st.sampled_from([Fraction(0), Fraction(1, 3), Fraction(1), Fraction(5, 2)]))
def test_projection_equals_brute_force_and_satisfies_the_variational_inequality(seed, K, a):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal(K) * rng.choice([0.1, 1.0, 4.0])
    if rng.random() < 0.3:  # ties and exact doubles
        c = np.round(c * 2) / 2
    cf = [Fraction(float(v)) for v in c]
    x = project_chain_exact(c, a)
    assert x == _brute_projection(cf, a) == project_chain(c, a)
    # optimality on the convex set C: <c - x, y - x> <= 0 for every y in C (sampled:
    # the paper's map of random points, random feasible walks, the constant chains)
    ys = [clip_chain_exact(rng.standard_normal(K) * 3, a) for _ in range(20)]
    ys += [[Fraction(v) for v in np.cumsum(rng.uniform(-0.9, 0.9, K))] for _ in range(5)
           if a >= 1]
    ys += [[Fraction(t)] * K for t in (-2, 0, 3)]
    for y in ys:
        assert all(abs(y1 - y0) <= a for y0, y1 in zip(y, y[1:], strict=False))
        assert sum(((ci - xi) * (yi - xi) for ci, xi, yi in zip(cf, x, y, strict=True)),
                   Fraction(0)) <= 0


def test_spline_param_grid_without_zero():
    """Rg = min(b, -a) < 0 when the grid [a, b] misses 0: the distance beyond the grid
    is (zeta - Rg)/T = (zeta + a)/T, and the bound still dominates a rigorous quotient."""
    from symlip.bounds.spline_param import spline_param_lipschitz

    net = spline_network([[[1.0]], [[1.0]]], [[0.0], [0.0]], [[0.0, 1.0, 1.0]], [0.5, 2.5])
    res = spline_param_lipschitz(net, [[-3.0]], 2.0**-19, lower=False)  # holds both
    assert float(res.inputs["Rg_1"].upper) == -0.5
    # at z = -3, 3.5 beyond a = 0.5 in steps T = 1: weights (1 + 3.5, -3.5) on c_0, c_1
    net2 = spline_network([[[1.0]], [[1.0]]], [[0.0], [0.0]], [[0.0 + 2**-20, 1.0, 1.0]],
                          [0.5, 2.5])
    P, P2 = [[[1.0]], [[1.0]], [0.0], [0.0], [0.0, 1.0, 1.0]], \
        [[[1.0]], [[1.0]], [0.0], [0.0], [2**-20, 1.0, 1.0]]
    q, _ = _enclosed_quotient([net, net2], [[np.asarray(a) for a in P],
                                             [np.asarray(a) for a in P2]], [[-3.0]])
    assert float(q.lower) == pytest.approx(4.5)
    assert compare(q.lower, "<=", res.enclosure.upper) is Truth.TRUE


def test_spline_param_refuses_residual_blocks():
    """The coefficient bound is the feed-forward recursion: on a residual block it would
    be unsound (here it would certify 1.81 while dW_2 alone gives the quotient 100)."""
    from symlip.bounds.spline_param import spline_param_lipschitz
    from symlip.models.network import DenseLayer, Network, ResidualLayer

    net = Network([ResidualLayer(np.zeros((2, 2)), np.zeros(2), "0"),
                   DenseLayer(np.array([[0.001, 0.0]]), np.zeros(1), "1")],
                  [LinearSpline(np.array([[0, 0, 1.0], [0, 0, 1.0]]), 1.0)])
    with pytest.raises(InputError, match=r"\['0'\] are residual blocks"):
        spline_param_lipschitz(net, [[100.0, 0.0]], 0.01)


# ------------------------------------------------------------------------------------
# the lower side of the coefficient bound: full Jacobian, certified quotient, witness
# ------------------------------------------------------------------------------------


def _random_spline_net(rng, depth, width, K, shared, asym):
    widths = [int(rng.integers(1, width + 1)) for _ in range(depth + 1)]
    W = [rng.standard_normal((m, n)) / np.sqrt(n) for n, m in zip(widths, widths[1:], strict=False)]
    b = [0.3 * rng.standard_normal(m) for m in widths[1:]]
    C = [rng.standard_normal(K) if shared else rng.standard_normal((m, K))
         for m in widths[1:-1]]
    lo = float(rng.uniform(-2, 0.3)) if asym else None
    grid = [lo, lo + float(rng.uniform(0.2, 2))] if asym else float(rng.uniform(0.2, 2))
    return spline_network(W, b, C, grid), widths


def _coefficient_indices(net):
    from symlip.bounds.spline_param import spline_param_layout

    return np.concatenate([np.arange(s.start, s.stop) for key, s, _ in spline_param_layout(net)
                           if key.endswith(".coefficients")] or [np.zeros(0, int)])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), depth=st.integers(1, 3), width=st.integers(1, 8),
       K=st.integers(3, 12), shared=st.booleans(), asym=st.booleans(),
       log_r=st.floats(-4, 0))
def test_spline_param_lower_moves_all_parameters_and_is_sound(seed, depth, width, K, shared,
                                                              asym, log_r):
    """certified lower <= estimate <= certified upper, no slack; the witness moves
    weights, biases and coefficients, stays in the ball and re-checks to the same
    certified number."""
    from symlip.bounds.spline_param import (
        PARAMETER_SET,
        spline_param_jacobian_norms,
        spline_param_lipschitz,
        spline_params,
        spline_quotient_from_witness,
    )

    rng = np.random.default_rng(seed)
    net, widths = _random_spline_net(rng, depth, width, K, shared, asym)
    r = 10.0**log_r
    X = rng.standard_normal((3, widths[0])) * rng.uniform(0.5, 3)
    res = spline_param_lipschitz(net, X, r)
    low, up = res.lower_enclosure, res.enclosure
    assert low is not None and res.extra["lower_parameters"] == PARAMETER_SET
    # the certified lower end is a quotient of two points of the ball: <= the upper end
    assert compare(low.lower, "<=", up.upper) is Truth.TRUE, (low, up)
    assert res.lower <= res.estimate <= res.upper
    # the estimate is at least the exact full-Jacobian norm at the centre
    assert res.estimate >= float(spline_param_jacobian_norms(net, X).max())
    wit = res.witness
    assert wit["kind"] == "difference_quotient" and wit["parameters"] == PARAMETER_SET
    again = spline_quotient_from_witness(net, wit, r)
    assert again.lower == low.lower and again.upper == low.upper
    # both points inside the closed ball, checked independently in exact arithmetic
    theta0 = spline_params(net)
    keep = np.asarray(wit["indices"])
    for off in (wit["step"], wit["base"]):
        t = theta0.copy()
        t[keep] = theta0[keep] + np.asarray(off)
        assert sum((Fraction(float(p)) - Fraction(float(q))) ** 2
                   for p, q in zip(t, theta0, strict=True)) <= Fraction(r) ** 2
    coef = _coefficient_indices(net)
    moved = keep[(np.asarray(wit["step"]) != 0) | (np.asarray(wit["base"]) != 0)]
    if coef.size:  # depth >= 2: the coefficients move too
        assert np.isin(moved, coef).any()
    assert (~np.isin(moved, coef)).any()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), depth=st.integers(1, 3), width=st.integers(1, 8),
       K=st.integers(3, 12), shared=st.booleans(), asym=st.booleans())
def test_full_param_jacobian_matches_finite_differences(seed, depth, width, K, shared, asym):
    """Where every spline is differentiable at its pre-activation (no knot within the
    reach of the step), the closed-form Jacobian equals central differences; in the
    last spline layer's coefficients f is affine, so there the difference is exact."""
    from hypothesis import assume

    from symlip.bounds.spline_param import (
        spline_param_jacobian,
        spline_param_layout,
        spline_params,
        spline_with_params,
    )

    rng = np.random.default_rng(seed)
    net, widths = _random_spline_net(rng, depth, width, K, shared, asym)
    X = rng.standard_normal((2, widths[0])) * rng.uniform(0.5, 3)
    tr = net.forward_trace(X)
    for a, z in zip(net.activations, tr.preactivations, strict=False):
        u = (z - a.lo) / a.step
        inner = (u > 0.5) & (u < a.knots - 1.5)
        assume(np.all(~inner | (np.abs(u - np.round(u)) > 1e-3)))
    J = spline_param_jacobian(net, X)
    theta = spline_params(net)
    assert J.shape == (2, widths[-1], theta.size)
    # the weight and bias columns are the network's own backprop Jacobian
    wb = np.concatenate([np.arange(s.start, s.stop) for key, s, _ in spline_param_layout(net)
                         if not key.endswith(".coefficients")])
    assert np.allclose(J[:, :, wb], net.param_jacobian(X), rtol=1e-12, atol=1e-12)
    h = 1e-7
    # rounding error of the central difference: a few ulps of |f| over 2h
    round_err = 8 * np.finfo(float).eps * (1 + np.abs(net.forward(X)).max()) / (2 * h)
    for p in range(theta.size):
        e = np.zeros_like(theta)
        e[p] = h
        fd = (spline_with_params(net, theta + e).forward(X)
              - spline_with_params(net, theta - e).forward(X)) / (2 * h)
        tol = 1e-6 * (1 + np.abs(J[:, :, p]).max()) + round_err
        assert np.abs(fd - J[:, :, p]).max() <= tol, (p, fd, J[:, :, p])
    # last spline layer: f is affine in its coefficients, a unit step is exact
    coef_last = [s for key, s, _ in spline_param_layout(net) if key.endswith(".coefficients")]
    if coef_last:
        for p in range(coef_last[-1].start, coef_last[-1].stop):
            e = np.zeros_like(theta)
            e[p] = 1.0
            d = spline_with_params(net, theta + e).forward(X) - net.forward(X)
            assert np.allclose(d, J[:, :, p], rtol=1e-9, atol=1e-9)


def test_spline_witness_errors_name_the_value():
    from symlip.bounds.spline_param import spline_param_lipschitz, spline_quotient_from_witness

    rng = np.random.default_rng(5)
    net, widths = _random_spline_net(rng, 2, 3, 5, False, False)
    X = rng.standard_normal((2, widths[0]))
    res = spline_param_lipschitz(net, X, 0.01)
    wit = res.witness
    P = int(res.extra["n_parameters"])
    with pytest.raises(InputError, match=f"index {P + 3} is outside 0..{P - 1}"):
        spline_quotient_from_witness(net, {**wit, "indices": [P + 3] + wit["indices"][1:]}, 0.01)
    with pytest.raises(InputError, match="step point leaves the ball of radius 0.01"):
        spline_quotient_from_witness(net, {**wit, "step": [v * 2 for v in wit["step"]]}, 0.01)
    with pytest.raises(InputError, match="index 1.5 is not an integer"):
        spline_quotient_from_witness(net, {**wit, "indices": [1.5] + wit["indices"][1:]}, 0.01)
    with pytest.raises(InputError, match="distinct"):
        spline_quotient_from_witness(net, {**wit, "indices": [0] * len(wit["indices"])}, 0.01)
    with pytest.raises(InputError, match="equal"):
        spline_quotient_from_witness(net, {**wit, "base": wit["step"]}, 0.01)
    with pytest.raises(InputError, match="parameters='weights'"):
        spline_quotient_from_witness(net, {**wit, "parameters": "weights"}, 0.01)
    # a witness of the weights and biases only (older certificates) is still checked
    from symlip.bounds.param_core import _top_direction, certify_param_lower

    old_low, old = certify_param_lower(net, X[0], 0.01, _top_direction(net, X[0]))
    assert spline_quotient_from_witness(net, old, 0.01).lower == old_low.lower
    assert compare(old_low.lower, "<=", res.lower_enclosure.upper) is Truth.TRUE
