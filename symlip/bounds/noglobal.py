r"""Why there is no *global* parameter-Lipschitz bound: a SymPy derivation.

Upper bound: on $B_r(0)$ the first-order recursion with $\rho_k = \beta_k = r$ and the
bounded-activation option $c_k \le \sqrt{n_k} S_0$ is a polynomial in $r$ of degree
$N - 1$ (as $l_N$; $2(N-1)$ as $l_N^2$).

Lower family: the width-one network $f = w_N \sigma(w_{N-1} \cdots \sigma(w_1 x))$ with
$\sigma(0) = 0$, $\sigma'(0) \ne 0$, at $\theta_t = (0, t, \dots, t)$, $t = r/\sqrt N$
(an interior point of $B_r(0)$): every pre-activation is $0$, so
$\partial f / \partial w_1 = x\, \sigma'(0)^{N-1} t^{N-1}$, and the Lipschitz constant on
$B_r(0)$ is at least that.  Both have degree $N-1$ in $r$ and tend to $\infty$: the local
bound has the right growth, and no finite global bound exists.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from symlip.activations.registry import X as ACT_X
from symlip.activations.registry import get_activation
from symlip.bounds import recursion as rec
from symlip.errors import InputError
from symlip.symbolic.derivation import Derivation, Tex

__all__ = ["no_global_bound"]


def no_global_bound(depth: int = 3, activation: str = "tanh") -> tuple[Derivation, dict[str, Any]]:
    """Derive degree and limit in ``r`` of the upper bound and of a lower-bound family.

    Returns:
        ``(derivation, facts)`` with ``facts = {"degree_upper", "degree_lower",
        "limit_upper", "limit_lower", "upper", "lower"}`` (SymPy objects).

    Raises:
        InputError: depth < 2 or an activation with $\\sigma(0) \\ne 0$ or
            $\\sigma'(0) = 0$ (the family needs both).

    Examples:
        >>> d, facts = no_global_bound(3)
        >>> facts["degree_upper"], facts["degree_lower"], facts["limit_upper"]
        (2, 2, oo)
    """
    if not isinstance(depth, int) or depth < 2:
        raise InputError(f"{depth=} must be an integer >= 2 (a linear layer is globally "
                         "Lipschitz in its parameters on bounded data)")
    act = get_activation(activation)
    expr = getattr(act, "expr", None)
    if expr is None:
        raise InputError(f"activation {activation!r} has no SymPy expression")
    s0 = sp.simplify(expr.subs(ACT_X, 0))
    d1 = sp.diff(expr, ACT_X).subs(ACT_X, 0)
    if s0 != 0 or d1.is_zero or d1.has(sp.nan) or not d1.is_finite:
        raise InputError(f"the lower-bound family needs sigma(0) = 0 and sigma'(0) != 0; "
                         f"{activation!r} has sigma(0) = {s0}, sigma'(0) = {d1}")
    N = depth
    r = rec.R
    x = sp.Symbol("x", positive=True)
    # ---- upper bound: recursion on B_r(0), bounded option c_k <= sqrt(n_k) S0 ----------
    n_ = sp.Symbol("n", positive=True)
    K1, S0 = rec.K1, rec.S0
    l2: sp.Expr = sp.Integer(0)
    cprev: sp.Expr = x
    for k in range(1, N + 1):
        m2 = cprev ** 2 + 1 + r ** 2 * l2
        l2 = sp.expand(K1 ** 2 * m2) if k < N else sp.expand(m2)
        cprev = sp.sqrt(n_) * S0
    upper = sp.sqrt(l2)
    deg_up2 = sp.degree(sp.Poly(l2, r))
    lim_up = sp.limit(upper.subs({K1: 1, S0: 1, n_: 1}), r, sp.oo)
    # ---- lower family ----------------------------------------------------------------
    w = sp.symbols(f"w_1:{N + 1}", real=True)
    f: sp.Expr = w[0] * x
    for k in range(1, N):
        f = w[k] * expr.subs(ACT_X, f)
    df = sp.diff(f, w[0])
    t = r / sp.sqrt(N)
    point = {w[0]: 0, **{w[k]: t for k in range(1, N)}}
    lower = sp.simplify(df.subs(point))
    deg_low = sp.degree(sp.Poly(sp.expand(lower), r))
    lim_low = sp.limit(lower, r, sp.oo)
    ratio = sp.limit(sp.sqrt(l2.subs({K1: 1, S0: 1, n_: 1})) / lower, r, sp.oo)
    d = Derivation(f"No global bound: growth in r (depth {N}, {act.name})")
    d.assume("$\\bar\\theta = 0$, biases in the ball, data point $x > 0$")
    d.step(Tex(r"l_N^2"), "<=", l2, "first-order recursion with $\\rho_k = \\beta_k = r$, "
           "$c_k \\le \\sqrt{n} S_0$ (hidden), $c_0 = x$")
    d.step(Tex(r"\deg_r l_N^2"), "=", deg_up2, "SymPy Poly.degree")
    d.step(Tex(r"\lim_{r\to\infty} l_N"), "=", lim_up, "SymPy limit ($K_1 = S_0 = n = 1$)")
    d.step(Tex("f"), "=", f, "width-one network, zero biases")
    d.step(Tex(r"\partial f/\partial w_1"), "=", df, "chain rule (SymPy diff)")
    d.step(Tex(r"\operatorname{Lip}_{B_r(0)} f"), ">=", lower,
           f"at $w_1 = 0$, $w_k = r/\\sqrt{{{N}}}$ (interior point): all pre-activations "
           "vanish")
    d.step(Tex(r"\deg_r"), "=", deg_low, "of the lower family")
    d.step(Tex(r"\lim_{r\to\infty}"), "=", lim_low, "SymPy limit")
    d.step(Tex(r"\lim_{r\to\infty} l_N / \mathrm{lower}"), "=", ratio,
           "finite: the local bound has the exact growth order")
    d.conclude(f"Both grow like $r^{{{N - 1}}}$ and tend to infinity: no finite global "
               "Lipschitz constant in the parameters exists; only local (ball) bounds do.")
    facts = {"degree_upper": sp.Integer(deg_up2) / 2, "degree_lower": sp.Integer(deg_low),
             "limit_upper": lim_up, "limit_lower": lim_low, "upper": upper,
             "lower": lower, "ratio_limit": ratio}
    facts["degree_upper"] = int(facts["degree_upper"])
    facts["degree_lower"] = int(facts["degree_lower"])
    return d, facts
