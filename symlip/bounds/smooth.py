r"""Lipschitz bounds of the loss gradient (smoothness) on a parameter ball, and
certified gradient-descent step sizes.

Theorem (second order; re-derived in ``docs/theory-param.md``): if $\sigma'$ is
$K_2$-Lipschitz, then for the mean loss $L(\theta) = \frac1n\sum_i \lambda(f(x_i;\theta),
y_i)$ and all $\theta, \theta' \in B_r(\bar\theta)$,

$$ \|\nabla L(\theta) - \nabla L(\theta')\|_2 \le L_{grad}\|\theta - \theta'\|_2, \qquad
   L_{grad} = \max_i \big(H\, l_N(x_i)^2 + G(x_i)\, h_N(x_i)\big) $$

(also with the mean over $i$ in place of the max).  MSE $\lambda = \frac12\|f - y\|^2$:
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
from mpmath import iv

from symlip.bounds import recursion as rec
from symlip.bounds.centre import row_norms
from symlip.bounds.param import (
    CertifiedInputs,
    _args,
    certified_param_inputs,
    check_data,
    check_radius,
)
from symlip.errors import InputError, NotSmoothError
from symlip.intervals import Enclosure, IntervalArray, Truth, compare
from symlip.result import BoundResult

__all__ = [
    "grad_lipschitz",
    "grad_program",
    "certified_step",
    "StepResult",
    "loss_value",
    "loss_gradient",
    "loss_enclosure",
    "estimate_grad_lower",
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


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


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
    tr = net.forward_trace(X)
    f = tr.preactivations[-1]
    n = X.shape[0]
    if rec._loss_name(loss) == "mse":
        delta = (f - y) / n
    else:
        p = _softmax(f)
        p[np.arange(n), y] -= 1.0
        delta = p / n
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
    :meth:`Network.interval_forward` and mpmath interval ``exp``/``log``.
    """
    from symlip.bounds.centre import centre_norms

    if rec._loss_name(loss) == "mse":
        cn = centre_norms(net, X)
        if cn is None:
            outs = [net.interval_forward(x) for x in X]
            tot = iv.mpf(0)
            for o, yy in zip(outs, y):
                tot += sum(((e.to_interval() - iv.mpf(float(t))) ** 2
                            for e, t in zip(o, yy)), iv.mpf(0)) / 2
            return Enclosure.from_interval(tot / len(X))
        diff = cn.output - y  # rounding: |fl(a - b) - (a - b)| <= u |a - b|
        dn = row_norms(diff)
        dn = IntervalArray(np.nextafter(dn.lo * (1 - 2 * _U), -np.inf),
                           np.nextafter(dn.hi * (1 + 2 * _U), np.inf))
        e = cn.output_err
        lo = np.maximum(dn.lo - e, 0.0)
        hi = dn.hi + e
        sq = (IntervalArray(np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf))).square() * 0.5
        return _interval_mean(sq)
    tot = iv.mpf(0)
    for x, c in zip(X, y):
        o = [e.to_interval() for e in net.interval_forward(x)]
        m = max(float(e.b) for e in o)
        lse = m + iv.log(sum((iv.exp(e - m) for e in o), iv.mpf(0)))
        tot += lse - o[int(c)]
    return Enclosure.from_interval(tot / len(X))


def _interval_mean(a: IntervalArray) -> Enclosure:
    """Certified enclosure of the mean of the exact values in ``a``."""
    tot = iv.mpf(0)
    # exact summation in mpmath intervals (float endpoints are exact)
    lo = math.fsum(a.lo.tolist())  # fsum is correctly rounded
    hi = math.fsum(a.hi.tolist())
    tot = iv.mpf([np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)])
    return Enclosure.from_interval(tot / a.lo.size)


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


def _require_smooth(net: Any) -> None:
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
def grad_program(depth: int, loss: str, bounded: bool, centre: bool) -> rec.RecursiveFormula:
    """The loss program (first + second order + loss composition) named ``L_grad``
    (cached: its compiled evaluators are reused)."""
    defs, inputs = rec.loss_program(depth, loss, bounded=bounded, centre=centre)
    return rec.RecursiveFormula(defs, inputs, name="L_grad")


def _loss_inputs(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                 centre: bool | str = "auto") -> CertifiedInputs:
    ci = certified_param_inputs(net, X, r, centre=centre, smooth=True)
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


