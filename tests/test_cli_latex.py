"""`symlip certify --latex`: the closing chain L = F <= U holds as written (the 8-digit
evaluation of F is not a link of it: it can exceed the certified U)."""

from __future__ import annotations

import numpy as np

from symlip.models.io import save
from symlip.models.network import Network
from tests.clirun import run_cli


def test_latex_chain_ends_with_the_certified_bound(tmp_path):
    rng = np.random.default_rng(2)
    W = [rng.standard_normal((5, 2)), rng.standard_normal((1, 5))]
    b = [rng.standard_normal(5), rng.standard_normal(1)]
    save(Network.from_arrays(W, b, "tanh"), tmp_path / "m.npz")
    np.save(tmp_path / "X.npy", rng.standard_normal((4, 2)))
    r = run_cli("certify", "m.npz", "--wrt", "params",
                "--radius", "0.1", "--data", "X.npy", "--latex", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    block = r.stdout.rsplit("\\begin{align*}", 1)[1].split("\\end{align*}")[0]
    rows = [row.strip() for row in block.strip().split("\\\\\n")]
    assert rows[0].startswith("L_{") and "&=" in rows[0]
    assert rows[1].startswith("&\\le ") and "certified, rounded up" in rows[1]
    # every row after the certified one starts a new statement (has its own left side)
    assert all(not row.startswith("&") for row in rows[2:]), rows
