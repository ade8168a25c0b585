"""`symlip certify` / `symlip verify` as a user runs them (in-process: tests/clirun.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symlip.models.io import save
from symlip.models.network import Network
from tests.clirun import run_cli


def run(*args, check=False):
    return run_cli(*args, check=check)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("m")
    rng = np.random.default_rng(0)
    net = Network.from_arrays([rng.standard_normal((8, 3)), rng.standard_normal((2, 8))],
                              [rng.standard_normal(8), rng.standard_normal(2)], "tanh")
    path = d / "model.safetensors"
    save(net, path)
    data = rng.standard_normal((20, 3))
    np.save(d / "X.npy", data)
    return d, path, d / "X.npy"


def test_certify_input_json_keys(model):
    d, path, data = model
    r = run("certify", path, "--activation", "tanh", "--wrt", "input", "--data", data, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["quantity"] == "input_lipschitz" and out["norm"] == "l2"
    assert out["certified"] is True
    assert float(out["lower"]) <= out["estimate"] * (1 + 1e-4) and out["estimate"] <= float(out["upper"])
    assert [p["name"] for p in out["per_layer"]] == ["0", "2"]
    assert all("factor_upper" in p for p in out["per_layer"])


def test_certify_latex_has_numbers(model):
    d, path, data = model
    r = run("certify", path, "--activation", "tanh", "--data", data, "--latex")
    assert r.returncode == 0, r.stderr
    assert "\\begin{align*}" in r.stdout and "certified" in r.stdout


def test_certificate_verifies_and_tampering_is_caught(model, tmp_path):
    d, path, data = model
    cert = tmp_path / "cert.json"
    r = run("certify", path, "--activation", "tanh", "--data", data, "--certificate", cert)
    assert r.returncode == 0, r.stderr
    c = json.loads(cert.read_text())
    assert len(c["files"]["model"]["sha256"]) == 64 and "data" in c["files"]
    assert c["formula"]["srepr"] and c["formula"]["latex"]
    ok = run("verify", cert, "--model", path, "--data", data)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # a tampered upper bound
    c2 = dict(c, result=dict(c["result"], upper="0.001"))
    (tmp_path / "t1.json").write_text(json.dumps(c2))
    bad = run("verify", tmp_path / "t1.json", "--model", path, "--data", data)
    assert bad.returncode == 1 and "below" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    # a tampered lower bound
    c3 = dict(c, result=dict(c["result"], lower="1e6"))
    (tmp_path / "t2.json").write_text(json.dumps(c3))
    bad = run("verify", tmp_path / "t2.json", "--model", path, "--data", data)
    assert bad.returncode == 1 and "lower" in bad.stderr
    # a changed weight
    import safetensors.numpy as stn

    tensors = stn.load_file(str(path))
    tensors["0.weight"] = tensors["0.weight"].copy()
    tensors["0.weight"][0, 0] += 1e-9
    changed = tmp_path / "changed.safetensors"
    stn.save_file(tensors, str(changed))
    bad = run("verify", cert, "--model", changed, "--data", data)
    assert bad.returncode == 1 and "changed" in bad.stderr


@pytest.mark.parametrize("args,needle", [
    (["--activation", "nope"], "unknown activation"),
    (["--activation", "tanh", "--input-radius", "-1"], "input-radius"),
])
def test_bad_input_one_line_exit_2(model, args, needle):
    d, path, data = model
    r = run("certify", path, "--data", data, *args)
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_data_file(model, tmp_path):
    d, path, _ = model
    np.save(tmp_path / "bad.npy", np.ones((4, 5)))
    r = run("certify", path, "--activation", "tanh", "--data", tmp_path / "bad.npy")
    assert r.returncode == 2 and "shape" in r.stderr and "Traceback" not in r.stderr
    x = np.ones((4, 3))
    x[0, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    r = run("certify", path, "--activation", "tanh", "--data", tmp_path / "nan.npy")
    assert r.returncode == 2 and "non-finite" in r.stderr


def test_verify_malformed_certificate(model, tmp_path):
    d, path, data = model
    (tmp_path / "junk.json").write_text("{not json")
    r = run("verify", tmp_path / "junk.json", "--model", path)
    assert r.returncode == 2 and "not valid JSON" in r.stderr


def test_target_gives_a_verdict_for_params_too(model):
    from fractions import Fraction

    d, path, data = model
    base = ["certify", path, "--activation", "tanh", "--wrt", "params", "--data", data,
            "--radius", "0.3", "--json"]
    out = json.loads(run(*base, check=True).stdout)
    # the radius the user wrote is contained in the certified ball
    assert Fraction(out["radius"]) >= Fraction("0.3")
    up, lo = Fraction(out["upper"]), Fraction(out["lower"])
    above = json.loads(run(*base, "--target", str(float(up) * 2), check=True).stdout)
    below = json.loads(run(*base, "--target", str(float(lo) / 2), check=True).stdout)
    assert above["verdict"].startswith("certified") and below["verdict"] == "refuted"


def test_local_bound_is_recorded_and_reverified(model, tmp_path):
    d, path, data = model
    cert = tmp_path / "local.json"
    r = run("certify", path, "--activation", "tanh", "--data", data, "--input-radius", "0.01",
            "--json", "--certificate", cert)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    c = json.loads(cert.read_text())
    assert c["result"]["local_upper"] == out["local_upper"]
    assert float(out["local_upper"]) <= float(out["upper"])
    ok = run("verify", cert, "--model", path, "--data", data)
    assert ok.returncode == 0 and "local bound" in ok.stdout, ok.stdout + ok.stderr
    # a tampered local bound: below what the model gives on the balls
    t = tmp_path / "t_local.json"
    t.write_text(json.dumps(dict(c, result=dict(c["result"], local_upper="0.001"))))
    bad = run("verify", t, "--model", path, "--data", data)
    assert bad.returncode == 1 and "local bound" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    # a larger radius in the options: the recorded local bound no longer holds
    big = tmp_path / "t_radius.json"
    big.write_text(json.dumps(dict(c, options=dict(c["options"], input_radius=10.0),
                                   result=dict(c["result"], input_radius=10.0))))
    bad = run("verify", big, "--model", path, "--data", data)
    assert bad.returncode == 1 and "local bound" in bad.stderr
    # a non-numeric local bound is a malformed certificate (exit 2)
    m = tmp_path / "t_malformed.json"
    m.write_text(json.dumps(dict(c, result=dict(c["result"], local_upper="abc"))))
    bad = run("verify", m, "--model", path, "--data", data)
    assert bad.returncode == 2 and "local_upper" in bad.stderr
