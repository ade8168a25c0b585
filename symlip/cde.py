r"""Continuously deep networks: parameter and gradient Lipschitz bounds of controlled ODEs.

$X_0 = Ax + a$, $dX_t = \sum_j \sigma(W_jX_t + b_j)\,dU^j_t$, $Y = CX_T + c$, with the
control $U$ given on a grid (neural ODE: $U_t = t$; neural CDE: an input time series).

* :class:`ControlledODE` — the model, Euler/Heun/RK4 solvers on the control grid, a
  rigorous interval Euler pass, loading from ``.npz``/``.safetensors``.
* :func:`param_lipschitz`, :func:`grad_lipschitz` — certified bounds on a parameter
  ball (:class:`~symlip.bounds.result.BoundResult`, quantities ``"cde_param_lipschitz"`` and
  ``"cde_grad_lipschitz"``); by default about the Euler scheme on the given grid,
  ``scheme="flow"`` about the exact solution (and all grid refinements).
* :mod:`symlip.bounds.cde_program` — the symbolic programs and derivations (``MATH.md``
  section 3, the Euler/ResNet counterpart, the limit $N \to \infty$, the tighter
  per-step bounds).

Theory: ``docs/theory-cde.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symlip.bounds.cde import cde_estimate_param_lower as estimate_param_lower
from symlip.bounds.cde import cde_grad_lipschitz as grad_lipschitz
from symlip.bounds.cde import cde_param_lipschitz as param_lipschitz
from symlip.bounds.cde import cde_quotient_from_witness
from symlip.bounds.cde_program import (
    euler_program,
    flow_program,
    math_program,
    residual_program,
    uniform_limits,
)
from symlip.bounds.checks import check_radius
from symlip.bounds.registry import QuantitySpec
from symlip.errors import InputError
from symlip.models.cde import ControlledODE, check_control, time_grid
from symlip.models.cde import load_cde as load
from symlip.models.cde import save_cde as save

__all__ = [
    "ControlledODE",
    "param_lipschitz",
    "grad_lipschitz",
    "time_grid",
    "check_control",
    "load",
    "save",
    "certify_params_context",
    "certify_gradient_context",
    "derive_params",
    "derive_gradient",
    "euler_program",
    "flow_program",
    "math_program",
    "residual_program",
    "uniform_limits",
    "estimate_param_lower",
]


# ------------------------------------------------------------------------------------
# entries of symlip.bounds.registry (symlip certify / derive --model-type cde)
# ------------------------------------------------------------------------------------


def _control(ctx: Any) -> np.ndarray:
    u = ctx.extra.get("control")
    if u is None:
        raise InputError("--model-type cde needs --control U.npy (the control path, shape "
                         "(n_steps + 1, d))")
    return u


def _radius(ctx: Any, wrt: str) -> float:
    r = ctx.options.get("radius")
    if r is None:
        raise InputError(f"--wrt {wrt} needs --radius R (the radius of the parameter ball)")
    return check_radius(r)


def certify_params_context(ctx: Any) -> Any:
    """``symlip certify --model-type cde --wrt params``: :func:`param_lipschitz`."""
    return param_lipschitz(ctx.model, ctx.data, _control(ctx), _radius(ctx, "params"),
                           scheme=ctx.options.get("scheme", "euler"),
                           seed=int(ctx.options.get("seed", 0)))


def certify_gradient_context(ctx: Any) -> Any:
    """``symlip certify --model-type cde --wrt gradient``: :func:`grad_lipschitz`."""
    y = ctx.extra.get("targets")
    if y is None:
        raise InputError("--wrt gradient needs --targets Y.npy")
    return grad_lipschitz(ctx.model, ctx.data, _control(ctx), y,
                          ctx.options.get("loss", "mse"), _radius(ctx, "gradient"),
                          scheme=ctx.options.get("scheme", "euler"),
                          seed=int(ctx.options.get("seed", 0)))


def derive_params(options: Any = None) -> Any:
    """``symlip derive --model-type cde --wrt params``: the derivations (no weights; the
    options are not used)."""
    return _derive(1)


def derive_gradient(options: Any = None) -> Any:
    """``symlip derive --model-type cde --wrt gradient``."""
    return _derive(2)


def _derive(order: int) -> Any:
    from symlip.bounds import cde_program as prog
    from symlip.symbolic.derivation import Derivation

    root = Derivation(f"symlip derive --model-type cde --wrt "
                      f"{'params' if order == 1 else 'gradient'}")
    root.section(prog.continuous_derivation(order))
    root.section(prog.euler_derivation(order))
    root.section(prog.improved_derivation(order))
    return root


# ------------------------------------------------------------------------------------
# certificates (symlip verify)
# ------------------------------------------------------------------------------------


def _rebuild(order: int) -> Any:
    def rebuild(ctx: Any) -> Any:
        from symlip.bounds import cde as B

        model, X, U, r = B._validate(ctx.model, ctx.data, _control(ctx),
                                     ctx.options.get("radius"))
        scheme = ctx.options.get("scheme", "euler")
        smooth = order == 2
        ci = B.certified_inputs(model, X, U, r, centre=scheme == "euler", smooth=smooth)
        loss = "mse"
        if smooth:
            loss = B.prog.loss_name(ctx.options.get("loss", "mse"))
            y = B.check_targets(model, X, ctx.extra.get("targets"), loss)
            B._loss_point_inputs(ci, y, loss)
        formula = B.bound_formula(scheme, ci, order=order, loss=loss)
        return formula, B._args(formula, ci, hull=True)

    return rebuild


def _check_lower(ctx: Any, witness: Any) -> Any:
    return cde_quotient_from_witness(ctx.model, witness, check_radius(ctx.options.get("radius")),
                                 ctx.model.check_control(_control(ctx)))


#: how ``verify`` re-checks ``cde_param_lipschitz`` / ``cde_grad_lipschitz`` certificates
PARAM_SPEC = QuantitySpec(_rebuild(1), _check_lower, witness_row=("x", "row"))
GRAD_SPEC = QuantitySpec(_rebuild(2), None)
