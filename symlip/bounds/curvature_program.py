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
    HLOC,
    Csym,
    Gssym,
    Gsym,
    LDsym,
    Lssym,
    Qcsym,
    _finish,
    _nn,
    _prod,
    dssym,
    dsym,
    gn_ball,
    kapsym,
    lamsym,
    lemma8_defs,
    local_gn_loss_program,
    qcsym,
    telescoping_terms,
)
from symlip.symbolic.symbols import k3_layer

__all__ = ["local_curv_loss_program", "local_curv_derivation", "chain_derivative_defs", "CV",
           "T3"]

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


def LDcsym(j: int) -> sp.Symbol:
    r"""$\mathrm{LDc}_j \ge \sup_{\|u\|=1}\|\partial_uD_{N,j}(\bar\theta)\|_2$, per point
    (certified by :func:`symlip.bounds.curvature.output_second_order_norms`)."""
    return _nn(f"LDc_{j}")


def LDisym(j: int) -> sp.Symbol:
    """$L^D_j$ of Lemma 12d: the smaller of Lemma 8's and the centre value plus a
    remainder."""
    return _nn(f"LDi_{j}")


def _dev(k: int, j: int, sym: Any) -> sp.Expr:
    r"""$\sum_{i=j+1}^k X_{k,i}e_iC_{i-1,j} \ge \|D_{k,j}(\theta) - D_{k,j}(\bar\theta)\|$
    on the ball (the telescoping sum of Lemma 7; $X = G$ for $k = N$, $G^{\mathrm s}$
    else)."""
    return sp.Add(*telescoping_terms(k, j, sym), evaluate=False)


def chain_derivative_defs(N: int) -> list[rec.Definition]:
    r"""Lemma 12d: for $j = N-1, \dots, 1$ the remainder ``Rd_j`` $\ge \sup_{B_r}
    \|\partial_uD_{N,j}(\theta) - \partial_uD_{N,j}(\bar\theta)\|$ (unit $u$) and
    $L^D_j$ := $\min(L^D_j, \mathrm{LDc}_j + R_j)$ (``LDi_j``; the remainder of $j$
    uses the new $L^D_m$, $m > j$).  Needs $h^{\mathrm s}_k$ and $L^{D,\mathrm s}_{k,j}$
    (:func:`_subnetwork_defs`) before it."""
    defs: list[rec.Definition] = []
    r = rec.R
    for j in range(N - 1, 0, -1):
        own, wgt, rest = [], [], []
        for m in range(j + 1, N + 1):
            i = m - 1  # the layer of sigma', sigma'' in F_m = W_m Sigma_{m-1}
            d, ds, K2, K3 = dsym(i), dssym(i), kapsym(i), k3_layer(i)
            lam, Ls, rho = lamsym(i), Lssym(i), rec.rho(m)
            hs = sp.Integer(0) if i == 1 else hssym(i)
            if m == N:
                Cm, dD = sp.Integer(1), sp.Integer(0)
            else:
                Cm = Csym(N, m)
                dD = rec._min([LDisym(m) * r, _dev(N, m, Gsym)])
            if i == j:
                Gs, dS = sp.Integer(1), sp.Integer(0)
            else:
                Gs = Gssym(i, j)
                dS = rec._min([_lds(i, j) * r, _dev(i, j, Gssym)])
            qc = qcsym(m)
            own.append(_prod(dD, d, Gs) + _prod(Cm, ds, Gs) + _prod(Cm, d, dS))
            wgt.append(_prod(Cm, K2, lam, Gs))
            curv = rec._min([_prod(Cm, rho, K3 * lam**2 + K2 * hs),
                             _prod(qc, K3 * lam * Ls + K2 * hs)])
            rest.append(_prod(dD, rho, K2, lam, Gs) + _prod(curv, r, Gs)
                        + _prod(rec._min([_prod(Cm, rho, K2, lam), _prod(qc, K2, Ls)]), dS))
        Rd = _nn(f"Rd_{j}")
        defs.append(rec.Definition(
            Rd, rec._sqrt(sp.Add(*[o**2 for o in own], evaluate=False))
            + r * rec._sqrt(sp.Add(*[w_**2 for w_ in wgt], evaluate=False))
            + sp.Add(*rest, evaluate=False),
            "$\\partial_uD_{N,j} = \\sum_mD_{N,m}(U_m\\Sigma_{m-1} + W_m\\Gamma_{m-1}(u))"
            "D_{m-1,j}$, $\\Gamma(u) = \\operatorname{diag}(\\sigma''\\odot z[u])$, "
            "between $\\theta$ and $\\bar\\theta$ factor by factor; Cauchy-Schwarz over "
            "the blocks $U_m$ and $W_m - \\bar W_m$ (Lemma 12d)"))
        defs.append(rec.Definition(
            LDisym(j), rec._min([LDsym(j), LDcsym(j) + Rd]),
            "$\\|\\partial D_{N,j}(\\theta)\\| \\le \\|\\partial D_{N,j}(\\bar"
            "\\theta)\\| + R_j$ on the ball (Lemma 12d), or Lemma 8"))
    return defs


