r"""Activation functions and their certified constants.

For a componentwise activation $\sigma$ symlip needs four constants:

* $S_0 = \sup_x |\sigma(x)|$ (may be $\infty$),
* $K_1 = \sup_x |\sigma'(x)|$, the Lipschitz constant of $\sigma$,
* $K_2$, the Lipschitz constant of $\sigma'$ ($= \sup|\sigma''|$ where $\sigma$ is
  $C^2$; $\infty$ where $\sigma'$ jumps),
* $s_0 = |\sigma(0)|$.

Each is a :class:`Constant`: an exact SymPy expression when one is known, a rigorous
:class:`~symlip.arith.enclosure.Enclosure`, and the derivation that proves it.  The NumPy
functions $\sigma, \sigma', \sigma''$ are lambdified from the same SymPy expression.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from symlip.arith.enclosure import Enclosure
from symlip.errors import InputError, NotSmoothError, UnknownActivationError
from symlip.symbolic.compile import enclose, interval_lambdify
from symlip.symbolic.derivation import Derivation
from symlip.symbolic.functions import overflow_free, sigmoid

__all__ = [
    "AbstractActivation",
    "Activation",
    "ActivationConstants",
    "Constant",
    "X",
    "activation_names",
    "get_activation",
    "numeric_form",
]

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


class AbstractActivation(abc.ABC):
    """Interface every activation implements (SymPy-based ones and linear splines).

    Arrays passed to the NumPy methods have neurons on the last axis.
    """

    name: str

    @abc.abstractmethod
    def sigma(self, z: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def dsigma(self, z: np.ndarray) -> np.ndarray: ...

    def d2sigma(self, z: np.ndarray) -> np.ndarray:
        raise NotSmoothError(f"activation {self.name!r} has no second derivative")

    @property
    @abc.abstractmethod
    def constants(self) -> ActivationConstants: ...

    @abc.abstractmethod
    def interval_sigma(self, z: Any, neuron: int | None = None) -> Any:
        """Rigorous enclosure of sigma on an ``mpmath.iv`` interval."""

    @property
    def is_smooth(self) -> bool:
        """True when K2 is finite (sigma' is Lipschitz)."""
        return self.constants.K2.is_finite

    def require_smooth(self, what: str = "a gradient bound") -> None:
        if not self.is_smooth:
            raise NotSmoothError(
                f"{what} needs a Lipschitz derivative, but activation {self.name!r} has "
                f"K2 = infinity ({self.constants.K2.reason})"
            )


class Activation(AbstractActivation):
    """A componentwise activation given by a SymPy expression in :data:`X`.

    Args:
        name: registry name (``"tanh"``).
        expr: $\\sigma(x)$ as a SymPy expression in :data:`X`.
        param: the parameter value for parametrised families (leaky slope, alpha, w).
        latex_name: how the derivations write it.
    """

    def __init__(self, name: str, expr: sp.Expr, param: Any = None,
                 latex_name: str | None = None) -> None:
        self.name = name
        self.expr = sp.sympify(expr)
        self.param = param
        self.latex_name = latex_name or rf"\operatorname{{{name}}}"

    def __repr__(self) -> str:
        p = "" if self.param is None else f", param={self.param}"
        return f"Activation({self.name!r}{p}: {self.expr})"

    @property
    def label(self) -> str:
        return self.name if self.param is None else f"{self.name}({self.param})"

    @cached_property
    def derivatives(self) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
        """$(\\sigma, \\sigma', \\sigma'')$ as SymPy expressions."""
        d1 = sp.diff(self.expr, X)
        d2 = sp.diff(d1, X)
        return self.expr, d1, d2

    @cached_property
    def numeric_derivatives(self) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
        """$(\\sigma, \\sigma', \\sigma'')$ of :func:`numeric_form` (what NumPy evaluates)."""
        e = numeric_form(self.expr)
        d1 = sp.diff(e, X)
        return e, numeric_form(d1), numeric_form(sp.diff(d1, X))

    def _np(self, k: int) -> Callable[[np.ndarray], np.ndarray]:
        from symlip.symbolic.formula import _NUMPY_MODULES

        e = self.numeric_derivatives[k]
        f = sp.lambdify(X, e, modules=[_NP_EXTRA, *_NUMPY_MODULES])

        def g(z: np.ndarray) -> np.ndarray:
            z = np.asarray(z, dtype=float)
            with np.errstate(over="ignore", invalid="ignore"):
                out = f(z)
            return np.broadcast_to(np.asarray(out, dtype=float), z.shape).copy()

        return g

    @cached_property
    def _numpy_fns(self) -> tuple[Callable, Callable, Callable]:
        return self._np(0), self._np(1), self._np(2)

    def sigma(self, z: np.ndarray) -> np.ndarray:
        return self._numpy_fns[0](z)

    def dsigma(self, z: np.ndarray) -> np.ndarray:
        return self._numpy_fns[1](z)

    def d2sigma(self, z: np.ndarray) -> np.ndarray:
        self.require_smooth("the second derivative")
        return self._numpy_fns[2](z)

    @cached_property
    def _iv_sigma(self) -> Callable[[Any], Any]:
        return interval_lambdify([X], self.expr, backend="mpmath")

    def interval_sigma(self, z: Any, neuron: int | None = None) -> Any:
        return self._iv_sigma(z)

    @cached_property
    def constants(self) -> ActivationConstants:
        """The certified constants: the enclosures shipped for the registered activations
        (re-derived and compared by ``tests/test_constants_table.py``; their proofs are
        derived on first access), else :func:`~symlip.activations.constants.
        derive_constants`."""
        from symlip.activations.constants import derive_constants, shipped_constants

        got = shipped_constants(self)
        return got if got is not None else derive_constants(self)


def _np_erf(z: Any) -> Any:
    try:
        from scipy.special import erf  # optional, faster

        return erf(z)
    except ImportError:  # scipy is optional: math.erf is correctly rounded to ~1 ulp
        return _MATH_ERF(np.asarray(z, dtype=float)).astype(float)


_MATH_ERF = np.frompyfunc(math.erf, 1, 1)


def _np_softplus(z: Any) -> Any:
    return np.logaddexp(0.0, z)


_NP_EXTRA: dict[str, Any] = {"erf": _np_erf, "softplus": _np_softplus}

_W = sp.Wild("w")


def numeric_form(expr: sp.Expr) -> sp.Expr:
    r"""The same function, rewritten for overflow-free floating-point evaluation.

    The rewrite the interval-array path uses too
    (:func:`~symlip.symbolic.functions.overflow_free`: $\log(1 + e^{w}) \to$
    ``softplus(w)``, evaluated as ``logaddexp(0, w)``; $e^{mw}(1 + e^{w})^{-n}$ to powers
    of $\sigma(\pm w)$, evaluated stably), then $1 - \sigma(w) \to \sigma(-w)$ (no
    cancellation in floats).  The mpmath and exact paths keep the original expression.

    Examples:
        >>> numeric_form(sp.log(1 + sp.exp(X)))
        softplus(x)
    """
    e = overflow_free(sp.sympify(expr))
    return e.replace(1 - sigmoid(_W), sigmoid(-_W))


# ------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------

def _rat(v: Any) -> sp.Expr:
    """A parameter as an exact SymPy number: '0.01' -> 1/100, 0.01 (float) -> its double."""
    if isinstance(v, str):
        return sp.Rational(v)
    if isinstance(v, float):
        return sp.Float(v, 53) if not float(v).is_integer() else sp.Integer(int(v))
    return sp.sympify(v)


_REGISTRY: dict[str, tuple[Callable[[Any], Activation], Any, str]] = {
    "identity": (lambda p: Activation("identity", X, None, r"\operatorname{id}"), None,
                 "the identity x"),
    "relu": (lambda p: Activation("relu", sp.Max(X, 0), None, r"\operatorname{ReLU}"), None,
             "max(x, 0)"),
    "leaky_relu": (lambda p: Activation("leaky_relu",
                                        sp.Piecewise((_rat(p) * X, X < 0), (X, True)), p,
                                        r"\operatorname{LeakyReLU}"),
                   "0.01", "x for x >= 0, a x for x < 0 (param a, default 0.01)"),
    "tanh": (lambda p: Activation("tanh", sp.tanh(X), None, r"\tanh"), None, "tanh(x)"),
    "sigmoid": (lambda p: Activation("sigmoid", sigmoid(X), None, r"\sigma"), None,
                "1 / (1 + exp(-x))"),
    "softplus": (lambda p: Activation("softplus", sp.log(1 + sp.exp(X)), None,
                                      r"\operatorname{softplus}"), None, "log(1 + exp(x))"),
    "elu": (lambda p: Activation("elu", sp.Piecewise((_rat(p) * (sp.exp(X) - 1), X < 0),
                                                     (X, True)), p, r"\operatorname{ELU}"),
            "1", "x for x >= 0, alpha (exp(x) - 1) for x < 0 (param alpha, default 1)"),
    "gelu": (lambda p: Activation("gelu", X * (1 + sp.erf(X / sp.sqrt(2))) / 2, None,
                                  r"\operatorname{GELU}"), None, "x Phi(x), exact erf form"),
    "silu": (lambda p: Activation("silu", X * sigmoid(X), None, r"\operatorname{SiLU}"), None,
             "x sigmoid(x)"),
    "sin": (lambda p: Activation("sin", sp.sin(_rat(p) * X), p, r"\sin"), "1",
            "sin(w x) (param w, default 1)"),
}

_ALIASES = {"linear": "identity", "swish": "silu", "logistic": "sigmoid", "leakyrelu":
            "leaky_relu", "leaky-relu": "leaky_relu"}


def activation_names() -> list[str]:
    """The registered activation names."""
    return sorted(_REGISTRY)


_CACHE: dict[tuple[str, Any], Activation] = {}


def get_activation(name: str | AbstractActivation, param: Any = None) -> AbstractActivation:
    """Look up an activation by name (with its parameter for parametrised families).

    Args:
        name: a registry name (see :func:`activation_names`) or an activation object.
        param: leaky_relu slope ``a``, elu ``alpha``, sin frequency ``w``; strings are
            read as exact decimals (``"0.01"`` is 1/100).

    Raises:
        UnknownActivationError: the name is not registered.
        InputError: a parameter is given to an activation that takes none, or is invalid.
    """
    if isinstance(name, AbstractActivation):
        return name
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise UnknownActivationError(
            f"unknown activation {name!r}; expected one of: {', '.join(activation_names())}"
        )
    factory, default, _ = _REGISTRY[key]
    if default is None and param is not None:
        raise InputError(f"activation {key!r} takes no parameter, got param={param!r}")
    p = default if param is None else param
    if p is not None:
        try:
            v = _rat(p)
        except (TypeError, ValueError, sp.SympifyError):
            raise InputError(f"parameter of {key!r} must be a number, got {param!r}") from None
        if not (v.is_real and v.is_finite):
            raise InputError(f"parameter of {key!r} must be a finite real, got {param!r}")
        if key == "elu" and not v.is_positive:
            raise InputError(f"elu alpha must be > 0, got {param!r}")
        if key == "leaky_relu" and v.is_negative:
            raise InputError(f"leaky_relu slope must be >= 0, got {param!r}")
    # keyed by the exact value: str(p) made the double 0.1 and the decimal "0.1" (1/10)
    # share one cached activation, whichever was asked for first
    ck = (key, None if p is None else str(_rat(p)))
    if ck not in _CACHE:
        _CACHE[ck] = factory(p)
    return _CACHE[ck]


def describe_registry() -> list[tuple[str, str]]:
    """(name, description) pairs for help texts."""
    return [(k, _REGISTRY[k][2]) for k in activation_names()]
