"""Derivations without weights of the feed-forward parameter and gradient bounds
(``symlip derive --wrt params|gradient``): the layer recursions of
:mod:`symlip.bounds.recursion` for a network of a given depth, in per-layer symbols,
followed by the proof steps of the local lemmas the default (``method="local"``) takes
the minimum with: Lemma 7 (parameters); Lemmas 8, 11 and, for activations with a
certified third derivative, 12 (gradient), ``docs/theory-param.md`` sections 7 and 10.

The derivers named in :data:`symlip.bounds.registry.BOUNDS` take one options dict:
``depth`` (or ``layers``: comma-separated hidden-layer kinds), ``activation`` and
``param``, ``loss`` (gradient), ``uniform`` (the closed forms of the uniform-layer
recursion) and ``no_global`` (why no global bound exists).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from symlip.errors import InputError

__all__ = ["MAX_DEPTH", "derive_params", "derive_gradient", "derive_feedforward"]

#: the longest derivation printed layer by layer (depth 64 takes about a second)
MAX_DEPTH = 1000


def derive_params(options: Mapping[str, Any]) -> Any:
    """The derivation of the parameter-Lipschitz bound (``wrt="params"``)."""
    return derive_feedforward({**options, "wrt": "params"})


def derive_gradient(options: Mapping[str, Any]) -> Any:
    """The derivation of the gradient-Lipschitz bound (``wrt="gradient"``)."""
    return derive_feedforward({**options, "wrt": "gradient"})


def _smooth_symbolically(act: Any) -> bool | None:
    """True if sigma is built from analytic functions only (K2 enters as a symbol)."""
    import sympy as sp

    expr = getattr(act, "expr", None)
    if expr is None:
        return None
    if expr.has(sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign):
        return None
    return True


def derive_feedforward(options: Mapping[str, Any]) -> Any:
    """The derivation of a feed-forward network's bound ``options["wrt"]``
    (a :class:`~symlip.symbolic.derivation.Derivation`; see the module docstring)."""
    from symlip.activations.registry import get_activation
    from symlip.bounds import recursion as rec
    from symlip.symbolic.derivation import Derivation

    wrt = options.get("wrt", "params")
    depth = options.get("depth")
    kinds = _layer_kinds(options)
    if kinds is not None:
        depth = len(kinds) + 1
    if depth is None:
        raise InputError("--depth N (the number of dense layers) is required")
    if depth < 1:
        raise InputError(f"--depth {depth} must be an integer >= 1")
    if depth > MAX_DEPTH:
        raise InputError(f"--depth {depth} is above {MAX_DEPTH}: a derivation that long "
                         "is not readable and takes minutes to build")
    act = get_activation(options.get("activation", "tanh"), options.get("param"))
    root = Derivation(f"symlip derive --wrt {wrt}: depth {depth}, "
                      f"activation {getattr(act, 'label', act.name)}")
    if wrt == "gradient" and depth > 1 and not _smooth_symbolically(act):
        from symlip.bounds.smooth import _require_smooth

        class _Net:  # the smoothness check only looks at the activations
            activations = (act,)

        _require_smooth(_Net())
    if wrt == "params" and kinds is not None:
        root.section(rec.network_first_order_derivation(kinds))
    elif wrt == "params":
        root.section(rec.first_order_derivation(depth))
        if depth > 1:  # the default (method="local") certifies the minimum with Lemma 7
            from symlip.bounds.sensitivity import local_first_order_derivation

            root.section(local_first_order_derivation(None))
    elif kinds is not None:  # dense, linear and residual kinds (Lemma 9's program)
        from symlip.bounds.residual_smooth import residual_second_order_derivation

        root.section(rec.network_first_order_derivation(None))
        root.section(residual_second_order_derivation(tuple(kinds),
                                                      options.get("loss", "mse") or "mse"))
    else:
        loss = options.get("loss", "mse") or "mse"
        root.section(rec.first_order_derivation(None))
        root.section(rec.second_order_derivation(depth, loss=loss))
        if depth > 1:  # the default (method="local") certifies the minimum with these
            from symlip.bounds.curvature_program import local_curv_derivation
            from symlip.bounds.sensitivity import (
                local_gn_derivation,
                local_second_order_derivation,
                third_derivative,
            )

            root.section(local_second_order_derivation(None))
            root.section(local_gn_derivation(None, loss))
            if third_derivative(act) is not None:
                root.section(local_curv_derivation(None, loss))
    if options.get("uniform"):
        # both orders for the gradient (its recursion uses the first-order one)
        root.section(rec.uniform_first_order()[2])
        if wrt == "gradient":
            root.section(rec.uniform_second_order()[1])
    if options.get("no_global"):
        from symlip.bounds.noglobal import no_global_bound

        root.section(no_global_bound(max(2, min(depth, 6)), act.name)[0])
    return root


def _layer_kinds(options: Mapping[str, Any]) -> list[str] | None:
    """The ``layers`` kinds (validated), or ``None``."""
    from symlip.bounds.recursion import LAYER_KINDS

    text = options.get("layers")
    if text is None:
        return None
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in LAYER_KINDS]
    if bad or not kinds:
        raise InputError(f"--layers {text!r}: expected comma-separated kinds from "
                         f"{list(LAYER_KINDS)}, got {bad or 'none'}")
    depth = options.get("depth")
    if depth is not None and depth != len(kinds) + 1:
        raise InputError(f"--depth {depth} contradicts --layers {text!r} "
                         f"({len(kinds)} hidden layers + the read-out = {len(kinds) + 1})")
    return kinds
