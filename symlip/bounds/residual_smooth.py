r"""Gradient-Lipschitz (smoothness) bound of networks with residual blocks.

Lemma 9 of ``docs/theory-param.md`` (section 8).  For a network whose hidden layers are
dense ($a_k = \sigma(z_k)$), linear ($a_k = z_k$) or residual blocks
($a_k = a_{k-1} + h_k\sigma(z_k)$), $z_k = W_ka_{k-1} + b_k$, and all
$\theta, \theta'$ in the ball $B_r(\bar\theta)$ (steps $h_k$ fixed):
$\sup_{B_r}\|D^2_\theta a_k\| \le h_k$ with, per block, ONE definition

$$ h_k = \min\Big(h_{k-1} + \tau_k\big(K_2\mu_km_k + K_1g_k\big),\
   q_kh_{k-1} + \tau_k\big(K_2\mu_km_k + K_1l_{k-1}\big)\Big) $$

(the second option only for a nondecreasing $\sigma$, $q_k \ge \|I + h_kSW_k\|_2$ the
logarithmic-norm factor of the first-order bound), where $m_k \ge \sup\|D z_k\|$,
$\mu_k \ge \sup\max_i\|\nabla z_{k,i}\|$, $g_k \ge \sup\|D^2z_k\|$ and $l_k, c_k$ come
from the first-order program of :func:`symlip.bounds.recursion.
network_first_order_program` (single source of truth: the same definitions).  The loss
composition is that of :func:`symlip.bounds.recursion.loss_program`:
$B = H l_N^2 + G h_N$ per data point, the mean over the data.

Every number is the program evaluated in outward-rounded interval arithmetic on
certified inputs (spectral norms, row/column norms, centre states from the interval
forward pass of :meth:`Network.interval_trace`).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp

from symlip.arith.array import IntervalArray
from symlip.bounds import recursion as rec
from symlip.bounds.centre import ce_output_gradient, row_norms
from symlip.bounds.residual_program import (
    HDIR,
    directional_option,
    residual_second_order_program,
)
from symlip.errors import InputError

__all__ = ["residual_second_order_program", "residual_loss_program", "residual_grad_program",
           "residual_loss_gradient", "residual_grad_inputs", "residual_second_order_derivation",
           "program_options", "add_sigma2_weights"]

_U = 2.0**-53


@lru_cache(maxsize=64)
def residual_loss_program(kinds: tuple[str, ...], loss: str, bounded: bool = True,
                          centre: bool = True, lognorm: tuple[int, ...] = (),
                          jac: bool = False, gn: bool = False, direc: bool = False,
                          sig: bool = False
                          ) -> tuple[tuple[rec.Definition, ...], tuple[sp.Symbol, ...]]:
    r"""Second-order program of Lemma 9 and the loss composition $B = Hl_N^2 + Gh_N$ (the
    definitions of $G$, $H$ of :func:`symlip.bounds.recursion.loss_program`); ``jac``:
    the centre Jacobian options (:func:`symlip.bounds.residual_program.
    residual_second_order_program`); ``gn``: Lemma 11's composition $B = \mathrm{GN}_c +
    \Delta + Gh_N$ with the certified stacked centre Gauss-Newton norm ``GN_c``
    (:func:`symlip.bounds.residual_centre.residual_gn_norm`) and its change on the ball
    $\Delta$ (the definition of :func:`symlip.bounds.sensitivity.local_gn_loss_program`
    with $l_p = l_N$, $h_p = h_N$); ``direc`` (with ``jac`` and ``centre``): the curvature
    term is also bounded by the state-chain sum on the loss gradient's own chains
    (:func:`symlip.bounds.residual_program.directional_option`), with ``sig`` its
    per-neuron $\sigma''$ weights."""
    lname = rec._loss_name(loss)
    mse = lname == "mse"
    defs, inputs = residual_second_order_program(kinds, bounded=bounded, centre=centre,
                                                 lognorm=lognorm, output_norm=mse, jac=jac)
    depth = len(kinds) + 1
    # the loss tail of the feed-forward program, on our l_N, c_N, h_N (same symbols)
    tail, tail_in = rec.loss_program(1, lname, bounded=bounded, centre=centre)
    first_n = len(rec.second_order_program(1, bounded=bounded, centre=centre,
                                           output_norm=mse)[0])
    sub = {rec.l(1): rec.l(depth), rec.h(1): rec.h(depth), rec.c(1): rec.c(depth)}
    for d in tail[first_n:]:
        defs.append(rec.Definition(d.symbol, d.expr.xreplace(sub), d.why))
    extra = [s for s in tail_in if s in (rec.Y, rec.E, rec.PMAX, rec.PBAR)]
    curv = None
    if direc:
        if not (jac and centre):
            raise InputError("the directional option needs jac=True and centre=True")
        ddefs, din = directional_option(tuple(kinds), mse, sig)
        last = defs.pop()
        defs += ddefs + [last]
        extra += din
        curv = HDIR
    if gn:
        from symlip.bounds.sensitivity import gn_composition

        last = defs.pop()  # B = H l_N^2 + G h_N
        defs += gn_composition(rec.l(depth), rec.h(depth), mse, last.symbol, curv)
        extra.append(_gnc())
    elif curv is not None:
        last = defs.pop()  # B = H l_N^2 + G h_N
        H = sp.Integer(1) if mse else rec.LOSS_HESS
        defs.append(rec.Definition(
            last.symbol, H * rec.l(depth) ** 2 + rec._min([rec.LOSS_GRAD * rec.h(depth), curv]),
            last.why + "; or the directional state-chain sum for $\\nabla\\lambda\\cdot D^2f$"))
    return tuple(defs), tuple(rec._dedup(list(inputs) + extra))


def _gnc() -> sp.Symbol:
    from symlip.bounds.sensitivity import GNC

    return GNC


@lru_cache(maxsize=64)
def residual_grad_program(kinds: tuple[str, ...], loss: str, bounded: bool, centre: bool,
                          lognorm: tuple[int, ...] = (), jac: bool = False,
                          gn: bool = False, direc: bool = False, sig: bool = False
                          ) -> rec.RecursiveFormula:
    """The residual loss program as a formula named ``L_grad`` (cached)."""
    defs, inputs = residual_loss_program(kinds, loss, bounded, centre, lognorm, jac, gn,
                                         direc, sig)
    return rec.RecursiveFormula(list(defs), list(inputs), name="L_grad")


def program_options(ci: Any) -> dict[str, bool]:
    """The options of :func:`residual_grad_program` that the certified inputs ``ci`` of
    :func:`residual_grad_inputs` (and :func:`add_sigma2_weights`) support: ``jac``,
    ``gn``, ``direc`` and ``sig``."""
    return {"jac": bool(ci.jac), "gn": "GN_c" in ci.scalars or "GN_c" in ci.per_point,
            "direc": "Ba_1" in ci.per_point,
            "sig": any(k.startswith("Bs_") for k in ci.per_point)}


def add_sigma2_weights(net: Any, X: np.ndarray, ci: Any, loss: str) -> None:
    r"""Add the directional option's per-neuron $\sigma''$ weights ``Bs_k`` to the
    certified inputs ``ci`` of :func:`residual_grad_inputs` (with the loss inputs; no-op
    without the directional option): the program evaluated as far as its inputs allow
    gives $\mu_k$, the boxes are the centre pre-activation enclosures widened by
    $\mu_kr$ (:func:`symlip.bounds.residual_program.sigma2_box_radius`), and
    :func:`symlip.bounds.residual_centre.sigma2_weighted_norms` weighs the loss gradient's
    chain vectors kept by :func:`residual_grad_inputs`."""
    from symlip.arith.linalg import affine_box
    from symlip.bounds.residual import layer_kinds, lognorm_layers
    from symlip.bounds.residual_centre import sigma2_weighted_norms
    from symlip.bounds.residual_program import sigma2_box_radius, sigma2_layers
    from symlip.bounds.sensitivity import run_partial
    from symlip.symbolic.compile import interval_lambdify
    from symlip.symbolic.formula import _to_interval_array

    vectors = ci.stash.get("loss_chain_vectors")
    opts = program_options(ci)
    if not opts["direc"] or vectors is None or opts["sig"]:
        return
    kinds = layer_kinds(net)
    layers = sigma2_layers(kinds)
    if not layers:
        return
    t0 = time.perf_counter()
    formula = residual_grad_program(kinds, rec._loss_name(loss), ci.bounded, ci.centre,
                                    lognorm_layers(net), **{**opts, "sig": True})
    env: dict[sp.Symbol, Any] = {}
    for sym in formula.inputs:  # everything but the Bs_k being computed
        name = str(sym)
        if name in ci.per_point:
            env[sym] = _to_interval_array(ci.per_point[name])
        elif name in ci.scalars:
            env[sym] = _to_interval_array(ci.scalars[name])
    run_partial(formula, env)  # mu_k, m_1 (and r) do not depend on Bs_k
    tr = ci.stash["loss_chain_trace"]
    boxes = {}
    for k in layers:
        rad = sigma2_box_radius(k)  # mu_k r, in interval arithmetic on the program values
        args = sorted(rad.free_symbols, key=str)
        val = IntervalArray.wrap(interval_lambdify(args, rad, backend="numpy")(
            *[env[a] for a in args]))
        w = np.broadcast_to(np.asarray(val.hi, dtype=np.float64), (X.shape[0],))
        layer = net.layers[k - 1]
        z = affine_box(np.asarray(layer.weight, dtype=np.float64),
                       np.asarray(layer.bias, dtype=np.float64), tr.inputs[k - 1])
        w = w[:, None]
        with np.errstate(over="ignore", invalid="ignore"):
            boxes[k] = IntervalArray(np.nextafter(z.lo - w, -np.inf),
                                     np.nextafter(z.hi + w, np.inf))
    ci.per_point.update(sigma2_weighted_norms(net, vectors, boxes))
    ci.timings["sigma2_weights"] = time.perf_counter() - t0


# ------------------------------------------------------------------------------------
# float loss gradient (backpropagation through the blocks; not certified)
# ------------------------------------------------------------------------------------


def residual_loss_gradient(net: Any, X: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    r"""$\nabla_\theta L$ of the mean loss by backpropagation through dense layers and
    residual blocks ($\partial L/\partial a_{k-1} = \partial L/\partial a_k + h_k
    W_k^T(\sigma'(z_k)\odot\partial L/\partial a_k)$), in :meth:`Network.params` order
    (float64, not certified)."""
    from symlip.models.network import ResidualLayer

    tr = net.forward_trace(X)
    f = tr.preactivations[-1]
    n = X.shape[0]
    if rec._loss_name(loss) == "mse":
        ga = (f - y) / n
    else:
        ga = ce_output_gradient(f, y) / n
    grads: list[np.ndarray] = [None] * (2 * net.depth)  # type: ignore[list-item]
    for k in range(net.depth - 1, -1, -1):
        layer = net.layers[k]
        if k == net.depth - 1:
            delta = ga
        else:
            s = np.asarray(net.activations[k].dsigma(tr.preactivations[k]))
            delta = ga * s
            if isinstance(layer, ResidualLayer):
                delta = layer.step * delta
        a = tr.layer_inputs[k]
        grads[2 * k] = (delta.T @ a).ravel()
        grads[2 * k + 1] = delta.sum(axis=0)
        back = delta @ layer.weight
        ga = ga + back if isinstance(layer, ResidualLayer) and k < net.depth - 1 else back
    return np.concatenate(grads)


# ------------------------------------------------------------------------------------
# certified inputs and the entry point
# ------------------------------------------------------------------------------------


class _OutputBox:
    """Float outputs and a certified per-point bound of $\\|f - \\hat f\\|$ (the
    interface of :class:`symlip.bounds.centre.CentreNorms` that the loss inputs use)."""

    def __init__(self, box: IntervalArray) -> None:
        mid = 0.5 * box.lo + 0.5 * box.hi
        mid = np.clip(mid, box.lo, box.hi)
        dev = np.maximum(np.nextafter(box.hi - mid, np.inf), np.nextafter(mid - box.lo, np.inf))
        self.output = mid
        self.output_err = row_norms(dev).hi


def residual_grad_inputs(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                         centre: bool | str = "auto", jac: bool = True) -> Any:
    """Certified inputs of :func:`residual_grad_program`: those of the first-order
    residual program (:func:`symlip.bounds.residual.certified_residual_inputs`) plus
    ``K2``, the largest row / column norms ``omega_k``, ``kappa_k`` (+ r) and the loss
    inputs ``Y``, ``E`` (MSE) from the interval forward pass's output box, kept as
    ``centre_data`` (cross-entropy: :func:`symlip.bounds.smooth.grad_lipschitz` adds
    ``P``, ``E`` from it); with ``jac`` (where it fits, see
    :func:`symlip.bounds.residual.add_second_order_inputs`) the certified centre Jacobian
    norms ``Jz_k``, ``Jr_k``, ``Ja_k`` and state chains ``Ca_k_j`` (``ci.jac`` says
    whether they were computed) and, with the centre option, the loss gradient's chain
    norms ``Ba_j`` (:func:`symlip.bounds.residual_centre.residual_loss_chains`); with the
    centre option and within its budget the stacked centre Gauss-Newton norm ``GN_c`` of
    Lemma 11 (:func:`symlip.bounds.residual_centre.residual_gn_norm`, on the same
    chains).  :func:`program_options` reads which options the inputs support."""
    from symlip.bounds.residual import add_second_order_inputs, certified_residual_inputs

    lname = rec._loss_name(loss)
    ci = certified_residual_inputs(net, X, r, centre=centre, lognorm=True)
    chains = add_second_order_inputs(net, X, r, ci, jac)
    t0 = time.perf_counter()
    if ci.centre:
        box = (net.interval_trace(X) if chains is None else chains[0]).output
        ob = _OutputBox(box)
        ci.per_point[f"A_{net.depth}"] = IntervalArray(
            np.zeros(X.shape[0]), np.nextafter(row_norms(ob.output).hi + ob.output_err, np.inf))
        ci.centre_data = ob  # cross-entropy: P, E from it (smooth._residual_inputs)
        if lname == "mse":
            dn = row_norms(ob.output - y)
            ci.per_point["E"] = IntervalArray(
                np.maximum(np.nextafter(dn.lo * (1 - 2 * _U) - ob.output_err, -np.inf), 0),
                np.nextafter(np.nextafter(dn.hi * (1 + 2 * _U), np.inf) + ob.output_err,
                             np.inf))
    if lname == "mse":
        ci.per_point["Y"] = row_norms(y)
    ci.timings["loss_inputs"] = time.perf_counter() - t0
    if ci.centre and ci.jac and chains is not None:  # the directional option
        from symlip.bounds.residual_centre import residual_loss_chains

        t0 = time.perf_counter()
        vectors: dict = {}
        ci.per_point.update(residual_loss_chains(net, X, y, lname, chains, vectors))
        ci.stash["loss_chain_vectors"] = vectors  # for add_sigma2_weights
        ci.stash["loss_chain_trace"] = chains[0]
        ci.timings["loss_chains"] = time.perf_counter() - t0
    if ci.centre and net.depth >= 2:  # Lemma 11: the stacked centre Gauss-Newton norm
        from symlip.arith.enclosure import Enclosure, UnsupportedOperation
        from symlip.bounds.residual_centre import residual_gn_norm
        from symlip.errors import InputError

        t0 = time.perf_counter()
        try:
            gn = residual_gn_norm(net, X, y, lname, chains)
        except (ValueError, InputError, UnsupportedOperation):  # no rigorous kernel
            gn = None
        if isinstance(gn, np.ndarray):  # per point: its chunk's norm
            ci.per_point["GN_c"] = IntervalArray(np.zeros(len(gn)), gn)
        elif gn is not None:
            ci.scalars["GN_c"] = Enclosure.from_floats(0.0, gn)
        ci.timings["gauss_newton"] = time.perf_counter() - t0
    return ci


def residual_second_order_derivation(kinds: tuple[str, ...] | None = None,
                                     loss: str | None = None, *, bounded: bool = True,
                                     centre: bool = True, lognorm: tuple[int, ...] = (),
                                     jac: bool = False, gn: bool = False,
                                     direc: bool = False, sig: bool = False) -> Any:
    """The proof of Lemma 9 (``docs/theory-param.md`` section 8) and, for ``kinds``,
    the program (single source: the definitions of :func:`residual_loss_program`)."""
    from symlip.symbolic.derivation import Derivation, Tex

    d = Derivation("Gradient-Lipschitz bound of residual networks (Lemma 9)")
    d.assume("$a_k = a_{k-1} + h_k\\sigma(z_k)$, $z_k = W_ka_{k-1} + b_k$, $|h_k| \\le "
             "\\tau_k$ (not a parameter), $|\\sigma''| \\le K_2$; on $B_r(\\bar\\theta)$: "
             "$\\|Da_{k-1}\\| \\le l_{k-1}$, $\\|D^2a_{k-1}\\| \\le h_{k-1}$, $\\|a_{k-1}\\| "
             "\\le c_{k-1}$ (first-order program, Theorem 6)")
    d.step(Tex(r"\|\nabla L(\theta) - \nabla L(\theta')\|"), "<=",
           Tex(r"\sup_{B_r}\|\nabla^2 L\|_2\,\|\theta - \theta'\|"),
           "mean value theorem on the convex ball ($\\sigma'$ Lipschitz: $D^2$ exists a.e. "
           "and bounds the Lipschitz constant of $D$)")
    d.step(Tex(r"D^2z_k[u,v]"), "=",
           Tex(r"U_kDa_{k-1}v + V_kDa_{k-1}u + W_kD^2a_{k-1}[u,v]"),
           "$z_k$ is bilinear in $(W_k, a_{k-1})$; $U_k, V_k$: the $W_k$ blocks of $u, v$ "
           "($\\|U_k\\|_2 \\le \\|u_k\\|$)")
    d.then("=>", Tex(r"\|D^2z_k\| \le g_k = \tfrac12\big(w_k + \sqrt{w_k^2 + 4l_{k-1}^2}\big),"
                     r"\ w_k \ge \|W_kD^2a_{k-1}\|"),
           "$\\|D^2z_k[u,v]\\| \\le (\\|u_k\\|, \\|u_{<k}\\|)\\,[[0, l], [l, w]]\\,(\\|v_k\\|, "
           "\\|v_{<k}\\|)^T$")
    d.step(Tex(r"D^2a_k[u,v]"), "=",
           Tex(r"D^2a_{k-1}[u,v] + h_k\big(\sigma''(z_k)\odot Dz_ku\odot Dz_kv + "
               r"\sigma'(z_k)\odot D^2z_k[u,v]\big)"),
           "product and chain rule for the block")
    d.then("<=", Tex(r"h_{k-1} + \tau_k\big(K_2\mu_km_k + K_1g_k\big)"),
           "$\\|p\\odot q\\|_2 \\le \\|p\\|_\\infty\\|q\\|_2$, $\\|Dz_ku\\|_\\infty \\le "
           "\\mu_k\\|u\\|$, $|\\sigma'| \\le K_1$")
    d.step(Tex(r"D^2a_k[u,v]"), "=",
           Tex(r"(I + h_k\Sigma_kW_k)D^2a_{k-1}[u,v] + h_k\big(\sigma''\odot Dz_ku\odot "
               r"Dz_kv + \Sigma_k(U_kDa_{k-1}v + V_kDa_{k-1}u)\big)"),
           "regrouping the $W_kD^2a_{k-1}$ part of $D^2z_k$ ($\\Sigma_k = "
           "\\mathrm{diag}(\\sigma'(z_k))$)")
    d.then("<=", Tex(r"q_kh_{k-1} + \tau_k\big(K_2\mu_km_k + K_1l_{k-1}\big)"),
           "$\\sigma$ nondecreasing: $\\Sigma_k \\in [0, K_1]$, so $\\|I + h_k\\Sigma_kW_k\\| "
           "\\le q_k$ (first-order Lemma 6.1); cross terms $\\le l_{k-1}(\\|u_k\\|\\|v_{<k}"
           "\\| + \\|v_k\\|\\|u_{<k}\\|) \\le l_{k-1}\\|u\\|\\|v\\|$")
    if jac:
        d.step(Tex(r"\|D_\theta a_k(\theta)\|"), "<=",
               Tex(r"\|D_\theta a_k(\bar\theta)\| + h_k\,r \le J^a_k + h_k\,r"),
               "mean value theorem: $\\sup_{B_r}\\|D^2a_k\\| \\le h_k$; $J^a_k$ the certified "
               "centre Jacobian norm (forward mode in interval arithmetic; the same for "
               "$m_k \\le J^z_k + g_kr$, $\\mu_k \\le J^r_k + g_kr$)")
    d.step(Tex(r"\|\nabla^2_\theta\lambda(f(x;\theta), y)\|"), "<=",
           Tex(r"H\,l_N^2 + G\,h_N"),
           "chain rule: $\\nabla^2\\lambda[Df, Df] + \\nabla\\lambda\\cdot D^2f$ (section 2)")
    if direc:
        d.step(Tex(r"\Big\|\sum_og_o\nabla^2f_o\Big\|"), "<=",
               Tex(r"\sum_k\beta_k\,t_k\Big(K_2\mu_km_k\Big) + 2\Big(\sum_{k\ge2}"
                   r"(\beta_kt_ks_kl_{k-1})^2\Big)^{1/2}"),
               "$g^TD^2f = \\sum_k(g^T\\partial f/\\partial a_k)Q_k$ (the state-chain sum with "
               "the loss gradient's own chains); $\\beta_k = B^a_k + H_gl_Nr\\,G^a_k + "
               "E\\,\\delta G^a_k \\ge \\sup_{B_r}\\|g^T\\partial f/\\partial a_k\\|$ "
               "with $B^a_k$ the certified centre value, $\\|g - \\bar g\\| \\le H_gl_Nr$, "
               "$\\|\\bar g\\| \\le E$ ($\\beta_N = G$; $s_k = K_1$, 1 for linear maps)")
        if sig:
            d.then("<=", Tex(r"\ldots\ \text{with}\ \beta_kK_2\ \text{in the}\ \sigma''"
                             r"\ \text{terms replaced by}\ B^s_k + \delta\beta_kK_2"),
                   "$|\\beta^T\\operatorname{diag}(\\sigma''(z_k))(p\\odot q)| \\le "
                   "\\|\\beta\\odot\\sigma''(z_k)\\|\\,\\|p\\|_\\infty\\|q\\|_2$; $B^s_k \\ge "
                   "\\|\\,|\\bar\\beta_k|\\odot S_k\\|$ with $S_{k,m} \\ge \\sup|\\sigma''|$ on "
                   "$\\bar z_{k,m} \\pm \\mu_kr$ (interval evaluation per neuron), $\\delta\\beta_k "
                   "\\ge \\|\\beta_k - \\bar\\beta_k\\|$")
    d.conclude("$B$ per data point bounds the Hessian norm of that point's loss on "
               "$B_r$; the mean over the data bounds the gradient-Lipschitz constant.")
    if gn:
        from symlip.bounds.sensitivity import local_gn_derivation

        d.section(local_gn_derivation())  # Lemma 11 with l_p = l_N, h_p = h_N
    if kinds is not None and loss is not None:
        defs, inputs = residual_loss_program(tuple(kinds), rec._loss_name(loss), bounded,
                                             centre, tuple(lognorm), jac, gn, direc, sig)
        d.section(rec.program_derivation(defs, inputs, "The program for layers "
                                         f"{list(kinds) + ['readout']}"))
    return d
