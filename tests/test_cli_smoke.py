"""The ``symlip`` command as a user starts it: a real ``python -m symlip`` process, one per
verb at most.

Every other CLI test runs in-process through :func:`tests.clirun.run_cli` (``main(argv)``,
same exit codes, stdout and stderr); these few check what only a fresh process shows: the
entry point, a real closed pipe, and that certify -> verify round-trips through files with
nothing on stderr (no warning, no traceback) and a bad input is one line and exit 2.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import symlip
from symlip.models.io import save
from symlip.models.network import Network


def symlip_process(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symlip", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("smoke")
    rng = np.random.default_rng(0)
    net = Network.from_arrays([rng.standard_normal((5, 2)), rng.standard_normal((1, 5))],
                              [rng.standard_normal(5), rng.standard_normal(1)], "tanh")
    save(net, d / "m.npz")
    np.save(d / "X.npy", rng.standard_normal((4, 2)))
    return d


def test_version_entry_point():
    r = symlip_process("--version")
    assert r.returncode == 0 and symlip.__version__ in r.stdout, r.stderr


def test_closed_pipe_is_quiet():
    """`symlip activation tanh | head -1`: no BrokenPipeError traceback."""
    p = subprocess.Popen([sys.executable, "-m", "symlip", "activation", "tanh"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader goes away before the table is printed
    err = p.stderr.read().decode()
    p.wait(timeout=300)
    p.stderr.close()
    assert "Traceback" not in err, err


def test_certify_then_verify_through_files(files):
    r = symlip_process("certify", "m.npz", "--wrt", "params", "--radius", "0.1", "--data",
                       "X.npy", "--json", "--certificate", "c.json", cwd=files)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    out = json.loads(r.stdout)
    assert float(out["upper"]) > 0
    r = symlip_process("verify", "c.json", "--model", "m.npz", "--data", "X.npy", cwd=files)
    assert r.returncode == 0 and r.stderr == "", r.stdout + r.stderr


def test_bad_input_is_one_line_exit_2(files):
    r = symlip_process("norms", "missing.npz", cwd=files)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "missing.npz" in r.stderr