def third_order_defs(N: int, sub: bool = True) -> list[rec.Definition]:
    r"""The definitions of $T$ (Lemma 12) for depth ``N`` (after Lemmas 7-8; ``sub``:
    preceded by those of $h^{\mathrm s}_k$, :func:`_subnetwork_defs`)."""
    defs = _subnetwork_defs(N) if sub else []
    return defs + _third_order(N, LDsym, lambda k: Gsym(N, k), Qcsym, T3, "")


def _third_order(K: int, ld_: Any, gn_: Any, col_: Any, T: sp.Symbol, tag: str
                 ) -> list[rec.Definition]:
    r"""$T$ of Lemma 12 for the map $\theta \mapsto D^2_\theta z_K$: ``ld_(k)``,
    ``gn_(k)`` the bounds of $\|\partial D_{K,k}\|$ and $\|D_{K,k}\|$ on the ball
    ($k < K$), ``col_(k)`` the largest column of $D_{K,k}W_k$ on the ball, ``T`` the
    symbol defined and ``tag`` the suffix of the term names."""
    defs: list[rec.Definition] = []
    A, Bt, C = [], [], []
    for k in range(2, K + 1):
        hs = sp.Integer(0) if k - 1 == 1 else hssym(k - 1)
        ld = sp.Integer(0) if k == K else ld_(k)
        gn = sp.Integer(1) if k == K else gn_(k)
        K2, K3 = kapsym(k - 1), k3_layer(k - 1)
        lam, Ls, d, rho = lamsym(k - 1), Lssym(k - 1), dsym(k - 1), rec.rho(k)
        ta, tb, tc = _nn(f"ta{tag}_{k}"), _nn(f"tb{tag}_{k}"), _nn(f"tc{tag}_{k}")
        defs.append(rec.Definition(
            ta, ld * d * Ls + gn * (K2 * lam * Ls + d * hs),
            "coefficient of $\\|u_k\\| + \\|v_k\\|$: $(D_{N,k} - \\bar D_{N,k})U_k\\Sigma z[v]$ "
            "and $\\bar D_{N,k}U_k(\\Sigma z[v] - \\bar\\Sigma\\bar z[v])$ (Lemma 12)"))
        col = rec._min([gn * rho * lam, col_(k) * Ls])
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
    what = "f" if T == T3 else f"z_{{{K}}}"
    defs.append(rec.Definition(
        T, 2 * rec._sqrt(sp.Add(*A, evaluate=False)) + sp.Add(*Bt, evaluate=False)
        + rec._sqrt(sp.Add(*C, evaluate=False)),
        f"$\\|D^2{what}(\\theta) - D^2{what}(\\bar\\theta)\\| \\le T\\|\\theta - "
        "\\bar\\theta\\|$: Cauchy-Schwarz over the layers, $\\sum_k\\|u_k\\|^2 \\le 1$ "
        "(Lemma 12)"))
    return defs


def _swapped(d: rec.Definition, swap: dict[sp.Symbol, sp.Symbol]) -> rec.Definition:
    """``d`` with symbols renamed, rebuilt unevaluated (re-evaluating every ``Min`` of
    the large programs costs about a second)."""
    with sp.evaluate(False):
        return rec.Definition(d.symbol, d.expr.xreplace(swap), d.why)


def HSsym(k: int) -> sp.Symbol:
    r"""$\mathrm{HS}_k \ge$ the Frobenius norm of the $\sigma''$ part $\sum_{i\le k}
    D_{k,i}W_i(\sigma''(z_{i-1})\odot z_{i-1}[u]^{\odot2})$ of $D^2_\theta z_k(\bar
    \theta)[u,u]$, per point (certified by
    :func:`symlip.bounds.curvature.hidden_hessian_norms`)."""
    return _nn(f"HS_{k}")


def hsisym(k: int) -> sp.Symbol:
    r"""$h^{\mathrm s}_k$ of Lemma 12e: the smaller of Lemma 8's and the centre value plus
    a third-order remainder."""
    return _nn(f"hsi_{k}")


