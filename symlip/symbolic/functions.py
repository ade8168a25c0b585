"""SymPy functions that SymPy lacks and symlip's formulas use."""

from __future__ import annotations

import sympy as sp

__all__ = ["sigmoid", "softplus", "overflow_free"]


class sigmoid(sp.Function):  # noqa: N801 - a mathematical function name
    r"""The logistic function $\sigma(x) = 1 / (1 + e^{-x})$."""

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_zero:
            return sp.Rational(1, 2)
        if x is sp.oo:
            return sp.Integer(1)
        if x is sp.S.NegativeInfinity:
            return sp.Integer(0)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, x: sp.Expr, **kwargs: object) -> sp.Expr:
        return 1 / (1 + sp.exp(-x))

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return r"\sigma\left(%s\right)" % printer._print(self.args[0])

    def _eval_is_positive(self) -> bool | None:
        return True if self.args[0].is_extended_real else None


class softplus(sp.Function):  # noqa: N801 - a mathematical function name
    r"""$\operatorname{softplus}(x) = \log(1 + e^x)$ as one node, for overflow-free
    evaluation: NumPy as ``logaddexp(0, x)``, interval arrays by the kernel
    ``log1p_exp`` of :mod:`symlip.arith.kernels`.  The activation itself is the exact tree
    $\log(1 + e^x)$; both numeric paths rewrite it to this node (an identity).  Its
    derivative is :class:`sigmoid` (evaluated stably as well)."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sigmoid(self.args[0])

    def _eval_rewrite_as_log(self, x: sp.Expr, **kwargs: object) -> sp.Expr:
        return sp.log(1 + sp.exp(x))

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return rf"\operatorname{{softplus}}\left({printer._print(self.args[0])}\right)"


def _is_one_plus_exp(e: sp.Basic) -> sp.Expr | None:
    """u when e is 1 + exp(u), else None."""
    if isinstance(e, sp.Add) and len(e.args) == 2 and sp.S.One in e.args:
        other = e.args[1] if e.args[0] == 1 else e.args[0]
        if isinstance(other, sp.exp):
            return other.args[0]
    return None


def overflow_free(expr: sp.Basic) -> sp.Basic:
    r"""The same function, rewritten with exact identities that avoid overflow in float64
    evaluation (the one rewrite of the NumPy estimate and the interval-array paths; the
    mpmath and exact paths keep the original expression).

    * $\log(1 + e^u) \to$ softplus$(u)$ (overflow-free kernel);
    * $e^{mu}(1 + e^u)^{-n} \to \sigma(u)^m \sigma(-u)^{n-m}$ for integers
      $0 \le m \le n$ (the derivatives of softplus), since $e^u/(1+e^u) = \sigma(u)$ and
      $1/(1+e^u) = \sigma(-u)$.
    """
    def is_log(e: sp.Basic) -> bool:
        return isinstance(e, sp.log) and _is_one_plus_exp(e.args[0]) is not None

    def to_softplus(e: sp.Basic) -> sp.Basic:
        return softplus(_is_one_plus_exp(e.args[0]))

    def is_ratio(e: sp.Basic) -> bool:
        if not isinstance(e, (sp.Mul, sp.Pow)):
            return False
        facs = e.args if isinstance(e, sp.Mul) else (e,)
        return any(isinstance(f, sp.Pow) and f.exp.is_Integer and f.exp < 0
                   and _is_one_plus_exp(f.base) is not None for f in facs)

    def to_sigmoid(e: sp.Basic) -> sp.Basic:
        facs = list(e.args if isinstance(e, sp.Mul) else (e,))
        for i, f in enumerate(facs):
            if not (isinstance(f, sp.Pow) and f.exp.is_Integer and f.exp < 0):
                continue
            u = _is_one_plus_exp(f.base)
            if u is None:
                continue
            n = -int(f.exp)
            for j, g in enumerate(facs):
                if j != i and isinstance(g, sp.exp):
                    m = sp.simplify(g.args[0] / u)
                    if m.is_Integer and 0 < int(m) <= n:
                        rest = [h for k, h in enumerate(facs) if k not in (i, j)]
                        new = sigmoid(u) ** int(m) * sigmoid(-u) ** (n - int(m))
                        return sp.Mul(*rest, new, evaluate=False)
            rest = [h for k, h in enumerate(facs) if k != i]
            return sp.Mul(*rest, sigmoid(-u) ** n, evaluate=False)
        return e

    if expr.has(sp.log):
        expr = expr.replace(is_log, to_softplus)
    if expr.has(sp.exp):  # products first (bottom-up replace would take the Pow alone)
        expr = expr.replace(lambda e: isinstance(e, sp.Mul) and is_ratio(e), to_sigmoid)
        expr = expr.replace(is_ratio, to_sigmoid)
    return expr
