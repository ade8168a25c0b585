r"""Straight-line programs: a formula given as an ordered list of definitions.

A bound on a network of depth $N$ written out as one expression doubles in size every
layer (``c_{k-1}`` appears in ``c_k`` twice), so the *program* — the list of definitions
``(symbol, expression)`` (:class:`Definition`), each a small SymPy expression in inputs
and earlier defined symbols — is the single source of truth. :class:`RecursiveFormula`
evaluates it step by step (floats, mpmath intervals or arrays of float intervals),
prints it, and stores it compactly in certificates. The specific recursions (parameter,
gradient, residual and controlled-ODE bounds) live in :mod:`symlip.bounds.recursion`
and :mod:`symlip.bounds.cde_program`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure
from symlip.symbolic.compile import interval_lambdify
from symlip.symbolic.derivation import Derivation
from symlip.symbolic.formula import Formula, read_srepr

__all__ = ["Definition", "RecursiveFormula", "program_derivation", "dedup", "lazy_min",
           "lazy_sqrt"]


def _nn(name: str) -> sp.Symbol:
    return sp.Symbol(name, nonnegative=True)


@dataclass(frozen=True)
class Definition:
    """One line ``symbol := expr`` of a recursion, with its justification."""

    symbol: sp.Symbol
    expr: sp.Expr
    why: str = ""


# ------------------------------------------------------------------------------------
# the program as a formula
# ------------------------------------------------------------------------------------


def sym_key(s: Any) -> str:
    """``str(s)`` for sorting symbols, without a printer for a plain ``Symbol`` (its
    name; sorting a large program's arguments by ``str`` builds 300,000 printers)."""
    return s.name if type(s) is sp.Symbol else str(s)


def _float_printer() -> Any:
    """The printer ``lambdify`` picks for :data:`~symlip.symbolic.formula._NUMPY_MODULES`
    (NumPy, the dictionary's names as user functions), with unsorted sums."""
    from sympy.printing.numpy import NumPyPrinter

    from symlip.symbolic.formula import _NUMPY_MODULES

    names = {k: k for m in _NUMPY_MODULES if isinstance(m, dict) for k in m}
    return NumPyPrinter({"fully_qualified_modules": False, "inline": True,
                         "allow_unknown_functions": True, "user_functions": names,
                         "order": "none"})


def compile_line(args: Sequence[sp.Symbol], expr: sp.Expr, kind: str) -> Any:
    """One program line as a function of ``args``: ``"float"`` (NumPy, an estimate) or
    an interval backend (:func:`~symlip.symbolic.compile.interval_lambdify`)."""
    if kind != "float":
        return interval_lambdify(list(args), expr, backend=kind)
    from symlip.symbolic.formula import _NUMPY_MODULES

    # plain argument names (lambdify would rename the symbols that are not identifiers,
    # K_2^(1), one Dummy at a time), an unevaluated rebuild (re-evaluating every Min of a
    # large program costs seconds), no printed docstring and the terms of sums in their
    # own order (sorting them for printing costs about a second at depth 16)
    plain = [sp.Symbol(f"_a{i}") for i in range(len(args))]
    with sp.evaluate(False):
        e = expr.xreplace(dict(zip(args, plain, strict=True)))
        return sp.lambdify(plain, e, modules=_NUMPY_MODULES, docstring_limit=0,
                           printer=_float_printer())


class RecursiveFormula(Formula):
    r"""A :class:`~symlip.symbolic.formula.Formula` given as a straight-line program.

    ``definitions[i]`` may use the inputs and the symbols of earlier definitions; the
    value of the formula is the last definition's.  ``expr`` is the fully substituted
    expression (built as a shared DAG, so in linear time); printing it as a tree is
    exponential in the depth, so :meth:`srepr` and :meth:`latex` print the program.

    All evaluations (:meth:`estimate`, :meth:`enclose`, :meth:`enclose_array`) run the
    program line by line; each line's interval evaluation encloses its value for every
    choice of the earlier values in their enclosures, so the last line encloses the
    formula (interval evaluation is inclusion isotone).

    Examples:
        >>> a, t = sp.Symbol("a", nonnegative=True), sp.Symbol("t", nonnegative=True)
        >>> f = RecursiveFormula([Definition(t, 2 * a), Definition(sp.Symbol("u"), t**2 + t)],
        ...                      [a], name="F")
        >>> f.estimate(a=1.0), f.enclose({"a": 1}).upper_str()
        (6.0, '6')
    """

    def __init__(self, definitions: Sequence[Definition], inputs: Sequence[sp.Symbol],
                 name: str = "L") -> None:
        self.definitions = list(definitions)
        self.inputs = list(inputs)
        self.name = name
        known = set(self.inputs)
        for d in self.definitions:
            missing = d.expr.free_symbols - known
            if missing:
                raise ValueError(f"definition of {d.symbol} in {name} uses undefined symbols "
                                 f"{sorted(map(str, missing))}")
            if d.symbol in known:
                raise ValueError(f"{d.symbol} is defined twice in {name}")
            known.add(d.symbol)
        self._by_name = {str(s): s for s in self.inputs}
        if len(self._by_name) != len(self.inputs):
            raise ValueError("formula inputs must have distinct names")

    @property
    def output(self) -> sp.Symbol:
        return self.definitions[-1].symbol

    @cached_property
    def expr(self) -> sp.Expr:  # type: ignore[override]
        """The substituted expression (a DAG; do not print it for deep networks)."""
        env: dict[sp.Symbol, sp.Expr] = {}
        for d in self.definitions:
            env[d.symbol] = d.expr.xreplace(env)
        return env[self.output]

    # -- views ------------------------------------------------------------------------
    def program_tuple(self) -> sp.Tuple:
        return sp.Tuple(*[sp.Tuple(d.symbol, d.expr) for d in self.definitions])

    def srepr(self) -> str:
        return sp.srepr(self.program_tuple())

    def latex(self) -> str:
        rows = [rf"{sp.latex(d.symbol)} &= {sp.latex(d.expr)}" for d in self.definitions]
        return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"

    def text(self) -> str:
        return "\n".join(f"{d.symbol} := {sp.sstr(d.expr)}" for d in self.definitions)

    @classmethod
    def from_srepr(cls, text: str, input_names: Sequence[str],  # type: ignore[override]
                   name: str = "L") -> RecursiveFormula:
        prog = read_srepr(text)
        if not isinstance(prog, sp.Tuple):
            raise ValueError("a recursive formula's srepr must be a Tuple of definitions")
        defs = [Definition(s, e) for s, e in prog]
        syms: dict[str, sp.Symbol] = {}
        for d in defs:
            for s in d.expr.free_symbols:
                syms[str(s)] = s
        return cls(defs, [syms.get(n, _nn(n)) for n in input_names], name)

    def __repr__(self) -> str:
        return f"RecursiveFormula({self.name}: {len(self.definitions)} definitions)"

    def _repr_latex_(self) -> str:
        return f"$${self.latex()}$$"

    # -- evaluation ---------------------------------------------------------------------
    @cached_property
    def _compiled(self) -> list[tuple[sp.Symbol, list[sp.Symbol], Any, Any, Any]]:
        out = []
        for d in self.definitions:
            args = sorted(d.expr.free_symbols, key=sym_key)
            out.append((d.symbol, args, d.expr, None, None))
        return out

    def _run(self, vals: Sequence[Any], kind: str) -> Any:
        env: dict[sp.Symbol, Any] = dict(zip(self.inputs, vals, strict=False))
        cache = self.__dict__.setdefault("_fn_cache", {})
        for d in self.definitions:
            key = (d.symbol, kind)
            if key not in cache:
                args = sorted(d.expr.free_symbols, key=sym_key)
                fn = compile_line(args, d.expr, kind)
                cache[key] = (args, fn)
            args, fn = cache[key]
            env[d.symbol] = fn(*[env[a] for a in args])
        return env[self.output]

    def estimate(self, *args: Any, **kwargs: Any) -> Any:
        """Float64 value(s) of the program (NumPy, broadcast). Not certified."""
        vals = [np.asarray(v, dtype=float) if not np.isscalar(v) else float(v)
                for v in self._ordered(args, kwargs)]
        out = self._run(vals, "float")
        return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=float)

    def enclose(self, *args: Any, **kwargs: Any) -> Enclosure:
        """Certified enclosure (mpmath intervals); the upper end is rounded up."""
        return Enclosure.from_interval(self._run(self._ordered(args, kwargs), "mpmath"))

    def enclose_array(self, *args: Any, **kwargs: Any) -> IntervalArray:
        """Certified enclosures over arrays of input intervals (float interval arrays)."""
        from symlip.symbolic.formula import _to_interval_array

        vals = [_to_interval_array(v) for v in self._ordered(args, kwargs)]
        return IntervalArray.wrap(self._run(vals, "numpy"))

    def operation_count(self) -> int:
        """Operations of the program: the sum over its lines (the substituted tree would
        count shared lines many times)."""
        return int(sum(sp.count_ops(d.expr) for d in self.definitions))

    def substitute(self, values: Mapping[str, Any]) -> list[Definition]:
        """The program with some inputs replaced by numbers (for worked examples)."""
        subs = {self._by_name[k]: v for k, v in values.items() if k in self._by_name}
        return [Definition(d.symbol, d.expr.subs(subs), d.why) for d in self.definitions]