def hidden_centre_defs(N: int) -> list[rec.Definition]:
    r"""Lemma 12e: for $k = 2, \dots, N-1$ the third-order constant $T^{\mathrm s}_k$
    of $\theta \mapsto D^2_\theta z_k$ (Lemma 12's $T$ for the sub-network ending at
    $z_k$, with its chains $G^{\mathrm s}_{k,i}$, $L^{D,\mathrm s}_{k,i}$ and largest
    columns), the weight part $h^x_k = 2(\sum_{i=2}^k(G^{\mathrm s}_{k,i}d_{i-1}
    \Lambda^{\mathrm s}_{i-1})^2)^{1/2}$ of $\sup_B\|D^2z_k\|$ and $h^{\mathrm s}_k$ :=
    $\min(h^{\mathrm s}_k, h^x_k + \mathrm{HS}_k + T^{\mathrm s}_kr)$ (``hsi_k``), each
    $T^{\mathrm s}_k$ with the new $h^{\mathrm s}$ of the layers below.  Needs :func:`_subnetwork_defs` before it; later definitions
    use ``hsi_k`` in place of ``hs_k``."""
    defs: list[rec.Definition] = []
    swap: dict[sp.Symbol, sp.Symbol] = {}
    for k in range(2, N):
        Ts = _nn(f"Ts_{k}")
        tdefs = _third_order(
            k, lambda i, k=k: _lds(k, i), lambda i, k=k: Gssym(k, i),
            lambda i, k=k: rec.kappa(k) if i == k else _qs(k, i), Ts, f"s{k}")
        defs += [_swapped(d, swap) for d in tdefs]
        hx = _nn(f"hx_{k}")
        defs.append(rec.Definition(
            hx, 2 * rec._sqrt(sp.Add(*[_prod(_gs(k, i), dsym(i - 1), Lssym(i - 1))**2
                                       for i in range(2, k + 1)], evaluate=False)),
            "$\\|2\\sum_iD_{k,i}U_i\\Sigma_{i-1}z_{i-1}[u]\\| \\le 2\\sum_iG^{\\mathrm s}"
            "_{k,i}\\|u_i\\|d_{i-1}\\Lambda^{\\mathrm s}_{i-1}$, Cauchy-Schwarz over the "
            "layers: the weight part of $D^2z_k[u,u]$ on the ball (Lemma 12e)"))
        defs.append(rec.Definition(
            hsisym(k), rec._min([hssym(k), hx + HSsym(k) + Ts * rec.R]),
            "$\\|D^2z_k(\\theta)\\| \\le \\|D^2z_k(\\bar\\theta)\\| + T^{\\mathrm s}_k"
            "\\|\\theta - \\bar\\theta\\|$ on the ball, the centre value at most the weight "
            "part plus $\\mathrm{HS}_k$, the certified Frobenius norm of the $\\sigma''$ part "
            "(Lemma 12e), or Lemma 8"))
        swap[hssym(k)] = hsisym(k)
    return defs


@lru_cache(maxsize=32)
def local_curv_loss_program(depth: int, loss: str, bounded: bool = True, centre: bool = True,
                            jac: bool = False, direc: bool = False, hcent: bool = False,
                            ldcent: bool = False, hscent: bool = False
                            ) -> tuple[tuple[rec.Definition, ...], tuple[sp.Symbol, ...]]:
    r"""Lemma 12: Lemma 11's per-point line with the curvature term
    $\min(G h_p,\ \mathrm{CV} + H_g l_p r h_p + E T r)$ (``direc``: and the directional
    option $h_g$ of Lemma 8g).  ``hcent``: with the certified centre norm
    $\mathrm{HC} \ge \|D^2f(\bar\theta)\|$ (Lemma 12c), $\sup_B\|D^2f\| \le
    h_b = \min(h_p, \mathrm{HC} + Tr)$ in place of $h_p$ and $\|J - \bar J\| \le
    r\min(h_p, \mathrm{HC} + Tr/2)$ in Lemma 11's $\Delta$.  ``ldcent``: Lemma 8's
    $L^D_j$ (in $h_p$ and in $T$) replaced by $\min(L^D_j, \mathrm{LDc}_j + R_j)$, the
    certified centre derivative of the output chain plus a remainder (Lemma 12d).
    ``hscent``: $h^{\mathrm s}_k$ (in $T$ and in Lemma 12d's remainders) replaced by
    $\min(h^{\mathrm s}_k, h^x_k + \mathrm{HS}_k + T^{\mathrm s}_kr)$: a bound of the
    centre value of $\|D^2z_k\|$ (the weight part $h^x_k$ on the ball and the certified
    $\sigma''$ part $\mathrm{HS}_k$) plus a third-order remainder (Lemma 12e)."""
    N = rec._check_depth(depth)
    defs, inputs = local_gn_loss_program(N, loss, bounded, centre, jac, direc)
    defs = list(defs)
    last = defs.pop()  # B = GN_c + dGN + G h_p (or its minimum with h_g)
    ldc: list[sp.Symbol] = []
    hsc: list[sp.Symbol] = []
    sub = _subnetwork_defs(N)
    hswap: dict[sp.Symbol, sp.Symbol] = {}
    if hscent and N >= 3:
        sub += hidden_centre_defs(N)
        hswap = {hssym(k): hsisym(k) for k in range(2, N)}
        hsc = [HSsym(k) for k in range(2, N)]
    if ldcent and N >= 2:
        # h^s_k and the hidden L^D before Lemma 8's h (its last definition), then the
        # new L^D_j, which h and T use in place of Lemma 8's
        at = next(i for i, d in enumerate(defs) if d.symbol == HLOC)
        new = sub + [_swapped(d, hswap)
                     for d in chain_derivative_defs(N)]
        swap = {LDsym(j): LDisym(j) for j in range(1, N)} | hswap
        defs = (defs[:at] + new + [_swapped(d, swap)
                                   for d in defs[at:] + third_order_defs(N, sub=False)])
        ldc = [LDcsym(j) for j in range(1, N)]
    else:
        defs += sub + [_swapped(d, hswap)
                       for d in third_order_defs(N, sub=False)]
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
    return _finish(defs, list(inputs) + [CV, rec.E] + k3 + qs + extra + ldc + hsc)


