r"""Parameter-Lipschitz bound of networks with residual blocks (untied weights).

A :class:`~symlip.models.network.Network` may hold :class:`~symlip.models.network.ResidualLayer` s
$a_k = a_{k-1} + h_k\sigma(W_ka_{k-1} + b_k)$ between dense layers.  The bound is the
program of :func:`symlip.bounds.recursion.network_first_order_program` with one layer
kind per hidden layer (``dense``, ``linear`` for an identity activation, ``residual``),
the single source of truth of the numbers:

Theorem: for every data point $x$ and all $\theta, \theta'$ in the closed Euclidean
ball $B_r(\bar\theta)$ (parameters $W_k, b_k$ of every layer, state-dict order; the
steps $h_k$ are fixed, not parameters),
$\|f(x;\theta) - f(x;\theta')\|_2 \le l_N(x)\,\|\theta - \theta'\|_2$.

:func:`residual_param_lipschitz` evaluates it in outward-rounded interval arithmetic on
certified enclosures of its inputs: spectral norms ($\rho_k$), bias norms ($\beta_k$),
$\tau_k = |h_k|$ (exact), $\gamma_k \ge \|\sigma(\bar b_k)\|$ (interval evaluation of the
activation), activation constants over the activated layers, data norms and the centre
state norms $A_k \ge \|a_k(\bar\theta; x)\|$ (an interval forward pass).  The returned
``upper`` is an upper end of an enclosure (rounded up); ``symlip verify`` re-derives it.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import numpy as np

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure
from symlip.bounds import recursion as rec
from symlip.bounds.centre import interval_row_norms, row_norms, spectral_upper
from symlip.bounds.result import BoundResult
from symlip.models.network import sigma_box

__all__ = ["layer_kinds", "lognorm_layers", "residual_param_program",
           "certified_residual_inputs", "residual_param_lipschitz"]


def _is_identity(act: Any) -> bool:
    """The registry identity (name *and* expression: a custom activation reusing the name
    is not treated as linear)."""
    from symlip.activations.registry import Activation, X

    return isinstance(act, Activation) and act.name == "identity" and act.expr == X


def layer_kinds(net: Any) -> tuple[str, ...]:
    """Kinds of the hidden layers $1..N-1$: ``residual`` for a
    :class:`~symlip.models.network.ResidualLayer`, ``linear`` for a dense layer with the
    identity activation, else ``dense``."""
    from symlip.models.network import ResidualLayer

    out = []
    for layer, act in zip(net.layers[:-1], net.activations, strict=True):
        if isinstance(layer, ResidualLayer):
            out.append("residual")
        elif _is_identity(act):
            out.append("linear")
        else:
            out.append("dense")
    return tuple(out)


def lognorm_layers(net: Any) -> tuple[int, ...]:
    """The (1-based) residual layers whose activation is nondecreasing
    (:func:`symlip.models.cde.is_monotone`): they get the logarithmic-norm factor."""
    from symlip.models.cde import is_monotone
    from symlip.models.network import ResidualLayer

    return tuple(k for k, (layer, act) in enumerate(zip(net.layers[:-1], net.activations,
                                                        strict=True), start=1)
                 if isinstance(layer, ResidualLayer) and is_monotone(act))


@lru_cache(maxsize=64)
def residual_param_program(kinds: tuple[str, ...], bounded: bool, centre: bool,
                           lognorm: tuple[int, ...] = (), jac: bool = False
                           ) -> rec.RecursiveFormula:
    r"""The first-order program for the layer ``kinds``, named ``L_param`` (cached).

    ``jac``: the second-order program of Lemma 9 up to $l_N$
    (:func:`symlip.bounds.residual_program.residual_second_order_program`) with its centre
    Jacobian options, $l_k \le J^a_k + h_kr$, $l_N = m_N \le J^z_N + g_Nr$: the same
    first-order definitions, each with one more option."""
    if not jac:
        defs, inputs = rec.network_first_order_program(kinds, bounded=bounded, centre=centre,
                                                       bias_option=True, lognorm=lognorm)
        return rec.RecursiveFormula(defs, inputs, name="L_param")
    from symlip.bounds.residual_program import residual_second_order_program

    n = len(kinds) + 1
    sdefs, sinputs = residual_second_order_program(kinds, bounded=bounded, centre=centre,
                                                   lognorm=lognorm, jac=True)
    need, keep = {rec.l(n)}, []
    for d in reversed(sdefs):  # the definitions l_N depends on
        if d.symbol in need:
            keep.append(d)
            need |= d.expr.free_symbols
    keep.reverse()
    assert keep[-1].symbol == rec.l(n)
    return rec.RecursiveFormula(keep, [s for s in sinputs if s in need], name="L_param")




# ------------------------------------------------------------------------------------
# certified inputs
# ------------------------------------------------------------------------------------


def certified_residual_inputs(net: Any, X: np.ndarray, r: float, *, centre: bool | str = "auto",
                              lognorm: bool = True) -> Any:
    """Certified enclosures of every input symbol of the residual-network program.

    Returns a :class:`symlip.bounds.param.CertifiedInputs`; ``nu_k`` (certified
    $\\nu(\\operatorname{sign}(h_k)\\bar W_k)$, :func:`symlip.arith.lognorm.nu_upper`) for the
    :func:`lognorm_layers` when ``lognorm``.
    """
    from symlip.arith.lognorm import nu_upper
    from symlip.bounds.param_core import CertifiedInputs, _plus_r, activation_scalars
    from symlip.models.network import ResidualLayer

    t0 = time.perf_counter()
    kinds = layer_kinds(net)
    acts = [a for a, kd in zip(net.activations, kinds, strict=True) if kd != "linear"]
    scalars, bounded = activation_scalars(acts, r)
    t1 = time.perf_counter()
    methods = []
    for k, layer in enumerate(net.layers, start=1):
        s, m_used = spectral_upper(layer.weight)
        methods.append(m_used)
        scalars[f"rho_{k}"] = _plus_r(s, r)
        bn = row_norms(layer.bias[None, :])
        scalars[f"beta_{k}"] = _plus_r(Enclosure.from_floats(float(bn.lo[0]), float(bn.hi[0])), r)
        if k < net.depth and kinds[k - 1] != "linear":
            scalars[f"n_{k}"] = Enclosure.point(layer.shape[0])
        if isinstance(layer, ResidualLayer):
            scalars[f"tau_{k}"] = Enclosure.point(abs(layer.step))
            sb = sigma_box(net.activations[k - 1], IntervalArray(layer.bias[None, :]))
            g = interval_row_norms(sb)
            scalars[f"gamma_{k}"] = Enclosure.from_floats(float(g.lo[0]), float(g.hi[0]))
            if lognorm and k in lognorm_layers(net):
                sign = -1.0 if layer.step < 0 else 1.0
                scalars[f"nu_{k}"] = nu_upper(sign * layer.weight)[0]
    t2 = time.perf_counter()
    per_point = {"c_0": row_norms(X)}
    use_centre = bool(centre) and net.depth > 1
    if use_centre:
        states = net.interval_trace(X).states
        for k in range(1, net.depth):
            per_point[f"A_{k}"] = interval_row_norms(states[k - 1])
    t3 = time.perf_counter()
    return CertifiedInputs(scalars, per_point, bounded, use_centre, None,
                           {"constants": t1 - t0, "norms": t2 - t1, "centre_forward": t3 - t2},
                           ",".join(methods))


def add_second_order_inputs(net: Any, X: np.ndarray, r: float, ci: Any, jac: bool = True
                            ) -> Any:
    """Add to ``ci`` the inputs the second-order program needs beyond the first-order
    ones: ``K2``, the largest row / column norms ``omega_k``, ``kappa_k`` (+ r) and, with
    ``jac``, $r > 0$ and within :func:`symlip.bounds.residual_centre.residual_centre_fit`,
    the certified centre Jacobian norms ``Jz_k``, ``Jr_k``, ``Ja_k`` and state chains
    ``Ca_k_j`` (:func:`symlip.bounds.residual_centre.residual_centre_inputs`; ``ci.jac``
    says whether they were computed).  Returns the batched state chains computed on the
    way (for :func:`symlip.bounds.residual_centre.residual_gn_norm`), or ``None``."""
    from mpmath import iv

    from symlip.bounds.param_core import _constant
    from symlip.bounds.residual_centre import (
        residual_centre_fit,
        residual_centre_inputs,
        state_chains,
    )

    kinds = layer_kinds(net)
    t0 = time.perf_counter()
    done: dict[str, Any] = {}
    ci.jac = False
    if jac and r > 0 and residual_centre_fit(net, X.shape[0]):

        def compute() -> dict[str, IntervalArray]:
            done["chains"] = state_chains(net, X)
            return residual_centre_inputs(net, X, done["chains"])

        ci.add_jacobians(compute)
    ci.timings["centre_jacobians"] = time.perf_counter() - t0
    acts = [a for a, kd in zip(net.activations, kinds, strict=True) if kd != "linear"]
    if acts:
        ci.scalars["K2"] = _constant(acts, "K2")
    t0 = time.perf_counter()
    for k in range(2, net.depth + 1):
        w = net.layers[k - 1].weight
        ci.scalars[f"omega_{k}"] = Enclosure.from_interval(
            iv.mpf([0.0, float(np.max(row_norms(w).hi))]) + iv.mpf(r))
        ci.scalars[f"kappa_{k}"] = Enclosure.from_interval(
            iv.mpf([0.0, float(np.max(row_norms(w.T).hi))]) + iv.mpf(r))
    ci.timings["second_order_inputs"] = time.perf_counter() - t0
    return done.get("chains") if ci.jac else None


def rebuild(net: Any, X: np.ndarray, r: float) -> tuple[rec.RecursiveFormula, dict[str, Any]]:
    """Formula and hull inputs, as :func:`symlip.bounds.param._rebuild` needs them."""
    from symlip.bounds.param_core import _args

    ci = certified_residual_inputs(net, X, r)
    add_second_order_inputs(net, X, r, ci)
    formula = residual_param_program(layer_kinds(net), ci.bounded, ci.centre,
                                     lognorm_layers(net), ci.jac)
    return formula, _args(formula, ci, hull=True)


# ------------------------------------------------------------------------------------
# the entry point
# ------------------------------------------------------------------------------------


def residual_param_lipschitz(net: Any, data: Any, radius: float, *,
                             centre: bool | str = "auto", lower: bool = True,
                             seed: int = 0, lognorm: bool = True, jac: bool = True
                             ) -> BoundResult:
    r"""Certified Lipschitz constant of $\theta \mapsto f(x;\theta)$ on $B_r(\bar\theta)$
    for a network with residual blocks.

    Returns $L$ with $\|f(x;\theta) - f(x;\theta')\|_2 \le L\|\theta - \theta'\|_2$ for
    all $\theta, \theta'$ in the closed ball of radius ``radius`` (Euclidean norm of the
    flattened $W_k, b_k$; the steps $h_k$ are fixed) and every row $x$ of ``data``.
    ``upper`` is the program evaluated in interval arithmetic on the hull of the
    per-point inputs (rounded up); ``extra["upper_pointwise"]`` the per-point maximum.
    Called by :func:`symlip.bounds.param.param_lipschitz` for such networks.
    ``lognorm``: use the logarithmic-norm factor for blocks with a nondecreasing
    activation (:func:`lognorm_layers`; what ``param_lipschitz`` and ``verify`` use).
    ``jac``: the centre Jacobian option $l_N \le J^z_N + g_Nr$ (second-order program of
    Lemma 9, ``docs/theory-param.md`` section 6) where the centre Jacobians fit their
    budget (what ``param_lipschitz`` and ``verify`` use); ``False``: the first-order
    recursion alone.

    Raises:
        InputError: negative or non-finite radius, data of the wrong shape or NaN/inf.
    """
    from symlip.bounds.checks import check_radius
    from symlip.bounds.param_core import _args, check_data, evaluate_pointwise, lower_bounds

    r = check_radius(radius)
    X = check_data(net, data)
    ci = certified_residual_inputs(net, X, r, centre=centre, lognorm=lognorm)
    if jac:
        add_second_order_inputs(net, X, r, ci)
    jac = ci.jac
    kinds = layer_kinds(net)
    ln = lognorm_layers(net) if lognorm else ()
    formula = residual_param_program(kinds, ci.bounded, ci.centre, ln, jac)
    t1 = time.perf_counter()
    pointwise = evaluate_pointwise(formula, ci)
    hull_inputs = _args(formula, ci, hull=True)
    enclosure = formula.enclose(hull_inputs)
    t2 = time.perf_counter()
    est, low_enc, witness = lower_bounds(net, X, r, seed=seed) if lower else (None,) * 3
    t3 = time.perf_counter()
    deriv = rec.network_first_order_derivation(kinds, bounded=ci.bounded, centre=ci.centre,
                                               lognorm=ln)
    if jac:
        deriv.section(rec.program_derivation(
            formula.definitions, formula.inputs,
            "With the certified centre Jacobians: $l_k \\le J^a_k + h_kr$, $l_N \\le "
            "J^z_N + g_Nr$ (mean value theorem; $h_k$, $g_k$ of Lemma 9, section 8)"))
    extra = {
        "radius": r,
        "upper_pointwise": pointwise.upper_max().upper_str(),
        "n_points": int(X.shape[0]),
        "centre_norms": ci.centre,
        "layer_kinds": list(kinds) + ["readout"],
        "lognorm_layers": list(ln), "centre_jacobians": jac,
        "spectral_method": ci.spectral_method,
        "timings": {**ci.timings, "interval_eval": t2 - t1, "lower": t3 - t2},
    }
    per_layer = []
    for k, layer in enumerate(net.layers, start=1):
        row = {"name": layer.name, "kind": (list(kinds) + ["readout"])[k - 1],
               "rho_upper": ci.scalars[f"rho_{k}"].upper_str(8),
               "beta_upper": ci.scalars[f"beta_{k}"].upper_str(8)}
        if f"tau_{k}" in ci.scalars:
            row["step"] = float(layer.step)
        per_layer.append(row)
    return BoundResult("param_lipschitz", "l2", enclosure, formula, hull_inputs, deriv,
                       lower_enclosure=low_enc, estimate=est, per_layer=per_layer,
                       extra=extra, witness=witness)
