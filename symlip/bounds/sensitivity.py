r"""Local sensitivities: a parameter-Lipschitz bound that stays tight with depth.

Lemma 7 of ``docs/theory-param.md`` (section 7).  For the feed-forward network
$z_k = W_k a_{k-1} + b_k$, $a_k = \sigma(z_k)$, $f = z_N$ and a data point $x$, write
$D_{k,j}(\theta) = \partial z_k/\partial z_j = F_k F_{k-1}\cdots F_{j+1}$ with
$F_i = W_i\,\Sigma_{i-1}$, $\Sigma_i = \operatorname{diag}(\sigma'(z_i))$, and
$\bar F_i$, $\bar D_{k,j}$ the same at the centre $\bar\theta$.  Then on the ball

$$ \sup_{B_r}\|J_\theta f\|_2 \le \Lambda := \Big(\sum_{j=1}^N G_{N,j}^2\,
   (\hat c_{j-1}^2 + 1)\Big)^{1/2}, $$

where $\hat c_{j} \ge \sup_{B_r}\|a_j\|$ and $G_{k,j} \ge \sup_{B_r}\|D_{k,j}\|_2$ come
from the exact telescoping identity
$D_{k,j} = \bar D_{k,j} + \sum_{i=j+1}^{k} D_{k,i}\,(F_i - \bar F_i)\,\bar D_{i-1,j}$:

$$ G_{k,j} = C_{k,j} + \sum_{i=j+1}^{k} G_{k,i}\, e_i\, C_{i-1,j},\qquad
   e_i = r\,d_{i-1} + \|\bar W_i\|_2\,\delta_{i-1} \ge \|F_i - \bar F_i\|_2, $$

$C_{k,j} \ge \|\bar D_{k,j}\|_2$ certified at the centre (midpoint-radius interval
products, the machinery of :mod:`symlip.bounds.local_jacobian`), $d_i \ge
\sup|\sigma'|$ and $\delta_i \ge \sup|\sigma' - \sigma'(\bar z_i)|$ over the
pre-activation box of layer $i$ on the ball (:func:`~symlip.bounds.local_jacobian.
derivative_ranges`).  The boxes come from the same program: each coordinate of $z_k$
moves by at most $r\,\lambda_k$ on the ball, $\lambda_k = (\sum_{j\le k}
(G^{\mathrm{row}}_{k,j})^2(\hat c_{j-1}^2+1))^{1/2}$ with the largest-row version
$G^{\mathrm{row}}$ of the recursion, and $\hat c_k = A_k + d_k\Lambda^{\mathrm s}_k r$
with the spectral version $\Lambda^{\mathrm s}_k \ge \sup_{B_r}\|D_\theta z_k\|_2$.

The program (:func:`local_first_order_program`) is the single source of truth: it is
evaluated layer by layer in outward-rounded interval arithmetic (the boxes of layer
$k$ need $\lambda_k$ before the ranges $d_k, \delta_k$ exist), and the final value is
$\min(\Lambda, l_N)$ with $l_N$ the recursion of :func:`~symlip.bounds.recursion.
first_order_program` (both certified).  Every product is enclosed with Higham's a priori
bounds, every norm is an upper end rounded up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp

from symlip.arith.array import IntervalArray
from symlip.arith.linalg import gamma as _gamma
from symlip.arith.linalg import up as _up
from symlip.bounds import recursion as rec
from symlip.bounds.centre import row_norms
from symlip.bounds.float_chains import fro as _fro
from symlip.bounds.float_chains import sumsq_upper as _sumsq_upper
from symlip.errors import InputError
from symlip.symbolic.compile import interval_lambdify
from symlip.symbolic.recursion import sym_key
from symlip.symbolic.symbols import k2_layer, k3_layer

__all__ = ["local_first_order_program", "local_loss_program", "local_param_inputs",
           "centre_chains", "float_forward", "batched_norm2_upper", "LOCAL_COST_BUDGET",
           "local_cost", "hidden_chain_cost", "output_chain_cost", "run_partial",
           "local_first_order_derivation", "local_second_order_derivation"]

#: largest ``n_points * sum_{j<a<N} n_a n_{a-1} n_j`` (multiply-adds of the hidden centre
#: chain products, :func:`hidden_chain_cost`) for which the local method computes them
#: all; beyond it those chain norms are products of norms (still certified).  The
#: output chains are always exact; when they and the exact hidden ones
#: (:func:`local_cost`) exceed ``4x`` it, the local method is not used (the recursion is)
LOCAL_COST_BUDGET = 4_000_000_000

_U = 2.0**-53
_ETA = 2.0**-1074


def _nn(name: str) -> sp.Symbol:
    return sp.Symbol(name, nonnegative=True)


def Csym(k: int, j: int) -> sp.Symbol:
    """$C_{k,j} \\ge \\|\\partial z_k/\\partial z_j(\\bar\\theta)\\|_2$ (centre chain norm)."""
    return _nn(f"C_{k}_{j}")


def Crsym(k: int, j: int) -> sp.Symbol:
    """Largest row norm of the centre chain $\\partial z_k/\\partial z_j(\\bar\\theta)$."""
    return _nn(f"Cr_{k}_{j}")


def dsym(k: int) -> sp.Symbol:
    """$d_k \\ge \\sup|\\sigma'|$ over layer $k$'s pre-activation box on the ball."""
    return _nn(f"d_{k}")


def dssym(k: int) -> sp.Symbol:
    """$\\delta_k \\ge \\sup|\\sigma'(z) - \\sigma'(\\bar z)|$ over the same box."""
    return _nn(f"ds_{k}")


def esym(k: int) -> sp.Symbol:
    return _nn(f"e_{k}")


def Gsym(k: int, j: int) -> sp.Symbol:
    return _nn(f"G_{k}_{j}")


def Grsym(k: int, j: int) -> sp.Symbol:
    return _nn(f"Gr_{k}_{j}")


def lamsym(k: int) -> sp.Symbol:
    return _nn(f"lam_{k}")


def chsym(k: int) -> sp.Symbol:
    return _nn(f"ch_{k}")


LOC = _nn("L_loc")
LPARAM = _nn("L_p")


def _prod(*factors: sp.Expr) -> sp.Expr:
    """Product without the factors 1 (unevaluated, so the printed order is kept); 0 if
    a factor is 0."""
    if any(f == 0 for f in factors):
        return sp.Integer(0)
    fs = [f for f in factors if f != 1]
    return fs[0] if len(fs) == 1 else sp.Mul(*fs, evaluate=False)


def telescoping_terms(k: int, j: int, sym: Any) -> list[sp.Expr]:
    """The terms $X_{k,i}e_iC_{i-1,j}$, $i = j+1..k$, of the telescoping identity of
    Lemma 7 ($X_{k,k} = 1$, $C_{j,j} = 1$); their sum bounds $\\|D_{k,j}(\\theta) -
    D_{k,j}(\\bar\\theta)\\|$ when ``sym`` gives the ball chain norms."""
    terms = []
    for i in range(j + 1, k + 1):
        xi = sp.Integer(1) if i == k else sym(k, i)
        ci = sp.Integer(1) if i - 1 == j else Csym(i - 1, j)
        terms.append(_prod(xi, esym(i), ci))
    return terms


def _chain(k: int, sym: Any, base: Any) -> list[rec.Definition]:
    """$X_{k,j} := B_{k,j} + \\sum_{i=j+1}^k X_{k,i} e_i C_{i-1,j}$ for $j = k-1..1$
    ($X_{k,k} = 1$, $C_{j,j} = 1$)."""
    out = []
    for j in range(k - 1, 0, -1):
        terms = telescoping_terms(k, j, sym)
        out.append(rec.Definition(sym(k, j), sp.Add(base(k, j), *terms, evaluate=False),
                                  "telescoping $D_{k,j} = \\bar D_{k,j} + \\sum_i D_{k,i}"
                                  "(F_i - \\bar F_i)\\bar D_{i-1,j}$ (Lemma 7)"))
    return out


def _sum_sq(k: int, sym: Any) -> sp.Expr:
    terms = []
    for j in range(1, k + 1):
        gj = sp.Integer(1) if j == k else sym(k, j)
        cj = rec.c(0) if j == 1 else chsym(j - 1)
        terms.append(_prod(gj**2, cj**2 + 1))
    return rec._sqrt(sp.Add(*terms, evaluate=False))


def _local_defs(N: int) -> tuple[list[rec.Definition], list[sp.Symbol]]:
    """The definitions of Lemma 7 alone (``e_k``; per hidden layer the largest-row
    chains ``Gr_k_j`` and ``lam_k`` (boxes), the spectral chains ``Gs_k_j`` and
    ``Ls_k`` ($\\ell_2$ distances, state norms ``ch_k``); ``G_N_j``, ``L_loc``)."""
    defs: list[rec.Definition] = []
    new_inputs: list[sp.Symbol] = []
    for k in range(1, N + 1):
        if k >= 2:
            defs.append(rec.Definition(
                esym(k), rec.R * dsym(k - 1) + (rec.rho(k) - rec.R) * dssym(k - 1),
                "$\\|W_k\\Sigma_{k-1} - \\bar W_k\\bar\\Sigma_{k-1}\\| \\le "
                "\\|W_k - \\bar W_k\\|\\,d_{k-1} + \\|\\bar W_k\\|\\,\\delta_{k-1}$"))
            new_inputs += [dsym(k - 1), dssym(k - 1)]
        if k < N:
            defs += _chain(k, Grsym, Crsym)
            defs.append(rec.Definition(lamsym(k), _sum_sq(k, Grsym),
                                       "largest row of $D_\\theta z_k$ on the ball "
                                       "(Cauchy-Schwarz over the layers)"))
            defs += _chain(k, Gssym, Csym)
            defs.append(rec.Definition(Lssym(k), _sum_sq(k, Gssym),
                                       "$\\sup_{B_r}\\|D_\\theta z_k\\|_2$ (Lemma 7 "
                                       "for $z_k$)"))
            defs.append(rec.Definition(chsym(k), rec.cent(k) + dsym(k) * Lssym(k) * rec.R,
                                       "$\\|a_k(\\theta)\\| \\le \\|a_k(\\bar\\theta)\\| + "
                                       "d_k\\|z_k(\\theta) - z_k(\\bar\\theta)\\|$"))
            new_inputs += [Crsym(k, j) for j in range(1, k)]
        else:
            defs += _chain(k, Gsym, Csym)
            defs.append(rec.Definition(LOC, _sum_sq(k, Gsym),
                                       "$\\|J_\\theta f\\|^2 \\le \\sum_j \\|D_{N,j}\\|^2"
                                       "(\\|a_{j-1}\\|^2 + 1)$ (Lemma 7)"))
        new_inputs += [Csym(k, j) for j in range(1, k)]
    return defs, new_inputs


def _finish(defs: list[rec.Definition], inputs: list[sp.Symbol]
            ) -> tuple[tuple[rec.Definition, ...], tuple[sp.Symbol, ...]]:
    used = set().union(*(d.expr.free_symbols for d in defs))
    defined = {d.symbol for d in defs}
    allin = [s for s in rec._dedup(inputs) if s in used and s not in defined]
    return tuple(defs), tuple(allin)


@lru_cache(maxsize=32)
def local_first_order_program(depth: int, bounded: bool = True
                              ) -> tuple[tuple[rec.Definition, ...], tuple[sp.Symbol, ...]]:
    r"""Definitions of the local-sensitivity bound (Lemma 7) for depth $N$, preceded by
    the recursion of :func:`~symlip.bounds.recursion.first_order_program` (centre
    option on); the last definition is $L_p = \min(\Lambda, l_N)$."""
    N = rec._check_depth(depth)
    defs, inputs = rec.first_order_program(N, bounded=bounded, centre=True)
    ldefs, linputs = _local_defs(N)
    defs = list(defs) + ldefs
    defs.append(rec.Definition(LPARAM, rec._min([LOC, rec.l(N)]),
                               "both are certified Lipschitz constants on the ball"))
    return _finish(defs, list(inputs) + linputs)


def kapsym(k: int) -> sp.Symbol:
    """$K_2^{(k)} \\ge \\sup|\\sigma''|$ over layer $k$'s pre-activation box (the local
    $K_2$ of :mod:`symlip.symbolic.symbols`)."""
    return k2_layer(k)


def Gssym(k: int, j: int) -> sp.Symbol:
    return _nn(f"Gs_{k}_{j}")


def Lssym(k: int) -> sp.Symbol:
    return _nn(f"Ls_{k}")


def qcsym(i: int) -> sp.Symbol:
    """Certified largest column norm of the reference $\\bar D_{N,i}\\bar W_i$."""
    return _nn(f"qc_{i}")


def Qcsym(i: int) -> sp.Symbol:
    return _nn(f"Qc_{i}")


def Vsym(i: int) -> sp.Symbol:
    return _nn(f"V_{i}")


def LDsym(j: int) -> sp.Symbol:
    return _nn(f"LD_{j}")


HLOC = _nn("h_loc")


def lemma8_defs(K: int, g: Any, c: Any, qref: Any, Q: Any, V: Any, LD: Any, h: sp.Symbol,
                end: str, tag: str, cols: Any = None) -> list[rec.Definition]:
    r"""Lemma 8 for the map $\theta \mapsto D_\theta z_K$ (the output $K = N$, or a
    hidden layer for Lemma 12's $h^{\mathrm s}_K$): the largest columns ``Q(i)`` of
    $D_{K,i}W_i$ on the ball, the $\sigma'$ parts ``V(i)``, $L^D_j$ as ``LD(j)`` and the
    Lipschitz constant ``h``.  ``g(i)``, ``c(i)``: $G_{K,i}$, $C_{K,i}$ (1 at $i = K$);
    ``qref(i)``: the certified reference largest column, or ``None`` when the largest
    column on the ball is $\kappa_i$ itself ($D_{K,K}W_K = W_K$); ``end``, ``tag``: $K$'s
    name and the lemma's qualifier in the explanations; ``cols(i)``: if given, the
    largest columns, defined elsewhere (``Q`` and ``qref`` are then not used)."""
    defs: list[rec.Definition] = []
    lemma = f"(Lemma 8{tag})"
    for i in range(2, K + 1):
        if cols is not None:
            col = cols(i)
        elif qref(i) is None:
            col = rec.kappa(i)
        else:
            col = Q(i)
            cdiff = (g(i) - c(i)) * rec.kappa(i) if i < K else sp.Integer(0)
            defs.append(rec.Definition(
                col, qref(i) + cdiff + _prod(c(i), rec.R),
                f"largest column of $D_{{{end},i}}W_i$ on the ball: the reference one plus "
                f"$\\|D_{{{end},i}} - \\bar D_{{{end},i}}\\|\\,\\max_m\\|W_{{i,:m}}\\| + "
                f"\\|\\bar D_{{{end},i}}\\|\\,r$ {lemma}"))
        curv = rec._min([_prod(g(i), rec.rho(i), lamsym(i - 1)), col * Lssym(i - 1)])
        defs.append(rec.Definition(
            V(i), kapsym(i - 1) * curv,
            f"$\\|D_{{{end},i}}W'_i(\\Sigma_{{i-1}} - \\Sigma'_{{i-1}})X\\| \\le K_2^{{(i-1)}}"
            f"\\min(G_{{{end},i}}\\rho_i\\lambda_{{i-1}}, Q_i\\Lambda^{{\\mathrm s}}_{{i-1}})"
            f"\\|X\\|\\|\\Delta\\|$: $\\|Q\\operatorname{{diag}}(v)X\\| \\le \\max_m"
            f"\\|Q_{{:m}}\\|\\,\\|v\\|_2\\|X\\|$ {lemma}"))
    for j in range(1, K):
        own, terms = [], []
        for i in range(j + 1, K + 1):
            gs = sp.Integer(1) if i - 1 == j else Gssym(i - 1, j)
            own.append(_prod(g(i), dsym(i - 1), gs))
            terms.append(_prod(V(i), gs))
        norm = own[0] if len(own) == 1 else rec._sqrt(sp.Add(*[o**2 for o in own],
                                                             evaluate=False))
        defs.append(rec.Definition(
            LD(j), norm + sp.Add(*terms, evaluate=False),
            "telescoping between $\\theta$ and $\\theta'$: $\\|F_i - F'_i\\| \\le d_{i-1}"
            "\\|\\Delta_i\\| + \\rho_iK_2^{(i-1)}\\lambda_{i-1}\\|\\Delta\\|$; "
            f"Cauchy-Schwarz over the layers' own blocks $\\Delta_i$ {lemma}"))
    terms = []
    for j in range(1, K + 1):
        cj = rec.c(0) if j == 1 else chsym(j - 1)
        first = sp.Integer(0) if j == K else LD(j) * rec._sqrt(cj**2 + 1)
        second = sp.Integer(0) if j == 1 else g(j) * dsym(j - 1) * Lssym(j - 1)
        terms.append((first + second) ** 2)
    defs.append(rec.Definition(
        h, rec._sqrt(sp.Add(*terms, evaluate=False)),
        f"$\\|(J - J')u\\| \\le \\sum_j (\\|D_{{{end},j}} - D'_{{{end},j}}\\|"
        f"\\sqrt{{\\|a_{{j-1}}\\|^2+1}} + \\|D'_{{{end},j}}\\|\\,\\|a_{{j-1}} - "
        f"a'_{{j-1}}\\|)\\|u_j\\|$, Cauchy-Schwarz {lemma}"))
    return defs


@lru_cache(maxsize=32)
def local_loss_program(depth: int, loss: str, bounded: bool = True, centre: bool = True,
                       jac: bool = False
                       ) -> tuple[tuple[rec.Definition, ...], tuple[sp.Symbol, ...]]:
    r"""The loss program of :func:`~symlip.bounds.recursion.loss_program` with the local
    quantities of Lemmas 7 and 8: the last line is
    $B = H\min(\Lambda, l_N)^2 + G\min(h_{loc}, h_N)$, and $G$, $H$ (and $c_N$) use
    $l_p = \min(\Lambda, l_N)$ in their ball options."""
    N = rec._check_depth(depth)
    odefs, oinputs = rec.loss_program(N, loss, bounded=bounded, centre=centre, jac=jac)
    odefs = list(odefs)
    last = odefs.pop()  # B = H l_N^2 + G h_N
    ldefs, linputs = _local_defs(N)
    defs = odefs + ldefs
    defs += lemma8_defs(N, lambda i: sp.Integer(1) if i == N else Gsym(N, i),
                        lambda i: sp.Integer(1) if i == N else Csym(N, i), qcsym,
                        Qcsym, Vsym, LDsym, HLOC, "N", "")
    linputs += [qcsym(i) for i in range(2, N + 1)] + [kapsym(j) for j in range(1, N)]
    lp, hp = _nn("l_p"), _nn("h_p")
    defs.append(rec.Definition(lp, rec._min([LOC, rec.l(N)]), "Lemma 7 or the recursion"))
    defs.append(rec.Definition(hp, rec._min([HLOC, rec.h(N)]), "Lemma 8 or the recursion"))
    # the loss factors' ball options with Lemma 7's l_p (the recursion's l_N explodes
    # with depth): moved after l_p
    movable = {rec.c(N), rec.LOSS_GRAD, rec.LOSS_HESS}
    moved = [d for d in defs if d.symbol in movable]
    defs = [d for d in defs if d.symbol not in movable]
    for d in moved:
        defs.append(rec.Definition(d.symbol, d.expr.xreplace({rec.l(N): lp}),
                                   d.why + "; $\\|f(\\theta) - f(\\bar\\theta)\\| \\le l_p r$"))
    expr = last.expr.xreplace({rec.l(N): lp, rec.h(N): hp})
    defs.append(rec.Definition(last.symbol, expr,
                               last.why + "; $\\|J\\| \\le l_p$, $\\mathrm{Lip}(J) \\le h_p$"))
    return _finish(defs, list(oinputs) + linputs)


def local_first_order_derivation(depth: int | None = None) -> Any:
    """The proof steps of Lemma 7 and, for ``depth``, the program."""
    from symlip.symbolic.derivation import Derivation, Tex

    d = Derivation("Local sensitivities: parameter-Lipschitz bound on a ball (Lemma 7)")
    d.assume("$D_{k,j} = \\partial z_k/\\partial z_j = F_k\\cdots F_{j+1}$, $F_i = W_i"
             "\\Sigma_{i-1}$, $\\Sigma_i = \\mathrm{diag}(\\sigma'(z_i))$; bars: at "
             "$\\bar\\theta$")
    d.step(Tex(r"\|f(x;\theta) - f(x;\theta')\|"), "<=",
           Tex(r"\sup_{\xi\in B_r}\|J_\theta f(x;\xi)\|_2\,\|\theta - \theta'\|"),
           "mean value theorem on the convex ball (a.e. chain rule at kinks)")
    d.step(Tex(r"\|J_\theta f\,\Delta\|"), "<=",
           Tex(r"\sum_j \|D_{N,j}\|_2\sqrt{\|a_{j-1}\|^2+1}\,\|\Delta_j\| \le "
               r"\Big(\sum_j \|D_{N,j}\|_2^2(\|a_{j-1}\|^2+1)\Big)^{1/2}\|\Delta\|"),
           "$\\partial f/\\partial\\theta_j\\,\\Delta_j = D_{N,j}(\\Delta W_j a_{j-1} + "
           "\\Delta b_j)$; Cauchy-Schwarz over the layers")
    d.step(Tex(r"D_{k,j}"), "=",
           Tex(r"\bar D_{k,j} + \sum_{i=j+1}^{k} D_{k,i}(F_i - \bar F_i)\bar D_{i-1,j}"),
           "telescoping ($\\prod (A_i + E_i) - \\prod A_i$, one factor changed at a time)")
    d.step(Tex(r"\|F_i - \bar F_i\|_2"), "<=",
           Tex(r"\|W_i - \bar W_i\|_2\,\|\Sigma_{i-1}\|_2 + \|\bar W_i\|_2\,"
               r"\|\Sigma_{i-1} - \bar\Sigma_{i-1}\|_2 \le r\,d_{i-1} + \|\bar W_i\|_2"
               r"\,\delta_{i-1} = e_i"),
           "$d, \\delta$: ranges of $\\sigma'$ on the pre-activation boxes of the ball")
    d.step(Tex(r"|z_{k,i}(\theta) - z_{k,i}(\bar\theta)|"), "<=",
           Tex(r"r\,\lambda_k"),
           "mean value theorem per coordinate with the largest-row recursion "
           "$G^{\\mathrm{row}}$ (boxes of layer $k$ from layers $< k$)")
    d.conclude("$\\Lambda$ is a Lipschitz constant of $\\theta \\mapsto f(x;\\theta)$ on "
               "$B_r(\\bar\\theta)$; the bound is $\\min(\\Lambda, l_N)$.")
    if depth is not None:
        defs, inputs = local_first_order_program(depth)
        n_old = len(rec.first_order_program(depth, centre=True)[0])
        d.section(rec.program_derivation(defs[n_old:], inputs,
                                         f"The local program for N = {depth}"))
    return d


def local_second_order_derivation(depth: int | None = None) -> Any:
    """The proof steps of Lemma 8 and, for ``depth``, its definitions (MSE)."""
    from symlip.symbolic.derivation import Derivation, Tex

    d = Derivation("Local sensitivities: Lipschitz constant of the parameter Jacobian "
                   "(Lemma 8)")
    d.assume("$\\theta, \\theta' \\in B_r(\\bar\\theta)$, $\\Delta = \\theta - \\theta'$; "
             "primes: at $\\theta'$; $G$, $G^{\\mathrm{s}}$, $\\lambda$, $\\Lambda^{\\mathrm{s}}$, "
             "$\\hat c$, $d$ from Lemma 7")
    d.step(Tex(r"D_{N,j} - D'_{N,j}"), "=",
           Tex(r"\sum_{i=j+1}^{N} D_{N,i}\,(F_i - F'_i)\,D'_{i-1,j}"),
           "telescoping between the two parameter points")
    d.step(Tex(r"\|F_i - F'_i\|_2"), "<=",
           Tex(r"\|\Delta W_i\|\,d_{i-1} + \rho_i\,\|\Sigma_{i-1} - \Sigma'_{i-1}\|_2 \le "
               r"d_{i-1}\|\Delta_i\| + \rho_iK_2^{(i-1)}\lambda_{i-1}\|\Delta\|"),
           "$|\\sigma'(s) - \\sigma'(t)| \\le K_2^{(i-1)}|s - t|$ on the box (convex), "
           "$|z_{i-1,m} - z'_{i-1,m}| \\le \\lambda_{i-1}\\|\\Delta\\|$; $\\Delta_i$ is layer "
           "$i$'s own block of $\\Delta$")
    d.step(Tex(r"\|D_{N,j} - D'_{N,j}\|_2"), "<=",
           Tex(r"\Big(\Big(\sum_i\big(G_{N,i}d_{i-1}G^{\mathrm{s}}_{i-1,j}\big)^2\Big)^{1/2}"
               r" + \sum_{i} V_iG^{\mathrm{s}}_{i-1,j}\Big)\|\Delta\| =: L^D_j\|\Delta\|"),
           "Cauchy-Schwarz over the own blocks, $\\sum_i\\|\\Delta_i\\|^2 \\le \\|\\Delta\\|^2$; "
           "$V_i = K_2^{(i-1)}\\min(G_{N,i}\\rho_i\\lambda_{i-1}, Q_i\\Lambda^{\\mathrm s}_{i-1})$ "
           "(largest column $Q_i$ of $D_{N,i}W_i$)")
    d.step(Tex(r"\|(J - J')u\|"), "<=",
           Tex(r"\sum_j \big(L^D_j\sqrt{\hat c_{j-1}^2+1} + G_{N,j}\,d_{j-1}"
               r"\Lambda^{\mathrm{s}}_{j-1}\big)\|u_j\|\,\|\Delta\| \le h_{loc}\|u\|"
               r"\|\Delta\|"),
           "$Ju = \\sum_j D_{N,j}(U_ja_{j-1} + u_{b,j})$; $\\|a_{j-1} - a'_{j-1}\\| \\le "
           "d_{j-1}\\Lambda^{\\mathrm{s}}_{j-1}\\|\\Delta\\|$; Cauchy-Schwarz over the layers")
    d.step(Tex(r"\|\nabla_\theta\ell(\theta) - \nabla_\theta\ell(\theta')\|"), "<=",
           Tex(r"\|J - J'\|\,\|\nabla\lambda\| + \|J'\|\,\|\nabla\lambda - "
               r"\nabla\lambda'\| \le (G\,h_p + H\,l_p^2)\|\Delta\|"),
           "$\\nabla_\\theta\\ell = J^T\\nabla\\lambda(f)$; $l_p = \\min(\\Lambda, l_N)$, "
           "$h_p = \\min(h_{loc}, h_N)$")
    if depth is not None:
        defs, inputs = local_loss_program(depth, "mse")
        n_old = len(rec.loss_program(depth, "mse")[0]) - 1
        d.section(rec.program_derivation(
            [x for x in defs[n_old:]
             if str(x.symbol).startswith(("Qc", "V_", "LD", "h_loc", "h_p", "B"))],
            inputs, f"The local second-order lines for N = {depth} (MSE)"))
    return d


# ------------------------------------------------------------------------------------
# certified local inputs
# ------------------------------------------------------------------------------------


def batched_norm2_upper(mid: np.ndarray, rad: np.ndarray | None) -> np.ndarray:
    r"""Per batch element, a certified upper bound of $\sup\{\|M\|_2 : |M - \mathrm{mid}|
    \le \mathrm{rad}\}$ (arrays ``(B, m, n)``).

    $\|M\|_2 \le \|\mathrm{mid}\|_2 + \|\mathrm{rad}\|_F$, and $\|\mathrm{mid}\|_2^2 =
    \lambda_{\max}(G)$, $G = \mathrm{mid}\,\mathrm{mid}^T$ (smaller side): with $\hat G =
    \mathrm{fl}(G)$, $\|G - \hat G\|_2 \le \gamma_n\|\mathrm{mid}\|_F^2 + mn\eta$; a
    shift $\alpha$ above the computed top eigenvalue and a float Cholesky
    $\mathrm{fl}(\alpha I - \hat G) = RR^T - \Delta$, $|\Delta| \le \gamma_{m+1}|R||R^T|$
    (Demmel), give $\lambda_{\max}(\hat G) \le \alpha + \gamma_{m+1}\|R\|_F^2 +
    u\max_i|\mathrm{fl}(\alpha - \hat G_{ii})|$ (the diagonal subtraction rounds once).
    Where Cholesky fails the Frobenius norm is used.  Also capped by
    $\||\mathrm{mid}| + \mathrm{rad}\|_F$.  Every step rounded up.
    """
    if mid.shape[-2] > mid.shape[-1]:
        mid = np.swapaxes(mid, -1, -2)
        rad = None if rad is None else np.swapaxes(rad, -1, -2)
    B, m, n = mid.shape
    fro2 = _sumsq_upper(mid, (1, 2))
    mag = np.abs(mid) if rad is None else _up(np.abs(mid) + rad)
    cap = _up(np.sqrt(_sumsq_upper(mag, (1, 2))))
    radf = np.zeros(B) if rad is None else _up(np.sqrt(_sumsq_upper(rad, (1, 2))))
    if m == 1:
        best = np.minimum(_up(_up(np.sqrt(fro2)) + radf), cap)
        return best
    G = mid @ np.swapaxes(mid, -1, -2)
    G = 0.5 * (G + np.swapaxes(G, -1, -2))  # exact halves of the same two products
    errG = _up(_up(_gamma(n) * fro2) + m * n * 4 * _ETA)
    lam = np.linalg.eigvalsh(G)[:, -1]
    lam = np.maximum(lam, 0.0)
    out = np.sqrt(fro2)
    scale = np.maximum(lam, 1e-300)
    for factor in (1e-12, 1e-9, 1e-6, 1e-3):
        alpha = _up(lam + factor * scale + 4 * errG)
        Aii = alpha[:, None, None] * np.eye(m) - G
        try:
            Rm = np.linalg.cholesky(Aii)
            ok = np.ones(B, dtype=bool)
        except np.linalg.LinAlgError:
            Rm = np.zeros_like(Aii)
            ok = np.zeros(B, dtype=bool)
            for b in range(B):
                try:
                    Rm[b] = np.linalg.cholesky(Aii[b])
                    ok[b] = True
                except np.linalg.LinAlgError:
                    pass
        rf = _sumsq_upper(Rm, (1, 2))
        diag = np.max(np.abs(np.diagonal(Aii, axis1=1, axis2=2)), axis=1)
        top = _up(_up(_up(alpha + _up(_gamma(m + 1) * rf)) + _up(diag * _U)) + errG)
        val = _up(np.sqrt(top))
        out = np.where(ok & np.isfinite(val), np.minimum(out, val), out)
        if ok.all():
            break
    out = _up(out)
    return np.minimum(_up(out + radf), cap)


def hidden_chain_cost(net: Any, n_points: int) -> int:
    r"""Multiply-adds of the hidden centre chain products $\bar D_{a,j}$, $j < a < N$
    (beyond :data:`LOCAL_COST_BUDGET` they are products of norms instead)."""
    w = net.widths
    N = net.depth
    return n_points * sum(w[a] * w[a - 1] * w[j] for j in range(1, N) for a in range(j + 1, N))


def output_chain_cost(net: Any, n_points: int) -> int:
    r"""Multiply-adds of the output chains $\bar D_{N,j}$ (always computed exactly: the
    first-order bound is a sum over them)."""
    w = net.widths
    N = net.depth
    return n_points * sum(w[N] * w[j] * w[j - 1] for j in range(2, N))


def local_cost(net: Any, n_points: int) -> int:
    """Multiply-adds of the centre chains the local method computes: the output chains,
    and the hidden ones where they are within :data:`LOCAL_COST_BUDGET` (see
    :func:`symlip.bounds.param_core.local_applies`)."""
    hidden = hidden_chain_cost(net, n_points)
    return output_chain_cost(net, n_points) + (hidden if hidden <= LOCAL_COST_BUDGET else 0)


@dataclass
class LocalInputs:
    r"""Per-point centre quantities of the local program.

    ``zhat[k]``: float pre-activations of hidden layer ``k+1`` at the centre, ``ez[k]``
    a certified per-point bound of $\|z_{k+1}(\bar\theta) - \hat z_{k+1}\|_2$,
    ``shat[k]``: the float reference derivatives $\tilde s_{k+1}$ (any fixed floats)."""

    per_point: dict[str, IntervalArray]
    zhat: list[np.ndarray]
    ez: list[np.ndarray]
    shat: list[np.ndarray]
    full_chains: bool
    timings: dict[str, float] = field(default_factory=dict)


def _pt(v: np.ndarray) -> IntervalArray:
    v = np.asarray(v, dtype=np.float64)
    return IntervalArray(v.copy(), v.copy())


_TINY = 1e-290  # > every underflow term of the error bounds below (each <= n * 2^-1074)


@dataclass
class FloatForward:
    """A float forward pass with certified norm-wise errors (see :func:`float_forward`)."""

    zhat: list[np.ndarray]
    ez: list[np.ndarray]
    shat: list[np.ndarray]
    A: list[np.ndarray]
    out: np.ndarray
    eout: np.ndarray


def float_forward(net: Any, X: np.ndarray, spec_up: list[float] | None = None
                  ) -> FloatForward:
    r"""Float forward pass of a dense chain with per-point certified bounds
    $e^z_k \ge \|z_k - \hat z_k\|_2$ (every layer, the last one is the output):
    $e^z_k = \|W_k\|_2 e^a_{k-1} + \gamma_{n+1}\|W_k\|_F\|\hat a_{k-1}\| +
    2u\|\hat z_k\|$ (Higham's dot-product bound in any order, the bias addition one
    rounding), $\hat a_k$ the midpoints of the NumPy interval enclosure of
    $\sigma(\hat z_k)$, $e^a_k = K_1 e^z_k + \|\sigma(\hat z_k) - \hat a_k\|$; also
    $A_k \ge \|a_k\|$ and the float derivatives $\tilde s_k = \sigma'(\hat z_k)$.
    Norm-wise errors grow like $\prod\|W_k\|_2$, not like the interval wrapping
    $\prod\||W_k|\|_2$.  ``spec_up``: certified $\|W_k\|_2$ (default: Frobenius)."""
    from symlip.errors import InputError
    from symlip.models.network import sigma_box

    N = net.depth
    Ws = [layer.weight for layer in net.layers]
    frob = [float(_up(np.sqrt(_sumsq_upper(W[None], (1, 2)))[0])) for W in Ws]
    spec = frob if spec_up is None else spec_up
    a = np.asarray(X, dtype=np.float64)
    ea = np.zeros(a.shape[0])
    zhat, ezs, shat, A = [], [], [], []
    for k in range(N):
        layer = net.layers[k]
        z = a @ layer.weight.T + layer.bias
        an = row_norms(a).hi
        zn = row_norms(z).hi
        ez = _up(_up(_up(ea * spec[k]) + _up(an * _up(_gamma(layer.shape[1] + 1) * frob[k])))
                 + _up(zn * 2 * _U)) + _TINY
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(ez))):
            raise InputError(f"float forward pass overflowed in layer {layer.name!r}")
        if k == N - 1:
            return FloatForward(zhat, ezs, shat, A, z, ez)
        act = net.activations[k]
        K1 = act.constants.K1.enclosure.upper_float
        with np.errstate(over="ignore", invalid="ignore"):
            sig = sigma_box(net.activations[k], IntervalArray(z))
        ahat = np.clip(0.5 * sig.lo + 0.5 * sig.hi, sig.lo, sig.hi)
        dev = np.maximum(_up(sig.hi - ahat), _up(ahat - sig.lo))
        if not (np.all(np.isfinite(dev)) and np.all(np.isfinite(ahat))):
            raise InputError(f"centre activation of layer {layer.name!r} is not finite")
        ea = _up(_up(ez * K1) + row_norms(dev).hi)
        A.append(_up(row_norms(ahat).hi + ea))
        with np.errstate(over="ignore", invalid="ignore"):
            st = np.asarray(act.dsigma(z), dtype=np.float64)
        zhat.append(z)
        ezs.append(ez)
        shat.append(np.where(np.isfinite(st), st, 0.0))
        a = ahat
    raise AssertionError("unreachable")  # pragma: no cover


def centre_chains(net: Any, X: np.ndarray, spec_up: list[float]) -> LocalInputs:
    """:func:`_centre_chains`, shared by the parameter and gradient bounds on the same
    network and data (:func:`symlip.bounds.centre.cached_on_network`)."""
    from symlip.bounds.centre import cached_on_network

    return cached_on_network("chains", net, X, np.asarray(spec_up, float),
                             hidden_chain_cost(net, X.shape[0]) <= LOCAL_COST_BUDGET,
                             lambda: _centre_chains(net, X, spec_up))


def _largest_column(P: np.ndarray, err: np.ndarray) -> np.ndarray:
    """Per point, an upper bound of the largest column norm of the exact matrix whose
    float stack is ``P`` (points, rows, columns), with Frobenius error ``err``."""
    cols = row_norms(np.swapaxes(P, 1, 2).reshape(-1, P.shape[1])).hi
    return _up(cols.reshape(P.shape[0], -1).max(axis=1) + err)


def _centre_chains(net: Any, X: np.ndarray, spec_up: list[float]) -> LocalInputs:
    r"""The centre quantities of Lemma 7, from one float forward pass with norm-wise
    error bounds (no interval wrapping, which grows like $\||W|\|_2^N$).

    * $\hat z_k = \mathrm{fl}(W_k\hat a_{k-1} + b_k)$ with $\|z_k - \hat z_k\| \le e^z_k
      = \|W_k\|_2 e^a_{k-1} + \gamma_{n+1}\|W_k\|_F\|\hat a_{k-1}\| + 2u\|\hat z_k\|$
      (as in :func:`symlip.bounds.centre.centre_norms`), $\hat a_k$ the midpoints of
      the NumPy interval enclosure of $\sigma(\hat z_k)$ and $e^a_k = K_1 e^z_k +
      \|\sigma(\hat z_k) - \hat a_k\|$ (bounded by that enclosure); $A_k = \|\hat a_k\|
      + e^a_k$.
    * reference derivatives $\tilde s_k = \mathrm{fl}(\sigma'(\hat z_k))$: any fixed
      floats (the telescoping identity holds for any reference factors
      $\bar F_i = \bar W_i\operatorname{diag}(\tilde s_{i-1})$; $\delta_i$ is measured
      from them).
    * the reference chains $\bar D_{k,j}$ as float products with a Frobenius error
      bound per step: $\|\hat P W S - \mathrm{fl}(\mathrm{fl}(\hat P W)S)\|_F \le
      \gamma_n\|\hat P\|_F\|W\|_F\max|s| + u\|\mathrm{result}\|_F$ (Higham), earlier
      errors times $\|W\|_2\max|s|$; $C_{k,j}$ = certified spectral norm
      (:func:`batched_norm2_upper`) plus the error, $C^{\mathrm{row}}_{k,j}$ the largest
      row norm plus the error.
    """
    N = net.depth
    B = X.shape[0]
    Ws = [layer.weight for layer in net.layers]
    frob = [float(_up(np.sqrt(_sumsq_upper(W[None], (1, 2)))[0])) for W in Ws]
    fw = float_forward(net, X, spec_up)
    zhat, ezs, shat = fw.zhat, fw.ez, fw.shat
    pp: dict[str, IntervalArray] = {f"A_{k}": _pt(v) for k, v in enumerate(fw.A, start=1)}
    smax = [np.abs(s).max(axis=1) for s in shat]
    # output chains C_{N,j}: backward, (B, n_N, n_j)
    if N >= 2:
        P = np.broadcast_to(Ws[N - 1], (B,) + Ws[N - 1].shape)
        err = np.zeros(B)
        for j in range(N - 1, 0, -1):
            P = P * shat[j - 1][:, None, :]
            err = _up(_up(err * smax[j - 1]) + _up(_fro(P) * _U)) + _TINY
            pp[f"C_{N}_{j}"] = _pt(_up(batched_norm2_upper(P, None) + err))
            if j > 1:
                fP = _fro(P)
                # one GEMM over the stacked rows (a broadcast batched matmul loops
                # over the points, ~8x slower at 10 x 1024 x 1024 per point)
                P = (P.reshape(-1, P.shape[-1]) @ Ws[j - 1]).reshape(B, P.shape[1], -1)
                err = _up(_up(err * spec_up[j - 1])
                          + _up(fP * _up(_gamma(Ws[j - 1].shape[0]) * frob[j - 1]))) + _TINY
                # largest column of the reference D_{N,j} W_j (for Lemma 8)
                pp[f"qc_{j}"] = _pt(_largest_column(P, err))
    colmax = [float(row_norms(W.T).hi.max()) for W in Ws]
    if N >= 2:
        pp[f"qc_{N}"] = _pt(np.full(B, colmax[N - 1]))
    full = hidden_chain_cost(net, B) <= LOCAL_COST_BUDGET
    for j in range(1, N - 1):
        # P = reference D_{k,j+1} W_{j+1} (its largest column: Lemma 8's second option
        # for the sub-networks), Q = P diag(s_j) = reference D_{k,j}
        if full:
            P = np.broadcast_to(Ws[j], (B,) + Ws[j].shape)
            errP = np.zeros(B)
        for k in range(j + 1, N):
            if full:
                if k > j + 1:
                    P = P * shat[k - 2][:, :, None]
                    errP = _up(_up(errP * smax[k - 2]) + _up(_fro(P) * _U)) + _TINY
                    fP = _fro(P)
                    P = Ws[k - 1] @ P
                    errP = _up(_up(errP * spec_up[k - 1])
                               + _up(fP * _up(_gamma(Ws[k - 1].shape[1]) * frob[k - 1]))) + _TINY
                    pp[f"qs_{k}_{j + 1}"] = _pt(_largest_column(P, errP))
                Q = P * shat[j - 1][:, None, :]
                err = _up(_up(errP * smax[j - 1]) + _up(_fro(Q) * _U)) + _TINY
                cn = _up(batched_norm2_upper(Q, None) + err)
                crow = _up(row_norms(Q.reshape(-1, Q.shape[-1])).hi.reshape(B, -1).max(axis=1)
                           + err)
            else:  # products of norms (certified, looser)
                prev = np.ones(B) if k == j + 1 else pp[f"C_{k - 1}_{j}"].hi
                cn = _up(_up(spec_up[k - 1] * smax[k - 2]) * prev)
                rown = float(row_norms(Ws[k - 1]).hi.max())
                crow = _up(_up(rown * smax[k - 2]) * prev)
            pp[f"C_{k}_{j}"] = _pt(cn)
            pp[f"Cr_{k}_{j}"] = _pt(np.minimum(crow, cn))
    if not full:  # ||D W_{:m}|| <= ||D||_2 ||W_{:m}||, D = D_{k,i}
        for i in range(2, N - 1):
            for k in range(i + 1, N):
                pp[f"qs_{k}_{i}"] = _pt(_up(pp[f"C_{k}_{i}"].hi * colmax[i - 1]))
    return LocalInputs(pp, zhat, ezs, shat, full)


def _abs_on_box(expr: Any, box: IntervalArray) -> np.ndarray | None:
    """Per neuron (entry of ``box``), $\\sup|e|$ over its interval of the symbolic
    activation expression ``expr`` (NumPy interval program; ``inf`` where not finite);
    ``None`` where there is no kernel."""
    from symlip.bounds.local_jacobian import _numpy_interval

    try:
        with np.errstate(over="ignore", invalid="ignore"):
            v = _numpy_interval(expr)(box)
        lo = np.broadcast_to(v.lo, box.lo.shape)
        hi = np.broadcast_to(v.hi, box.hi.shape)
    except Exception:  # noqa: BLE001 - no NumPy kernel
        return None
    m = np.maximum(np.abs(lo), np.abs(hi))
    return np.where(np.isfinite(m), m, np.inf)


def _sup_abs_on_box(expr: Any, box: IntervalArray) -> np.ndarray | None:
    """Per point (row of ``box``), the largest $\\sup|e|$ over the neurons' intervals
    (:func:`_abs_on_box`); ``None`` where there is no kernel."""
    m = _abs_on_box(expr, box)
    return None if m is None else m.max(axis=1)


def second_derivative_abs(act: Any, box: IntervalArray) -> np.ndarray:
    r"""Per neuron, $\sup|\sigma''|$ over its interval of ``box`` (interval evaluation of
    the symbolic $\sigma''$, capped by the certified $K_2$; $K_2$ alone where NumPy has
    no kernel or the enclosure is not finite)."""
    K2 = act.constants.K2.enclosure.upper_float
    d2 = act.derivatives[2] if getattr(act, "derivatives", None) is not None else None
    m = None if d2 is None else _abs_on_box(d2, box)
    return np.full(box.lo.shape, K2) if m is None else np.minimum(m, K2)


def _second_derivative_sup(act: Any, box: IntervalArray) -> np.ndarray:
    r"""Per point, $\max_i\sup|\sigma''|$ over the box (:func:`second_derivative_abs`)."""
    return second_derivative_abs(act, box).max(axis=1)


@lru_cache(maxsize=64)
def third_derivative(act: Any) -> sp.Expr | None:
    r"""The symbolic third derivative of an activation, or ``None`` where Lemma 12 does
    not apply: no symbolic derivatives, an infinite $K_2$, or a piecewise / non-smooth
    form (``Piecewise``, ``Heaviside``, ``Max``, ``Abs``, ...)."""
    from symlip.activations.registry import X

    ders = getattr(act, "derivatives", None)
    if ders is None or not np.isfinite(act.constants.K2.enclosure.upper_float):
        return None
    bad = (sp.Piecewise, sp.Heaviside, sp.DiracDelta, sp.Max, sp.Min, sp.Abs, sp.sign)
    if any(ders[k].has(*bad) for k in range(3)):
        return None
    return sp.diff(ders[2], X)


def third_derivative_sup(act: Any, box: IntervalArray) -> np.ndarray | None:
    r"""Per point, the largest $\sup|\sigma^{(3)}|$ over the neurons' boxes (interval
    evaluation of :func:`third_derivative`); ``None`` where there is no such derivative
    or NumPy kernel, or the enclosure is not finite."""
    d3 = third_derivative(act)
    m = None if d3 is None else _sup_abs_on_box(d3, box)
    return m if m is not None and bool(np.all(np.isfinite(m))) else None


def run_partial(formula: Any, env: dict[sp.Symbol, Any]) -> None:
    """Evaluate (in NumPy interval arithmetic) every definition of ``formula`` whose
    arguments are known, in program order, into ``env`` (the same per-definition
    compiled functions as :meth:`RecursiveFormula.enclose_array`)."""
    cache = formula.__dict__.setdefault("_fn_cache", {})
    for d in formula.definitions:
        if d.symbol in env:
            continue
        key = (d.symbol, "numpy")
        args = cache[key][0] if key in cache else sorted(d.expr.free_symbols, key=sym_key)
        if any(a not in env for a in args):
            continue
        if key not in cache:
            cache[key] = (args, interval_lambdify(args, d.expr, backend="numpy"))
        _, fn = cache[key]
        env[d.symbol] = IntervalArray.wrap(fn(*[env[a] for a in args]))


def local_param_inputs(net: Any, X: np.ndarray, r: float, formula: Any,
                       base_inputs: dict[str, Any], spec_up: list[float]
                       ) -> dict[str, IntervalArray]:
    r"""Per-point certified inputs of the local program (``formula``): the centre chain
    norms, then layer by layer $\lambda_k$ (evaluated from the program), the box
    $\bar z_k \pm r\lambda_k$ and the ranges $d_k$, $\delta_k$ of $\sigma'$ on it.

    ``base_inputs``: the recursion's per-point / scalar inputs (``r``, ``rho_k``, ...).
    """
    from symlip.bounds.local_jacobian import derivative_ranges
    from symlip.symbolic.formula import _to_interval_array

    N = net.depth
    li = centre_chains(net, X, spec_up)
    pp = dict(li.per_point)
    byname = {str(s): s for s in formula.inputs}
    env: dict[sp.Symbol, Any] = {}
    for name, sym in byname.items():
        if name in pp:
            env[sym] = pp[name]
        elif name in base_inputs:
            env[sym] = _to_interval_array(base_inputs[name])
    for k in range(1, N):
        run_partial(formula, env)
        lam = env[lamsym(k)]
        rad = _up(np.asarray(lam.hi, dtype=np.float64) * np.float64(r))
        rad = np.broadcast_to(rad, (X.shape[0],))[:, None]
        rad = _up(rad + li.ez[k - 1][:, None])
        z = li.zhat[k - 1]
        with np.errstate(over="ignore", invalid="ignore"):
            box = IntervalArray(np.nextafter(z - rad, -np.inf), np.nextafter(z + rad, np.inf))
        act = net.activations[k - 1]
        K1 = act.constants.K1.enclosure.upper_float
        s = derivative_ranges(act, box, np.full(box.lo.shape, K1))
        sb = li.shat[k - 1]
        d = np.maximum(np.abs(s.lo), np.abs(s.hi)).max(axis=1)
        ds = np.maximum(_up(s.hi - sb), _up(sb - s.lo)).max(axis=1)
        ds = np.maximum(ds, 0.0)
        pp[f"d_{k}"] = _pt(d)
        pp[f"ds_{k}"] = _pt(ds)
        if str(kapsym(k)) in byname:
            pp[str(kapsym(k))] = _pt(_second_derivative_sup(act, box))
        if str(k3_layer(k)) in byname:
            k3 = third_derivative_sup(act, box)
            if k3 is None:  # callers check curvature_applies first
                raise InputError(f"no certified third derivative of {act.name} on the "
                                 f"box of layer {k} (Lemma 12 needs one)")
            pp[str(k3_layer(k))] = _pt(k3)
        env[dsym(k)] = pp[f"d_{k}"]
        env[dssym(k)] = pp[f"ds_{k}"]
    return {name: pp[name] for name in byname if name in pp}


# ------------------------------------------------------------------------------------
# Lemma 11: the stacked Gauss-Newton part at the centre plus per-point remainders
# ------------------------------------------------------------------------------------

#: $\ge \|\frac1n\sum_iJ_i^TA_iJ_i\|_2$ at the centre (the same on every point; certified
#: by :func:`symlip.bounds.gauss_newton.centre_gauss_newton_norm`)
GNC = _nn("GN_c")
DGN = _nn("dGN")


def bgsym(i: int) -> sp.Symbol:
    r"""Certified $\ge \|\bar g^T\bar D_{N,i}\|$ at the centre (per point)."""
    return _nn(f"Bg_{i}")


def qgsym(i: int) -> sp.Symbol:
    r"""Certified $\ge \max_m|(\bar g^T\bar D_{N,i}\bar W_i)_m|$ at the centre."""
    return _nn(f"qg_{i}")


#: the directional option of the curvature term (defined)
HDIR = _nn("h_g")


def directional_defs(N: int, mse: bool) -> tuple[list[rec.Definition], list[sp.Symbol]]:
    r"""The directional option of the curvature term $\|\sum_og_o
abla^2f_o\|$ on the
    ball (``docs/theory-param.md`` section 7, Lemma 8g): Lemma 8 for $g^Tf$, with the
    loss gradient's own chains $\beta_i \ge \sup_B\|g^TD_{N,i}\|$ in place of $G\,G_{N,i}$,

    $$\beta_i = B^g_i + H_gl_pr\,G_{N,i} + E\,(G_{N,i} - C_{N,i}),\qquad
      Q^g_i = q^g_i + H_gl_pr\,Q_i + E\,((G_{N,i} - C_{N,i})\kappa_i + C_{N,i}r),$$

    $\beta_N = G$, $Q^g_N = q^g_N + H_gl_pr\,Q_N + E\,r$; $B^g_i$, $q^g_i$ the certified
    centre values (:func:`directional_inputs`).  Needs Lemmas 7-8 and $G$, $H$, $E$,
    $l_p$ defined before."""
    hg = sp.Integer(1) if mse else rec.LOSS_HESS
    lp = _nn("l_p")
    defs: list[rec.Definition] = []
    beta = {N: rec.LOSS_GRAD}
    for i in range(2, N):
        beta[i] = _nn(f"bg_{i}")
        defs.append(rec.Definition(
            beta[i], bgsym(i) + _prod(hg, lp, rec.R, Gsym(N, i))
            + _prod(rec.E, Gsym(N, i) - Csym(N, i)),
            "$\\|g^TD_{N,i}\\| \\le \\|\\bar g^T\\bar D_{N,i}\\| + \\|g - \\bar g\\|\\,"
            "\\|D_{N,i}\\| + \\|\\bar g\\|\\,\\|D_{N,i} - \\bar D_{N,i}\\|$, $\\|g - \\bar g\\| "
            "\\le H_gl_pr$, $\\|D_{N,i} - \\bar D_{N,i}\\| \\le G_{N,i} - C_{N,i}$ (Lemma 7's "
            "telescoping; Lemma 8g)"))
    cols = {}
    for i in range(2, N + 1):
        cols[i] = _nn(f"Qg_{i}")
        chain = rec.E * rec.R if i == N else _prod(
            rec.E, (Gsym(N, i) - Csym(N, i)) * rec.kappa(i) + Csym(N, i) * rec.R)
        defs.append(rec.Definition(
            cols[i], qgsym(i) + _prod(hg, lp, rec.R, Qcsym(i)) + chain,
            "largest entry of $g^TD_{N,i}W_i$ on the ball: $(g - \\bar g)^TD_{N,i}W_i + "
            "\\bar g^T(D_{N,i} - \\bar D_{N,i})W_i + \\bar g^T\\bar D_{N,i}(W_i - \\bar W_i)$ "
            "(Lemma 8g)"))
    defs += lemma8_defs(N, beta.__getitem__,
                        lambda i: sp.Integer(1) if i == N else Csym(N, i), None, None,
                        lambda i: _nn(f"Vg_{i}"), lambda j: _nn(f"LDg_{j}"), HDIR, "N",
                        "g: weighted by the loss gradient", cols=cols.__getitem__)
    inputs = [bgsym(i) for i in range(2, N)] + [qgsym(i) for i in range(2, N + 1)]
    return defs, inputs


@lru_cache(maxsize=32)
def local_gn_loss_program(depth: int, loss: str, bounded: bool = True, centre: bool = True,
                          jac: bool = False, direc: bool = False
                          ) -> tuple[tuple[rec.Definition, ...], tuple[sp.Symbol, ...]]:
    r"""Lemma 11: per data point
    $B_i = \mathrm{GN}_c + \min(2Hl_p^2,\ 2Hl_p\,r\,h_p + Hl_p^2\min(1, \sqrt2\,l_pr))
    + G\,h_p$ (MSE: the second term is absent), whose **mean** over the points bounds
    the gradient-Lipschitz constant of the mean loss; $\mathrm{GN}_c$ (``GN_c``) is the
    certified centre Gauss-Newton norm, $l_p, h_p$ Lemmas 7-8, and $G$, $H$ use $l_p$
    for their ball options (as in :func:`local_loss_program`).  ``direc`` (with
    ``centre``): the curvature term is $\min(G\,h_p, h_g)$ with the directional option
    $h_g$ of :func:`directional_defs`."""
    N = rec._check_depth(depth)
    defs, inputs = local_loss_program(N, loss, bounded, centre, jac)
    defs = list(defs)
    last = defs.pop()  # B = H l_p^2 + G h_p
    mse = rec._loss_name(loss) == "mse"
    extra: list[sp.Symbol] = []
    curv = None
    if direc and centre and N >= 2:
        ddefs, extra = directional_defs(N, mse)
        defs += ddefs
        curv = HDIR
    defs += gn_composition(_nn("l_p"), _nn("h_p"), mse, last.symbol, curv)
    return _finish(defs, list(inputs) + [GNC] + extra)


def gn_ball(lp: sp.Symbol, jd: sp.Expr, mse: bool) -> sp.Expr:
    r"""Lemma 11's ball option of $\Delta$: $2Hl_p\,r\,j + Hl_p^2\min(1, \sqrt2\,l_pr)$
    for any $j$ with $\|J - \bar J\| \le jr$ on the ball (MSE: $H = 1$ and no second
    term)."""
    H = sp.Integer(1) if mse else _nn("H")
    ball = 2 * H * lp * rec.R * jd
    if not mse:
        ball = ball + H * lp**2 * rec._min([sp.Integer(1), sp.sqrt(2) * lp * rec.R])
    return ball


def gn_composition(lp: sp.Symbol, hp: sp.Symbol, mse: bool, B: sp.Symbol,
                   curv: sp.Expr | None = None) -> list[rec.Definition]:
    r"""Lemma 11's last two definitions for the per-point line ``B``:
    $\Delta = \min(2Hl_p^2,\ 2Hl_p\,r\,h_p + Hl_p^2\min(1, \sqrt2\,l_pr))$ (MSE: $H = 1$,
    no second term) and $B = \mathrm{GN}_c + \Delta + Gh_p$, for any certified
    $l_p \ge \sup_{B_r}\|J\|$, $h_p \ge \mathrm{Lip}_{B_r}(J)$ (shared by the
    feed-forward and the residual programs); ``curv``: another bound of the curvature
    term $\|\sum_og_o\nabla^2f_o\|$ on the ball, used where smaller than $Gh_p$."""
    H = sp.Integer(1) if mse else _nn("H")
    gh = _nn("G") * hp if curv is None else rec._min([_nn("G") * hp, curv])
    ball = gn_ball(lp, hp, mse)
    return [rec.Definition(
        DGN, rec._min([2 * H * lp**2, ball]),
        "$\\|J^TAJ - \\bar J^T\\bar A\\bar J\\| \\le \\|J\\|^2\\|A - \\bar A\\| + \\|\\bar A\\|"
        "(\\|J\\| + \\|\\bar J\\|)\\|J - \\bar J\\|$, $\\|J - \\bar J\\| \\le h_pr$, "
        "$\\|A - \\bar A\\| \\le H\\min(1, \\sqrt2\\,l_pr)$ ($x^TdA[\\delta]x = "
        "E_p[(x - \\mu)^2(\\delta - \\nu)]$); or "
        "$\\|J^TAJ\\| + \\|\\bar J^T\\bar A\\bar J\\|$ (Lemma 11)"),
        rec.Definition(B, GNC + DGN + gh,
                       "$\\nabla^2L = \\frac1n\\sum_iJ_i^TA_iJ_i + \\frac1n\\sum_i"
                       "\\nabla\\lambda_i\\cdot D^2f_i$: the stacked centre "
                       "Gauss-Newton norm, its change on the ball, and $G h_p$"
                       + ("" if curv is None else " or the other curvature bound")
                       + "; the mean over the points is the bound (Lemma 11)")]


def directional_inputs(net: Any, X: np.ndarray, y: np.ndarray, loss: str, cn: Any,
                       spec_up: list[float]) -> dict[str, IntervalArray]:
    r"""Per point, ``Bg_i`` $\ge \|\bar g^T\bar D_{N,i}\|$ ($2 \le i < N$) and ``qg_i``
    $\ge \max_m|(\bar g^T\bar D_{N,i}\bar W_i)_m|$ ($2 \le i \le N$) for the exact
    centre loss gradient $\bar g$ (on the output box of ``cn``, a
    :class:`~symlip.bounds.centre.CentreNorms`) and the reference chains of
    :func:`centre_chains` (the same $\tilde s$): the row vector $\bar g^T$ carried back
    layer by layer in floats, $\hat t_i = \mathrm{fl}(\hat u_iW_i)$, $\hat u_{i-1} =
    \mathrm{fl}(\hat t_i\odot\tilde s_{i-1})$, with norm-wise errors
    $e^t_i = e_i\|W_i\|_2 + \gamma_{n_i}\|\hat u_i\|\,\|W_i\|_F$ (Higham) and $e_{i-1} =
    e^t_i\max|\tilde s_{i-1}| + 2u\|\hat u_{i-1}\|$, starting from the midpoint of the
    enclosure of $\bar g$ with $e_N$ the norm of its radius.  A vector chain's error
    grows like $\prod_i\|W_i\|_2$ times $u$, far below the values at the depths where
    the chains themselves are exact."""
    from symlip.arith.linalg import to_midrad
    from symlip.bounds.centre import interval_output_gradient

    N = net.depth
    Ws = [layer.weight for layer in net.layers]
    frob = [float(_up(np.sqrt(_sumsq_upper(W[None], (1, 2)))[0])) for W in Ws]
    li = centre_chains(net, X, spec_up)
    out = np.asarray(cn.output, dtype=np.float64)
    e = np.asarray(cn.output_err, dtype=np.float64)[:, None]
    F = IntervalArray(np.nextafter(out - e, -np.inf), np.nextafter(out + e, np.inf))
    gm, gr = to_midrad(interval_output_gradient(F, y, rec._loss_name(loss)))
    u, err = gm, row_norms(gr).hi
    pp: dict[str, IntervalArray] = {}
    for i in range(N, 1, -1):
        W = Ws[i - 1]
        t = u @ W
        et = _up(_up(err * spec_up[i - 1])
                 + _up(_up(_gamma(W.shape[0]) * row_norms(u).hi) * frob[i - 1])) + _TINY
        pp[f"qg_{i}"] = _pt(_up(np.abs(t).max(axis=1) + et))
        sref = li.shat[i - 2]
        u = t * sref
        err = _up(_up(et * np.abs(sref).max(axis=1)) + _up(2 * _U * row_norms(u).hi)) + _TINY
        if i - 1 >= 2:
            pp[f"Bg_{i - 1}"] = _pt(_up(row_norms(u).hi + err))
    return pp


def local_gn_derivation(depth: int | None = None, loss: str = "mse", direc: bool = True
                        ) -> Any:
    """The proof steps of Lemma 11 (``direc``: with the directional option of Lemma 8g)
    and, for ``depth``, its last definitions."""
    from symlip.symbolic.derivation import Derivation, Tex

    d = Derivation("Stacked Gauss-Newton norm at the centre plus per-point remainders "
                   "(Lemma 11)")
    d.assume("$J_i = D_\\theta f(x_i;\\theta)$, $A_i = \\nabla^2_f\\lambda_i$, bars: at "
             "$\\bar\\theta$; $l_p \\ge \\sup_{B_r}\\|J_i\\|$ (Lemma 7), $h_p \\ge "
             "\\mathrm{Lip}_{B_r}(J_i)$ (Lemma 8)")
    d.step(Tex(r"\nabla^2 L(\theta)"), "=",
           Tex(r"\frac1n\sum_i J_i^TA_iJ_i + \frac1n\sum_i\sum_o"
               r"(\partial_o\lambda)_i\,\nabla^2f_{io}"),
           "chain rule for $\\lambda\\circ f$, mean over the data")
    d.step(Tex(r"\Big\|\frac1n\sum_i\bar J_i^T\bar A_i\bar J_i\Big\|_2"), "=",
           Tex(r"\frac1n\lambda_{\max}(K) \le \mathrm{GN}_c"),
           "$\\bar A_i = M_iM_i^T$; $K = [M_i^T\\bar J_i\\bar J_j^TM_j]_{ij}$ is "
           "$n\\,n_N\\times n\\,n_N$, certified from float factors with a norm-wise error")
    d.step(Tex(r"\|J_i^TA_iJ_i - \bar J_i^T\bar A_i\bar J_i\|"), "<=",
           Tex(r"\min\big(2Hl_p^2,\ 2Hl_p\,r\,h_p + Hl_p^2\min(1, \sqrt2\,l_pr)\big)"),
           "$\\|J - \\bar J\\| \\le h_pr$; $\\|A - \\bar A\\| \\le \\sqrt2\\,H\\|f - \\bar f\\|$: "
           "$x^T\\,dA[\\delta]\\,x = E_p[(x - \\mu)^2(\\delta - \\nu)]$ is at most "
           "$\\sqrt2\\|\\delta\\|\\operatorname{Var}_p(x)$ (cross-entropy; $A = I$ for MSE)")
    d.step(Tex(r"\Big\|\sum_o(\partial_o\lambda)_i\nabla^2f_{io}\Big\|"), "<=",
           Tex(r"G\,h_p"), "$\\|\\nabla\\lambda_i\\| \\le G$ on the ball")
    if direc:
        d.step(Tex(r"\Big\|\sum_o(\partial_o\lambda)_i\nabla^2f_{io}\Big\|"), "<=",
               Tex(r"h_g"),
               "Lemma 8 for $g^Tf$: $\\|g^TD_{N,i}\\| \\le \\beta_i = B^g_i + "
               "H_gl_pr\\,G_{N,i} + E\\,(G_{N,i} - C_{N,i})$ with the certified centre "
               "value $B^g_i \\ge \\|\\bar g^T\\bar D_{N,i}\\|$ (Lemma 8g)")
    curv = "\\min(G_ih_{p,i}, h_{g,i})" if direc else "G_ih_{p,i}"
    d.conclude("$\\sup_{B_r}\\|\\nabla^2L\\| \\le \\mathrm{GN}_c + \\frac1n\\sum_i"
               f"(\\Delta_i + {curv})$: the mean over the points of the per-point "
               "line $B$.")
    if depth is not None:
        defs, inputs = local_gn_loss_program(depth, loss, True, True, False, direc)
        d.section(rec.program_derivation(
            [x for x in defs if str(x.symbol) in ("dGN", "B")], inputs,
            f"The last lines for N = {depth} ({rec._loss_name(loss)})"))
    return d