def local_curv_derivation(depth: int | None = None, loss: str = "mse", hcent: bool = True,
                          ldcent: bool = True, hscent: bool = True) -> Any:
    """The proof steps of Lemma 12 (``hcent``: with Lemma 12c; ``ldcent``: with Lemma
    12d; ``hscent``: with Lemma 12e) and, for ``depth``, its last definitions."""
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
    if ldcent:
        d.step(Tex(r"\sup_{B_r}\|\partial D_{N,j}\|"), "<=",
               Tex(r"L^D_j = \min\big(L^D_j,\ \mathrm{LDc}_j + R_j\big)"),
               "$\\mathrm{LDc}_j \\ge \\sup_u\\|\\partial_uD_{N,j}(\\bar\\theta)\\|$ "
               "certified per point: with the seed $e_o$, $D_{N,j}^Te_o$ is the gradient "
               "with respect to the bias $b_j$, so its derivative is the $y_j$ rows of "
               "$SQ$ and its norm $\\|S_{y_j,:}L\\|$; $R_j$ bounds the change of "
               "$\\partial_uD_{N,j} = \\sum_mD_{N,m}(U_m\\Sigma_{m-1} + W_m"
               "\\operatorname{diag}(\\sigma''\\odot z_{m-1}[u]))D_{m-1,j}$ on the ball "
               "factor by factor (Lemma 12d); the new $L^D_j$ replaces Lemma 8's in $h_p$ "
               "and in $T$")
    if hscent:
        d.step(Tex(r"\sup_{B_r}\|D^2z_k\|"), "<=",
               Tex(r"h^{\mathrm s}_k = \min\big(h^{\mathrm s}_k,\ h^x_k + \mathrm{HS}_k + "
                   r"T^{\mathrm s}_kr\big)"),
               "$D^2z_k[u,u] = \\sum_{i\\le k}D_{k,i}(2U_i\\Sigma_{i-1}z_{i-1}[u] + W_i(\\sigma''"
               "\\odot z_{i-1}[u]^{\\odot2}))$: the weight part is at most $h^x_k = 2(\\sum_i"
               "(G^{\\mathrm s}_{k,i}d_{i-1}\\Lambda^{\\mathrm s}_{i-1})^2)^{1/2}$ on the ball; "
               "the $\\sigma''$ part at the centre is $\\sum_{i<k}J_i^T\\operatorname{diag}"
               "(\\Gamma_i[c,:])J_i$ per coordinate $c$, of Frobenius norm "
               "$(\\sum_{i,l}\\langle\\Gamma_i^T\\Gamma_l, P_{il}\\odot P_{il}\\rangle)^{1/2} "
               "\\le \\mathrm{HS}_k$ ($P_{il} = J_iJ_l^T$, certified per point); "
               "$T^{\\mathrm s}_k$ is $T$ below for the sub-network ending at $z_k$; the new "
               "$h^{\\mathrm s}$ replaces Lemma 8's in $T$ and in $R_j$ (Lemma 12e)")
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
        hs = hscent and depth >= 3
        defs, inputs = local_curv_loss_program(depth, loss, hcent=hcent, ldcent=ldcent,
                                               hscent=hs)
        shown = (("T_3", "R_cv", "B") + (("Rd_1", "LDi_1") if ldcent else ())
                 + ((f"hx_{depth - 1}", f"hsi_{depth - 1}") if hs else ()))
        d.section(rec.program_derivation(
            [x for x in defs if str(x.symbol) in shown], inputs,
            f"The last lines for N = {depth} ({rec._loss_name(loss)})"))
    return d
