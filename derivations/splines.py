"""Linear splines: Lipschitz constant = max slope, TV2, slope constraints, 1-Lipschitz nets."""

from __future__ import annotations

import numpy as np

from derivations._common import page, up
from symlip.app.report import Report

try:
    from symlip.activations.spline import LinearSpline, clip_slopes, project_slopes
    from symlip.bounds.spline_param import spline_param_derivation
    from symlip.models.lipschitz_layers import bjorck_orthonormalize, layer_epsilon

    AVAILABLE = True
    UNAVAILABLE_REASON = ""
except ImportError as exc:  # pragma: no cover
    AVAILABLE = False
    UNAVAILABLE_REASON = f"symlip.activations.spline is not available ({exc})"

SLUG = "splines"
TITLE = "Linear-spline activations: Lipschitz constant, TV2 and 1-Lipschitz networks"
SUMMARY = ("The Lipschitz constant of a linear spline is its largest |slope|, computed "
           "exactly; slope constraints (clip and exact projection); certified "
           "1-Lipschitz layers after Bjorck orthonormalisation.")
COEFFS = [-1.0, -1.0, -0.5, 0.0, 0.75, 1.0, 1.0]
GRID = 3.0


def build() -> Report:
    rep = page(TITLE, "splines.py")
    rep.text("Ducotterd et al. train 1-Lipschitz networks whose activations are learnable "
             "linear splines: per neuron, coefficients $c_0, \\dots, c_{K-1}$ on a uniform "
             "grid $t_i = a + iT$ of $[a, b]$, linear in between and extended with the end "
             "slopes. symlip certifies their constants **exactly**: slopes are rationals "
             "$(c_{i+1} - c_i)/T$ of the doubles involved, computed in rational arithmetic "
             "and rounded outward once (see [the spline docs](../splines.md)).")
    sp_ = LinearSpline(COEFFS, GRID, name="example")
    c = sp_.constants
    rep.heading("Worked example: one spline")
    rep.text(f"Coefficients $c = ({', '.join(f'{v:g}' for v in COEFFS)})$ on $[-{GRID:g}, "
             f"{GRID:g}]$ ($K = {len(COEFFS)}$ knots):")
    rep.derivation(c.K1.derivation, level=3)
    rep.derivation(c.K2.derivation, level=3)
    tv = sp_.tv2()[0]
    rep.table(["quantity", "certified value"], [
        ["$K_1$ = max slope", up(c.K1.enclosure)],
        ["$K_2$", "inf" if not c.K2.is_finite else up(c.K2.enclosure)],
        ["$S_0$", "inf" if not c.S0.is_finite else up(c.S0.enclosure)],
        ["TV2 = sum of slope jumps", up(tv)],
    ])
    rep.text(f"$K_2 = \\infty$ because {c.K2.reason}. The second-order total variation "
             "$\\mathrm{TV}^{(2)} = \\sum_i |s_{i+1} - s_i|$ is the regulariser of the "
             "paper: it counts how much the slope changes, i.e. how far the spline is "
             "from linear.")

    rep.heading("Constraining the slopes")
    rep.text("To make the spline 1/2-Lipschitz, the paper clips the slopes to $[-L, L]$, "
             "rebuilds the coefficients by a cumulative sum and restores their mean; the "
             "exact Euclidean projection onto $\\{\\max_i |s_i| \\le L\\}$ is the "
             "alternative. Both results are rounded to doubles feasibly, so their certified "
             "max slope is at most $L$:")
    L = 0.5
    cl = clip_slopes(COEFFS, GRID, L)
    pr = project_slopes(COEFFS, GRID, L)
    rows = []
    for name, arr in (("clip (paper)", cl), ("exact projection", pr)):
        s = LinearSpline(arr, GRID)
        dist = float(np.linalg.norm(np.asarray(arr) - np.asarray(COEFFS)))
        rows.append([name, ", ".join(f"{v:.6g}" for v in arr),
                     up(s.constants.K1.enclosure), f"{dist:.6g}"])
    rep.table(["map", "coefficients (6 digits)", "certified max slope",
               "distance to $c$"], rows)

    rep.heading("1-Lipschitz linear layers after Bjorck orthonormalisation")
    rng = np.random.default_rng(0)
    W = rng.standard_normal((8, 8))
    rows = []
    for dtype in ("float64", "float32"):
        Q = bjorck_orthonormalize(W, iters=15, scaling="frobenius", dtype=dtype)
        info = layer_epsilon(Q)
        rows.append([dtype, _magnitude(info["epsilon_upper"]), info["one_lipschitz"]])
    rep.text("A random Gaussian $8 \\times 8$ matrix, divided by its Frobenius norm and "
             "orthonormalised with 15 first-order Bjorck-Bowie iterations (the paper's "
             "setting) in floating point. In exact arithmetic the result would be "
             "1-Lipschitz; rounding leaves $\\|W\\|_2 = 1 + \\varepsilon$, and the "
             "certified enclosure of $\\|W\\|_2$ bounds $\\varepsilon$ (shown as a "
             "power of ten above it, since the exact value depends on the BLAS build):")
    rep.table(["precision", "certified $\\varepsilon$ (upper)",
               "verdict ($\\Vert W\\Vert _2 \\le 1$)"], rows)
    rep.text("So a network of such layers is $(1 + \\varepsilon)^N$-Lipschitz, certified; "
             "`symlip certify --target 1` gives the verdict for a whole network.")

    rep.heading("Coefficients as parameters")
    rep.text("The parameter-Lipschitz recursion extends to spline networks, with the "
             "spline coefficients among the parameters:")
    rep.derivation(spline_param_derivation(2), level=3)
    rep.text("`symlip certify MODEL --wrt params --data X.npy --radius R` evaluates this "
             "recursion, certified, for a spline model file (quantity "
             "`param_lipschitz_spline`, re-checked by `symlip verify`); `--wrt gradient` "
             "refuses, since $K_2 = \\infty$.")
    return rep


def _magnitude(eps: str) -> str:
    """The smallest power of ten >= eps (a stable upper bound for the page)."""
    import math
    from fractions import Fraction

    q = Fraction(eps)
    if q <= 0:
        return "0"
    k = math.ceil(math.log10(q))
    while Fraction(10) ** (k - 1) >= q:
        k -= 1
    while Fraction(10) ** k < q:
        k += 1
    return f"$\\le 10^{{{k}}}$"
