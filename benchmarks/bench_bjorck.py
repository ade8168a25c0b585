"""Certified epsilon of Björck-orthonormalised layers: ||W||_2 <= 1 + eps after 15 steps.

Run: python benchmarks/bench_bjorck.py  (prints two Markdown tables; ~1 minute)

For random Gaussian matrices, scaled by the Frobenius norm (so the exact iteration stays
1-Lipschitz) or by the largest singular value, 15 iterations of
W <- 3/2 W - 1/2 W W^T W in float64 and float32; the table gives the certified
enclosure of ||W||_2 - 1 (symlip.arith.norms.spectral_norm: lower end rounded down, upper end
rounded up) and the verdict on "the layer is 1-Lipschitz".

The second table certifies whole spline networks against the target 1, exactly as
``symlip certify MODEL --wrt input --json --target 1`` does (the network is saved to a
model file and the CLI is run): verdict, certified upper and lower bound, per network:
a hand-built 1-Lipschitz network (Hadamard/2 and permutation layers, slopes in
{-1, 0, 1}), the same chain with one slope 1.01, and a 16-32-32-4 network of Björck
layers (15 iterations, float64 / float32 weights) with 1-Lipschitz splines (random
coefficients projected onto max |slope| <= 1 by ``project_slopes``).
"""

from __future__ import annotations

import time

import mpmath
import numpy as np

from symlip.models.lipschitz_layers import bjorck_orthonormalize, layer_epsilon

SHAPES = [(16, 16), (64, 64), (256, 256), (512, 512), (128, 32), (32, 128), (784, 256)]


def _chain(slopes: list, R: float) -> np.ndarray:
    """Coefficients from 0 at -R with the given slopes (decimal strings are exact)."""
    from fractions import Fraction

    T = Fraction(2 * R) / len(slopes)
    c = [Fraction(0)]
    for s in slopes:
        c.append(c[-1] + Fraction(s) * T)
    return np.array([float(v) for v in c])


def networks() -> dict:
    """The networks of the second table, by name."""
    from symlip.activations.spline import project_slopes
    from symlip.models.lipschitz_layers import bjorck_orthonormalize
    from symlip.models.network import spline_network

    H = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0
    c = np.stack([_chain(s, 2.0) for s in
                  ([1, 0, -1, 1], [0, 0, 1, 1], [-1, -1, -1, -1], [1, 1, 0, 0])])
    out = {"hand-built 1-Lipschitz (4-4-4-2)": spline_network(
        [H, np.eye(4)[[1, 2, 3, 0]], H[:2]], [np.zeros(4), np.ones(4) * 0.5, np.zeros(2)],
        [c, c[::-1]], 2.0)}
    out["one slope 1.01 (1-1-1)"] = spline_network(
        [[[0.5]], [[2.0]]], [[0.0], [0.0]], [_chain([1, "1.01", "1.01", "0.5"], 1.0)], 1.0)
    rng = np.random.default_rng(1)
    widths = [16, 32, 32, 4]
    raw = [rng.standard_normal((m, n)) for n, m in zip(widths, widths[1:], strict=False)]
    b = [0.1 * rng.standard_normal(m) for m in widths[1:]]
    C = [project_slopes(rng.standard_normal((m, 21)), 2.0, 1.0) for m in widths[1:-1]]
    for dtype in (np.float64, np.float32):
        W = [bjorck_orthonormalize(w, iters=15, scaling="frobenius", dtype=dtype) for w in raw]
        name = f"Björck 15 it. {np.dtype(dtype).name} (16-32-32-4)"
        out[name] = spline_network(W, [v.astype(dtype) for v in b], C, 2.0)
    return out


def network_table() -> None:
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from symlip.models.io import save

    print()
    print("| network | verdict (target 1) | certified upper | certified lower | margin |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, net in networks().items():
            path = Path(tmp) / "m.npz"
            save(net, path)
            r = subprocess.run([sys.executable, "-m", "symlip", "certify", str(path),
                                "--wrt", "input", "--json", "--target", "1"],
                               capture_output=True, text=True, check=True)
            d = json.loads(r.stdout)
            print(f"| {name} | {d['verdict']} | {d['upper']} | {d['lower']} | "
                  f"{d['margin']} |")


def main() -> None:
    rng = np.random.default_rng(0)
    print("| shape | dtype | start scaling | ||W||_2 - 1 (certified enclosure) | "
          "1-Lipschitz | time |")
    print("|---|---|---|---|---|---|")
    for shape in SHAPES:
        W = rng.standard_normal(shape)
        for dtype in (np.float64, np.float32):
            for scaling in ("frobenius", "top singular value"):
                W0 = W / np.linalg.norm(W, 2) if scaling != "frobenius" else W
                t = time.perf_counter()
                B = bjorck_orthonormalize(W0, iters=15, dtype=dtype,
                                          scaling="frobenius" if scaling == "frobenius"
                                          else "none")
                info = layer_epsilon(B)
                e = info["norm"]
                lo = mpmath.nstr(mpmath.fsub(e.lower, 1, exact=True), 3)
                hi = info["epsilon_upper"]
                dt = time.perf_counter() - t
                print(f"| {shape[0]}x{shape[1]} | {np.dtype(dtype).name} | {scaling} | "
                      f"[{lo}, {hi}] | {info['one_lipschitz']} | {dt:.2f} s |")


if __name__ == "__main__":
    main()
    network_table()
