"""Local input-Lipschitz bound: product of local norms (old) against the interval
Jacobian (new), ``python benchmarks/bench_input.py [--quick]``.

For the shipped demo network (2-16-16-1 tanh, balls around its first data points) and a
few random networks, at eps in {1, 0.1, 0.01, 0.001}: the certified local bound without
the interval-Jacobian term (``interval_jacobian=False``: Min(product of local norms,
global) on plain interval boxes) and with it (Min(J_loc, ...) on boxes tightened by
their mean-value form), the largest float Jacobian norm at the centres (a lower estimate
of the local constant), and the time per ball of each (best of 3, after a warm-up call
that compiles the interval kernels).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import symlip
from symlip.bounds.input import input_lipschitz, local_input_lipschitz
from symlip.models.network import Network

EPS = (1.0, 0.1, 0.01, 0.001)


def random_net(widths: list[int], act: str, seed: int, scale: float = 2.0) -> Network:
    rng = np.random.default_rng(seed)
    ws = [scale * rng.standard_normal((m, n)) / np.sqrt(n)
          for n, m in zip(widths, widths[1:], strict=False)]
    bs = [0.1 * rng.standard_normal(m) for m in widths[1:]]
    return Network.from_arrays(ws, bs, act)


def _time_per_ball(net: Network, centres: np.ndarray, eps: float, jac: bool,
                   repeat: int = 3) -> tuple[float, float]:
    """(largest certified bound over the balls, best time per ball in ms)."""
    best_t, worst = float("inf"), 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        worst = max(local_input_lipschitz(net, c, eps, interval_jacobian=jac).upper
                    for c in centres)
        best_t = min(best_t, (time.perf_counter() - t) / len(centres))
    return worst, 1e3 * best_t


def table(cases: list[tuple[str, Network, np.ndarray]]) -> None:
    print("| network | balls | eps | global | old local | new local | new / old "
          "| max ||J(x_i)|| | old ms/ball | new ms/ball |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, net, centres in cases:
        glob = input_lipschitz(net, lower=False).upper
        jn = float(np.max(np.linalg.norm(net.input_jacobian(centres), ord=2, axis=(1, 2))))
        local_input_lipschitz(net, centres[0], 0.1)  # warm-up: compile the kernels
        for eps in EPS:
            old, t_old = _time_per_ball(net, centres, eps, False)
            new, t_new = _time_per_ball(net, centres, eps, True)
            print(f"| {name} | {len(centres)} | {eps:g} | {glob:.4g} | {old:.4g} | "
                  f"{new:.4g} | {new / old:.3f} | {jn:.4g} | {t_old:.2f} | {t_new:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 balls per network")
    args = ap.parse_args()
    n_balls = 8 if args.quick else 64
    net, X, _ = symlip.load_demo()
    rng = np.random.default_rng(0)
    cases = [("demo 2-16-16-1 tanh", net, X[:n_balls])]
    for widths, act, seed in (([4, 12, 12, 3], "tanh", 1), ([8, 32, 32, 32, 4], "gelu", 2),
                              ([8, 32, 32, 32, 4], "relu", 3), ([16, 64, 64, 10], "sigmoid", 4),
                              ([784, 128, 64, 10], "tanh", 5)):
        rnet = random_net(widths, act, seed)
        balls = n_balls if widths[0] < 100 else max(1, n_balls // 8)
        name = f"random {'-'.join(map(str, widths))} {act}"
        cases.append((name, rnet, rng.standard_normal((balls, widths[0]))))
    table(cases)


if __name__ == "__main__":
    main()
