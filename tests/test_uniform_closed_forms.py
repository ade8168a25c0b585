"""Closed forms of the uniform recursions (issue #19): rsolve solutions equal their
recursions exactly at N = 1..8 in rational symbols, including the branch K1 rho = 1;
the leading growth in the depth; ``derive --uniform`` prints both orders."""

from __future__ import annotations

import sympy as sp

from symlip.bounds import recursion as rec
from symlip.cli import main

k, N = sp.symbols("k N", integer=True, nonnegative=True)
RHO, C = sp.Symbol("rho", nonnegative=True), sp.Symbol("c", nonnegative=True)
CASES = [  # (K1, rho, c, K2): K1 rho > 1, = 1 (twice), < 1
    (sp.Rational(3, 4), sp.Rational(5, 3), sp.Rational(7, 2), sp.Rational(1, 3)),
    (sp.Rational(1, 2), sp.Integer(2), sp.Rational(3, 4), sp.Rational(2, 5)),
    (sp.Integer(1), sp.Integer(1), sp.Integer(0), sp.Integer(1)),
    (sp.Rational(2, 3), sp.Rational(3, 5), sp.Rational(1, 2), sp.Rational(5, 7)),
]


def _eq(a, b):
    return sp.simplify(sp.nsimplify(a) - b) == 0 or sp.expand(sp.radsimp(a - b)) == 0


def test_first_order_closed_form_equals_recursion_every_branch():
    Lk, lN2, _ = rec.uniform_first_order()
    assert isinstance(Lk, sp.Piecewise) and isinstance(lN2, sp.Piecewise)
    for K1, rho, c, _k2 in CASES:
        subs = {rec.K1: K1, RHO: rho, C: c}
        L = sp.Integer(0)
        for depth in range(1, 9):
            assert _eq(lN2.subs(subs).subs(N, depth), c**2 + 1 + rho**2 * L)
            L = K1**2 * (c**2 + 1 + rho**2 * L)
            assert _eq(Lk.subs(subs).subs(k, depth), L)


def test_second_order_closed_form_equals_recursion_every_branch():
    out, _ = rec.uniform_second_order()
    for name in ("L", "Lambda", "H", "h_N"):
        assert isinstance(out[name], sp.Piecewise)
    for K1, rho, c, K2 in CASES:
        subs = {rec.K1: K1, rec.K2: K2, RHO: rho, C: c}
        s = sp.sqrt(c**2 + 1)
        L, Lam, H = sp.Integer(0), sp.Integer(0), sp.Integer(0)
        for depth in range(1, 9):
            # the read-out bound of h_N uses the hidden values at N - 1
            assert _eq(out["h_N"].subs(subs).subs(N, depth), rho * H + Lam)
            H = K2 * (c**2 + 1 + rho**2 * L) + K1 * rho * H + K1 * Lam
            L = K1**2 * (c**2 + 1 + rho**2 * L)
            Lam = K1 * (s + rho * Lam)
            for name, val in (("L", L), ("Lambda", Lam), ("H", H)):
                assert _eq(out[name].subs(subs).subs(k, depth), val), (name, depth, K1 * rho)


def test_second_order_recursion_bounds_the_program_on_uniform_inputs():
    """H (uniform, linearised) bounds the program's h_N with uniform inputs (exactly)."""
    out, _ = rec.uniform_second_order()
    K1, rho, c, K2 = sp.Rational(3, 4), sp.Rational(5, 3), sp.Rational(1, 2), sp.Rational(1, 3)
    for depth in (2, 3, 4):
        defs, inputs = rec.second_order_program(depth, bounded=False, centre=False)
        vals = {}
        for sym in inputs:
            name = str(sym)
            vals[sym] = {"K1": K1, "K2": K2, "r": 0, "s0": 0}.get(name)
            if name.startswith(("rho_", "kappa_", "omega_")):
                vals[sym] = rho
            elif name.startswith(("beta_", "n_")):
                vals[sym] = sp.Integer(0) if name.startswith("beta_") else sp.Integer(1)
            elif name == "c_0":
                vals[sym] = c
        env = dict(vals)
        for d in defs:
            v = d.expr.xreplace(env)
            if str(d.symbol).startswith("c_"):
                v = sp.Min(v, c)  # the uniform hypothesis c_k <= c
            env[d.symbol] = v
        hN = env[rec.h(depth)]
        bound = out["h_N"].subs({rec.K1: K1, rec.K2: K2, RHO: rho, C: c, N: depth})
        assert sp.N(bound - hN, 50) >= 0


def test_growth_in_depth():
    q = rec.Q
    assert rec.leading_growth((q**(2 * N) - 1) / (q**2 - 1), N, q, "q>1") == \
        q**(2 * N) / ((q - 1) * (q + 1))
    assert rec.leading_growth(N * (N - 1) / 2 + 3, N, q, "q=1") == N**2 / 2
    assert sp.simplify(rec.leading_growth((q**(2 * N) - 1) / (q**2 - 1), N, q, "q<1")
                       - 1 / (1 - q**2)) == 0
    _, d = rec.uniform_second_order()
    text = d.to_text()
    assert "h_N ~" in text and "N**2" in text and "q**(2*N)" in text


def test_derive_uniform_prints_both_orders(capsys):
    assert main(["derive", "--wrt", "gradient", "--depth", "3", "--uniform"]) == 0
    out = capsys.readouterr().out
    assert "closed form of the first-order recursion" in out
    assert "closed form of the second-order (gradient) recursion" in out
    assert "Eq(q, 1)" in out
    assert main(["derive", "--wrt", "params", "--depth", "3", "--uniform"]) == 0
    out = capsys.readouterr().out
    assert "first-order" in out and "second-order (gradient) recursion" not in out


def test_derive_prints_simplified_closed_forms(capsys):
    assert main(["derive", "--wrt", "gradient", "--depth", "6"]) == 0
    out = capsys.readouterr().out
    assert "Per-layer closed forms (simplified)" in out
    assert "(simplified)" in out and "layers 3-5" in out


def test_simplify_nonneg_rewrites_are_identities():
    from symlip.symbolic.simplify import simplify_nonneg

    a, b, v = (sp.Symbol(n, nonnegative=True) for n in "abv")
    e = a / 2 + sp.sqrt(a**2 + 4 * b**2) / 2 + sp.Min(a * b, a * v)
    s = simplify_nonneg(e)
    assert len(sp.latex(s)) < len(sp.latex(e))
    assert s.has(sp.Min(b, v))
    for x in (sp.Rational(1, 3), sp.Rational(7, 2)):
        pt = {a: x, b: 2 * x + 1, v: x / 5}
        assert sp.simplify(e.xreplace(pt) - s.xreplace(pt)) == 0
