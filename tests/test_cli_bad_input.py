"""Bad input to the CLI: one line on stderr, exit code 2, no traceback, and no output
file left behind (``--certificate OUT.json`` of a failing run must not exist)."""

from __future__ import annotations

import numpy as np
import pytest

from symlip.models.io import save
from symlip.models.network import Network
from tests.clirun import run_cli


def run(*args, cwd=None):
    return run_cli(*args, cwd=cwd)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(1)
    W = [rng.standard_normal((6, 2)), rng.standard_normal((1, 6))]
    b = [rng.standard_normal(6), rng.standard_normal(1)]
    save(Network.from_arrays(W, b, "tanh"), d / "ok.npz")
    W[0][2, 1] = np.nan
    arrays = {"0.weight": W[0], "0.bias": b[0], "2.weight": W[1], "2.bias": b[1]}
    np.savez(d / "nan.npz", **arrays)
    (d / "text.txt").write_text("hello\n")
    (d / "text.npz").write_text("hello\n")
    np.save(d / "X.npy", rng.standard_normal((5, 2)))
    np.save(d / "X3.npy", rng.standard_normal((5, 3)))
    np.save(d / "Y.npy", np.zeros((5, 1)))
    (d / "adir").mkdir()
    return d


CASES = {
    "missing model": (["missing.npz"], "missing.npz"),
    "text file": (["text.txt"], "text.txt"),
    "text as npz": (["text.npz"], "text.npz"),
    "nan weights": (["nan.npz", "--activation", "tanh"], "non-finite"),
    "negative radius": (["ok.npz", "--wrt", "params", "--data", "X.npy", "--radius", "-1"],
                        "--radius"),
    "nan radius": (["ok.npz", "--wrt", "params", "--data", "X.npy", "--radius", "nan"],
                   "--radius"),
    "unknown activation": (["ok.npz", "--activation", "foo"], "unknown activation"),
    "relu gradient": (["ok.npz", "--wrt", "gradient", "--activation", "relu", "--data",
                       "X.npy", "--targets", "Y.npy", "--radius", "0.1"], "relu"),
    "data width": (["ok.npz", "--wrt", "params", "--radius", "0.1", "--data", "X3.npy"],
                   "shape"),
    "nan target": (["ok.npz", "--wrt", "params", "--radius", "0.1", "--data", "X.npy",
                    "--target", "nan"], "--target"),
    "data is text": (["ok.npz", "--wrt", "params", "--radius", "0.1", "--data", "text.txt"],
                     "text.txt"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_certify_bad_input(files, name):
    args, needle = CASES[name]
    r = run("certify", *args, "--certificate", "OUT.json", cwd=files)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert needle in r.stderr
    assert not (files / "OUT.json").exists()
    assert not list(files.glob(".OUT.json.*"))


@pytest.mark.parametrize("target,needle", [
    ("adir", "is a directory: adir"),                # not the temporary file's name
    ("text.txt/OUT.json", "text.txt"),               # a parent that is a file
])
def test_certificate_path_errors_are_one_line(files, target, needle):
    r = run("certify", "ok.npz", "--wrt", "params", "--radius", "0.1", "--data", "X.npy",
            "--certificate", target, cwd=files)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert needle in r.stderr, r.stderr
    assert list((files / "adir").iterdir()) == []
    assert not list(files.glob(".adir.*"))


def test_derive_without_depth_says_so():
    r = run("derive", "--activation", "tanh")
    assert r.returncode == 2 and "--depth N" in r.stderr and "None" not in r.stderr


# test_closed_pipe_is_quiet (a real pipe needs a real process) is in test_cli_smoke.py


@pytest.fixture(scope="module")
def certificate(files):
    r = run("certify", "ok.npz", "--wrt", "params", "--radius", "0.1", "--data", "X.npy",
            "--certificate", "good.json", cwd=files)
    assert r.returncode == 0, r.stderr
    import json

    return json.loads((files / "good.json").read_text())


def _lower(c):
    c["result"]["lower"] = "abc"


def _files_list(c):
    c["files"] = []


def _witness(c):
    c["witness"] = {"x": 1}


def _upper(c):
    c["result"]["upper"] = None


@pytest.mark.parametrize("tamper", [_lower, _files_list, _witness, _upper])
def test_verify_malformed_certificate_is_one_line(files, certificate, tamper):
    import copy
    import json

    c = copy.deepcopy(certificate)
    assert c["result"]["lower"] is not None and c["witness"]
    tamper(c)
    (files / "bad.json").write_text(json.dumps(c))
    r = run("verify", "bad.json", "--model", "ok.npz", "--data", "X.npy", cwd=files)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
