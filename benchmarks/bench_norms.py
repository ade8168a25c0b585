"""Certified matrix norms vs NumPy's (uncertified) floating-point norms, side by side.

Run:  python benchmarks/bench_norms.py [--repeat N] [--quick]

For each Gaussian matrix it times ``numpy.linalg.norm(W, 2)`` (a full SVD) and
``symlip.arith.norms.spectral_norm(W)`` (Gram + eigvalsh + shifted Cholesky with rigorous
rounding-error bounds), alternating the two, and reports the best of N runs of each,
their ratio (target <= 1.0), the relative gap (hi - lo) / hi of the certified enclosure
(target <= 1e-8), the Gram size and the number of Cholesky factorisations.  A second
table does the same for the Frobenius, 1 and infinity norms.  NumPy/BLAS use their
default threads (all cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from symlip.arith.norms import _spectral_norm_info, frobenius_norm, norm_1, norm_inf


def best_of(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Best wall time of each function, running them alternately ``repeat`` times."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def rel_gap(e) -> float:
    return float((e.upper - e.lower) / e.upper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing (best is kept)")
    ap.add_argument("--quick", action="store_true", help="smaller matrices (a smoke run)")
    args = ap.parse_args()
    shapes = (
        [(256, 256), (512, 512), (1024, 128), (128, 1024)]
        if args.quick
        else [(1024, 1024), (2048, 2048), (4096, 512), (512, 4096)]
    )
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}, python {platform.python_version()}, {os.cpu_count()} cpus")
    print(f"best of {args.repeat} alternating runs; Gaussian N(0,1) entries\n")

    hdr = (
        f"{'shape':>11} | {'norm(W,2) s':>11} | {'certified s':>11} | {'ratio':>6} | "
        f"{'rel gap':>8} | {'gram':>5} | {'chol':>4} | enclosure of ||W||_2"
    )
    print("spectral norm: numpy.linalg.norm(W, 2) vs symlip.arith.norms.spectral_norm(W)")
    print(hdr)
    print("-" * len(hdr))
    ok = True
    for m, n in shapes:
        W = rng.standard_normal((m, n))
        e, info = _spectral_norm_info(W)
        t_np, t_cert = best_of(
            [lambda W=W: np.linalg.norm(W, 2), lambda W=W: _spectral_norm_info(W)], args.repeat
        )
        gap = rel_gap(e)
        ratio = t_cert / t_np
        if m == n:
            ok &= ratio <= 1.0 and gap <= 1e-8
        print(
            f"{m:>5}x{n:<5} | {t_np:11.3f} | {t_cert:11.3f} | {ratio:6.2f} | {gap:8.1e} | "
            f"{info.gram_size:>5} | {len(info.attempts):>4} | {e!r}"
        )
    print("\nFrobenius / 1 / inf norms: numpy.linalg.norm(W, 'fro' | 1 | inf) vs symlip.arith.norms")
    hdr2 = (
        f"{'shape':>11} | {'norm':>4} | {'numpy s':>8} | {'certified s':>11} | "
        f"{'ratio':>6} | rel gap"
    )
    print(hdr2)
    print("-" * len(hdr2))
    for m, n in shapes[:2] + shapes[2:3]:
        W = rng.standard_normal((m, n))
        for name, ord_, fn in (
            ("fro", "fro", frobenius_norm),
            ("1", 1, norm_1),
            ("inf", np.inf, norm_inf),
        ):
            e = fn(W)
            t_np, t_cert = best_of(
                [lambda o=ord_, W=W: np.linalg.norm(W, o), lambda f=fn, W=W: f(W)], args.repeat
            )
            print(
                f"{m:>5}x{n:<5} | {name:>4} | {t_np:8.4f} | {t_cert:11.4f} | "
                f"{t_cert / t_np:6.2f} | {rel_gap(e):.1e}"
            )
    print(
        "\ntargets: spectral ratio <= 1.0 and rel gap <= 1e-8 on the square matrices:",
        "MET" if ok else "NOT MET",
    )


if __name__ == "__main__":
    main()
