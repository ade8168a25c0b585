"""Mixed per-point gradient bounds (:mod:`symlip.bounds.mixed`): the local line on some
points, the recursion's on the others.  The bound stays above the certified lower bound
and sampled gradient quotients (no slack), is never above the recursion, keeps the
recursion's line exactly where a point has no local inputs, is the default beyond the
local budget when the chosen points carry the mean, and certificates record the points
(``verify`` re-checks them; edited or malformed lists are caught)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.bounds import mixed, param_core
from symlip.bounds import sensitivity as sens
from symlip.bounds.param_core import _args
from symlip.bounds.smooth import (
    grad_lipschitz,
    gradient_program_and_inputs,
)
from symlip.cli import main
from symlip.errors import InputError
from symlip.models import io
from tests.clirun import run_cli
from tests.soundness import assert_grad_quotients_below, assert_shrunk_inputs_rejected
from tests.test_smooth_bounds import random_loss_problem, random_net


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(2, 5), width=st.integers(1, 9),
       act=st.sampled_from(["tanh", "sigmoid", "gelu", "softplus"]),
       loss=st.sampled_from(["mse", "cross-entropy"]), log_r=st.floats(-4, -0.5),
       frac=st.floats(0.05, 0.95), seed=st.integers(0, 2**31 - 1))
def test_mixed_bound_is_sound_and_never_above_the_recursion(depth, width, act, loss,
                                                            log_r, frac, seed):
    rng = np.random.default_rng(seed)
    n = 10
    net, X, y = random_loss_problem(rng, depth, width, act, loss, n)
    r = 10.0 ** log_r
    m = max(1, min(n - 1, int(frac * n)))
    res = grad_lipschitz(net, X, y, loss, r, local_points=m)
    assert res.extra["method"] == "mixed" and len(res.extra["local_points"]) == m
    up = res.upper
    if res.lower_enclosure is not None:  # the certified quotient: no slack
        assert res.lower_enclosure.lower <= res.enclosure.upper
    assert_grad_quotients_below(rng, net, X, y, loss, r, up, 4)
    rec = grad_lipschitz(net, X, y, loss, r, method="recursion", lower=False)
    # each point's line is at most its recursion line (equal inputs up to the
    # conversion of scalar enclosures to per-point floats)
    assert res.enclosure.upper <= rec.enclosure.upper * (1 + 1e-12)


def test_points_without_local_inputs_keep_the_recursion_line():
    rng = np.random.default_rng(3)
    net, X, y = random_loss_problem(rng, 3, 6, "tanh", "cross-entropy", 12)
    f, ci, used, A = gradient_program_and_inputs(net, X, y, "cross-entropy", 1e-2,
                                                 "local", [2, 5, 7])
    assert used == "mixed" and list(A) == [2, 5, 7]
    lines = f.enclose_array(_args(f, ci, hull=False))
    rf, rci, rused, _ = gradient_program_and_inputs(net, X, y, "cross-entropy", 1e-2,
                                                    "recursion")
    rlines = rf.enclose_array(_args(rf, rci, hull=False))
    rest = np.setdiff1d(np.arange(12), A)
    np.testing.assert_allclose(lines.hi[rest], rlines.hi[rest], rtol=1e-13)
    assert np.all(lines.hi[A] <= rlines.hi[A] * (1 + 1e-13))
    assert np.all(np.isinf(ci.per_point["off"].hi[rest]))
    assert np.all(ci.per_point["off"].hi[A] == 0)


def test_default_mixes_beyond_the_local_budget(monkeypatch):
    """With the local budget too small for all points, the default gives the local line
    to the points that carry the recursion's mean (a classifier's unconfident points)."""
    rng = np.random.default_rng(5)
    net = random_net(rng, [3, 8, 8, 3], "tanh")
    X = 2 * rng.standard_normal((30, 3))
    y = rng.integers(0, 3, 30)
    monkeypatch.setattr(param_core, "local_applies", lambda net, n: n <= 10)
    monkeypatch.setattr(mixed, "MIXED_COST_BUDGET", sens.local_cost(net, 8))
    monkeypatch.setattr(mixed, "MIXED_MIN_SHARE", 0.0)
    res = grad_lipschitz(net, X, y, "cross-entropy", 1e-3, lower=False)
    assert res.extra["method"] == "mixed"
    assert 1 <= len(res.extra["local_points"]) <= 8
    rec = grad_lipschitz(net, X, y, "cross-entropy", 1e-3, lower=False, method="recursion")
    assert res.upper < rec.upper
    # with no share required of them, and with the share unreachable: the recursion
    monkeypatch.setattr(mixed, "MIXED_MIN_SHARE", 1.01)
    res2 = grad_lipschitz(net, X, y, "cross-entropy", 1e-3, lower=False)
    assert res2.extra["method"] == "recursion" and res2.extra["local_points"] == []


@pytest.mark.parametrize("bad", [-1, True, "some", [0, 0], [40], [1.5], {"a": 1}])
def test_bad_local_points_are_named(bad):
    rng = np.random.default_rng(1)
    net, X, y = random_loss_problem(rng, 2, 4, "tanh", "mse", 6)
    with pytest.raises(InputError, match="local_points"):
        grad_lipschitz(net, X, y, "mse", 1e-2, local_points=bad, lower=False)
    with pytest.raises(InputError, match="method='local'"):
        grad_lipschitz(net, X, y, "mse", 1e-2, local_points=2, method="recursion")


def _files(tmp_path):
    rng = np.random.default_rng(11)
    net = random_net(rng, [3, 6, 6, 3], "tanh")
    m = tmp_path / "m.safetensors"
    io.save(net, m)
    np.save(tmp_path / "X.npy", 2 * rng.standard_normal((8, 3)))
    np.save(tmp_path / "Y.npy", rng.integers(0, 3, 8))
    common = ["--data", str(tmp_path / "X.npy"), "--targets", str(tmp_path / "Y.npy")]
    return m, common


def _problem(tmp_path):
    """The network, data and targets of :func:`_files`."""
    return (io.load(tmp_path / "m.safetensors"), np.load(tmp_path / "X.npy"),
            np.load(tmp_path / "Y.npy"))


def _certified(tmp_path, m, common, k):
    """A mixed cross-entropy gradient certificate with ``k`` local points: its path
    and its content."""
    cert = tmp_path / "g.json"
    assert main(["certify", str(m), "--wrt", "gradient", *common, "--loss",
                 "cross-entropy", "--radius", "0.01", "--local-points", str(k),
                 "--certificate", str(cert)]) == 0
    return cert, json.loads(cert.read_text())


def test_certificate_records_the_points_and_verify_rechecks(tmp_path, capsys):
    m, common = _files(tmp_path)
    cert, doc = _certified(tmp_path, m, common, 3)
    pts = doc["options"]["local_points"]
    assert len(pts) == 3 and pts == sorted(pts)
    assert "off" in doc["inputs"] and doc["inputs"]["off"]["upper"] == "inf"
    verify = ["verify", str(cert), "--model", str(m), *common]
    assert main(verify) == 0
    out = capsys.readouterr().out
    assert "verified" in out
    assert main(["certify", str(m), "--wrt", "gradient", *common, "--loss",
                 "cross-entropy", "--radius", "0.01", "--local-points", "3"]) == 0
    assert "local points         3 of 8" in capsys.readouterr().out
    # other points: a different (also sound) bound, not the recorded one
    other = [i for i in range(8) if i not in pts][:3]
    doc2 = json.loads(cert.read_text())
    doc2["options"]["local_points"] = other
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps(doc2))
    capsys.readouterr()
    assert main(["verify", str(bad), "--model", str(m), *common]) == 1
    # a recorded local input shrunk is caught
    assert_shrunk_inputs_rejected(cert, ("GN_c", "C_", "qg_"), ["--model", str(m), *common],
                                  capsys)


@pytest.mark.parametrize("value", ["x", [-1], [0, 0], [99], [True], 3])
def test_malformed_recorded_points_fail_in_one_line(tmp_path, capsys, value):
    m, common = _files(tmp_path)
    cert, doc = _certified(tmp_path, m, common, 2)
    doc["options"]["local_points"] = value
    cert.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["verify", str(cert), "--model", str(m), *common]) == 2
    err = capsys.readouterr().err.strip()
    assert "local_points" in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("argv, says", [
    (["--wrt", "params", "--radius", "0.01", "--local-points", "2"], "--local-points"),
    (["--wrt", "gradient", "--radius", "0.01", "--local-points", "-3"], "-3"),
    (["--wrt", "gradient", "--radius", "0.01", "--local-points", "two"], "two"),
    (["--wrt", "gradient", "--radius", "0.01", "--method", "recursion",
      "--local-points", "2"], "--local-points"),
])
def test_cli_rejects_bad_local_points(tmp_path, argv, says):
    m, common = _files(tmp_path)
    out = run_cli("certify", str(m), *common, *argv)
    assert out.returncode == 2 and not out.stdout
    err = out.stderr.strip()
    assert says in err and len(err.splitlines()) == 1, err


def test_derivation_shows_the_mixed_line():
    rng = np.random.default_rng(2)
    net, X, y = random_loss_problem(rng, 3, 5, "tanh", "mse", 6)
    res = grad_lipschitz(net, X, y, "mse", 1e-2, local_points=2, lower=False)
    text = res.formula.latex()
    assert r"B_{mix}" in text and "off" in text
    assert any("off" in (s.why or "") or "recursion" in (s.why or "")
               for s in res.derivation.steps)


def test_param_and_grad_in_one_call_mix_like_grad_lipschitz():
    from symlip.bounds.param import param_lipschitz
    from symlip.bounds.smooth import param_and_grad_lipschitz

    rng = np.random.default_rng(4)
    net, X, y = random_loss_problem(rng, 3, 6, "tanh", "cross-entropy", 9)
    p, g = param_and_grad_lipschitz(net, X, y, "cross-entropy", 1e-2, local_points=3)
    g1 = grad_lipschitz(net, X, y, "cross-entropy", 1e-2, local_points=3, lower=False)
    assert g.extra["method"] == "mixed"
    assert g.extra["local_points"] == g1.extra["local_points"]
    assert g.upper == g1.upper
    assert p.extra["method"] == "recursion"
    assert p.upper == param_lipschitz(net, X, 1e-2, method="recursion", lower=False).upper


def test_points_beyond_one_local_run_are_chunked(monkeypatch):
    """More points than the local method takes at once: consecutive chunks, each its own
    data set; sound, and every point has the local line."""
    rng = np.random.default_rng(8)
    net, X, y = random_loss_problem(rng, 3, 5, "tanh", "mse", 10)
    monkeypatch.setattr(param_core, "local_applies", lambda net, n: n <= 4)
    assert [list(c) for c in mixed.chunks(net, np.arange(10))] == [
        [0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    r = 1e-2
    res = grad_lipschitz(net, X, y, "mse", r, local_points=10)
    assert res.extra["method"] == "mixed"
    assert res.extra["local_points"] == list(range(10))
    f, ci, _, _ = gradient_program_and_inputs(net, X, y, "mse", r, "local", 10)
    assert np.all(ci.per_point["off"].hi == 0)
    assert_grad_quotients_below(rng, net, X, y, "mse", r, res.upper, 4)
    # each chunk's lines are what the local method gives on that chunk alone
    lines = f.enclose_array(_args(f, ci, hull=False)).hi
    g = grad_lipschitz(net, X[4:7], y[4:7], "mse", r, lower=False, local_points=None)
    assert abs(np.mean(lines[4:7]) - g.upper) <= 1e-9 * g.upper
    assert res.upper <= grad_lipschitz(net, X, y, "mse", r, method="recursion",
                                       lower=False).upper


def test_full_lower_runs_the_second_difference_beyond_its_budget(monkeypatch, tmp_path,
                                                                  capsys):
    from symlip.bounds import readout_lower
    from symlip.bounds import second_difference as sd

    rng = np.random.default_rng(6)
    net, X, y = random_loss_problem(rng, 3, 6, "tanh", "cross-entropy", 8)
    monkeypatch.setattr(readout_lower, "READOUT_LOWER_BUDGET", 0)
    monkeypatch.setattr(sd, "SECOND_DIFFERENCE_BUDGET", 0)
    auto = grad_lipschitz(net, X, y, "cross-entropy", 1e-2)
    full = grad_lipschitz(net, X, y, "cross-entropy", 1e-2, lower="full")
    assert auto.witness["method"] == "readout"
    assert full.witness["method"] == "second_difference"
    assert full.lower_enclosure.lower <= full.enclosure.upper
    with pytest.raises(InputError, match="lower="):
        grad_lipschitz(net, X, y, "cross-entropy", 1e-2, lower="yes")
    m, common = _files(tmp_path)
    cert = tmp_path / "g.json"
    assert main(["certify", str(m), "--wrt", "gradient", *common, "--loss",
                 "cross-entropy", "--radius", "0.01", "--lower", "full",
                 "--certificate", str(cert)]) == 0
    assert json.loads(cert.read_text())["witness"]["method"] == "second_difference"
    assert main(["verify", str(cert), "--model", str(m), *common]) == 0
    out = run_cli("certify", str(m), "--wrt", "params", "--data", common[1], "--radius",
                  "0.01", "--lower", "full")
    assert out.returncode == 2 and "--lower" in out.stderr


def test_placeholder_lines_whose_interval_reaches_minus_infinity(monkeypatch):
    """A deep swish classifier on a large ball: on points without local inputs the
    placeholder line's interval has the lower end -inf; max(B, off) keeps the point's
    line the recursion's (B + off gave -inf + inf = NaN)."""
    rng = np.random.default_rng(5059)
    depth, width = int(rng.integers(2, 10)), int(rng.integers(1, 10))
    n = int(rng.integers(4, 14))
    net, X, y = random_loss_problem(rng, depth, width, "swish", "cross-entropy", n)
    r = 10 ** rng.uniform(-4, -0.3)
    cap = int(rng.integers(1, 5))
    monkeypatch.setattr(param_core, "local_applies", lambda net, k: k <= cap)
    m = int(rng.integers(1, n + 3))
    assert (depth, n, cap, m) == (9, 13, 3, 9)
    res = grad_lipschitz(net, X, y, "cross-entropy", r, local_points=m, lower=False)
    assert res.extra["method"] == "mixed" and np.isfinite(res.upper)
    assert_grad_quotients_below(rng, net, X, y, "cross-entropy", r, res.upper, 3)


def test_no_local_points_is_recorded_so_verify_takes_the_same_path(tmp_path, capsys):
    """``--local-points 0`` where the local method fits every point: the recursion,
    recorded as an empty list (verify would otherwise derive the local formula)."""
    m, common = _files(tmp_path)
    cert, doc = _certified(tmp_path, m, common, 0)
    assert doc["options"]["local_points"] == []
    assert "off" not in doc["inputs"]
    capsys.readouterr()
    assert main(["verify", str(cert), "--model", str(m), *common]) == 0
    rec = grad_lipschitz(*_problem(tmp_path), "cross-entropy", 0.01, method="recursion",
                         lower=False)
    assert doc["result"]["upper"] == rec.enclosure.upper_str()
