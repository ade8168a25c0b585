"""Three-valued verdicts of a Lipschitz target: certified, refuted or undecided."""

from __future__ import annotations

from typing import Any

from symlip.intervals import Enclosure, Truth, compare, outward_decimal

__all__ = ["lipschitz_verdict"]


def lipschitz_verdict(result: Any, target: float) -> dict[str, Any]:
    """Decide ``Lip <= target`` from a result's certified upper and lower bounds.

    Returns a dict with ``"verdict"``: ``"certified-<t>-lipschitz"`` when the certified
    upper bound is <= target, ``"refuted"`` when the certified lower bound exceeds it
    (both decided in exact arithmetic on the enclosures), else ``"undecided"``; and
    ``"margin"``: certified upper minus target, rounded up (decimal string).
    """
    t = Enclosure.point(float(target))
    label = f"{float(target):g}"
    if compare(result.enclosure.upper, "<=", t) is Truth.TRUE:
        verdict = f"certified-{label}-lipschitz"
    elif (result.lower_enclosure is not None
          and compare(result.lower_enclosure.lower, ">", t) is Truth.TRUE):
        verdict = "refuted"
    else:
        verdict = "undecided"

    import mpmath

    margin = mpmath.fsub(result.enclosure.upper, t.upper, exact=True)
    return {"target": float(target), "verdict": verdict,
            "margin": outward_decimal(margin, 6, up=True)}
