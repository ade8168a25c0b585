r"""SymPy expressions evaluated rigorously on intervals: the interval compiler.

:func:`interval_lambdify` compiles a SymPy expression into a straight-line interval
program; every result is an enclosure rounded outward (the guarantee of
:mod:`symlip.arith.enclosure`).  Two backends:

* ``"mpmath"`` — scalar intervals of ``mpmath.iv`` at a chosen binary precision.
  Supports the algebraic operations, ``Max``, ``Min``, ``Abs``, ``Piecewise`` (every
  branch whose condition may hold is joined), ``exp``, ``log``, ``sqrt``, powers,
  ``sin``, ``cos``, and the functions ``mpmath.iv`` lacks or gets wrong — ``tanh``,
  ``sinh``, ``cosh``, ``atan``, ``erf``, ``erfc`` — from :mod:`symlip.arith.mpfuncs`.
* ``"numpy"`` — :class:`~symlip.arith.array.IntervalArray` (float64), for evaluating one
  formula at many data points at once.  The algebraic operations use IEEE 754's
  correctly rounded results moved one ulp outward; ``exp``, ``log``, ``tanh``,
  ``sigmoid``, ``erf``, ``erfc``, ``sinh``, ``cosh``, ``atan`` and non-integer powers of
  non-negative bases use the rigorous kernels of :mod:`symlip.arith.kernels` (no NumPy
  transcendental is trusted, see ``docs/intervals.md``).  ``Piecewise`` is evaluated
  with per-element three-valued conditions; ``log(1 + exp(u))`` and
  $e^{mu}(1+e^u)^{-n}$ are rewritten into overflow-free forms.  Anything else (``sin``,
  ``cos``, ...) raises :class:`~symlip.arith.enclosure.UnsupportedOperation`.

Exact inputs enter exactly: SymPy ``Integer``/``Rational`` as integer quotients, ``pi``,
``E``, ``sqrt(3)`` through rigorous kernels, a float as the double it is.  SymPy's
``Max``/``Piecewise`` are never printed as Python ``max``/``if`` (wrong on intervals):
``Max`` is the interval maximum and ``Piecewise`` joins every branch that may hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from mpmath import iv

from symlip.arith import kernels as _npk
from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import (
    DEFAULT_PREC,
    Enclosure,
    Truth,
    UnsupportedOperation,
    compare,
    endpoints,
    exact_mpf,
    float_to_mpf,
    iv_from,
    make_mpf,
    working_precision,
)
from symlip.arith.mpfuncs import (
    iv_abs,
    iv_atan,
    iv_cos,
    iv_cosh,
    iv_erf,
    iv_erfc,
    iv_exp,
    iv_heaviside,
    iv_hull,
    iv_log,
    iv_max,
    iv_min,
    iv_monotone,
    iv_sigmoid,
    iv_sin,
    iv_sinh,
    iv_sqrt,
    iv_tanh,
    widen,
)
from symlip.symbolic.functions import overflow_free, sigmoid, softplus

__all__ = ["enclose", "interval_lambdify", "to_interval"]

_NEG_INF = -np.inf
_POS_INF = np.inf
_NP_BLOCK = 1 << 13  # elements per block when a compiled program runs on large arrays

def to_interval(expr: Any, prec: int | None = None) -> iv.mpf:
    """Rigorous enclosure of a constant SymPy expression (Rational, pi, sqrt(3), erf(1)...)."""
    expr = sp.sympify(expr)
    if expr.free_symbols:
        raise ValueError(f"{expr} has free symbols {expr.free_symbols}; it is not a constant")
    with working_precision(prec or max(iv.prec, DEFAULT_PREC)):
        return _Compiler("mpmath").compile(expr)({})


def enclose(expr: Any, prec: int | None = None) -> Enclosure:
    """Enclosure of a constant SymPy expression, as an :class:`Enclosure`."""
    return Enclosure.from_interval(to_interval(expr, prec))


def _iv_number(e: sp.Expr) -> iv.mpf:
    if isinstance(e, sp.Integer):
        v = exact_mpf(int(e))
        return iv_from(v, v)
    if isinstance(e, sp.Rational):
        return iv.mpf(int(e.p)) / iv.mpf(int(e.q))
    if isinstance(e, sp.Float):
        v = make_mpf(e._mpf_)  # exact binary value of the SymPy Float
        return iv_from(v, v)
    if e is sp.pi:
        return widen(iv.mpf(iv.pi))
    if e is sp.E:
        return widen(iv.mpf(iv.e))
    if e is sp.oo:
        return iv.mpf((mpmath.inf, mpmath.inf))
    if e is sp.S.NegativeInfinity:
        return iv.mpf((-mpmath.inf, -mpmath.inf))
    raise UnsupportedOperation(f"no rigorous enclosure for the number {e}")


def _iv_pow(base: iv.mpf, ex: sp.Expr, ex_val: Any) -> iv.mpf:
    if ex.is_Integer:
        n = int(ex)
        if n >= 0:
            return base**n
        return 1 / base ** (-n)
    if ex == sp.Rational(1, 2):
        return iv_sqrt(base)
    if ex == sp.Rational(-1, 2):
        return 1 / iv_sqrt(base)
    lo, hi = endpoints(base)
    if lo < 0:
        if ex.is_Rational:
            raise UnsupportedOperation(f"fractional power {ex} of an interval reaching below 0")
        raise UnsupportedOperation("symbolic power of an interval reaching below 0")
    if ex.is_Rational and ex > 0:
        def point(p: iv.mpf) -> iv.mpf:
            return iv.mpf(0) if endpoints(p)[1] == 0 else iv_exp(ex_val * iv_log(p))

        return iv_monotone(point, base, True)
    return iv_exp(ex_val * iv_log(base))


_IV_FUNCS: dict[type, Callable[..., Any]] = {
    sp.exp: iv_exp,
    sp.log: iv_log,
    sp.sin: iv_sin,
    sp.cos: iv_cos,
    sp.tanh: iv_tanh,
    sp.sinh: iv_sinh,
    sp.cosh: iv_cosh,
    sp.atan: iv_atan,
    sp.erf: iv_erf,
    sp.erfc: iv_erfc,
    sp.Abs: iv_abs,
    sp.Heaviside: iv_heaviside,
    sp.Max: iv_max,
    sp.Min: iv_min,
    sigmoid: iv_sigmoid,
}


def _np_unsupported(name: str) -> Callable[..., Any]:
    def f(*_: Any) -> Any:
        raise UnsupportedOperation(
            f"{name} is not correctly rounded in NumPy; evaluate with backend='mpmath'"
        )

    return f


def _np_kernel(kernel: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
               ) -> Callable[[Any], IntervalArray]:
    """Lift a rigorous endpoint kernel of :mod:`symlip.arith.kernels` to interval arrays."""

    def f(x: Any) -> IntervalArray:
        x = IntervalArray.wrap(x)
        return IntervalArray(*kernel(x.lo, x.hi))

    f.__name__ = getattr(kernel, "__name__", "kernel")
    return f


def _np_heaviside(x: Any, h0: Any = None) -> IntervalArray:
    """Heaviside step on interval arrays: 0 left of 0, 1 right of 0, H(0) = h0 (1/2)."""
    x = IntervalArray.wrap(x)
    h = IntervalArray(0.5) if h0 is None else IntervalArray.wrap(h0)
    at0 = (x.lo <= 0) & (x.hi >= 0)
    lo = np.where(x.hi > 0, 1.0, _POS_INF)
    lo = np.where(x.lo < 0, 0.0, lo)
    hi = np.where(x.lo < 0, 0.0, _NEG_INF)
    hi = np.where(x.hi > 0, 1.0, hi)
    lo = np.where(at0, np.minimum(lo, h.lo), lo)
    hi = np.where(at0, np.maximum(hi, h.hi), hi)
    return IntervalArray(lo, hi)


_NP_FUNCS: dict[type, Callable[..., Any]] = {
    sp.Abs: lambda x: IntervalArray.wrap(x).abs(),
    sp.Max: IntervalArray.maximum,
    sp.Min: IntervalArray.minimum,
    sp.Heaviside: _np_heaviside,
    sp.exp: _np_kernel(_npk.exp),
    sp.log: _np_kernel(_npk.log),
    sp.tanh: _np_kernel(_npk.tanh),
    sp.sinh: _np_kernel(_npk.sinh),
    sp.cosh: _np_kernel(_npk.cosh),
    sp.atan: _np_kernel(_npk.atan),
    sp.erf: _np_kernel(_npk.erf),
    sp.erfc: _np_kernel(_npk.erfc),
    softplus: _np_kernel(_npk.log1p_exp),
    sigmoid: _np_kernel(_npk.sigmoid),
}


class _Compiler:
    """Compile a SymPy expression into a straight-line interval program.

    Shared subexpressions are evaluated once.  ``Piecewise`` branches are compiled into
    sub-programs evaluated lazily: a branch is evaluated only if its condition may hold,
    and the hull of all branches that may hold (up to the first certainly-true one) is
    returned.
    """

    def __init__(self, backend: str) -> None:
        if backend not in ("mpmath", "numpy"):
            raise ValueError(f"{backend=} must be 'mpmath' or 'numpy'")
        self.backend = backend

    # each instruction: (kind, payload, arg indices)
    def compile(self, expr: sp.Basic) -> Callable[[Mapping[sp.Symbol, Any]], Any]:
        if self.backend == "numpy":
            expr = overflow_free(expr)
        order: list[sp.Basic] = []
        index: dict[sp.Basic, int] = {}

        def visit(root: sp.Basic) -> None:
            stack: list[tuple[sp.Basic, bool]] = [(root, False)]
            while stack:
                node, done = stack.pop()
                if node in index:
                    continue
                if done:
                    index[node] = len(order)
                    order.append(node)
                    continue
                stack.append((node, True))
                if isinstance(node, sp.Piecewise) or node.is_Atom:
                    continue
                for a in reversed(node.args):
                    if a not in index:
                        stack.append((a, False))

        visit(expr)
        prog = [self._instr(node, index) for node in order]
        root = index[expr]
        backend = self.backend

        def run(env: Mapping[sp.Symbol, Any]) -> Any:
            vals: list[Any] = [None] * len(prog)
            for i, (fn, args) in enumerate(prog):
                vals[i] = fn(env, *[vals[j] for j in args])
            return vals[root]

        run.backend = backend  # type: ignore[attr-defined]
        return run

    def _instr(self, node: sp.Basic, index: Mapping[sp.Basic, int]) -> tuple:
        be = self.backend
        if isinstance(node, sp.Symbol):
            def sym(env: Mapping, _n: sp.Symbol = node) -> Any:
                try:
                    v = env[_n]
                except KeyError:
                    raise KeyError(f"no value given for the symbol {_n}") from None
                return _coerce(v, be)

            return sym, ()
        if isinstance(node, sp.Piecewise):
            return self._piecewise(node), ()
        if node.is_Number or isinstance(node, sp.NumberSymbol) or node in (sp.oo, -sp.oo):
            c = _iv_number(node) if be == "mpmath" else _np_const(node)
            return (lambda env, _c=c: _c), ()
        args = tuple(index[a] for a in node.args)
        if isinstance(node, sp.Add):
            def add(env: Mapping, *xs: Any) -> Any:
                r = xs[0]
                for x in xs[1:]:
                    r = r + x
                return r

            return add, args
        if isinstance(node, sp.Mul):
            def mul(env: Mapping, *xs: Any) -> Any:
                # products with a factor -1 are negations: exact, keep them so
                r = xs[0]
                for x in xs[1:]:
                    r = r * x
                return r

            return mul, args
        if isinstance(node, sp.Pow):
            ex = node.exp
            if be == "mpmath":
                return (lambda env, b, e, _ex=ex: _iv_pow(b, _ex, e)), args
            if ex.is_Integer:
                return (lambda env, b, e, _n=int(ex): IntervalArray.wrap(b) ** _n), args
            if ex == sp.Rational(1, 2):
                return (lambda env, b, e: IntervalArray.wrap(b).sqrt()), args
            if ex == sp.Rational(-1, 2):
                return (lambda env, b, e: IntervalArray.wrap(b).sqrt().reciprocal()), args
            return (lambda env, b, e, _ex=ex: _np_pow(b, e, _ex)), args
        table = _IV_FUNCS if be == "mpmath" else _NP_FUNCS
        fn = table.get(type(node)) or table.get(node.func)
        if fn is None:
            if be == "numpy":
                raise UnsupportedOperation(
                    f"{node.func} is not correctly rounded in NumPy; use backend='mpmath'"
                )
            raise UnsupportedOperation(f"no rigorous interval version of {node.func}")
        return (lambda env, *xs, _f=fn: _f(*xs)), args

    def _piecewise(self, node: sp.Piecewise) -> Callable[..., Any]:
        if self.backend != "mpmath":
            return self._np_piecewise(node)
        branches = [(self.compile(e), _compile_condition(c, self)) for e, c in node.args]

        def pw(env: Mapping) -> Any:
            taken: list[Any] = []
            for value, cond in branches:
                t = cond(env)
                if t is Truth.FALSE:
                    continue
                taken.append(value(env))
                if t is Truth.TRUE:
                    break
            else:
                if not taken:
                    raise ValueError(f"no branch of {node} can hold on the given intervals")
            return iv_hull(taken)

        return pw


    def _np_piecewise(self, node: sp.Piecewise) -> Callable[..., Any]:
        """Piecewise on interval arrays, element by element.

        For each element, branch i may be taken when its condition may hold and every
        earlier condition may fail (three-valued, from the interval endpoints); the result
        is the hull of the branches that may be taken.  A branch is evaluated only on the
        elements where it may be taken (the inputs are restricted to them), so a branch
        that is undefined elsewhere (log of a negative number) does not poison the result.
        """
        branches = [(self.compile(e), _np_condition(c, self)) for e, c in node.args]

        def pw(env: Mapping) -> IntervalArray:
            vals = {s: IntervalArray.wrap(_coerce(v, "numpy")) for s, v in env.items()}
            shape = np.broadcast_shapes(*(a.lo.shape for a in vals.values())) if vals else ()
            n = math.prod(shape)
            flat = {s: IntervalArray(np.broadcast_to(a.lo, shape).ravel(),
                                     np.broadcast_to(a.hi, shape).ravel())
                    for s, a in vals.items()}
            reach = np.ones(n, dtype=bool)  # all earlier conditions may be false
            lo = np.full(n, _POS_INF)
            hi = np.full(n, _NEG_INF)
            taken = np.zeros(n, dtype=bool)
            for value, cond in branches:
                idx = np.flatnonzero(reach)
                if idx.size == 0:
                    break
                may_t, may_f = cond({s: a[idx] for s, a in flat.items()})
                may_t = np.broadcast_to(may_t, idx.shape)
                may_f = np.broadcast_to(may_f, idx.shape)
                sel = idx[may_t]
                if sel.size:
                    v = IntervalArray.wrap(value({s: a[sel] for s, a in flat.items()}))
                    lo[sel] = np.minimum(lo[sel], np.broadcast_to(v.lo, sel.shape))
                    hi[sel] = np.maximum(hi[sel], np.broadcast_to(v.hi, sel.shape))
                    taken[sel] = True
                reach[idx[~may_f]] = False
            if not taken.all():
                raise ValueError(f"no branch of {node} can hold on some of the given intervals")
            return IntervalArray(lo.reshape(shape), hi.reshape(shape))

        return pw


_MaskPair = tuple[Any, Any]


def _np_condition(cond: Any, comp: _Compiler) -> Callable[[Mapping], _MaskPair]:
    """Compile a condition into env -> (may_be_true, may_be_false) boolean arrays."""
    if cond is sp.true or cond is True:
        return lambda env: (np.True_, np.False_)
    if cond is sp.false or cond is False:
        return lambda env: (np.False_, np.True_)
    if isinstance(cond, (sp.And, sp.Or)):
        parts = [_np_condition(c, comp) for c in cond.args]
        is_and = isinstance(cond, sp.And)

        def f_bool(env: Mapping) -> _MaskPair:
            ts = [p(env) for p in parts]
            mt, mf = ts[0]
            for t, f in ts[1:]:
                mt, mf = (mt & t, mf | f) if is_and else (mt | t, mf & f)
            return mt, mf

        return f_bool
    if isinstance(cond, sp.Not):
        inner = _np_condition(cond.args[0], comp)
        return lambda env: inner(env)[::-1]
    ops = {sp.StrictLessThan: "<", sp.LessThan: "<=", sp.StrictGreaterThan: ">",
           sp.GreaterThan: ">=", sp.Equality: "==", sp.Unequality: "!="}
    op = ops.get(type(cond))
    if op is None:
        raise UnsupportedOperation(f"cannot decide the condition {cond} on intervals")
    lhs, rhs = comp.compile(cond.lhs), comp.compile(cond.rhs)

    def f_rel(env: Mapping) -> _MaskPair:
        a, b = IntervalArray.wrap(lhs(env)), IntervalArray.wrap(rhs(env))
        if op in (">", ">="):
            a, b = b, a
        if op in ("<", ">"):
            return a.lo < b.hi, a.hi >= b.lo
        if op in ("<=", ">="):
            return a.lo <= b.hi, a.hi > b.lo
        may_eq = (a.lo <= b.hi) & (b.lo <= a.hi)
        surely_eq = (a.lo == a.hi) & (b.lo == b.hi) & (a.lo == b.lo)
        return (may_eq, ~surely_eq) if op == "==" else (~surely_eq, may_eq)

    return f_rel


def _np_pow(b: Any, e: Any, ex: sp.Expr) -> IntervalArray:
    """b**ex for a non-integer exponent on interval arrays: exp(ex log b), base >= 0."""
    b = IntervalArray.wrap(b)
    if (b.lo < 0).any():
        raise UnsupportedOperation(f"power {ex} of an interval reaching below 0")
    if not (ex.is_positive or (b.lo > 0).all()):
        raise UnsupportedOperation(f"power {ex} of an interval reaching 0")
    # b^p for p > 0 is 0 at b = 0: log(max(hi, 2^-1074)) keeps hi > 0, and
    # b^p <= (2^-1074)^p there, so the enclosure stays valid
    hi = np.maximum(b.hi, 5e-324)
    lg = IntervalArray(*_npk.log(b.lo, hi))
    return _NP_FUNCS[sp.exp](IntervalArray.wrap(e) * lg)


def _compile_condition(cond: Any, comp: _Compiler) -> Callable[[Mapping], Truth]:
    if cond is sp.true or cond is True:
        return lambda env: Truth.TRUE
    if cond is sp.false or cond is False:
        return lambda env: Truth.FALSE
    if isinstance(cond, sp.And):
        parts = [_compile_condition(c, comp) for c in cond.args]

        def f_and(env: Mapping) -> Truth:
            ts = [p(env) for p in parts]
            if any(t is Truth.FALSE for t in ts):
                return Truth.FALSE
            return Truth.TRUE if all(t is Truth.TRUE for t in ts) else Truth.UNDECIDED

        return f_and
    if isinstance(cond, sp.Or):
        parts = [_compile_condition(c, comp) for c in cond.args]

        def f_or(env: Mapping) -> Truth:
            ts = [p(env) for p in parts]
            if any(t is Truth.TRUE for t in ts):
                return Truth.TRUE
            return Truth.FALSE if all(t is Truth.FALSE for t in ts) else Truth.UNDECIDED

        return f_or
    if isinstance(cond, sp.Not):
        inner = _compile_condition(cond.args[0], comp)
        return lambda env: inner(env).negate()
    ops = {sp.StrictLessThan: "<", sp.LessThan: "<=", sp.StrictGreaterThan: ">",
           sp.GreaterThan: ">=", sp.Equality: "==", sp.Unequality: "!="}
    op = ops.get(type(cond))
    if op is None:
        raise UnsupportedOperation(f"cannot decide the condition {cond} on intervals")
    lhs, rhs = comp.compile(cond.lhs), comp.compile(cond.rhs)
    return lambda env: compare(lhs(env), op, rhs(env))


def _np_const(node: sp.Basic) -> IntervalArray:
    e = Enclosure.from_interval(_iv_number(node) if node.is_Number else to_interval(node))
    return IntervalArray.from_enclosure(e)


def _coerce(v: Any, backend: str) -> Any:
    if backend == "mpmath":
        if isinstance(v, iv.mpf):
            return v
        if isinstance(v, Enclosure):
            return v.to_interval()
        if isinstance(v, (float, np.floating)):
            m = float_to_mpf(float(v))
            return iv_from(m, m)
        if isinstance(v, (int, np.integer)):
            return iv.mpf(int(v))
        if isinstance(v, (tuple, list)) and len(v) == 2:
            return _coerce(Enclosure(endpoints(v[0])[0], endpoints(v[1])[1]), backend)
        if isinstance(v, sp.Basic):
            return to_interval(v)
        raise TypeError(f"cannot use {type(v).__name__} {v!r} as an interval")
    if isinstance(v, IntervalArray):
        return v
    if isinstance(v, Enclosure):
        return IntervalArray.from_enclosure(v)
    if isinstance(v, tuple) and len(v) == 2:
        return IntervalArray(v[0], v[1])
    if isinstance(v, (np.ndarray, float, int, np.floating, np.integer)):
        return IntervalArray(np.asarray(v, dtype=np.float64))
    raise TypeError(f"cannot use {type(v).__name__} {v!r} as an interval array")


def interval_lambdify(
    args: Sequence[sp.Symbol] | sp.Symbol,
    expr: Any,
    backend: str = "mpmath",
    prec: int | None = None,
) -> Callable[..., Any]:
    """Compile ``expr`` into a function that evaluates it rigorously on intervals.

    Args:
        args: the symbols, in the order the returned function takes them.
        expr: a SymPy expression.
        backend: ``"mpmath"`` (scalar ``mpmath.iv`` intervals, all supported functions)
            or ``"numpy"`` (arrays of float64 intervals; algebraic operations, exp, log,
            tanh, sigmoid, erf, erfc, sinh, cosh, atan, Piecewise; not sin/cos).
        prec: binary precision for the mpmath backend (default :data:`DEFAULT_PREC`).

    Returns:
        ``f(*values)`` where each value is an :class:`Enclosure`, an ``iv.mpf``, an exact
        number (a float is read as the double it is), or for ``"numpy"`` an
        :class:`IntervalArray`, a ``(lo, hi)`` pair of arrays or a float array.  The
        result encloses ``expr`` for every choice of inputs in the input intervals;
        endpoints are rounded outward.

    Raises:
        UnsupportedOperation: ``expr`` holds a function the backend cannot evaluate
            rigorously.

    Examples:
        >>> import sympy as sp
        >>> x = sp.Symbol("x")
        >>> f = interval_lambdify([x], sp.Max(x, 0) + sp.exp(x))
        >>> Enclosure.from_interval(f(Enclosure.from_floats(-0.5, 1.0)))
        [0.606530659712, 3.71828182846]
    """
    if isinstance(args, sp.Symbol):
        args = [args]
    args = list(args)
    expr = sp.sympify(expr)
    extra = expr.free_symbols - set(args)
    if extra:
        raise ValueError(f"expression has symbols {sorted(map(str, extra))} not in args")
    bits = prec or DEFAULT_PREC
    with working_precision(bits if backend == "mpmath" else max(bits, 64)):
        # constants (1/100, pi, sqrt(3)) are enclosed at compile time: at the target
        # precision, not at whatever precision happens to be active
        run = _Compiler(backend).compile(expr)

    if backend == "mpmath":

        def f(*values: Any) -> iv.mpf:
            if len(values) != len(args):
                raise TypeError(f"expected {len(args)} values, got {len(values)}")
            with working_precision(bits):
                return run(dict(zip(args, values, strict=True)))

    else:

        def f(*values: Any) -> IntervalArray:
            if len(values) != len(args):
                raise TypeError(f"expected {len(args)} values, got {len(values)}")
            vals = [IntervalArray.wrap(_coerce(v, "numpy")) for v in values]
            shape = np.broadcast_shapes(*(v.lo.shape for v in vals))
            n = math.prod(shape)
            with working_precision(max(bits, 64)), np.errstate(over="ignore"):
                if n <= 2 * _NP_BLOCK:
                    r = IntervalArray.wrap(run(dict(zip(args, vals, strict=True))))
                    if r.lo.shape != shape:  # constant expression: one value per element
                        r = IntervalArray(np.broadcast_to(r.lo, shape),
                                          np.broadcast_to(r.hi, shape))
                    return r
                # large arrays: run the program block by block (temporaries stay in cache)
                flat = [(np.broadcast_to(v.lo, shape).ravel(),
                         np.broadcast_to(v.hi, shape).ravel()) for v in vals]
                lo, hi = np.empty(n), np.empty(n)
                for i in range(0, n, _NP_BLOCK):
                    blk = slice(i, i + _NP_BLOCK)
                    env = {a: IntervalArray(vl[blk], vh[blk])
                           for a, (vl, vh) in zip(args, flat, strict=True)}
                    r = IntervalArray.wrap(run(env))
                    lo[blk], hi[blk] = r.lo, r.hi
                return IntervalArray(lo.reshape(shape), hi.reshape(shape))

    # not the printed expression: printing the large programs' lines costs seconds
    f.__doc__ = f"Interval enclosure of an expression in {len(args)} symbols ({backend} backend)."
    return f
