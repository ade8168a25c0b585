"""`symlip certify` / `verify` / `activation spline` on spline networks, as a user runs them."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from symlip.activations.spline import spline_network
from symlip.bounds.spline_param import PARAMETER_SET, spline_param_lipschitz
from symlip.models.io import load, save
from tests.clirun import run_cli

HADAMARD = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0


def run(*args):
    return run_cli(*args)


def one_line_error(r, needle):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert needle in r.stderr, r.stderr


def coeffs(slopes, R):
    """Coefficients with exactly these slopes on [-R, R] (from 0 at -R)."""
    T = Fraction(2 * R) / len(slopes)
    c = [Fraction(0)]
    for s in slopes:
        c.append(c[-1] + Fraction(s) * T)
    return np.array([float(v) for v in c])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("spl")
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((5, 3)), rng.standard_normal((4, 5)), rng.standard_normal((2, 4))]
    b = [0.1 * rng.standard_normal(5), 0.1 * rng.standard_normal(4), 0.1 * rng.standard_normal(2)]
    C = [rng.standard_normal((5, 6)), rng.standard_normal(6)]  # per-neuron and shared
    net = spline_network(W, b, C, 1.5)
    save(net, d / "net.safetensors")
    np.save(d / "X.npy", rng.standard_normal((12, 3)))
    # three networks for --target 1: certified, refuted (slope 1.01), undecided
    c = np.stack([coeffs(s, 1.0) for s in ([1, 0, -1, 1], [0, 1, 1, 0], [-1, -1, 0, 0],
                                          [1, 1, 1, 1])])  # T = 1/2: exact doubles
    save(spline_network([HADAMARD, HADAMARD[:1]], [np.zeros(4), [0.0]], [c], 1.0), d / "one.npz")
    bad = coeffs([1, "1.01", "1.01", 0.5], 1.0)
    save(spline_network([[[0.5]], [[2.0]]], [[0.0], [0.0]], [bad], 1.0), d / "refuted.npz")
    ident = np.stack([coeffs([1, 1], 1.0)] * 2)
    save(spline_network([np.diag([1.25, 0.5]), np.diag([0.5, 1.25])], [np.zeros(2)] * 2,
                        [ident], 1.0), d / "undecided.npz")
    return d, net


def test_params_json_names_the_parameter_set_and_matches_the_api(files):
    d, net = files
    r = run("certify", d / "net.safetensors", "--wrt", "params", "--data", d / "X.npy",
            "--radius", "0.05", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["quantity"] == "param_lipschitz_spline" and out["norm"] == "l2"
    assert out["parameters"] == PARAMETER_SET == "weights, biases and spline coefficients"
    n_coef = 5 * 6 + 6
    assert out["n_coefficients"] == n_coef and out["n_parameters"] == net.n_params + n_coef
    assert float(out["lower"]) <= out["estimate"] <= float(out["upper"])
    assert out["lower_parameters"] == PARAMETER_SET  # the lower bound moves all of them
    # one source of truth: the CLI prints the API's number
    api = spline_param_lipschitz(load(d / "net.safetensors"), np.load(d / "X.npy"), 0.05,
                                 lower=False)
    assert out["upper"] == api.enclosure.upper_str()
    # and it is not the coefficients-fixed bound
    from symlip.bounds.param import param_lipschitz

    fixed = param_lipschitz(net, np.load(d / "X.npy"), 0.05, lower=False)
    assert fixed.enclosure.upper < api.enclosure.upper
    text = run("certify", d / "net.safetensors", "--wrt", "params", "--data", d / "X.npy",
               "--radius", "0.05")
    assert text.returncode == 0 and "spline coefficients" in text.stdout


def test_params_certificate_verifies_and_tampering_is_caught(files, tmp_path):
    d, _ = files
    model, data = d / "net.safetensors", d / "X.npy"
    cert = tmp_path / "c.json"
    r = run("certify", model, "--wrt", "params", "--data", data, "--radius", "0.05",
            "--certificate", cert)
    assert r.returncode == 0, r.stderr
    c = json.loads(cert.read_text())
    assert c["quantity"] == "param_lipschitz_spline" and "K_1^(1)" in c["inputs"]
    ok = run("verify", cert, "--model", model, "--data", data)
    assert ok.returncode == 0 and "param_lipschitz_spline" in ok.stdout, ok.stderr

    def tampered(name, **changes):
        p = tmp_path / name
        p.write_text(json.dumps({**c, **changes}))
        return run("verify", p, "--model", model, "--data", data)

    bad = tampered("u.json", result={**c["result"], "upper": "1"})
    assert bad.returncode == 1 and "below" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    bad = tampered("l.json", result={**c["result"], "lower": "1e6"})
    assert bad.returncode == 1 and "lower" in bad.stderr
    # the witness moves weights, biases and coefficients; a tampered one is caught
    w = c["witness"]
    assert w["parameters"] == PARAMETER_SET and "base" in w
    coef = set(range(5 * 3 + 5, 5 * 3 + 5 + 30)) | set(range(20 + 30 + 20 + 4,
                                                              20 + 30 + 20 + 4 + 6))
    assert coef & {i for i, v in zip(w["indices"], w["step"], strict=True) if v}
    # (a step that is not the canonical fl(theta + v) - theta is rejected by its own
    # relation; one leaving the ball is NOT verified, exit 1, since issue #17)
    bad = tampered("w.json", witness={**w, "step": w["step"][::-1]})
    assert bad.returncode == 1 and ("above what its witness proves" in bad.stderr
                                    or "canonical" in bad.stderr)
    bad = tampered("b.json", witness={**w, "step": [3 * v for v in w["step"]]})
    assert bad.returncode == 1 and ("leaves the ball of radius 0.05" in bad.stderr
                                    or "canonical" in bad.stderr)
    bad = tampered("i.json", witness={**w, "indices": [10**6] + w["indices"][1:]})
    assert bad.returncode == 2 and "1000000" in bad.stderr
    # a tampered input enclosure (K1 of the ball) is recomputed, not trusted
    small = {"lower": "0", "upper": "0"}
    bad = tampered("k.json", inputs={**c["inputs"], "K_1^(1)": small},
                   result={**c["result"], "upper": "1"})
    assert bad.returncode == 1
    # claiming the coefficients-fixed quantity: the formula differs
    bad = tampered("q.json", quantity="param_lipschitz")
    assert bad.returncode == 1 and "formula" in bad.stderr
    # a changed spline coefficient changes the file
    import safetensors.numpy as stn

    t = stn.load_file(str(model))
    t["1.coefficients"] = t["1.coefficients"].copy()
    t["1.coefficients"][0, 0] += 1e-9
    changed = tmp_path / "changed.safetensors"
    stn.save_file(t, str(changed))
    bad = run("verify", cert, "--model", changed, "--data", data)
    assert bad.returncode == 1 and "changed" in bad.stderr


@pytest.mark.parametrize("extra", [[], ["--data", "X.npy", "--radius", "0.1"]])
def test_gradient_refuses_with_one_line_and_writes_nothing(files, tmp_path, extra):
    d, _ = files
    extra = [str(d / e) if e.endswith(".npy") else e for e in extra]
    out = tmp_path / "never.json"
    r = run("certify", d / "net.safetensors", "--wrt", "gradient", *extra,
            "--certificate", out)
    one_line_error(r, "K2 = infinity")
    assert "linear-spline" in r.stderr and not out.exists() and r.stdout == ""


def test_gradient_of_affine_splines_refuses(tmp_path):
    p = tmp_path / "affine.npz"
    save(spline_network([np.eye(2), np.eye(2)], [np.zeros(2)] * 2,
                        [np.stack([coeffs([1, 1], 1.0)] * 2)], 1.0), p)
    one_line_error(run("certify", p, "--wrt", "gradient"), "affine")


@pytest.mark.parametrize("name,verdict", [("one", "certified-1-lipschitz"),
                                          ("refuted", "refuted"),
                                          ("undecided", "undecided")])
def test_input_verdict_with_target_1(files, name, verdict):
    d, _ = files
    # "undecided" for the product of layer norms (1.5625 against a true 0.625); the
    # default method adds the verified LipSDP bound, which certifies it (see below)
    method = ["--method", "product"] if name == "undecided" else []
    r = run("certify", d / f"{name}.npz", "--wrt", "input", "--json", "--target", "1", *method)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == verdict
    up = float(out["upper"])
    if verdict == "certified-1-lipschitz":
        assert up <= 1
    elif verdict == "refuted":
        assert float(out["lower"]) > 1
    else:
        assert float(out["lower"]) <= 1 < up and float(out["margin"]) > 0
    plain = run("certify", d / f"{name}.npz", "--wrt", "input")
    assert plain.returncode == 0 and "verdict" not in plain.stdout


def test_activation_spline_prints_constants_and_tv2(tmp_path):
    C = tmp_path / "C.npy"
    np.save(C, np.stack([coeffs([1, 0, -0.5], 1.5), coeffs([0.25, 0.25, 0.25], 1.5)]))
    r = run("activation", "spline", "--coefficients", C, "--range", "1.5")
    assert r.returncode == 0, r.stderr
    for needle in ("K1", "K2", "S0", "tv2", "max_slope", "knots: 4"):
        assert needle in r.stdout
    j = json.loads(run("activation", "spline", "--coefficients", C, "--range", "1.5",
                       "--json").stdout)
    assert j["K1"]["upper"] == "1" and j["K2"]["upper"] == "inf" and j["S0"]["upper"] == "inf"
    assert [t["upper"] for t in j["tv2"]] == ["1.5", "0"]
    assert [t["upper"] for t in j["max_slope"]] == ["1", "0.25"]


@pytest.mark.parametrize("array,rng_arg,needle", [
    (np.zeros((2, 3, 4)), "1", "C.npy: spline coefficients must have shape (neurons, K) "
                               "or (K,), got (2, 3, 4)"),
    (np.zeros((2, 1)), "1", "C.npy: spline coefficients have shape (2, 1)"),
    (np.array([[0.0, np.nan, 1.0]]), "1", "C.npy has a non-finite value nan at index (0, 1)"),
    (np.zeros((2, 4)), "-1", "R=-1.0 must be > 0"),
    (np.zeros((2, 4)), "1,-1", "needs a < b"),
    (np.zeros((2, 4)), "nan", "finite"),
    (np.zeros((2, 4)), "x", "--range 'x'"),
])
def test_activation_spline_bad_input(tmp_path, array, rng_arg, needle):
    C = tmp_path / "C.npy"
    np.save(C, array)
    r = run("activation", "spline", "--coefficients", C, "--range", rng_arg)
    one_line_error(r, needle)


def _write_bad_model(path, spline):
    H = np.eye(2)
    np.savez(path, **{"0.weight": H, "0.bias": np.zeros(2), "2.weight": H[:1],
                      "2.bias": np.zeros(1)}, **spline)


@pytest.mark.parametrize("spline,needle", [
    ({"1.coefficients": np.zeros((2, 3, 4)), "1.grid": np.array([1.0])}, "shape (2, 3, 4)"),
    ({"1.coefficients": np.zeros((3, 4)), "1.grid": np.array([1.0])}, "3 rows"),
    ({"1.coefficients": np.zeros((2, 4)), "1.grid": np.array([1.0, 2.0, 3.0])}, "'1.grid'"),
    ({"1.coefficients": np.zeros((2, 4)), "1.grid": np.array([1.0, -1.0])}, "a < b"),
    ({"1.coefficients": np.zeros((2, 4)), "1.grid": np.array([0.0])}, "R=0.0"),
    ({"1.coefficients": np.zeros((2, 4)), "1.grid": np.array([np.nan])}, "NaN"),
    ({"1.coefficients": np.array([[0, np.nan, 1, 2.0]] * 2), "1.grid": np.array([1.0])},
     "NaN at index [0, 1]"),
    ({"1.coefficients": np.zeros((2, 4))}, "'1.grid'"),
])
@pytest.mark.parametrize("wrt", ["input", "params"])
def test_malformed_spline_model_files(tmp_path, spline, needle, wrt):
    p = tmp_path / "bad.npz"
    _write_bad_model(p, spline)
    np.save(tmp_path / "X.npy", np.zeros((2, 2)))
    out = tmp_path / "cert.json"
    r = run("certify", p, "--wrt", wrt, "--data", tmp_path / "X.npy", "--radius", "0.1",
            "--certificate", out)
    one_line_error(r, needle)
    assert not out.exists()


def test_params_latex_compiles(files, tmp_path):
    import shutil

    d, _ = files
    r = run("certify", d / "net.safetensors", "--wrt", "params", "--data", d / "X.npy",
            "--radius", "0.05", "--latex")
    assert r.returncode == 0, r.stderr
    block = r.stdout[r.stdout.rindex("\\begin{align*}"):]
    assert block.splitlines()[1].startswith("L_{\\mathrm{param,spline}} &=")
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed")
    (tmp_path / "t.tex").write_text("\\documentclass{article}\\usepackage{amsmath,mathtools}"
                                    "\\begin{document}\n" + block + "\n\\end{document}\n")
    tex = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert tex.returncode == 0, tex.stdout[-2000:]


def test_spline_options_are_refused_for_other_activations(tmp_path):
    C = tmp_path / "C.npy"
    np.save(C, np.zeros(3))
    r = run("activation", "tanh", "--coefficients", C, "--range", "1")
    one_line_error(r, "--coefficients and --range are only for activation 'spline', "
                      "not for 'tanh'")
    assert run("activation", "tanh").returncode == 0


def test_lipsdp_decides_what_the_product_leaves_undecided(files):
    d, _ = files
    r = run("certify", d / "undecided.npz", "--wrt", "input", "--json", "--target", "1")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == "certified-1-lipschitz" and out["method"] == "lipsdp"
    assert 0.625 <= float(out["upper"]) <= 1
