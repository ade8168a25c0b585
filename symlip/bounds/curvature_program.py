r"""Lemma 12 of ``docs/theory-param.md`` (section 10): the curvature part of the loss
Hessian from its certified value at the centre plus a third-order remainder.

Lemma 11 bounds the curvature part $\sum_o(\partial_o\lambda)\nabla^2f_o$ of the loss
Hessian by $G\,h_p$ on the whole ball, and $h_p$ (Lemma 8, a sum of products of chain
norms) is 15-50 times the true $\|D^2f\|$ even at the centre.  Lemma 12 keeps $G\,h_p$ as
one option and adds

$$ \mathrm{CV} + H_g\,l_p\,r\,h_p + E\,T\,r, $$

where $\mathrm{CV} \ge \|\sum_o\bar g_o\nabla^2_\theta f_o(x;\bar\theta)\|_2$ is the
curvature at the centre, certified per point (:mod:`symlip.bounds.curvature`), $E \ge
\|\bar g\|$, $H_g$ the Lipschitz constant of $f \mapsto \nabla_f\lambda$ (1 for MSE,
$H \le \frac12$ for softmax cross-entropy: the loss program's bound of
$\|\nabla^2_f\lambda\|$ on the ball) and $T$ a Lipschitz constant of $\theta \mapsto
D^2_\theta f$ on the ball, built here from the quantities of Lemmas 7-8 and the new
per-layer input $K_3^{(k)} \ge \sup|\sigma'''|$ on layer $k$'s pre-activation box:

$$ T = 2\Big(\sum_{k=2}^N a_k^2\Big)^{1/2} + \sum_{k=2}^N b_k
       + \Big(\sum_{k=2}^N c_k^2\Big)^{1/2}, $$
$$ a_k = L^D_k d\Lambda^{\mathrm s} + G_{N,k}(K_2\lambda\Lambda^{\mathrm s} + d\,h^{\mathrm s}),
   \quad b_k = L^D_k\rho_kK_2\lambda\Lambda^{\mathrm s} + \min(G_{N,k}\rho_k\lambda,
   Q_k\Lambda^{\mathrm s})(K_3\lambda\Lambda^{\mathrm s} + 2K_2h^{\mathrm s}),\quad
   c_k = G_{N,k}K_2\lambda\Lambda^{\mathrm s}, $$

all with index $k-1$ except $\rho_k$, $L^D_k$, $G_{N,k}$ ($L^D_N = 0$, $G_{N,N} = 1$) and
$Q_k$ (Lemma 8's largest column of $D_{N,k}W_k$ on the ball), and
$h^{\mathrm s}_k$ Lemma 8 for the sub-network ending at $z_k$ ($h^{\mathrm s}_1 = 0$).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sympy as sp

from symlip.bounds import recursion as rec
from symlip.bounds.sensitivity import (
    HDIR,
    Csym,
    Gssym,
    Gsym,
    LDsym,
    Lssym,
    Qcsym,
    _finish,
    _nn,
    _prod,
    dsym,
    gn_ball,
    kapsym,
    lamsym,
    lemma8_defs,
    local_gn_loss_program,
)
from symlip.symbolic.symbols import k3_layer

__all__ = ["local_curv_loss_program", "local_curv_derivation", "CV", "T3"]

#: $\ge \|\sum_o\bar g_o\nabla^2_\theta f_o(x;\bar\theta)\|_2$, per point (certified by
#: :func:`symlip.bounds.curvature.centre_curvature_norms`)
CV = _nn("CV")
#: the Lipschitz constant of $\theta \mapsto D^2_\theta f$ on the ball (defined)
T3 = _nn("T_3")
RCV = _nn("R_cv")
#: $\ge \|D^2_\theta f(x;\bar\theta)\|$, per point (certified by
#: :func:`symlip.bounds.curvature.output_hessian_norms`)
HC = _nn("HC")


def hssym(k: int) -> sp.Symbol:
    """$h^{\\mathrm s}_k \\ge \\mathrm{Lip}_{B_r}(D_\\theta z_k)$ (Lemma 8 for $z_k$)."""
    return _nn(f"hs_{k}")


def qssym(k: int, i: int) -> sp.Symbol:
    """Certified largest column norm of the reference $\\bar D_{k,i}\\bar W_i$ (hidden
    $k$; :func:`symlip.bounds.sensitivity.centre_chains`)."""
    return _nn(f"qs_{k}_{i}")


def _qs(k: int, i: int) -> sp.Symbol:
    return _nn(f"Qs_{k}_{i}")


def _vs(k: int, i: int) -> sp.Symbol:
    return _nn(f"Vs_{k}_{i}")


def _lds(k: int, j: int) -> sp.Symbol:
    return _nn(f"LDs_{k}_{j}")


def _gs(k: int, i: int) -> sp.Expr:
    return sp.Integer(1) if i == k else Gssym(k, i)


def _subnetwork_defs(N: int) -> list[rec.Definition]:
    """$h^{\\mathrm s}_k$ for $k = 2, \\dots, N-1$: Lemma 8 with $N \\to k$, spectral
    chains $G^{\\mathrm s}_{k,i}$ in place of $G_{N,i}$, both options of $V_i$ (the
    largest column of $D_{k,i}W_i$ from the certified reference one ``qs_k_i``)."""
    defs: list[rec.Definition] = []
    for k in range(2, N):
        defs += lemma8_defs(k, lambda i, k=k: _gs(k, i),
                            lambda i, k=k: sp.Integer(1) if i == k else Csym(k, i),
                            lambda i, k=k: None if i == k else qssym(k, i),
                            lambda i, k=k: _qs(k, i), lambda i, k=k: _vs(k, i),
                            lambda j, k=k: _lds(k, j), hssym(k), "k", " for $z_k$")
    return defs


def third_order_defs(N: int) -> list[rec.Definition]:
    """The definitions of $T$ (Lemma 12) for depth ``N`` (after Lemmas 7-8)."""
    defs = _subnetwork_defs(N)
    A, Bt, C = [], [], []
    for k in range(2, N + 1):
        hs = sp.Integer(0) if k - 1 == 1 else hssym(k - 1)
        ld = sp.Integer(0) if k == N else LDsym(k)
        gn = sp.Integer(1) if k == N else Gsym(N, k)
        K2, K3 = kapsym(k - 1), k3_layer(k - 1)
        lam, Ls, d, rho = lamsym(k - 1), Lssym(k - 1), dsym(k - 1), rec.rho(k)
        ta, tb, tc = _nn(f"ta_{k}"), _nn(f"tb_{k}"), _nn(f"tc_{k}")
        defs.append(rec.Definition(
            ta, ld * d * Ls + gn * (K2 * lam * Ls + d * hs),
            "coefficient of $\\|u_k\\| + \\|v_k\\|$: $(D_{N,k} - \\bar D_{N,k})U_k\\Sigma z[v]$ "
            "and $\\bar D_{N,k}U_k(\\Sigma z[v] - \\bar\\Sigma\\bar z[v])$ (Lemma 12)"))
        col = rec._min([gn * rho * lam, Qcsym(k) * Ls])
        defs.append(rec.Definition(
            tb, ld * rho * K2 * lam * Ls + col * (K3 * lam * Ls + 2 * K2 * hs),
            "the $\\sigma''$ term: $(D_{N,k} - \\bar D_{N,k})W_k(\\sigma''\\odot z[u]\\odot "
            "z[v])$ and the changes of $\\sigma''$ ($K_3$) and of $z[u], z[v]$; "
            "$\\|Q(v\\odot x\\odot y)\\| \\le \\max_m\\|Q_{:m}\\|\\,\\|v\\|_\\infty"
            "\\|x\\|_2\\|y\\|_2$ for $Q = \\bar D_{N,k}\\bar W_k$ (Lemma 12)"))
        defs.append(rec.Definition(
            tc, gn * K2 * lam * Ls,
            "coefficient of $\\|W_k - \\bar W_k\\|$ (Lemma 12)"))
        A.append(ta**2)
        Bt.append(tb)
        C.append(tc**2)
    defs.append(rec.Definition(
        T3, 2 * rec._sqrt(sp.Add(*A, evaluate=False)) + sp.Add(*Bt, evaluate=False)
        + rec._sqrt(sp.Add(*C, evaluate=False)),
        "$\\|D^2f(\\theta) - D^2f(\\bar\\theta)\\| \\le T\\|\\theta - \\bar\\theta\\|$: "
        "Cauchy-Schwarz over the layers, $\\sum_k\\|u_k\\|^2 \\le 1$ (Lemma 12)"))
    return defs


@lru_cache(maxsize=32)
def local_curv_loss_program(depth: int, loss: str, bounded: bool = True, centre: bool = True,
                            jac: bool = False, direc: bool = False, hcent: bool = False
                            ) -> tuple[tuple[rec.Definition, ...], tuple[sp.Symbol, ...]]:
    r"""Lemma 12: Lemma 11's per-point line with the curvature term
    $\min(G h_p,\ \mathrm{CV} + H_g l_p r h_p + E T r)$ (``direc``: and the directional
    option $h_g$ of Lemma 8g).  ``hcent``: with the certified centre norm
    $\mathrm{HC} \ge \|D^2f(\bar\theta)\|$ (Lemma 12c), $\sup_B\|D^2f\| \le
    h_b = \min(h_p, \mathrm{HC} + Tr)$ in place of $h_p$ and $\|J - \bar J\| \le
    r\min(h_p, \mathrm{HC} + Tr/2)$ in Lemma 11's $\Delta$."""
    N = rec._check_depth(depth)
    defs, inputs = local_gn_loss_program(N, loss, bounded, centre, jac, direc)
    defs = list(defs)
    last = defs.pop()  # B = GN_c + dGN + G h_p (or its minimum with h_g)
    defs += third_order_defs(N)
    lp, hp = _nn("l_p"), _nn("h_p")
    mse = rec._loss_name(loss) == "mse"
    dgn = _nn("dGN")
    extra: list[sp.Symbol] = []
    if hcent:
        hb, jd = _nn("h_b"), _nn("h_j")
        defs.append(rec.Definition(
            hb, rec._min([hp, HC + T3 * rec.R]),
            "$\\|D^2f(\\theta)\\| \\le \\|D^2f(\\bar\\theta)\\| + T\\|\\theta - "
            "\\bar\\theta\\|$ on the ball (Lemma 12c)"))
        defs.append(rec.Definition(
            jd, rec._min([hp, HC + T3 * rec.R / 2]),
            "$J(\\theta) - J(\\bar\\theta) = \\int_0^1D^2f(\\theta_t)[\\theta - "
            "\\bar\\theta]\\,dt$, $\\|D^2f(\\theta_t)\\| \\le \\mathrm{HC} + Ttr$ "
            "(Lemma 12c)"))
        dgn = _nn("dGN_c")
        defs.append(rec.Definition(
            dgn, rec._min([_nn("dGN"), gn_ball(lp, jd, mse)]),
            "Lemma 11's $\\Delta$ with $\\|J - \\bar J\\| \\le h_jr$ (Lemma 12c)"))
        hp = hb
        extra = [HC]
    # H >= sup of ||grad^2_f loss|| on the ball (the loss program's), the Lipschitz
    # constant of f -> grad_f loss on the segment from the centre
    hg = sp.Integer(1) if mse else rec.LOSS_HESS
    defs.append(rec.Definition(
        RCV, CV + _prod(hg, lp, rec.R, hp) + rec.E * T3 * rec.R,
        "$\\|g^TD^2f(\\theta) - \\bar g^TD^2f(\\bar\\theta)\\| \\le \\|g - \\bar g\\|\\,"
        "\\|D^2f\\| + \\|\\bar g\\|\\,\\|D^2f(\\theta) - D^2f(\\bar\\theta)\\|$, $\\|g - "
        "\\bar g\\| \\le H_g l_p r$ (Lemma 12)"))
    opts = [rec.LOSS_GRAD * hp, RCV] + ([HDIR] if HDIR in {d.symbol for d in defs} else [])
    defs.append(rec.Definition(
        last.symbol, _nn("GN_c") + dgn + rec._min(opts),
        "Lemma 11 with the curvature term bounded by $G h_p$"
        + (", by the directional option $h_g$ (Lemma 8g)" if len(opts) > 2 else "")
        + " or by its certified centre value plus the remainder (Lemma 12); the mean "
        "over the points is the bound"))
    k3 = [k3_layer(k) for k in range(1, N)]
    qs = [qssym(k, i) for k in range(3, N) for i in range(2, k)]
    return _finish(defs, list(inputs) + [CV, rec.E] + k3 + qs + extra)


