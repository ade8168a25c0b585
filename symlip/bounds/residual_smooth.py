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
from mpmath import iv

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure
from symlip.bounds import recursion as rec
from symlip.bounds.centre import row_norms
from symlip.errors import InputError

__all__ = ["residual_second_order_program", "residual_loss_program", "residual_grad_program",
           "residual_loss_gradient", "residual_grad_inputs", "residual_second_order_derivation"]

_U = 2.0**-53


def _prev(k: int, sym: Any) -> sp.Expr:
    return sp.Integer(0) if k == 1 else sym(k - 1)


def residual_second_order_program(kinds: tuple[str, ...], *, bounded: bool = True,
                                  centre: bool = True, lognorm: tuple[int, ...] = (),
                                  output_norm: bool = False, jac: bool = False
                                  ) -> tuple[list[rec.Definition], list[sp.Symbol]]:
    r"""Definitions of the first-order program (:func:`~symlip.bounds.recursion.
    network_first_order_program`, layer by layer) interleaved with the second-order
    quantities $w_k, g_k, \mu_k, m_k$ (blocks) and $h_k$ (Lemma 9); $h_N = g_N$ bounds
    $\|D^2_\theta f\|$ on the ball."""
    kinds = tuple(kinds)
    for kd in kinds:
        if kd not in rec.LAYER_KINDS:
            raise InputError(f"layer kind {kd!r} must be one of {rec.LAYER_KINDS}")
    n = len(kinds) + 1
    lognorm = tuple(int(k) for k in lognorm)
    defs: list[rec.Definition] = []
    inputs: list[sp.Symbol] = [rec.R, rec.c(0)]
    if any(kd != "linear" for kd in kinds):
        inputs += [rec.K1, rec.s0] + ([rec.S0] if bounded else []) + [rec.K2]
    prev_l: sp.Expr = sp.Integer(0)
    for k in range(1, n + 1):
        kind = kinds[k - 1] if k < n else ("readout-norm" if output_norm else "readout")
        first, in_k = rec._layer_definitions(k, kind, prev_l, bounded=bounded, centre=centre,
                                             bias_option=True, lognorm=k in lognorm)
        inputs += in_k
        lp, hp, cp = prev_l, _prev(k, rec.h), rec.c(k - 1)
        pkind = kinds[k - 2] if k >= 2 else None
        second: list[rec.Definition] = []
        # ||W_k D^2 a_{k-1}||: after a dense layer the sigma'' term through the spectral or
        # the largest column norm (as in the feed-forward recursion), else rho_k h_{k-1}
        if k == 1:
            w_k: sp.Expr = sp.Integer(0)
        else:
            if pkind == "dense":
                inputs.append(rec.kappa(k))
                pm, pg = rec.m(k - 1), rec.g(k - 1)
                pmu = rec.m(1) if k - 1 == 1 else rec.mu(k - 1)
                w_expr = (rec.K2 * pm * rec._min([rec.rho(k) * pmu, rec.kappa(k) * pm])
                          + rec.rho(k) * rec.K1 * pg)
                why = ("$\\|W_k(\\sigma''\\odot p\\odot q)\\| \\le \\min(\\rho_k\\|\\cdot\\|_2,"
                       " \\kappa_k\\|\\cdot\\|_1)$; $\\|W_k(\\sigma'\\odot D^2z_{k-1})\\| \\le "
                       "\\rho_kK_1g_{k-1}$")
            else:
                w_expr = rec.rho(k) * hp
                why = "$\\|W_kD^2a_{k-1}\\| \\le \\rho_k h_{k-1}$"
            second.append(rec.Definition(rec.wk(k), w_expr, why))
            w_k = rec.wk(k)
        second.append(rec.Definition(
            rec.g(k), (w_k + rec._sqrt(w_k ** 2 + 4 * lp ** 2)) / 2,
            "$D^2z_k[u,v] = U_kDa_{k-1}v + V_kDa_{k-1}u + W_kD^2a_{k-1}[u,v]$: spectral "
            "norm of $[[0, l_{k-1}], [l_{k-1}, w_k]]$ (block Cauchy-Schwarz)"))
        if kind == "residual":
            second.insert(0, rec.Definition(
                rec.m(k), rec._sqrt(cp ** 2 + 1 + rec.rho(k) ** 2 * lp ** 2), rec._M_WHY))
        if k < n and kind != "linear":
            if k > 1:
                inputs.append(rec.omega(k))
                second.append(rec.Definition(
                    rec.mu(k), rec._min([rec._sqrt(cp ** 2 + 1 + rec.omega(k) ** 2 * lp ** 2),
                                         rec.m(k)]),
                    "one row: $|\\nabla z_{k,i}\\cdot u| \\le \\sqrt{c_{k-1}^2+1}\\|u_k\\| + "
                    "\\|W_{k,i:}\\|l_{k-1}\\|u_{<k}\\|$"))
                mu_k: sp.Expr = rec.mu(k)
            else:
                mu_k = rec.m(1)  # every row of Dz_1 has norm sqrt(|x|^2 + 1)
            curv = rec.K2 * mu_k * rec.m(k)
            if kind == "dense":
                h_expr: sp.Expr = curv + rec.K1 * rec.g(k)
                why = ("product rule; $|\\sigma''| \\le K_2$, $\\|p\\odot q\\|_2 \\le "
                       "\\|p\\|_\\infty\\|q\\|_2$")
            else:
                opts = [hp + rec.tau(k) * (curv + rec.K1 * rec.g(k))]
                if k in lognorm:
                    opts.append(rec.q(k) * hp + rec.tau(k) * (curv + rec.K1 * lp))
                h_expr = rec._min(opts)
                why = ("residual block (Lemma 9): $D^2a_k = D^2a_{k-1} + h_k(\\sigma''\\odot "
                       "Dz_k\\odot Dz_k + \\sigma'\\odot D^2z_k)$"
                       + ("; or $(I + h_k\\Sigma_kW_k)D^2a_{k-1} + h_k(\\sigma''\\odot Dz_k"
                          "\\odot Dz_k + \\Sigma_k(U_kDa_{k-1}v + V_kDa_{k-1}u))$ with "
                          "$\\|I + h_k\\Sigma_kW_k\\| \\le q_k$" if k in lognorm else ""))
        else:  # linear hidden layer or the read-out
            h_expr = rec.g(k)
            why = "linear map of $z_k$"
        second.append(rec.Definition(rec.h(k), h_expr, why))
        block = first + second  # layer k's second order uses its first order
        if jac:
            block, in_j = _centre_jacobian_options(k, n, kind, block)
            inputs += in_j
        defs += block
        prev_l = rec.l(k)
    return defs, rec._dedup(inputs)


