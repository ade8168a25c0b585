"""Lipschitz constants of activations by critical points (S0, K1, K2 of the registry)."""

from __future__ import annotations

from derivations._common import enc, page, tex
from symlip.activations.registry import activation_names, get_activation
from symlip.app.report import Report

SLUG = "activations"
TITLE = "Lipschitz constants of activations by critical points"
SUMMARY = ("$S_0 = \\sup|\\sigma|$, $K_1 = \\sup|\\sigma'|$, $K_2 = \\mathrm{Lip}(\\sigma')$ "
           "for every registered activation, exact where a closed form exists.")


def build() -> Report:
    rep = page(TITLE, "activations.py")
    rep.text("Every bound in symlip needs four constants of the activation $\\sigma$: "
             "$S_0 = \\sup|\\sigma|$, the Lipschitz constant $K_1 = \\sup|\\sigma'|$, the "
             "Lipschitz constant $K_2$ of $\\sigma'$ ($= \\sup|\\sigma''|$ where $\\sigma$ "
             "is $C^2$) and $s_0 = |\\sigma(0)|$. They are derived from the SymPy "
             "expression of $\\sigma$, never from a float optimiser:")
    rep.bullets([
        "differentiate; where possible substitute $u = e^x$ so that the function becomes "
        "rational in $u$ and its critical points are the positive real roots of a "
        "polynomial (SymPy finds *all* of them, so the list of candidates is complete);",
        "take the limits at $\\pm\\infty$ (SymPy limits, guarded by rigorous tail "
        "enclosures) and the one-sided values at break points of piecewise functions;",
        "compare all candidates in interval arithmetic (ties by exact simplification): the "
        "largest is the supremum, with its exact form;",
        "where the critical-point equation has no closed form (SiLU), enclose the root "
        "rigorously (interval methods) and the supremum with it; where $\\sigma'$ jumps "
        "(ReLU), $K_2 = \\infty$ with the reason.",
    ])

    tanh = get_activation("tanh")
    rep.heading("Worked derivation: tanh")
    rep.text("The complete derivation symlip prints for $\\tanh$ "
             "(`symlip activation tanh --latex`):")
    rep.derivation(tanh.constants.derivation, level=3)

    gelu = get_activation("gelu")
    rep.heading("A closed form with erf: GELU")
    rep.text("$\\mathrm{GELU}(x) = x\\,\\Phi(x)$ in its exact erf form. The critical "
             "point of $\\sigma'$ is found exactly, and $K_1$ comes out as a closed form:")
    rep.derivation(gelu.constants.K1.derivation, level=3)

    silu = get_activation("silu")
    rep.heading("No closed form: SiLU")
    rep.text("For $\\mathrm{SiLU}(x) = x/(1 + e^{-x})$ the critical-point equation of "
             "$\\sigma'$ is transcendental; the supremum is still certified, from a "
             "rigorous enclosure of the root:")
    rep.derivation(silu.constants.K1.derivation, level=3)

    relu = get_activation("relu")
    rep.heading("When $K_2$ is infinite: ReLU")
    rep.text(f"{relu.constants.K2.reason.rstrip('.')}. Bounds that need $K_2$ (the "
             "gradient-Lipschitz bound, see [smoothness](smoothness.md)) refuse such "
             "activations and give a witness instead of a number.")
    if relu.constants.K2.derivation is not None:
        rep.derivation(relu.constants.K2.derivation, level=3)

    rep.heading("Worked example: the whole registry")
    rep.text("The certified constants of every registered activation (default parameters); "
             "enclosures are rounded outward to 8 digits.")
    rows = []
    for name in activation_names():
        c = get_activation(name).constants
        row = [f"`{name}`"]
        for key in ("S0", "K1", "K2"):
            k = getattr(c, key)
            ex = "" if k.exact is None else f"${tex(k.exact)}$"
            row.append(ex if not k.is_finite else
                       (f"{ex} {enc(k.enclosure)}" if ex else enc(k.enclosure)))
        rows.append(row)
    rep.table(["activation", "$S_0$", "$K_1$", "$K_2$"], rows)
    rep.text("Reproduce any row with `symlip activation NAME` (`--json` for the outward "
             "decimal strings, `--latex` for the derivation).")
    return rep