def local_curv_derivation(depth: int | None = None, loss: str = "mse", hcent: bool = True
                          ) -> Any:
    """The proof steps of Lemma 12 (``hcent``: with Lemma 12c) and, for ``depth``, its
    last definitions."""
    from symlip.symbolic.derivation import Derivation, Tex

    d = Derivation("The curvature term: certified centre value plus a third-order "
                   "remainder (Lemma 12)")
    d.assume("$\\bar g = \\nabla_f\\lambda(f(x;\\bar\\theta), y)$, $\\mathrm{CV} \\ge "
             "\\|\\bar g^TD^2_\\theta f(x;\\bar\\theta)\\|$ (certified per point: the "
             "Hessian of $\\bar g^Tf$ is $Q^TSQ$ with $Q$ of $2\\sum_{k<N}n_k$ rows), "
             "$K_3^{(k)} \\ge \\sup|\\sigma'''|$ on layer $k$'s box")
    d.step(Tex(r"D^2z_N[u,v]"), "=", Tex(r"\sum_{k=2}^N D_{N,k}\,s_k[u,v]"),
           "$s_k = U_k\\Sigma_{k-1}z_{k-1}[v] + V_k\\Sigma_{k-1}z_{k-1}[u] + W_k(\\sigma''"
           "(z_{k-1})\\odot z_{k-1}[u]\\odot z_{k-1}[v])$, chain rule layer by layer")
    d.step(Tex(r"\|D^2f(\theta) - D^2f(\bar\theta)\|"), "<=", Tex(r"T\,r"),
           "$\\|D_{N,k} - \\bar D_{N,k}\\| \\le L^D_kr$ (Lemma 8), $\\|z[u] - \\bar z[u]\\| "
           "\\le h^{\\mathrm s}r$, $|\\sigma'' - \\bar\\sigma''| \\le K_3\\lambda r$, "
           "$\\|x\\odot y\\| \\le \\|x\\|_\\infty\\|y\\|_2$")
    d.step(Tex(r"\Big\|\sum_o g_o\nabla^2f_o(\theta)\Big\|"), "<=",
           Tex(r"\min\big(G\,h_p,\ \mathrm{CV} + H_g\,l_p\,r\,h_p + E\,T\,r\big)"),
           "triangle inequality around the centre; $H_g = 1$ (MSE), $H \\le \\tfrac12$ "
           "(softmax cross-entropy)")
    if hcent:
        d.step(Tex(r"\sup_{B_r}\|D^2f\|"), "<=", Tex(r"h_b = \min(h_p,\ \mathrm{HC} + T\,r)"),
               "$\\mathrm{HC} \\ge (\\sum_o\\|\\nabla^2f_o(\\bar\\theta)\\|^2)^{1/2} \\ge "
               "\\|D^2f(\\bar\\theta)\\|$, each $\\nabla^2f_o$ the centre curvature with "
               "the seed $e_o$; $h_b$ replaces $h_p$ above, and $\\|J - \\bar J\\| \\le "
               "r\\min(h_p, \\mathrm{HC} + Tr/2)$ in $\\Delta$ (Lemma 12c)")
    d.conclude("$\\sup_{B_r}\\|\\nabla^2L\\| \\le \\mathrm{GN}_c + \\frac1n\\sum_i(\\Delta_i + "
               "\\min(G_ih_{p,i}, \\mathrm{CV}_i + H_gl_{p,i}rh_{p,i} + E_iT_ir))$.")
    if depth is not None:
        defs, inputs = local_curv_loss_program(depth, loss, hcent=hcent)
        d.section(rec.program_derivation(
            [x for x in defs if str(x.symbol) in ("T_3", "R_cv", "B")], inputs,
            f"The last lines for N = {depth} ({rec._loss_name(loss)})"))
    return d
