r"""The second-order program of networks with residual blocks (Lemma 9 of
``docs/theory-param.md``, section 8), with the centre Jacobian options: the symbolic
definitions only, shared by the gradient bound (:mod:`symlip.bounds.residual_smooth`) and
the parameter bound (:mod:`symlip.bounds.residual`), which certify their inputs."""

from __future__ import annotations

from typing import Any

import sympy as sp

from symlip.bounds import recursion as rec
from symlip.bounds.sensitivity import _nn, _prod
from symlip.errors import InputError

__all__ = ["residual_second_order_program", "directional_option", "sigma2_layers",
           "sigma2_box_radius"]


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
    if jac:
        defs, in_c = _state_chain_option(kinds, defs)
        inputs += in_c
    return defs, rec._dedup(inputs)


def casym(k: int, j: int) -> sp.Symbol:
    """$C^a_{k,j} \\ge \\|\\partial a_k/\\partial a_j(\\bar\\theta)\\|_2$, the certified centre
    state chain ($a_N = f$; :func:`symlip.bounds.residual_centre.residual_centre_inputs`)."""
    return _nn(f"Ca_{k}_{j}")


def gasym(j: int) -> sp.Symbol:
    """$G^a_j \\ge \\sup_{B_r}\\|\\partial f/\\partial a_j\\|_2$ (defined)."""
    return _nn(f"Ga_{j}")


def dgasym(j: int) -> sp.Symbol:
    """$\\ge \\sup_{B_r}\\|\\partial f/\\partial a_j - \\overline{\\partial f/\\partial a_j}\\|_2$
    (defined)."""
    return _nn(f"dGa_{j}")


def basym(j: int) -> sp.Symbol:
    """$\\ge \\|\\bar g^T\\partial f/\\partial a_j(\\bar\\theta)\\|_2$, $\\bar g$ the centre
    loss gradient (certified: :func:`symlip.bounds.residual_centre.residual_loss_chains`)."""
    return _nn(f"Ba_{j}")


def dbgsym(j: int) -> sp.Symbol:
    """$\\ge \\sup_{B_r}\\|g^T\\partial f/\\partial a_j - \\bar g^T\\overline{\\partial f/
    \\partial a_j}\\|_2$ (defined)."""
    return _nn(f"dBg_{j}")


def bgsym(j: int) -> sp.Symbol:
    """$\\ge \\sup_{B_r}\\|g^T\\partial f/\\partial a_j\\|_2$ (defined)."""
    return _nn(f"Bg_{j}")


def easym(i: int) -> sp.Symbol:
    """$e^a_i \\ge \\sup_{B_r}\\|F_i - \\bar F_i\\|_2$, $F_i = \\partial a_i/\\partial a_{i-1}$."""
    return _nn(f"ea_{i}")


HCH = _nn("h_ch")
#: the directional option of $\|\sum_og_o\nabla^2f_o\|$ (defined)
HDIR = _nn("h_dir")


