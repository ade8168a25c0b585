"""Tightness of the spline-network parameter bound, coefficients included.

    python benchmarks/bench_spline_param.py

Random spline networks (depth 2-3, per-neuron coefficients, grid [-1, 1], K = 8), eight
data points each, at r = 1e-3 and 1e-1: the certified upper bound of
``spline_param_lipschitz``, and two certified lower bounds with their ratios
upper / lower:

* ``W,b only`` -- the lower bound before the coefficients were moved: an interval
  difference quotient along the top singular vector of the weight/bias Jacobian
  (``symlip.bounds.param.certify_param_lower``, coefficients fixed; a subspace of the
  ball);
* ``all`` -- the current one: a quotient between two points of the ball that differ in
  weights, biases and coefficients, after an ascent of the full Jacobian norm
  (``certify_spline_param_lower``).

``estimate`` is the sampled (float) estimate; the upper bound is the same in both.
"""

from __future__ import annotations

import math

import numpy as np

from symlip.bounds.param_core import _top_direction, certify_param_lower, estimate_param_lower
from symlip.bounds.spline_param import spline_param_lipschitz
from symlip.models.network import spline_network


def random_spline_net(rng: np.random.Generator, widths: list[int], K: int = 8,
                      R: float = 1.0):
    ws = [rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])
          for k in range(len(widths) - 1)]
    bs = [0.1 * rng.standard_normal(widths[k + 1]) for k in range(len(widths) - 1)]
    cs = [rng.standard_normal((m, K)) * 0.5 for m in widths[1:-1]]
    return spline_network(ws, bs, cs, R)


def weights_only_lower(net, X: np.ndarray, r: float) -> float:
    """The previous certified lower bound (weights and biases moved, coefficients fixed)."""
    _, i, _ = estimate_param_lower(net, X, r)
    low, _ = certify_param_lower(net, X[i], r, _top_direction(net, X[i]))
    return low.lower_float


def main() -> None:
    rng = np.random.default_rng(2026)
    archs = [[3, 6, 2], [4, 8, 1], [3, 5, 5, 2], [2, 8, 8, 1], [4, 6, 6, 3]]
    nets = [(w, random_spline_net(rng, w), rng.standard_normal((8, w[0]))) for w in archs]
    print(f"{'widths':<10} {'r':>6} {'upper':>9} {'lower W,b':>10} {'lower all':>10} "
          f"{'estimate':>10} {'ratio W,b':>10} {'ratio all':>10}")
    for w, net, X in nets:
        for r in (1e-3, 1e-1):
            res = spline_param_lipschitz(net, X, r)
            old = weights_only_lower(net, X, r)
            print(f"{'-'.join(map(str, w)):<10} {r:>6g} {res.upper:>9.4g} {old:>10.4g} "
                  f"{res.lower:>10.4g} {res.estimate:>10.4g} {res.upper / old:>10.2f} "
                  f"{res.upper / res.lower:>10.2f}")


if __name__ == "__main__":
    main()
