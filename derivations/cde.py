"""Controlled ODEs as the limit of ResNets: Gronwall bounds and N -> infinity."""

from __future__ import annotations

import numpy as np

from derivations._common import down, est, page, up
from symlip.app.report import Report

try:  # the controlled-ODE module (issue 6)
    from symlip.bounds import cde_program as prog
    from symlip.cde import ControlledODE, param_lipschitz, time_grid

    AVAILABLE = True
    UNAVAILABLE_REASON = ""
except ImportError as exc:  # pragma: no cover - only before symlip.cde landed
    AVAILABLE = False
    UNAVAILABLE_REASON = f"symlip.cde is not available ({exc})"

SLUG = "cde"
TITLE = "Controlled ODEs as the limit of ResNets"
SUMMARY = ("Parameter-Lipschitz bounds of $dX = \\sum_j \\sigma(W_j X + b_j)\\,dU^j$ by "
           "Gronwall; the Euler scheme is a weight-tied ResNet whose bound converges to "
           "the continuous one.")
RADIUS = 1e-2
N_STEPS = 10


def _example() -> tuple[object, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 4
    model = ControlledODE(rng.standard_normal((n, 2)) / 2, np.zeros(n),
                          [rng.standard_normal((n, n)) / 2], [rng.standard_normal(n) / 4],
                          rng.standard_normal((1, n)) / 2, np.zeros(1), "tanh")
    X = rng.uniform(-1, 1, (8, 2))
    return model, X, time_grid(1.0, N_STEPS)


def build() -> Report:
    rep = page(TITLE, "cde.py")
    rep.text("A continuously deep network is a controlled ODE: $X_0 = Ax + a$, "
             "$dX_t = \\sum_j \\sigma(W_j X_t + b_j)\\,dU^j_t$ on $[0, T]$, $Y = C X_T + c$. "
             "With $U_t = t$ it is a neural ODE; with an input time series, a neural CDE. "
             "The Euler scheme on a grid with $N$ steps is a residual network whose "
             "layers share their weights, so the parameter-Lipschitz machinery of "
             "[the recursion](param-recursion.md) applies step by step; Gronwall's "
             "inequality gives the continuous bound, and SymPy shows it is the limit "
             "of the discrete ones. The complete proofs are in "
             "[the controlled-ODE proofs](../theory-cde.md).")
    rep.heading("The continuous bound (Gronwall)")
    rep.derivation(prog.continuous_derivation(1), level=3)
    rep.heading("The Euler scheme: a weight-tied ResNet")
    rep.derivation(prog.euler_derivation(1), level=3)
    rep.heading("The limit $N \\to \\infty$")
    rep.derivation(prog.limit_derivation(), level=3)
    rep.heading("Tighter bounds")
    rep.derivation(prog.improved_derivation(1), level=3)

    model, X, U = _example()
    res = param_lipschitz(model, X, U, RADIUS)
    rep.heading("Worked example: a small neural ODE")
    rep.text(f"A random tanh neural ODE (state dimension 4, one vector field, seed 0) on "
             f"$[0, 1]$ with $N = {N_STEPS}$ Euler steps ($U_t = t$), {len(X)} data points, "
             f"ball radius $r = {RADIUS:g}$. The three bounds are certified (interval "
             "evaluation of their programs); the lower bound is a certified difference "
             "quotient of the Euler map.")
    rows = [
        ["Euler scheme, per-step recursion (what symlip certifies)", up(res.enclosure)],
        ["exact solution and every grid refinement (flow)",
         _dec_up(res.extra.get("upper_flow"))],
        ["closed form with Gronwall (MATH.md)", _dec_up(res.extra.get("upper_math"))],
        ["certified lower bound (difference quotient)", down(res.lower_enclosure)],
        ["sampled lower estimate", est(res.estimate)],
    ]
    rep.table(["bound", "value"], rows)
    return rep


def _dec_up(s: str | None) -> str:
    if s is None:
        return "-"
    from symlip.arith.enclosure import parse_decimal_enclosure

    return up(parse_decimal_enclosure(s, s))
