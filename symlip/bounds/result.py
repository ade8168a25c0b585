"""Result objects of every bound: what is certified, what is estimated, how it was derived."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from symlip.arith.enclosure import Enclosure
from symlip.symbolic.derivation import Derivation
from symlip.symbolic.formula import Formula

__all__ = ["BoundResult"]


@dataclass
class BoundResult:
    """A Lipschitz-type bound with its trust levels kept apart.

    Attributes:
        quantity: what is bounded (``"input_lipschitz"``, ``"param_lipschitz"``,
            ``"grad_lipschitz"``, ...).
        norm: the norm in which it is bounded (``"l2"``).
        enclosure: certified enclosure of the formula's value; ``upper`` is its upper
            end, the certified upper bound.
        lower_enclosure: enclosure whose *lower* end is a certified lower bound of the
            true constant (e.g. an interval difference quotient), or ``None``.
        estimate: best sampled lower estimate in float64 (not certified), or ``None``.
        formula: the SymPy formula the number came from.
        inputs: the certified enclosures of the formula's inputs.
        derivation: the step-by-step derivation of the formula.
        per_layer: per-layer contributions (dicts, JSON-ready).
        extra: additional JSON-ready fields (radius, verdict, ...).
        checked: the run-time checks done when the result was built:
            ``{"float_in_enclosure": True}`` (see :meth:`Formula.check_float_in_enclosure
            <symlip.symbolic.formula.Formula.check_float_in_enclosure>`); a failed check raises
            :class:`~symlip.errors.InternalError` and no result exists.
    """

    quantity: str
    norm: str
    enclosure: Enclosure
    formula: Formula
    inputs: dict[str, Enclosure]
    derivation: Derivation
    lower_enclosure: Enclosure | None = None
    estimate: float | None = None
    per_layer: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    witness: dict[str, Any] | None = None
    checked: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # the single place of the run-time cross-check: every bound (input, local, params,
        # gradient, spline, cde, residual) is built as a BoundResult, so every one is
        # checked (float path at the centre inputs inside the interval path's enclosure)
        detail = self.formula.check_float_in_enclosure(self.inputs)
        self.checked = {**self.checked, "float_in_enclosure": detail["float_in_enclosure"]}
        self._check_detail = detail
        # every derivation shows the simplified per-layer closed forms of its formula
        from symlip.symbolic.simplify import closed_form_section, has_closed_forms

        if not has_closed_forms(self.derivation):
            self.derivation.section(closed_form_section(self.formula))

    @property
    def upper(self) -> float:
        """Certified upper bound, rounded up to a double."""
        return self.enclosure.upper_float

    @property
    def lower(self) -> float | None:
        """Certified lower bound (rounded down to a double), or ``None``."""
        return None if self.lower_enclosure is None else self.lower_enclosure.lower_float

    @property
    def ratio(self) -> float | None:
        """upper / best lower (certified lower if present, else the estimate)."""
        best = max(
            [v for v in (self.lower, self.estimate) if v is not None and v > 0], default=None
        )
        if best is None or not math.isfinite(self.upper):
            return None
        return self.upper / best

    def to_dict(self, digits: int = 17) -> dict[str, Any]:
        d: dict[str, Any] = {
            "quantity": self.quantity,
            "norm": self.norm,
            "upper": self.enclosure.upper_str(digits),
            "lower": None if self.lower_enclosure is None
            else self.lower_enclosure.lower_str(digits),
            "estimate": self.estimate,
            "certified": True,
            "checked": dict(self.checked),
        }
        d.update(self.extra)
        if self.per_layer:
            d["per_layer"] = self.per_layer
        d["ratio"] = self.ratio
        d["formula"] = {"latex": self.formula.latex(), "name": self.formula.name}
        return d

    def __repr__(self) -> str:
        # the certified lower bound is printed rounded *down* (f"{x:.6g}" rounds to
        # nearest and could print a number above it)
        low = "None" if self.lower_enclosure is None else self.lower_enclosure.lower_str(6)
        est = "None" if self.estimate is None else f"{self.estimate:.6g}"
        return (
            f"BoundResult({self.quantity}, upper={self.enclosure.upper_str(8)} (certified), "
            f"lower={low} (certified), estimate={est} (sampled))"
        )

    def _repr_latex_(self) -> str:
        return (
            f"$${self.formula.name} = {self.formula.latex()} \\le "
            f"{self.enclosure.upper_str(8)}$$"
        )
