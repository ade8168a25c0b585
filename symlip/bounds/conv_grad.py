r"""Gradient-Lipschitz (smoothness) bound of networks with convolution layers, in the
kernel view: the parameters are the kernels and biases (:func:`~symlip.bounds.conv_param.
kernel_params`), not the entries of the explicit matrices.

Theorem (``docs/theory-conv.md``, Lemma C3): for the mean loss
$L(\theta) = \frac1n\sum_i\lambda(f(x_i;\theta), y_i)$ and all $\theta, \theta'$ in the
closed kernel-view ball $B_r(\bar\theta)$,
$\|\nabla_\theta L(\theta) - \nabla_\theta L(\theta')\|_2 \le \frac1n\sum_i B(x_i)\,
\|\theta - \theta'\|_2$, where $B$ is the second-order loss program of
:func:`symlip.bounds.recursion.loss_program` with, for each convolution layer $k$,

$$ m_k = \sqrt{\pi_k c_{k-1}^2 + P_k + \rho_k^2 l_{k-1}^2}, \qquad
   g_k = \tfrac12\big(w_k + \sqrt{w_k^2 + 4\pi_k l_{k-1}^2}\big) $$

(and $\mu_1 = \sqrt{c_0^2 + 1}$ when layer 1 is a convolution), $\pi_k$ the patch count
(Lemma C1), $P_k$ the number of output positions,
$\rho_k \ge \|M_{\bar K_k}\| + \sqrt{\pi_k}\,r$, $\beta_k \ge \|\bar b_k\otimes 1\| +
\sqrt{P_k}\,r$; the row and column norms $\omega_k, \kappa_k$ of the explicit matrix
grow by at most $r$ on the ball (a kernel entry occurs at most once in a row and in a
column of $M_K$).  Only the three places where the dense proof writes
$\|\Delta W\,v\| \le \|\Delta W\|_F\|v\|$ change; everything else (activation bounds,
loss composition, centre activation norms, and the centre-Jacobian options with the
kernel-view Jacobian norms of :func:`kernel_centre_jacobians`) is the dense program's.
The brute-force
route $\nabla_K = A^T\nabla_W$, with $A$ the kernel-to-matrix map
($\|A\|^2$ = the largest multiplicity of a kernel entry, up to $P_k$), would multiply
the whole dense bound by $\max_k P_k$ and the radius by $\sqrt{\max_k P_k}$ (Lemma C2).

The certified lower end is the interval difference quotient of the exact kernel-view
gradient $A^T\nabla_W L$ (:func:`interval_loss_gradient` on the explicit matrices, then
$A^T$ as outward-rounded sums) at two kernel-parameter vectors of the ball.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp
from mpmath import iv

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure, UnsupportedOperation
from symlip.bounds import recursion as rec
from symlip.bounds.conv_param import (
    kernel_params,
    uses_kernel_view,
    with_kernel_params,
)
from symlip.bounds.registry import QuantitySpec
from symlip.bounds.result import BoundResult
from symlip.errors import InputError
from symlip.models.conv import ConvLayer, _indices, patch_count
from symlip.models.network import Network
from symlip.symbolic.symbols import conv_pi, positions

__all__ = ["conv_grad_lipschitz", "conv_grad_program", "kernel_centre_jacobians",
           "kernel_loss_gradient", "kernel_adjoint_index", "conv_grad_quotient"]


# ----------------------------------------------------------------------------------
# the program
# ----------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def conv_grad_program(convs: tuple[bool, ...], loss: str, bounded: bool, centre: bool,
                      jac: bool = False) -> rec.RecursiveFormula:
    """The loss program of :func:`symlip.bounds.recursion.loss_program` with the
    definitions of $m_k$, $g_k$ (and $h_1$) of every convolution layer replaced by Lemma
    C3's, named ``L_grad_conv``; ``jac``: with the centre-Jacobian options, whose inputs
    are then kernel-view Jacobian norms (:func:`kernel_centre_jacobians`)."""
    depth = len(convs)
    defs, inputs = rec.loss_program(depth, loss, bounded=bounded, centre=centre, jac=jac)
    repl: dict[sp.Symbol, rec.Definition] = {}
    extra: list[sp.Symbol] = []
    for k, conv in enumerate(convs, start=1):
        if not conv:
            continue
        pi, pos = conv_pi(k), positions(k)
        extra += [pi, pos]
        prev_l: sp.Expr = rec.l(k - 1) if k > 1 else sp.Integer(0)
        m_opts = [rec._sqrt(pi * rec.c(k - 1) ** 2 + pos + rec.rho(k) ** 2 * prev_l ** 2)]
        if jac and k > 1:
            m_opts.append(rec.jz(k) + rec.g(k) * rec.R)
        repl[rec.m(k)] = rec.Definition(
            rec.m(k), rec._min(m_opts),
            "Lemma C1: $\\|\\Delta K * a\\| \\le \\sqrt{\\pi_k}\\|\\Delta K\\|_F\\|a\\|$, "
            "$\\|\\Delta b\\otimes 1\\| = \\sqrt{P_k}\\|\\Delta b\\|$; Cauchy-Schwarz over "
            "the blocks $\\theta_k$, $\\theta_{<k}$"
            + ("; or the centre Jacobian plus $g_k r$" if jac and k > 1 else ""))
        w: sp.Expr = rec.wk(k) if k > 1 else sp.Integer(0)
        repl[rec.g(k)] = rec.Definition(
            rec.g(k), (w + rec._sqrt(w ** 2 + 4 * pi * prev_l ** 2)) / 2,
            "Lemma C3: $\\|U_k * Da_{k-1}[v]\\| \\le \\sqrt{\\pi_k}\\|U_k\\|_F l_{k-1}"
            "\\|v\\|$; spectral norm of $[[0, \\sqrt{\\pi_k} l_{k-1}], [\\sqrt{\\pi_k} "
            "l_{k-1}, w_k]]$")
        if k == 1 and depth > 1:
            repl[rec.h(1)] = rec.Definition(
                rec.h(1), rec.K2 * rec._sqrt(rec.c(0) ** 2 + 1) * rec.m(1) + rec.K1 * rec.g(1),
                "product rule; one row of $Dz_1$ reads one patch: "
                "$\\mu_1 = \\sqrt{c_0^2 + 1}$")
    out = [repl.get(d.symbol, d) for d in defs]
    return rec.RecursiveFormula(out, rec._dedup(list(inputs) + extra), name="L_grad_conv")


def _convs(net: Network) -> tuple[bool, ...]:
    return tuple(isinstance(lay, ConvLayer) for lay in net.layers)


def _inputs(net: Network, X: np.ndarray, y: np.ndarray, lname: str, r: float) -> Any:
    """The dense program's certified inputs (:func:`symlip.bounds.smooth._loss_inputs`,
    its centre Jacobians replaced by the kernel-view ones of
    :func:`kernel_centre_jacobians` within the same budget) with $\\rho_k$, $\\beta_k$
    of the convolution layers replaced by their kernel-ball values and $\\pi_k$, $P_k$
    added."""
    from symlip.bounds.centre import (
        JACOBIAN_ELEMENT_BUDGET,
        JACOBIAN_POINT_BUDGET,
        row_norms,
        spectral_upper,
    )
    from symlip.bounds.smooth import _loss_inputs

    ci = _loss_inputs(net, X, y, lname, r, jac=False)
    # the dense rule of symlip.bounds.smooth, with the kernel-view Jacobian sizes
    cost, n_par = 0, 0
    for lay in net.layers:
        n_par += lay.n_kernel_params if isinstance(lay, ConvLayer) else lay.n_params
        cost += lay.shape[0] * n_par
    if net.depth > 1 and X.shape[0] <= JACOBIAN_POINT_BUDGET and \
            X.shape[0] * cost <= JACOBIAN_ELEMENT_BUDGET:
        t0 = time.perf_counter()
        ci.add_jacobians(lambda: kernel_centre_jacobians(net, X))
        ci.timings["centre_jacobians"] = time.perf_counter() - t0
    for k, lay in enumerate(net.layers, start=1):
        if not isinstance(lay, ConvLayer):
            continue
        pi = patch_count(lay.geometry)
        npos = int(np.prod(lay.geometry.out_hw))
        s, _ = spectral_upper(lay.weight)
        bn = row_norms(lay.bias[None, :])
        ci.scalars[f"pi_{k}"] = Enclosure.point(pi)
        ci.scalars[f"P_{k}"] = Enclosure.point(npos)
        ci.scalars[f"rho_{k}"] = Enclosure.from_interval(
            s.to_interval() + iv.sqrt(iv.mpf(pi)) * iv.mpf(r))
        ci.scalars[f"beta_{k}"] = Enclosure.from_interval(
            iv.mpf([float(bn.lo[0]), float(bn.hi[0])]) + iv.sqrt(iv.mpf(npos)) * iv.mpf(r))
    return ci


def _own_block(lay: Any, am: np.ndarray, ar: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Midpoint, radius and bias columns of $D_{\\theta_k} z_k$ (the layer's own
    parameters) for an input enclosure ``am`` $\\pm$ ``ar``: $I \\otimes a^T$ and $I$ for a
    dense layer; for a convolution, row $(o, \\text{pos})$ holds the patch of ``pos`` in
    the columns of kernel $o$ (exact copies of the input's midpoints and radii) and a 1
    in the column of $b_o$."""
    if not isinstance(lay, ConvLayer):
        nk = lay.shape[0]
        eye = np.eye(nk)
        return np.kron(eye, am[None, :]), np.kron(eye, ar[None, :]), eye
    from symlip.models.conv import _patches

    geom = lay.geometry
    o_ch, g = geom.out_channels, geom.groups
    og = o_ch // g
    npos = int(np.prod(geom.out_hw))
    pm = _patches(am.reshape(1, *geom.in_shape), geom)[0]  # (g, T, P)
    pr = _patches(ar.reshape(1, *geom.in_shape), geom)[0]
    t = pm.shape[1]
    zm = np.zeros((o_ch, npos, o_ch, t))
    zr = np.zeros((o_ch, npos, o_ch, t))
    for o in range(o_ch):
        zm[o, :, o, :] = pm[o // og].T
        zr[o, :, o, :] = pr[o // og].T
    bias = np.kron(np.eye(o_ch), np.ones((npos, 1)))
    return zm.reshape(o_ch * npos, -1), zr.reshape(o_ch * npos, -1), bias


def kernel_centre_jacobians(net: Network, X: np.ndarray) -> dict[str, IntervalArray]:
    r"""Per data point, certified upper bounds of the kernel-view centre Jacobian norms
    $J^z_k \ge \|D_\theta z_k(\bar\theta; x)\|_2$ ($k \ge 2$), $J^r_k$ (largest row,
    $2 \le k < N$) and $J^a_k \ge \|D_\theta a_k\|_2$ ($k < N$), $\theta$ the kernels and
    biases: :func:`symlip.bounds.centre.centre_jacobians` with the own-parameter block of
    a convolution layer built from its patches (:func:`_own_block`) instead of
    $I\otimes a^T$.  Midpoint-radius interval arithmetic on the enclosures of
    :func:`~symlip.bounds.centre.interval_trace`; the midpoint's spectral norm certified,
    the radius adding its Frobenius norm."""
    from symlip.arith.linalg import midrad_matmul, midrad_row_scale, to_midrad, up
    from symlip.bounds.centre import _interval_norm2_upper, interval_trace, row_norms

    tr = interval_trace(net, X)
    n = net.depth
    out: dict[str, list[float]] = {}
    for i in range(X.shape[0]):
        dm = np.zeros((net.widths[0], 0))
        dr = np.zeros((net.widths[0], 0))
        for k in range(1, n + 1):
            lay = net.layers[k - 1]
            pm, pr = midrad_matmul(lay.weight, None, dm, dr)
            a = tr.inputs[k - 1][i]
            am, ar = to_midrad(IntervalArray(a.lo[None, :], a.hi[None, :]))
            om, orad, bias = _own_block(lay, am[0], ar[0])
            zm = np.concatenate([pm, om, bias], axis=1)
            zr = np.concatenate([pr, orad, np.zeros_like(bias)], axis=1)
            if k >= 2:
                out.setdefault(f"Jz_{k}", []).append(_interval_norm2_upper(zm, zr))
            if k == n:
                break
            if k >= 2:
                rows = row_norms(up(np.abs(zm) + zr))
                out.setdefault(f"Jr_{k}", []).append(float(np.max(rows.hi)))
            d = tr.dsigma[k - 1][i]
            dm, dr = midrad_row_scale(zm, zr, IntervalArray(d.lo, d.hi))
            out.setdefault(f"Ja_{k}", []).append(_interval_norm2_upper(dm, dr))
    return {key: IntervalArray(np.zeros(len(v)), np.asarray(v, dtype=np.float64))
            for key, v in out.items()}


# ----------------------------------------------------------------------------------
# the kernel-view gradient: A^T applied to the dense gradient
# ----------------------------------------------------------------------------------


def kernel_adjoint_index(net: Network) -> tuple[np.ndarray, int]:
    r"""``(idx, n_kernel)``: entry $j$ of :meth:`Network.params` (the explicit matrices
    and repeated biases) is the kernel-view parameter ``idx[j]``, or a structural zero
    of a convolution matrix (``idx[j] = -1``).  So $A^Tg$ is ``bincount(idx, g)``."""
    parts, base = [], 0
    for lay in net.layers:
        if isinstance(lay, ConvLayer):
            geom = lay.geometry
            w = np.full(lay.weight.size, -1, dtype=np.intp)
            rows, cols, taps = _indices(geom)
            w[rows * geom.n_in + cols] = base + taps
            npos = int(np.prod(geom.out_hw))
            b = base + lay.kernel.size + np.repeat(np.arange(geom.out_channels), npos)
            parts += [w, b]
            base += lay.kernel.size + lay.kernel_bias.size
        else:
            parts.append(base + np.arange(lay.weight.size + lay.bias.size))
            base += lay.weight.size + lay.bias.size
    return np.concatenate(parts), base


def kernel_loss_gradient(net: Network, X: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """$\\nabla_\\theta L$ in the kernel view, $A^T\\nabla_W L$ (float64, not certified)."""
    from symlip.bounds.smooth import loss_gradient

    idx, n = kernel_adjoint_index(net)
    g = loss_gradient(net, X, y, loss)
    keep = idx >= 0
    return np.bincount(idx[keep], weights=g[keep], minlength=n)


def _adjoint_enclosure(d: IntervalArray, idx: np.ndarray, n: int) -> IntervalArray:
    r"""Outward-rounded enclosure of $A^Td$ for every $d$ in the interval vector ``d``.

    Each kernel entry is a float sum (``bincount``, any order) of at most $m$ interval
    endpoints: $|fl(\sum x_i) - \sum x_i| \le \gamma_{m-1}\sum|x_i|$ and the float
    $\hat s = fl(\sum|x_i|) \ge (1 - \gamma_{m-1})\sum|x_i|$, so the error is at most
    $\frac{\gamma_{m-1}}{1-\gamma_{m-1}}\hat s \le 2mu\,\hat s$ (for $2mu \le 1/2$);
    sums are exact in the subnormal range, and the last subtraction/addition is rounded
    outward by one ulp."""
    keep = idx >= 0
    i = idx[keep]
    lo, hi = d.lo[keep], d.hi[keep]
    m = int(np.bincount(i, minlength=n).max()) if i.size else 1
    c = 2.0 * max(m, 1) * 2.0**-53
    if 2 * c > 0.5:  # pragma: no cover - 2^50 terms
        raise InputError(f"{m} terms are too many for the summation error bound")
    s_lo = np.bincount(i, weights=lo, minlength=n)
    s_hi = np.bincount(i, weights=hi, minlength=n)
    a = np.bincount(i, weights=np.maximum(np.abs(lo), np.abs(hi)), minlength=n)
    e = np.nextafter(a * c, np.inf)
    e = np.nextafter(e * (1 + 2.0**-50), np.inf)  # the rounding of a * c and of the sum
    return IntervalArray(np.nextafter(s_lo - e, -np.inf), np.nextafter(s_hi + e, np.inf))


# ----------------------------------------------------------------------------------
# lower bound: a certified gradient difference quotient in the kernel ball
# ----------------------------------------------------------------------------------


def conv_grad_quotient(net: Network, X: np.ndarray, y: np.ndarray, loss: str,
                       wit: Mapping[str, Any], r: float) -> Enclosure:
    r"""Certified enclosure of $\|\nabla L(\theta_+) - \nabla L(\theta_-)\|/\|\theta_+ -
    \theta_-\|$ (kernel view) for the witness' two points $\theta_\pm = \bar\theta +$
    offsets at ``indices``; both are checked to lie in $B_r(\bar\theta)$ in interval
    arithmetic (:class:`WitnessOutsideError` otherwise)."""
    from symlip.bounds.smooth import _norm_enclosure, interval_loss_gradient, witness_points

    keep, tp, tm = witness_points(wit, kernel_params(net), r, "kernel-view parameter ball")
    den = _norm_enclosure(IntervalArray(tp[keep]) - IntervalArray(tm[keep]))
    if not den.lower > 0:
        return Enclosure.point(0)
    idx, n = kernel_adjoint_index(net)
    d = (interval_loss_gradient(with_kernel_params(net, tp), X, y, loss)
         - interval_loss_gradient(with_kernel_params(net, tm), X, y, loss))
    num = _norm_enclosure(_adjoint_enclosure(d, idx, n))
    return Enclosure.from_interval(num.to_interval() / den.to_interval())


def _search(net: Network, X: np.ndarray, y: np.ndarray, loss: str, r: float,
            iters: int = 40, seed: int = 0) -> tuple[float, np.ndarray, np.ndarray]:
    """Power iteration for the kernel-view Hessian norm (Hessian-vector products by
    central differences of :func:`kernel_loss_gradient`) at $\\bar\\theta$ and at
    $\\bar\\theta \\pm rv$; float64, not certified.  Returns (value, offset, vector)."""
    theta0 = kernel_params(net)
    rng = np.random.default_rng(seed)

    def hvp(th: np.ndarray, v: np.ndarray) -> np.ndarray:
        eps = 1e-5 * max(1.0, float(np.linalg.norm(th))) / max(1.0, math.sqrt(th.size))
        gp = kernel_loss_gradient(with_kernel_params(net, th + eps * v), X, y, loss)
        gm = kernel_loss_gradient(with_kernel_params(net, th - eps * v), X, y, loss)
        return (gp - gm) / (2 * eps)

    def top(th: np.ndarray, v: np.ndarray) -> tuple[float, np.ndarray]:
        v = v / np.linalg.norm(v)
        lam = 0.0
        for _ in range(iters):
            w = hvp(th, v)
            new = float(np.linalg.norm(w))
            if new == 0:
                break
            v = w / new
            done = abs(new - lam) <= 1e-7 * new
            lam = new
            if done:
                break
        return lam, v

    best, v = top(theta0, rng.standard_normal(theta0.size))
    best_off, best_v = np.zeros_like(theta0), v
    if r > 0:
        for s in (1.0, -1.0):
            off = s * r * v * (1 - 1e-12)
            val, w = top(theta0 + off, v)
            if val > best:
                best, best_off, best_v = val, off, w
    return best, best_off, best_v


def _certify_lower(net: Network, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                   offset: np.ndarray, direction: np.ndarray
                   ) -> tuple[Enclosure, dict[str, Any]]:
    """Two points $\\bar\\theta + c \\pm tu$ ($u$ the unit direction, $c$ the offset
    shrunk so that $\\|c\\| + t \\le r$), their certified quotient and the witness."""
    u = direction / np.linalg.norm(direction)
    theta0 = kernel_params(net)
    tt = min(r / 8, 1e-4 * max(1.0, float(np.max(np.abs(theta0)))))
    c = np.asarray(offset, dtype=np.float64)
    room = (r - tt) * (1 - 1e-9)
    if np.linalg.norm(c) > room:
        c = c * (room / np.linalg.norm(c))
    wit = {"kind": "gradient_difference_quotient", "indices": list(range(theta0.size)),
           "offset_plus": (c + tt * u).tolist(), "offset_minus": (c - tt * u).tolist()}
    return conv_grad_quotient(net, X, y, loss, wit, r), wit


# ----------------------------------------------------------------------------------
# the entry point
# ----------------------------------------------------------------------------------


def conv_grad_lipschitz(net: Network, data: Any, targets: Any, loss: str, radius: float, *,
                        lower: bool = True, seed: int = 0) -> BoundResult:
    r"""Certified Lipschitz constant of $\theta \mapsto \nabla_\theta L$ on the kernel-view
    ball $B_r(\bar\theta)$ of a network with convolution layers (module docstring;
    ``docs/theory-conv.md`` Lemma C3).  ``upper`` is the certified mean of the per-point
    bounds (``extra["aggregate"] == "mean"``); the lower end is a certified gradient
    difference quotient (:func:`conv_grad_quotient`).

    Raises:
        InputError: bad radius, data, targets; layers whose matrix entries are not
            parameters (pools, folded scales).
        NotSmoothError: an activation with $K_2 = \infty$ (with a witness).
    """
    from symlip.bounds.checks import check_radius
    from symlip.bounds.param_core import _args, check_data
    from symlip.bounds.smooth import _mean_step, _require_smooth, check_targets

    uses_kernel_view(net)
    r = check_radius(radius)
    lname = rec._loss_name(loss)
    X = check_data(net, data)
    y = check_targets(net, X, targets, lname)
    _require_smooth(net, kernel_view=True)
    t0 = time.perf_counter()
    ci = _inputs(net, X, y, lname, r)
    formula = conv_grad_program(_convs(net), lname, ci.bounded, ci.centre, ci.jac)
    t1 = time.perf_counter()
    pointwise = formula.enclose_array(_args(formula, ci, hull=False))
    mean = pointwise.mean()
    hull_inputs = _args(formula, ci, hull=True)
    hull = formula.enclose(hull_inputs)
    t2 = time.perf_counter()
    est, low, witness = None, None, None
    if lower:
        est, off, v = _search(net, X, y, lname, r, seed=seed)
        if r > 0 and np.linalg.norm(v) > 0:
            try:
                low, witness = _certify_lower(net, X, y, lname, r, off, v)
                est = max(est, low.lower_float)
            except (ValueError, UnsupportedOperation):
                low, witness = None, None  # no rigorous kernel for this activation
    t3 = time.perf_counter()
    deriv = rec.program_derivation(formula.definitions, formula.inputs,
                                   f"Gradient recursion with convolutions (kernel view), "
                                   f"N = {net.depth}")
    _mean_step(deriv)
    extra = {"radius": r, "loss": lname, "aggregate": "mean", "method": "recursion",
             "parameter_view": "kernel", "parameters": int(kernel_params(net).size),
             "upper_hull": hull.upper_str(), "upper_pointwise_mean": mean.upper_str(),
             "upper_pointwise_max": pointwise.upper_max().upper_str(),
             "n_points": int(X.shape[0]), "centre_norms": ci.centre,
             "centre_jacobians": ci.jac,
             "timings": {**ci.timings, "inputs": t1 - t0, "interval_eval": t2 - t1,
                         "lower": t3 - t2}}
    return BoundResult("grad_lipschitz_conv", "l2", mean, formula, hull_inputs, deriv,
                       lower_enclosure=low, estimate=est, extra=extra, witness=witness)


# ----------------------------------------------------------------------------------
# certificates
# ----------------------------------------------------------------------------------


def certify_context(ctx: Any) -> BoundResult:
    """CLI handler of ``symlip certify --wrt gradient`` for networks with convolution
    layers (the registry routes them here)."""
    r = ctx.options.get("radius")
    if r is None:
        raise InputError("--wrt gradient needs --radius R (the radius of the parameter ball)")
    y = ctx.extra.get("targets")
    if y is None:
        raise InputError("--wrt gradient needs --targets Y.npy")
    return conv_grad_lipschitz(ctx.model, ctx.data, y, ctx.options.get("loss", "mse"), r,
                               seed=int(ctx.options.get("seed", 0)))


def _context(ctx: Any) -> tuple[Network, np.ndarray, np.ndarray, str, float]:
    from symlip.bounds.checks import check_radius
    from symlip.bounds.param_core import check_data
    from symlip.bounds.smooth import check_targets

    if not uses_kernel_view(ctx.model):
        raise InputError("a grad_lipschitz_conv certificate needs a network with "
                         "convolution layers")
    r = check_radius(ctx.options.get("radius"))
    lname = rec._loss_name(ctx.options.get("loss", "mse"))
    X = check_data(ctx.model, ctx.data)
    return ctx.model, X, check_targets(ctx.model, X, ctx.extra.get("targets"), lname), lname, r


def _rebuild_inputs(ctx: Any, hull: bool) -> tuple[rec.RecursiveFormula, dict[str, Any]]:
    from symlip.bounds.param_core import _args
    from symlip.bounds.smooth import _require_smooth

    net, X, y, lname, r = _context(ctx)
    _require_smooth(net, kernel_view=True)
    ci = _inputs(net, X, y, lname, r)
    formula = conv_grad_program(_convs(net), lname, ci.bounded, ci.centre, ci.jac)
    return formula, _args(formula, ci, hull=hull)


def _check_lower(ctx: Any, witness: Mapping[str, Any]) -> Enclosure:
    net, X, y, lname, r = _context(ctx)
    return conv_grad_quotient(net, X, y, lname, witness, r)


#: how ``verify`` re-checks a ``grad_lipschitz_conv`` certificate: the witness is two
#: kernel-view parameter vectors, written canonically as offsets from the kernel-view
#: parameters; the loss is over all the data rows (no row)
SPEC = QuantitySpec(lambda ctx: _rebuild_inputs(ctx, True), _check_lower,
                    rebuild_pointwise=lambda ctx: _rebuild_inputs(ctx, False),
                    aggregate="mean", witness_kind="gradient_difference_quotient",
                    witness_offsets=("offset_plus", "offset_minus"), base_params=kernel_params)
