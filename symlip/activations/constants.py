r"""Derivation of the certified constants $S_0, K_1, K_2, s_0$ of an activation.

Everything is derived from the activation's SymPy expression $\sigma$; nothing is
tabulated by hand.

**Pieces.**  ``Max``/``Min``/``Abs`` are rewritten as ``Piecewise``; the real line is
cut at the break points into open intervals on each of which $\sigma$ is one analytic
expression.

**Supremum of $|h|$ on a piece $(a, b)$** ($h = \sigma, \sigma', \sigma''$).  Since $h$
is $C^1$ on $(a, b)$, $\sup_{(a,b)} |h| = \max(\sup h, -\inf h)$ is the largest of
$|h|$ at the critical points ($h' = 0$) and of $|\lim h|$ at the two ends (Weierstrass
on $[a + \epsilon, b - \epsilon]$, then $\epsilon \to 0$).  SymPy supplies:

* the critical points, either through the substitution $u = e^x$ (when $h$ is a
  rational function of $e^x$: the roots of a polynomial in $u$ in $(e^a, e^b)$, a
  complete list) or through ``solveset`` over the piece — accepted only when it
  returns a ``FiniteSet`` (a complete list); for a periodic $h$ on the whole line, the
  critical points in one period $[0, T]$;
* the limits at the ends (``sympy.limit``); an infinite limit gives $\infty$.

The candidates are compared with rigorous interval enclosures (ties by exact
simplification).  When SymPy finds no complete list (SiLU), the supremum comes from
:func:`symlip.activations.sup.rigorous_sup_abs` (interval branch and bound + proved tail bound,
with an exact-maximiser certificate when one exists).

**Lipschitz constants across break points.**  If $\sigma$ is continuous and piecewise
$C^1$, $\operatorname{Lip}(\sigma) = \max_{\text{pieces}} \sup |\sigma'|$; likewise
$K_2$ from $\sigma''$ if $\sigma'$ is continuous.  If $\sigma'$ jumps at a break point,
$\sigma'$ is not Lipschitz: $K_2 = \infty$.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sympy as sp
from sympy.functions.elementary.trigonometric import TrigonometricFunction

from symlip.activations.sup import exp_tail_enclosure, rigorous_sup_abs
from symlip.arith.enclosure import Enclosure, Truth, compare
from symlip.symbolic.compile import enclose
from symlip.symbolic.derivation import Derivation, Tex
from symlip.symbolic.functions import sigmoid

if TYPE_CHECKING:  # pragma: no cover
    from symlip.activations.registry import Activation, ActivationConstants

__all__ = ["derive_constants", "sup_abs", "PieceSup", "clear_cache"]

_CACHE: dict[tuple[str, str], ActivationConstants] = {}
#: seconds spent per derivation (diagnostics for tests and the report)
TIMINGS: dict[tuple[str, str], float] = {}


@dataclass
class PieceSup:
    """$\\sup |h|$ over a set, with the proof.

    Attributes:
        exact: exact SymPy value (``sympy.oo`` when unbounded), or ``None``.
        enclosure: rigorous enclosure of the supremum.
        where: how it is reached (``"x = sqrt(2)"``, ``"limit at +oo"``...).
        derivation: the steps.
    """

    exact: sp.Expr | None
    enclosure: Enclosure
    where: str
    derivation: Derivation = field(default_factory=lambda: Derivation(""))

    @property
    def infinite(self) -> bool:
        return self.exact is sp.oo


def clear_cache() -> None:
    """Forget cached derivations (tests use it to time cold runs)."""
    _CACHE.clear()


# -------------------------------------------------------------------------------------
# pieces
# -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    lo: sp.Expr
    hi: sp.Expr
    expr: sp.Expr


def _pieces(expr: sp.Expr, x: sp.Symbol) -> list[_Piece]:
    """Cut the line into open intervals on which ``expr`` is one analytic expression."""
    e = expr
    if e.has(sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign):
        e = e.rewrite(sp.Piecewise)
    e = sp.piecewise_fold(e)
    if not isinstance(e, sp.Piecewise):
        return [_Piece(-sp.oo, sp.oo, e)]
    remaining: sp.Set = sp.S.Reals
    out: list[_Piece] = []
    for ex, cond in e.args:
        s = remaining if cond is sp.true else (cond.as_set() & remaining)
        remaining = remaining - s
        parts = s.args if isinstance(s, sp.Union) else (s,)
        for p in parts:
            if isinstance(p, sp.Interval) and p.measure > 0:
                out.append(_Piece(p.start, p.end, ex))
            elif not (isinstance(p, sp.FiniteSet) or p is sp.S.EmptySet):
                raise ValueError(f"cannot split {expr} into intervals: piece {p}")
    return sorted(out, key=lambda q: float(q.lo) if q.lo.is_finite else -1e308)


def _jumps(pieces: list[_Piece], x: sp.Symbol) -> list[tuple[sp.Expr, sp.Expr, sp.Expr]]:
    """Break points where the piecewise function jumps: (point, left limit, right limit)."""
    out = []
    for left, right in zip(pieces, pieces[1:], strict=False):
        p = left.hi
        lv = sp.limit(left.expr, x, p, "-")
        rv = sp.limit(right.expr, x, p, "+")
        if sp.simplify(lv - rv) != 0:
            out.append((p, lv, rv))
    return out


# -------------------------------------------------------------------------------------
# sup |h| on one open interval
# -------------------------------------------------------------------------------------


def _abs_exact(v: sp.Expr) -> sp.Expr:
    """|v| for an exact real constant, deciding the sign rigorously."""
    if v == 0:
        return sp.Integer(0)
    e = enclose(v)
    if e.lower <= 0 <= e.upper:
        v = sp.simplify(v)
        if v == 0:
            return sp.Integer(0)
        e = enclose(v)
    if e.lower >= 0:
        return v
    if e.upper <= 0:
        return sp.simplify(-v)
    return sp.Abs(v)  # pragma: no cover - sign undecided at 80 bits: keep |.|


def _fmt_point(p: sp.Expr) -> str:
    if p is sp.oo:
        return "+oo"
    if p is sp.S.NegativeInfinity:
        return "-oo"
    return str(p)


def _exp_rational(h: sp.Expr, x: sp.Symbol) -> tuple[sp.Symbol, sp.Expr] | None:
    """``(u, H)`` with ``h(x) = H(e^x)`` and H rational in u, when h has that form."""
    u = sp.Symbol("u", positive=True)
    hu = h.rewrite(sp.exp).subs(sp.exp(x), u)
    if hu.has(x) or not hu.has(u):
        return None
    hu = sp.simplify(hu)
    if hu.has(x) or not hu.has(u) or not hu.is_rational_function(u):
        return None
    return u, hu


def _limit(h: sp.Expr, x: sp.Symbol, end: sp.Expr, direction: str) -> sp.Expr:
    """``sympy.limit``, guarded by :func:`_check_tail_limit`; retried on a second form."""
    e = h.rewrite(sp.exp)
    forms = (sp.together(e), e) if h.has(sigmoid) else (e, sp.together(e))  # faster first
    for i, form in enumerate(forms):
        lim = sp.limit(form, x, end, direction)
        try:
            _check_tail_limit(h, x, end, lim)
        except ValueError:
            if i == len(forms) - 1:
                raise
            continue
        return lim
    raise AssertionError("unreachable")  # pragma: no cover


def _check_tail_limit(h: sp.Expr, x: sp.Symbol, end: sp.Expr, lim: sp.Expr) -> None:
    r"""Guard against wrong SymPy limits (seen: ``limit(silu'.rewrite(exp), x, oo) = 0``).

    When :func:`~symlip.activations.sup.exp_tail_enclosure` applies, it encloses h on the whole tail
    $|x| \ge 40$ rigorously, so a finite limit must lie in that enclosure.
    """
    if end.is_finite or not lim.is_finite:
        return
    try:
        rng, _ = exp_tail_enclosure(h, x, 40, "+" if end is sp.oo else "-")
    except ValueError:
        return
    if not rng.contains(enclose(lim)):
        raise ValueError(f"SymPy's limit of {h} at {end} is {lim}, outside the rigorous tail "
                         f"enclosure {rng!r}")


def _u_of(end: sp.Expr) -> sp.Expr:
    if end is sp.S.NegativeInfinity:
        return sp.Integer(0)
    if end is sp.oo:
        return sp.oo
    return sp.exp(end)


def _critical_points(h: sp.Expr, x: sp.Symbol, a: sp.Expr, b: sp.Expr,
                     d: Derivation, name: str,
                     er: tuple[sp.Symbol, sp.Expr] | None) -> tuple[list[tuple[sp.Expr, sp.Expr]],
                                                                     bool]:
    """Critical points of h in (a, b) as (x, exact h(x)); bool = the list is complete."""
    if er is not None:
        u, hu = er
        num, _den = sp.fraction(sp.together(sp.diff(hu, u)))
        ua, ub = _u_of(a), _u_of(b)
        roots = sp.solveset(num, u, sp.Interval.open(ua, ub))
        if (isinstance(roots, sp.FiniteSet) or roots is sp.S.EmptySet) and num.is_number:
            d.step(Tex(rf"{name}'(x) = 0"), "=>", sp.Eq(num, 0),
                   f"$d/du$ has the constant numerator ${sp.latex(num)}$: no critical points")
            return [], True
        if isinstance(roots, sp.FiniteSet) or roots is sp.S.EmptySet:
            d.step(Tex(rf"{name}'(x) = 0"), "=>", sp.Eq(sp.factor(num), 0),
                   rf"critical points of ${name}$ ($d/dx = u\, d/du$), $u \in "
                   f"({sp.latex(ua)}, {sp.latex(ub)})$")
            d.step(Tex("u"), "in", roots, "all real roots of the polynomial (complete)")
            return [(sp.log(r), sp.simplify(hu.subs(u, r))) for r in roots], True
    dh = sp.diff(h, x)
    if dh == 0:
        return [], True
    sol = sp.solveset(sp.Eq(dh, 0), x, sp.Interval.open(a, b))
    if isinstance(sol, sp.FiniteSet) or sol is sp.S.EmptySet:
        d.step(Tex(rf"\{{x : {name}'(x) = 0\}}"), "=", sol,
               f"critical points of ${name}$ (solveset: a finite set, complete)")
        return [(c, sp.simplify(h.subs(x, c))) for c in sol], True
    d.step(Tex(rf"\{{x : {name}'(x) = 0\}}"), "=", sol,
           "critical points of $" + name + "$: no complete closed form")
    return [], False


def sup_abs(h: Any, x: sp.Symbol, a: Any = -sp.oo, b: Any = sp.oo,
            name: str = "h") -> PieceSup:
    r"""$\sup_{a < x < b} |h(x)|$ for $h$ analytic on $(a, b)$, exactly when possible.

    Args:
        h: SymPy expression in ``x``.
        x: the variable.
        a, b: interval ends (may be infinite).
        name: LaTeX name of $h$ in the derivation.

    Returns:
        :class:`PieceSup` with an exact value when SymPy finds all critical points
        (or a rigorous method certifies the maximiser), always with an enclosure.

    Examples:
        >>> import sympy as sp
        >>> x = sp.Symbol("x", real=True)
        >>> sup_abs(sp.diff(sp.tanh(x), x, 2), x).exact
        4*sqrt(3)/9
    """
    h = sp.sympify(h)
    a, b = sp.sympify(a), sp.sympify(b)
    plain = name.replace("\\", "")
    d = Derivation(f"sup |{plain}| on ({_fmt_point(a)}, {_fmt_point(b)})")
    d.step(Tex(rf"{name}(x)"), "=", h)
    if not h.has(x):
        v = _abs_exact(h)
        d.step(Tex(rf"\sup |{name}|"), "=", v, "constant")
        return PieceSup(v, enclose(v), "constant", d)
    cands: list[tuple[str, str, sp.Expr]] = []  # (where, LaTeX of the candidate, value)
    period = None
    if a is sp.S.NegativeInfinity and b is sp.oo and h.atoms(TrigonometricFunction):
        try:
            period = sp.periodicity(h, x)
        except (NotImplementedError, ValueError, TypeError):  # pragma: no cover
            period = None
    if period is not None and period != 0:
        d.step(Tex(rf"{name}(x + {sp.latex(period)})"), "=", Tex(rf"{name}(x)"),
               "periodic: the sup over $\\mathbb{R}$ is the max over one period")
        sol = sp.solveset(sp.Eq(sp.diff(h, x), 0), x, sp.Interval(0, period))
        if not (isinstance(sol, sp.FiniteSet) or sol is sp.S.EmptySet):
            raise ValueError(f"no finite set of critical points of {h} in one period")
        d.step(Tex(rf"\{{x \in [0, {sp.latex(period)}] : {name}'(x) = 0\}}"), "=", sol,
               f"critical points of ${name}$ in one period (complete)")
        for c in [sp.Integer(0), period, *sol]:
            cands.append((f"x = {c}", rf"|{name}({sp.latex(c)})|", sp.simplify(h.subs(x, c))))
        return _compare(cands, d, name)
    er = _exp_rational(h, x)
    if er is not None:
        d.step(Tex(rf"{name}(x)"), "=", er[1].subs(er[0], sp.Symbol("u")),
               "substitute $u = e^x$: a rational function of $u$")
    # ends
    for end, direction in ((a, "+"), (b, "-")):
        if er is not None:  # limits of a rational function of u = e^x
            lim = sp.limit(er[1], er[0], _u_of(end), direction)
        else:
            lim = _limit(h, x, end, direction)
        if end.is_finite:
            why = f"limit at the break point {end} (from {'right' if direction == '+' else 'left'})"
            lim_tex = rf"\lim_{{x \to {sp.latex(end)}^{direction}}}"
        else:
            why = f"limit at {_fmt_point(end)}"
            lim_tex = rf"\lim_{{x \to {sp.latex(end)}}}"
        lhs = Tex(rf"{lim_tex} {name}(x)")
        d.step(lhs, "=", lim, why)
        if lim in (sp.oo, sp.S.NegativeInfinity, sp.zoo):
            d.step(Tex(rf"\sup |{name}|"), "=", sp.oo, why)
            return PieceSup(sp.oo, Enclosure.unbounded_above(0), why, d)
        if not (lim.is_real and lim.is_finite):
            raise ValueError(f"limit of {h} at {end} is {lim}, not a finite real")
        cands.append((why, rf"{lim_tex} |{name}(x)|", lim))
    crit, complete = _critical_points(h, x, a, b, d, name, er)
    cands.extend((f"x = {c}", rf"|{name}({sp.latex(c)})|", v) for c, v in crit)
    if complete:
        return _compare(cands, d, name)
    # rigorous fallback: interval branch and bound + tail bounds
    res = rigorous_sup_abs(h, x, a, b, name=name)
    d.section(res.derivation)
    where = "rigorous branch and bound"
    if res.exact is not None:
        return PieceSup(res.exact, res.enclosure, f"x = {res.argmax_exact} (certified)", d)
    if res.argmax is not None:
        where = f"x in {res.argmax!r} (branch and bound)"
    return PieceSup(None, res.enclosure, where, d)


def _compare(cands: list[tuple[str, str, sp.Expr]], d: Derivation, name: str) -> PieceSup:
    """The largest |value| among the candidates, decided by enclosures (ties exactly)."""
    vals = [(w, _abs_exact(v)) for w, _, v in cands]
    encs = [enclose(v) for _, v in vals]
    best = max(range(len(vals)), key=lambda i: encs[i].lower)
    for i, (_, v) in enumerate(vals):
        if i == best:
            continue
        t = compare(encs[i], "<=", encs[best])
        if t is Truth.TRUE:
            continue
        if sp.simplify(v - vals[best][1]) == 0:
            continue
        raise ValueError(f"cannot order candidates {v} and {vals[best][1]} rigorously")
    for (_, tex, _), (_, v) in zip(cands, vals, strict=True):
        d.step(Tex(tex), "=", v, "candidate")
    where, value = vals[best]
    d.step(Tex(rf"\sup |{name}|"), "=", value,
           "compare all candidates (interval enclosures; ties by exact simplification)")
    return PieceSup(value, enclose(value), where, d)


# -------------------------------------------------------------------------------------
# the four constants
# -------------------------------------------------------------------------------------


def _sup_over_pieces(pieces: list[_Piece], x: sp.Symbol, k: int, name: str,
                     title: str) -> tuple[PieceSup, Derivation]:
    d = Derivation(title)
    results: list[PieceSup] = []
    for p in pieces:
        h = sp.diff(p.expr, x, k) if k else p.expr
        r = sup_abs(h, x, p.lo, p.hi, name=name)
        d.section(r.derivation)
        results.append(r)
        if r.infinite:
            return r, d
    if len(results) == 1:
        return results[0], d
    encs = [r.enclosure for r in results]
    best = max(range(len(results)), key=lambda i: encs[i].lower)
    for i, r in enumerate(results):
        if i != best and compare(encs[i], "<=", encs[best]) is not Truth.TRUE:
            if not (r.exact is not None and results[best].exact is not None
                    and sp.simplify(r.exact - results[best].exact) == 0):
                # undecided: report the hull (sound), no exact value
                lo = max(e.lower for e in encs)
                hi = max(e.upper for e in encs)
                return PieceSup(None, Enclosure(lo, hi), "max over pieces", d), d
    out = results[best]
    d.step(Tex(rf"\sup |{name}|"), "=", out.exact if out.exact is not None else
           Tex(repr(out.enclosure)), "maximum over the pieces")
    return out, d


def _const(cls: Any, key: str, sup: PieceSup, reason: str, d: Derivation) -> Any:
    if sup.exact is sp.oo:
        return cls.exact_value(key, sp.oo, reason=reason, derivation=d)
    if sup.exact is not None:
        return cls(key, enclose(sup.exact), sup.exact, reason, d)
    return cls(key, sup.enclosure, None, reason, d)


def derive_constants(act: Activation) -> ActivationConstants:
    """Derive $S_0, K_1, K_2, s_0$ of ``act`` from its SymPy expression (cached).

    Returns:
        :class:`~symlip.activations.registry.ActivationConstants`; each finite constant has an
        exact SymPy value when one exists and a rigorous enclosure of width < 1e-12
        (upper end rounded up); an infinite one has ``exact = oo`` and a reason.

    Raises:
        ValueError: the expression is outside what the method handles (e.g. a limit
            that does not exist on a non-periodic piece).
    """
    from symlip.activations.registry import ActivationConstants, Constant, X

    key = (act.name, sp.srepr(act.expr))
    if key in _CACHE:
        return _CACHE[key]
    t0 = time.perf_counter()
    x = X
    sig = act.expr
    pieces = _pieces(sig, x)
    lab = act.label
    d_all = Derivation(f"Certified constants of {lab}")
    shown = sig.rewrite(sp.exp) if sig.has(sigmoid) else sig
    d_all.assume(f"$\\sigma(x) = {sp.latex(shown)}$")
    if len(pieces) > 1:
        d_all.assume("pieces: " + ", ".join(
            f"$({sp.latex(p.lo)}, {sp.latex(p.hi)})$: $\\sigma = {sp.latex(p.expr)}$"
            for p in pieces))

    # S0
    s0_sup, d_s0 = _sup_over_pieces(pieces, x, 0, r"\sigma", "S0 = sup |sigma|")
    S0 = _const(Constant, "S0", s0_sup, s0_sup.where, d_s0)

    # K1
    jumps0 = _jumps(pieces, x)
    if jumps0:
        p, lv, rv = jumps0[0]
        reason = f"sigma jumps at x = {p} (left limit {lv}, right limit {rv})"
        K1 = Constant.exact_value("K1", sp.oo, reason=reason,
                                  derivation=Derivation("K1 = Lip(sigma)").conclude(reason))
    else:
        k1_sup, d_k1 = _sup_over_pieces(pieces, x, 1, r"\sigma'", "K1 = sup |sigma'|")
        if len(pieces) > 1:
            d_k1.hypotheses.append(
                "$\\sigma$ is continuous and piecewise $C^1$: Lip$(\\sigma) = \\max$ over "
                "pieces of $\\sup|\\sigma'|$")
        K1 = _const(Constant, "K1", k1_sup, k1_sup.where, d_k1)

    # K2
    dpieces = [_Piece(p.lo, p.hi, sp.diff(p.expr, x)) for p in pieces]
    jumps1 = _jumps(dpieces, x)
    if jumps0 or jumps1:
        p, lv, rv = (jumps0 or jumps1)[0]
        what = "sigma" if jumps0 else "sigma'"
        reason = (f"{what} jumps at x = {p} (left limit {lv}, right limit {rv}), so sigma' "
                  f"is not Lipschitz")
        dk2 = Derivation("K2 = Lip(sigma')")
        dk2.step(Tex(rf"\sigma'({sp.latex(p)}^-)"), "=", lv, "limit from the left")
        dk2.step(Tex(rf"\sigma'({sp.latex(p)}^+)"), "=", rv, "limit from the right")
        dk2.step(Tex("K_2"), "=", sp.oo, "$\\sigma'$ jumps: not Lipschitz")
        K2 = Constant.exact_value("K2", sp.oo, reason=reason, derivation=dk2)
    else:
        k2_sup, d_k2 = _sup_over_pieces(pieces, x, 2, r"\sigma''", "K2 = sup |sigma''|")
        if len(pieces) > 1:
            d_k2.hypotheses.append(
                "$\\sigma'$ is continuous and piecewise $C^1$: Lip$(\\sigma') = \\max$ over "
                "pieces of $\\sup|\\sigma''|$")
        K2 = _const(Constant, "K2", k2_sup, k2_sup.where, d_k2)

    # sigma0
    v0 = _abs_exact(sig.subs(x, 0))
    d0 = Derivation("s0 = |sigma(0)|").step(Tex(r"|\sigma(0)|"), "=", v0, "substitute x = 0")
    sigma0 = Constant("sigma0", enclose(v0), v0, "value at 0", d0)

    for c, sym in ((S0, "S_0"), (K1, "K_1"), (K2, "K_2"), (sigma0, "s_0")):
        if c.derivation is not None:
            if c.is_finite:
                c.derivation.conclude(
                    f"${sym} \\in [{c.enclosure.lower_str(17)}, {c.enclosure.upper_str(17)}]$ "
                    "(rigorous interval enclosure, rounded outward)")
            elif not c.derivation.conclusion:
                c.derivation.conclude(f"${sym} = \\infty$: {c.reason}")
            d_all.section(c.derivation)
    out = ActivationConstants(S0, K1, K2, sigma0, d_all)
    _CACHE[key] = out
    TIMINGS[key] = time.perf_counter() - t0
    return out


# -------------------------------------------------------------------------------------
# shipped enclosures (no derivation in a cold process)
# -------------------------------------------------------------------------------------

#: certified constants of the registered activations (default parameters), written by
#: :func:`write_shipped_table` from :func:`derive_constants`; ``tests/test_constants_table``
#: derives them again and requires the same enclosures and exact values
SHIPPED_TABLE = "activation_constants.json"


def _table_key(act: Any) -> str:
    import hashlib

    h = hashlib.sha256(sp.srepr(act.expr).encode()).hexdigest()[:16]
    return f"{act.name}|{act.label}|{h}"


def constants_record(c: Any) -> dict[str, Any]:
    """The table entry of derived constants: exact enclosure endpoints, exact values."""
    out = {}
    for key in ("S0", "K1", "K2", "sigma0"):
        k = getattr(c, key)
        out[key] = {"enclosure": None if not k.is_finite else k.enclosure.to_dict(exact=True),
                    "exact": None if k.exact is None else sp.srepr(k.exact),
                    "reason": k.reason}
    return out


class _LazyDerivation(Derivation):
    """A :class:`~symlip.symbolic.derivation.Derivation` that derives the constants (the slow path)
    the first time any attribute is read: shipped constants keep their proofs
    available without paying for them up front."""

    def __init__(self, resolve: Any) -> None:  # noqa: D107 - no dataclass init on purpose
        object.__setattr__(self, "_resolve", resolve)

    def __getattribute__(self, name: str) -> Any:
        if name in ("_resolve", "__class__", "__dict__"):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "_resolve")(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_resolve")(), name, value)


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    import json
    from pathlib import Path

    try:
        text = (Path(__file__).resolve().parent.parent / "data" / SHIPPED_TABLE).read_text()
    except FileNotFoundError:  # pragma: no cover - a broken install: derive instead
        return {}
    return json.loads(text)


def shipped_constants(act: Any) -> Any:
    """The shipped constants of ``act`` (same expression as when the table was written),
    or ``None``; their derivations are computed on first access."""
    from symlip.activations.registry import ActivationConstants, Constant
    from symlip.arith.enclosure import Enclosure

    rec = _shipped().get(_table_key(act))
    if rec is None:
        return None
    consts = {}
    for key in ("S0", "K1", "K2", "sigma0"):
        e = rec[key]
        exact = _read(e["exact"])
        lazy = _LazyDerivation(lambda key=key: getattr(derive_constants(act), key).derivation)
        if e["enclosure"] is None:
            consts[key] = Constant.exact_value(key, sp.oo, reason=e["reason"], derivation=lazy)
        else:
            consts[key] = Constant(key, Enclosure.from_dict(e["enclosure"]), exact,
                                   e["reason"], lazy)
    return ActivationConstants(consts["S0"], consts["K1"], consts["K2"], consts["sigma0"],
                               _LazyDerivation(lambda: derive_constants(act).derivation))


def _read(srepr: str | None) -> Any:
    if srepr is None:
        return None
    from symlip.symbolic.formula import read_srepr

    return read_srepr(srepr)


def write_shipped_table(path: Any = None) -> dict[str, Any]:
    """Derive the constants of every registered activation (default parameter) and write
    the table shipped in ``symlip/data`` (``python -c "from symlip.activations.constants
    import write_shipped_table; write_shipped_table()"``)."""
    import json
    from pathlib import Path

    from symlip.activations.registry import activation_names, get_activation

    table = {}
    for name in activation_names():
        act = get_activation(name)
        if not hasattr(act, "expr"):
            continue
        table[_table_key(act)] = constants_record(derive_constants(act))
    p = Path(path) if path is not None else Path(__file__).resolve().parent.parent / "data" / SHIPPED_TABLE
    p.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    return table
_SLOPE_CACHE: dict[tuple[str, str], PieceSup] = {}


def derive_slope_bounds(act: Activation) -> PieceSup:
    r"""Certified infimum of $\sigma'$ (the lower slope bound $\alpha$ of LipSDP), cached.

    With $c$ the exact $K_1$ (or a rational upper bound of it), $\sigma' \le c$ on every
    piece, so $\inf\sigma' = c - \sup|\sigma' - c|$; the suprema are those of
    :func:`sup_abs`, piece by piece, and $\alpha = \min$ over pieces.  For a continuous,
    piecewise-$C^1$ $\sigma$ every difference quotient is then $\ge \alpha$ (mean value
    theorem on each piece).

    Returns:
        :class:`PieceSup` whose ``enclosure`` encloses $\inf\sigma'$ (use its lower end)
        and ``exact`` the exact value when SymPy finds it.

    Raises:
        ValueError: $\sigma$ jumps or $K_1 = \infty$.

    Examples:
        >>> from symlip.activations.registry import get_activation
        >>> derive_slope_bounds(get_activation("leaky_relu", "0.1")).exact
        1/10
    """
    from symlip.activations.registry import X

    key = (act.name, sp.srepr(act.expr))
    if key in _SLOPE_CACHE:
        return _SLOPE_CACHE[key]
    K1 = act.constants.K1
    if not K1.is_finite:
        raise ValueError(f"{act.name}: K1 is infinite, no slope restriction")
    pieces = _pieces(act.expr, X)
    if _jumps(pieces, X):
        raise ValueError(f"{act.name} jumps: no slope restriction")
    if K1.exact is not None and K1.exact is not sp.oo:
        c = sp.nsimplify(K1.exact)
    else:
        from fractions import Fraction

        q = Fraction(K1.enclosure.upper_float)
        c = sp.Rational(q.numerator, q.denominator)
    d = Derivation(f"inf sigma' of {act.label}")
    best: PieceSup | None = None
    lo_best = None
    exact_vals = []
    for p in pieces:
        h = sp.diff(p.expr, X) - c
        r = sup_abs(h, X, p.lo, p.hi, name=r"(\sigma' - K_1)")
        d.section(r.derivation)
        lo = enclose(c).lower - r.enclosure.upper  # a lower bound of inf sigma' on p
        exact_vals.append(None if r.exact is None else sp.simplify(c - r.exact))
        if lo_best is None or lo < lo_best:
            lo_best, best = lo, r
    assert best is not None
    exact = None
    if all(v is not None for v in exact_vals):
        exact = sp.Min(*exact_vals)
    hi = max(lo_best, enclose(exact).upper) if exact is not None else \
        enclose(c).upper
    enc = Enclosure(lo_best, hi) if exact is None else enclose(exact)
    if exact is not None and compare(enc, ">=", Enclosure(lo_best, lo_best)) is Truth.FALSE:
        enc = Enclosure(lo_best, hi)  # pragma: no cover - the two agree
    d.step(Tex(r"\inf \sigma'"), ">=", exact if exact is not None else Tex(enc.lower_str(17)),
           r"$\inf\sigma' = K_1 - \sup|\sigma' - K_1|$ on each piece ($\sigma' \le K_1$)")
    out = PieceSup(exact, enc, best.where, d)
    _SLOPE_CACHE[key] = out
    return out
