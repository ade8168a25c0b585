r"""A bound as one SymPy expression: the single source of truth.

A :class:`Formula` holds a SymPy expression in named input symbols (layer norms,
activation constants, radius, data norms...).  Every numeric path comes from that one
expression:

* :meth:`Formula.estimate` — ``sympy.lambdify`` to NumPy: fast float values over many
  inputs.  **Not certified.**
* :meth:`Formula.enclose` — the same expression evaluated in ``mpmath`` interval
  arithmetic on enclosures of the inputs: a certified enclosure.
* :meth:`Formula.enclose_array` — the same expression evaluated on arrays of
  outward-rounded float64 intervals (one interval per data point); certified.
* :meth:`Formula.latex`, :meth:`Formula.srepr` — the text of the bound, and the exact
  expression a certificate stores so that a verifier can re-evaluate it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure, UnsupportedOperation
from symlip.symbolic.compile import interval_lambdify

__all__ = ["Formula", "read_srepr", "check_srepr_syntax"]


def _np_max(*xs: Any) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = np.maximum(out, x)
    return out


def _np_min(*xs: Any) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = np.minimum(out, x)
    return out


def _np_sigmoid(x: Any) -> Any:
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


_NUMPY_MODULES: list[Any] = [{"Max": _np_max, "Min": _np_min, "sigmoid": _np_sigmoid}, "numpy"]


class Formula:
    """A closed-form bound in named inputs, with float, interval and LaTeX views.

    Args:
        expr: the SymPy expression.
        inputs: the symbols it depends on, in a fixed order (the order of positional
            arguments of :meth:`estimate`).
        name: a short name (``"L_param"``) used in LaTeX and certificates.

    Examples:
        >>> import sympy as sp
        >>> a, b = sp.symbols("a b", nonnegative=True)
        >>> f = Formula(a * b + 1, [a, b], name="L")
        >>> f.estimate(a=2.0, b=3.0)
        7.0
        >>> f.enclose({"a": 2, "b": 3}).upper_str()
        '7'
    """

    def __init__(self, expr: Any, inputs: Sequence[sp.Symbol], name: str = "L") -> None:
        self.expr = sp.sympify(expr)
        self.inputs = list(inputs)
        self.name = name
        missing = self.expr.free_symbols - set(self.inputs)
        if missing:
            raise ValueError(
                f"formula {name} uses symbols {sorted(map(str, missing))} not listed as inputs"
            )
        self._by_name = {str(s): s for s in self.inputs}
        if len(self._by_name) != len(self.inputs):
            raise ValueError("formula inputs must have distinct names")

    # -- views -------------------------------------------------------------------
    def latex(self) -> str:
        return sp.latex(self.expr)

    def srepr(self) -> str:
        return sp.srepr(self.expr)

    @classmethod
    def from_srepr(cls, text: str, input_names: Sequence[str], name: str = "L") -> Formula:
        """Rebuild a formula from a certificate's ``srepr``.

        The text is parsed with a restricted reader (calls of whitelisted SymPy
        constructors with literal arguments), never with ``eval``.
        """
        expr = read_srepr(text)
        by_name = {str(s): s for s in expr.free_symbols}
        inputs = [by_name.get(n, sp.Symbol(n)) for n in input_names]
        return cls(expr, inputs, name)

    def __repr__(self) -> str:
        return f"Formula({self.name} = {self.expr})"

    def _repr_latex_(self) -> str:
        return f"$${self.name} = {self.latex()}$$"

    # -- argument handling ----------------------------------------------------------
    def _ordered(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[Any]:
        if args and kwargs:
            raise TypeError("pass the inputs positionally or by name, not both")
        if args:
            if len(args) == 1 and isinstance(args[0], Mapping):
                kwargs = args[0]
            else:
                if len(args) != len(self.inputs):
                    raise TypeError(f"{self.name} takes {len(self.inputs)} inputs, got {len(args)}")
                return list(args)
        vals = []
        named = {str(k): v for k, v in kwargs.items()}
        for s in self.inputs:
            if str(s) not in named:
                raise KeyError(f"no value given for input {s} of {self.name}")
            vals.append(named[str(s)])
        extra = set(named) - set(self._by_name)
        if extra:
            raise KeyError(f"{self.name} has no inputs named {sorted(extra)}")
        return vals

    # -- float path (estimates) -----------------------------------------------------------
    @cached_property
    def _numpy(self) -> Any:
        return sp.lambdify(self.inputs, self.expr, modules=_NUMPY_MODULES, cse=True)

    def estimate(self, *args: Any, **kwargs: Any) -> Any:
        """Float64 value(s) of the formula (NumPy, broadcast over arrays). Not certified."""
        out = self._numpy(*self._ordered(args, kwargs))
        return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=float)

    # -- interval paths (certified) -----------------------------------------------------
    @cached_property
    def _iv(self) -> Any:
        return interval_lambdify(self.inputs, self.expr, backend="mpmath")

    @cached_property
    def _iv_np(self) -> Any:
        return interval_lambdify(self.inputs, self.expr, backend="numpy")

    def enclose(self, *args: Any, **kwargs: Any) -> Enclosure:
        """Certified enclosure of the formula for all inputs in the given enclosures.

        Inputs may be :class:`~symlip.arith.enclosure.Enclosure` objects, exact numbers (a
        float is read as the double it is) or ``mpmath.iv`` intervals.  The upper end
        of the result is rounded towards $+\\infty$.
        """
        return Enclosure.from_interval(self._iv(*self._ordered(args, kwargs)))

    def enclose_array(self, *args: Any, **kwargs: Any) -> IntervalArray:
        """Certified enclosures, element by element, over arrays of input intervals.

        Uses the outward-rounded NumPy interval backend when the formula lies in its
        algebraic fragment, otherwise the mpmath backend point by point.
        """
        vals = self._ordered(args, kwargs)
        try:
            return self._iv_np(*vals)
        except UnsupportedOperation:
            pass
        arrs = [IntervalArray.wrap(v) if not isinstance(v, IntervalArray) else v for v in
                (_to_interval_array(v) for v in vals)]
        shape = np.broadcast_shapes(*(a.lo.shape for a in arrs))
        lo = np.empty(shape)
        hi = np.empty(shape)
        b = [IntervalArray(np.broadcast_to(a.lo, shape), np.broadcast_to(a.hi, shape)) for a in arrs]
        for idx in np.ndindex(*shape):
            e = self.enclose(*[Enclosure.from_floats(x.lo[idx], x.hi[idx]) for x in b])
            lo[idx], hi[idx] = e.lower_float, e.upper_float
        return IntervalArray(lo, hi)

    # -- run-time cross-check of the two paths -------------------------------------------
    def operation_count(self) -> int:
        """Number of operations of the expression (``sympy.count_ops``), the $n$ of the
        float rounding allowance of :meth:`check_float_in_enclosure`."""
        return int(sp.count_ops(self.expr))

    def check_float_in_enclosure(self, inputs: Mapping[str, Enclosure]) -> dict[str, Any]:
        r"""Run-time cross-check of the float and the interval path of this expression.

        The float value $\tilde v$ at the centres of the input enclosures must lie in the
        interval value on their box, widened by $\delta = (n + 1)2^{-50}|\tilde v| +
        (n + 1)2^{-1074}$ ($n$ the :meth:`operation_count`): Lemma 4.1 of
        ``docs/theory-param.md``.  The certified number never depends on this check; it
        catches a wrong interval kernel, a corrupted enclosure or a lambdify
        mistranslation at run time.

        Returns:
            ``{"float_in_enclosure": True, "float_value", "tolerance", "operations"}``.

        Raises:
            InternalError: $\tilde v$ lies outside the widened enclosure (or is NaN while
                the inputs are finite): the result must be refused.
        """
        import mpmath

        from symlip.errors import InternalError

        boxes: dict[str, Enclosure] = {}
        centres: dict[str, float] = {}
        for s in self.inputs:
            name = str(s)
            if name not in inputs:
                raise InternalError(f"run-time check of {self.name}: no enclosure of its "
                                    f"input {name}")
            e = inputs[name]
            if not isinstance(e, Enclosure):
                e = Enclosure.from_interval(e) if hasattr(e, "a") else Enclosure.point(e)
            c = e.mid_float
            if not math.isfinite(c):
                c = e.lower_float if math.isfinite(e.lower_float) else 0.0
            centres[name] = np.float64(c)
            lo = mpmath.mpf(c) if c < e.lower else e.lower
            hi = mpmath.mpf(c) if c > e.upper else e.upper
            boxes[name] = e if (lo == e.lower and hi == e.upper) else Enclosure(lo, hi)
        try:
            with np.errstate(all="ignore"):
                v = float(self.estimate(centres))
        except OverflowError:  # a math-module function beyond the doubles
            v = math.inf
        enc = self.enclose(boxes)
        n = self.operation_count()
        if math.isinf(v) and enc.is_finite:
            # the float path overflowed where the interval path (unbounded exponents) did
            # not: the two cannot be compared, which is said, not hidden
            return {"float_in_enclosure": None, "float_value": None, "tolerance": None,
                    "operations": n, "skipped": "the float evaluation overflowed"}
        finite_inputs = all(math.isfinite(c) and boxes[k].is_finite for k, c in centres.items())
        if math.isnan(v):
            if finite_inputs:
                raise InternalError(f"run-time check of {self.name}: the float evaluation at "
                                    f"the centre inputs is NaN, the interval enclosure is "
                                    f"[{enc.lower_str()}, {enc.upper_str()}]")
            return {"float_in_enclosure": True, "float_value": None, "tolerance": None,
                    "operations": n}
        with mpmath.workprec(200):
            tol = (n + 1) * (mpmath.ldexp(abs(mpmath.mpf(v)), -50) if math.isfinite(v)
                             else 0) + (n + 1) * mpmath.ldexp(1, -1074)
            inside = enc.lower - tol <= mpmath.mpf(v) <= enc.upper + tol
        if not inside:
            raise InternalError(
                f"run-time check of {self.name}: the float evaluation {v!r} at the centre "
                f"inputs lies outside the interval enclosure [{enc.lower_str()}, "
                f"{enc.upper_str()}] widened by {mpmath.nstr(tol, 3)} ({n} operations); "
                "the result is refused")
        return {"float_in_enclosure": True, "float_value": v, "tolerance": float(tol),
                "operations": n}

    def certify_max(self, *args: Any, **kwargs: Any) -> Enclosure:
        """Certified enclosure of the maximum over data points of the formula.

        The upper end bounds ``max_i formula(inputs_i)`` for every input in its interval.
        """
        return self.enclose_array(*args, **kwargs).upper_max()


def _to_interval_array(v: Any) -> IntervalArray:
    if isinstance(v, IntervalArray):
        return v
    if isinstance(v, Enclosure):
        return IntervalArray.from_enclosure(v)
    if isinstance(v, tuple) and len(v) == 2:
        return IntervalArray(v[0], v[1])
    return IntervalArray(np.asarray(v, dtype=float))


_SREPR_NAMES = (
    "Symbol Dummy Integer Rational Float Half One Zero NegativeOne Infinity NegativeInfinity "
    "Pi Exp1 Add Mul Pow Max Min Abs sqrt exp log tanh erf erfc atan sin cos sinh cosh "
    "Piecewise ExprCondPair StrictLessThan LessThan StrictGreaterThan GreaterThan "
    "Equality Unequality And Or Not BooleanTrue BooleanFalse Tuple"
).split()


def _srepr_namespace() -> dict[str, Any]:
    from sympy.functions.elementary.piecewise import ExprCondPair

    from symlip.symbolic import functions

    ns = {n: getattr(sp, n) for n in _SREPR_NAMES if hasattr(sp, n)}
    ns.update(
        Pi=lambda: sp.pi, Exp1=lambda: sp.E, Half=lambda: sp.S.Half, One=lambda: sp.S.One,
        Zero=lambda: sp.S.Zero, NegativeOne=lambda: sp.S.NegativeOne,
        Infinity=lambda: sp.oo, NegativeInfinity=lambda: -sp.oo,
        BooleanTrue=lambda: sp.true, BooleanFalse=lambda: sp.false,
        sigmoid=functions.sigmoid,
        ExprCondPair=ExprCondPair,  # not exported at sympy's top level
    )
    return ns


# Singletons that ``srepr`` prints as bare names rather than calls: ``srepr(oo) == 'oo'``,
# ``srepr(-oo) == '-oo'``, ``srepr(pi) == 'pi'``. ``zoo`` and ``nan`` are left out on
# purpose: neither is a value a bound can take.
_SREPR_CONSTANTS: dict[str, Any] = {
    "oo": sp.oo, "pi": sp.pi, "E": sp.E, "true": sp.true, "false": sp.false,
}


#: bounds checked before the restricted reader parses a certificate's formula: SymPy's
#: ``srepr`` of symlip's formulas nests a few dozen levels and is far below these sizes
#: (a 200-layer recursive program is a flat tuple of definitions)
SREPR_MAX_CHARS = 20_000_000
SREPR_MAX_DEPTH = 150


def _check_srepr_shape(text: str) -> None:
    """Reject text longer than :data:`SREPR_MAX_CHARS` or nesting brackets and unary
    minuses deeper than :data:`SREPR_MAX_DEPTH` (one linear scan), so that parsing costs
    bounded time and memory (200,000 nested ``-`` made Python's parser run out of memory)."""
    if not isinstance(text, str):
        raise ValueError(f"formula text must be a string, got {type(text).__name__}")
    if len(text) > SREPR_MAX_CHARS:
        raise ValueError(f"formula text has {len(text)} characters; at most "
                         f"{SREPR_MAX_CHARS} are read")
    depth = minus = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            minus = 0
        elif ch == "-":
            minus += 1
        elif ch not in " \t\n":
            minus = 0
        if depth + minus > SREPR_MAX_DEPTH:
            raise ValueError(f"formula text nests deeper than {SREPR_MAX_DEPTH} levels "
                             "(brackets and unary minuses)")


def check_srepr_syntax(text: str) -> None:
    """Raise ``ValueError`` unless ``text`` is bounded (:func:`_check_srepr_shape`) and
    parses as a Python expression; builds no SymPy object (what :func:`read_srepr` does
    on top, at SymPy's cost)."""
    import ast

    _check_srepr_shape(text)
    try:
        ast.parse(text, mode="eval")
    except (SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(f"formula text is not valid srepr: "
                         f"{getattr(exc, 'msg', type(exc).__name__)}") from None


def read_srepr(text: str) -> sp.Basic:
    """Parse SymPy ``srepr`` output safely: only whitelisted constructors and literals.

    Accepts calls of whitelisted constructors, literals, unary minus and the bare
    singleton names ``oo``, ``pi``, ``E``, ``true``, ``false`` (so formulas holding
    infinity round-trip: ``read_srepr(sp.srepr(expr)) == expr``).

    Raises:
        ValueError: the text holds anything else (other names, attributes, operators...).

    Examples:
        >>> import sympy as sp
        >>> x = sp.Symbol("x")
        >>> read_srepr(sp.srepr(sp.Piecewise((x, x > 0), (-sp.oo, True))))
        Piecewise((x, x > 0), (-oo, True))
    """
    import ast

    ns = _srepr_namespace()

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, str, bool, float)):
            return node.value
        if isinstance(node, ast.Name) and node.id in _SREPR_CONSTANTS:
            return _SREPR_CONSTANTS[node.id]
        if isinstance(node, ast.Name):
            raise ValueError(f"srepr uses the name {node.id!r}, which symlip does not read")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Tuple):
            return tuple(ev(e) for e in node.elts)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            fn = ns.get(node.func.id)
            if fn is None:
                raise ValueError(f"srepr uses {node.func.id!r}, which symlip does not read")
            return fn(*[ev(a) for a in node.args], **{k.arg: ev(k.value) for k in node.keywords})
        raise ValueError(f"srepr holds a {type(node).__name__} node, which is not allowed")

    _check_srepr_shape(text)
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, MemoryError, RecursionError) as exc:
        if not isinstance(exc, SyntaxError):
            raise ValueError(f"formula text is too deeply nested ({type(exc).__name__})") \
                from None
        raise ValueError(f"formula text is not valid srepr: {exc.msg}") from None
    return ev(tree.body)
