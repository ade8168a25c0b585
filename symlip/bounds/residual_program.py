r"""The second-order program of networks with residual blocks (Lemma 9 of
``docs/theory-param.md``, section 8), with the centre Jacobian options: the symbolic
definitions only, shared by the gradient bound (:mod:`symlip.bounds.residual_smooth`) and
the parameter bound (:mod:`symlip.bounds.residual`), which certify their inputs."""

from __future__ import annotations

from typing import Any

import sympy as sp

from symlip.bounds import recursion as rec
from symlip.errors import InputError

__all__ = ["residual_second_order_program"]


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