def program_derivation(defs: Sequence[Definition], inputs: Sequence[sp.Symbol],
                       title: str) -> Derivation:
    """The derivation printing a program line by line, then each layer's carried values
    as one simplified closed form (:func:`symlip.symbolic.simplify.closed_form_section`)."""
    d = Derivation(title)
    for df in defs:
        d.step(df.symbol, ":=", df.expr, df.why)
    from symlip.symbolic.simplify import closed_form_section

    # a slice of a longer program (e.g. the local program after the recursion's
    # definitions) uses values defined before it: they enter as inputs of the slice
    defined = {df.symbol for df in defs}
    earlier = {s for df in defs for s in df.expr.free_symbols} - defined - set(inputs)
    d.section(closed_form_section(RecursiveFormula(
        defs, [*inputs, *sorted(earlier, key=str)], "L")))
    return d


def dedup(xs: Sequence[sp.Symbol]) -> list[sp.Symbol]:
    """The symbols in first-seen order without repeats."""
    seen: list[sp.Symbol] = []
    for x in xs:
        if x not in seen:
            seen.append(x)
    return seen


def lazy_min(opts: Sequence[sp.Expr]) -> sp.Expr:
    """``Min`` of the options without SymPy's (slow, assumption-driven) simplification."""
    return opts[0] if len(opts) == 1 else sp.Min(*opts, evaluate=False)


def lazy_sqrt(e: sp.Expr) -> sp.Expr:
    """``sqrt`` without SymPy's assumption queries (slow on long sums)."""
    return sp.Pow(e, sp.S.Half, evaluate=False)