def estimate_grad_lower(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                        *, iters: int = 20, seed: int = 0) -> float:
    r"""Float estimate of $\|\nabla^2 L(\bar\theta)\|_2$ (power iteration on finite
    differences of the exact gradient), improved at $\bar\theta \pm r v$.  Not certified."""
    theta0 = net.params()
    rng = np.random.default_rng(seed)

    def hvp(th: np.ndarray, v: np.ndarray) -> np.ndarray:
        eps = 1e-5 * max(1.0, float(np.linalg.norm(th))) / max(1.0, math.sqrt(th.size))
        gp = loss_gradient(net.with_params(th + eps * v), X, y, loss)
        gm = loss_gradient(net.with_params(th - eps * v), X, y, loss)
        return (gp - gm) / (2 * eps)

    def top(th: np.ndarray) -> tuple[float, np.ndarray]:
        v = rng.standard_normal(th.size)
        v /= np.linalg.norm(v)
        lam = 0.0
        for _ in range(iters):
            w = hvp(th, v)
            lam = float(np.linalg.norm(w))
            if lam == 0:
                break
            v = w / lam
        return lam, v

    best, v = top(theta0)
    if r > 0:
        for s in (1.0, -1.0):
            best = max(best, top(theta0 + s * r * v * (1 - 1e-12))[0])
    return best


def grad_lipschitz(net: Any, data: Any, targets: Any, loss: str, radius: float, *,
                   centre: bool | str = "auto", lower: bool = True, seed: int = 0
                   ) -> BoundResult:
    r"""Certified Lipschitz constant of $\theta \mapsto \nabla_\theta L(\theta)$ on $B_r$.

    $L(\theta) = \frac1n \sum_i \lambda(f(x_i;\theta), y_i)$ (mean over the rows of
    ``data``).  Returns $L_{grad}$ with $\|\nabla L(\theta) - \nabla L(\theta')\|_2 \le
    L_{grad} \|\theta - \theta'\|_2$ for all $\theta, \theta'$ in the closed ball of
    radius ``radius`` around the network's parameters.  ``upper`` evaluates the formula
    on the hull of the per-point inputs (upper end rounded up);
    ``extra["upper_pointwise_mean"]`` is the tighter certified mean of the per-point
    bounds (used by :func:`certified_step`).

    Args:
        net: the network (smooth activations).
        data: ``(n, n0)``.
        targets: MSE: ``(n, nN)`` (or ``(n,)`` for one output); cross-entropy: class
            indices ``(n,)`` or one-hot rows.
        loss: ``"mse"`` ($\frac12\|f-y\|^2$) or ``"cross-entropy"`` (softmax).
        radius: $r \ge 0$.

    Raises:
        InputError: bad radius, data/targets shapes, NaN values, unknown loss.
        NotSmoothError: an activation with $K_2 = \infty$ (with a witness).
    """
    r = check_radius(radius)
    lname = rec._loss_name(loss)
    X = check_data(net, data)
    y = check_targets(net, X, targets, lname)
    _require_smooth(net)
    t0 = time.perf_counter()
    ci = _loss_inputs(net, X, y, lname, r, centre)
    formula = grad_program(net.depth, lname, ci.bounded, ci.centre)
    t1 = time.perf_counter()
    pointwise = formula.enclose_array(_args(formula, ci, hull=False))
    mean = _interval_mean(pointwise)
    hull_inputs = _args(formula, ci, hull=True)
    enclosure = formula.enclose(hull_inputs)
    t2 = time.perf_counter()
    est = None
    if lower:
        est = estimate_grad_lower(net, X, y, lname, r, seed=seed)
    t3 = time.perf_counter()
    deriv = rec.second_order_derivation(net.depth, loss=lname, bounded=ci.bounded,
                                        centre=ci.centre)
    extra = {
        "radius": r, "loss": lname,
        "upper_pointwise_mean": mean.upper_str(),
        "upper_pointwise_max": pointwise.upper_max().upper_str(),
        "n_points": int(X.shape[0]), "centre_norms": ci.centre,
        "spectral_method": ci.spectral_method,
        "timings": {**ci.timings, "interval_eval": t2 - t1, "lower": t3 - t2},
    }
    return BoundResult("grad_lipschitz", "l2", enclosure, formula, hull_inputs, deriv,
                       lower_enclosure=None, estimate=est, extra=extra)


