"""Regression tests of the small bugs of issue #19 (empty .npy files, Björck default
scaling, standalone LaTeX, asterisks in the .tex theory pages, certify progress)."""

from __future__ import annotations

import numpy as np
import pytest

from symlip.cli import main
from symlip.io import save
from symlip.lipschitz_layers import bjorck_orthonormalize
from symlip.network import Network


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("i19")
    rng = np.random.default_rng(1)
    W = [rng.standard_normal((6, 2)), rng.standard_normal((1, 6))]
    b = [rng.standard_normal(6), rng.standard_normal(1)]
    save(Network.from_arrays(W, b, "tanh"), d / "ok.npz")
    (d / "zero.npy").write_bytes(b"")
    np.save(d / "empty.npy", np.zeros((0, 2)))
    np.save(d / "X.npy", rng.standard_normal((5, 2)))
    return d


def _one_line_error(capsys, argv, needle):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err


@pytest.mark.parametrize("name,needle", [("zero.npy", "is empty (0 bytes)"),
                                         ("empty.npy", "empty array of shape (0, 2)")])
def test_empty_npy_data_is_one_line(files, capsys, name, needle):
    _one_line_error(capsys, ["certify", files / "ok.npz", "--wrt", "params", "--radius",
                             "0.1", "--data", files / name], needle)
    assert not (files / "OUT.json").exists()


@pytest.mark.parametrize("name,needle", [("zero.npy", "is empty (0 bytes)"),
                                         ("empty.npy", "empty array of shape (0, 2)")])
def test_empty_npy_coefficients_is_one_line(files, capsys, name, needle):
    _one_line_error(capsys, ["activation", "spline", "--coefficients", files / name,
                             "--range", "1"], needle)


def test_bjorck_default_scaling_converges_on_randn():
    """The default scaling divides by a cheap upper bound of ||W||_2, so the iteration
    never diverges; rectangular Gaussian matrices (well conditioned) are orthonormal
    after the default 15 iterations, square ones (smaller sigma_min) after 60."""
    rng = np.random.default_rng(19)
    W = rng.standard_normal((8, 4))
    B = bjorck_orthonormalize(W)
    assert np.allclose(B.T @ B, np.eye(4), atol=1e-10)
    for _ in range(60):
        m = int(rng.integers(1, 40))
        n = int(rng.integers(1, 40))
        if max(m, n) < 2 * min(m, n):  # near square: slow on small singular values
            iters = 80
        else:
            iters = 15
        W = rng.standard_normal((m, n)) * float(rng.choice([1e-3, 1.0, 1e3]))
        B = bjorck_orthonormalize(W, iters=iters)
        G = B.T @ B if m >= n else B @ B.T
        assert np.allclose(G, np.eye(min(m, n)), atol=1e-9), (m, n)
        # float32 input stays float32 and converges to its own precision
        B32 = bjorck_orthonormalize(W.astype(np.float32), iters=iters)
        G32 = (B32.T @ B32 if m >= n else B32 @ B32.T).astype(np.float64)
        assert np.allclose(G32, np.eye(min(m, n)), atol=1e-4), (m, n)
