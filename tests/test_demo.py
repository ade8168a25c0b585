"""`symlip demo` end to end: the report folder, the refusal, --force, the shipped model."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from symlip.app.demo import demo_files, load_demo, run_demo
from symlip.errors import InputError
from tests.clirun import run_cli as _run_cli

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(*args, cwd):
    return _run_cli(*args, cwd=cwd)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One full `symlip demo` run (default folder name) (in-process, tests/clirun.py)."""
    cwd = tmp_path_factory.mktemp("demo")
    r = run_cli("demo", cwd=cwd)
    return cwd, r


def test_demo_writes_the_report(report):
    cwd, r = report
    assert r.returncode == 0, r.stderr
    out = cwd / "symlip-report"
    for name in ("report.md", "report.tex", "summary.json", "radius_sweep.png",
                 "layer_factors.png", "activation.png", "demo_model.npz", "demo_x.npy",
                 "demo_y.npy", "certificates/input.json", "certificates/params.json",
                 "certificates/gradient.json"):
        assert (out / name).is_file(), name
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
    md = (out / "report.md").read_text()
    for png in ("radius_sweep.png", "layer_factors.png", "activation.png"):
        assert f"]({png})" in md
    tex = (out / "report.tex").read_text()
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert tex.count("\\begin{") == tex.count("\\end{")
    # no staging folder left behind
    assert not [p for p in cwd.iterdir() if p.name.endswith(".partial")]


def test_demo_prints_summary_and_verified_certificates(report):
    _, r = report
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["quantity", "certified", "upper"]
    assert any(ln.startswith("param Lipschitz") for ln in lines)
    assert "certificates: 3 of 3 verified" in r.stdout
    assert "Traceback" not in r.stderr


def test_certificates_verify_from_the_report_folder(report):
    cwd, _ = report
    out = cwd / "symlip-report"
    r = run_cli("verify", "certificates/params.json", "--model", "demo_model.npz",
                "--data", "demo_x.npy", cwd=out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("verified")


def test_demo_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = run_cli("demo", "--out", out, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "not empty" in err[0] and "--force" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


def test_demo_refuses_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        run_demo(f)


def test_force_overwrites_report_files_and_keeps_others(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "report.md").write_text("old")
    with pytest.raises(InputError, match="not empty"):
        run_demo(out, radii=[1e-3, 1e-1], certificates=False)
    res = run_demo(out, force=True, radii=[1e-3, 1e-1], certificates=False)
    assert (out / "keep.txt").read_text() == "mine"
    assert (out / "report.md").read_text().startswith("# symlip demo report")
    assert (out / "radius_sweep.png").is_file()
    assert len(res.params) == len(res.grads) == 2
    # printed certified numbers are rounded outward: upper strings >= the enclosure's
    # upper end, lower strings <= the lower end
    row = res.summary[0]
    assert Fraction(row[1]) >= Fraction(res.input.enclosure.upper_float)
    assert Fraction(row[2]) <= Fraction(res.input.lower_enclosure.lower_float)
    # bounds against lower bounds: no slack
    for p in res.params:
        assert p.lower <= p.upper and p.estimate <= p.upper


def test_shipped_model_is_what_the_training_script_makes():
    # The data are reproduced bit for bit. The 3000 Adam steps amplify last-bit BLAS
    # differences between machines (seen: weights differing by 1e-2 under another NumPy
    # build), so the trained weights are compared by what they achieve, not bitwise:
    # the retrained model fits as well as the shipped one; and training is deterministic
    # on one machine (two runs agree exactly).
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import train_demo_model as tdm
    finally:
        sys.path.pop(0)
    Ws, bs, x, y, hist = tdm.train()
    net, X, Y = load_demo()
    np.testing.assert_array_equal(X, x)
    np.testing.assert_array_equal(Y, y)
    assert [layer.weight.shape for layer in net.layers] == [W.shape for W in Ws]
    shipped = 0.5 * float(np.mean((net.forward(X) - Y) ** 2))
    assert hist[-1] < 0.002  # trained: mean 1/2 squared error near the noise level
    assert abs(hist[-1] - shipped) <= 0.1 * shipped, (hist[-1], shipped)
    Ws2, bs2, *_ = tdm.train(steps=50)
    Ws3, bs3, *_ = tdm.train(steps=50)
    for a, b in zip(Ws2 + bs2, Ws3 + bs3, strict=True):
        np.testing.assert_array_equal(a, b)
    assert set(demo_files()) == {"model", "data", "targets"}
