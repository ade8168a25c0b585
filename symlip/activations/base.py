"""The data types of activations: the variable ``X`` of their expressions and their
certified constants (:class:`Constant`, :class:`ActivationConstants`).  Below both the
registry (:mod:`.registry`) and the derivation of the constants (:mod:`.constants`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from symlip.arith.enclosure import Enclosure
from symlip.symbolic.compile import enclose
from symlip.symbolic.derivation import Derivation

__all__ = ["ActivationConstants", "Constant", "X"]

#: The real variable of activation expressions.
X = sp.Symbol("x", real=True)


@dataclass(frozen=True)
class Constant:
    """A certified constant of an activation.

    Attributes:
        name: ``"S0"``, ``"K1"``, ``"K2"`` or ``"sigma0"``.
        enclosure: rigorous enclosure (upper end rounded up); ``[.., inf]`` if infinite.
        exact: exact SymPy value when known (``sympy.oo`` for infinity), else ``None``.
        reason: one sentence on why (e.g. why it is infinite).
        derivation: the proof, step by step.
    """

    name: str
    enclosure: Enclosure
    exact: sp.Expr | None = None
    reason: str = ""
    derivation: Derivation | None = None

    @property
    def is_finite(self) -> bool:
        return self.enclosure.is_finite

    @property
    def upper(self) -> float:
        return self.enclosure.upper_float

    def to_dict(self, digits: int = 17) -> dict[str, Any]:
        infinite = not self.is_finite
        return {
            "lower": self.enclosure.lower_str(digits),
            "upper": "inf" if infinite else self.enclosure.upper_str(digits),
            "exact": None if self.exact is None else sp.srepr(self.exact),
            "latex": None if self.exact is None else sp.latex(self.exact),
        }

    @classmethod
    def exact_value(cls, name: str, value: Any, reason: str = "",
                    derivation: Derivation | None = None) -> Constant:
        value = sp.sympify(value)
        if value is sp.oo:
            return cls(name, Enclosure.unbounded_above(0), sp.oo, reason, derivation)
        return cls(name, enclose(value), value, reason, derivation)


@dataclass(frozen=True)
class ActivationConstants:
    """The four constants of an activation, with the derivation of each."""

    S0: Constant
    K1: Constant
    K2: Constant
    sigma0: Constant
    derivation: Derivation = field(default_factory=lambda: Derivation("constants"))

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).to_dict() for k in ("S0", "K1", "K2", "sigma0")}
