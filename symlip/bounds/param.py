r"""Lipschitz bounds of a network with respect to its parameters, on a ball.

Theorem (Herrera, Krach & Teichmann, re-derived in ``docs/theory-param.md``): for the
feed-forward network $f(x;\theta)$ of depth $N$, every data point $x$ and all
$\theta, \theta'$ in the closed Euclidean ball $B_r(\bar\theta)$ of the flattened
parameter vector,

$$ \|f(x;\theta) - f(x;\theta')\|_2 \le l_N(x)\, \|\theta - \theta'\|_2 , $$

with $l_N$ the recursion of :func:`symlip.bounds.recursion.first_order_program`.
:func:`param_lipschitz` returns $\max_x l_N(x)$ evaluated in outward-rounded interval
arithmetic on certified enclosures of its inputs (spectral norms, bias norms, data
norms, activation constants, centre activation norms), i.e. a certified upper bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from symlip.arith.enclosure import Enclosure
from symlip.bounds import recursion as rec
from symlip.bounds.checks import check_radius
from symlip.bounds.param_core import (  # noqa: F401  (re-exported: the public helpers)
    CertifiedInputs,
    _args,
    certified_param_inputs,
    certify_param_lower,
    check_data,
    check_method,
    estimate_param_lower,
    evaluate_pointwise,
    lower_bounds,
    param_formula,
    param_jacobian_norms,
    param_lipschitz_from_inputs,
    param_program,
    param_quotient_from_witness,
)
from symlip.bounds.registry import QuantitySpec
from symlip.bounds.result import BoundResult
from symlip.errors import InputError

__all__ = [
    "param_lipschitz",
    "param_program",
    "certified_param_inputs",
    "estimate_param_lower",
    "certify_param_lower",
    "param_jacobian_norms",
    "check_data",
    "param_lipschitz_from_inputs",
]


# ------------------------------------------------------------------------------------
# the public entry point
# ------------------------------------------------------------------------------------


def param_lipschitz(net: Any, data: Any, radius: float, *, centre: bool | str = "auto",
                    lower: bool = True, seed: int = 0, method: str = "local") -> BoundResult:
    r"""Certified Lipschitz constant of $\theta \mapsto f(x;\theta)$ on $B_r(\bar\theta)$.

    Returns $L$ such that $\|f(x;\theta) - f(x;\theta')\|_2 \le L \|\theta - \theta'\|_2$
    for all $\theta, \theta'$ in the closed ball of radius ``radius`` around the
    network's parameters (Euclidean norm of the flattened vector, PyTorch state-dict
    order) and every row $x$ of ``data``.  ``upper`` is the formula evaluated in
    interval arithmetic on the hull of the per-point inputs (upper end rounded up);
    ``extra["upper_pointwise"]`` is the (tighter, also certified) maximum over points of
    the per-point evaluation.

    Args:
        net: a :class:`~symlip.models.network.Network`.
        data: array ``(n_points, n0)`` (a 1-D array is one point).
        radius: $r \ge 0$.
        centre: use certified centre activation norms ($c_k \le A_k + l_k r$).
        lower: compute the sampled estimate and the certified lower bound.
        seed: seed of the sampling.
        method: ``"local"`` (default): local sensitivities over the ball (Lemma 7 of
            ``docs/theory-param.md``, :mod:`symlip.bounds.sensitivity`), the minimum of
            that bound and the recursion; ``"recursion"``: the layer recursion of
            Theorem 1 alone (the previous default).  Residual networks, depth 1 and
            problems whose output chains exceed the budget
            (:func:`symlip.bounds.sensitivity.local_cost`, four times
            :data:`~symlip.bounds.sensitivity.LOCAL_COST_BUDGET`) use the recursion;
            ``extra["method"]`` records what was used.

    Raises:
        InputError: negative or non-finite radius, data of the wrong shape, NaN/inf data.

    Examples:
        >>> from symlip.models.network import Network
        >>> net = Network.from_arrays([[[3.0, 4.0]]], [[0.0]], None)
        >>> res = param_lipschitz(net, [[3.0, 4.0]], 0.1)   # sqrt(|x|^2 + 1) = sqrt(26)
        >>> abs(res.upper - 26 ** 0.5) < 1e-12
        True
    """
    from symlip.bounds.conv_param import uses_kernel_view

    if uses_kernel_view(net):  # convolution layers: kernels are the parameters
        from symlip.bounds.conv_param import conv_param_lipschitz

        return conv_param_lipschitz(net, data, radius, lower=lower)
    if getattr(net, "has_residual", False):  # residual blocks: symlip.bounds.residual
        from symlip.bounds.residual import residual_param_lipschitz

        check_method(method)
        return residual_param_lipschitz(net, data, radius, centre=centre, lower=lower,
                                        seed=seed)
    method = check_method(method)
    r = check_radius(radius)
    X = check_data(net, data)
    ci = certified_param_inputs(net, X, r, centre=centre)
    formula, used = param_formula(net, X, r, ci, method)
    res = param_lipschitz_from_inputs(net, X, r, ci, formula, lower=lower, seed=seed,
                                      pointwise_max=used != "recursion")
    res.extra["method"] = used
    return res


# ------------------------------------------------------------------------------------
# CLI / certificate hooks
# ------------------------------------------------------------------------------------


def certify_context(ctx: Any) -> BoundResult:
    """CLI handler of ``symlip certify --wrt params``."""
    r = ctx.options.get("radius")
    if r is None:
        raise InputError("--wrt params needs --radius R (the radius of the parameter ball)")
    method = ctx.options.setdefault("method", "local")
    return param_lipschitz(ctx.model, ctx.data, r, seed=int(ctx.options.get("seed", 0)),
                           method=method)


def _rebuild(ctx: Any) -> tuple[rec.RecursiveFormula, dict[str, Enclosure]]:
    r = check_radius(ctx.options.get("radius"))
    X = check_data(ctx.model, ctx.data)
    if getattr(ctx.model, "has_residual", False):
        from symlip.bounds.residual import rebuild

        return rebuild(ctx.model, X, r)
    ci = certified_param_inputs(ctx.model, X, r)
    # the method of the computation (the CLI records it; API results use the default)
    formula, _ = param_formula(ctx.model, X, r, ci,
                               check_method(ctx.options.get("method", "local")))
    return formula, _args(formula, ci, hull=True)


def _rebuild_pointwise(ctx: Any) -> tuple[rec.RecursiveFormula, dict[str, Any]]:
    """Formula and per-point certified inputs (the ``"max"`` aggregate of the local
    method)."""
    r = check_radius(ctx.options.get("radius"))
    X = check_data(ctx.model, ctx.data)
    if getattr(ctx.model, "has_residual", False):  # pragma: no cover - hull only
        raise InputError("residual networks are certified on the hull of their inputs")
    ci = certified_param_inputs(ctx.model, X, r)
    formula, _ = param_formula(ctx.model, X, r, ci,
                               check_method(ctx.options.get("method", "local")))
    return formula, _args(formula, ci, hull=False)


def _check_lower(ctx: Any, witness: Mapping[str, Any]) -> Enclosure:
    return param_quotient_from_witness(ctx.model, witness, check_radius(ctx.options.get("radius")))


#: how ``verify`` re-checks a ``param_lipschitz`` certificate (:mod:`symlip.bounds.registry`)
SPEC = QuantitySpec(_rebuild, _check_lower, rebuild_pointwise=_rebuild_pointwise,
                    aggregate=("max", "formula"), witness_row=("x", "row"),
                    witness_offsets=("step",), base_params=lambda net: net.params())
