"""The read-out lower bound of the gradient-Lipschitz constant (Lemma 10,
``docs/theory-param.md`` section 9): below the full certified quotient of the same
parameter pair (exact comparison, no slack) and below the certified upper bound;
certificates with it verify and reject tampering."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symlip.bounds.readout_lower as rl
import symlip.bounds.second_difference as sd
from symlip.arith.enclosure import Truth, compare
from symlip.bounds.smooth import grad_lipschitz, grad_quotient_from_witness
from symlip.cli import main
from symlip.models import io
from tests.test_smooth_bounds import random_loss_problem, random_net


@pytest.fixture
def readout_always(monkeypatch):
    monkeypatch.setattr(rl, "READOUT_LOWER_BUDGET", 0)
    monkeypatch.setattr(sd, "SECOND_DIFFERENCE_BUDGET", -1)  # the read-out bound alone


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(depth=st.integers(2, 4), width=st.integers(1, 10),
       act=st.sampled_from(["tanh", "sigmoid", "gelu", "softplus"]),
       loss=st.sampled_from(["mse", "cross-entropy"]), log_r=st.floats(-4, 0),
       seed=st.integers(0, 2**31 - 1))
def test_readout_lower_below_full_quotient_and_upper(readout_always, depth, width, act, loss,
                                                     log_r, seed):
    rng = np.random.default_rng(seed)
    net, X, y = random_loss_problem(rng, depth, width, act, loss, 5)
    n_out = net.widths[-1]
    r = 10.0 ** log_r
    res = grad_lipschitz(net, X, y, loss, r)
    assert res.witness["method"] == "readout"
    low = res.lower_enclosure
    assert compare(low.lower, "<=", res.enclosure.upper) is Truth.TRUE
    full = grad_quotient_from_witness(net, X, y, loss, {**res.witness, "method": "full"}, r)
    assert compare(low.lower, "<=", full.upper) is Truth.TRUE, (low, full)
    # the witness moves the read-out only
    assert min(res.witness["indices"]) >= net.n_params - net.layers[-1].weight.size - n_out


def test_readout_witness_refuses_hidden_indices(readout_always):
    from symlip.errors import InputError

    rng = np.random.default_rng(0)
    net = random_net(rng, [3, 5, 2], "tanh")
    X, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    wit = {"method": "readout", "indices": [0], "offset_plus": [1e-4], "offset_minus": [-1e-4]}
    with pytest.raises(InputError, match="read-out"):
        grad_quotient_from_witness(net, X, y, "mse", wit, 0.1)
    with pytest.raises(InputError, match="method"):
        grad_quotient_from_witness(net, X, y, "mse", {**wit, "method": "x"}, 0.1)


def test_readout_certificate_verifies_and_catches_tampering(readout_always, tmp_path, capsys):
    rng = np.random.default_rng(3)
    net = random_net(rng, [3, 6, 6, 3], "tanh")
    io.save(net, tmp_path / "m.safetensors")
    np.save(tmp_path / "X.npy", rng.standard_normal((6, 3)))
    np.save(tmp_path / "Y.npy", rng.integers(0, 3, 6))
    common = ["--data", str(tmp_path / "X.npy"), "--targets", str(tmp_path / "Y.npy")]
    cert = tmp_path / "c.json"
    assert main(["certify", str(tmp_path / "m.safetensors"), "--wrt", "gradient", *common,
                 "--loss", "cross-entropy", "--radius", "0.01", "--certificate",
                 str(cert)]) == 0
    data = json.loads(cert.read_text())
    assert data["witness"]["method"] == "readout" and data["result"]["lower"] is not None
    verify = ["verify", str(cert), "--model", str(tmp_path / "m.safetensors"), *common]
    assert main(verify) == 0
    for change in ("offset", "method", "lower"):
        bad = json.loads(cert.read_text())
        if change == "offset":
            bad["witness"]["offset_plus"][0] *= 2
        elif change == "method":
            bad["witness"]["method"] = "full"
        else:
            bad["result"]["lower"] = str(float(bad["result"]["lower"]) * 1.01)
        cert.write_text(json.dumps(bad))
        capsys.readouterr()
        assert main(verify) != 0, change
