r"""Mixed per-point gradient bounds for many data points (issue #12).

The gradient bound is the mean of per-point bounds, $L_{grad} \le \frac1n\sum_iL(i)$
(the triangle inequality on $\nabla L = \frac1n\sum_i\nabla\ell_i$), so each point may
take any certified bound of its own.  Beyond the local method's budget
(:func:`symlip.bounds.param_core.local_applies`, about 1,500 points on 784-1024-1024-10)
the default used to be the recursion for every point.  On a trained classifier the
recursion's per-point lines are very unequal: the few unconfident points carry the mean
(on the digits-trained 784-1024-1024-10 net, 10,000 points, cross-entropy, the 10 % of
points with the largest lines carry 78 % of it).  Here the local method (Lemmas 7-12,
whichever apply) runs on a chosen subset $A$ of the points, as if $A$ were the whole data
set, and the others keep the recursion:

$$L(i) = \min\big(B^{\mathrm{rec}}_i,\ \max(B_i, \mathrm{off}_i)\big),\qquad \mathrm{off}_i =
\begin{cases}0 & i \in A\\ +\infty & i \notin A\end{cases}$$

with $B^{\mathrm{rec}}_i$ the recursion's line and $B_i$ the local method's on the
certified inputs of point $i$.  For $i \in A$ every input is what the local method
computes on the data $A$ (Lemma 11's Gauss-Newton norm is that of $i$'s chunk of $A$,
whose mean over the chunk is the chunk's norm), so both lines are certified bounds of
$\mathrm{Lip}(\nabla\ell_i)$ summed over $A$; for $i \notin A$ the local inputs are
placeholders (the hull over $A$), $\max(B_i, \infty) = \infty$ and the line is the
recursion's on the inputs computed for all the data ($\max$, not $B_i + \mathrm{off}_i$:
the interval of $B_i$ may have the lower end $-\infty$ on placeholders, and $-\infty +
\infty$ is undefined).  Interval evaluation keeps $+\infty$ exact (``min`` of a finite
value and $+\infty$ is the finite value), so nothing else changes:
the certificate records the subset (option ``local_points``, the sorted indices) and
``verify`` recomputes both sets of inputs.

More points than the local method takes at once (a count ``m >= n`` asks for all of
them) are split into consecutive chunks (:func:`chunks`), each computed as its own data
set: the argument above holds chunk by chunk.  A chunk whose local program differs from
the first chunk's (its inputs overflowed, or another budget decision) keeps the
recursion ($\mathrm{off} = +\infty$ there).

Which points: the ones with the largest recursion lines (ties by index).  The default
(``local_points="auto"``) takes as many as :data:`MIXED_COST_BUDGET` allows, and only when
they carry at least :data:`MIXED_MIN_SHARE` of the recursion's sum (on MSE the lines are
nearly equal and the local method on a few points buys nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy as sp

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure
from symlip.bounds import recursion as rec
from symlip.bounds.param_core import CertifiedInputs
from symlip.errors import InputError

__all__ = ["MIXED_COST_BUDGET", "MIXED_MIN_SHARE", "OFF", "check_local_points",
           "choose_points", "chunks", "merge_inputs", "mixed_program"]

#: largest :func:`~symlip.bounds.sensitivity.local_cost` of the subset the default takes
#: (about 190 points on 784-1024-1024-10: 2-3 s on the development machine, so the
#: 10,000-point defaults stay within issue #12's 10 s)
MIXED_COST_BUDGET = 2_000_000_000

#: the default mixes only when the chosen points carry at least this share of the sum of
#: the recursion's per-point lines
MIXED_MIN_SHARE = 0.1

#: $\mathrm{off}_i$: 0 on the points with local inputs, $+\infty$ elsewhere
OFF = sp.Symbol("off", nonnegative=True)
BMIX = sp.Symbol("B_mix", nonnegative=True)


def mixed_program(local: rec.RecursiveFormula, recursion: rec.RecursiveFormula
                  ) -> rec.RecursiveFormula:
    """One program with both lines: the local one's definitions, then the recursion's
    (a line defined identically in both is shared; one defined differently is renamed
    with a superscript ``rec``), then $B_{mix} = \\min(B^{rec}, \\max(B, \\mathrm{off}))$."""
    ldefs = {d.symbol: d.expr for d in local.definitions}
    taken = set(ldefs) | set(local.inputs)
    rename: dict[sp.Symbol, sp.Symbol] = {}
    defs = list(local.definitions)
    for d in recursion.definitions:
        expr = d.expr.xreplace(rename)
        if ldefs.get(d.symbol) == expr:
            continue  # the same line: shared
        sym = d.symbol
        if sym in taken:
            sym = sp.Symbol(f"{d.symbol.name}^rec", **d.symbol.assumptions0)
            rename[d.symbol] = sym
        defs.append(rec.Definition(sym, expr, d.why))
        taken.add(sym)
    brec = rename.get(recursion.output, recursion.output)
    defs.append(rec.Definition(
        BMIX, rec._min([brec, sp.Max(local.output, OFF)]),
        "each point takes a certified bound of its own: the local line on the chosen "
        "points (off = 0), the recursion's elsewhere (off = +infinity)"))
    inputs = rec._dedup([*local.inputs, *recursion.inputs, OFF])
    return rec.RecursiveFormula(defs, inputs, name=local.name)


def check_local_points(value: Any, n: int) -> np.ndarray | int | str | None:
    """``"auto"``, ``None``, a count ``m >= 0`` or a sequence of distinct indices in
    ``[0, n)`` (returned sorted as an int array); anything else is an :class:`InputError`
    naming the value."""
    if value is None or (isinstance(value, str) and value == "auto"):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"local_points={value!r}; expected 'auto', a count or a list "
                         "of data row indices")
    if isinstance(value, (int, np.integer)):
        if value < 0:
            raise InputError(f"local_points={value} must be >= 0 (a number of data points)")
        return int(value)
    if isinstance(value, str) or not isinstance(value, (Sequence, np.ndarray)):
        raise InputError(f"local_points={value!r}; expected 'auto', a count or a list of "
                         "data row indices")
    idx = []
    for v in value:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise InputError(f"local_points contains {v!r}; expected data row indices "
                             "(integers)")
        if not 0 <= v < n:
            raise InputError(f"local_points contains {v}; expected indices in [0, {n}) "
                             f"(the data has {n} rows)")
        idx.append(int(v))
    arr = np.asarray(sorted(idx), dtype=np.int64)
    if len(arr) and np.any(np.diff(arr) == 0):
        raise InputError("local_points lists a data row twice; expected distinct indices")
    return arr


def choose_points(lines: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` points with the largest lines (ties by index), sorted."""
    order = np.argsort(-np.asarray(lines, dtype=np.float64), kind="stable")
    return np.sort(order[:m])


