"""Smoothness (gradient-Lipschitz) bound, the descent lemma and the certified step size."""

from __future__ import annotations

import numpy as np
import sympy as sp

from derivations._common import down, est, page, up
from symlip.app.demo import load_demo
from symlip.app.report import Report
from symlip.bounds import recursion as rec
from symlip.bounds.smooth import certified_step, grad_lipschitz, loss_enclosure
from symlip.errors import NotSmoothError
from symlip.models.network import Network
from symlip.symbolic.derivation import Derivation, Tex

SLUG = "smoothness"
TITLE = "Smoothness, the descent lemma and the certified step size"
SUMMARY = ("Lipschitz constant of $\\theta \\mapsto \\nabla_\\theta L(\\theta)$ on a ball, "
           "the descent lemma, $\\eta = 1/L_{grad}$, and why ReLU networks have none.")
RADIUS = 1e-3
STEPS = 5


def descent_lemma() -> Derivation:
    """The descent lemma and the optimal step, derived with SymPy."""
    eta, L, g = sp.symbols("eta L_grad g", positive=True)
    q = -eta * g**2 + L * eta**2 * g**2 / 2
    crit = sp.solve(sp.diff(q, eta), eta)
    best = sp.simplify(q.subs(eta, crit[0]))
    d = Derivation("Descent lemma and the certified step")
    d.assume("$\\nabla L$ is $L_{grad}$-Lipschitz on the convex ball $B_r(\\bar\\theta)$, "
             "and $\\theta_+ = \\bar\\theta - \\eta \\nabla L(\\bar\\theta) \\in B_r$")
    d.assume("$g = \\|\\nabla L(\\bar\\theta)\\|_2$")
    d.step(Tex(r"L(\theta_+) - L(\bar\theta)"), "=",
           Tex(r"\int_0^1 \nabla L(\bar\theta + t(\theta_+ - \bar\theta))"
               r"\cdot(\theta_+ - \bar\theta)\,dt"),
           "fundamental theorem of calculus along the segment (inside the ball)")
    d.then("<=", Tex(r"\nabla L(\bar\theta)\cdot(\theta_+ - \bar\theta) + "
                     r"\tfrac{L_{grad}}{2}\|\theta_+ - \bar\theta\|^2"),
           "Cauchy-Schwarz and $\\|\\nabla L(\\cdot) - \\nabla L(\\bar\\theta)\\| \\le "
           "L_{grad} t \\|\\theta_+ - \\bar\\theta\\|$")
    d.then("=", q, "$\\theta_+ - \\bar\\theta = -\\eta \\nabla L(\\bar\\theta)$")
    d.step(Tex(r"\frac{d}{d\eta}\Big(" + sp.latex(q) + r"\Big) = 0"), "=>",
           sp.Eq(eta, crit[0]), "SymPy solve: the minimiser of the upper bound")
    d.step(Tex(r"L(\theta_+) - L(\bar\theta)"), "<=", best,
           "guaranteed decrease at $\\eta = 1/L_{grad}$")
    d.conclude("Any $\\eta \\le 1/L_{grad}$ decreases the loss; symlip rounds $1/L_{grad}$ "
               "down and checks in interval arithmetic that the step stays in the ball.")
    return d


