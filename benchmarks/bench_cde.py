"""Tightness of the controlled-ODE parameter-Lipschitz bounds, before / after.

    python benchmarks/bench_cde.py [--quick]

For a few small random neural ODEs (U_t = t on [0, 1], uniform grid) and neural CDEs
(two-channel random-walk controls), one data point each, at two radii, prints the
certified upper bounds side by side and their ratio to the best lower bound
(max of the certified interval difference quotient and the sampled Jacobian norm of the
Euler map):

* ``math``      -- MATH.md section 3 (exact solution, e^{K1 rho V1}): the "before";
* ``math_eu``   -- the same with the Euler product prod(1 + K1 rho |dU_k|_1);
* ``flow``      -- per-interval Gronwall with the logarithmic norm (exact solution and
                   every refinement of the Euler grid);
* ``eu_plain``  -- per-step Euler recursion without centre trajectory / log-norm;
* ``euler``     -- per-step Euler recursion, centre trajectory, logarithmic norm: the
                   "after" (what ``param_lipschitz`` certifies by default).

Second order (gradient Lipschitz, MSE loss): MATH closed form vs the Euler recursion,
against a sampled Hessian-norm estimate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from symlip.bounds.cde import _args, bound_formula, certified_inputs
from symlip.cde import ControlledODE, grad_lipschitz, param_lipschitz, time_grid


def _upper(model, X, U, r, scheme, **kw) -> float:
    ci = certified_inputs(model, X, U, r, centre=kw.get("centre", True) and scheme == "euler",
                          lognorm=kw.get("lognorm", True))
    f = bound_formula(scheme, ci)
    return f.enclose(_args(f, ci, hull=True)).upper_float


def cases(quick: bool):
    rng = np.random.default_rng(2024)
    out = []
    for seed, n, act in [(0, 4, "tanh"), (1, 8, "tanh"), (2, 4, "sigmoid"), (3, 8, "softplus")]:
        out.append((f"NODE n={n} {act}", ControlledODE.random(2, n, 1, 1, seed=seed,
                                                              activation=act),
                    time_grid(1.0, 20 if quick else 100)))
    N = 20 if quick else 100
    t = np.linspace(0.0, 1.0, N + 1)
    smooth = np.stack([t, 0.5 * np.sin(2 * np.pi * t)], axis=1)  # time + one data channel
    for seed, n in [(4, 4), (5, 6)]:
        out.append((f"NCDE n={n} (t,sin)", ControlledODE.random(2, n, 2, 1, seed=seed), smooth))
    # stress case: Brownian-like control, V1 ~ 2 sqrt(N) -- Gronwall in total variation
    walk = np.vstack([np.zeros((1, 2)), np.cumsum(rng.normal(0, 1 / np.sqrt(N), (N, 2)), 0)])
    out.append(("NCDE n=4 walk", ControlledODE.random(2, 4, 2, 1, seed=6), walk))
    return out[:3] + out[-1:] if quick else out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    radii = [1e-3, 1e-1]
    head = (f"{'model':<20}{'r':>7}{'lower':>10} | {'math':>10}{'math_eu':>10}{'flow':>10}"
            f"{'eu_plain':>10}{'euler':>10} | {'before':>9}{'after':>9}{'gain':>8}")
    print("First order: certified upper bounds; ratios upper / best lower")
    print(head)
    print("-" * len(head))
    rng = np.random.default_rng(7)
    for name, model, U in cases(args.quick):
        X = rng.normal(size=(1, model.n_inputs))
        for r in radii:
            t0 = time.perf_counter()
            res = param_lipschitz(model, X, U, r)
            lo = max(v for v in (res.lower, res.estimate) if v is not None)
            vals = [_upper(model, X, U, r, "math"), _upper(model, X, U, r, "math_euler"),
                    _upper(model, X, U, r, "flow"),
                    _upper(model, X, U, r, "euler", centre=False, lognorm=False), res.upper]
            dt = time.perf_counter() - t0
            before, after = vals[0] / lo, vals[-1] / lo
            print(f"{name:<20}{r:>7.0e}{lo:>10.4g} | " + "".join(f"{v:>10.4g}" for v in vals)
                  + f" | {before:>9.3g}{after:>9.3g}{before / after:>8.3g}   ({dt:.1f}s)")
    print()
    print("Second order (MSE, zero targets): certified upper / sampled Hessian-norm estimate")
    print(f"{'model':<20}{'r':>7}{'estimate':>10} | {'math':>10}{'euler':>10} | "
          f"{'before':>8}{'after':>8}")
    for name, model, U in cases(args.quick)[:3]:
        X = rng.normal(size=(1, model.n_inputs))
        y = np.zeros((1, model.n_outputs))
        r = 1e-2
        g = grad_lipschitz(model, X, U, y, "mse", r)
        gm = grad_lipschitz(model, X, U, y, "mse", r, scheme="math", lower=False)
        print(f"{name:<20}{r:>7.0e}{g.estimate:>10.4g} | {gm.upper:>10.4g}{g.upper:>10.4g} | "
              f"{gm.upper / g.estimate:>8.3g}{g.upper / g.estimate:>8.3g}")


if __name__ == "__main__":
    main()
