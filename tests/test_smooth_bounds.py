"""Gradient-Lipschitz (smoothness) bounds: soundness on random networks without slack,
loss constants, the not-smooth refusal with its witness, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.activations.registry import get_activation
from symlip.bounds.smooth import (
    grad_lipschitz,
    loss_enclosure,
    loss_gradient,
    loss_value,
    not_smooth_witness,
    param_and_grad_lipschitz,
)
from symlip.errors import InputError, NotSmoothError
from symlip.models.network import Network
from tests.soundness import assert_grad_quotients_below

ACTS = ["tanh", "sigmoid", "gelu", "softplus"]


def random_net(rng, widths, act):
    ws = [rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])
          for k in range(len(widths) - 1)]
    bs = [0.3 * rng.standard_normal(widths[k + 1]) for k in range(len(widths) - 1)]
    return Network.from_arrays(ws, bs, act if len(widths) > 2 else None)


def targets_for(rng, loss, n, n_out):
    if loss == "mse":
        return rng.standard_normal((n, n_out))
    return rng.integers(0, n_out, n)


def random_loss_problem(rng, depth, width, act, loss, n_points, min_out=1):
    """``(net, X, y)``: a random ``depth``-layer network (hidden width ``width``, a
    random input width 1-4, 1-3 outputs for MSE and 2-3 for cross-entropy, at least
    ``min_out``), ``n_points`` standard normal inputs and matching targets."""
    lo = max(min_out, 1 if loss == "mse" else 2)
    n_out = int(rng.integers(lo, max(lo, 3) + 1))
    widths = [int(rng.integers(1, 5))] + [width] * (depth - 1) + [n_out]
    net = random_net(rng, widths, act)
    X = rng.standard_normal((n_points, widths[0]))
    return net, X, targets_for(rng, loss, n_points, n_out)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(1, 4), width=st.integers(1, 12), act=st.sampled_from(ACTS),
       loss=st.sampled_from(["mse", "cross-entropy"]), log_r=st.floats(-4, 0),
       seed=st.integers(0, 2**31 - 1))
def test_grad_bound_is_sound(depth, width, act, loss, log_r, seed):
    rng = np.random.default_rng(seed)
    n_out = int(rng.integers(1, 4)) if loss == "mse" else int(rng.integers(2, 4))
    widths = [int(rng.integers(1, 5))] + [width] * (depth - 1) + [n_out]
    net = random_net(rng, widths, act)
    r = 10.0 ** log_r
    X = rng.standard_normal((4, widths[0]))
    y = targets_for(rng, loss, 4, n_out)
    res = grad_lipschitz(net, X, y, loss, r, lower=False)
    up = res.upper
    assert_grad_quotients_below(rng, net, X, y, loss, r, up, 5)
    # the mean of per-point bounds is certified too
    assert float(res.extra["upper_pointwise_mean"]) <= up * (1 + 1e-12)


def test_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    net = random_net(rng, [3, 5, 4, 3], "tanh")
    X = rng.standard_normal((6, 3))
    for loss, y in (("mse", rng.standard_normal((6, 3))), ("cross-entropy", rng.integers(0, 3, 6))):
        g = loss_gradient(net, X, y, loss)
        th = net.params()
        for i in rng.choice(th.size, 8, replace=False):
            e = np.zeros_like(th)
            e[i] = 1e-6
            fd = (loss_value(net.with_params(th + e), X, y, loss)
                  - loss_value(net.with_params(th - e), X, y, loss)) / 2e-6
            assert abs(fd - g[i]) < 1e-6 * max(1, abs(g[i]))


def test_cross_entropy_constants_hold_numerically():
    # ||diag(p) - p p^T||_2 <= 1/2 and ||p - e_y|| <= sqrt(2) on random logits
    rng = np.random.default_rng(0)
    for _ in range(2000):
        z = rng.standard_normal(int(rng.integers(2, 8))) * rng.uniform(0, 20)
        p = np.exp(z - z.max())
        p /= p.sum()
        h = np.diag(p) - np.outer(p, p)
        assert np.linalg.eigvalsh(h).max() <= 0.5 + 1e-15
        y = np.zeros_like(p)
        y[int(rng.integers(0, p.size))] = 1
        assert np.linalg.norm(p - y) <= math.sqrt(2)


def test_loss_enclosure_contains_float_loss():
    rng = np.random.default_rng(4)
    net = random_net(rng, [2, 7, 7, 1], "tanh")
    X = rng.standard_normal((30, 2))
    y = rng.standard_normal((30, 1))
    enc = loss_enclosure(net, X, y, "mse")
    assert enc.lower_float <= loss_value(net, X, y, "mse") <= enc.upper_float
    assert float(enc.width) < 1e-8
    net3 = random_net(rng, [2, 5, 3], "sigmoid")
    c = rng.integers(0, 3, 5)
    enc = loss_enclosure(net3, X[:5], c, "cross-entropy")
    assert enc.lower_float <= loss_value(net3, X[:5], c, "cross-entropy") <= enc.upper_float


def test_shared_param_and_grad_match_separate_calls():
    rng = np.random.default_rng(5)
    net = random_net(rng, [3, 6, 6, 2], "tanh")
    X = rng.standard_normal((8, 3))
    y = rng.standard_normal((8, 2))
    p, g = param_and_grad_lipschitz(net, X, y, "mse", 0.01)
    from symlip.bounds.param import param_lipschitz

    assert p.upper == param_lipschitz(net, X, 0.01, lower=False).upper
    assert g.upper == grad_lipschitz(net, X, y, "mse", 0.01, lower=False).upper
    assert g.to_dict()["quantity"] == "grad_lipschitz"


@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_not_smooth_refuses_with_witness(act):
    rng = np.random.default_rng(0)
    net = random_net(rng, [2, 4, 1], act)
    with pytest.raises(NotSmoothError) as info:
        grad_lipschitz(net, np.ones((1, 2)), np.ones((1, 1)), "mse", 0.1)
    w = info.value.witness
    qs = [p["gradient_difference_quotient"] for p in w["pairs"]]
    assert all(b > 10 * a for a, b in zip(qs, qs[1:])) and qs[-1] > 1e8
    assert "K2 = infinity" in str(info.value)
    # the witness is real: the quotient is the exact one of f = w2 act(w1 x + b)
    a = get_activation(act)
    t = w["pairs"][0]["t"]
    g1 = a.dsigma(np.array([t]))[0]
    g0 = a.dsigma(np.array([-t]))[0]
    assert abs(g1 - g0) / (2 * t) == pytest.approx(qs[0])
    assert not_smooth_witness(a)["pairs"]


def test_bad_inputs():
    rng = np.random.default_rng(0)
    net = random_net(rng, [2, 4, 3], "tanh")
    X = rng.standard_normal((5, 2))
    with pytest.raises(InputError, match="targets have shape"):
        grad_lipschitz(net, X, np.zeros((4, 3)), "mse", 0.1)
    with pytest.raises(InputError, match="class indices"):
        grad_lipschitz(net, X, np.array([0, 1, 2, 3, 0]), "cross-entropy", 0.1)
    with pytest.raises(InputError, match="radius"):
        grad_lipschitz(net, X, np.zeros((5, 3)), "mse", -0.5)
    with pytest.raises(InputError, match="loss"):
        grad_lipschitz(net, X, np.zeros((5, 3)), "hinge", 0.1)
    with pytest.raises(InputError, match="non-finite"):
        grad_lipschitz(net, X, np.full((5, 3), np.nan), "mse", 0.1)


# ------------------------------------------------------------------------------------
# certified lower bound (interval difference quotient of the loss gradient)
# ------------------------------------------------------------------------------------


def test_interval_loss_gradient_encloses_float_gradient():
    from symlip.bounds.smooth import interval_loss_gradient

    rng = np.random.default_rng(11)
    for act in ACTS:
        net = random_net(rng, [3, 6, 5, 3], act)
        X = rng.standard_normal((7, 3))
        for loss in ("mse", "cross-entropy"):
            y = targets_for(rng, loss, 7, 3)
            g = interval_loss_gradient(net, X, y, loss)
            gf = loss_gradient(net, X, y, loss)
            # the float gradient errs by ~1e-16 relative; the enclosure is ~1e-14 wide
            slack = 1e-13 * max(1.0, float(np.max(np.abs(gf))))
            assert np.all(g.lo <= gf + slack) and np.all(gf - slack <= g.hi), (act, loss)
            assert float(np.max(g.hi - g.lo)) < 1e-11


def test_interval_loss_gradient_encloses_high_precision_value():
    # one point, one hidden tanh neuron: the gradient in closed form at 60 digits
    import mpmath

    from symlip.bounds.smooth import interval_loss_gradient

    net = Network.from_arrays([[[0.7, -0.3]], [[1.3]]], [[0.1], [-0.2]], "tanh")
    x, y = np.array([[0.4, 1.1]]), np.array([[0.25]])
    g = interval_loss_gradient(net, x, y, "mse")
    with mpmath.workdps(60):
        w1, w2 = [mpmath.mpf(0.7), mpmath.mpf(-0.3)], mpmath.mpf(1.3)
        x0, x1 = mpmath.mpf(0.4), mpmath.mpf(1.1)
        z = w1[0] * x0 + w1[1] * x1 + mpmath.mpf(0.1)
        a = mpmath.tanh(z)
        e = w2 * a + mpmath.mpf(-0.2) - mpmath.mpf(0.25)
        dz = e * w2 * (1 - a * a)
        exact = [dz * x0, dz * x1, dz, e * a, e]
        for i, v in enumerate(exact):
            assert mpmath.mpf(g.lo[i]) <= v <= mpmath.mpf(g.hi[i]), (i, v, g.lo[i], g.hi[i])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(1, 4), width=st.integers(1, 10), act=st.sampled_from(ACTS),
       loss=st.sampled_from(["mse", "cross-entropy"]), log_r=st.floats(-4, 0),
       seed=st.integers(0, 2**31 - 1))
def test_certified_grad_lower_below_estimate_and_upper(depth, width, act, loss, log_r, seed):
    from symlip.arith.enclosure import Truth, compare

    rng = np.random.default_rng(seed)
    net, X, y = random_loss_problem(rng, depth, width, act, loss, 3)
    res = grad_lipschitz(net, X, y, loss, 10.0 ** log_r)
    assert res.lower_enclosure is not None and res.witness is not None
    assert res.lower >= 0
    assert res.lower <= res.estimate
    assert compare(res.lower_enclosure.lower, "<=", res.enclosure.upper) is Truth.TRUE
    assert res.to_dict()["lower"] is not None


def test_grad_certificate_with_lower_verifies_and_catches_tampering(tmp_path):
    import copy

    from symlip.certificate import Context, make_certificate, verify_certificate
    from symlip.models.io import save

    rng = np.random.default_rng(3)
    net = random_net(rng, [3, 5, 2], "tanh")
    save(net, tmp_path / "m.safetensors")
    X = rng.standard_normal((6, 3))
    y = rng.standard_normal((6, 2))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", y)
    res = grad_lipschitz(net, X, y, "mse", 0.01)
    ctx = Context(net, str(tmp_path / "m.safetensors"), X, str(tmp_path / "X.npy"),
                  {"radius": 0.01, "loss": "mse"}, {"targets": str(tmp_path / "Y.npy")},
                  {"targets": y})
    cert = make_certificate(res, ctx)
    assert cert["result"]["lower"] is not None
    assert cert["witness"]["kind"] == "gradient_difference_quotient"
    v = verify_certificate(cert, ctx)
    assert v.holds, v.reason
    bad = copy.deepcopy(cert)
    bad["result"]["lower"] = repr(float(cert["result"]["lower"]) * 1.001)
    v = verify_certificate(bad, ctx)
    assert not v.holds and "lower bound" in v.reason
    far = copy.deepcopy(cert)
    idx = far["witness"]["indices"]
    th = net.params()[idx]
    big = np.asarray(far["witness"]["offset_plus"]) * 100
    far["witness"]["offset_plus"] = ((th + big) - th).tolist()  # canonical, out of the ball
    from symlip.errors import CertificateError

    v = verify_certificate(far, ctx)  # well-formed but false: NOT verified, not malformed
    assert not v.holds and "leaves the ball" in v.reason
    assert CertificateError
    # the upper bound is the mean of the per-point bounds, re-checked point by point
    assert cert["result"]["aggregate"] == "mean"
    assert res.upper <= float(res.extra["upper_hull"])
    low = copy.deepcopy(cert)
    low["result"]["upper"] = repr(float(cert["result"]["upper"]) * (1 - 1e-9))
    v = verify_certificate(low, ctx)
    assert not v.holds and "below the recomputed" in v.reason
    # relabelled as a single evaluation of the formula: the recorded (hull) inputs give
    # a larger value than the recorded mean, so it fails
    relabel = copy.deepcopy(cert)
    relabel["result"]["aggregate"] = "formula"
    if float(res.extra["upper_hull"]) > res.upper * (1 + 1e-12):
        assert not verify_certificate(relabel, ctx).holds
    # relabelled as the max over points (the parameter bound's aggregate): larger
    as_max = copy.deepcopy(cert)
    as_max["result"]["aggregate"] = "max"
    if float(res.extra["upper_pointwise_max"]) > res.upper * (1 + 1e-12):
        assert not verify_certificate(as_max, ctx).holds
    unknown = copy.deepcopy(cert)
    unknown["result"]["aggregate"] = "median"
    with pytest.raises(CertificateError, match="aggregate"):
        verify_certificate(unknown, ctx)


def test_cli_certify_gradient_lower_and_verify(tmp_path):
    import json

    from symlip.models.io import save
    from tests.clirun import run_cli

    rng = np.random.default_rng(0)
    net = random_net(rng, [3, 6, 3], "tanh")
    save(net, tmp_path / "m.safetensors")
    np.save(tmp_path / "X.npy", rng.standard_normal((8, 3)))
    np.save(tmp_path / "Y.npy", rng.integers(0, 3, 8))
    cert = tmp_path / "c.json"
    run = run_cli
    r = run("certify", tmp_path / "m.safetensors", "--activation", "tanh", "--wrt", "gradient",
            "--data", tmp_path / "X.npy", "--targets", tmp_path / "Y.npy", "--loss",
            "cross-entropy", "--radius", "0.001", "--json", "--certificate", cert)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["quantity"] == "grad_lipschitz" and out["lower"] is not None
    assert 0 < float(out["lower"]) <= float(out["upper"])
    r = run("verify", cert, "--model", tmp_path / "m.safetensors", "--data",
            tmp_path / "X.npy", "--targets", tmp_path / "Y.npy")
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------------------------
# the tighter second-order recursion: centre Jacobians, row/column norms
# ------------------------------------------------------------------------------------


def test_centre_jacobians_bound_the_float_jacobians():
    from symlip.bounds.centre import centre_jacobians

    rng = np.random.default_rng(8)
    for act in ACTS:
        widths = [3, 7, 6, 5, 2]
        net = random_net(rng, widths, act)
        X = rng.standard_normal((3, 3))
        J = centre_jacobians(net, X)
        ws, bs = net.weights, net.biases
        for k in range(1, len(widths)):
            sub = Network.from_arrays(ws[:k], bs[:k], act if k > 1 else None)
            for i in range(3):
                Jz = sub.param_jacobian(X[i])
                z = sub.forward(X[i])
                Ja = np.asarray(net.activations[0].dsigma(z))[:, None] * Jz
                if k >= 2:
                    assert np.linalg.norm(Jz, 2) <= J[f"Jz_{k}"].hi[i]
                    # tight: the enclosure is a certified bound, not a crude one
                    assert J[f"Jz_{k}"].hi[i] <= np.linalg.norm(Jz, 2) * (1 + 1e-8)
                if k < len(widths) - 1:
                    assert np.linalg.norm(Ja, 2) <= J[f"Ja_{k}"].hi[i] <= \
                        np.linalg.norm(Ja, 2) * (1 + 1e-8)
                    if k >= 2:
                        rows = np.linalg.norm(Jz, axis=1).max()
                        assert rows <= J[f"Jr_{k}"].hi[i] <= rows * (1 + 1e-8)


def test_centre_jacobian_options_only_tighten():
    rng = np.random.default_rng(9)
    for loss in ("mse", "cross-entropy"):
        net = random_net(rng, [3, 8, 8, 3], "tanh")
        X = rng.standard_normal((2, 3))
        y = targets_for(rng, loss, 2, 3)
        for r in (1e-3, 1e-1):
            a = grad_lipschitz(net, X, y, loss, r, lower=False, jac=True)
            b = grad_lipschitz(net, X, y, loss, r, lower=False, jac=False)
            assert a.extra["centre_jacobians"] and not b.extra["centre_jacobians"]
            assert a.upper <= b.upper
            assert {"Jz_2", "Ja_1", "kappa_3", "omega_2"} <= set(a.inputs)
    text = a.derivation.to_markdown() if hasattr(a.derivation, "to_markdown") else str(
        a.derivation)
    assert "kappa" in text and "J^a_k + h_k r" in text


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 12), seed=st.integers(0, 2**31 - 1), scale=st.floats(0.1, 30),
       step=st.floats(0, 3))
def test_softmax_curvature_off_the_top_class(n, seed, scale, step):
    """The facts behind H <= 2 Pbar e^{sqrt2 l r}: ||diag(p) - pp^T|| <= 2(1 - p_m) for
    every class m, and 1 - p_m(f + d) <= (1 - p_m(f)) e^{sqrt2 ||d||}."""
    rng = np.random.default_rng(seed)
    f = scale * rng.standard_normal(n)
    p = np.exp(f - f.max())
    p /= p.sum()
    A = np.diag(p) - np.outer(p, p)
    top = np.linalg.eigvalsh(A)[-1]
    def off(v, m):  # 1 - v_m without cancellation
        return float(np.sum(np.delete(v, m)))

    for m in range(n):  # float checks: eigvalsh errs by ~1e-16 * ||A||
        assert top <= 2 * off(p, m) * (1 + 1e-9) + 1e-15
    d = rng.standard_normal(n)
    d *= step / max(np.linalg.norm(d), 1e-300)
    q = np.exp(f + d - (f + d).max())
    q /= q.sum()
    m = int(np.argmax(p))
    assert off(q, m) <= off(p, m) * math.exp(math.sqrt(2) * step) * (1 + 1e-9)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 12), seed=st.integers(0, 2**31 - 1), scale=st.floats(0.1, 30))
def test_softmax_hessian_changes_in_proportion_to_itself(n, seed, scale):
    """The fact behind ||A - Abar|| <= sqrt2 H l_p r in Lemma 11 (A = diag(p) - pp^T at
    the logits f): the derivative dA[d] = diag(w) - wp^T - pw^T (w = A d) has
    x^T dA[d] x = E_p[(x - mu)^2 (d - nu)], so ||dA[d]|| <= sqrt2 ||A|| ||d||."""
    rng = np.random.default_rng(seed)
    f = scale * rng.standard_normal(n)

    def hess(v):
        p = np.exp(v - v.max())
        p /= p.sum()
        return np.diag(p) - np.outer(p, p), p

    A, p = hess(f)
    d = rng.standard_normal(n)
    w = A @ d
    dA = np.diag(w) - np.outer(w, p) - np.outer(p, w)
    h = 1e-6
    fd = (hess(f + h * d)[0] - hess(f - h * d)[0]) / (2 * h)
    assert np.abs(fd - dA).max() <= 1e-6 * (1 + np.abs(dA).max())
    lhs = np.abs(np.linalg.eigvalsh(dA)).max()
    rhs = math.sqrt(2) * np.linalg.eigvalsh(A)[-1] * np.linalg.norm(d)
    # float checks: diag(p) - pp^T itself errs by ~1e-16 absolute when p is nearly e_m
    assert lhs <= rhs * (1 + 1e-9) + 1e-15 * np.linalg.norm(d)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.sampled_from([2, 3, 5]), width=st.integers(2, 6), log_r=st.floats(-4, -1),
       seed=st.integers(0, 2**31 - 1))
def test_cross_entropy_bound_sound_on_confident_networks(depth, width, log_r, seed):
    """Confident predictions (large read-out): with the centre option 2 Pbar
    e^{sqrt2 l_p r} of H the bound is at most the one without it, and gradient difference
    quotients of the mean loss stay below it with no slack (labels: the predicted class,
    or another one)."""
    from unittest import mock

    import symlip.bounds.smooth as sm
    from symlip.arith.array import IntervalArray
    from symlip.bounds.smooth import loss_gradient
    from tests.soundness import ball_pairs

    rng = np.random.default_rng(seed)
    n_out = int(rng.integers(2, 5))
    widths = [int(rng.integers(1, 4))] + [width] * (depth - 1) + [n_out]
    net = random_net(rng, widths, "tanh")
    w = [layer.weight for layer in net.layers]
    w[-1] = w[-1] * 40.0
    net = Network.from_arrays(w, [layer.bias for layer in net.layers], "tanh")
    X = rng.standard_normal((4, widths[0]))
    pred = np.argmax(net.forward(X), axis=1)
    y = np.where(rng.random(4) < 0.75, pred, (pred + 1) % n_out)
    r = 10.0 ** log_r
    res = grad_lipschitz(net, X, y, "cross-entropy", r, lower=False)
    real = sm._softmax_centre

    def without(cn, yy):
        P, _, E = real(cn, yy)
        return P, IntervalArray(np.zeros(len(yy)), np.ones(len(yy))), E

    with mock.patch.object(sm, "_softmax_centre", without):
        old = grad_lipschitz(net, X, y, "cross-entropy", r, lower=False)
    assert res.upper <= old.upper
    theta0 = net.params()
    for a, b in ball_pairs(rng, theta0, r, 8):
        ga = loss_gradient(net.with_params(a), X, y, "cross-entropy")
        gb = loss_gradient(net.with_params(b), X, y, "cross-entropy")
        assert np.linalg.norm(ga - gb) / np.linalg.norm(a - b) <= res.upper