def _state_chain_option(kinds: tuple[str, ...], defs: list[rec.Definition]
                        ) -> tuple[list[rec.Definition], list[sp.Symbol]]:
    r"""The chain option of $h_N$ (``docs/theory-param.md`` section 8): with
    $F_i = \partial a_i/\partial a_{i-1}$ ($I + h_i\Sigma_iW_i$ for a block,
    $\Sigma_iW_i$ dense, $W_i$ linear and the read-out, $a_N = f$),
    $D^2f[u,v] = \sum_k\frac{\partial f}{\partial a_k}Q_k[u,v]$ with layer $k$'s own
    second-order term $Q_k = t_k(\sigma''\odot Dz_ku\odot Dz_kv + \sigma'\odot(U_kDa_{k-1}v
    + V_kDa_{k-1}u))$ ($t_k = h_k$ for a block, 1 otherwise; no $\sigma$ terms for linear
    layers and the read-out), and the chains on the ball from the certified centre ones
    by telescoping, $G^a_j = C^a_{N,j} + \sum_{i>j}G^a_ie^a_iC^a_{i-1,j}$."""
    n = len(kinds) + 1
    kind = {k: (kinds[k - 1] if k < n else "readout") for k in range(1, n + 1)}
    new: list[rec.Definition] = []
    inputs: list[sp.Symbol] = []

    for i in range(2, n + 1):
        kd = kind[i]
        if kd in ("linear", "readout"):
            e = rec.R
            why = "$\\|W_i - \\bar W_i\\| \\le r$"
        else:
            e = rec.R * (rec.K1 + rec.K2 * _mu_of(i) * rec.rho(i))
            why = ("$\\|\\Sigma_iW_i - \\bar\\Sigma_i\\bar W_i\\| \\le K_1r + "
                   "K_2\\mu_ir\\,\\rho_i$ "
                   "($|z_{i,m} - \\bar z_{i,m}| \\le \\mu_ir$)")
            if kd == "residual":
                e = rec.tau(i) * e
                why += ", times $\\tau_i$ for a block"
        new.append(rec.Definition(easym(i), e, why))
    for j in range(n - 1, 0, -1):
        terms = []
        for i in range(j + 1, n + 1):
            gi = sp.Integer(1) if i == n else gasym(i)
            ci = sp.Integer(1) if i - 1 == j else casym(i - 1, j)
            terms.append(_prod(gi, easym(i), ci))
            if i - 1 != j:
                inputs.append(casym(i - 1, j))
        inputs.append(casym(n, j))
        new.append(rec.Definition(dgasym(j), sp.Add(*terms, evaluate=False),
                                  "telescoping $D - \\bar D = \\sum_iD_{N,i}(F_i - \\bar F_i)"
                                  "\\bar D_{i-1,j}$ for the state chains"))
        new.append(rec.Definition(gasym(j), casym(n, j) + dgasym(j),
                                  "the centre chain plus its change on the ball"))
    expr = _layer_terms(kinds, lambda k: sp.Integer(1) if k == n else gasym(k))
    new.append(rec.Definition(
        HCH, expr,
        "$D^2f = \\sum_k\\frac{\\partial f}{\\partial a_k}Q_k$; $\\|\\sigma''\\odot p\\odot q\\| "
        "\\le K_2\\|p\\|_\\infty\\|q\\|_2$; the cross terms $\\le l_{k-1}(\\|u_k\\|\\|v\\| + "
        "\\|v_k\\|\\|u\\|)$, Cauchy-Schwarz over the layers' own blocks (section 8)"))
    out: list[rec.Definition] = []
    for d in defs:
        if d.symbol == rec.h(n):
            out += new
            d = rec.Definition(d.symbol, rec._min([d.expr, HCH]),
                               d.why + "; or the state-chain sum")
        out.append(d)
    return out, inputs


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
        # the read-out's h_N (= g_N, or the state-chain sum with jac) bounds Lip(D f)
        opts[rec.m(k)] = (rec.jz(k), rec.h(k) if k == n else rec.g(k))
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


def _mu_of(k: int) -> sp.Expr:
    """$\\mu_k$ (layer 1: $m_1$, every row of $Dz_1$ has norm $\\sqrt{\\|x\\|^2+1}$)."""
    return rec.m(1) if k == 1 else rec.mu(k)


def _layer_terms(kinds: tuple[str, ...], chain: Any, curv_factor: Any = None) -> sp.Expr:
    r"""$\sum_kc_kt_kK_2\mu_km_k + 2(\sum_{k\ge2}(c_kt_ks_kl_{k-1})^2)^{1/2}$ for the
    per-layer chain factors ``chain(k)`` ($k = N$: the read-out, $t = s = 1$, no
    $\sigma''$ term; linear layers: no $\sigma''$ term, $s = 1$; else $s = K_1$);
    ``curv_factor(k)``, if given, replaces $c_kK_2$ in the $\sigma''$ terms."""
    n = len(kinds) + 1
    curv, cross = [], []
    for k in range(1, n + 1):
        kd = kinds[k - 1] if k < n else "readout"
        t = rec.tau(k) if kd == "residual" else sp.Integer(1)
        if kd in ("dense", "residual"):
            cf = _prod(chain(k), rec.K2) if curv_factor is None else curv_factor(k)
            curv.append(_prod(cf, t, _mu_of(k), rec.m(k)))
        if k >= 2:
            s1 = rec.K1 if kd in ("dense", "residual") else sp.Integer(1)
            cross.append(_prod(chain(k), t, s1, rec.l(k - 1)) ** 2)
    return sp.Add(*curv, evaluate=False) + 2 * rec._sqrt(sp.Add(*cross, evaluate=False))


