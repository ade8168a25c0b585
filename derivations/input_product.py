"""The input-Lipschitz product bound (composition lemma, submultiplicativity)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from derivations._common import down, est, page, up, upper_float_symbol
from symlip.bounds.input import (
    input_lipschitz,
    input_product_derivation,
    input_product_formula,
    local_input_derivation,
    local_input_formula,
    local_input_lipschitz,
)
from symlip.demo import load_demo
from symlip.derivation import Derivation, Tex
from symlip.intervals import Enclosure
from symlip.report import Report

SLUG = "input-product"
TITLE = "The input-Lipschitz product bound"
SUMMARY = ("$\\mathrm{Lip}(f) \\le \\prod_k K_1 \\|W_k\\|_2$: derivation, per-layer "
           "factors, certified lower bounds and a local bound on input balls (product of local "
           "norms and the norm of the interval Jacobian).")
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
    rows = [[p["name"], up(res.inputs[f"omega_{k}"]), up(_factor(p))]
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
    rep.text("On a ball $B(x_0, \\varepsilon)$, interval propagation gives each hidden "
             "neuron's pre-activation range, hence the range $[s^-_{k,i}, s^+_{k,i}]$ of "
             "$\\sigma'$ over it and $d_{k,i} \\ge \\sup|\\sigma'|$. Two bounds follow: the "
             "product of local norms $\\|W_N\\|_2 \\prod_{k<N} \\|D_k W_k\\|_2$ with "
             "$D_k = \\mathrm{diag}(d_k)$, and the norm of the product, $J_{loc}$: the "
             "Jacobians of all points of the ball lie in one interval matrix, whose norm "
             "is certified. symlip takes the minimum of both and the global bound, so the "
             "local bound never exceeds it:")
    rep.math(f"L_{{loc}} = {lf.latex()}")
    rep.derivation(local_input_derivation(net.depth), level=3)
    rows = []
    for eps in EPS_TABLE:
        e, ins = local_input_lipschitz(net, X[0], eps)
        old = lf.enclose({**ins, "J_loc": Enclosure.unbounded_above(0)})
        rows.append([f"{eps:g}", up(old), up(ins["J_loc"]), up(e)])
    jn = float(np.linalg.norm(net.input_jacobian(X[:1])[0], 2))
    rep.text(f"For the first data point $x_0 = ({X[0][0]:.6g}, {X[0][1]:.6g})$, where "
             f"$\\|J(x_0)\\|_2 \\approx {jn:.6g}$ (float), against the global "
             f"$L_x \\le {up(res.enclosure)}$:")
    rep.table(["$\\varepsilon$", "product of local norms", "$J_{loc}$",
               "$L_{loc}$ (certified upper)"], rows)
    rep.text("The product of norms stays near the global bound however small the ball "
             "(it multiplies the norms of layers whose top singular directions do not "
             "line up); the interval Jacobian keeps the signs and tends to "
             "$\\|J(x_0)\\|_2$ as $\\varepsilon \\to 0$. Caveat: midpoint-radius "
             "arithmetic is not inclusion-monotone, so for ReLU networks a smaller ball "
             "can (rarely, by up to a few percent in our tests) give a larger "
             "$J_{loc}$; every value is sound.")
    return rep


def _factor(p: dict) -> str:
    from symlip.intervals import parse_decimal_enclosure

    return parse_decimal_enclosure(p["factor_upper"], p["factor_upper"])