def _largest_count(fits: Any, lo: int, hi: int) -> int:
    """The largest ``m`` in ``[lo, hi]`` with ``fits(m)`` (``fits`` true at ``lo`` and
    monotone: a cost within a budget), by bisection."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def auto_count(net: Any, lines: np.ndarray) -> int:
    """How many points the default gives the local line (0: none)."""
    from symlip.bounds.sensitivity import local_cost

    lo = _largest_count(lambda m: local_cost(net, m) <= MIXED_COST_BUDGET, 0, len(lines))
    if lo == 0:
        return 0
    top = np.sort(np.asarray(lines, dtype=np.float64))[::-1][:lo]
    total = float(np.sum(lines))
    return lo if total > 0 and float(np.sum(top)) >= MIXED_MIN_SHARE * total else 0


def _point_values(ci: CertifiedInputs, name: str, n: int) -> IntervalArray | None:
    if name in ci.per_point:
        return ci.per_point[name]
    if name in ci.scalars:
        e = ci.scalars[name]
        return IntervalArray(np.full(n, e.lower_float), np.full(n, e.upper_float))
    return None


def chunks(net: Any, A: np.ndarray) -> list[np.ndarray]:
    """``A`` in consecutive pieces of nearly equal size, each within the local method's
    budget (:func:`~symlip.bounds.param_core.local_applies`)."""
    from symlip.bounds import param_core

    # the largest count the local method takes at once
    lo = _largest_count(lambda m: param_core.local_applies(net, m), 1, len(A))
    q = -(-len(A) // lo)
    return [np.asarray(c, dtype=np.int64) for c in np.array_split(A, q)]


def merge_inputs(formula: rec.RecursiveFormula, recursion: rec.RecursiveFormula,
                 ci: CertifiedInputs, parts: list[tuple[np.ndarray, CertifiedInputs]],
                 n: int) -> CertifiedInputs:
    """The per-point inputs of :func:`mixed_program`: on the points of each part what
    the local computation on that part gave (an input it lacks from ``ci``, certified
    for every point), elsewhere the recursion's inputs from ``ci`` (all the data) and
    the hull over the first part as placeholders of the local ones; ``off`` 0 on the
    parts' points, +inf elsewhere.  The centre pass is that of all the data (``ci``'s,
    which the lower bound reuses)."""
    rec_names = {str(s) for s in recursion.inputs}
    in_a = np.zeros(n, dtype=bool)
    for idx, _ in parts:
        in_a[idx] = True
    scalars: dict[str, Enclosure] = {}
    per_point: dict[str, IntervalArray] = {}
    hull_a = parts[0][1].hull()
    hull_all: dict[str, Enclosure] | None = None
    for s in formula.inputs:
        name = str(s)
        if s == OFF:
            off = np.where(in_a, 0.0, np.inf)
            per_point[name] = IntervalArray(off, off.copy())
            continue
        if name in rec_names and name in ci.scalars and all(
                name in c.scalars and c.scalars[name].lower == ci.scalars[name].lower
                and c.scalars[name].upper == ci.scalars[name].upper for _, c in parts):
            scalars[name] = ci.scalars[name]  # the same enclosure for every point
            continue
        if name in rec_names:
            rest = _point_values(ci, name, n)
        else:
            if name not in hull_a and hull_all is None:
                hull_all = ci.hull()
            h = hull_a[name] if name in hull_a else hull_all[name]  # type: ignore[index]
            rest = IntervalArray(np.full(n, h.lower_float), np.full(n, h.upper_float))
        lo = np.array(rest.lo, dtype=np.float64)  # type: ignore[union-attr]
        hi = np.array(rest.hi, dtype=np.float64)  # type: ignore[union-attr]
        for idx, c in parts:
            va = _point_values(c, name, len(idx))
            if va is None:  # an input the local computation did not make
                va = _point_values(ci, name, n)[idx]  # type: ignore[index]
            lo[idx], hi[idx] = va.lo, va.hi
        per_point[name] = IntervalArray(lo, hi)
    return CertifiedInputs(scalars, per_point, bounded=ci.bounded, centre=ci.centre,
                           centre_data=ci.centre_data, timings={**ci.timings}, jac=ci.jac,
                           spectral_method=ci.spectral_method)
