"""Soundness of the linear-relaxation local input bound (symlip.bounds.relaxation and the
vertex split of symlip.bounds.local_jacobian): pre-activation boxes contain the
pre-activations of points of the ball, the local bound is above the quotients and
Jacobian norms sampled in the ball, and not above the interval-box bound.  No slack: every
float comparison that comes close is re-done in outward-rounded interval arithmetic."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Truth, compare
from symlip.bounds.input import (
    input_quotient_from_witness,
    local_input_derivation,
    local_input_lipschitz,
    local_over_data,
)
from symlip.errors import InputError
from symlip.models.network import Network, ResidualLayer, sigma_box
from tests.soundness import assert_input_quotients_below

ACTS = ["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "elu", "softplus"]


def random_net(rng, widths, act, scale, residual=False):
    n = len(widths) - 1
    steps = [None] * n
    if residual:  # square hidden layers, some of them residual blocks
        widths = [widths[0]] + [widths[1]] * (n - 1) + [widths[-1]]
        steps = [float(rng.uniform(-1.5, 1.5)) if k > 0 and rng.random() < 0.6 else None
                 for k in range(n - 1)] + [None]
    ws = [scale * rng.standard_normal((m, k)) / np.sqrt(k) for k, m in zip(widths, widths[1:])]
    bs = [0.3 * rng.standard_normal(m) for m in widths[1:]]
    return Network.from_arrays(ws, bs, act, steps=steps)


def ball_points(rng, x0, eps, n):
    """Interior points, boundary points (norm exactly eps up to rounding, pulled inside)
    and the centre."""
    u = rng.standard_normal((n, x0.size))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    inner = x0 + eps * rng.uniform(0, 1, (n, 1)) * u
    edge = x0 + eps * (1 - 1e-12) * u
    return np.vstack([x0[None], inner, edge])


def point_preactivations(net, x):
    """Outward-rounded enclosures of the exact pre-activations z_k(x) of the hidden
    layers (elementwise IntervalArray products and sums, interval activation kernels)."""
    a = IntervalArray(np.asarray(x, dtype=float))
    out = []
    for k, layer in enumerate(net.layers[:-1]):
        z = IntervalArray(layer.bias)
        for j in range(layer.weight.shape[1]):
            z = z + IntervalArray(layer.weight[:, j]) * a[j]
        out.append(z)
        s = sigma_box(net.activations[k], z)
        a = a + s * float(layer.step) if isinstance(layer, ResidualLayer) else s
    return out


def assert_boxes_contain(net, boxes, X):
    zs = net.forward_trace(X).preactivations
    for k, box in enumerate(boxes):
        inside = (zs[k] >= box.lo) & (zs[k] <= box.hi)
        for i in np.nonzero(~inside.all(axis=1))[0]:  # float screen failed: prove it
            enc = point_preactivations(net, X[i])[k]
            bad = (enc.lo > box.hi) | (enc.hi < box.lo)
            assert not bad.any(), (k, i, enc, box)


def assert_jacobians_below(net, X, x0, eps, upper):
    """||J(x)||_2 <= upper at points of the ball; close ones re-checked by a certified
    difference quotient along the top singular vector, both points inside the ball."""
    from symlip.bounds.input import jacobian_norms

    jn, vs = jacobian_norms(net, X)
    for i in np.nonzero(jn > upper.upper_float * (1 - 1e-6))[0]:
        room = eps - float(np.linalg.norm(X[i] - x0))
        h = min(1e-7 * max(1.0, float(np.linalg.norm(X[i]))), 0.5 * room)
        if h <= 1e-6 * room or h < 1e-12:  # on the sphere: the quotient checks cover it
            continue
        enc = input_quotient_from_witness(net, {"x": X[i].tolist(),
                                          "x_prime": (X[i] + h * vs[i]).tolist()})
        assert compare(enc.lower, "<=", upper.upper) is Truth.TRUE, (jn[i], upper)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), depth=st.integers(2, 4), width=st.integers(1, 10),
       act=st.sampled_from(ACTS), residual=st.booleans(),
       eps=st.sampled_from([1e-3, 0.03, 0.3, 2.0]))
def test_linear_boxes_and_bound_are_sound(seed, depth, width, act, residual, eps):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, 5))] + [width] * (depth - 1) + [int(rng.integers(1, 4))]
    net = random_net(rng, widths, act, float(rng.uniform(0.5, 3.0)), residual)
    x0 = rng.standard_normal(widths[0])
    boxes: list = []
    res_loc = local_input_lipschitz(net, x0, eps, boxes=boxes)
    loc, inputs = res_loc.enclosure, res_loc.inputs
    old = local_input_lipschitz(net, x0, eps, preact="interval").enclosure
    assert len(boxes) == depth - 1
    X = ball_points(rng, x0, eps, 40)
    assert_boxes_contain(net, boxes, X)
    xs, ys = X[1:41], X[41:]
    assert_input_quotients_below(net, xs, ys, loc)
    near = xs + 1e-3 * eps * rng.standard_normal(xs.shape) / np.sqrt(widths[0])
    inside = np.linalg.norm(near - x0, axis=1) <= eps
    assert_input_quotients_below(net, xs[inside], near[inside], loc)
    assert_jacobians_below(net, X, x0, eps, loc)
    # not above the interval-box bound (up to the rounding of different products)
    assert loc.upper_float <= old.upper_float * (1 + 1e-9)


@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_relu_boxes_are_tighter_and_find_stable_neurons(act):
    rng = np.random.default_rng(5)
    net = random_net(rng, [6, 40, 40, 40, 40, 3], act, 2.0)
    x0 = rng.standard_normal(6)
    lin, ib = [], []
    local_input_lipschitz(net, x0, 0.05, boxes=lin)
    local_input_lipschitz(net, x0, 0.05, preact="interval", boxes=ib)
    unstable = [int(np.sum((b.lo < 0) & (b.hi > 0))) for b in lin]
    unstable_old = [int(np.sum((b.lo < 0) & (b.hi > 0))) for b in ib]
    assert sum(unstable) < sum(unstable_old)
    for a, b in zip(lin, ib, strict=True):
        assert np.all(a.lo >= b.lo) and np.all(a.hi <= b.hi)
    assert np.mean(lin[-1].hi - lin[-1].lo) < 0.5 * np.mean(ib[-1].hi - ib[-1].lo)


def test_relu_bound_near_the_jacobian_norm_when_stable():
    """Every neuron stable on a small ball: the bound is the norm of one Jacobian."""
    rng = np.random.default_rng(8)
    net = random_net(rng, [5, 30, 30, 30, 2], "relu", 1.5)
    x0 = rng.standard_normal(5)
    jn = float(np.linalg.norm(net.input_jacobian(x0[None])[0], 2))
    loc = local_input_lipschitz(net, x0, 1e-4).enclosure
    old = local_input_lipschitz(net, x0, 1e-4, preact="interval").enclosure
    assert jn <= loc.upper_float <= jn * (1 + 1e-6)
    assert loc.upper_float <= old.upper_float * (1 + 1e-9)


def test_vertex_split_is_exact_for_few_unstable_relus():
    """With every unstable ReLU split, J_loc is the largest norm over the activation
    patterns (up to rounding), and it is never below a Jacobian on the ball."""
    from symlip.bounds.local_jacobian import split_norm_upper

    rng = np.random.default_rng(2)
    net = random_net(rng, [3, 6, 6, 2], "relu", 1.5)
    lo0, hi0 = np.array([0.0, 1, 1, 0, 0, 1]), np.array([1.0, 1, 1, 0, 1, 1])
    ranges = [IntervalArray(lo0, hi0), IntervalArray(np.ones(6))]
    enc, m = split_norm_upper(net, ranges)
    assert m == 2
    best = 0.0
    for a in (0.0, 1.0):
        for b in (0.0, 1.0):
            d = np.array([a, 1, 1, 0, b, 1])
            J = net.layers[2].weight @ net.layers[1].weight @ (d[:, None] * net.layers[0].weight)
            best = max(best, float(np.linalg.norm(J, 2)))
    assert best <= enc.upper_float <= best * (1 + 1e-9)


def test_preact_is_checked_and_recorded():
    rng = np.random.default_rng(0)
    net = random_net(rng, [2, 5, 1], "tanh", 1.0)
    with pytest.raises(InputError, match="preact='crown'"):
        local_input_lipschitz(net, np.zeros(2), 0.1, preact="crown")
    with pytest.raises(InputError, match="preact='x'"):
        local_over_data(net, None, 0.1, preact="x")
    with pytest.raises(InputError, match="preact='x'"):
        local_input_derivation(2, preact="x")
    text = local_input_derivation(3).to_text()
    assert "back-substitution" in text and "vertex reduction" in text
    assert "back-substitution" not in local_input_derivation(3, preact="interval").to_text()


def test_cli_records_the_method_and_verify_recomputes_it(tmp_path, capsys):
    from symlip.cli import main
    from symlip.models import io

    rng = np.random.default_rng(1)
    net = random_net(rng, [3, 16, 16, 16, 2], "relu", 2.0)
    io.save(net, tmp_path / "m.safetensors")
    np.save(tmp_path / "X.npy", rng.standard_normal((3, 3)))
    out = {}
    for method in ("linear", "interval"):
        cert = tmp_path / f"{method}.json"
        argv = ["certify", str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "X.npy"),
                "--input-radius", "0.05", "--json", "--certificate", str(cert)]
        if method == "interval":
            argv += ["--local-preact", "interval"]
        assert main(argv) == 0
        out[method] = json.loads(capsys.readouterr().out)
        assert out[method]["local_preact"] == method
        assert json.loads(cert.read_text())["options"]["local_preact"] == method
        assert main(["verify", str(cert), "--model", str(tmp_path / "m.safetensors"),
                     "--data", str(tmp_path / "X.npy")]) == 0
        capsys.readouterr()
    assert float(out["linear"]["local_upper"]) < float(out["interval"]["local_upper"])
    # tampering: the tighter linear value claimed under the interval method is refused
    cert = json.loads((tmp_path / "linear.json").read_text())
    cert["options"]["local_preact"] = "interval"
    (tmp_path / "tampered.json").write_text(json.dumps(cert))
    assert main(["verify", str(tmp_path / "tampered.json"), "--model",
                 str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "X.npy")]) != 0
    assert "local bound" in capsys.readouterr().err


@pytest.mark.parametrize("preact", ["linear", "interval"])
def test_overflow_is_a_clear_error(preact):
    big = [np.full((3, 2), 1e200), np.full((3, 3), 1e200), np.full((1, 3), 1e200)]
    net = Network.from_arrays(big, [np.zeros(3), np.zeros(3), np.zeros(1)], "relu")
    with pytest.raises(InputError, match="overflowed float64"):
        local_input_lipschitz(net, np.ones(2), 0.1, preact=preact)
