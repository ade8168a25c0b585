"""symlip.track (the recorder), the torch converter, CertifiedGD and the two
reproductions of issue #16 (double-descent, certified-gd)."""

import concurrent.futures as cf
import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
from torch import nn  # noqa: E402

import symlip  # noqa: E402
from symlip.bounds.input import (  # noqa: E402
    certify_input_lower,
    input_lipschitz,
    jacobian_norms,
)
from symlip.errors import InputError, NotSmoothError  # noqa: E402
from symlip.torch._convert import params_vector, set_params_vector, to_network  # noqa: E402


def _mlp(act=nn.Tanh, widths=(4, 12, 3), seed=0, double=True):
    torch.manual_seed(seed)
    mods = []
    for k in range(len(widths) - 1):
        mods.append(nn.Linear(widths[k], widths[k + 1]))
        if k < len(widths) - 2:
            mods.append(act())
    m = nn.Sequential(*mods)
    return m.double() if double else m


# -- converter ------------------------------------------------------------------------


@pytest.mark.parametrize("act", [nn.Tanh, nn.ReLU, nn.Sigmoid, nn.GELU])
def test_converter_matches_the_torch_forward_pass(act):
    m = _mlp(act, (5, 9, 7, 2))
    X = torch.randn(40, 5, dtype=torch.float64)
    net = to_network(m)
    with torch.no_grad():
        ref = m(X).numpy()
    np.testing.assert_allclose(net.forward(X.numpy()), ref, rtol=1e-12, atol=1e-12)
    assert net.widths == [5, 9, 7, 2]


def test_converter_float32_weights_are_exact_and_params_round_trip():
    m = _mlp(nn.Tanh, double=False)
    net = to_network(m)
    assert np.array_equal(net.layers[0].weight, m[0].weight.detach().double().numpy())
    theta = params_vector(m)
    np.testing.assert_array_equal(theta, net.params())
    set_params_vector(m, theta * 0 + 1.0)
    assert float(m[2].bias.detach()[0]) == 1.0


def test_converter_refuses_unsupported_modules():
    with pytest.raises(InputError, match="Dropout"):
        to_network(nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.Linear(3, 1)))


# -- recorder -------------------------------------------------------------------------


