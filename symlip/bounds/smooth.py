r"""Lipschitz bounds of the loss gradient (smoothness) on a parameter ball, and
certified gradient-descent step sizes.

Theorem (second order; re-derived in ``docs/theory-param.md``): if $\sigma'$ is
$K_2$-Lipschitz, then for the mean loss $L(\theta) = \frac1n\sum_i \lambda(f(x_i;\theta),
y_i)$ and all $\theta, \theta' \in B_r(\bar\theta)$,

$$ \|\nabla L(\theta) - \nabla L(\theta')\|_2 \le L_{grad}\|\theta - \theta'\|_2, \qquad
   L_{grad} = \max_i \big(H\, l_N(x_i)^2 + G(x_i)\, h_N(x_i)\big) $$

(also with the mean over $i$ in place of the max).  A certified *lower* bound is the
interval difference quotient of the exact gradient at two parameter vectors in the ball
(:func:`certify_grad_lower`), re-checked from its witness by ``symlip verify``.  MSE $\lambda = \frac12\|f - y\|^2$:
$H = 1$, $G = \min(c_N + \|y\|, \|f(\bar\theta) - y\| + l_N r)$; softmax cross-entropy:
$H = \frac12$, $G = \sqrt2$.  For an activation with $K_2 = \infty$ (ReLU, splines) no
such bound exists: :func:`grad_lipschitz` raises
:class:`~symlip.errors.NotSmoothError` with a witness.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp
from mpmath import iv

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import (
    Enclosure,
    Truth,
    UnsupportedOperation,
    compare,
    working_precision,
)
from symlip.arith.floatsearch import float_search
from symlip.arith.mpfuncs import iv_exp, iv_log
from symlip.bounds import recursion as rec
from symlip.bounds.centre import ce_output_gradient, row_norms
from symlip.bounds.checks import check_radius
from symlip.bounds.param_core import CertifiedInputs, _args, certified_param_inputs, check_data
from symlip.bounds.registry import QuantitySpec
from symlip.bounds.result import BoundResult
from symlip.errors import InputError, NotSmoothError, WitnessOutsideError
from symlip.symbolic.formula import Formula

__all__ = [
    "grad_lipschitz",
    "grad_program",
    "certified_step",
    "StepResult",
    "loss_value",
    "loss_gradient",
    "loss_enclosure",
    "estimate_grad_lower",
    "certify_grad_lower",
    "grad_quotient_from_witness",
    "interval_loss_gradient",
    "not_smooth_witness",
    "check_targets",
    "param_and_grad_lipschitz",
]

_U = 2.0**-53


# ------------------------------------------------------------------------------------
# losses in float64 (not certified)
# ------------------------------------------------------------------------------------


def check_targets(net: Any, X: np.ndarray, targets: Any, loss: str) -> np.ndarray:
    """Targets as floats ``(n, nN)`` (MSE) or class indices ``(n,)`` (cross-entropy)."""
    loss = rec._loss_name(loss)
    if targets is None:
        raise InputError("targets are required for a gradient bound")
    try:
        y = np.asarray(targets, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"targets must be a real array, got {type(targets).__name__}") from None
    n, nN = X.shape[0], net.widths[-1]
    if not np.all(np.isfinite(y)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(y))[0])
        raise InputError(f"targets have a non-finite value {y[idx]} at index {idx}")
    if loss == "mse":
        if y.ndim == 1 and nN == 1 and y.shape[0] == n:
            y = y[:, None]
        if y.shape != (n, nN):
            raise InputError(f"targets have shape {np.shape(targets)}, expected ({n}, {nN}) "
                             f"to match data of shape {X.shape} and {nN} outputs")
        return y
    if y.ndim == 2 and y.shape == (n, nN):
        onehot = np.all((y == 0) | (y == 1), axis=1) & (y.sum(axis=1) == 1)
        if not onehot.all():
            raise InputError("cross-entropy targets given as a matrix must be one-hot rows "
                             f"(row {int(np.argmin(onehot))} is not)")
        return np.argmax(y, axis=1).astype(np.intp)
    if y.shape != (n,):
        raise InputError(f"targets have shape {np.shape(targets)}, expected ({n},) class "
                         f"indices or ({n}, {nN}) one-hot rows")
    if np.any(y != np.round(y)) or np.any(y < 0) or np.any(y >= nN):
        raise InputError(f"cross-entropy targets must be class indices in [0, {nN}), "
                         f"got values in [{y.min()}, {y.max()}]")
    return y.astype(np.intp)


def loss_value(net: Any, X: np.ndarray, y: np.ndarray, loss: str) -> float:
    """Mean loss in float64 (not certified)."""
    f = net.forward(X)
    if rec._loss_name(loss) == "mse":
        return float(0.5 * np.mean(np.sum((f - y) ** 2, axis=1)))
    zmax = f.max(axis=1)
    lse = zmax + np.log(np.sum(np.exp(f - zmax[:, None]), axis=1))
    return float(np.mean(lse - f[np.arange(len(y)), y]))


def loss_gradient(net: Any, X: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """$\\nabla_\\theta L$ by backpropagation, in :meth:`Network.params` order (float64)."""
    if getattr(net, "has_residual", False):
        from symlip.bounds.residual_smooth import residual_loss_gradient

        return residual_loss_gradient(net, X, y, loss)
    tr = net.forward_trace(X)
    f = tr.preactivations[-1]
    n = X.shape[0]
    if rec._loss_name(loss) == "mse":
        delta = (f - y) / n
    else:
        delta = ce_output_gradient(f, y) / n
    grads: list[np.ndarray] = [None] * (2 * net.depth)  # type: ignore[list-item]
    for k in range(net.depth - 1, -1, -1):
        a = tr.layer_inputs[k]
        grads[2 * k] = (delta.T @ a).ravel()
        grads[2 * k + 1] = delta.sum(axis=0)
        if k > 0:
            delta = (delta @ net.layers[k].weight) * np.asarray(
                net.activations[k - 1].dsigma(tr.preactivations[k - 1]))
    return np.concatenate(grads)


def loss_enclosure(net: Any, X: np.ndarray, y: np.ndarray, loss: str) -> Enclosure:
    r"""Certified enclosure of the mean loss $L(\bar\theta)$ (exact real value).

    MSE: from the rigorous forward error bound $\|f - \hat f\| \le e$ of
    :func:`symlip.bounds.centre.centre_norms`; cross-entropy: per point from
    :meth:`Network.interval_forward` and the widened mpmath interval ``exp``/``log``
    of :mod:`symlip.arith.mpfuncs` (mpmath's own are not reliably outward-rounded).
    """
    from symlip.bounds.centre import centre_norms, loss_boxes

    if rec._loss_name(loss) == "mse":
        cn = centre_norms(net, X)
        if cn is None:
            outs = [net.interval_forward(x) for x in X]
            tot = iv.mpf(0)
            for o, yy in zip(outs, y):
                tot += sum(((e.to_interval() - iv.mpf(float(t))) ** 2
                            for e, t in zip(o, yy)), iv.mpf(0)) / 2
            return Enclosure.from_interval(tot / len(X))
        return loss_boxes(cn, y, "mse").mean()
    tot = iv.mpf(0)
    for x, c in zip(X, y):
        o = [e.to_interval() for e in net.interval_forward(x)]
        m = max(float(e.b) for e in o)
        lse = m + iv_log(sum((iv_exp(e - m) for e in o), iv.mpf(0)))
        tot += lse - o[int(c)]
    return Enclosure.from_interval(tot / len(X))


# ------------------------------------------------------------------------------------
# not smooth: the witness
# ------------------------------------------------------------------------------------


def not_smooth_witness(act: Any, ts: tuple[float, ...] = (1e-1, 1e-3, 1e-6, 1e-9)
                       ) -> dict[str, Any]:
    r"""Two parameter vectors whose gradient difference quotient is as large as asked.

    Network $f(x; w_1, b, w_2) = w_2\,\sigma(w_1 x + b)$ at $x = 1$, $w_2 = 1$, $b = p$
    (a kink of $\sigma$, $p = 0$ for ReLU-type activations), $w_1 = \pm t$:
    $\partial f/\partial w_1 = \sigma'(p \pm t)$, so the gradient difference quotient is
    $|\sigma'(p+t) - \sigma'(p-t)| / (2t) \to \infty$ as $t \to 0$.
    """
    # per-neuron activations (linear splines) offer a scalar view of a jumping neuron
    act = getattr(act, "scalar_activation", lambda: act)()
    p = float(getattr(act, "kink", 0.0) or 0.0)
    rows = []
    for t in ts:
        jump = float(abs(act.dsigma(np.array([p + t]))[0] - act.dsigma(np.array([p - t]))[0]))
        rows.append({"t": t, "theta": [t, p, 1.0], "theta_prime": [-t, p, 1.0],
                     "gradient_difference_quotient": jump / (2 * t)})
    return {"network": f"f(x) = w2 * {act.name}(w1 * x + b), x = 1",
            "parameters": "(w1, b, w2)", "pairs": rows,
            "explanation": "d f / d w1 = sigma'(w1 + b) jumps across the kink, so "
                           "||grad f(theta) - grad f(theta')|| / ||theta - theta'|| ~ "
                           "jump / (2 t) is unbounded as t -> 0"}


def _require_smooth(net: Any, kernel_view: bool = False) -> None:
    """Refuse non-smooth activations (with a witness) and (unless
    ``kernel_view``: :mod:`symlip.bounds.conv_grad`) convolution layers."""
    from symlip.models.conv import check_no_conv

    if not kernel_view:
        check_no_conv(net, "this gradient-Lipschitz bound (dense weights as parameters; "
                      "symlip.bounds.conv_grad.conv_grad_lipschitz takes kernels and "
                      "biases, as `symlip certify --wrt gradient` does)")
    for a in net.activations:
        if not a.constants.K2.is_finite:
            w = not_smooth_witness(a)
            q = w["pairs"][-1]
            raise NotSmoothError(
                f"no gradient-Lipschitz bound exists for activation {a.name!r}: its "
                f"derivative jumps (K2 = infinity; {a.constants.K2.reason}). Witness: "
                f"{w['network']} with theta = (t, {q['theta'][1]}, 1), theta' = (-t, "
                f"{q['theta'][1]}, 1) has gradient difference quotient "
                f"{q['gradient_difference_quotient']:.3g} at t = {q['t']:g}, growing like "
                "1/t. Use a smooth activation (tanh, sigmoid, softplus, gelu, silu, elu).",
                witness=w)


# ------------------------------------------------------------------------------------
# the bound
# ------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def grad_program(depth: int, loss: str, bounded: bool, centre: bool,
                 jac: bool = False) -> rec.RecursiveFormula:
    """The loss program (first + second order + loss composition) named ``L_grad``
    (cached: its compiled evaluators are reused)."""
    defs, inputs = rec.loss_program(depth, loss, bounded=bounded, centre=centre, jac=jac)
    return rec.RecursiveFormula(defs, inputs, name="L_grad")


@lru_cache(maxsize=32)
def local_grad_program(depth: int, loss: str, bounded: bool, centre: bool,
                       jac: bool = False) -> rec.RecursiveFormula:
    """The loss program with the local quantities of Lemmas 7 and 8
    (:func:`symlip.bounds.sensitivity.local_loss_program`), named ``L_grad``."""
    from symlip.bounds.sensitivity import local_loss_program

    defs, inputs = local_loss_program(depth, loss, bounded, centre, jac)
    return rec.RecursiveFormula(list(defs), list(inputs), name="L_grad")


@lru_cache(maxsize=32)
def local_gn_grad_program(depth: int, loss: str, bounded: bool, centre: bool,
                          jac: bool = False, direc: bool = False
                          ) -> rec.RecursiveFormula:
    """The loss program of Lemma 11 (:func:`symlip.bounds.sensitivity.
    local_gn_loss_program`: the certified centre Gauss-Newton norm ``GN_c`` plus
    per-point remainders), named ``L_grad``."""
    from symlip.bounds.sensitivity import local_gn_loss_program

    defs, inputs = local_gn_loss_program(depth, loss, bounded, centre, jac, direc)
    return rec.RecursiveFormula(list(defs), list(inputs), name="L_grad")


def grad_formula(net: Any, X: np.ndarray, r: float, lname: str, ci: CertifiedInputs,
                 method: str, y: np.ndarray | None = None,
                 gauss_newton: bool = True, curvature: bool = True, directional: bool = True,
                 centre_hessian: bool = True, chain_derivatives: bool = True,
                 hidden_hessians: bool = True) -> tuple[rec.RecursiveFormula, str]:
    """The gradient formula of ``method`` and the method used (``"local"`` adds the
    certified local inputs to ``ci``; the recursion where the local method does not
    apply, see :func:`symlip.bounds.param.local_applies`).  With ``y`` and
    ``gauss_newton`` the local method is Lemma 11 (``GN_c``, the certified centre
    Gauss-Newton norm, added to ``ci.scalars``, or per point, that of the point's chunk
    of the data, to ``ci.per_point``) where that norm is computable
    (:func:`symlip.bounds.gauss_newton.centre_gauss_newton_norms`), else Lemma 8 alone;
    with ``curvature`` too, Lemma 12 (``CV``, the certified centre curvature per point,
    :func:`symlip.bounds.curvature.centre_curvature_norms`, and ``K_3^(k)``) where the
    activations have a certified third derivative and the problem is within budget;
    with ``directional`` too, the curvature term's directional option (Lemma 8g:
    ``Bg_i``, ``qg_i``, :func:`symlip.bounds.sensitivity.directional_inputs`); with
    ``centre_hessian`` and Lemma 12, the certified centre $\\|D^2f\\|$ (``HC``, Lemma
    12c, :func:`symlip.bounds.curvature.output_hessian_norms`) where within budget;
    with ``chain_derivatives`` too, the certified centre derivatives of the output chains
    (``LDc_j``, Lemma 12d, :func:`symlip.bounds.curvature.output_second_order_norms`);
    with ``hidden_hessians`` too, the certified centre norms of the hidden layers'
    second derivatives (``HS_k``, Lemma 12e,
    :func:`symlip.bounds.curvature.hidden_hessian_norms`) where within budget."""
    from symlip.bounds.param_core import add_local_inputs, check_method, local_applies

    if check_method(method) == "local" and local_applies(net, X.shape[0]):
        gn, cv = None, None
        if gauss_newton and y is not None and ci.centre:
            from symlip.bounds.gauss_newton import centre_gauss_newton_norms

            t0 = time.perf_counter()
            gn = centre_gauss_newton_norms(net, X, y, lname)  # a float, or per point
            ci.timings["gauss_newton"] = time.perf_counter() - t0
        hc, ldc, hsn = None, None, None
        if gn is not None and curvature and curvature_applies(net):
            from symlip.bounds.curvature import (
                centre_curvature_norms,
                hidden_hessian_norms,
                output_second_order_norms,
            )

            t0 = time.perf_counter()
            cv = centre_curvature_norms(net, X, y, lname)
            if cv is not None and centre_hessian:
                out = output_second_order_norms(net, X, chains=chain_derivatives)
                if out is not None:
                    hc, ldc = out
            ci.timings["curvature"] = time.perf_counter() - t0
            if ldc is not None and hidden_hessians and net.depth >= 3:
                t0 = time.perf_counter()
                hsn = hidden_hessian_norms(net, X)
                ci.timings["hidden_hessians"] = time.perf_counter() - t0
        candidates = []
        direc = directional and ci.centre and ci.centre_data is not None
        if cv is not None:
            candidates.append(local_curv_grad_program(net.depth, lname, ci.bounded,
                                                      ci.centre, ci.jac, direc,
                                                      hc is not None, ldc is not None,
                                                      hsn is not None))
        if gn is not None:
            candidates.append(local_gn_grad_program(net.depth, lname, ci.bounded,
                                                    ci.centre, ci.jac, direc))
        else:
            candidates.append(local_grad_program(net.depth, lname, ci.bounded, ci.centre,
                                                 ci.jac))
        for formula in candidates:
            if add_local_inputs(net, X, r, ci, formula):
                if isinstance(gn, np.ndarray):  # per point: its chunk's norm
                    ci.per_point["GN_c"] = IntervalArray(np.zeros(len(gn)), gn)
                elif gn is not None:
                    ci.scalars["GN_c"] = Enclosure.from_floats(0.0, gn)
                names = {str(s) for s in formula.inputs}
                # the certified centre inputs per point, as [0, upper] (column j - 1 of
                # LDc and HS is layer j's)
                uppers = {"CV": cv, "HC": hc}
                for prefix, arr in (("LDc", ldc), ("HS", hsn)):
                    if arr is not None:
                        uppers.update({f"{prefix}_{j}": arr[:, j - 1]
                                       for j in range(1, net.depth)})
                for name, up_ in uppers.items():
                    if up_ is not None and name in names:
                        up_ = np.ascontiguousarray(up_, dtype=np.float64)
                        ci.per_point[name] = IntervalArray(np.zeros(len(up_)), up_)
                if any(n.startswith("qg_") for n in names):
                    from symlip.bounds.param_core import local_spec
                    from symlip.bounds.sensitivity import directional_inputs

                    t0 = time.perf_counter()
                    ci.per_point.update(directional_inputs(
                        net, X, y, lname, ci.centre_data, local_spec(net, r, ci)))
                    ci.timings["directional"] = time.perf_counter() - t0
                return formula, "local"
    return grad_program(net.depth, lname, ci.bounded, ci.centre, ci.jac), "recursion"


def gradient_program_and_inputs(net: Any, X: np.ndarray, y: np.ndarray, lname: str,
                                r: float, method: str, local_points: Any = None, *,
                                centre: bool | str = "auto", jac: bool | str = "auto"
                                ) -> tuple[rec.RecursiveFormula, CertifiedInputs, str,
                                           np.ndarray | None]:
    """The gradient formula, its certified inputs, the method used and the points chosen
    for the local line (:mod:`symlip.bounds.mixed`; possibly none of them, then the
    recursion; ``None`` when the choice was not made: all points or none, as the budget
    says).  ``local_points`` as in :func:`grad_lipschitz`."""
    from symlip.bounds import mixed
    from symlip.bounds.param_core import check_method, local_applies

    n = X.shape[0]
    want = mixed.check_local_points(local_points, n)
    is_local = check_method(method) == "local"
    if not is_local and not (want is None or isinstance(want, str)):
        raise InputError(f"local_points applies to method='local' (got method={method!r})")
    ci = _loss_inputs(net, X, y, lname, r, centre, jac)
    full = local_applies(net, n)
    if want is None or not is_local or net.depth < 2 \
            or (isinstance(want, str) and full) \
            or (isinstance(want, int) and want >= n and full):
        formula, used = grad_formula(net, X, r, lname, ci, method, y)
        return formula, ci, used, None
    recf = grad_program(net.depth, lname, ci.bounded, ci.centre, ci.jac)
    if isinstance(want, np.ndarray):
        A = want
    elif isinstance(want, int) and want >= n:
        A = np.arange(n)
    else:
        lines = recf.enclose_array(_args(recf, ci, hull=False)).hi
        m = mixed.auto_count(net, lines) if isinstance(want, str) else want
        A = mixed.choose_points(lines, m)
    # from here on the points are returned (and recorded) even when none has the local
    # line: verify must take the same path, not the default's
    if len(A) == 0:
        return recf, ci, "recursion", A
    t0 = time.perf_counter()
    local, parts = None, []
    for idx in mixed.chunks(net, A):  # each as if it were the data set
        ci_c = _loss_inputs(net, X[idx], y[idx], lname, r, centre, jac)
        f_c, used = grad_formula(net, X[idx], r, lname, ci_c, method, y[idx])
        if used != "local":  # its local inputs overflowed: the recursion there
            continue
        if local is None:
            local = f_c
        elif f_c.srepr() != local.srepr():  # another program: the recursion there
            continue
        parts.append((idx, ci_c))
    if local is None:
        return recf, ci, "recursion", A
    formula = mixed.mixed_program(local, recf)
    out = mixed.merge_inputs(formula, recf, ci, parts, n)
    for _, ci_c in parts:
        for k, v in ci_c.timings.items():
            out.timings[f"local_{k}"] = out.timings.get(f"local_{k}", 0.0) + v
    out.timings["local_points"] = time.perf_counter() - t0
    out.stash["all_points"] = ci  # the inputs of every point (the recursion's)
    return formula, out, "mixed", A


def curvature_applies(net: Any) -> bool:
    """Lemma 12 needs a certified third derivative of every hidden activation
    (:func:`symlip.bounds.sensitivity.third_derivative`)."""
    from symlip.bounds.sensitivity import third_derivative

    return net.depth >= 2 and all(third_derivative(a) is not None
                                  for a in net.activations[:net.depth - 1])


@lru_cache(maxsize=32)
def local_curv_grad_program(depth: int, loss: str, bounded: bool, centre: bool,
                            jac: bool = False, direc: bool = False, hcent: bool = False,
                            ldcent: bool = False, hscent: bool = False
                            ) -> rec.RecursiveFormula:
    """The loss program of Lemma 12 (:func:`symlip.bounds.curvature_program.
    local_curv_loss_program`: Lemma 11 with the curvature term from its certified
    centre value plus a third-order remainder), named ``L_grad``."""
    from symlip.bounds.curvature_program import local_curv_loss_program

    defs, inputs = local_curv_loss_program(depth, loss, bounded, centre, jac, direc,
                                           hcent, ldcent, hscent)
    return rec.RecursiveFormula(list(defs), list(inputs), name="L_grad")


def _use_jacobians(net: Any, X: np.ndarray, jac: bool | str) -> bool:
    from symlip.bounds.centre import (
        JACOBIAN_ELEMENT_BUDGET,
        JACOBIAN_POINT_BUDGET,
        jacobian_cost,
    )

    if jac == "auto":
        return (net.depth > 1 and X.shape[0] <= JACOBIAN_POINT_BUDGET
                and jacobian_cost(net, X.shape[0]) <= JACOBIAN_ELEMENT_BUDGET)
    return bool(jac) and net.depth > 1


def _softmax_centre(cn: Any, y: np.ndarray
                    ) -> tuple[IntervalArray, IntervalArray, IntervalArray]:
    r"""Per point, certified $P \ge \max_j p_j$, $\bar P \ge 1 - p_m$ ($m$ the top class
    of the float outputs) and $E \ge \|p - e_y\|_2$ for $p = \mathrm{softmax}(f(x;
    \bar\theta))$, from the float outputs $\hat f$ and the rigorous error bound $\|f -
    \hat f\| \le e$ of the centre forward pass: $p(\hat f)$ in interval arithmetic ($p_j =
    1/\sum_i e^{\hat f_i - \hat f_j}$, rigorous exp kernel), and $\|p(f) - p(\hat f)\| \le
    \tfrac12 e$ (softmax is $\tfrac12$-Lipschitz).  $1 - p_m$ is the smaller of $1 -
    \underline{p_m}$ and $\sum_{j\ne m}\overline{p_j}$ (no cancellation when $p_m$ is
    close to 1)."""
    from symlip.arith import kernels as _npk

    n, nN = cn.output.shape
    Pm = _npk.softmax_box(IntervalArray(cn.output))
    onehot = np.zeros((n, nN))
    onehot[np.arange(n), np.asarray(y, dtype=np.intp)] = 1.0
    D = (Pm - IntervalArray(onehot)).abs()
    sq = D.square()
    tot = sq[:, 0]
    for j in range(1, nN):
        tot = tot + sq[:, j]
    half_e = IntervalArray(np.asarray(cn.output_err, dtype=np.float64)) * 0.5
    pmax = IntervalArray(np.zeros(n), np.max(Pm.hi, axis=1)) + half_e
    enorm = tot.sqrt() + half_e
    top = np.argmax(np.asarray(cn.output, dtype=np.float64), axis=1)
    rows = np.arange(n)
    one_minus = IntervalArray(np.ones(n)) - IntervalArray(Pm.lo[rows, top], Pm.hi[rows, top])
    others = IntervalArray(np.zeros(n), np.zeros(n))
    for j in range(nN):
        hi = np.where(top == j, 0.0, Pm.hi[:, j])
        others = others + IntervalArray(np.zeros(n), hi)
    pbar = IntervalArray(np.zeros(n), np.minimum(one_minus.hi, others.hi)) + half_e
    return (IntervalArray(np.zeros(n), pmax.hi), IntervalArray(np.zeros(n), pbar.hi),
            IntervalArray(np.zeros(n), enorm.hi))


def _loss_inputs(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                 centre: bool | str = "auto", jac: bool | str = "auto") -> CertifiedInputs:
    """Certified inputs of the loss program.  ``jac="auto"``: the centre Jacobian norms
    (:func:`symlip.bounds.centre.centre_jacobians`) for problems within the budget."""
    from symlip.bounds.centre import centre_jacobians

    ci = certified_param_inputs(net, X, r, centre=centre, smooth=True)
    t0 = time.perf_counter()
    for k in range(2, net.depth + 1):  # largest row / column norm of W_k, + r
        w = net.layers[k - 1].weight
        if k < net.depth:
            ci.scalars[f"omega_{k}"] = Enclosure.from_interval(
                iv.mpf([0.0, float(np.max(row_norms(w).hi))]) + iv.mpf(r))
        ci.scalars[f"kappa_{k}"] = Enclosure.from_interval(
            iv.mpf([0.0, float(np.max(row_norms(w.T).hi))]) + iv.mpf(r))
    if _use_jacobians(net, X, jac):
        ci.add_jacobians(lambda: centre_jacobians(net, X))
    ci.timings["centre_jacobians"] = time.perf_counter() - t0
    if rec._loss_name(loss) == "cross-entropy" and ci.centre:
        ci.per_point["P"], ci.per_point["Pbar"], ci.per_point["E"] = _softmax_centre(
            ci.centre_data, y)
    if rec._loss_name(loss) == "mse":
        ci.per_point["Y"] = row_norms(y)
        if ci.centre:
            cn = ci.centre_data
            dn = row_norms(cn.output - y)
            ci.per_point["E"] = IntervalArray(
                np.maximum(np.nextafter(dn.lo * (1 - 2 * _U) - cn.output_err, -np.inf), 0),
                np.nextafter(np.nextafter(dn.hi * (1 + 2 * _U), np.inf) + cn.output_err,
                             np.inf))
    return ci


def interval_loss_gradient(net: Any, X: np.ndarray, y: np.ndarray, loss: str,
                           chunk: int = 2048) -> IntervalArray:
    r"""Rigorous enclosure of $\nabla_\theta L(\theta)$ at the network's parameters
    (the exact real gradient of the mean loss for the float weights), in
    :meth:`Network.params` order.

    Forward and backward pass in outward-rounded float intervals
    (:meth:`Network.interval_trace` / :func:`symlip.bounds.centre.interval_backward`, both
    through residual blocks too: midpoint-radius
    matrix products with a priori BLAS error bounds, rigorous NumPy kernels for
    $\sigma$, $\sigma'$, exp).  Output sensitivities: MSE $f - y$; cross-entropy
    $\mathrm{softmax}(f) - e_y$ with $\mathrm{softmax}_j = 1/\sum_i e^{f_i - f_j}$;
    the sum over the data is divided by $n$ at the end.
    """
    from symlip.bounds.centre import interval_backward, interval_output_gradient

    lname = rec._loss_name(loss)
    n = X.shape[0]
    tot: IntervalArray | None = None
    for s in range(0, n, chunk):
        tr = net.interval_trace(X[s:s + chunk], dsigma=True)
        d = interval_output_gradient(tr.output, y[s:s + chunk], lname)
        g = interval_backward(net, tr, d)
        tot = g if tot is None else tot + g
    assert tot is not None
    return tot / float(n)


@float_search
def _grad_search(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                 *, iters: int = 60, seed: int = 0, tol: float = 1e-7
                 ) -> tuple[float, np.ndarray, np.ndarray]:
    r"""Power iteration for $\|\nabla^2 L\|_2$ (Hessian-vector products by central
    differences of the closed-form gradient) at $\bar\theta$ and at $\bar\theta \pm r v$.
    $\nabla^2 L$ is symmetric, so the iteration converges to $\max|\lambda| =
    \|\nabla^2 L\|_2$; it stops when the estimate changes by less than ``tol``
    (relative), after at most ``iters`` steps (20 for large problems).

    Returns ``(best value, offset of the best point from theta0, its top vector)``.
    Float64, not certified (the certified lower bound is :func:`certify_grad_lower`).
    """
    theta0 = net.params()
    rng = np.random.default_rng(seed)
    Xs, ys = X, y
    if theta0.size * X.shape[0] > 10_000_000:  # each step costs two full gradients
        iters = min(iters, 20)
        # the direction from a subsample (the mean loss of the subsample is a different
        # function, so its value is recomputed on all the data below: ||H v|| <= ||H||)
        m = max(64, 10_000_000 // theta0.size)
        if m < X.shape[0]:
            sel = np.sort(rng.choice(X.shape[0], m, replace=False))
            Xs, ys = X[sel], y[sel]

    def hvp(th: np.ndarray, v: np.ndarray, full: bool = False) -> np.ndarray:
        eps = 1e-5 * max(1.0, float(np.linalg.norm(th))) / max(1.0, math.sqrt(th.size))
        XX, yy = (X, y) if full else (Xs, ys)
        gp = loss_gradient(net.with_params(th + eps * v), XX, yy, loss)
        gm = loss_gradient(net.with_params(th - eps * v), XX, yy, loss)
        return (gp - gm) / (2 * eps)

    def top(th: np.ndarray, v0: np.ndarray | None) -> tuple[float, np.ndarray]:
        v = rng.standard_normal(th.size) if v0 is None else v0.copy()
        v /= np.linalg.norm(v)
        lam = 0.0
        for _ in range(iters):
            w = hvp(th, v)
            new = float(np.linalg.norm(w))
            if new == 0:
                break
            v = w / new
            done = abs(new - lam) <= tol * new
            lam = new
            if done:
                break
        return lam, v

    best, v = top(theta0, None)
    best_off, best_v = np.zeros_like(theta0), v
    if r > 0:
        for s in (1.0, -1.0):
            off = s * r * v * (1 - 1e-12)
            val, w = top(theta0 + off, v)
            if val > best:
                best, best_off, best_v = val, off, w
    if Xs is not X:  # the value for the mean loss over all the data
        best = float(np.linalg.norm(hvp(theta0 + best_off, best_v, full=True)))
    return best, best_off, best_v


@float_search
def estimate_grad_lower(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                        *, iters: int = 60, seed: int = 0) -> float:
    r"""Float estimate of $\sup_{B_r}\|\nabla^2 L\|_2$: the Hessian operator norm at
    $\bar\theta$ (power iteration, see :func:`_grad_search`), improved at
    $\bar\theta \pm r v$.  Not certified."""
    return _grad_search(net, X, y, loss, r, iters=iters, seed=seed)[0]


def certify_grad_lower(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                       offset: np.ndarray, direction: np.ndarray, *, t: float | None = None,
                       k_sparse: int = 32768) -> tuple[Enclosure, dict[str, Any]]:
    r"""Certified lower bound of the gradient-Lipschitz constant on $B_r(\bar\theta)$.

    Two parameter vectors $\theta_\pm = \bar\theta + c \pm t u$ that differ from
    $\bar\theta$ only on the ``k_sparse`` largest coordinates $I$ of ``direction``
    ($u$ its unit restriction to $I$, $c$ the restriction of ``offset`` to $I$, shrunk
    so that $\|c\| + t \le r$); the quotient
    $\|\nabla L(\theta_+) - \nabla L(\theta_-)\| / \|\theta_+ - \theta_-\|$ is enclosed
    with :func:`interval_loss_gradient` and exact interval norms, and both
    $\|\theta_\pm - \bar\theta\| \le r$ are checked in interval arithmetic.  Its lower
    end is therefore a certified lower bound.

    Returns:
        ``(enclosure of the quotient, witness)``; :func:`grad_quotient_from_witness`
        recomputes it from the witness.
    """
    P = direction.size
    keep = np.sort(np.argsort(-np.abs(direction))[: min(k_sparse, P)])
    u = direction[keep]
    nu = float(np.linalg.norm(u))
    if nu == 0 or r <= 0:
        return Enclosure.point(0), {}
    u = u / nu
    theta0 = net.params()
    tt = r / 2 if t is None else min(t, r)
    tt = min(tt, 1e-3 * max(1.0, float(np.max(np.abs(theta0)))))
    c = np.asarray(offset, dtype=np.float64)[keep]
    nc = float(np.linalg.norm(c))
    room = (r - tt) * (1 - 1e-9)
    if nc > room:
        c = c * (room / nc)
    wit = {"kind": "gradient_difference_quotient", "indices": [int(i) for i in keep],
           "offset_plus": [float(v) for v in c + tt * u],
           "offset_minus": [float(v) for v in c - tt * u]}
    return grad_quotient_from_witness(net, X, y, loss, wit, r), wit


def _norm_enclosure(d: IntervalArray) -> Enclosure:
    """Enclosure of the Euclidean norm of every vector in the interval vector ``d``."""
    a = d.abs()
    with np.errstate(over="ignore"):  # squares beyond 1.8e308: +inf (DBL_MAX below)
        sq_lo = np.nextafter(a.lo * a.lo, -np.inf)
        sq_hi = np.nextafter(a.hi * a.hi, np.inf)
    try:
        lo2 = np.nextafter(math.fsum(sq_lo.tolist()), -np.inf)
    except OverflowError:  # the exact sum is beyond the doubles: DBL_MAX is below it
        lo2 = np.finfo(np.float64).max
    try:
        hi2 = np.nextafter(math.fsum(sq_hi.tolist()), np.inf)
    except OverflowError:
        hi2 = np.inf
    return Enclosure.from_interval(iv.sqrt(iv.mpf([max(float(lo2), 0.0), float(hi2)])))


def _readout_lower_applies(net: Any, X: np.ndarray, r: float) -> bool:
    """Large problems take the read-out lower bound (Lemma 10,
    :mod:`symlip.bounds.readout_lower`): the full interval gradient quotient costs two
    interval forward and backward passes over all the data."""
    from symlip.bounds.readout_lower import READOUT_LOWER_BUDGET

    return (r > 0 and net.depth >= 2 and not getattr(net, "has_residual", False)
            and net.n_params * X.shape[0] > READOUT_LOWER_BUDGET)


def _readout_lower(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                   ci: CertifiedInputs, seed: int, full: bool = False
                   ) -> tuple[Any, Any, Any]:
    """``(estimate, certified lower enclosure, witness)`` of Lemma 10 (reusing the
    centre forward pass of the upper bound when it kept the last hidden state), or of
    Lemma 13 (the loss's second difference along the top Hessian direction) where that
    is within :data:`~symlip.bounds.second_difference.SECOND_DIFFERENCE_BUDGET` (or
    ``full``) and larger."""
    from symlip.bounds import second_difference as sd
    from symlip.bounds.readout_lower import centre_for_readout, readout_grad_lower

    cn = ci.centre_data
    best: tuple[Any, Any, Any] = (None, None, None)
    try:
        if cn is None or cn.last_hidden is None:
            cn = centre_for_readout(net, X)
        wit = readout_grad_lower(net, cn, loss, r, seed=seed)
        low = grad_quotient_from_witness(net, X, y, loss, wit, r, centre=cn)
        best = (low.lower_float, low, wit)
    except (InputError, ValueError, UnsupportedOperation):
        pass
    if full or net.n_params * X.shape[0] <= sd.SECOND_DIFFERENCE_BUDGET:
        try:
            wit = sd.second_difference_witness(net, X, y, loss, r, loss_gradient, seed=seed)
            low = sd.second_difference_from_witness(net, X, y, loss, wit, r)
        except (InputError, ValueError, UnsupportedOperation, FloatingPointError):
            return best
        if best[1] is None or low.lower_float > best[1].lower_float:
            best = (low.lower_float, low, wit)
    return best


def witness_points(wit: Mapping[str, Any], theta0: np.ndarray, r: float, ball: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indices, theta_plus, theta_minus)`` of a gradient witness: the offsets
    ``offset_plus``/``offset_minus`` added to ``theta0`` at ``indices``, each point checked
    to lie in the closed ball of radius ``r`` around ``theta0`` in interval arithmetic.

    Raises:
        InputError: a malformed witness (missing fields, inconsistent shapes, indices
            out of range).
        WitnessOutsideError: a point outside the ball (named ``ball`` in the message).
    """
    try:
        keep = np.asarray(wit["indices"], dtype=np.intp)
        op = np.asarray(wit["offset_plus"], dtype=np.float64)
        om = np.asarray(wit["offset_minus"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed gradient lower-bound witness: {exc}") from None
    if keep.shape != op.shape or keep.shape != om.shape or keep.ndim != 1 or (
            keep.size and (keep.min() < 0 or keep.max() >= theta0.size)):
        raise InputError("gradient lower-bound witness has inconsistent indices/offsets")
    tp, tm = theta0.copy(), theta0.copy()
    tp[keep] = theta0[keep] + op
    tm[keep] = theta0[keep] + om
    base = IntervalArray(theta0[keep])
    for th in (tp, tm):
        dn = _norm_enclosure(IntervalArray(th[keep]) - base)
        if compare(dn.to_interval(), "<=", iv.mpf(r)) is not Truth.TRUE:
            raise WitnessOutsideError(f"gradient lower-bound witness leaves the {ball} of "
                                      f"radius {r!r}")
    return keep, tp, tm


def grad_quotient_from_witness(net: Any, X: np.ndarray, y: np.ndarray, loss: str,
                               wit: Mapping[str, Any], r: float, *, centre: Any = None
                               ) -> Enclosure:
    """Recompute the certified gradient difference quotient of a witness (see
    :func:`certify_grad_lower`); raises :class:`InputError` if a point leaves the ball.
    A witness with ``method: "readout"`` (Lemma 10) gives the enclosure of the
    read-out projection of the quotient (a lower bound of it; ``centre``: the centre
    forward pass to reuse, else recomputed)."""
    if wit.get("method") == "second_difference":  # Lemma 13
        from symlip.bounds.second_difference import second_difference_from_witness

        return second_difference_from_witness(net, X, y, loss, wit, r)
    keep, tp, tm = witness_points(wit, net.params(), r, "ball")
    if wit.get("method", "full") == "readout":
        from symlip.bounds.readout_lower import (
            centre_for_readout,
            readout_offsets,
            readout_quotient,
        )

        op_, om_ = readout_offsets(net, keep, tp, tm)
        cn = centre_for_readout(net, X) if centre is None else centre
        return readout_quotient(cn, y, loss, op_, om_)
    if wit.get("method", "full") != "full":
        raise InputError(f"gradient lower-bound witness method {wit.get('method')!r} must be "
                         "'full', 'readout' or 'second_difference'")
    den = _norm_enclosure(IntervalArray(tp[keep]) - IntervalArray(tm[keep]))
    if not den.lower > 0:
        return Enclosure.point(0)
    # the float gradients with norm-wise error bounds (no interval wrapping: tight at
    # depth), and the interval gradients where those are not already that tight; the
    # exact quotient lies in both enclosures, so in their intersection
    num = None
    try:
        from symlip.bounds.gauss_newton import float_loss_gradient

        with np.errstate(over="ignore", invalid="ignore"):
            fp, ep = float_loss_gradient(net.with_params(tp), X, y, loss)
            fm, em = float_loss_gradient(net.with_params(tm), X, y, loss)
        e = iv.mpf(ep) + iv.mpf(em)
        if np.all(np.isfinite(fp)) and np.all(np.isfinite(fm)) and math.isfinite(ep + em):
            c = _norm_enclosure(IntervalArray(fp) - IntervalArray(fm)).to_interval()
            lo = Enclosure.from_interval(c - e).lower_float  # rounded down
            num = iv.mpf([max(lo, 0.0), (c + e).b])
    except (ValueError, InputError, UnsupportedOperation, FloatingPointError):
        num = None
    if num is None or float(num.b) > float(num.a) * (1 + 1e-6):
        gp = interval_loss_gradient(net.with_params(tp), X, y, loss)
        gm = interval_loss_gradient(net.with_params(tm), X, y, loss)
        inum = _norm_enclosure(gp - gm).to_interval()
        num = inum if num is None else iv.mpf([max(num.a, inum.a), min(num.b, inum.b)])
    return Enclosure.from_interval(num / den.to_interval())


def grad_lipschitz(net: Any, data: Any, targets: Any, loss: str, radius: float, *,
                   centre: bool | str = "auto", lower: bool | str = True, seed: int = 0,
                   jac: bool | str = "auto", method: str = "local",
                   local_points: Any = "auto") -> BoundResult:
    r"""Certified Lipschitz constant of $\theta \mapsto \nabla_\theta L(\theta)$ on $B_r$.

    $L(\theta) = \frac1n \sum_i \lambda(f(x_i;\theta), y_i)$ (mean over the rows of
    ``data``).  Returns $L_{grad}$ with $\|\nabla L(\theta) - \nabla L(\theta')\|_2 \le
    L_{grad} \|\theta - \theta'\|_2$ for all $\theta, \theta'$ in the closed ball of
    radius ``radius`` around the network's parameters.  ``upper`` is the certified
    **mean of the per-point bounds**: $\nabla L = \frac1n\sum_i \nabla\ell_i$, so the
    triangle inequality gives $L_{grad} \le \frac1n\sum_i L_i$ where $L_i$ is the formula
    evaluated on point $i$'s certified inputs (``extra["aggregate"] == "mean"``; the
    certificate re-checks it point by point).  ``extra["upper_hull"]`` is the formula
    on the hull of the per-point inputs (looser; what a single evaluation gives).

    Args:
        net: the network (smooth activations).
        data: ``(n, n0)``.
        targets: MSE: ``(n, nN)`` (or ``(n,)`` for one output); cross-entropy: class
            indices ``(n,)`` or one-hot rows.
        loss: ``"mse"`` ($\frac12\|f-y\|^2$) or ``"cross-entropy"`` (softmax).
        radius: $r \ge 0$.
        lower: the certified lower bound: ``True`` (default) with the methods within
            their budgets, ``"full"`` also Lemma 13 beyond
            :data:`~symlip.bounds.second_difference.SECOND_DIFFERENCE_BUDGET` (at
            10,000 points on 784-1024-1024-10 about 6-9 s more per loss, and a lower
            bound 1.5-2x higher), ``False`` none.
        jac: centre Jacobian options (tight for small $r$): ``"auto"`` (when the
            Jacobians are small, see :data:`symlip.bounds.centre.JACOBIAN_ELEMENT_BUDGET`),
            ``True``, ``False``.  Certificates re-derive with ``"auto"``.
        method: ``"local"`` (default): the minimum of the recursion and the local
            sensitivities of Lemmas 7-8, with the loss step of Lemma 11 (the certified
            centre Gauss-Newton norm) and Lemma 12 (the certified centre curvature plus a
            third-order remainder) where they apply (``docs/theory-param.md`` sections
            7 and 10; the formula's inputs ``GN_c``, ``CV`` say which);
            ``"recursion"``: the recursion alone.  ``extra["method"]``: what was used
            (``"mixed"``: see ``local_points``).
        local_points: with ``method="local"``, which points get the local line when
            the local method does not fit its budget for all of them
            (:mod:`symlip.bounds.mixed`: the others keep the recursion's line, each
            point's bound is the smaller of its lines): ``"auto"`` (default) as many
            of the points with the largest recursion lines as
            :data:`~symlip.bounds.mixed.MIXED_COST_BUDGET` allows, when they carry at
            least :data:`~symlip.bounds.mixed.MIXED_MIN_SHARE` of the sum; a count
            ``m`` (the ``m`` points with the largest recursion lines, even when the
            local method fits all points; ``m >= n``: every point); a list of row
            indices; ``None``: all points or none, as the budget says.  Points beyond
            what the local method takes at once are computed in consecutive chunks,
            each as its own data set (the time grows with the number of chunks).
            ``extra["local_points"]``: the indices used (only when the points were
            chosen or chunked).

    Raises:
        InputError: bad radius, data/targets shapes, NaN values, unknown loss.
        NotSmoothError: an activation with $K_2 = \infty$ (with a witness).
    """
    r = check_radius(radius)
    if lower not in (True, False, "full"):
        raise InputError(f"lower={lower!r}; expected True, False or 'full'")
    lname = rec._loss_name(loss)
    X = check_data(net, data)
    y = check_targets(net, X, targets, lname)
    _require_smooth(net)
    if getattr(net, "has_residual", False):  # Lemma 9 (one method)
        from symlip.bounds.mixed import check_local_points
        from symlip.bounds.param_core import check_method

        check_method(method)
        if not isinstance(check_local_points(local_points, X.shape[0]), (str, type(None))):
            raise InputError("local_points applies to feed-forward networks (this one has "
                             "residual blocks: its gradient bound is Lemma 9's)")
        return _residual_grad_lipschitz(net, X, y, lname, r, centre=centre,
                                        lower=lower is not False, seed=seed)
    formula, ci, used, points = gradient_program_and_inputs(
        net, X, y, lname, r, method, local_points, centre=centre, jac=jac)
    t1 = time.perf_counter()
    pointwise = formula.enclose_array(_args(formula, ci, hull=False))
    mean = pointwise.mean()
    hull_inputs = _args(formula, ci, hull=True)
    hull = formula.enclose(hull_inputs)
    t2 = time.perf_counter()
    est, low_enc, witness = None, None, None
    if lower and _readout_lower_applies(net, X, r):
        est, low_enc, witness = _readout_lower(net, X, y, lname, r, ci, seed,
                                               full=lower == "full")
    elif lower:
        est, off, v = _grad_search(net, X, y, lname, r, seed=seed)
        if r > 0:
            try:
                low_enc, witness = certify_grad_lower(net, X, y, lname, r, off, v)
            except (ValueError, UnsupportedOperation):
                low_enc, witness = None, None  # no rigorous kernel for this activation
            if not witness:
                low_enc, witness = None, None
            elif est is not None:
                # the certified quotient is a real value of the constant, so the best
                # (float) lower estimate is at least its lower end
                est = max(est, low_enc.lower_float)
    t3 = time.perf_counter()
    deriv = rec.second_order_derivation(net.depth, loss=lname, bounded=ci.bounded,
                                        centre=ci.centre, jac=ci.jac)
    _gn_section(deriv, formula, lname)
    _mean_step(deriv)
    extra = {
        "radius": r, "loss": lname, "aggregate": "mean", "method": used,
        "upper_hull": hull.upper_str(),
        "upper_pointwise_mean": mean.upper_str(),
        "upper_pointwise_max": pointwise.upper_max().upper_str(),
        "n_points": int(X.shape[0]), "centre_norms": ci.centre,
        "centre_jacobians": ci.jac, "spectral_method": ci.spectral_method,
        "timings": {**ci.timings, "interval_eval": t2 - t1, "lower": t3 - t2},
    }
    if points is not None:
        extra["local_points"] = [int(i) for i in points]
    return BoundResult("grad_lipschitz", "l2", mean, formula, hull_inputs, deriv,
                       lower_enclosure=low_enc, estimate=est, extra=extra, witness=witness)


def _gn_section(deriv: Any, formula: rec.RecursiveFormula, lname: str) -> None:
    """The steps of Lemma 11 when the formula uses the centre Gauss-Newton norm, and of
    Lemma 12 when it uses the centre curvature."""
    if "GN_c" in {str(s) for s in formula.inputs}:
        from symlip.bounds.sensitivity import local_gn_derivation

        deriv.section(local_gn_derivation(
            None, lname, any(str(s).startswith("qg_") for s in formula.inputs)))
    if "CV" in {str(s) for s in formula.inputs}:
        from symlip.bounds.curvature_program import local_curv_derivation

        names = {str(s) for s in formula.inputs}
        deriv.section(local_curv_derivation(None, lname, "HC" in names, "LDc_1" in names,
                                            "HS_2" in names))
    if "off" in {str(s) for s in formula.inputs}:
        from symlip.bounds.mixed import BMIX, OFF

        brec, b = sp.Symbol("B^rec", nonnegative=True), sp.Symbol("B", nonnegative=True)
        deriv.step(BMIX, "=", rec._min([brec, sp.Max(b, OFF)]),
                   "mixed per-point bounds: each point's line is a certified bound of its "
                   "own; the local line on the chosen points ($\\mathrm{off} = 0$, their "
                   "inputs computed on those points alone), the recursion's on the others "
                   "($\\mathrm{off} = +\\infty$)")


# residual networks (Lemma 9, docs/theory-param.md section 8)


def _residual_inputs(net: Any, X: np.ndarray, y: np.ndarray, lname: str, r: float,
                     centre: bool | str = "auto") -> CertifiedInputs:
    """:func:`symlip.bounds.residual_smooth.residual_grad_inputs` plus, for
    cross-entropy, ``P`` and ``E`` from the output box (:func:`_softmax_centre`), and the
    directional option's per-neuron weights
    (:func:`symlip.bounds.residual_smooth.add_sigma2_weights`)."""
    from symlip.bounds.residual_smooth import add_sigma2_weights, residual_grad_inputs

    ci = residual_grad_inputs(net, X, y, lname, r, centre)
    if lname == "cross-entropy" and ci.centre:
        ci.per_point["P"], ci.per_point["Pbar"], ci.per_point["E"] = _softmax_centre(
            ci.centre_data, y)
    add_sigma2_weights(net, X, ci, lname)  # needs the loss inputs (mu_k from the program)
    return ci


def _residual_rebuild(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float, hull: bool
            ) -> tuple[rec.RecursiveFormula, dict[str, Any]]:
    """Formula and fresh certified inputs (hull or per point), for ``verify``."""
    from symlip.bounds.residual import layer_kinds, lognorm_layers
    from symlip.bounds.residual_smooth import program_options, residual_grad_program

    lname = rec._loss_name(loss)
    ci = _residual_inputs(net, X, y, lname, r)
    formula = residual_grad_program(layer_kinds(net), lname, ci.bounded, ci.centre,
                                    lognorm_layers(net), **program_options(ci))
    return formula, _args(formula, ci, hull=hull)


def _residual_grad_lipschitz(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                            *, centre: bool | str = "auto", lower: bool = True,
                            seed: int = 0) -> BoundResult:
    r"""Certified Lipschitz constant of $\theta \mapsto \nabla_\theta L(\theta)$ on
    $B_r(\bar\theta)$ for a network with residual blocks (Lemma 9; validated inputs:
    called by :func:`symlip.bounds.smooth.grad_lipschitz`).  ``upper``: the certified
    mean of the per-point bounds (outward-rounded interval evaluation of the program,
    mean rounded up); ``estimate``: power iteration on Hessian-vector products of the
    float gradient (:func:`residual_loss_gradient`), not certified; the certified lower
    bound: the read-out quotient of Lemma 10 on the interval forward pass's boxes."""
    from symlip.bounds.residual import layer_kinds, lognorm_layers
    from symlip.bounds.residual_smooth import (
        program_options,
        residual_grad_program,
        residual_second_order_derivation,
    )

    lname = rec._loss_name(loss)
    ci = _residual_inputs(net, X, y, lname, r, centre)
    kinds = layer_kinds(net)
    ln = lognorm_layers(net)
    opts = program_options(ci)
    formula = residual_grad_program(kinds, lname, ci.bounded, ci.centre, ln, **opts)
    t1 = time.perf_counter()
    pointwise = formula.enclose_array(_args(formula, ci, hull=False))
    mean = pointwise.mean()
    hull_inputs = _args(formula, ci, hull=True)
    hull = formula.enclose(hull_inputs)
    t2 = time.perf_counter()
    est, low, wit = None, None, None
    if lower:
        from symlip.bounds.readout_lower import READOUT_LOWER_BUDGET

        off = vec = None
        try:
            est, off, vec = _grad_search(net, X, y, lname, r, seed=seed)
        except (ValueError, UnsupportedOperation):  # pragma: no cover - float search
            est = None
        if r > 0:  # Lemma 10 on the interval forward pass's boxes
            from symlip.bounds.readout_lower import centre_for_readout, readout_grad_lower

            try:
                cn = centre_for_readout(net, X)
                wit = readout_grad_lower(net, cn, lname, r, seed=seed)
                low = grad_quotient_from_witness(net, X, y, lname, wit, r, centre=cn)
            except (InputError, ValueError, UnsupportedOperation):
                low, wit = None, None
        if r > 0 and vec is not None and net.n_params * X.shape[0] <= READOUT_LOWER_BUDGET:
            # the full interval gradient quotient along the top Hessian direction (the
            # interval passes go through the blocks); the larger certified lower end wins
            try:
                full, fwit = certify_grad_lower(net, X, y, lname, r, off, vec)
            except (InputError, ValueError, UnsupportedOperation):
                full, fwit = None, None
            if full is not None and fwit and (low is None or full.lower_float > low.lower_float):
                low, wit = full, fwit
        if low is not None and est is not None:
            est = max(est, low.lower_float)
    t3 = time.perf_counter()
    deriv = residual_second_order_derivation(kinds, lname, bounded=ci.bounded,
                                             centre=ci.centre, lognorm=ln, **opts)
    _mean_step(deriv)
    extra = {
        "radius": r, "loss": lname, "aggregate": "mean", "method": "residual",
        "upper_hull": hull.upper_str(), "upper_pointwise_mean": mean.upper_str(),
        "upper_pointwise_max": pointwise.upper_max().upper_str(),
        "n_points": int(X.shape[0]), "centre_norms": ci.centre,
        "layer_kinds": list(kinds) + ["readout"], "lognorm_layers": list(ln),
        "centre_jacobians": ci.jac, "gauss_newton": opts["gn"], "directional": opts["direc"],
        "sigma2_weights": opts["sig"],
        "spectral_method": ci.spectral_method,
        "timings": {**ci.timings, "interval_eval": t2 - t1, "lower": t3 - t2},
    }
    return BoundResult("grad_lipschitz", "l2", mean, formula, hull_inputs, deriv,
                       lower_enclosure=low, estimate=est, extra=extra, witness=wit)


def _mean_step(deriv: Any) -> None:
    """The last step of a mean-loss gradient bound: average the per-point bounds."""
    n, i = sp.Symbol("n", positive=True, integer=True), sp.Symbol("i", integer=True)
    Lg, Li = sp.Symbol("L_{grad}", nonnegative=True), sp.Function("L")(i)
    deriv.step(Lg, "<=", sp.Sum(Li, (i, 1, n)) / n,
               r"$\nabla_\theta L = \frac1n\sum_i \nabla_\theta \ell_i$ and the triangle "
               "inequality; $L(i)$ is the bound above on point $i$'s certified inputs")


def param_and_grad_lipschitz(net: Any, data: Any, targets: Any, loss: str, radius: float,
                             *, lower: bool = False, seed: int = 0, method: str = "local",
                             local_points: Any = "auto") -> tuple[BoundResult, BoundResult]:
    """:func:`~symlip.bounds.param.param_lipschitz` and :func:`grad_lipschitz` sharing one
    computation of the certified inputs (norms, centre forward pass); ``local_points`` as
    in :func:`grad_lipschitz` (when the gradient bound mixes, the parameter bound is the
    recursion's, as :func:`~symlip.bounds.param.param_lipschitz` gives beyond the local
    budget).

    Returns:
        ``(param_result, grad_result)``; ``extra["timings"]`` of the second holds the
        shared timings (constants, norms, centre forward, estimate, interval evaluation).
    """
    from symlip.bounds.param_core import (
        local_param_program,
        param_lipschitz_from_inputs,
        param_program,
    )

    r = check_radius(radius)
    lname = rec._loss_name(loss)
    X = check_data(net, data)
    y = check_targets(net, X, targets, lname)
    _require_smooth(net)
    # the gradient's inputs (local ones added); mixed: the parameter bound takes the
    # recursion on the inputs of all the points
    gf, gci, used, points = gradient_program_and_inputs(net, X, y, lname, r, method,
                                                        local_points)
    ci = gci.stash.get("all_points", gci)
    pused = "recursion" if used == "mixed" else used
    t0 = time.perf_counter()
    pf = (local_param_program(net.depth, ci.bounded) if pused == "local"
          else param_program(net.depth, ci.bounded, ci.centre))
    est_p = pf.estimate(_float_args(pf, ci))
    est_g = gf.estimate(_float_args(gf, gci))
    t1 = time.perf_counter()
    # the local method: the same result as param_lipschitz, the max over the points
    pres = param_lipschitz_from_inputs(net, X, r, ci, pf, lower=lower, seed=seed,
                                       pointwise_max=pused == "local")
    pres.extra["method"] = pused
    gpt = gf.enclose_array(_args(gf, gci, hull=False))
    mean = gpt.mean()
    hull = _args(gf, gci, hull=True)
    ghull = gf.enclose(hull)
    t2 = time.perf_counter()
    timings = {**gci.timings, "lambdified_estimate": t1 - t0, "interval_eval": t2 - t1}
    extra = {"radius": r, "loss": lname, "aggregate": "mean",
             "upper_hull": ghull.upper_str(), "upper_pointwise_mean": mean.upper_str(),
             "upper_pointwise_max": gpt.upper_max().upper_str(),
             "estimate_pointwise_max_float": float(np.max(est_g)),
             "n_points": int(X.shape[0]), "centre_norms": ci.centre, "method": used,
             "spectral_method": ci.spectral_method, "timings": timings}
    if points is not None:
        extra["local_points"] = [int(i) for i in points]
    pres.extra["estimate_pointwise_max_float"] = float(np.max(est_p))
    deriv = rec.second_order_derivation(net.depth, loss=lname, bounded=ci.bounded,
                                        centre=ci.centre, jac=ci.jac)
    _gn_section(deriv, gf, lname)
    _mean_step(deriv)
    gres = BoundResult("grad_lipschitz", "l2", mean, gf, hull, deriv, extra=extra)
    return pres, gres


def _float_args(formula: rec.RecursiveFormula, ci: CertifiedInputs) -> dict[str, Any]:
    """Float inputs (upper ends) for the lambdified estimate of the per-point formula."""
    out: dict[str, Any] = {}
    for s in formula.inputs:
        n = str(s)
        out[n] = ci.per_point[n].hi if n in ci.per_point else ci.scalars[n].upper_float
    return out


# ------------------------------------------------------------------------------------
# certified step size
# ------------------------------------------------------------------------------------


@dataclass
class StepResult:
    r"""A gradient step with a certified step size.

    Attributes:
        eta: step size, $\eta \le 1/L_{grad}$ (rounded down).
        L_grad: certified enclosure of the smoothness constant on $B_r$.
        grad: the float gradient $\hat g$ at $\bar\theta$.
        theta_next: $\mathrm{fl}(\bar\theta - \eta \hat g)$.
        step_norm: enclosure of $\|\theta_{next} - \bar\theta\|$ (exact).
        in_ball: :class:`~symlip.arith.enclosure.Truth` of ``step_norm <= radius``.
        guaranteed_decrease: the lower end of ``decrease`` (a float rounded down): a
            certified lower bound of $L(\bar\theta) - L(\theta_{next})$ for the exact
            real losses at the two float parameter vectors; it can be negative (near a
            minimum the enclosures' widths exceed the true decrease: nothing is
            guaranteed then).
        decrease: certified enclosure of $L(\bar\theta) - L(\theta_{next})$, from
            :func:`loss_enclosure` at both parameter vectors (lower end rounded down,
            upper end up).
        estimated_decrease: $\|\hat g\|^2 / (2 L_{grad})$ in floats: what the descent
            lemma promises when ``in_ball`` holds, computed from the float gradient
            $\hat g$ (an estimate; near a minimum its relative error is of order 1).
    """

    eta: float
    L_grad: Enclosure
    grad: np.ndarray
    theta_next: np.ndarray
    step_norm: Enclosure
    in_ball: Truth
    guaranteed_decrease: float
    result: BoundResult | None = None
    decrease: Enclosure | None = None
    estimated_decrease: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # the arrays stay out of the way
        return (f"StepResult(eta={self.eta:.6g} (rounded down), "
                f"L_grad <= {self.L_grad.upper_str(8)} (certified), "
                f"step_norm <= {self.step_norm.upper_str(6)}, in_ball={self.in_ball.value}, "
                f"guaranteed_decrease={self.guaranteed_decrease:.4g}, "
                f"{self.grad.size} parameters)")


_STEP_S, _STEP_E = sp.Symbol("s", nonnegative=True), sp.Symbol("e", real=True)
#: $\|\theta_+ - \bar\theta\| = s(1 + e)$: $s$ the certified norm of the float
#: difference $\mathrm{fl}(\theta_+ - \bar\theta)$, $|e| \le 2u$ its rounding
#: ($|\mathrm{fl}(a - b) - (a - b)| \le u|a - b|$ entrywise)
STEP_NORM = Formula(_STEP_S * (1 + _STEP_E), [_STEP_S, _STEP_E], name="step_norm")
_L_BEFORE, _L_AFTER = sp.Symbol("L_before", real=True), sp.Symbol("L_after", real=True)
#: the certified decrease of a step: loss before minus loss after
DECREASE = Formula(_L_BEFORE - _L_AFTER, [_L_BEFORE, _L_AFTER], name="decrease")


def certified_step(net: Any, data: Any, targets: Any, loss: str, radius: float,
                   *, aggregate: str = "mean") -> StepResult:
    r"""Gradient step $\theta_+ = \bar\theta - \eta \nabla L(\bar\theta)$ with $\eta =
    1/L_{grad}$ certified on $B_r(\bar\theta)$.

    If $\|\theta_+ - \bar\theta\| \le r$, the segment lies in the ball and the descent
    lemma gives $L(\theta_+) \le L(\bar\theta) - \|\nabla L\|^2/(2L_{grad})$
    (``estimated_decrease``, from the float gradient).  ``guaranteed_decrease`` is
    certified instead: the loss is enclosed at both parameter vectors
    (:func:`loss_enclosure`) and their difference taken with outward rounding.

    Args:
        aggregate: ``"mean"`` (the result's ``upper``: the certified mean of the
            per-point bounds, default) or ``"hull"`` (the formula on the hull of the
            per-point inputs, looser).
    """
    res = grad_lipschitz(net, data, targets, loss, radius, lower=False)
    r = check_radius(radius)
    X = check_data(net, data)
    y = check_targets(net, X, targets, loss)
    if aggregate == "mean":
        L = res.enclosure
    elif aggregate == "hull":
        from symlip.arith.enclosure import parse_decimal_enclosure

        s = res.extra["upper_hull"]
        L = parse_decimal_enclosure(s, s)
    else:
        raise InputError(f"{aggregate=} must be 'mean' or 'hull'")
    Lu = L.upper_float
    eta = float(np.nextafter(1.0 / Lu, 0.0)) if Lu > 0 else math.inf
    g = loss_gradient(net, X, y, loss)
    theta = net.params()
    theta_next = theta - eta * g
    d = theta_next - theta  # exact up to rounding, enclosed below
    dn = row_norms(d[None, :])
    step_norm = STEP_NORM.enclose(s=Enclosure.from_floats(dn.lo[0], dn.hi[0]),
                                  e=Enclosure.from_floats(-2 * _U, 2 * _U))
    in_ball = compare(step_norm.to_interval(), "<=", iv.mpf(r))
    with np.errstate(over="ignore"):
        gn2 = float(np.dot(g, g))
        est = float(gn2 / (2 * Lu)) if Lu > 0 else math.inf
    before = loss_enclosure(net, X, y, loss)
    after = loss_enclosure(net.with_params(theta_next), X, y, loss)
    with working_precision(113):
        dec = DECREASE.enclose(L_before=before, L_after=after)
    return StepResult(eta, L, g, theta_next, step_norm, in_ball, dec.lower_float, res,
                      decrease=dec, estimated_decrease=est)


# ------------------------------------------------------------------------------------
# CLI / certificate hooks
# ------------------------------------------------------------------------------------


def certify_context(ctx: Any) -> BoundResult:
    """CLI handler of ``symlip certify --wrt gradient``."""
    r = ctx.options.get("radius")
    if r is None:
        raise InputError("--wrt gradient needs --radius R (the radius of the parameter ball)")
    y = ctx.extra.get("targets")
    if y is None:
        raise InputError("--wrt gradient needs --targets Y.npy")
    method = ctx.options.setdefault("method", "local")
    res = grad_lipschitz(ctx.model, ctx.data, y, ctx.options.get("loss", "mse"), r,
                         seed=int(ctx.options.get("seed", 0)), method=method,
                         local_points=ctx.options.get("local_points", "auto"),
                         lower="full" if ctx.options.get("lower") == "full" else True)
    # the certificate records the points with the local line (verify takes them as given)
    if res.extra.get("local_points") is not None:
        ctx.options["local_points"] = res.extra["local_points"]
    else:
        ctx.options.pop("local_points", None)
    return res


def _rebuild_inputs(ctx: Any, hull: bool) -> tuple[rec.RecursiveFormula, dict[str, Any]]:
    """The formula and fresh certified inputs of a certificate's context: their hull
    (one evaluation) or each data point's own (for the mean)."""
    r = check_radius(ctx.options.get("radius"))
    lname = rec._loss_name(ctx.options.get("loss", "mse"))
    X = check_data(ctx.model, ctx.data)
    y = check_targets(ctx.model, X, ctx.extra.get("targets"), lname)
    _require_smooth(ctx.model)
    if getattr(ctx.model, "has_residual", False):
        return _residual_rebuild(ctx.model, X, y, lname, r, hull)
    # the method of the computation (the CLI records it; API results use the default)
    # and the points with the local line when only some have it (recorded, else none)
    formula, ci, _, _ = gradient_program_and_inputs(
        ctx.model, X, y, lname, r, ctx.options.get("method", "local"),
        ctx.options.get("local_points"))
    return formula, _args(formula, ci, hull=hull)


def _rebuild(ctx: Any) -> tuple[rec.RecursiveFormula, dict[str, Enclosure]]:
    return _rebuild_inputs(ctx, hull=True)


def _rebuild_pointwise(ctx: Any) -> tuple[rec.RecursiveFormula, dict[str, Any]]:
    return _rebuild_inputs(ctx, hull=False)


def _check_lower(ctx: Any, witness: Mapping[str, Any]) -> Enclosure:
    r = check_radius(ctx.options.get("radius"))
    lname = rec._loss_name(ctx.options.get("loss", "mse"))
    X = check_data(ctx.model, ctx.data)
    y = check_targets(ctx.model, X, ctx.extra.get("targets"), lname)
    return grad_quotient_from_witness(ctx.model, X, y, lname, witness, r)


#: how ``verify`` re-checks a ``grad_lipschitz`` certificate; the witness is two
#: parameter vectors, the loss is over all the data rows (no row)
SPEC = QuantitySpec(_rebuild, _check_lower, rebuild_pointwise=_rebuild_pointwise,
                    aggregate="mean", witness_kind="gradient_difference_quotient",
                    witness_offsets=("offset_plus", "offset_minus"),
                    base_params=lambda net: net.params())
