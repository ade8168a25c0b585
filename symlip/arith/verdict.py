"""Three-valued verdicts of a Lipschitz target: certified, refuted or undecided."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath

from symlip.arith.enclosure import Enclosure, Truth, compare, outward_decimal

__all__ = ["lipschitz_verdict"]


def _exact_target(target: Any) -> Fraction:
    """The target as the exact number the user wrote: a float is read as the shortest
    decimal that prints as it (``0.1`` -> 1/10, not the double 0.1000000000000000055...);
    strings, ints and Fractions exactly."""
    if isinstance(target, bool):
        raise TypeError("a boolean is not a Lipschitz target")
    if isinstance(target, float):
        q = Fraction(repr(target))
    else:
        q = Fraction(str(target)) if isinstance(target, str) else Fraction(target)
    return q


def lipschitz_verdict(result: Any, target: Any) -> dict[str, Any]:
    """Decide ``Lip <= target`` from a result's certified upper and lower bounds.

    Args:
        result: a :class:`~symlip.bounds.result.BoundResult`.
        target: the Lipschitz target $t$, taken as the exact decimal it is written as
            (a float ``0.1`` means $1/10$; a string ``"0.1"``, an int or a Fraction
            exactly).

    Returns:
        A dict with ``"verdict"``: ``"certified-<t>-lipschitz"`` when the certified upper
        bound is $\\le t$, ``"refuted"`` when the certified lower bound exceeds $t$ (both
        decided in exact arithmetic against a 113-bit enclosure of $t$, so a verdict is
        never wrong for the exact decimal), else ``"undecided"``; ``"margin"``: an upper
        bound of (certified upper $- t$), rounded up (decimal string); ``"target"``.
    """
    q = _exact_target(target)
    t = Enclosure.from_fraction(q)
    label = f"{float(q):g}"
    if compare(result.enclosure.upper, "<=", t) is Truth.TRUE:
        verdict = f"certified-{label}-lipschitz"
    elif (result.lower_enclosure is not None
          and compare(result.lower_enclosure.lower, ">", t) is Truth.TRUE):
        verdict = "refuted"
    else:
        verdict = "undecided"

    margin = mpmath.fsub(result.enclosure.upper, t.lower, exact=True)  # >= upper - t
    return {"target": float(q), "verdict": verdict,
            "margin": outward_decimal(margin, 6, up=True)}
