"""The certified centre curvature norms (symlip.bounds.curvature): CV_i >= ||sum_o gbar_io
nabla^2_theta f_o(x_i)|| against the exact Hessian from torch (float64) with no slack,
tight to 1e-6 relative; the budget and the networks it refuses."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from symlip.bounds.curvature import (
    CURVATURE_BUDGET,
    _sym_norm_upper,
    centre_curvature_norms,
    curvature_cost,
    output_hessian_norms,
)
from symlip.errors import InputError
from symlip.models.network import DenseLayer, Network, ResidualLayer

torch = pytest.importorskip("torch")

from .torchnet import ACTS, forward, random_net  # noqa: E402  (needs torch)


def exact_norms(net, X, y, loss, act):
    """||Hessian of gbar^T f(x; theta)||_2 per point, gbar at the centre (torch, float64)."""
    w = net.widths
    theta0 = torch.tensor(net.params())
    fwd = forward(net, act)
    out = []
    for p in range(X.shape[0]):
        f = fwd(theta0, X[p]).detach()
        if loss == "mse":
            g = f - torch.tensor(y[p])
        else:
            g = torch.softmax(f, 0) - torch.nn.functional.one_hot(
                torch.tensor(int(y[p])), w[-1]).double()
        H = torch.autograd.functional.hessian(
            lambda t, x=X[p], g=g: (fwd(t, x) * g).sum(), theta0, vectorize=True)
        out.append(np.linalg.norm(H.numpy(), 2))
    return np.array(out)


def _case(act, loss, depth, seed, width_max=6, n=3, scale=1.0):
    rng = np.random.default_rng([seed, depth, len(act), len(loss)])
    w = [int(v) for v in rng.integers(2, width_max, depth + 1)]
    net = random_net(rng, w, act, scale)
    X = rng.standard_normal((n, w[0]))
    y = (rng.standard_normal((n, w[-1])) if loss == "mse"
         else rng.integers(0, w[-1], n))
    return net, X, y


def _check(net, X, y, loss, act):
    cv = centre_curvature_norms(net, X, y, loss)
    ex = exact_norms(net, X, y, loss, act)
    assert cv is not None and cv.shape == (X.shape[0],) and cv.dtype == np.float64
    assert np.all(cv >= ex), (cv, ex)  # sound, no slack
    assert np.all(cv <= ex * (1 + 1e-6) + 1e-9), (cv, ex)  # tight


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("loss", ["mse", "cross-entropy"])
@pytest.mark.parametrize("act", sorted(ACTS))
def test_against_exact_hessian(act, loss, depth):
    for seed in (0, 1, 2):
        _check(*_case(act, loss, depth, seed), loss, act)


@pytest.mark.parametrize("depth", [2, 3, 5])
@pytest.mark.parametrize("act", ["tanh", "gelu", "softplus"])
def test_output_hessian_norms_against_exact(act, depth):
    """HC >= (sum_o ||Hessian of f_o||^2)^(1/2) >= ||D^2 f|| (Lemma 12c), tightly."""
    for seed in (0, 1):
        net, X, _ = _case(act, "mse", depth, seed)
        hc = output_hessian_norms(net, X)
        theta0 = torch.tensor(net.params())
        fwd = forward(net, act)
        for p in range(X.shape[0]):
            sq = 0.0
            for o in range(net.widths[-1]):
                H = torch.autograd.functional.hessian(
                    lambda t, x=X[p], o=o: fwd(t, x)[o], theta0, vectorize=True)
                sq += np.linalg.norm(H.numpy(), 2) ** 2
            assert math.sqrt(sq) <= hc[p] <= math.sqrt(sq) * (1 + 1e-6) + 1e-9, (p, hc)


@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_deeper_and_larger_weights(act):
    """Depth 9, weights twice the usual scale (saturated units, larger chains)."""
    for loss in ("mse", "cross-entropy"):
        _check(*_case(act, loss, 9, 7, width_max=5, n=2, scale=2.0), loss, act)


def test_depth_one_is_zero():
    rng = np.random.default_rng(0)
    net = random_net(rng, [3, 2], "tanh")
    X = rng.standard_normal((4, 3))
    assert np.array_equal(centre_curvature_norms(net, X, rng.standard_normal((4, 2)), "mse"),
                          np.zeros(4))
    assert np.array_equal(centre_curvature_norms(net, X, np.array([0, 1, 1, 0]), "ce"),
                          np.zeros(4))


def test_budget():
    rng = np.random.default_rng(0)
    for w in ([8] + [32] * 16 + [1], [8, 64, 64, 64, 4]):
        assert curvature_cost(random_net(rng, w, "tanh"), 16) <= CURVATURE_BUDGET
    big = Network.from_arrays([np.zeros((1024, 784)), np.zeros((1024, 1024)),
                               np.zeros((10, 1024))],
                              [np.zeros(1024), np.zeros(1024), np.zeros(10)], "tanh")
    assert curvature_cost(big, 10_000) > CURVATURE_BUDGET
    t = time.perf_counter()
    assert centre_curvature_norms(big, np.zeros((10_000, 784)), np.zeros(10_000, dtype=int),
                                  "cross-entropy") is None
    assert time.perf_counter() - t < 1.0


def test_refused_networks():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 3))
    y = rng.standard_normal((2, 2))
    relu = random_net(rng, [3, 4, 2], "relu")  # sigma' not Lipschitz
    assert centre_curvature_norms(relu, X, y, "mse") is None
    res = Network([ResidualLayer(rng.standard_normal((3, 3)), np.zeros(3), "r1"),
                   DenseLayer(rng.standard_normal((2, 3)), np.zeros(2), "out")], "tanh")
    assert res.has_residual
    assert centre_curvature_norms(res, X, y, "mse") is None
    tanh = random_net(rng, [3, 4, 2], "tanh")
    with pytest.raises(InputError):
        centre_curvature_norms(tanh, X, y, "hinge")
    with pytest.raises(InputError):
        centre_curvature_norms(tanh, X, np.array([0, 2]), "cross-entropy")
    with pytest.raises(InputError):
        centre_curvature_norms(tanh, X, y[:1], "mse")


def test_fitted_targets():
    """MSE targets equal to the float outputs: the exact gbar is a rounding error, and so
    is the certified bound (nonnegative, tiny)."""
    rng = np.random.default_rng(3)
    net = random_net(rng, [3, 5, 5, 2], "tanh")
    X = rng.standard_normal((4, 3))
    cv = centre_curvature_norms(net, X, net.forward(X), "mse")
    assert np.all(cv >= 0) and np.all(cv < 1e-12)


@pytest.mark.parametrize("m", [7, 650])
def test_symmetric_norm_certificate(m):
    """The Cholesky certificate (eigvalsh estimate below 600, ARPACK above)."""
    rng = np.random.default_rng(m)
    A = rng.standard_normal((m, m))
    A = A + A.T
    A[0, 0] += 3 * math.sqrt(m)  # top eigenvalue positive and separated
    true = np.abs(np.linalg.eigvalsh(A)).max()
    got = _sym_norm_upper(A.copy())
    assert true <= got <= true * (1 + 1e-9)
    got = _sym_norm_upper(-A)
    assert true <= got <= true * (1 + 1e-9)
    assert 0.0 <= _sym_norm_upper(np.zeros((3, 3))) <= 1e-300