def bssym(j: int) -> sp.Symbol:
    """$\\ge \\|\\,|\\bar g^T\\partial f/\\partial a_j|\\odot S_j\\|_2$, $S_{j,m} \\ge
    \\sup|\\sigma''|$ on neuron $m$'s pre-activation interval on the ball (certified:
    :func:`symlip.bounds.residual_centre.sigma2_weighted_norms`)."""
    return _nn(f"Bs_{j}")


def sigma2_layers(kinds: tuple[str, ...]) -> list[int]:
    """The hidden layers with a $\\sigma''$ term (dense layers and residual blocks)."""
    return [k for k, kd in enumerate(kinds, start=1) if kd in ("dense", "residual")]


def sigma2_box_radius(k: int) -> sp.Expr:
    """$\\mu_kr \\ge \\sup_{B_r}|z_{k,m} - \\bar z_{k,m}|$: the half-width (beyond the
    centre's enclosure) of layer $k$'s pre-activation boxes for ``Bs_k``."""
    return _mu_of(k) * rec.R


def directional_option(kinds: tuple[str, ...], mse: bool, sig: bool = False
                       ) -> tuple[list[rec.Definition], list[sp.Symbol]]:
    r"""The directional option of the curvature term $\|\sum_og_o\nabla^2f_o\|$ of the
    loss Hessian (``docs/theory-param.md`` section 8): with the state-chain sum's
    $D^2f = \sum_k\frac{\partial f}{\partial a_k}Q_k$,
    $g^TD^2f = \sum_k(g^T\frac{\partial f}{\partial a_k})Q_k$, and on the ball
    $\|g^T\frac{\partial f}{\partial a_k}\| \le B^a_k + H_gl_Nr\,G^a_k + E\,\delta G^a_k$
    ($\|g - \bar g\| \le H_gl_Nr$, $\|\bar g\| \le E$, the chain's change
    $\delta G^a_k$), $B^a_k$ the certified centre value; the read-out's factor is $G$.
    With ``sig`` the $\sigma''$ terms also take $\|\beta\odot\sigma''(z_k)\| \le B^s_k +
    \delta\beta_kK_2$ ($B^s_k$: the centre vector weighted per neuron by $\sup|\sigma''|$
    on the ball's pre-activation intervals, $\delta\beta_k = H_gl_Nr\,G^a_k +
    E\,\delta G^a_k$).  Needs the definitions of the state-chain option and of $G$, $H$,
    $E$."""
    n = len(kinds) + 1
    hg = sp.Integer(1) if mse else rec.LOSS_HESS
    defs: list[rec.Definition] = []
    for j in range(1, n):
        defs.append(rec.Definition(
            dbgsym(j), _prod(hg, rec.l(n), rec.R, gasym(j)) + _prod(rec.E, dgasym(j)),
            "$g^TD - \\bar g^T\\bar D = (g - \\bar g)^TD + \\bar g^T(D - \\bar D)$, "
            "$\\|g - \\bar g\\| \\le H_gl_Nr$ (mean value theorem along the output path)"))
        defs.append(rec.Definition(bgsym(j), basym(j) + dbgsym(j),
                                   "the centre value plus its change on the ball"))
    inputs = [basym(j) for j in range(1, n)]
    cf = None
    if sig:
        cf_defs = {}
        for k in sigma2_layers(kinds):
            cf_defs[k] = _nn(f"Bk_{k}")
            defs.append(rec.Definition(
                cf_defs[k], rec._min([bgsym(k) * rec.K2, bssym(k) + dbgsym(k) * rec.K2]),
                "$\\|\\beta\\odot\\sigma''(z_k)\\| \\le \\|\\,|\\bar\\beta|\\odot S_k\\| + "
                "\\|\\beta - \\bar\\beta\\|K_2$, $S_{k,m} \\ge \\sup|\\sigma''|$ on "
                "$\\bar z_{k,m} \\pm \\mu_kr$"))
            inputs.append(bssym(k))
        cf = cf_defs.__getitem__
    defs.append(rec.Definition(
        HDIR, _layer_terms(kinds, lambda k: rec.LOSS_GRAD if k == n else bgsym(k), cf),
        "$g^TD^2f = \\sum_k(g^T\\frac{\\partial f}{\\partial a_k})Q_k$: the state-chain sum "
        "with the loss gradient's own chains (section 8)"))
    return defs, inputs
