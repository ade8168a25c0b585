"""symlip.torch (issue #15): spline modules, 1-Lipschitz layers, export, reproduction."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from symlip.activations.spline import LinearSpline as NpSpline  # noqa: E402
from symlip.activations.spline import clip_slopes, project_slopes  # noqa: E402
from symlip.torch.layers import (  # noqa: E402
    GroupSort,
    LinearSpline,
    bjorck,
    clip_slopes_torch,
    spectral_bound,
    tv2_torch,
)
from symlip.torch.models import LipschitzMLP  # noqa: E402


def _rand_coeffs(rng, n=4, K=11, scale=0.3):
    return np.cumsum(rng.standard_normal((n, K)) * scale, axis=1)


# -- spline module ----------------------------------------------------------------------

def test_tv2_matches_numpy():
    rng = np.random.default_rng(0)
    c = _rand_coeffs(rng)
    for R in (0.5, 1.0, 3.0):
        sp = NpSpline(c, R)
        got = tv2_torch(torch.from_numpy(c), sp.step).numpy()
        np.testing.assert_allclose(got, sp.estimate_tv2(), rtol=1e-13, atol=0)
        # the module's term is the same function of its effective coefficients
        m = LinearSpline(4, 11, R, constraint="none", dtype=torch.float64)
        with torch.no_grad():
            m.coefficients.copy_(torch.from_numpy(c))
        np.testing.assert_allclose(m.tv2().detach().numpy(), sp.estimate_tv2(), rtol=1e-13)


def test_clip_map_matches_numpy_float_map():
    rng = np.random.default_rng(1)
    c = _rand_coeffs(rng, 5, 21, 0.5)
    R = 0.5
    T = NpSpline(c, R).step
    got = clip_slopes_torch(torch.from_numpy(c), T).numpy()
    ref = clip_slopes(c, R, exact=False)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-14)
    # and within rounding of the exact map, same mean, slopes clipped to 1
    np.testing.assert_allclose(got, clip_slopes(c, R), rtol=0, atol=1e-13)
    np.testing.assert_allclose(got.mean(axis=1), c.mean(axis=1), atol=1e-14)
    assert np.abs(np.diff(got, axis=1)).max() <= T * (1 + 1e-12)


def test_project_mode_is_symlip_projection():
    rng = np.random.default_rng(2)
    c = _rand_coeffs(rng, 3, 9, 0.6)
    m = LinearSpline(3, 9, 1.0, constraint="project", dtype=torch.float64)
    with torch.no_grad():
        m.coefficients.copy_(torch.from_numpy(c))
    m.constrain_()
    np.testing.assert_array_equal(m.coefficients.detach().numpy(), project_slopes(c, 1.0))
    assert m.to_symlip().constants.K1.exact <= 1


@pytest.mark.parametrize("constraint", ["clip", "none"])
def test_forward_equals_symlip_spline(constraint):
    rng = np.random.default_rng(3)
    c = _rand_coeffs(rng, 4, 11)
    m = LinearSpline(4, 11, 0.5, constraint=constraint, dtype=torch.float64)
    with torch.no_grad():
        m.coefficients.copy_(torch.from_numpy(c))
    z = rng.uniform(-1.5, 1.5, (200, 4))
    z[:5] = NpSpline(c, 0.5).knot_positions()[:5, None]  # exactly at knots
    ceff = m.effective_coefficients().detach().numpy()
    ref = NpSpline(ceff, 0.5).sigma(z)
    got = m(torch.from_numpy(z)).detach().numpy()
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("init,fn", [("relu", lambda t: np.maximum(t, 0)),
                                     ("identity", lambda t: t), ("abs", np.abs)])
def test_inits(init, fn):
    m = LinearSpline(3, 11, 0.5, init=init, dtype=torch.float64)
    z = np.linspace(-2, 2, 41)[:, None].repeat(3, axis=1)
    np.testing.assert_allclose(m(torch.from_numpy(z)).detach().numpy(), fn(z), atol=1e-15)
    assert 0.999 < m.to_symlip().constants.K1.exact <= 1


def test_gradients_reach_coefficients_and_inputs():
    m = LinearSpline(2, 7, 1.0, dtype=torch.float64)
    z = torch.tensor([[0.1, -0.7], [3.0, -2.0]], dtype=torch.float64, requires_grad=True)
    m(z).sum().backward()
    assert m.coefficients.grad is not None and torch.isfinite(m.coefficients.grad).all()
    assert z.grad is not None


def test_bad_arguments():
    from symlip.errors import InputError

    with pytest.raises(InputError, match="knots=2"):
        LinearSpline(3, 2)
    with pytest.raises(InputError, match="constraint='exact'"):
        LinearSpline(3, 11, constraint="exact")
    with pytest.raises(InputError, match="even hidden widths"):
        LipschitzMLP([2, 5, 1], "groupsort")
    with pytest.raises(InputError, match="neurons"):
        LinearSpline(3, 11)(torch.zeros(2, 4))


# -- Björck / GroupSort ---------------------------------------------------------------

def test_bjorck_gradcheck():
    torch.manual_seed(0)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: bjorck(a, iters=6), (w,))
    v = torch.randn(3, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: bjorck(a, iters=6), (v,))


def test_bjorck_converges_and_scaling_bounds_norm():
    torch.manual_seed(1)
    for shape in [(8, 4), (4, 8), (10, 10), (1, 10)]:
        w = torch.randn(*shape, dtype=torch.float64) * 10
        assert float(spectral_bound(w)) >= float(torch.linalg.matrix_norm(w, 2))
        q = bjorck(w, iters=40)
        s = torch.linalg.svdvals(q)
        assert torch.allclose(s, torch.ones_like(s), atol=1e-10)


def test_groupsort_sorts_pairs():
    z = torch.tensor([[3.0, 1.0, -1.0, 2.0]])
    assert GroupSort()(z).tolist() == [[1.0, 3.0, -1.0, 2.0]]


# -- export ---------------------------------------------------------------------------

@pytest.mark.parametrize("act", ["relu", "groupsort", "abs", "spline"])
def test_export_forward_matches_torch(act):
    from symlip.torch.export import to_network

    torch.manual_seed(0)
    m = LipschitzMLP([3, 6, 6, 2], act, spline={"knots": 11, "grid_range": 1.0},
        dtype=torch.float64)
    if act == "spline":
        with torch.no_grad():
            for s in m.splines():
                s.coefficients.add_(0.05 * torch.randn_like(s.coefficients))
    x = np.random.default_rng(0).standard_normal((50, 3))
    ref = m(torch.from_numpy(x)).detach().numpy()
    raw = to_network(m, normalise=False).forward(x)
    np.testing.assert_allclose(raw, ref, atol=1e-12)
    net = to_network(m)  # certified-normalised: within float tolerance of the model
    np.testing.assert_allclose(net.forward(x), ref, atol=1e-6)


@pytest.mark.parametrize("act", ["relu", "groupsort", "abs", "spline"])
def test_export_certified_and_verifies(act, tmp_path, capsys):
    from symlip.cli import main
    from symlip.torch.export import export

    torch.manual_seed(1)
    m = LipschitzMLP([4, 6, 6, 2], act, spline={"knots": 11, "grid_range": 0.5},
        dtype=torch.float64)
    if act == "spline":  # slopes above 1 before the export: the projection must fix them
        with torch.no_grad():
            for s in m.splines():
                s.coefficients.mul_(1.5)
        m.splines()[0].constraint = "none"
    path = tmp_path / f"{act}.safetensors"
    export(m, path)
    cert = tmp_path / "cert.json"
    assert main(["certify", str(path), "--wrt", "input", "--target", "1", "--json",
                 "--certificate", str(cert)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "certified-1-lipschitz"
    assert main(["verify", str(cert), "--model", str(path)]) == 0


def test_certify_model_api():
    from symlip.torch.export import certify_model

    torch.manual_seed(2)
    m = LipschitzMLP([2, 4, 1], "spline", spline={"knots": 5, "grid_range": 1.0},
        dtype=torch.float64)
    res = certify_model(m, np.zeros((2, 2)))
    assert res.extra["verdict"] == "certified-1-lipschitz"


# -- training and the reproduction ----------------------------------------------------

def test_training_reduces_loss():
    from symlip.torch.train import train_regression

    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 64, dtype=torch.float64)[:, None]
    y = x.abs() - 0.5
    m = LipschitzMLP([1, 4, 1], "spline", spline={"knots": 11, "grid_range": 1.0},
        dtype=torch.float64)
    h = train_regression(m, x, y, epochs=8, batch_size=32, lr=1e-2, tv2_weight=1e-6)
    assert h[-1] < h[0]


def test_reproduce_quick_cli(tmp_path, capsys, monkeypatch):
    from symlip.app import splines_1d
    from symlip.cli import main

    tiny = dict(splines_1d.CONFIGS["quick"], n_train=64, n_test=101, epochs=2,
                batch_size=32, knots=11)
    monkeypatch.setitem(splines_1d.CONFIGS, "quick", tiny)
    out = tmp_path / "r"
    assert main(["reproduce", "splines-1d", "--quick", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"targets", "verdicts"}
    assert set(res["targets"]) == set(splines_1d.TARGETS)
    for row in res["targets"].values():
        assert set(row) == {"relu", "groupsort", "spline"}
        assert all(np.isfinite(v) for v in row.values())
    assert len(res["verdicts"]) == 9
    assert set(res["verdicts"].values()) == {"certified-1-lipschitz"}
    assert (out / "fits.png").stat().st_size > 0
    assert (out / "models" / "spline-slope1.safetensors").exists()


@pytest.mark.skipif(not os.environ.get("SYMLIP_SLOW"), reason="set SYMLIP_SLOW=1: the "
                    "real --quick reproduction (about a minute of CPU)")
def test_reproduce_quick_claims(tmp_path, capsys):
    from symlip.app.splines_1d import KINK_TARGETS
    from symlip.cli import main

    assert main(["reproduce", "splines-1d", "--quick", "--out", str(tmp_path),
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    for name in KINK_TARGETS:
        row = res["targets"][name]
        assert row["spline"] < row["relu"] and row["spline"] < row["groupsort"], row
    assert set(res["verdicts"].values()) == {"certified-1-lipschitz"}


def test_digits_quick(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    from symlip.app import splines_digits

    tiny = dict(splines_digits.CONFIGS["quick"], widths=[64, 8, 10], epochs=1)
    monkeypatch.setitem(splines_digits.CONFIGS, "quick", tiny)
    monkeypatch.setattr(splines_digits, "ARCHS", ("spline",))
    res = splines_digits.run(tmp_path, quick=True, progress=False)
    assert res["verdicts"]["spline"] == "certified-1-lipschitz"
    acc = res["robust_accuracy"]["spline"]
    assert acc["0"] >= acc["0.1"] >= acc["0.25"] >= acc["0.5"]
    assert "spline" in splines_digits.summary_text(res)


def test_spectral_norm_layers_export_certified():
    import symlip.torch as st
    from symlip.torch.export import certify_model

    assert st.LinearSpline is LinearSpline and st.LipschitzMLP is LipschitzMLP
    torch.manual_seed(3)
    m = st.LipschitzMLP([3, 6, 2], "spline", linear="spectral",
                        spline={"knots": 7, "grid_range": 1.0}, dtype=torch.float64)
    for _ in range(5):  # power iterations run in training mode
        m(torch.zeros(1, 3, dtype=torch.float64))
    m.eval()
    assert certify_model(m).extra["verdict"] == "certified-1-lipschitz"


def test_reproduce_without_torch_is_one_line(tmp_path, monkeypatch, capsys):
    """A core install (no 'train' extra): one line naming the extra, exit 2."""
    import sys

    from symlip.cli import main

    for name in [m for m in sys.modules if m.startswith(("symlip.app.", "symlip.torch."))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails
    assert main(["reproduce", "splines-1d", "--quick", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symlip[train]" in err and "torch" in err
