r"""Parameter-Lipschitz bound of networks with convolution layers (the kernel view).

The parameters of a :class:`~symlip.models.conv.ConvLayer` are its kernel $K$ and its
per-channel bias $b$ (not the entries of the explicit matrix); $\theta$ is, layer by
layer, the kernel (row-major ``(O, C/groups, kh, kw)``) and bias of a convolution, or
the weight and bias of a dense layer (the PyTorch state-dict order).

Theorem (``docs/theory-conv.md``, section 2, Lemma C1): for $\theta, \theta'$ in the ball
$B_r(\bar\theta)$ and every data point $x$,
$\|f(x;\theta) - f(x;\theta')\|_2 \le l_N(x)\,\|\theta - \theta'\|_2$ with the program

$$ m_k = \sqrt{\pi_k c_{k-1}^2 + P_k + \rho_k^2 l_{k-1}^2}, \quad
   l_k = K_1 m_k \ (\text{activated}) \text{ or } m_k \ (\text{linear}), $$
$$ c_k = \min\big(K_1(\rho_k c_{k-1} + \beta_k) + \sqrt{n_k}\,s_0,\ \sqrt{n_k}\,S_0\big)
   \ (\text{activated}), \qquad c_k = \rho_k c_{k-1} + \beta_k \ (\text{linear}), $$

$c_0 = \|x\|$, where a convolution layer has $\pi_k$ = its patch count
(:func:`~symlip.models.conv.patch_count`), $P_k$ = its number of output positions,
$\rho_k \ge \|M_{\bar K_k}\|_2 + \sqrt{\pi_k}\,r \ge \sup_{B_r}\|M_{K_k}\|_2$ and
$\beta_k \ge \|\bar b_k\otimes\mathbf 1\| + \sqrt{P_k}\,r$; a dense layer has
$\pi_k = P_k = 1$ (the dense recursion of :mod:`symlip.bounds.recursion`, without its
centre options).  Proof: $\|z_k(\theta) - z_k(\theta')\| \le \|\Delta K_k * a_{k-1}\|
+ \sqrt{P_k}\|\Delta b_k\| + \|M_{K'_k}\|\,\|a_{k-1} - a'_{k-1}\| \le
\sqrt{\pi_k}\|\Delta K_k\|_F c_{k-1} + \sqrt{P_k}\|\Delta b_k\| + \rho_k l_{k-1}
\|\Delta_{<k}\|$ (the lemma), then Cauchy-Schwarz as in the dense case.
Every input is a certified enclosure; the program is evaluated in outward-rounded
interval arithmetic.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp
from mpmath import iv

from symlip.arith.enclosure import Enclosure
from symlip.bounds import recursion as rec
from symlip.bounds.registry import QuantitySpec
from symlip.bounds.result import BoundResult
from symlip.errors import InputError, WitnessOutsideError
from symlip.models.conv import ConvLayer, _patches, patch_count
from symlip.models.network import Network
from symlip.symbolic.symbols import conv_pi, positions

__all__ = ["conv_param_lipschitz", "conv_param_program", "kernel_params",
           "with_kernel_params", "uses_kernel_view", "kernel_jacobian"]


def uses_kernel_view(net: Any) -> bool:
    """True if ``net`` has convolution layers and every layer an importer marked as
    derived (``net.derived_layers``) is one of them; raises :class:`InputError` naming
    a layer whose matrix entries are not parameters for another reason (a pool, a
    folded scale)."""
    if not hasattr(net, "layers"):  # a controlled ODE, ...: no layers, no kernels
        return False
    convs = {lay.name for lay in net.layers if isinstance(lay, ConvLayer)}
    other = {n: why for n, why in (getattr(net, "derived_layers", None) or {}).items()
             if n not in convs}
    if other:
        name, why = next(iter(sorted(other.items())))
        raise InputError(f"the parameter bound is not available for this network: layer "
                         f"{name!r} is {why}, so its matrix entries are not independent "
                         f"parameters (layers {sorted(other)}); --wrt input is")
    return bool(convs)


def _kinds(net: Network) -> list[tuple[bool, str]]:
    """Per layer: (is a convolution, "dense" | "linear" | "readout")."""
    out = []
    for k, lay in enumerate(net.layers):
        if k == net.depth - 1:
            kind = "readout"
        else:
            kind = "linear" if getattr(net.activations[k], "name", "") == "identity" else "dense"
        out.append((isinstance(lay, ConvLayer), kind))
    return out


def conv_param_program(kinds: tuple[tuple[bool, str], ...], bounded: bool
                       ) -> rec.RecursiveFormula:
    """The program of the module docstring as a formula named ``L_param_conv``."""
    defs: list[rec.Definition] = []
    inputs: list[sp.Symbol] = [rec.R, rec.c(0)]
    if any(kd == "dense" for _, kd in kinds):
        inputs += [rec.K1, rec.s0] + ([rec.S0] if bounded else [])
    prev_l: sp.Expr = sp.Integer(0)
    for k, (conv, kind) in enumerate(kinds, start=1):
        rho, beta, cp = rec.rho(k), rec.beta(k), rec.c(k - 1)
        inputs += [rho, beta]
        if conv:
            inputs += [conv_pi(k), positions(k)]
            m_expr = sp.sqrt(conv_pi(k) * cp ** 2 + positions(k) + rho ** 2 * prev_l ** 2)
            why = ("$\\|\\Delta K * a\\| \\le \\sqrt{\\pi_k}\\|\\Delta K\\|_F\\|a\\|$ (patch "
                   "count), $\\|\\Delta b \\otimes 1\\| = \\sqrt{P_k}\\|\\Delta b\\|$, "
                   "Cauchy-Schwarz")
        else:
            m_expr = sp.sqrt(cp ** 2 + 1 + rho ** 2 * prev_l ** 2)
            why = "$\\|\\Delta W a + \\Delta b\\| \\le \\sqrt{\\|a\\|^2+1}\\|(\\Delta W, "\
                  "\\Delta b)\\|_F$, Cauchy-Schwarz"
        defs.append(rec.Definition(rec.m(k), m_expr, why))
        if kind == "dense":
            inputs.append(rec.width(k))
            defs.append(rec.Definition(rec.l(k), rec.K1 * rec.m(k), "$\\sigma$ is $K_1$-Lipschitz"))
            opts = [rec.K1 * (rho * cp + beta) + sp.sqrt(rec.width(k)) * rec.s0]
            if bounded:
                opts.append(sp.sqrt(rec.width(k)) * rec.S0)
            c_expr = opts[0] if len(opts) == 1 else sp.Min(*opts, evaluate=False)
            defs.append(rec.Definition(rec.c(k), c_expr, "norm of the activations on the ball"))
        elif kind == "linear":
            defs.append(rec.Definition(rec.l(k), rec.m(k), "linear layer (identity activation)"))
            defs.append(rec.Definition(rec.c(k), rho * cp + beta, "norm after the linear layer"))
        else:
            defs.append(rec.Definition(rec.l(k), rec.m(k), "linear read-out"))
        prev_l = rec.l(k)
    seen: list[sp.Symbol] = []
    for s in inputs:
        if s not in seen:
            seen.append(s)
    return rec.RecursiveFormula(defs, seen, name="L_param_conv")


def kernel_params(net: Network) -> np.ndarray:
    """$\\theta$ in the kernel view (see the module docstring)."""
    parts = []
    for lay in net.layers:
        if isinstance(lay, ConvLayer):
            parts += [lay.kernel.ravel(), lay.kernel_bias]
        else:
            parts += [lay.weight.ravel(), lay.bias]
    return np.concatenate(parts)


def with_kernel_params(net: Network, theta: np.ndarray) -> Network:
    """The network with kernel-view parameters ``theta`` (same geometry, activations)."""
    from symlip.models.network import DenseLayer

    theta = np.asarray(theta, float)
    layers, pos = [], 0
    for lay in net.layers:
        if isinstance(lay, ConvLayer):
            nk, nb = lay.kernel.size, lay.kernel_bias.size
            k = theta[pos:pos + nk].reshape(lay.kernel.shape)
            b = theta[pos + nk:pos + nk + nb]
            layers.append(ConvLayer.from_kernel(k, b, lay.geometry, lay.name))
        else:
            nk, nb = lay.weight.size, lay.bias.size
            layers.append(DenseLayer(theta[pos:pos + nk].reshape(lay.weight.shape),
                                     theta[pos + nk:pos + nk + nb], lay.name))
        pos += nk + nb
    if pos != theta.size:
        raise InputError(f"theta has {theta.size} entries, expected {pos}")
    return Network(layers, list(net.activations) or None)


def _certified_inputs(net: Network, X: np.ndarray, r: float
                      ) -> tuple[dict[str, Enclosure], Any, bool]:
    from symlip.bounds.centre import row_norms, spectral_upper
    from symlip.bounds.param_core import activation_scalars

    acts = [a for a in net.activations if getattr(a, "name", "") != "identity"]
    scalars, bounded = activation_scalars(acts, r)
    for k, lay in enumerate(net.layers, start=1):
        s, _ = spectral_upper(lay.weight)
        bn = row_norms(lay.bias[None, :])
        if isinstance(lay, ConvLayer):
            pi = patch_count(lay.geometry)
            npos = int(np.prod(lay.geometry.out_hw))
            scalars[f"pi_{k}"] = Enclosure.point(pi)
            scalars[f"P_{k}"] = Enclosure.point(npos)
            rho = s.to_interval() + iv.sqrt(iv.mpf(pi)) * iv.mpf(r)
            beta = iv.mpf([float(bn.lo[0]), float(bn.hi[0])]) + iv.sqrt(iv.mpf(npos)) * iv.mpf(r)
        else:
            rho = s.to_interval() + iv.mpf(r)
            beta = iv.mpf([float(bn.lo[0]), float(bn.hi[0])]) + iv.mpf(r)
        scalars[f"rho_{k}"] = Enclosure.from_interval(rho)
        scalars[f"beta_{k}"] = Enclosure.from_interval(beta)
        if k < net.depth:
            scalars[f"n_{k}"] = Enclosure.point(lay.shape[0])
    return scalars, row_norms(X), bounded


def _evaluate(net: Network, X: np.ndarray, r: float
              ) -> tuple[rec.RecursiveFormula, dict[str, Enclosure], Enclosure, Any]:
    scalars, c0, bounded = _certified_inputs(net, X, r)
    formula = conv_param_program(tuple(_kinds(net)), bounded)
    hull = dict(scalars)
    hull["c_0"] = Enclosure.from_floats(float(np.min(c0.lo)), float(np.max(c0.hi)))
    vals = {str(s): hull[str(s)] for s in formula.inputs}
    enclosure = formula.enclose(vals)
    pw = {str(s): (c0 if str(s) == "c_0" else scalars[str(s)]) for s in formula.inputs}
    pointwise = formula.enclose_array(pw)
    return formula, vals, enclosure, pointwise


# ----------------------------------------------------------------------------------
# lower bounds: the kernel-view Jacobian and a certified difference quotient
# ----------------------------------------------------------------------------------


def kernel_jacobian(net: Network, x: np.ndarray) -> np.ndarray:
    r"""$\partial f(x;\theta)/\partial\theta$ in the kernel view, ``(n_N, n_params)``
    (float64, not certified): backpropagation $\delta_k = \partial f/\partial z_k$, then
    $\partial f/\partial K = \sum_{\text{positions}} \delta \otimes \text{patch}$."""
    tr = net.forward_trace(np.asarray(x, float)[None])
    n_out = net.widths[-1]
    g = np.eye(n_out)
    blocks: list[Any] = [None] * net.depth
    for k in range(net.depth - 1, -1, -1):
        lay = net.layers[k]
        delta = g if k == net.depth - 1 else g * np.asarray(
            net.activations[k].dsigma(tr.preactivations[k]))[0][None, :]
        a = tr.layer_inputs[k][0]
        if isinstance(lay, ConvLayer):
            geom = lay.geometry
            gr = geom.groups
            pat = _patches(a.reshape(1, *geom.in_shape), geom)[0]  # (g, Cg*kh*kw, L)
            d = delta.reshape(n_out, gr, geom.out_channels // gr, -1)  # (nN, g, Og, L)
            dk = np.einsum("ngol,gtl->ngot", d, pat).reshape(n_out, -1)
            db = d.sum(axis=3).reshape(n_out, -1)
        else:
            dk = (delta[:, :, None] * a[None, None, :]).reshape(n_out, -1)
            db = delta
        blocks[k] = np.concatenate([dk, db], axis=1)
        g = delta @ lay.weight
    return np.concatenate(blocks, axis=1)


def _quotient(net: Network, x: np.ndarray, theta1: np.ndarray, r: float) -> Enclosure:
    """Certified enclosure of $\\|f(x;\\theta_1) - f(x;\\bar\\theta)\\|/\\|\\theta_1 -
    \\bar\\theta\\|$ (interval forward passes of both networks; the step enclosed)."""
    from fractions import Fraction

    from symlip.arith.enclosure import Truth, compare
    from symlip.models.conv import _sqrt_q, _sumsq_hi, _sumsq_lo

    theta0 = kernel_params(net)
    theta1 = np.asarray(theta1, dtype=np.float64)
    if theta1.shape != theta0.shape:
        raise InputError(f"theta has {theta1.size} entries, expected {theta0.size}")
    # fl(a - b) = (a - b)(1 + d), |d| <= u: the exact step norm lies within
    # ||fl(step)|| / (1 +- u), the sums of squares bracketed as in symlip.arith.norms
    d = theta1 - theta0
    u = Fraction(1, 1 << 53)
    lo = _sqrt_q(_sumsq_lo(d), up=False) / (1 + u)
    hi = _sqrt_q(_sumsq_hi(d), up=True) / (1 - u)
    dn = iv.mpf([float(lo) * (1 - 2.0**-50), float(hi) * (1 + 2.0**-50)])
    if compare(dn, "<=", iv.mpf(r)) is not Truth.TRUE:
        raise WitnessOutsideError(f"lower-bound witness leaves the parameter ball of radius "
                                  f"{r!r}")
    f0 = net.interval_forward(x)
    f1 = with_kernel_params(net, theta1).interval_forward(x)
    diff2 = sum(((b.to_interval() - a.to_interval()) ** 2 for a, b in zip(f0, f1, strict=True)),
                iv.mpf(0))
    return Enclosure.from_interval(iv.sqrt(diff2) / dn)


def _lower(net: Network, X: np.ndarray, r: float, max_points: int = 8
           ) -> tuple[float | None, Enclosure | None, dict[str, Any] | None]:
    """Best float $\\|J_\\theta f(x)\\|_2$ over (up to ``max_points``) data points, and a
    certified quotient along its top singular vector with step $r$."""
    best = (-1.0, None, None)
    for i in range(min(len(X), max_points)):
        jac = kernel_jacobian(net, X[i])
        _, s, vt = np.linalg.svd(jac, full_matrices=False)
        if s[0] > best[0]:
            best = (float(s[0]), i, vt[0])
    est, i, v = best
    if i is None or r <= 0:
        return (est if i is not None else None), None, None
    theta0 = kernel_params(net)
    step = 0.999 * r * v / np.linalg.norm(v)
    theta1 = theta0 + step
    low = _quotient(net, X[i], theta1, r)
    # the step moves every kernel-view parameter: indices 0..n-1 (so the certificate's
    # canonical-offset relation applies as for the dense kind)
    witness = {"kind": "difference_quotient", "row": int(i), "x": X[i].tolist(),
               "indices": list(range(theta0.size)), "step": (theta1 - theta0).tolist()}
    return est, low, witness


# ----------------------------------------------------------------------------------
# the entry point
# ----------------------------------------------------------------------------------


def conv_param_lipschitz(net: Network, data: Any, radius: float, *, lower: bool = True
                         ) -> BoundResult:
    """Certified parameter-Lipschitz bound of a network with convolution layers, in the
    kernel view (see the module docstring); ``lower_enclosure`` is a certified
    difference quotient along the top singular vector of the kernel-view Jacobian."""
    from symlip.bounds.checks import check_radius
    from symlip.bounds.param_core import check_data

    uses_kernel_view(net)
    r = check_radius(radius)
    X = check_data(net, data)
    t0 = time.perf_counter()
    formula, vals, enclosure, pointwise = _evaluate(net, X, r)
    t1 = time.perf_counter()
    est, low, witness = _lower(net, X, r) if lower else (None, None, None)
    t2 = time.perf_counter()
    deriv = rec.program_derivation(formula.definitions, formula.inputs,
                                   f"Parameter recursion with convolutions, N = {net.depth}")
    n_params = int(kernel_params(net).size)
    extra = {"radius": r, "parameters": n_params, "parameter_view": "kernel",
             "upper_pointwise": pointwise.upper_max().upper_str(),
             "n_points": int(X.shape[0]), "timings": {"upper": t1 - t0, "lower": t2 - t1}}
    per_layer = [{"name": lay.name, "kind": "conv" if isinstance(lay, ConvLayer) else "dense",
                  "rho_upper": vals[f"rho_{k}"].upper_str(8)}
                 for k, lay in enumerate(net.layers, start=1)]
    return BoundResult("param_lipschitz_conv", "l2", enclosure, formula, vals, deriv,
                       lower_enclosure=low, estimate=est, per_layer=per_layer, extra=extra,
                       witness=witness)


def _rebuild(ctx: Any) -> tuple[rec.RecursiveFormula, dict[str, Enclosure]]:
    from symlip.bounds.checks import check_radius
    from symlip.bounds.param_core import check_data

    if not uses_kernel_view(ctx.model):
        raise InputError("a param_lipschitz_conv certificate needs a network with "
                         "convolution layers")
    formula, vals, _, _ = _evaluate(ctx.model, check_data(ctx.model, ctx.data),
                                    check_radius(ctx.options.get("radius")))
    return formula, vals


def _check_lower(ctx: Any, witness: Mapping[str, Any]) -> Enclosure:
    from symlip.bounds.checks import check_radius

    theta1 = kernel_params(ctx.model).copy()
    idx = np.asarray(witness.get("indices", range(theta1.size)), dtype=np.intp)
    theta1[idx] = theta1[idx] + np.asarray(witness["step"], dtype=np.float64)
    return _quotient(ctx.model, np.asarray(witness["x"], dtype=np.float64), theta1,
                     check_radius(ctx.options.get("radius")))


#: how ``verify`` re-checks a ``param_lipschitz_conv`` certificate: the witness point
#: is a data row; its step is an offset from the kernel-view parameters, written
#: canonically (one encoding per parameter point)
SPEC = QuantitySpec(_rebuild, _check_lower, witness_row=("x", "row"),
                    witness_offsets=("step",), base_params=kernel_params)