def test_recorder_tiny_training_run(tmp_path):
    torch.manual_seed(1)
    X = torch.randn(48, 4, dtype=torch.float64)
    Y = torch.sin(X[:, :3])
    m = _mlp(nn.Tanh)
    rec = symlip.track(train=(X, Y), test=(X[:12], Y[:12]), every=5, local_radius=0.01,
                       n_balls=2)
    opt = torch.optim.Adam(m.parameters(), lr=3e-2)
    for step in range(11):
        opt.zero_grad()
        (0.5 * ((m(X) - Y) ** 2).sum(1).mean()).backward()
        opt.step()
        rec.maybe_record(step, m)
    assert [r["step"] for r in rec.rows] == [0, 5, 10]
    last = rec.rows[-1]
    for r in rec.rows:
        assert r["upper"] >= r["lower"] and r["upper"] >= r["lower_data"]
        assert r["local_upper"] <= r["upper"]
        # the quotient's points lie in the ball of the point of largest Jacobian norm
        assert r["local_upper"] >= r["lower"]
        assert 0 < r["fidelity"] <= 1
    # the certified numbers are the enclosure ends the library returns
    net = to_network(m)
    Xn = X.numpy()
    assert last["upper"] == input_lipschitz(net, lower=False).enclosure.upper_float
    s, v = jacobian_norms(net, Xn)
    i = int(np.argmax(s))
    assert last["lower_data"] == float(s[i])
    assert last["lower"] == certify_input_lower(net, Xn[i], v[i])[0].lower_float
    with torch.no_grad():
        assert last["train_loss"] == pytest.approx(
            float(0.5 * ((m(X) - Y) ** 2).sum(1).mean()), rel=1e-12)
    paths = rec.save(tmp_path)
    assert {p.name for p in paths} == {"track.csv", "track.json", "track.png"}
    assert all(p.stat().st_size > 0 for p in paths)
    with open(tmp_path / "track.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[-1]["upper"]) == last["upper"]  # repr keeps every digit
    data = json.loads((tmp_path / "track.json").read_text())
    assert data["rows"][-1]["lower"] == last["lower"]


def test_recorder_steps_schedule_and_bad_input():
    X = torch.randn(8, 4, dtype=torch.float64)
    rec = symlip.track(train=(X, torch.zeros(8, 3)), steps=[3, 7])
    assert [s for s in range(10) if rec.due(s)] == [3, 7]
    assert rec.maybe_record(0, _mlp()) is None
    with pytest.raises(InputError, match="every=0"):
        symlip.track(train=(X, X), every=0)
    with pytest.raises(InputError, match="local_radius=-1"):
        symlip.track(train=(X, X), local_radius=-1.0)
    with pytest.raises(InputError, match="loss='hinge'"):
        symlip.track(train=(X, X), loss="hinge")
    with pytest.raises(InputError, match="pair"):
        symlip.track(train=X)


# -- CertifiedGD ----------------------------------------------------------------------


def _digits(n=60):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (torch.tensor(X[:n] / 16.0, dtype=torch.float64),
            torch.eye(10, dtype=torch.float64)[torch.as_tensor(y[:n])])


def _run_cgd(opt, m, X, Y, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * ((m(X) - Y) ** 2).sum(1).mean()
        loss.backward()
        losses.append(loss.item())
        opt.step()
    with torch.no_grad():
        losses.append(float(0.5 * ((m(X) - Y) ** 2).sum(1).mean()))
    return np.array(losses)


def test_certified_gd_never_increases_the_loss():
    from symlip.torch import CertifiedGD

    X, Y = _digits()
    m = _mlp(nn.Tanh, (64, 8, 10))
    opt = CertifiedGD(m, X, Y, "mse", radius=0.05, every=4)
    losses = _run_cgd(opt, m, X, Y, 20)
    assert np.all(np.diff(losses) < 0), np.diff(losses)
    h = opt.history
    assert h[0]["certified"] and sum(r["certified"] for r in h) >= 5
    assert all(r["eta"] * r["L_grad"] <= 1.0 for r in h)


def test_certified_gd_shortens_a_step_that_leaves_a_tiny_ball():
    from symlip.torch import CertifiedGD

    X, Y = _digits(30)
    m = _mlp(nn.Tanh, (64, 6, 10))
    opt = CertifiedGD(m, X, Y, "mse", radius=1e-6, max_radius=1e-6, every=1)
    losses = _run_cgd(opt, m, X, Y, 3)
    assert all(r["shortened"] for r in opt.history)
    assert np.all(np.diff(losses) < 0)


def test_certified_gd_refuses_relu_and_missing_gradients():
    from symlip.torch import CertifiedGD

    X, Y = _digits(10)
    m = _mlp(nn.ReLU, (64, 4, 10))
    opt = CertifiedGD(m, X, Y, "mse")
    with pytest.raises(InputError, match="no gradient"):
        opt.step()
    (0.5 * ((m(X) - Y) ** 2).sum(1).mean()).backward()
    with pytest.raises(NotSmoothError):
        opt.step()
    with pytest.raises(InputError, match="radius=0"):
        CertifiedGD(m, X, Y, radius=0.0)


# -- double descent: the Executor path and the CLI --------------------------------------


class _Inline:
    """The smallest executor: runs the task at submit (what a dask Client offers:
    submit returning futures with .result())."""

    def submit(self, fn, *args):
        f = cf.Future()
        f.set_result(fn(*args))
        return f


@pytest.mark.parametrize("make", [lambda: cf.ThreadPoolExecutor(2), _Inline])
def test_double_descent_runs_through_any_executor(make):
    from symlip.app import double_descent as dd

    ex = make()
    res = dd.sweep(dd.TINY, executor=ex)
    assert res["widths"] == list(dd.TINY.widths)
    assert len(res["runs"]) == len(dd.TINY.widths) * len(dd.TINY.seeds)
    for u, lo, lc in zip(res["upper"], res["lower"], res["lower_certified"], strict=True):
        assert u >= lc and u >= lo
    if hasattr(ex, "shutdown"):
        ex.shutdown()


def test_double_descent_cli_json_tiny(tmp_path, capsys, monkeypatch):
    from symlip.cli import main

    monkeypatch.setenv("SYMLIP_DD_TINY", "1")
    assert main(["reproduce", "double-descent", "--quick", "--out", str(tmp_path / "o"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"widths", "test_loss", "upper", "lower"} <= set(out)
    assert len(out["upper"]) == len(out["widths"]) == 3
    for f in ("double_descent.json", "double_descent.csv", "double_descent.png", "runs.csv",
              f"track_w{out['peaks']['test_loss']}.csv"):
        assert (tmp_path / "o" / f).stat().st_size > 0


def test_double_descent_quick_shows_the_peak(tmp_path, capsys):
    """The real --quick sweep (about 70 s of CPU): the test loss and the certified upper
    bound peak at the same interior width and decrease after it.  The sweep alone: the
    CLI's files and the tracked re-training of the peak width are checked on the tiny
    configuration by test_double_descent_cli_json_tiny."""
    from symlip.app import double_descent as dd

    out = dd.sweep(dd.QUICK)
    w = out["widths"]
    it, iu = int(np.argmax(out["test_loss"])), int(np.argmax(out["upper"]))
    assert 0 < it < len(w) - 1 and 0 < iu < len(w) - 1 and abs(it - iu) <= 1
    assert out["test_loss"][-1] < out["test_loss"][it] and out["upper"][-1] < out["upper"][iu]
    assert out["target_met"]


def test_certified_gd_reproduction_quick(tmp_path, capsys):
    """The real --quick comparison: CertifiedGD never increases the training loss."""
    from symlip.cli import main

    assert main(["reproduce", "certified-gd", "--quick", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "never increased" in text
    data = json.loads((tmp_path / "certified_gd.json").read_text())
    assert np.all(np.diff(data["certified"]["loss"]) < 0)
    assert (tmp_path / "certified_gd.png").stat().st_size > 0


def test_reproduce_without_the_train_extra_is_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    from symlip.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else real(name, *a))
    assert main(["reproduce", "double-descent", "--quick", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symlip[train]" in err and "sklearn" in err
    assert not (tmp_path / "o").exists()


def test_guaranteed_decrease_is_read_through_whatever_field_exists():
    from types import SimpleNamespace

    from symlip.arith.enclosure import Enclosure
    from symlip.torch.optim import _guaranteed_decrease

    assert _guaranteed_decrease(SimpleNamespace(guaranteed_decrease=0.25)) == 0.25
    enc = Enclosure.from_floats(0.5, 0.75)
    assert _guaranteed_decrease(SimpleNamespace(decrease_lower=enc)) == 0.5
    assert _guaranteed_decrease(SimpleNamespace()) is None
