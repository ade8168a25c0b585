"""Benchmark of the parameter / gradient Lipschitz bounds (one command, one table).

    python benchmarks/bench_param.py [--quick] [--tightness | --large]

1. A 784-1024-1024-10 tanh MLP with 10,000 data points: certified param- and
   grad-Lipschitz together (shared norms and rigorous centre forward pass), with the
   share of time in norms, the rigorous centre forward pass, the lambdified (float)
   per-point evaluation and the interval evaluation.  Activation constants are derived
   once per process (cached) and reported separately.
2. ``symlip derive`` at depth 64 (subprocess, wall time including interpreter start).
3. Tightness on small random tanh networks at r = 1e-3 and 1e-1: certified upper /
   best lower bound (the max of the certified lower bound and the sampled estimate),
   one data point per network; the gradient bound with the recursion alone and with
   the certified centre Jacobian options (``--tightness``: this table only).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time

import numpy as np

from symlip.activations.registry import get_activation
from symlip.bounds.param import param_lipschitz
from symlip.bounds.smooth import grad_lipschitz, param_and_grad_lipschitz
from symlip.models.network import Network


def random_net(rng: np.random.Generator, widths: list[int], act: str = "tanh",
               bias: float = 0.1) -> Network:
    ws = [rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])
          for k in range(len(widths) - 1)]
    bs = [bias * rng.standard_normal(widths[k + 1]) for k in range(len(widths) - 1)]
    return Network.from_arrays(ws, bs, act)


def bench_large(n_points: int, radius: float) -> None:
    rng = np.random.default_rng(0)
    net = random_net(rng, [784, 1024, 1024, 10], bias=0.01)
    X = rng.random((n_points, 784))
    y = rng.integers(0, 10, n_points)
    t = time.perf_counter()
    _ = get_activation("tanh").constants  # derive once (cached)
    t_const = time.perf_counter() - t
    t = time.perf_counter()
    net.forward(X)
    t_float = time.perf_counter() - t
    print(f"[large] reference: one float64 forward pass (not certified) {t_float:.3f} s; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (shared machines: "
          "OpenBLAS threads oversubscribed by other processes slow LAPACK calls down "
          "10-100x; OPENBLAS_NUM_THREADS=1 is steadier)")
    for loss in ("cross-entropy", "mse"):
        yy = y if loss == "cross-entropy" else np.eye(10)[y]
        t = time.perf_counter()
        p, g = param_and_grad_lipschitz(net, X, yy, loss, radius)
        total = time.perf_counter() - t
        tm = g.extra["timings"]
        print(f"[large] 784-1024-1024-10 tanh, {n_points} points, r={radius:g}, loss={loss}")
        print(f"  total (param + grad, certified)   {total:8.3f} s   (target < 3 s)")
        for key, label in (("norms", "norms (spectral, bias)"),
                           ("centre_forward", "rigorous centre forward pass"),
                           ("lambdified_estimate", "lambdified float evaluation"),
                           ("interval_eval", "interval evaluation")):
            print(f"    {label:<32}{tm[key]:8.3f} s  {100 * tm[key] / total:5.1f} %")
        print(f"  activation constants (one-time, cached)  {t_const:.3f} s")
        print(f"  L_param  upper {p.upper:.6g} (pointwise max {float(p.extra['upper_pointwise']):.6g})")
        print(f"  L_grad   upper {g.upper:.6g} (pointwise mean "
              f"{float(g.extra['upper_pointwise_mean']):.6g}), spectral norms: {g.extra['spectral_method']}")
        t_const = 0.0


def bench_derive() -> None:
    for wrt in ("params", "gradient"):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "symlip", "derive", "--wrt", wrt, "--depth",
                            "64", "--format", "latex"], capture_output=True, text=True)
        dt = time.perf_counter() - t
        print(f"[derive] --wrt {wrt:<8} --depth 64: {dt:6.3f} s wall (exit {r.returncode}, "
              f"{len(r.stdout)} chars)   (target < 2 s for params)")


ARCHS = [[3, 8, 1], [3, 8, 8, 1], [4, 12, 12, 2], [4, 12, 12, 12, 2], [10, 16, 16, 3]]


def _best_lower(res) -> float:
    return max(v for v in (res.lower, res.estimate) if v is not None)


def bench_tightness(seeds: int) -> None:
    """upper / best lower (max of the certified lower bound and the float estimate),
    median and max over seeds; gradient with and without the centre Jacobian options."""
    print("[tightness] upper / best lower, one data point, random tanh nets, MSE "
          f"({seeds} seeds each): median (max)")
    cols = [("param", 1e-3, "auto"), ("param", 1e-1, "auto"),
            ("grad", 1e-3, False), ("grad", 1e-3, "auto"),
            ("grad", 1e-1, False), ("grad", 1e-1, "auto")]
    head = ["param r=1e-3", "param r=1e-1", "grad 1e-3 rec", "grad 1e-3 +J",
            "grad 1e-1 rec", "grad 1e-1 +J"]
    print(f"  {'widths':<18}" + "".join(f"{h:>16}" for h in head))
    certified = []
    for widths in ARCHS:
        cells = []
        for kind, r, jac in cols:
            ratios = []
            for s in range(seeds):
                rng = np.random.default_rng(100 + s)
                net = random_net(rng, widths)
                x = rng.standard_normal((1, widths[0]))
                if kind == "param":
                    res = param_lipschitz(net, x, r, seed=s)
                else:
                    y = rng.standard_normal((1, widths[-1]))
                    res = grad_lipschitz(net, x, y, "mse", r, seed=s, jac=jac)
                    certified.append(res.lower is not None and res.lower <= res.upper)
                ratios.append(res.upper / _best_lower(res))
            cells.append(f"{np.median(ratios):6.2f} ({max(ratios):6.2f})")
        print(f"  {'-'.join(map(str, widths)):<18}" + "".join(f"{c:>16}" for c in cells))
    print(f"  gradient: certified lower bound present and <= upper in "
          f"{sum(certified)}/{len(certified)} runs; 'rec' = recursion only, '+J' = with "
          "the certified centre Jacobian options (default for small problems)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 points, 3 seeds")
    ap.add_argument("--radius", type=float, default=1e-3)
    ap.add_argument("--tightness", action="store_true", help="only the tightness table")
    ap.add_argument("--large", action="store_true", help="only the large-network timing")
    a = ap.parse_args()
    if not a.tightness:
        bench_large(1000 if a.quick else 10_000, a.radius)
        if a.large:
            return
        bench_derive()
    bench_tightness(3 if a.quick else 8)


if __name__ == "__main__":
    main()