def build() -> Report:
    rep = page(TITLE, "smoothness.py")
    rep.text("Step-size rules of gradient methods need the Lipschitz constant of the "
             "*gradient* of the loss, $L_{grad}$ with $\\|\\nabla L(\\theta) - "
             "\\nabla L(\\theta')\\| \\le L_{grad}\\|\\theta - \\theta'\\|$. Globally it "
             "does not exist for a network (see [no global bound](no-global.md)); on a "
             "ball $B_r(\\bar\\theta)$ symlip bounds it by a second-order recursion "
             "$(g_k, h_k)$ on top of the first-order one "
             "(see [the parameter recursion](param-recursion.md)), and composes it with "
             "the loss.")
    rep.heading("Derivation: second order and the loss")
    rep.derivation(rec.second_order_derivation(2, loss="mse"), level=3)
    rep.heading("Local sensitivities: the default second-order step (Lemma 8)")
    rep.text("The default (`method=\"local\"`) takes the minimum of the recursion above and "
             "the bound of Lemma 8 ([proof](../theory-param.md#7-local-sensitivities-the-"
             "default-methodlocal)): the Lipschitz constant of the parameter Jacobian from "
             "the telescoping of the layer Jacobians between two parameter points, with "
             "certified local inputs (ranges of $\\sigma'$ and $\\sigma''$ on the "
             "pre-activation boxes of the ball, centre chain norms).")
    from symlip.bounds.sensitivity import local_second_order_derivation

    rep.derivation(local_second_order_derivation(3), level=3)
    rep.heading("The default loss step: stacked Gauss-Newton norm (Lemma 11)")
    rep.text("The default splits the Hessian of the mean loss into its Gauss-Newton part "
             "and the rest ([proof](../theory-param.md#7-local-sensitivities-the-"
             "default-methodlocal)).  The Gauss-Newton part is certified at the centre "
             "for all the data at once (the norm of the stacked Jacobian, from its small "
             "Gram matrix), which the mean of per-point bounds $\\|J_i\\|^2$ "
             "overestimates; its change on the ball and the rest use Lemmas 7 and 8.")
    from symlip.bounds.sensitivity import local_gn_derivation

    rep.derivation(local_gn_derivation(3), level=3)
    rep.heading("The curvature term: centre value plus a third-order remainder (Lemma 12)")
    rep.text("Where every hidden activation has a certified third derivative, the default "
             "bounds the curvature part $\\sum_o(\\partial_o\\lambda)\\nabla^2f_o$ of the "
             "Hessian by the smaller of Lemma 11's $G\\,h_p$ and its certified value at the "
             "centre plus a remainder ([proof](../theory-param.md#10-the-curvature-term-"
             "centre-value-plus-a-third-order-remainder-lemma-12)).  The centre value is the "
             "norm of the Hessian of $\\bar g^Tf$, a matrix of $2\\sum_{k<N}n_k$ rows after "
             "the factorisation $Q^TSQ$; the remainder is $r$ times a Lipschitz constant "
             "$T$ of $D^2f$ on the ball, built from the quantities of Lemmas 7-8 and "
             "$K_3^{(k)} \\ge \\sup|\\sigma^{(3)}|$ on the pre-activation boxes.")
    from symlip.bounds.curvature_program import local_curv_derivation

    rep.derivation(local_curv_derivation(3), level=3)
    rep.heading("The descent lemma")
    rep.derivation(descent_lemma(), level=3)

    net, X, Y = load_demo()
    res = grad_lipschitz(net, X, Y, "mse", RADIUS)
    rep.heading("Worked example: certified gradient descent on the demo network")
    rep.text(f"Mean squared error $L(\\theta) = \\frac1n\\sum_i \\tfrac12\\|f(x_i;\\theta) - "
             f"y_i\\|^2$ of the demo network on its {len(X)} points, ball radius "
             f"$r = {RADIUS:g}$: certified $L_{{grad}} \\le "
             f"{_dec_up(res.extra['upper_pointwise_mean'])}$ (mean of the per-point bounds; "
             f"hull of the per-point inputs: {up(res.enclosure)}); the largest Hessian "
             f"norm found by sampling in the ball is {est(res.estimate)}. "
             f"{STEPS} steps of gradient descent, each with $\\eta = 1/L_{{grad}}$ "
             "recomputed on the ball around the current parameters; loss values are "
             "certified enclosures:")
    rows = []
    cur = net
    for i in range(STEPS):
        before = loss_enclosure(cur, X, Y, "mse")
        st = certified_step(cur, X, Y, "mse", RADIUS)
        nxt = cur.with_params(st.theta_next)
        after = loss_enclosure(nxt, X, Y, "mse")
        rows.append([str(i + 1), down(st.eta), st.in_ball.name.lower(),
                     up(before, 8), up(after, 8), down(st.guaranteed_decrease, 4),
                     down(st.estimated_decrease, 4)])
        cur = nxt
    rep.table(["step", "$\\eta$ (rounded down)", "step in ball", "loss before (upper)",
               "loss after (upper)", "guaranteed decrease (certified lower end)",
               "descent-lemma decrease (float gradient, estimate)"], rows)

    rep.heading("ReLU: no smoothness constant, a witness instead")
    relu = Network.from_arrays([np.ones((2, 1)), np.ones((1, 2))],
                               [np.zeros(2), np.zeros(1)], "relu")
    try:
        grad_lipschitz(relu, [[1.0]], [[0.0]], "mse", 0.1)
        msg = "(unexpected: a number was returned)"
    except NotSmoothError as exc:
        msg = str(exc)
    rep.text("Asked for a gradient bound of a ReLU network, symlip refuses:")
    rep.code(msg)
    return rep


def _dec_up(s: str) -> str:
    from symlip.arith.enclosure import parse_decimal_enclosure

    return up(parse_decimal_enclosure(s, s))
