"""1-Lipschitz layers and networks: Björck, spectral normalisation, certified verdicts."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest

from symlip.activations.spline import LinearSpline, spline_network
from symlip.arith.enclosure import Enclosure, Truth, compare
from symlip.errors import InputError
from symlip.models.lipschitz_layers import (
    bjorck_orthonormalize,
    certified_spectral_normalize,
    certify_lipschitz_network,
    certify_spectral_norm_le,
    layer_epsilon,
    spectral_normalize,
    tight_spectral_norm,
)

HADAMARD = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0


@pytest.mark.parametrize("shape", [(16, 16), (64, 64), (64, 32), (32, 64)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bjorck_leaves_a_certified_epsilon(shape, dtype):
    W = np.random.default_rng(sum(shape)).standard_normal(shape)
    B = bjorck_orthonormalize(W, iters=15, scaling="frobenius", dtype=dtype)
    assert B.dtype == dtype
    info = layer_epsilon(B)
    eps = float(info["epsilon_upper"])
    # float64: a few hundred ulps; float32: about 1e-7 (and certifiably > 1 here)
    assert eps < (1e-11 if dtype == np.float64 else 1e-5)
    assert compare(info["norm"].lower, "<=", 1 + 1e-11 if dtype == np.float64 else 1.01) \
        is Truth.TRUE
    if dtype == np.float32:
        assert info["one_lipschitz"] in ("refuted", "undecided")


def test_bjorck_orders_and_exact_iteration_property():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 4))
    W = W / np.linalg.norm(W, 2) * 0.99
    for order in (1, 2, 3):
        B = bjorck_orthonormalize(W, iters=25, order=order)
        assert np.allclose(B.T @ B, np.eye(4), atol=1e-10)
    # the scalar map s -> 3/2 s - 1/2 s^3 never exceeds 1 from s <= 1 (exactly)
    for s in [Fraction(k, 100) for k in range(101)]:
        assert Fraction(3, 2) * s - Fraction(1, 2) * s**3 <= 1
    with pytest.raises(InputError, match="scaling"):
        bjorck_orthonormalize(W, scaling="max")
    with pytest.raises(InputError, match="diverged"):
        bjorck_orthonormalize(W * 10, iters=30, scaling="none")


def test_spectral_normalisation():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((30, 20))
    Q = spectral_normalize(W)
    assert abs(np.linalg.norm(Q, 2) - 1) < 1e-3  # an estimate, not a certificate:
    assert layer_epsilon(Q)["one_lipschitz"] == "refuted"  # 100 power steps undershoot here
    Qc, e = certified_spectral_normalize(W)
    assert compare(e.upper, "<=", 1) is Truth.TRUE
    from symlip.arith.norms import spectral_norm

    assert compare(spectral_norm(Qc).lower, "<=", 1) is Truth.TRUE
    assert e.lower > 1 - 1e-9


def test_exact_norm_test_and_tightening():
    P = np.eye(5)[[3, 0, 4, 1, 2]]
    assert certify_spectral_norm_le(P, 1) is Truth.TRUE
    assert tight_spectral_norm(P).upper == 1
    assert tight_spectral_norm(HADAMARD).upper == 1
    assert certify_spectral_norm_le(np.eye(3) * (1 + 2.0**-52), 1) is Truth.FALSE
    e = tight_spectral_norm(np.eye(3) * (1 + 2.0**-52))
    assert e.upper >= 1 + 2.0**-52
    assert certify_spectral_norm_le(np.ones((40, 40)), 40) is Truth.UNDECIDED


def _slopes_to_coeffs(slopes, R, exact=True):
    """Coefficients with the given slopes on [-R, R] (exact doubles if ``exact``)."""
    K = len(slopes) + 1
    T = Fraction(2 * R) / (K - 1)
    c = [Fraction(0)]
    for s in slopes:
        c.append(c[-1] + Fraction(s) * T)
    out = np.array([float(v) for v in c])
    assert not exact or all(Fraction(v) == q for v, q in zip(out, c, strict=False))
    return out


def test_hand_built_network_is_certified_one_lipschitz():
    # Hadamard/2 layers (orthogonal, exact), splines with slopes in {-1, 0, 1}, R = 2
    c = np.stack([_slopes_to_coeffs(s, 2.0) for s in
                  ([1, 0, -1, 1], [0, 0, 1, 1], [-1, -1, -1, -1], [1, 1, 0, 0])])
    net = spline_network([HADAMARD, np.eye(4)[[1, 2, 3, 0]], HADAMARD[:2]],
                         [np.zeros(4), np.ones(4) * 0.5, np.zeros(2)], [c, c[::-1]], 2.0)
    res = certify_lipschitz_network(net, 1.0, np.random.default_rng(0).standard_normal((20, 4)))
    assert res.extra["verdict"] == "certified-1-lipschitz"
    assert res.enclosure.upper == 1
    assert all(p["epsilon_upper"] == "0" for p in res.per_layer)


def test_slope_101_is_refuted():
    # 1-D chain x -> 2 * spline(x / 2): slope 1.01 on the middle pieces
    coef = _slopes_to_coeffs([1, "1.01", "1.01", "0.5"], 1.0, exact=False)
    sl = LinearSpline(coef, 1.0).slopes_exact()
    assert max(sl) > 1
    net = spline_network([[[0.5]], [[2.0]]], [[0.0], [0.0]], [coef], 1.0)
    res = certify_lipschitz_network(net, 1.0, np.linspace(-2, 2, 41)[:, None])
    assert res.extra["verdict"] == "refuted"
    assert compare(res.lower_enclosure.lower, ">", 1) is Truth.TRUE
    assert res.lower > 1.009  # the certified lower bound is the true constant here


def test_loose_product_is_undecided_with_margin():
    ident = _slopes_to_coeffs([1, 1], 1.0)
    net = spline_network([np.diag([1.25, 0.5]), np.diag([0.5, 1.25])],
                         [np.zeros(2), np.zeros(2)], [np.stack([ident, ident])], 1.0)
    res = certify_lipschitz_network(net, 1.0, np.random.default_rng(0).standard_normal((30, 2)))
    assert res.extra["verdict"] == "undecided"  # true constant 0.625, product 1.5625
    assert float(res.extra["margin"]) == pytest.approx(0.5625, abs=1e-9)
    assert res.lower <= 0.625 + 1e-12


def test_bjorck_network_verdict():
    rng = np.random.default_rng(5)
    Ws = [bjorck_orthonormalize(rng.standard_normal(s), iters=15, scaling="frobenius")
          for s in [(8, 4), (8, 8), (1, 8)]]
    c = np.stack([_slopes_to_coeffs([1, -1, 1, 0.5], 1.0)] * 8)
    net = spline_network(Ws, [np.zeros(8), np.zeros(8), np.zeros(1)], [c, c], 1.0)
    res = certify_lipschitz_network(net, 1.0, rng.standard_normal((10, 4)))
    # float64 Björck: 1 + O(1e-14) per layer; the verdict is decided or the margin tiny
    assert res.extra["verdict"] in ("certified-1-lipschitz", "undecided")
    assert float(res.extra["margin"]) < 1e-11
    mpmath.mp.prec = 53  # (nothing in symlip changes the global precision)
    assert Enclosure.point(1).upper == 1