def _centre_jacobian_options(k: int, n: int, kind: str, block: list[rec.Definition]
                             ) -> tuple[list[rec.Definition], list[sp.Symbol]]:
    r"""Layer $k$'s definitions with the centre options of the feed-forward program's
    ``jac``: $m_k \le J^z_k + g_kr$, $\mu_k \le J^r_k + g_kr$ and, for a hidden layer
    with an activation, $l_k \le J^a_k + h_kr$ (the read-out's $l_N = m_N$): the
    certified centre Jacobian norm plus the Lipschitz constant of the Jacobian on the
    ball times $r$ (mean value theorem).  Reordered so every symbol is defined before
    it is used ($m_k$ after $g_k$, $l_k$ and $c_k$ after $h_k$)."""
    opts = {}
    if k > 1:
        opts[rec.m(k)] = (rec.jz(k), rec.g(k))
        if k < n and kind != "linear":
            opts[rec.mu(k)] = (rec.jr(k), rec.g(k))
    if k < n and kind in ("dense", "residual"):
        opts[rec.l(k)] = (rec.ja(k), rec.h(k))
    out, inputs = [], []
    for d in block:
        if d.symbol in opts:
            j, lip = opts[d.symbol]
            inputs.append(j)
            d = rec.Definition(d.symbol, rec._min([d.expr, j + lip * rec.R]),
                               d.why + "; or the centre Jacobian plus its Lipschitz "
                               "constant on the ball times $r$")
        out.append(d)
    # stable reorder: a definition waits until the block's symbols it uses are defined
    own = {d.symbol for d in out}
    done: set[sp.Symbol] = set()
    ordered: list[rec.Definition] = []
    pending = list(out)
    while pending:
        for i, d in enumerate(pending):
            if not ((d.expr.free_symbols & own) - done - {d.symbol}):
                ordered.append(pending.pop(i))
                done.add(d.symbol)
                break
        else:  # pragma: no cover - a cycle would be a programming error
            raise AssertionError(f"cyclic definitions in layer {k}")
    return ordered, inputs


