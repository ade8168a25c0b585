r"""Simplified per-layer closed forms of a bound, for its derivation.

A bound is a straight-line program (:class:`~symlip.symbolic.recursion.RecursiveFormula`)
or one expression (:class:`~symlip.symbolic.formula.Formula`).  For every layer (the definitions
whose symbols carry the same index, ``l_3``, ``c_3``, ``m_3``...) the layer's *carried*
values (those a later layer or the result uses) are written as one closed form in the
previous layer's values and the layer's inputs: the layer's internal definitions
(``m_k`` in ``l_k = K_1 m_k``) are substituted.  That closed form is then simplified by
SymPy under the assumptions of the symbols and printed as a step ``= ...``
"(simplified)".

Theorem used: every symbol of a bound is a nonnegative real (norms, widths, radius,
activation constants $K_1, K_2, S_0, s_0 \ge 0$); SymPy's rewrites with the symbols
declared *positive* are identities on the open orthant, and the expressions are continuous
(sums, products, quotients by positive grid spacings, square roots, ``Min``/``Max``), so
each identity extends to the closed orthant.  The test suite checks every printed
simplification against its definition exactly on random rational points.

Layers with the same structure (the same closed form after renaming index $j$ to $k$,
$j - 1$ to $k - 1$, ...) are printed once, as a generic layer $k$ with the list of the
layers it stands for, so the section has a few steps at any depth.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import sympy as sp

from symlip.symbolic.derivation import Derivation

__all__ = ["simplify_nonneg", "layer_closed_forms", "closed_form_section", "CLOSED_FORM_TITLE"]

#: title of the section added to derivations (also how a derivation is recognised as
#: already holding one)
CLOSED_FORM_TITLE = "Per-layer closed forms (simplified)"

_INDEX = re.compile(r"^(.*?)_(\d+)$")

#: simplify with sp.simplify only below this many operations (it is slow on big trees;
#: the cheap rewrites below run always)
_SIMPLIFY_OPS = 8

WHY_SIMPLIFIED = ("(simplified) SymPy with every symbol $> 0$; by continuity also at $0$")


def _shortest(cands: Sequence[sp.Expr]) -> sp.Expr:
    """The candidate with the shortest LaTeX (the first on ties); each distinct tree is
    printed once."""
    best, best_len = cands[0], len(sp.latex(cands[0]))
    seen = {cands[0]}
    for c in cands[1:]:
        if c in seen:
            continue
        seen.add(c)
        n = len(sp.latex(c))
        if n < best_len:
            best, best_len = c, n
    return best


def _common_factor_minmax(e: sp.Expr) -> sp.Expr:
    """``Min(a x, a y) = a Min(x, y)`` and likewise ``Max`` for a common factor $a > 0$
    (all symbols positive), applied bottom-up."""
    def rule(t: sp.Expr) -> sp.Expr:
        if not isinstance(t, (sp.Min, sp.Max)):
            return t
        facs = [sp.Mul.make_args(sp.factor_terms(a)) for a in t.args]
        common = set(facs[0])
        for f in facs[1:]:
            common &= set(f)
        common = {c for c in common if c.is_positive}
        if not common:
            return t
        cm = sp.Mul(*common)
        return cm * type(t)(*[sp.cancel(a / cm) for a in t.args])

    return e.replace(lambda t: isinstance(t, (sp.Min, sp.Max)), rule)


def _expand_radicands(e: sp.Expr) -> sp.Expr:
    """Expand the polynomial under each square root (``(v+1)^2 + v^2 -> 2v^2 + 2v + 1``)."""
    return e.replace(lambda t: t.is_Pow and t.exp == sp.S.Half,
                     lambda t: sp.sqrt(sp.expand(t.base)))


@functools.lru_cache(maxsize=4096)
def simplify_nonneg(expr: sp.Expr) -> sp.Expr:
    """The shortest (printed LaTeX) of several SymPy simplifications of ``expr``, with
    every free symbol assumed positive; returned in the original symbols.

    Candidates: the expression itself (evaluated), ``factor_terms``, ``powsimp`` +
    common positive factors out of ``Min``/``Max``, expanded radicands, and
    ``sp.simplify`` (small expressions only: it is slow).

    Examples:
        >>> a, b = sp.symbols("a b", nonnegative=True)
        >>> simplify_nonneg(sp.Min(a * b, a * 2) + sp.sqrt(a**2))
        a*Min(2, b) + a
    """
    syms = sorted(expr.free_symbols, key=str)
    pos = {s: sp.Symbol(str(s), positive=True) for s in syms}
    back = {v: k for k, v in pos.items()}
    e = expr.xreplace(pos)
    e = e.doit() if hasattr(e, "doit") else e
    cands = [e]
    for f in (sp.factor_terms, sp.powsimp, _common_factor_minmax, _expand_radicands,
              lambda x: sp.factor_terms(_common_factor_minmax(x)),
              lambda x: sp.factor_terms(_expand_radicands(_common_factor_minmax(x)))):
        try:
            cands.append(f(e))
        except Exception:  # pragma: no cover - a rewrite that does not apply
            pass
    if sp.count_ops(e) <= _SIMPLIFY_OPS:
        s = sp.simplify(e)
        cands += [s, _common_factor_minmax(s), sp.factor_terms(s)]
    best = _shortest(cands)
    with sp.evaluate(False):  # keep the form (Mul(1/2, Add) would be distributed again)
        return best.xreplace(back)


def _split(sym: sp.Symbol) -> tuple[str, int | None]:
    m = _INDEX.match(str(sym))
    return (m.group(1), int(m.group(2))) if m else (str(sym), None)


@functools.lru_cache(maxsize=None)
def _renamed(s: sp.Symbol, d: int) -> sp.Symbol | None:
    """``s`` (index $j$) as the generic symbol of index $k - d$ for $d = $ layer $- j$."""
    base, j = _split(s)
    if j is None:
        return None
    sub = "k" if d == 0 else (f"{{k-{d}}}" if d > 0 else f"{{k+{-d}}}")
    return sp.Symbol(f"{base}_{sub}", **s.assumptions0)


def _generic(expr: sp.Expr, idx: int) -> sp.Expr:
    """``expr`` with index ``idx`` renamed to ``k`` (``idx - d`` to ``k-d``)."""
    rep = {}
    for s in expr.free_symbols:
        j = _split(s)[1]
        if j is not None:
            rep[s] = _renamed(s, idx - j)
    with sp.evaluate(False):  # a renaming: no re-evaluation (Min's comparisons are slow)
        return expr.xreplace(rep)


def _ranges(idx: list[int]) -> str:
    out, start = [], idx[0]
    for a, b in zip(idx, idx[1:] + [None]):
        if b != a + 1:
            out.append(str(start) if start == a else f"{start}-{a}")
            start = b
    return ", ".join(out)


def layer_closed_forms(formula: Any) -> list[dict[str, Any]]:
    """The per-layer closed forms of a formula, before and after simplification.

    Returns a list of ``{"layers": [k, ...], "symbol", "before", "generic_symbol",
    "generic_before", "generic_after"}`` (``before``: the closed form in the first
    layer's own symbols) (one entry per carried value
    and structure; ``layers == []`` for the final, unindexed definitions or a
    non-recursive formula).
    """
    defs = getattr(formula, "definitions", None)
    if not defs:
        e = formula.expr
        return [{"layers": [], "symbol": sp.Symbol(formula.name), "before": e,
                 "substituted": False,
                 "generic_symbol": sp.Symbol(formula.name),
                 "generic_before": e, "generic_after": simplify_nonneg(e)}]
    groups: dict[int | None, list[Any]] = {}
    for d in defs:
        groups.setdefault(_split(d.symbol)[1], []).append(d)
    output = defs[-1].symbol
    used_by: dict[sp.Symbol, set[int | None]] = {}
    for d in defs:
        gi = _split(d.symbol)[1]
        for s in d.expr.free_symbols:
            used_by.setdefault(s, set()).add(gi)
    seen: dict[tuple[sp.Expr, sp.Expr], dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for gi, gdefs in groups.items():
        # substitute the layer's internal values (used only inside the layer); carried
        # values stay symbols, so each closed form is one line of the layer
        env: dict[sp.Symbol, sp.Expr] = {}
        for d in gdefs:
            full = d.expr.xreplace(env) if env else d.expr
            carried = d.symbol == output or bool(used_by.get(d.symbol, set()) - {gi})
            if not carried:
                env[d.symbol] = full
                continue
            if gi is None:
                gsym, gbefore = d.symbol, full
            else:
                gsym = _generic(d.symbol, gi)
                gbefore = _generic(full, gi)
            key = (gsym, gbefore)  # structural equality and hash of SymPy trees
            if key in seen:
                seen[key]["layers"].append(gi)
                continue
            gafter = simplify_nonneg(gbefore)
            entry = {"layers": [] if gi is None else [gi], "symbol": d.symbol,
                     "before": full, "substituted": full != d.expr, "generic_symbol": gsym, "generic_before": gbefore,
                     "generic_after": gafter}
            seen[key] = entry
            out.append(entry)
    return out


def closed_form_section(formula: Any) -> Derivation:
    """The derivation section :data:`CLOSED_FORM_TITLE`: for each layer structure, the
    carried value as one closed form (``:=``, the layer's definitions substituted) and
    its simplified form (``=``, "(simplified)")."""
    d = Derivation(CLOSED_FORM_TITLE)
    d.assume("each carried value of a layer in the previous layer's values and the layer's "
             "inputs; layers of the same form are printed once as a generic layer $k$")
    entries = layer_closed_forms(formula)
    shown = [e for e in entries if e["substituted"] or
             sp.srepr(e["generic_after"]) != sp.srepr(e["generic_before"])]
    for e in shown or entries[-1:]:
        lay = e["layers"]
        where = (f"layer {lay[0]}" if len(lay) == 1 else
                 f"layers {_ranges(sorted(lay))}") if lay else "result"
        if len(lay) > 1:  # a generic layer k standing for several layers
            sym, before, after = e["generic_symbol"], e["generic_before"], e["generic_after"]
        else:  # one layer: its own indices
            sym, before = e["symbol"], e["before"]
            after = simplify_nonneg(before)
        d.step(sym, ":=", before, f"{where}: the layer's definitions substituted")
        same = sp.latex(after) == sp.latex(before)
        d.then("=", after, WHY_SIMPLIFIED + ("; SymPy finds no shorter form" if same else ""))
    return d


def has_closed_forms(deriv: Derivation) -> bool:
    """True if ``deriv`` or one of its sections is a :func:`closed_form_section`."""
    return deriv.title == CLOSED_FORM_TITLE or any(has_closed_forms(s) for s in deriv.sections)
