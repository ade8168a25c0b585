"""Why no global parameter-Lipschitz bound exists: degrees in r and the limit."""

from __future__ import annotations

import sympy as sp

from derivations._common import down, page, tex, up
from symlip.app.report import Report
from symlip.bounds import recursion as rec
from symlip.bounds.noglobal import no_global_bound
from symlip.symbolic.formula import Formula

SLUG = "no-global"
TITLE = "Why there is no global parameter-Lipschitz bound"
SUMMARY = ("The local bound and a lower-bound family both grow like $r^{N-1}$: SymPy "
           "degrees and limits as $r \\to \\infty$.")
DEPTH = 3


def build() -> Report:
    rep = page(TITLE, "no_global.py")
    rep.text("The parameter-Lipschitz bound of [the recursion](param-recursion.md) holds "
             "on a ball $B_r(\\bar\\theta)$ and grows with $r$. Is that a weakness of the "
             "bound? No: the true constant grows just as fast. symlip shows this by "
             "comparing the degree in $r$ of the upper bound with that of an explicit "
             "lower-bound family (a width-one network whose pre-activations vanish), and "
             "by SymPy limits.")
    d, facts = no_global_bound(DEPTH, "tanh")
    rep.heading(f"Derivation (depth {DEPTH}, tanh)")
    rep.derivation(d, level=3)

    rep.heading("Worked example: the two bounds as $r$ grows")
    upper = facts["upper"]
    lower = facts["lower"]
    n = sp.Symbol("n", positive=True)
    x = sp.Symbol("x", positive=True)
    vals = {rec.K1: 1, rec.S0: 1, n: 1, x: 1}
    fu = Formula(upper.subs(vals), [rec.R], name="upper")
    fl = Formula(lower.subs({x: 1}), [rec.R], name="lower")
    rep.text(f"With $K_1 = S_0 = 1$ (tanh), width $n = 1$ and data point $x = 1$, the upper "
             f"bound is $l_N = {tex(fu.expr)}$ and the lower family is "
             f"${tex(fl.expr)}$; both are evaluated in interval arithmetic:")
    rows = []
    for r in (1, 10, 100, 1000, 10000):
        eu = fu.enclose({"r": r})
        el = fl.enclose({"r": r})
        rows.append([str(r), up(eu), down(el), up(Formula(fu.expr / fl.expr, [rec.R])
                                                   .enclose({"r": r}), 6)])
    rep.table(["$r$", "upper bound $l_N$ (certified)", "lower family (certified)",
               "ratio (certified upper)"], rows)
    lim = facts["ratio_limit"]
    lim1 = sp.nsimplify(lim.subs(x, 1))
    rep.text(f"SymPy's limit of the ratio is ${tex(lim)}$, here ${tex(lim1)} \\approx "
             f"{float(lim1):.6f}$: the local bound has the "
             "exact growth order, and since the lower family is unbounded no finite global "
             "constant exists.")
    return rep
