"""Input-Lipschitz bounds: soundness on random networks, exact cases, local <= global."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.bounds.input import (
    certify_input_lower,
    estimate_input_lower,
    input_lipschitz,
    input_product_formula,
    local_input_lipschitz,
)
from symlip.errors import InputError
from symlip.intervals import Truth, compare
from symlip.network import Network

from .soundness import assert_input_quotients_below

ACTS = ["tanh", "relu", "sigmoid", "gelu", "softplus", "leaky_relu", "elu", "silu"]


def random_net(rng, widths, act, scale=1.0):
    Ws = [scale * rng.standard_normal((m, n)) / np.sqrt(n) for n, m in zip(widths, widths[1:])]
    bs = [0.1 * rng.standard_normal(m) for m in widths[1:]]
    return Network.from_arrays(Ws, bs, act)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    depth=st.integers(1, 5),
    width=st.integers(1, 30),
    act=st.sampled_from(ACTS),
)
def test_certified_lower_le_estimate_le_upper(seed, depth, width, act):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, width + 1)) for _ in range(depth + 1)]
    net = random_net(rng, widths, act, scale=float(rng.uniform(0.3, 3)))
    data = rng.standard_normal((20, widths[0]))
    res = input_lipschitz(net, data, seed=seed)
    # empirical difference quotients between random pairs never exceed the upper bound
    x = rng.standard_normal((200, widths[0]))
    y = x + rng.standard_normal(x.shape) * rng.uniform(1e-3, 2)
    assert_input_quotients_below(net, x, y, res.enclosure)
    # certified lower <= certified upper (exactly, in the enclosures)
    assert compare(res.lower_enclosure.lower, "<=", res.enclosure.upper) is Truth.TRUE
    # the certified lower is consistent with the estimate it came from (a quotient at a
    # small step never beats the sup of the Jacobian norm by more than float noise)
    assert res.lower <= res.estimate * (1 + 1e-4) + 1e-12


def test_single_linear_layer_is_exact():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((4, 3))
    net = Network.from_arrays([W], [np.zeros(4)], "tanh")
    res = input_lipschitz(net, rng.standard_normal((5, 3)))
    s = np.linalg.norm(W, 2)
    assert res.enclosure.lower_float <= s <= res.upper
    assert res.lower <= s and (res.upper - res.lower) / s < 1e-5


def test_relu_product_equals_product_of_norms():
    from symlip.norms import spectral_norm

    rng = np.random.default_rng(2)
    net = random_net(rng, [3, 8, 8, 2], "relu")
    res = input_lipschitz(net, lower=False)
    prod_lo, prod_hi = 1.0, 1.0
    for layer in net.layers:
        e = spectral_norm(layer.weight)
        prod_lo *= e.lower_float
        prod_hi *= e.upper_float
    assert res.enclosure.lower_float <= prod_hi and prod_lo <= res.upper
    assert res.upper <= prod_hi * (1 + 1e-12)


@pytest.mark.parametrize("act", ["tanh", "relu", "gelu", "sigmoid"])
def test_local_bound_le_global_and_tightens(act):
    rng = np.random.default_rng(3)
    net = random_net(rng, [4, 10, 10, 3], act, scale=2.0)
    glob = input_lipschitz(net, lower=False)
    x0 = rng.standard_normal(4)
    prev = None
    for eps in [10.0, 1.0, 0.1, 1e-3, 0.0]:
        loc, _ = local_input_lipschitz(net, x0, eps)
        assert compare(loc.upper, "<=", glob.enclosure.upper) is Truth.TRUE
        if prev is not None:
            assert loc.upper <= prev.upper
        prev = loc
        # soundness on the ball: sampled quotients inside B(x0, eps)
        if eps > 0:
            d = rng.standard_normal((100, 4))
            d *= (eps * rng.random((100, 1)) ** 0.25) / np.linalg.norm(d, axis=1, keepdims=True)
            e = rng.standard_normal((100, 4))
            e *= (eps * rng.random((100, 1)) ** 0.25) / np.linalg.norm(e, axis=1, keepdims=True)
            assert_input_quotients_below(net, x0 + d, x0 + e, loc)
    # at eps = 0 the local bound is at least the Jacobian norm at x0
    jn = np.linalg.norm(net.input_jacobian(x0[None])[0], 2)
    assert jn <= prev.upper_float


def test_formula_is_product_of_factors():
    f, factors = input_product_formula(3)
    import sympy as sp

    assert sp.simplify(f.expr - sp.Mul(*factors)) == 0
    assert [str(s) for s in f.inputs] == ["omega_1", "K_1", "omega_2", "K_2", "omega_3"]


def test_estimate_uses_ascent_and_lower_is_certified():
    rng = np.random.default_rng(4)
    net = random_net(rng, [2, 16, 16, 1], "tanh", scale=2.0)
    data = rng.standard_normal((30, 2))
    val, xb, vb = estimate_input_lower(net, data)
    j0 = max(np.linalg.norm(net.input_jacobian(data), axis=(1, 2), ord=2))
    assert val >= j0
    enc, witness = certify_input_lower(net, xb, vb)
    assert 0 < enc.lower_float <= val * (1 + 1e-4)
    assert set(witness) == {"x", "x_prime"}


def test_bad_data_errors():
    rng = np.random.default_rng(5)
    net = random_net(rng, [3, 4, 1], "tanh")
    with pytest.raises(InputError, match="shape"):
        input_lipschitz(net, rng.standard_normal((4, 2)))
    bad = rng.standard_normal((4, 3))
    bad[1, 2] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        input_lipschitz(net, bad)
    with pytest.raises(InputError, match="radius"):
        input_lipschitz(net, rng.standard_normal((4, 3)), input_radius=-1.0)
