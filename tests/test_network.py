"""The network model: NumPy forward pass and closed-form Jacobians, rigorous forward."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.activations.registry import X, get_activation
from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure
from symlip.errors import InputError
from symlip.models.network import DenseLayer, Network

SMOOTH = ["tanh", "sigmoid", "softplus", "gelu", "silu", "sin", "identity"]
ALL = SMOOTH + ["relu", "leaky_relu", "elu"]


def random_net(rng, widths, act="tanh", scale=1.0):
    pairs = zip(widths, widths[1:], strict=False)
    ws = [rng.normal(size=(o, i)) * scale / math.sqrt(i) for i, o in pairs]
    bs = [rng.normal(size=o) * 0.3 for o in widths[1:]]
    return Network.from_arrays(ws, bs, act)


NP_ACT = {
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z < 0, 0.01 * z, z),
    "elu": lambda z: np.where(z < 0, np.expm1(z), z),
    "silu": lambda z: z / (1 + np.exp(-z)),
    "sin": np.sin,
    "identity": lambda z: z,
    "gelu": lambda z: z * (1 + np.vectorize(math.erf)(z / math.sqrt(2))) / 2,
}


def reference_forward(ws, bs, act, x):
    a = x
    for k, (w, b) in enumerate(zip(ws, bs, strict=False)):
        a = a @ w.T + b
        if k < len(ws) - 1:
            a = NP_ACT[act](a)
    return a


# ----------------------------------------------------------------------------------
# structure and construction
# ----------------------------------------------------------------------------------


def test_structure():
    net = random_net(np.random.default_rng(0), [3, 5, 4, 2])
    assert net.depth == 3
    assert net.widths == [3, 5, 4, 2]
    assert net.n_params == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2
    assert net.layer_names == ["0", "2", "4"]
    assert net.activation is get_activation("tanh")
    assert len(net.activations) == 2
    assert "3-5-4-2" in repr(net) and "tanh" in repr(net)


def test_single_layer_needs_no_activation():
    net = Network.from_arrays([np.ones((2, 3))], [np.zeros(2)], None)
    assert net.activation is None and net.depth == 1
    np.testing.assert_array_equal(net.forward(np.ones(3)), [3.0, 3.0])


def test_mixed_activations():
    rng = np.random.default_rng(1)
    ws = [rng.normal(size=(4, 2)), rng.normal(size=(4, 4)), rng.normal(size=(1, 4))]
    bs = [np.zeros(4), np.zeros(4), np.zeros(1)]
    net = Network.from_arrays(ws, bs, ["tanh", "relu"])
    with pytest.raises(InputError, match="different activations"):
        _ = net.activation
    x = rng.normal(size=(5, 2))
    ref = np.maximum(np.tanh(x @ ws[0].T) @ ws[1].T, 0) @ ws[2].T
    np.testing.assert_allclose(net.forward(x), ref, rtol=1e-13, atol=1e-14)


def test_float32_weights_are_converted_exactly():
    w = np.float32([[0.1, -0.3]])
    layer = DenseLayer(w, np.float16([0.1]), "0")
    assert layer.weight.dtype == np.float64
    assert layer.weight[0, 0] == float(np.float32(0.1))
    assert layer.bias[0] == float(np.float16(0.1))
    assert not layer.weight.flags.writeable


@pytest.mark.parametrize(
    "ws, bs, act, match",
    [
        ([np.ones((3, 2)), np.ones((1, 4))], [np.zeros(3), np.zeros(1)], "tanh",
         r"layer '2' weight has shape \(1, 4\).*previous layer '0'.*\(3, 2\)"),
        ([np.ones((3, 2))], [np.zeros(4)], None, r"layer '0' bias has shape \(4,\)"),
        ([np.ones(3)], [np.zeros(3)], None, "2-D"),
        ([np.array([[1.0, np.nan]])], [np.zeros(1)], None, "layer '0' weight.*NaN"),
        ([np.ones((1, 1))], [[np.inf]], None, "layer '0' bias.*infinite"),
        ([np.ones((1, 1), dtype=complex)], [[0.0]], None, "unsupported dtype complex"),
        ([np.ones((1, 1)), np.ones((1, 1))], [[0.0], [0.0]], None, "needs an activation"),
        ([np.ones((1, 1))], [[0.0], [0.0]], None, "1 weight matrices but 2 bias"),
    ],
)
def test_construction_errors(ws, bs, act, match):
    with pytest.raises(InputError, match=match):
        Network.from_arrays(ws, bs, act)


def test_wrong_number_of_activations():
    layers = [DenseLayer(np.ones((2, 2)), np.zeros(2), str(k)) for k in range(3)]
    with pytest.raises(InputError, match="1 activations given for 2 hidden"):
        Network(layers, ["tanh"])


def test_bad_inputs():
    net = random_net(np.random.default_rng(0), [3, 4, 1])
    with pytest.raises(InputError, match=r"expected \(3,\) or \(batch, 3\)"):
        net.forward(np.ones(2))
    with pytest.raises(InputError, match="input x.*NaN"):
        net.forward(np.array([1.0, np.nan, 0.0]))
    with pytest.raises(InputError, match="expected 3"):
        net.interval_forward([1.0, 2.0])


def test_params_round_trip_and_layout():
    net = random_net(np.random.default_rng(2), [3, 4, 2])
    theta = net.params()
    assert theta.shape == (net.n_params,)
    # PyTorch state-dict order: W1 row-major, b1, W2, b2
    expected = np.concatenate([net.weights[0].ravel(), net.biases[0],
                               net.weights[1].ravel(), net.biases[1]])
    np.testing.assert_array_equal(theta, expected)
    layout = net.param_layout()
    assert [k for k, _, _ in layout] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for key, sl, shape in layout:
        idx = net.layer_names.index(key.split(".")[0])
        arr = getattr(net.layers[idx], key.split(".")[1])
        np.testing.assert_array_equal(theta[sl].reshape(shape), arr)
    other = net.with_params(theta * 2)
    np.testing.assert_array_equal(other.params(), theta * 2)
    assert other.layer_names == net.layer_names and other.activations == net.activations
    with pytest.raises(InputError, match=r"expected \(26,\)"):
        net.with_params(theta[:-1])


# ----------------------------------------------------------------------------------
# NumPy evaluation
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("act", ALL)
def test_forward_matches_reference(act):
    rng = np.random.default_rng(3)
    widths = [3, 6, 5, 2]
    net = random_net(rng, widths, act)
    x = rng.normal(size=(7, 3))
    ref = reference_forward(net.weights, net.biases, act, x)
    np.testing.assert_allclose(net.forward(x), ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(net.forward(x[0]), ref[0], rtol=1e-12, atol=1e-13)
    tr = net.forward_trace(x)
    assert [z.shape for z in tr.preactivations] == [(7, 6), (7, 5), (7, 2)]
    assert [a.shape for a in tr.layer_inputs] == [(7, 3), (7, 6), (7, 5)]
    np.testing.assert_array_equal(tr.output, net.forward(x))


def _central_fd(f, v, h):
    cols = []
    for i in range(v.size):
        e = np.zeros_like(v)
        e[i] = h
        cols.append((f(v + e) - f(v - e)) / (2 * h))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("act", SMOOTH)
def test_input_jacobian_vs_finite_differences(act):
    rng = np.random.default_rng(4)
    net = random_net(rng, [3, 6, 5, 2], act)
    for x in rng.normal(size=(3, 3)):
        jac = net.input_jacobian(x)
        assert jac.shape == (2, 3)
        fd = _central_fd(net.forward, x, 1e-5)
        np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-7)
    xb = rng.normal(size=(4, 3))
    jb = net.input_jacobian(xb)
    assert jb.shape == (4, 2, 3)
    np.testing.assert_allclose(jb[2], net.input_jacobian(xb[2]), rtol=1e-14)


@pytest.mark.parametrize("act", SMOOTH)
def test_param_jacobian_vs_finite_differences(act):
    rng = np.random.default_rng(5)
    net = random_net(rng, [2, 4, 3, 2], act)
    theta = net.params()
    for x in rng.normal(size=(2, 2)):
        jac = net.param_jacobian(x)
        assert jac.shape == (2, net.n_params)
        fd = _central_fd(lambda t, x=x: net.with_params(t).forward(x), theta, 1e-5)
        np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("act", ["tanh", "relu", "gelu"])
def test_jacobian_structure(act):
    rng = np.random.default_rng(6)
    net = random_net(rng, [3, 5, 4, 2], act)
    x = rng.normal(size=(6, 3))
    pj = net.param_jacobian(x)
    jx = net.input_jacobian(x)
    layout = {k: (sl, shape) for k, sl, shape in net.param_layout()}
    # d f / d b_1 = delta_1 and d f / d x = delta_1 W_1
    db1 = pj[:, :, layout["0.bias"][0]]
    np.testing.assert_allclose(db1 @ net.weights[0], jx, rtol=1e-12, atol=1e-14)
    # d f / d W_1 = delta_1 (outer) x
    dw1 = pj[:, :, layout["0.weight"][0]].reshape(6, 2, 5, 3)
    np.testing.assert_allclose(dw1, db1[:, :, :, None] * x[:, None, None, :], rtol=1e-13)
    # the read-out layer: d f_i / d b_N = e_i
    np.testing.assert_array_equal(pj[:, :, layout["4.bias"][0]],
                                  np.broadcast_to(np.eye(2), (6, 2, 2)))


def test_linear_network_jacobians_are_exact():
    rng = np.random.default_rng(7)
    ws = [rng.normal(size=(3, 2)), rng.normal(size=(2, 3))]
    net = Network.from_arrays(ws, [np.zeros(3), np.zeros(2)], "identity")
    np.testing.assert_allclose(net.input_jacobian(np.ones(2)), ws[1] @ ws[0], rtol=1e-14)


# ----------------------------------------------------------------------------------
# rigorous evaluation
# ----------------------------------------------------------------------------------


def _mp_sigma(act_name):
    act = get_activation(act_name)
    return sp.lambdify(X, act.expr, modules=[
        {"sigmoid": lambda t: 1 / (1 + mpmath.exp(-t)), "Max": max}, "mpmath"])


def mp_forward(net, act_name, x, prec=300):
    """High-precision float-free reference: weights as exact doubles, mpmath at 300 bits."""
    sig = _mp_sigma(act_name)
    with mpmath.workprec(prec):
        a = [mpmath.mpf(float(v)) for v in x]
        for k, layer in enumerate(net.layers):
            z = [mpmath.fsum(mpmath.mpf(float(w)) * aj for w, aj in zip(row, a, strict=False))
                 + mpmath.mpf(float(b)) for row, b in zip(layer.weight, layer.bias, strict=False)]
            a = [sig(v) for v in z] if k < net.depth - 1 else z
        return a


@pytest.mark.parametrize("act", ALL)
@pytest.mark.parametrize("prec", [None, 100])
def test_interval_forward_encloses_high_precision(act, prec):
    rng = np.random.default_rng(8)
    net = random_net(rng, [3, 6, 5, 2], act, scale=2.0)
    for x in rng.normal(size=(2, 3)):
        encs = net.interval_forward(x, prec=prec)
        ref = mp_forward(net, act, x)
        fl = net.forward(x)
        for e, r, f in zip(encs, ref, fl, strict=False):
            assert e.lower <= r <= e.upper, (e, r)
            width = float(e.width)
            assert width <= (1e-12 if prec is None else 1e-25) * max(1.0, abs(f))
            assert abs(f - float(r)) < 1e-12 * max(1.0, abs(f))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1),
       widths=st.lists(st.integers(1, 6), min_size=2, max_size=4),
       act=st.sampled_from(["tanh", "relu", "sigmoid", "elu"]),
       scale=st.sampled_from([1e-3, 1.0, 30.0]))
def test_interval_forward_property(seed, widths, act, scale):
    rng = np.random.default_rng(seed)
    net = random_net(rng, widths, act, scale)
    x = rng.normal(size=widths[0]) * scale
    ref = mp_forward(net, act, x, prec=200)
    for e, r in zip(net.interval_forward(x), ref, strict=False):
        assert e.lower <= r <= e.upper


def test_interval_forward_on_an_input_box():
    rng = np.random.default_rng(9)
    net = random_net(rng, [2, 8, 1], "tanh")
    box = [Enclosure.from_floats(0.1, 0.2), Enclosure.from_floats(-0.5, -0.45)]
    out = net.interval_forward(box)[0]
    out_mp = net.interval_forward(box, prec=80)[0]
    pts = np.column_stack([rng.uniform(0.1, 0.2, 200), rng.uniform(-0.5, -0.45, 200)])
    vals = net.forward(pts)[:, 0]
    for e in (out, out_mp):
        assert e.lower_float <= vals.min() and vals.max() <= e.upper_float
    ia = net.interval_forward(IntervalArray([0.1, -0.5], [0.2, -0.45]))[0]
    assert ia.lower == out.lower and ia.upper == out.upper


def test_interval_forward_accepts_exact_points():
    net = Network.from_arrays([[[0.1]]], [[0.2]], None)
    e = net.interval_forward([3.0], prec=200)[0]
    # 0.1 * 3 + 0.2 in exact binary arithmetic of the doubles 0.1 and 0.2
    from fractions import Fraction
    exact = Fraction(0.1) * 3 + Fraction(0.2)
    assert Enclosure.from_fraction(exact, 400).lower >= e.lower
    assert float(e.width) < 1e-55
    f = net.interval_forward([3.0])[0]
    assert f.contains(Enclosure.from_fraction(exact, 400))


def test_interval_forward_badly_scaled():
    net = Network.from_arrays([np.array([[1e-300, 1e300]]), np.array([[1e-10]])],
                              [np.zeros(1), np.zeros(1)], "relu")
    x = [1e300, 1e-300]
    from fractions import Fraction

    exact = Fraction(1e-10) * 2 * Fraction(1e-300) * Fraction(1e300)
    for prec in (None, 60):
        e = net.interval_forward(x, prec=prec)[0]
        assert e.contains(Enclosure.from_fraction(exact, 200))
    with pytest.raises(InputError, match="overflow"):
        Network.from_arrays([np.array([[1e300]])], [np.zeros(1)], None).interval_forward([1e300])


def test_interval_forward_speed_small_net():
    import time

    net = random_net(np.random.default_rng(10), [2, 32, 32, 1], "tanh")
    net.interval_forward([0.3, -0.2])
    t = time.perf_counter()
    net.interval_forward([0.3, -0.2])
    assert time.perf_counter() - t < 1.0  # typically ~0.01 s; generous for shared CI


# ----------------------------------------------------------------------------------
# PyTorch (optional)
# ----------------------------------------------------------------------------------


def test_from_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    cases = [(nn.Tanh(), "tanh"), (nn.ReLU(), "relu"), (nn.GELU(), "gelu"),
             (nn.ELU(alpha=0.5), "elu"), (nn.LeakyReLU(0.2), "leaky_relu"),
             (nn.SiLU(), "silu"), (nn.Sigmoid(), "sigmoid"), (nn.Softplus(), "softplus"),
             (nn.Identity(), "identity")]
    for mod, name in cases:
        seq = nn.Sequential(nn.Linear(3, 5), mod, nn.Linear(5, 2)).double()
        net = Network.from_torch(seq)
        assert net.activation.name == name
        assert net.layer_names == ["0", "2"]
        x = torch.randn(4, 3, dtype=torch.float64)
        np.testing.assert_allclose(net.forward(x.numpy()), seq(x).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
    with pytest.raises(InputError, match="approximate='tanh'"):
        Network.from_torch(nn.Sequential(nn.Linear(2, 2), nn.GELU(approximate="tanh"),
                                         nn.Linear(2, 1)))
    with pytest.raises(InputError, match="Dropout"):
        Network.from_torch(nn.Sequential(nn.Linear(2, 2), nn.Dropout(), nn.Linear(2, 1)))
    with pytest.raises(InputError, match="linear read-out"):
        Network.from_torch(nn.Sequential(nn.Linear(2, 2), nn.Tanh()))
    net32 = Network.from_torch(nn.Sequential(nn.Linear(2, 3, bias=False)))
    assert net32.biases[0].tolist() == [0.0, 0.0, 0.0]