def param_and_grad_lipschitz(net: Any, data: Any, targets: Any, loss: str, radius: float,
                             *, lower: bool = False, seed: int = 0
                             ) -> tuple[BoundResult, BoundResult]:
    """:func:`~symlip.bounds.param.param_lipschitz` and :func:`grad_lipschitz` sharing one
    computation of the certified inputs (norms, centre forward pass).

    Returns:
        ``(param_result, grad_result)``; ``extra["timings"]`` of the second holds the
        shared timings (constants, norms, centre forward, estimate, interval evaluation).
    """
    from symlip.bounds.param import param_lipschitz_from_inputs, param_program

    r = check_radius(radius)
    lname = rec._loss_name(loss)
    X = check_data(net, data)
    y = check_targets(net, X, targets, lname)
    _require_smooth(net)
    ci = _loss_inputs(net, X, y, lname, r)
    t0 = time.perf_counter()
    pf = param_program(net.depth, ci.bounded, ci.centre)
    gf = grad_program(net.depth, lname, ci.bounded, ci.centre)
    est_p = pf.estimate(_float_args(pf, ci))
    est_g = gf.estimate(_float_args(gf, ci))
    t1 = time.perf_counter()
    pres = param_lipschitz_from_inputs(net, X, r, ci, pf, lower=lower, seed=seed)
    gpt = gf.enclose_array(_args(gf, ci, hull=False))
    mean = _interval_mean(gpt)
    hull = _args(gf, ci, hull=True)
    genc = gf.enclose(hull)
    t2 = time.perf_counter()
    timings = {**ci.timings, "lambdified_estimate": t1 - t0, "interval_eval": t2 - t1}
    extra = {"radius": r, "loss": lname, "upper_pointwise_mean": mean.upper_str(),
             "upper_pointwise_max": gpt.upper_max().upper_str(),
             "estimate_pointwise_max_float": float(np.max(est_g)),
             "n_points": int(X.shape[0]), "centre_norms": ci.centre,
             "spectral_method": ci.spectral_method, "timings": timings}
    pres.extra["estimate_pointwise_max_float"] = float(np.max(est_p))
    deriv = rec.second_order_derivation(net.depth, loss=lname, bounded=ci.bounded,
                                        centre=ci.centre)
    gres = BoundResult("grad_lipschitz", "l2", genc, gf, hull, deriv, extra=extra)
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
        in_ball: :class:`~symlip.intervals.Truth` of ``step_norm <= radius``.
        guaranteed_decrease: $\|\hat g\|^2 / (2 L_{grad})$ rounded down; the descent lemma
            gives $L(\theta_{next}) \le L(\bar\theta) - $ this when ``in_ball`` holds (up
            to the float error of $\hat g$, of relative order $10^{-16}$).
    """

    eta: float
    L_grad: Enclosure
    grad: np.ndarray
    theta_next: np.ndarray
    step_norm: Enclosure
    in_ball: Truth
    guaranteed_decrease: float
    result: BoundResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def certified_step(net: Any, data: Any, targets: Any, loss: str, radius: float,
                   *, aggregate: str = "mean") -> StepResult:
    r"""Gradient step $\theta_+ = \bar\theta - \eta \nabla L(\bar\theta)$ with $\eta =
    1/L_{grad}$ certified on $B_r(\bar\theta)$.

    If $\|\theta_+ - \bar\theta\| \le r$, the segment lies in the ball and the descent
    lemma gives $L(\theta_+) \le L(\bar\theta) - \|\nabla L\|^2/(2L_{grad})$.

    Args:
        aggregate: ``"mean"`` (certified mean of the per-point bounds, default) or
            ``"hull"`` (the result's ``upper``).
    """
    res = grad_lipschitz(net, data, targets, loss, radius, lower=False)
    r = check_radius(radius)
    X = check_data(net, data)
    y = check_targets(net, X, targets, loss)
    if aggregate == "mean":
        from symlip.intervals import parse_decimal_enclosure

        s = res.extra["upper_pointwise_mean"]
        L = parse_decimal_enclosure(s, s)
    elif aggregate == "hull":
        L = res.enclosure
    else:
        raise InputError(f"{aggregate=} must be 'mean' or 'hull'")
    Lu = L.upper_float
    eta = float(np.nextafter(1.0 / Lu, 0.0)) if Lu > 0 else math.inf
    g = loss_gradient(net, X, y, loss)
    theta = net.params()
    theta_next = theta - eta * g
    d = theta_next - theta  # exact up to rounding, enclosed below
    dn = row_norms(d[None, :])
    # |fl(a - b) - (a - b)| <= u|a - b|
    step_norm = Enclosure.from_floats(float(np.nextafter(dn.lo[0] * (1 - 2 * _U), -np.inf)),
                                      float(np.nextafter(dn.hi[0] * (1 + 2 * _U), np.inf)))
    in_ball = compare(step_norm.to_interval(), "<=", iv.mpf(r))
    gn2 = float(np.dot(g, g))
    dec = float(np.nextafter(gn2 * (1 - (g.size + 2) * _U) / (2 * Lu), 0.0))
    return StepResult(eta, L, g, theta_next, step_norm, in_ball, max(dec, 0.0), res)


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
    return grad_lipschitz(ctx.model, ctx.data, y, ctx.options.get("loss", "mse"), r,
                          seed=int(ctx.options.get("seed", 0)))


def _rebuild(ctx: Any) -> tuple[rec.RecursiveFormula, dict[str, Enclosure]]:
    r = check_radius(ctx.options.get("radius"))
    lname = rec._loss_name(ctx.options.get("loss", "mse"))
    X = check_data(ctx.model, ctx.data)
    y = check_targets(ctx.model, X, ctx.extra.get("targets"), lname)
    _require_smooth(ctx.model)
    ci = _loss_inputs(ctx.model, X, y, lname, r)
    formula = grad_program(ctx.model.depth, lname, ci.bounded, ci.centre)
    return formula, _args(formula, ci, hull=True)


def _register() -> None:
    from symlip.certificate import QuantitySpec, register_quantity

    register_quantity(QuantitySpec("grad_lipschitz", _rebuild, None))


_register()
