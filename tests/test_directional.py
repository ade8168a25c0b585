"""The directional option of the curvature term for feed-forward networks (Lemma 8g,
``docs/theory-param.md`` section 7): its certified centre inputs enclose the float
vectors $\\bar g^T\\bar D_{N,i}$ tightly, the gradient bound with it stays above the
certified lower bound and a sampled Hessian norm on random networks (no slack), it is
never above the bound without it, and certificates record and re-check its inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.arith.enclosure import Truth, compare
from symlip.bounds.param_core import _args, local_spec
from symlip.bounds.sensitivity import centre_chains, directional_inputs
from symlip.bounds.smooth import (
    _loss_inputs,
    estimate_grad_lower,
    grad_formula,
    grad_lipschitz,
)
from symlip.cli import main
from symlip.models import io
from tests.soundness import assert_shrunk_inputs_rejected
from tests.test_smooth_bounds import random_loss_problem, random_net


def _float_vectors(net, X, y, loss, shat):
    """Float $\\bar g^T\\bar D_{N,i}$ and $\\bar g^T\\bar D_{N,i}W_i$ (reference chains)."""
    f = net.forward(X)
    if loss == "mse":
        g = f - y
    else:
        p = np.exp(f - f.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = p - np.eye(f.shape[1])[y]
    N = net.depth
    u, vec, col = g, {}, {}
    for i in range(N, 1, -1):
        t = u @ net.layers[i - 1].weight
        col[i] = np.abs(t).max(axis=1)
        u = t * shat[i - 2]
        vec[i - 1] = np.linalg.norm(u, axis=1)
    return vec, col


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(2, 6), width=st.integers(1, 9),
       act=st.sampled_from(["tanh", "sigmoid", "gelu", "softplus"]),
       loss=st.sampled_from(["mse", "cross-entropy"]), seed=st.integers(0, 2**31 - 1))
def test_directional_inputs_enclose_the_float_vectors(depth, width, act, loss, seed):
    rng = np.random.default_rng(seed)
    net, X, y = random_loss_problem(rng, depth, width, act, loss, 5)
    r = 1e-3
    ci = _loss_inputs(net, X, y, loss, r)
    spec = local_spec(net, r, ci)
    pp = directional_inputs(net, X, y, loss, ci.centre_data, spec)
    vec, col = _float_vectors(net, X, y, loss, centre_chains(net, X, spec).shat)
    for i in range(2, depth + 1):
        up = np.asarray(pp[f"qg_{i}"].hi)
        assert np.all(col[i] <= up) and np.all(up <= col[i] * (1 + 1e-9) + 1e-12), i
        if i < depth:
            up = np.asarray(pp[f"Bg_{i}"].hi)
            assert np.all(vec[i] <= up) and np.all(up <= vec[i] * (1 + 1e-9) + 1e-12), i


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(2, 5), width=st.integers(2, 8),
       act=st.sampled_from(["tanh", "sigmoid", "gelu", "softplus"]),
       loss=st.sampled_from(["mse", "cross-entropy"]), log_r=st.floats(-4, -0.5),
       seed=st.integers(0, 2**31 - 1))
def test_directional_bound_is_sound_and_never_looser(depth, width, act, loss, log_r, seed):
    rng = np.random.default_rng(seed)
    net, X, y = random_loss_problem(rng, depth, width, act, loss, 6, min_out=2)
    r = 10.0 ** log_r
    res = grad_lipschitz(net, X, y, loss, r)
    if res.lower_enclosure is not None:
        assert compare(res.lower_enclosure.lower, "<=", res.enclosure.upper) is Truth.TRUE
    assert estimate_grad_lower(net, X, y, loss, r) <= res.enclosure.upper_float
    ci = _loss_inputs(net, X, y, loss, r)
    f0, _ = grad_formula(net, X, r, loss, ci, "local", y, directional=False)
    old = f0.enclose_array(_args(f0, ci, hull=False)).mean()
    ci = _loss_inputs(net, X, y, loss, r)
    f1, _ = grad_formula(net, X, r, loss, ci, "local", y)
    new = f1.enclose_array(_args(f1, ci, hull=False)).mean()
    assert any(str(s).startswith("qg_") for s in f1.inputs)
    assert new.upper_float <= old.upper_float


def test_directional_option_tightens_a_confident_classifier():
    """Cross-entropy with several outputs: $\\|\\bar g^T\\bar D_{N,i}\\|$ is well below
    $E\\,C_{N,i}$ where the loss gradient is not along the chain's top direction."""
    rng = np.random.default_rng(5)
    net = random_net(rng, [4, 16, 16, 6], "tanh")
    X = rng.standard_normal((10, 4))
    y = np.argmax(net.forward(X), axis=1)  # the predicted classes: small, spread g
    r = 1e-3
    vals = []
    for direc in (False, True):  # Lemma 11 (Lemma 12 would take the centre curvature)
        ci = _loss_inputs(net, X, y, "cross-entropy", r)
        f, _ = grad_formula(net, X, r, "cross-entropy", ci, "local", y, curvature=False,
                            directional=direc)
        vals.append(f.enclose_array(_args(f, ci, hull=False)).mean().upper_float)
    assert "h_g" in {str(d.symbol) for d in f.definitions}
    assert vals[1] < 0.9 * vals[0], vals


def test_centre_inputs_are_recorded_and_rechecked(tmp_path, capsys):
    """A small classifier takes Lemmas 8g, 12, 12c, 12d and 12e: their certified centre
    inputs (``Bg_i``, ``qg_i``, ``CV``, ``HC``, ``LDc_j``, ``HS_k``) are recorded, and
    altering one is caught."""
    rng = np.random.default_rng(11)
    net = random_net(rng, [3, 6, 6, 3], "tanh")
    m = tmp_path / "m.safetensors"
    io.save(net, m)
    np.save(tmp_path / "X.npy", rng.standard_normal((6, 3)))
    np.save(tmp_path / "Y.npy", rng.integers(0, 3, 6))
    common = ["--data", str(tmp_path / "X.npy"), "--targets", str(tmp_path / "Y.npy")]
    cert = tmp_path / "g.json"
    assert main(["certify", str(m), "--wrt", "gradient", *common, "--loss",
                 "cross-entropy", "--radius", "0.01", "--certificate", str(cert)]) == 0
    verify = ["verify", str(cert), "--model", str(m), *common]
    assert main(verify) == 0
    assert_shrunk_inputs_rejected(cert, ("Bg_", "qg_", "CV", "HC", "LDc_", "HS_"),
                                  ["--model", str(m), *common], capsys)


@pytest.mark.parametrize("loss", ["mse", "cross-entropy"])
def test_directional_derivation_shows_the_step(loss):
    from symlip.bounds.sensitivity import local_gn_loss_program

    defs, inputs = local_gn_loss_program(3, loss, True, True, False, True)
    names = {str(d.symbol) for d in defs}
    assert {"h_g", "bg_2", "Qg_2", "Qg_3", "LDg_1"} <= names
    assert {"Bg_2", "qg_2", "qg_3"} <= {str(s) for s in inputs}
    assert any("Lemma 8g" in d.why for d in defs)