@lru_cache(maxsize=64)
def residual_loss_program(kinds: tuple[str, ...], loss: str, bounded: bool = True,
                          centre: bool = True, lognorm: tuple[int, ...] = (),
                          jac: bool = False
                          ) -> tuple[tuple[rec.Definition, ...], tuple[sp.Symbol, ...]]:
    """Second-order program of Lemma 9 and the loss composition $B = Hl_N^2 + Gh_N$ (the
    definitions of $G$, $H$ of :func:`symlip.bounds.recursion.loss_program`); ``jac``:
    the centre Jacobian options (:func:`_centre_jacobian_options`)."""
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
    return tuple(defs), tuple(rec._dedup(list(inputs) + extra))


@lru_cache(maxsize=64)
def residual_grad_program(kinds: tuple[str, ...], loss: str, bounded: bool, centre: bool,
                          lognorm: tuple[int, ...] = (), jac: bool = False
                          ) -> rec.RecursiveFormula:
    """The residual loss program as a formula named ``L_grad`` (cached)."""
    defs, inputs = residual_loss_program(kinds, loss, bounded, centre, lognorm, jac)
    return rec.RecursiveFormula(list(defs), list(inputs), name="L_grad")


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
        p = np.exp(f - f.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(n), y] -= 1.0
        ga = p / n
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


def add_second_order_inputs(net: Any, X: np.ndarray, r: float, ci: Any, jac: bool) -> None:
    """Add to ``ci`` the inputs the second-order program needs beyond the first-order
    ones: ``K2``, the largest row / column norms ``omega_k``, ``kappa_k`` (+ r) and, with
    ``jac``, the certified centre Jacobian norms ``Jz_k``, ``Jr_k``, ``Ja_k``
    (:func:`symlip.bounds.centre.centre_jacobians`; ``ci.jac`` says whether they were
    computed)."""
    from symlip.bounds.param_core import _constant
    from symlip.bounds.residual import layer_kinds

    kinds = layer_kinds(net)
    t0 = time.perf_counter()
    if jac and net.depth > 1:
        from symlip.bounds.centre import centre_jacobians

        ci.add_jacobians(lambda: centre_jacobians(net, X))
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


def residual_grad_inputs(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                         centre: bool | str = "auto", jac: bool = False) -> Any:
    """Certified inputs of :func:`residual_grad_program`: those of the first-order
    residual program (:func:`symlip.bounds.residual.certified_residual_inputs`) plus
    ``K2``, the largest row / column norms ``omega_k``, ``kappa_k`` (+ r) and the loss
    inputs ``Y``, ``E`` (MSE) from the interval forward pass's output box, kept as
    ``centre_data`` (cross-entropy: :func:`symlip.bounds.smooth.grad_lipschitz` adds
    ``P``, ``E`` from it); with ``jac`` the certified centre Jacobian norms ``Jz_k``,
    ``Jr_k``, ``Ja_k`` (:func:`symlip.bounds.centre.centre_jacobians`; ``ci.jac`` says
    whether they were computed)."""
    from symlip.bounds.residual import certified_residual_inputs

    lname = rec._loss_name(loss)
    ci = certified_residual_inputs(net, X, r, centre=centre, lognorm=True)
    add_second_order_inputs(net, X, r, ci, jac)
    t0 = time.perf_counter()
    if ci.centre:
        box = net.interval_trace(X).output
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
    return ci


def residual_second_order_derivation(kinds: tuple[str, ...] | None = None,
                                     loss: str | None = None, *, bounded: bool = True,
                                     centre: bool = True, lognorm: tuple[int, ...] = (),
                                     jac: bool = False) -> Any:
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
    d.conclude("$B$ per data point bounds the Hessian norm of that point's loss on "
               "$B_r$; the mean over the data bounds the gradient-Lipschitz constant.")
    if kinds is not None and loss is not None:
        defs, inputs = residual_loss_program(tuple(kinds), rec._loss_name(loss), bounded,
                                             centre, tuple(lognorm), jac)
        d.section(rec.program_derivation(defs, inputs, "The program for layers "
                                         f"{list(kinds) + ['readout']}"))
    return d
