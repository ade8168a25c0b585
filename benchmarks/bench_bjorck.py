"""Certified epsilon of Björck-orthonormalised layers: ||W||_2 <= 1 + eps after 15 steps.

Run: python benchmarks/bench_bjorck.py  (prints a Markdown table; ~1 minute)

For random Gaussian matrices, scaled by the Frobenius norm (so the exact iteration stays
1-Lipschitz) or by the largest singular value, 15 iterations of
W <- 3/2 W - 1/2 W W^T W in float64 and float32; the table gives the certified
enclosure of ||W||_2 - 1 (symlip.norms.spectral_norm: lower end rounded down, upper end
rounded up) and the verdict on "the layer is 1-Lipschitz".
"""

from __future__ import annotations

import time

import mpmath
import numpy as np

from symlip.lipschitz_layers import bjorck_orthonormalize, layer_epsilon

SHAPES = [(16, 16), (64, 64), (256, 256), (512, 512), (128, 32), (32, 128), (784, 256)]


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
