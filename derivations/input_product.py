"""The input-Lipschitz product bound (composition lemma, submultiplicativity)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from derivations._common import down, est, page, up, upper_float_symbol
from symlip.app.demo import load_demo
from symlip.app.report import Report
from symlip.arith.enclosure import Enclosure
from symlip.bounds.input import (
    input_lipschitz,
    input_product_derivation,
    input_product_formula,
    local_input_derivation,
    local_input_formula,
    local_input_lipschitz,
)
from symlip.symbolic.derivation import Derivation, Tex

SLUG = "input-product"
TITLE = "The input-Lipschitz product bound"
SUMMARY = ("$\\mathrm{Lip}(f) \\le \\prod_k K_1 \\|W_k\\|_2$: derivation, per-layer "
           "factors, certified lower bounds and a local bound on input balls (product of local "
           "norms and the norm of the interval Jacobian, on linear-relaxation boxes).")
EPS_TABLE = (1.0, 0.1, 0.01, 0.001, 0.0)


def build() -> Report:
    rep = page(TITLE, "input_product.py")
    rep.text("For a feed-forward network $f = A_N \\circ \\sigma \\circ \\cdots \\circ "
             "\\sigma \\circ A_1$ with affine layers $A_k(u) = W_k u + b_k$, the Lipschitz "
             "constant with respect to the input (Euclidean norms) is bounded by the "
             "product of the layers' constants (Khromov & Singh). symlip builds the bound "
             "as one SymPy product of per-layer symbols; the certified number is the same "
             "product evaluated on certified enclosures of $\\|W_k\\|_2$ (see "
             "[certified norms](../norms.md)) and $K_1$ (see [activations](activations.md)).")
    rep.heading("Derivation")
    rep.derivation(input_product_derivation(3, r"\tanh"), level=3)

    net, X, _ = load_demo()
    res = input_lipschitz(net, X)
    formula, factors = input_product_formula(net.depth)
    rep.heading("Worked example: the demo network")
    rep.text(f"The network shipped with symlip (`symlip demo`): widths "
             f"{'-'.join(map(str, net.widths))}, tanh, trained on {len(X)} points. Each "
             "symbol is replaced by the upper end of its certified enclosure (rounded up "
             "to 8 digits here); the product itself is evaluated in outward-rounded "
             "interval arithmetic.")
    subs = {s: upper_float_symbol(res.inputs[str(s)]) for s in formula.inputs}
    d = Derivation("Certified product for the demo network")
    d.step(Tex("L_x"), "=", formula.expr, "the product bound for $N = 3$")
    d.then("<=", sp.Mul(*[subs[s] for s in formula.inputs], evaluate=False),
           "certified spectral norms, $K_1 = 1$ for tanh")
    d.then("<=", sp.Float(up(res.enclosure), 12), "interval evaluation, rounded up")
    rep.derivation(d, level=3)
    rows = [[p["name"], up(res.inputs[f"rho_{k}"]), up(_factor(p))]
            for k, p in enumerate(res.per_layer, start=1)]
    rep.table(["layer", "$\\|W_k\\|_2$ (certified upper)", "factor (certified upper)"],
              rows)
    rep.text(f"Lower bounds: the largest Jacobian norm found by the search over the data, "
             f"convex combinations and ascent is {est(res.estimate)} (a float estimate); "
             "the interval-evaluated difference quotient at that point certifies "
             f"$\\mathrm{{Lip}}(f) \\ge {down(res.lower_enclosure)}$. The ratio upper / "
             f"lower is {res.ratio:.3g}: the product bound ignores that the layers' top "
             "singular directions do not line up and that $\\tanh' < 1$ away from 0.")

    rep.heading("A local bound on an input ball")
    lf = local_input_formula(net.depth)
    rep.text("On a ball $B(x_0, \\varepsilon)$, each hidden neuron's pre-activation range "
             "gives the range $[s^-_{k,i}, s^+_{k,i}]$ of $\\sigma'$ over it and "
             "$d_{k,i} \\ge \\sup|\\sigma'|$. Two bounds follow: the "
             "product of local norms $\\|W_N\\|_2 \\prod_{k<N} \\|D_k W_k\\|_2$ with "
             "$D_k = \\mathrm{diag}(d_k)$, and the norm of the product, $J_{loc}$: the "
             "Jacobians of all points of the ball lie in one interval matrix, whose norm "
             "is certified. symlip takes the minimum of both and the global bound, so the "
             "local bound never exceeds it:")
    rep.math(f"L_{{loc}} = {lf.latex()}")
    rep.text("Everything hinges on the pre-activation boxes. Plain interval propagation "
             "loses the correlations between neurons and its boxes grow layer by layer; "
             "the mean-value box $z_k(x_0) \\pm \\varepsilon \\sup\\|\\nabla z_{k,i}\\|$ "
             "helps for smooth activations. The default (`preact=\"linear\"`, "
             "`--local-preact linear`) also bounds every pre-activation by a **linear "
             "relaxation** back-substituted to the ball (the CROWN / DeepPoly idea, "
             "`symlip.bounds.relaxation`):")
    rep.text("**Lemma (linear relaxation).** If $z_k(x) \\le \\Lambda\\sigma(z_j(x)) + c$ "
             "on $B$ and $\\underline\\alpha_{j,i} t + \\underline\\beta_{j,i} \\le \\sigma(t) "
             "\\le \\overline\\alpha_{j,i} t + \\overline\\beta_{j,i}$ on neuron $(j, i)$'s "
             "box, then $z_k(x) \\le (\\Lambda^+\\overline A_j + \\Lambda^-\\underline A_j)"
             "z_j(x) + c + \\Lambda^+\\overline\\beta_j + \\Lambda^-\\underline\\beta_j$ "
             "($\\Lambda^\\pm$ the positive / negative parts, $A$ the diagonal slope "
             "matrices); substituting $z_j = W_j a_{j-1} + b_j$ layer by layer down to "
             "the input leaves $z_k(x) \\le \\Lambda^{(k)} x + c^{(k)}$, and "
             "$\\sup_{\\|x - x_0\\|_2 \\le \\varepsilon} (\\Lambda^{(k)} x + c^{(k)})_i = "
             "(\\Lambda^{(k)} x_0 + c^{(k)})_i + \\varepsilon\\|\\Lambda^{(k)}_{i,:}\\|_2$ "
             "(Cauchy-Schwarz). The lower end is the same for $-z_k$. ReLU: the chord "
             "above and $0$ or $t$ below on an unstable neuron, exact on a stable one; "
             "leaky ReLU likewise; other activations: the thinnest of three certified "
             "parallel bands (the interval range of $\\sigma$; slope the midpoint of "
             "$\\sigma'$'s range with the mean-value remainder; the tangent at the midpoint "
             "with the $K_2 w^2/2$ Taylor remainder). The coefficient matrices are floats "
             "used as they are: each float product's rounding error (Higham's "
             "$\\gamma_n$ bound of the midpoint-radius product), times the known "
             "magnitude of what it multiplies, is added to $c^{(k)}$, and every constant "
             "is an upper end rounded up, so the boxes contain $z_k(B)$ exactly.")
    rep.text("A stable ReLU then has the derivative range $\\{0\\}$ or $\\{1\\}$. The "
             "remaining (unstable) ranges enter $J_{loc}$ through a **vertex split**: "
             "$J$ is affine in each $s_{k,i}$ separately, so "
             "$\\sup\\|J\\|_2$ is the maximum over the vertices of the ranges of any "
             "chosen neurons of the supremum with those fixed; symlip splits every range "
             "of positive width when there are at most 6 (64 vertices), else the 4 most "
             "influential ones when they carry most of the spread, and keeps the smaller "
             "of that maximum and the unsplit bound. With every "
             "unstable ReLU split the bound is the largest Jacobian norm over the "
             "activation patterns, up to rounding. The boxes are intersected with the "
             "interval and mean-value boxes, so they are never wider than before.")
    rep.derivation(local_input_derivation(net.depth), level=3)
    rows = []
    for eps in EPS_TABLE:
        b_old = local_input_lipschitz(net, X[0], eps, preact="interval")
        b = local_input_lipschitz(net, X[0], eps)
        e_old, ins_old, e, ins = b_old.enclosure, b_old.inputs, b.enclosure, b.inputs
        old = lf.enclose({**ins_old, "J_loc": Enclosure.unbounded_above(0)})
        rows.append([f"{eps:g}", up(old), up(ins_old["J_loc"]), up(e_old), up(ins["J_loc"]),
                     up(e)])
    jn = float(np.linalg.norm(net.input_jacobian(X[:1])[0], 2))
    rep.text(f"For the first data point $x_0 = ({X[0][0]:.6g}, {X[0][1]:.6g})$, where "
             f"$\\|J(x_0)\\|_2 \\approx {jn:.6g}$ (float), against the global "
             f"$L_x \\le {up(res.enclosure)}$ (interval boxes, then linear relaxation):")
    rep.table(["$\\varepsilon$", "product of local norms", "$J_{loc}$ (interval)",
               "$L_{loc}$ (interval)", "$J_{loc}$ (linear)", "$L_{loc}$ (linear)"], rows)
    rep.text("The product of norms stays near the global bound however small the ball "
             "(it multiplies the norms of layers whose top singular directions do not "
             "line up); the interval Jacobian keeps the signs and tends to "
             "$\\|J(x_0)\\|_2$ as $\\varepsilon \\to 0$. Caveat: midpoint-radius "
             "arithmetic is not inclusion-monotone, so a smaller ball can (rarely) give a "
             "slightly larger $J_{loc}$, mostly with the interval boxes of ReLU networks; "
             "every value is sound.")
    rep.text("Measured by `python benchmarks/bench_local.py` (32 balls around test "
             "points; 8 for the 784-input networks; CPU ms per ball on a shared 2-core "
             "machine): the largest certified local bound over the balls with interval "
             "boxes (old) and linear relaxation (new), divided by the largest Jacobian "
             "norm at the centres $J$ (a lower estimate of the local constant on the "
             "union of the balls; the certified lower bound, a difference quotient at the "
             "worst centre, agrees with it to 4 digits), and per ball the median and the "
             "largest of the new bound over $\\|J(x_i)\\|_2$.")
    rep.table(["network", "$\\varepsilon$", "old / J", "new / J",
               "per ball new / $\\|J(x_i)\\|$ (median, max)", "old ms", "new ms"],
              MEASURED)
    return rep


#: python benchmarks/bench_local.py, 2026-12-07: (network, eps, old / J, new / J, per ball
#: new / J(x_i) median and max, old ms, new ms)
MEASURED = [
    ['digits 64-50x6-10 ReLU (test acc 0.958)', '0.01', '4.38', '1.00', '1.01, 1.11', '31', '69'],
    ['', '0.1', '5.02', '4.63', '6.86, 9.56', '29', '39'],
    ['digits 64-64-64-10 tanh (0.978)', '0.01', '1.20', '1.20', '1.25, 1.29', '15', '20'],
    ['', '0.1', '1.68', '1.68', '2.09, 2.94', '15', '19'],
    ['digits 64-64-64-10 sigmoid (0.964)', '0.01', '1.19', '1.19', '1.21, 1.27', '14', '19'],
    ['', '0.1', '1.93', '1.91', '2.48, 3.6', '15', '18'],
    ['digits 64-64-64-10 GELU (0.967)', '0.01', '1.12', '1.12', '1.13, 1.22', '27', '33'],
    ['', '0.1', '1.35', '1.34', '1.43, 1.98', '26', '37'],
    ['diabetes 10-64-64-1 ReLU (R² 0.37)', '0.01', '1.00', '1.00', '1.00, 1.04', '9', '11'],
    ['', '0.1', '1.00', '1.00', '1.00, 1.13', '10', '15'],
    ['random 8-64-64-64-4 GELU', '0.01', '3.69', '3.65', '3.52, 5.17', '28', '38'],
    ['', '0.1', '16.1', '15.2', '18.2, 29.2', '31', '42'],
    ['random 784-128-64-10 ReLU', '0.01', '1.94', '1.01', '1.01, 1.06', '31', '58'],
    ['', '0.1', '2.77', '2.77', '2.87, 3.72', '32', '72'],
    ['random 784-128-64-10 tanh', '0.01', '2.03', '2.03', '2.07, 2.25', '48', '67'],
    ['', '0.1', '3.85', '3.85', '4.45, 5.18', '50', '62'],
]


def _factor(p: dict) -> str:
    from symlip.arith.enclosure import parse_decimal_enclosure

    return parse_decimal_enclosure(p["factor_upper"], p["factor_upper"])
