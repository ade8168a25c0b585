"""The second-difference lower bound of the gradient-Lipschitz constant (Lemma 13,
``docs/theory-param.md`` section 9): below the certified upper bound with no slack on
random networks, its enclosure around the float second difference, exact witness
points, and certificates with it verify and reject tampering."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symlip.bounds.readout_lower as rl
import symlip.bounds.second_difference as sd
from symlip.arith.enclosure import Truth, compare
from symlip.bounds.smooth import (
    grad_lipschitz,
    grad_quotient_from_witness,
    loss_gradient,
    loss_value,
)
from symlip.cli import main
from symlip.errors import InputError, WitnessOutsideError
from symlip.models import io
from tests.test_smooth_bounds import random_loss_problem, random_net


@pytest.fixture
def large_problem(monkeypatch):
    """Every problem takes the MNIST-scale lower bounds (read-out and second difference)."""
    monkeypatch.setattr(rl, "READOUT_LOWER_BUDGET", 0)
    monkeypatch.setattr(sd, "SECOND_DIFFERENCE_BUDGET", 10**12)


def _float_second_difference(net, X, y, loss, wit, r):
    offs = sd._rebuild(net, wit)
    plus, minus, _ = sd._points(net, offs, r)
    h2 = sum(float(np.sum(H * H) + np.sum(b * b)) for H, b in offs)
    return (loss_value(plus, X, y, loss) + loss_value(minus, X, y, loss)
            - 2 * loss_value(net, X, y, loss)) / h2


@settings(max_examples=14, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(depth=st.integers(2, 4), width=st.integers(1, 10),
       act=st.sampled_from(["tanh", "sigmoid", "gelu", "softplus"]),
       loss=st.sampled_from(["mse", "cross-entropy"]), log_r=st.floats(-3, 0),
       seed=st.integers(0, 2**31 - 1))
def test_second_difference_below_upper(large_problem, depth, width, act, loss, log_r, seed):
    rng = np.random.default_rng(seed)
    net, X, y = random_loss_problem(rng, depth, width, act, loss, 6)
    r = 10.0 ** log_r
    res = grad_lipschitz(net, X, y, loss, r)
    assert res.witness["method"] in ("readout", "second_difference")
    assert compare(res.lower_enclosure.lower, "<=", res.enclosure.upper) is Truth.TRUE
    wit = sd.second_difference_witness(net, X, y, loss, r, loss_gradient, seed=seed % 7)
    low = sd.second_difference_from_witness(net, X, y, loss, wit, r)
    assert compare(low.lower, "<=", res.enclosure.upper) is Truth.TRUE, (low, res.enclosure)
    # the enclosure holds the float second difference up to its rounding
    fl = abs(_float_second_difference(net, X, y, loss, wit, r))
    tol = 1e-6 * max(1.0, fl) + 1e-9 / r**2
    assert low.lower_float - tol <= fl <= low.upper_float + tol


def test_witness_points_are_exact_and_inside():
    rng = np.random.default_rng(1)
    net = random_net(rng, [3, 7, 7, 2], "tanh")
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    r = 1e-2
    wit = sd.second_difference_witness(net, X, y, "mse", r, loss_gradient)
    assert wit["method"] == "second_difference" and "indices" not in wit
    offs = sd._rebuild(net, wit)
    plus, minus, h2 = sd._points(net, offs, r)
    theta = net.params()
    # exactly symmetric about the centre: (theta+ - theta) + (theta- - theta) == 0
    assert np.array_equal(plus.params() - theta, theta - minus.params())
    assert h2.upper_float <= r * r
    big = {**wit, "layers": [{**e, "bias": [10 * b for b in e["bias"]],
                              "u": [[10 * a for a in row] for row in e["u"]]}
                             for e in wit["layers"]]}
    with pytest.raises(WitnessOutsideError):
        sd.second_difference_from_witness(net, X, y, "mse", big, r)
    bad = {**wit, "layers": wit["layers"][:-1]}
    with pytest.raises(InputError, match="one entry per layer"):
        grad_quotient_from_witness(net, X, y, "mse", bad, r)
    bad = {**wit, "layers": [{**wit["layers"][0], "bias": [0.0]}] + wit["layers"][1:]}
    with pytest.raises(InputError, match="expected"):
        grad_quotient_from_witness(net, X, y, "mse", bad, r)
    bad = {**wit, "layers": [{"u": [[float("nan")]]}] + wit["layers"][1:]}
    with pytest.raises(InputError):
        grad_quotient_from_witness(net, X, y, "mse", bad, r)


def test_second_difference_tends_to_the_top_curvature():
    """Along an exact top eigenvector direction the quotient is the Rayleigh quotient
    up to O(r): on a one-hidden-layer MSE network, against the float Hessian."""
    rng = np.random.default_rng(2)
    net = random_net(rng, [2, 3, 1], "tanh")
    X, y = rng.standard_normal((8, 2)), rng.standard_normal((8, 1))
    r = 1e-4
    wit = sd.second_difference_witness(net, X, y, "mse", r, loss_gradient, iters=200, points=8)
    low = sd.second_difference_from_witness(net, X, y, "mse", wit, r)
    from symlip.bounds.smooth import estimate_grad_lower

    est = estimate_grad_lower(net, X, y, "mse", 0.0, iters=400)
    assert low.lower_float == pytest.approx(est, rel=1e-3)


def test_second_difference_certificate_verifies_and_catches_tampering(large_problem, tmp_path,
                                                                     capsys):
    rng = np.random.default_rng(3)
    net = random_net(rng, [3, 6, 6, 3], "tanh")
    io.save(net, tmp_path / "m.safetensors")
    np.save(tmp_path / "X.npy", rng.standard_normal((6, 3)))
    np.save(tmp_path / "Y.npy", rng.standard_normal((6, 3)))
    common = ["--data", str(tmp_path / "X.npy"), "--targets", str(tmp_path / "Y.npy")]
    cert = tmp_path / "c.json"
    assert main(["certify", str(tmp_path / "m.safetensors"), "--wrt", "gradient", *common,
                 "--loss", "mse", "--radius", "0.01", "--certificate", str(cert)]) == 0
    data = json.loads(cert.read_text())
    assert data["witness"]["method"] == "second_difference", data["witness"]["method"]
    verify = ["verify", str(cert), "--model", str(tmp_path / "m.safetensors"), *common]
    assert main(verify) == 0
    for change in ("factor", "bias", "method", "outside", "lower", "layers"):
        bad = json.loads(cert.read_text())
        w = bad["witness"]
        if change == "factor":
            w["layers"][1]["u"][0][0] *= 1.5
        elif change == "bias":
            w["layers"][0]["bias"][0] += 1e-4
        elif change == "method":
            w["method"] = "readout"
        elif change == "outside":
            w["layers"][0]["bias"] = [1.0] * len(w["layers"][0]["bias"])
        elif change == "layers":
            del w["layers"]
        else:
            bad["result"]["lower"] = str(float(bad["result"]["lower"]) * 1.01)
        cert.write_text(json.dumps(bad))
        capsys.readouterr()
        assert main(verify) != 0, change
        err = capsys.readouterr().err
        assert "Traceback" not in err, change
