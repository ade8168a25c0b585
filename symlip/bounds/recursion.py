r"""The symbolic recursions of the parameter- and gradient-Lipschitz bounds.

A bound on a network of depth $N$ is a *straight-line program* (a
:class:`~symlip.symbolic.recursion.RecursiveFormula`: an ordered list of
:class:`~symlip.symbolic.recursion.Definition` lines, each a small SymPy expression in
per-layer input symbols and earlier defined symbols).  This module builds the programs
of the parameter, gradient and loss bounds, their derivations and the closed forms of
the uniform recursions; the generic program class lives in :mod:`symlip.symbolic`.

The symbols (``r``, ``rho_k``, ``beta_k``, ``omega_k``, ``kappa_k``, ``K1``, ...) are
those of the vocabulary :mod:`symlip.symbolic.symbols`: one name, one meaning in every
bound.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import sympy as sp

from symlip.errors import InputError
from symlip.symbolic.derivation import Derivation, Tex
from symlip.symbolic.recursion import (  # noqa: F401 - re-exported for the bounds
    Definition,
    RecursiveFormula,
    program_derivation,
)
from symlip.symbolic.recursion import dedup as _dedup
from symlip.symbolic.recursion import lazy_min as _min
from symlip.symbolic.recursion import lazy_sqrt as _sqrt
from symlip.symbolic.symbols import (  # noqa: F401 - the bounds' symbols, by name
    GRAD_LIP,
    K1,
    K2,
    LOSS_GRAD,
    LOSS_HESS,
    PBAR,
    PMAX,
    S0,
    E,
    R,
    Y,
    beta,
    c,
    cent,
    g,
    gamma,
    h,
    ja,
    jr,
    jz,
    kappa,
    l,
    m,
    mu,
    nonneg,
    nu,
    omega,
    q,
    rho,
    s0,
    tau,
    width,
    wk,
)

__all__ = [
    "Definition",
    "RecursiveFormula",
    "first_order_program",
    "network_first_order_program",
    "network_first_order_derivation",
    "residual_layer_definitions",
    "LAYER_KINDS",
    "second_order_program",
    "loss_program",
    "first_order_derivation",
    "second_order_derivation",
    "unrolled_first_order",
    "uniform_first_order",
    "uniform_second_order",
    "leading_growth",
    "R",
    "K1",
    "K2",
    "S0",
    "s0",
]


_nn = nonneg






















# ------------------------------------------------------------------------------------
# first order: (c_k, m_k, l_k)
# ------------------------------------------------------------------------------------


def _check_depth(depth: int) -> int:
    if not isinstance(depth, (int, np.integer)) or isinstance(depth, bool) or depth < 1:
        raise InputError(f"{depth=} must be an integer >= 1")
    return int(depth)


def first_order_program(depth: int, *, bounded: bool = True, centre: bool = True,
                        output_norm: bool = False) -> tuple[list[Definition], list[sp.Symbol]]:
    r"""Definitions of $m_k, l_k, c_k$ ($k = 1..N$) and the inputs they use.

    Theorem (first order): for every $\theta, \theta' \in B_r(\bar\theta)$ and every
    data point $x$, $\|f(x;\theta) - f(x;\theta')\|_2 \le l_N \|\theta - \theta'\|_2$,
    and $\|a_k(x;\theta)\| \le c_k$ for $\theta \in B_r$.

    Args:
        depth: $N$, the number of dense layers (linear read-out).
        bounded: include the option $c_k \le \sqrt{n_k} S_0$ (needs $S_0 < \infty$).
        centre: include the option $c_k \le A_k + l_k r$ (centre activation norms).
        output_norm: also define $c_N$ (needed by the MSE loss bound).

    Returns:
        ``(definitions, inputs)``.
    """
    n = _check_depth(depth)
    defs: list[Definition] = []
    inputs: list[sp.Symbol] = [R, c(0)]
    hidden_consts = [K1, s0] + ([S0] if bounded else [])
    if n > 1:
        inputs += hidden_consts
    prev_l: sp.Expr = sp.Integer(0)
    for k in range(1, n + 1):
        kind = "dense" if k < n else ("readout-norm" if output_norm else "readout")
        d_k, in_k = _layer_definitions(k, kind, prev_l, bounded=bounded, centre=centre)
        defs += d_k
        inputs += in_k
        prev_l = l(k)
    return defs, _dedup(inputs)


#: the hidden-layer kinds of :func:`network_first_order_program`
LAYER_KINDS = ("dense", "linear", "residual")










_M_WHY = ("triangle inequality, $\\|Av\\| \\le \\|A\\|_F\\|v\\|$, Cauchy-Schwarz over the "
          "blocks $\\theta_k$, $\\theta_{<k}$ (Lemma 2, docs/theory-param.md)")


def _linear_norm_definition(k: int, centre: bool, why: str) -> Definition:
    opts = [rho(k) * c(k - 1) + beta(k)]
    if centre:
        opts.append(cent(k) + l(k) * r_sym())
    return Definition(c(k), _min(opts), why)


def _layer_definitions(k: int, kind: str, prev_l: sp.Expr, *, bounded: bool, centre: bool,
                       bias_option: bool = False, lognorm: bool = False
                       ) -> tuple[list[Definition], list[sp.Symbol]]:
    """Definitions and inputs of layer $k$ of kind ``dense`` (hidden, activated),
    ``linear`` (hidden, no activation), ``residual``, ``readout`` or ``readout-norm``
    (linear read-out, also defining $c_N$); ``prev_l`` is $l_{k-1}$ ($0$ for $k = 1$)."""
    inputs = [rho(k), beta(k)]
    if kind == "residual":
        inputs += [width(k), tau(k)] + ([gamma(k)] if bias_option else [])
        inputs += [nu(k)] if lognorm else []
        if centre:
            inputs.append(cent(k))
        return residual_layer_definitions(k, bounded=bounded, centre=centre, prev_l=prev_l,
                                          bias_option=bias_option, lognorm=lognorm), inputs
    if kind == "dense":
        inputs.append(width(k))
    if centre and kind in ("dense", "linear", "readout-norm"):
        inputs.append(cent(k))
    m_expr = _sqrt(c(k - 1) ** 2 + 1 + rho(k) ** 2 * prev_l ** 2)
    defs = [Definition(m(k), m_expr, _M_WHY)]
    if kind == "dense":
        defs.append(Definition(l(k), K1 * m(k), "$\\sigma$ is $K_1$-Lipschitz (Lemma 2)"))
        opts = [K1 * (rho(k) * c(k - 1) + beta(k)) + _sqrt(width(k)) * s0]
        if bounded:
            opts.append(_sqrt(width(k)) * S0)
        if centre:
            opts.append(cent(k) + l(k) * r_sym())
        defs.append(Definition(c(k), _min(opts), "norm of the activations on the ball (Lemma 3)"))
    elif kind == "linear":
        defs.append(Definition(l(k), m(k), "linear layer (identity activation)"))
        defs.append(_linear_norm_definition(k, centre, "norm after the linear layer"))
    elif kind in ("readout", "readout-norm"):
        defs.append(Definition(l(k), m(k), "linear read-out"))
        if kind == "readout-norm":
            defs.append(_linear_norm_definition(k, centre, "norm of the output on the ball"))
    else:
        raise InputError(f"layer kind {kind!r} must be one of {LAYER_KINDS} or a read-out")
    return defs, inputs


def residual_layer_definitions(k: int, *, bounded: bool = True, centre: bool = True,
                               prev_l: sp.Expr | None = None, bias_option: bool = False,
                               lognorm: bool = False) -> list[Definition]:
    r"""The definitions of residual block $k$, $a_k = a_{k-1} + h_k\sigma(W_k a_{k-1} +
    b_k)$ with its own $(W_k, b_k)$ (square $W_k$), in the symbols ``rho_k``,
    ``beta_k``, ``n_k``, ``A_k``, ``c_k``, ``l_k`` plus the step bound ``tau_k``
    ($\tau_k \ge |h_k|$) and, with ``bias_option``, ``gamma_k``
    ($\gamma_k \ge \|\sigma(\bar b_k)\|$).

    $l_k$ bounds the perturbation through the block (Lemma 6.1 of
    ``docs/theory-param.md``), $c_k$ its state norm (Lemma 6.2; with ``bias_option`` the
    centre-bias option $\gamma_k + K_1r$ of $\|\sigma(b_k)\|$).  With ``lognorm`` (a
    nondecreasing $\sigma$; input ``nu_k`` $\ge \nu(\operatorname{sign}(h_k)\bar W_k)$)
    the factor $1 + \tau_kK_1\rho_k$ becomes the defined $q_k \ge \|I + h_kSW_k\|_2$ of
    Lemma 6.1' (in $l_k$ and in the first option of $c_k$).

    Args:
        prev_l: $l_{k-1}$ (default the symbol ``l_{k-1}``; $0$ for a first layer).
    """
    t = tau(k)
    cp = c(k - 1)
    lp = l(k - 1) if prev_l is None else prev_l
    sig_b = K1 * beta(k) + _sqrt(width(k)) * s0
    if bias_option:
        sig_b = _min([gamma(k) + K1 * R, sig_b])
    if lognorm:
        qk = q(k)
        defs = [
            Definition(qk, _min([1 + t * K1 * rho(k),
                                 _sqrt(1 + 2 * t * K1 * (nu(k) + R) + t ** 2 * K1 ** 2
                                       * rho(k) ** 2)]),
                       "$\\|I + hSW'\\|_2$: triangle inequality, or $\\|I + M\\|^2 \\le 1 + "
                       "2\\mu_2(M) + \\|M\\|^2$ with $\\mu_2(hSW') \\le \\tau_kK_1(\\nu_k + r)$ "
                       "($\\sigma$ nondecreasing; Lemma 6.1')"),
            Definition(l(k), _sqrt(qk ** 2 * lp ** 2 + t ** 2 * K1 ** 2 * (cp ** 2 + 1)),
                       "residual block: $a - a' \\mapsto (I + hSW')(a - a') + hS(\\Delta W a + "
                       "\\Delta b)$; Cauchy-Schwarz (Lemma 6.1')"),
        ]
        opts = [qk * cp + t * sig_b]
    else:
        defs = [
            Definition(l(k), _sqrt((1 + t * K1 * rho(k)) ** 2 * lp ** 2
                                   + t ** 2 * K1 ** 2 * (cp ** 2 + 1)),
                       "residual block: identity + $\\tau_k K_1$-Lipschitz branch, "
                       "$\\|\\Delta W a + \\Delta b + W'(a - a')\\|$; Cauchy-Schwarz (Lemma 6.1)"),
        ]
        opts = [cp + t * (K1 * rho(k) * cp + sig_b)]
    if bounded:
        opts.append(cp + t * _sqrt(width(k)) * S0)
    if centre:
        opts.append(cent(k) + l(k) * R)
    defs.append(Definition(c(k), _min(opts), "norm of the state after the block: "
                           "$\\|\\sigma(Wa + b)\\| \\le K_1\\|Wa\\| + \\|\\sigma(b)\\|$ "
                           "(Lemma 6.2)"))
    return defs


def network_first_order_program(kinds: Sequence[str], *, bounded: bool = True,
                                centre: bool = True, bias_option: bool = True,
                                lognorm: Sequence[int] = ()
                                ) -> tuple[list[Definition], list[sp.Symbol]]:
    r"""First-order program of a network with hidden layers of the given kinds.

    ``kinds[k-1]`` is the kind of layer $k < N$: ``"dense"`` ($a_k = \sigma(W_ka_{k-1}
    + b_k)$, as :func:`first_order_program`), ``"linear"`` ($a_k = W_ka_{k-1} + b_k$, an
    identity activation) or ``"residual"`` ($a_k = a_{k-1} + h_k\sigma(W_ka_{k-1} +
    b_k)$, :func:`residual_layer_definitions`); layer $N$ is the linear read-out.
    Theorem: $\|f(x;\theta) - f(x;\theta')\| \le l_N\|\theta - \theta'\|$ on
    $B_r(\bar\theta)$, by induction over the layers (each kind's step is proved in
    :func:`network_first_order_derivation`).  ``lognorm`` lists the (1-based) residual
    layers whose activation is nondecreasing: they get the logarithmic-norm factor $q_k$.

    Returns:
        ``(definitions, inputs)``.
    """
    kinds = list(kinds)
    for kd in kinds:
        if kd not in LAYER_KINDS:
            raise InputError(f"layer kind {kd!r} must be one of {LAYER_KINDS}")
    n = len(kinds) + 1
    lognorm = set(int(k) for k in lognorm)
    bad = sorted(k for k in lognorm if not (1 <= k < n and kinds[k - 1] == "residual"))
    if bad:
        raise InputError(f"lognorm layers {bad} are not residual layers of {kinds}")
    defs: list[Definition] = []
    inputs: list[sp.Symbol] = [R, c(0)]
    if any(kd != "linear" for kd in kinds):
        inputs += [K1, s0] + ([S0] if bounded else [])
    prev_l: sp.Expr = sp.Integer(0)
    for k in range(1, n + 1):
        kind = kinds[k - 1] if k < n else "readout"
        d_k, in_k = _layer_definitions(k, kind, prev_l, bounded=bounded, centre=centre,
                                       bias_option=bias_option, lognorm=k in lognorm)
        defs += d_k
        inputs += in_k
        prev_l = l(k)
    return defs, _dedup(inputs)


def r_sym() -> sp.Symbol:
    return R


















def second_order_program(depth: int, *, bounded: bool = True, centre: bool = True,
                         output_norm: bool = False, jac: bool = False
                         ) -> tuple[list[Definition], list[sp.Symbol]]:
    r"""Definitions of $g_k, m_k, \mu_k, h_k, l_k, c_k$: $\|D^2_\theta f\| \le h_N$ on $B_r$.

    Theorem (second order, needs $K_2 < \infty$): for $\theta, \theta' \in B_r$ and
    every unit $u$, $\|Df(\theta)[u] - Df(\theta')[u]\| \le h_N \|\theta - \theta'\|$;
    $m_k, l_k, c_k$ are bounds of $\sup_{B_r}\|D z_k\|$, $\sup_{B_r}\|D a_k\|$,
    $\sup_{B_r}\|a_k\|$ as in :func:`first_order_program`, $\mu_k$ bounds
    $\sup_{B_r}\max_i\|\nabla_\theta z_{k,i}\|$ (a row of $Dz_k$) and
    $g_k$, $h_k$ the bilinear maps $D^2 z_k$, $D^2 a_k$.

    Args:
        jac: add the centre options $m_k \le J^z_k + g_k r$, $\mu_k \le J^r_k + g_k r$,
            $l_k \le J^a_k + h_k r$ (mean value inequality for $Dz_k$, $Da_k$ on the
            convex ball: their derivatives are bounded by $g_k$, $h_k$), with certified
            centre Jacobian norms as inputs.  Tight for small $r$.
    """
    n = _check_depth(depth)
    defs: list[Definition] = []
    inputs: list[sp.Symbol] = [R, c(0)]
    if n > 1:
        inputs += [K1, s0] + ([S0] if bounded else []) + [K2]
    prev_l: sp.Expr = sp.Integer(0)
    prev_g: sp.Expr = sp.Integer(0)
    prev_m: sp.Expr = sp.Integer(0)
    prev_mu: sp.Expr = sp.Integer(0)
    for k in range(1, n + 1):
        hidden = k < n
        inputs += [rho(k), beta(k)]
        if k > 1:
            inputs.append(kappa(k))
        if hidden:
            inputs.append(width(k))
            if k > 1:
                inputs.append(omega(k))
        if centre and (hidden or output_norm):
            inputs.append(cent(k))
        if jac:
            if k > 1:
                inputs.append(jz(k))
                if hidden:
                    inputs.append(jr(k))
            if hidden:
                inputs.append(ja(k))
        if k > 1:
            # ||W_k D^2 a_{k-1}[u, v]|| / (||u|| ||v||): the sigma'' part through the
            # spectral norm (2-norm of s.p.q) or the largest column norm (1-norm of s.p.q)
            w_expr = (K2 * prev_m * _min([rho(k) * prev_mu, kappa(k) * prev_m])
                      + rho(k) * K1 * prev_g)
            defs.append(Definition(wk(k), w_expr,
                                   "$\\|W_k(\\sigma''\\odot p\\odot q)\\| \\le "
                                   "\\min(\\rho_k\\|\\cdot\\|_2, \\kappa_k\\|\\cdot\\|_1)$, "
                                   "$\\|p\\odot q\\|_1 \\le \\|p\\|_2\\|q\\|_2$; "
                                   "$\\|W_k(\\sigma'\\odot D^2z_{k-1})\\| \\le \\rho_k K_1 "
                                   "g_{k-1}$"))
            w_k: sp.Expr = wk(k)
        else:
            w_k = sp.Integer(0)
        g_expr = (w_k + _sqrt(w_k ** 2 + 4 * prev_l ** 2)) / 2
        defs.append(Definition(g(k), g_expr, "spectral norm of $[[0, l_{k-1}], "
                               "[l_{k-1}, w_k]]$ (block Cauchy-Schwarz)"))
        m_opts = [_sqrt(c(k - 1) ** 2 + 1 + rho(k) ** 2 * prev_l ** 2)]
        if jac and k > 1:
            m_opts.append(jz(k) + g(k) * R)
        defs.append(Definition(m(k), _min(m_opts),
                               "triangle inequality, $\\|Av\\| \\le \\|A\\|_F\\|v\\|$, "
                               "Cauchy-Schwarz over the blocks $\\theta_k$, $\\theta_{<k}$"
                               + ("; or the centre Jacobian plus $g_k r$" if jac and k > 1
                                  else "")))
        if hidden:
            if k > 1:
                mu_opts = [_sqrt(c(k - 1) ** 2 + 1 + omega(k) ** 2 * prev_l ** 2)]
                if jac:
                    mu_opts.append(jr(k) + g(k) * R)
                mu_opts.append(m(k))
                defs.append(Definition(mu(k), _min(mu_opts),
                                       "one row: $|\\nabla z_{k,i}\\cdot u| \\le "
                                       "\\sqrt{c_{k-1}^2+1}\\|u_k\\| + \\|W_{k,i:}\\| "
                                       "l_{k-1}\\|u_{<k}\\|$"))
                mu_k: sp.Expr = mu(k)
            else:
                mu_k = m(k)  # layer 1: every row of Dz_1 has norm sqrt(|x|^2 + 1) = m_1
            defs.append(Definition(h(k), K2 * mu_k * m(k) + K1 * g(k),
                                   "product rule; $|\\sigma''| \\le K_2$, "
                                   "$\\|p \\odot q\\|_2 \\le \\|p\\|_\\infty \\|q\\|_2$"))
            l_opts = [K1 * m(k)]
            if jac:
                l_opts.append(ja(k) + h(k) * R)
            defs.append(Definition(l(k), _min(l_opts), "$\\sigma$ is $K_1$-Lipschitz"
                                   + ("; or the centre Jacobian plus $h_k r$" if jac else "")))
            opts = [K1 * (rho(k) * c(k - 1) + beta(k)) + _sqrt(width(k)) * s0]
            if bounded:
                opts.append(_sqrt(width(k)) * S0)
            if centre:
                opts.append(cent(k) + l(k) * R)
            defs.append(Definition(c(k), _min(opts),
                                   "norm of the activations on the ball (Lemma 3)"))
        else:
            defs.append(Definition(l(k), m(k), "linear read-out"))
            defs.append(Definition(h(k), g(k), "linear read-out"))
            if output_norm:
                opts = [rho(k) * c(k - 1) + beta(k)]
                if centre:
                    opts.append(cent(k) + l(k) * R)
                defs.append(Definition(c(k), _min(opts), "norm of the output on the ball"))
        prev_l, prev_g, prev_m = l(k), g(k), m(k)
        prev_mu = mu_k if hidden else m(k)
    return defs, _dedup(inputs)


#: loss name -> (H, description)
LOSSES = {
    "mse": "lambda(f, y) = 1/2 ||f - y||^2 (mean over the data)",
    "cross-entropy": "lambda(z, y) = -log softmax(z)_y (mean over the data)",
}


def loss_program(depth: int, loss: str, *, bounded: bool = True, centre: bool = True,
                 jac: bool = False) -> tuple[list[Definition], list[sp.Symbol]]:
    r"""Second-order program plus the loss composition $B = H l_N^2 + G h_N$.

    Per data point, $\|D^2_\theta \lambda(f(x;\theta), y)\| \le B$ on $B_r$; the
    gradient-Lipschitz constant of the mean loss is at most the mean (or max) of $B$.
    MSE: $H = 1$, $G = \min(c_N + \|y\|, E + l_N r)$; softmax cross-entropy:
    $H = \min(1/2, P + l_N r/2, 2\bar Pe^{\sqrt2l_Nr})$, $G = \min(\sqrt 2, E + Hl_Nr)$ (the
    centre options only with ``centre``): $\nabla^2_z\lambda = \mathrm{diag}(p) - pp^T$
    has $v^T(\cdot)v = \sum_j p_jv_j^2 - (\sum_j p_jv_j)^2 \in [0, \max_j p_j\|v\|^2]$;
    it is the variance of $v$ under $p$, at most the mean square about any $v_m$:
    $\sum_{j\ne m}p_j(v_j - v_m)^2 \le 2(1 - p_m)\|v\|^2$ (the confident prediction's
    small curvature); and $p = \mathrm{softmax}(z)$ is $\tfrac12$-Lipschitz (its Jacobian
    is that matrix), so on the ball $\max_j p_j \le P + \tfrac12 l_N r$; $q = 1 - p_m$
    ($m$ the centre's top class) has $|\nabla_z q| = p_m\|e_m - p\| \le \sqrt2 q$
    ($\sum_{j\ne m}p_j^2 \le q^2$), so along the output path, of length at most
    $l_N r$, $q \le \bar P e^{\sqrt2 l_N r}$ (Gronwall).  $H$ bounds the Jacobian of
    $p$ at every point of that path, so $\|p - e_y\| \le E + Hl_Nr$ (mean value theorem;
    with $H \le \tfrac12$ never worse than softmax's global Lipschitz constant, and
    $\approx E$ for a confident prediction, whose $H$ is small).
    """
    loss = _loss_name(loss)
    mse = loss == "mse"
    defs, inputs = second_order_program(depth, bounded=bounded, centre=centre, output_norm=mse,
                                        jac=jac)
    n = depth
    G = LOSS_GRAD
    if mse:
        inputs = _dedup(inputs + [Y] + ([E] if centre else []))
        opts = [c(n) + Y] + ([E + l(n) * R] if centre else [])
        defs.append(Definition(G, _min(opts),
                               "$\\|\\nabla\\lambda\\| = \\|f - y\\|$"))
        H = sp.Integer(1)
    else:
        g_opts: list[sp.Expr] = [sp.sqrt(2)]
        h_opts: list[sp.Expr] = [sp.Rational(1, 2)]
        Hs = LOSS_HESS
        if centre:
            inputs = _dedup(inputs + [PMAX, PBAR, E])
            h_opts.append(PMAX + l(n) * R / 2)
            h_opts.append(2 * PBAR * sp.exp(sp.sqrt(2) * l(n) * R))
            # H bounds ||grad^2 lambda|| at every output of the ball, so on the output
            # path from the centre (length <= l_N r): ||p - p_bar|| <= H l_N r; H <= 1/2
            # makes this at least as tight as softmax's global 1/2-Lipschitz bound
            g_opts.append(E + Hs * l(n) * R)
        defs.append(Definition(Hs, _min(h_opts),
                               "$\\|\\mathrm{diag}(p) - pp^T\\| \\le \\tfrac12$ (Popoviciu)"
                               + ("; $\\le \\max_j p_j \\le P + \\tfrac12 l_N r$; $\\le "
                                  "2(1 - p_m) \\le 2\\bar P e^{\\sqrt2 l_N r}$ (the variance "
                                  "of $v$ under $p$ is at most its mean square about $v_m$; "
                                  "$|\\nabla p_m| \\le \\sqrt2(1 - p_m)$, Gronwall)"
                                  if centre else "")))
        defs.append(Definition(G, _min(g_opts), "$\\|p - y\\|_2^2 \\le \\|p-y\\|_1 "
                               "\\|p-y\\|_\\infty \\le 2$ on the simplex"
                               + ("; or the centre value plus $H l_N r$ (mean value theorem "
                                  "along the output path, on which $\\|\\nabla^2\\lambda\\| "
                                  "\\le H$)" if centre else "")))
        H = Hs
    defs.append(Definition(GRAD_LIP, H * l(n) ** 2 + G * h(n),
                           "chain rule: $D^2\\lambda\\circ f = \\nabla^2\\lambda[Df, Df] + "
                           "\\nabla\\lambda \\cdot D^2 f$"))
    return defs, inputs


def _loss_name(loss: str) -> str:
    key = str(loss).strip().lower().replace("_", "-")
    key = {"ce": "cross-entropy", "crossentropy": "cross-entropy", "l2": "mse"}.get(key, key)
    if key not in LOSSES:
        raise InputError(f"loss={loss!r} must be one of {sorted(LOSSES)}")
    return key


# ------------------------------------------------------------------------------------
# closed forms
# ------------------------------------------------------------------------------------


def unrolled_first_order(depth: int) -> sp.Expr:
    r"""$l_N^2 = \sum_{k=1}^N (c_{k-1}^2 + 1)\,K_1^{2(N-k)} \prod_{j=k+1}^{N} \rho_j^2$
    in the symbols ``c_k``.

    (Unrolling $l_k^2 = K_1^2 (c_{k-1}^2 + 1 + \rho_k^2 l_{k-1}^2)$, $l_N^2 = c_{N-1}^2 + 1
    + \rho_N^2 l_{N-1}^2$.)  The hidden factor $K_1^2$ of layer $k$ itself multiplies
    its own term: $l_N^2 = \sum_k (c_{k-1}^2+1)\,\rho_{k+1}^2\cdots\rho_N^2\,K_1^{2(N-k)}$.
    """
    n = _check_depth(depth)
    terms = []
    for k in range(1, n + 1):
        prod = sp.Mul(*[rho(j) ** 2 for j in range(k + 1, n + 1)])
        terms.append((c(k - 1) ** 2 + 1) * prod * K1 ** (2 * (n - k)))
    return sp.Add(*terms)


#: $q = K_1\rho$, the growth factor per layer of the uniform recursions
Q = _nn("q")


def _uniform_symbols() -> tuple[sp.Symbol, sp.Symbol, sp.Symbol, sp.Symbol]:
    k, N = sp.symbols("k N", integer=True, nonnegative=True)
    return k, N, _nn("rho"), _nn("c")


def _solve_linear(ratio: sp.Expr, inhomogeneous: sp.Expr, k: sp.Symbol) -> sp.Expr:
    r"""Solution of $F_k = \text{ratio}\,F_{k-1} + b_k$, $F_0 = 0$, by :func:`sympy.rsolve`
    term by term ($b_k$ a sum of hypergeometric terms; the zero-start solutions add up,
    and rsolve does not always solve the whole sum at once)."""
    f = sp.Function("F")
    out = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(sp.powsimp(sp.expand(inhomogeneous)))):
        sol = sp.rsolve(f(k) - ratio * f(k - 1) - term, f(k), {f(0): 0})
        if sol is None:  # pragma: no cover - rsolve found no closed form
            raise ValueError(f"rsolve found no closed form of F(k) = {ratio} F(k-1) + {term}")
        out += sol
    return out


def _tidy(expr: sp.Expr, k: sp.Symbol, q: sp.Symbol) -> sp.Expr:
    """``expr`` as a sum over the powers $q^{jk}$ with factored coefficients (equal to
    ``expr``; only the printed form changes)."""
    Qk = sp.Dummy("Qk", positive=True)

    def split(t: sp.Expr) -> sp.Expr:
        p = sp.Poly(sp.expand(t.exp), k)
        return Qk ** p.coeff_monomial(k) * q ** p.coeff_monomial(1)

    e = sp.expand(sp.expand_power_exp(sp.expand(expr)))
    e = e.replace(lambda t: t.is_Pow and t.base == q and t.exp.has(k), split)
    parts = sp.collect(sp.expand(e), Qk, evaluate=False)
    out = sp.Add(*[sp.factor(cf) * (mono.subs(Qk, q ** k) if mono != 1 else 1)
                   for mono, cf in sorted(parts.items(), key=lambda t: -sp.degree(t[0], Qk))])
    return out


def leading_growth(expr: sp.Expr, N: sp.Symbol, q: sp.Symbol, regime: str) -> sp.Expr:
    r"""The leading term of ``expr`` as $N \to \infty$, for a sum of terms
    $a\,N^i q^{jN + b}$ (the closed forms of the uniform recursions).

    ``regime``: ``"q>1"`` (the terms with the largest $j$, then the largest $i$),
    ``"q<1"`` ($q^{jN} \to 0$ for $j > 0$: the $j = 0$ terms with the largest $i$; a
    constant is the limit) or ``"q=1"`` (``expr`` is a polynomial in $N$: its leading
    term).

    Examples:
        >>> N, q = sp.Symbol("N"), sp.Symbol("q", positive=True)
        >>> leading_growth((q**(2*N) - 1) / (q**2 - 1), N, q, "q>1")
        q**(2*N)/((q - 1)*(q + 1))
    """
    if regime not in ("q>1", "q<1", "q=1"):
        raise ValueError(f"{regime=} must be 'q>1', 'q<1' or 'q=1'")
    Qn = sp.Dummy("Q", positive=True)

    def split(t: sp.Expr) -> sp.Expr:
        p = sp.Poly(sp.expand(t.exp), N)
        return Qn ** p.coeff_monomial(N) * q ** p.coeff_monomial(1)

    e = sp.expand(sp.expand_power_exp(sp.expand(expr)))
    e = sp.expand(e.replace(lambda t: t.is_Pow and t.base == q and t.exp.has(N), split))
    terms = sp.Poly(e, Qn, N).terms()  # ((j, i), coefficient)
    j = max(m[0] for m, _ in terms) if regime == "q>1" else 0
    same = [(m, c_) for m, c_ in terms if m[0] == j]
    i = max(m[1] for m, _ in same)
    coeff = sp.factor(sp.Add(*[c_ for m, c_ in same if m[1] == i]))
    return coeff * N ** i * (q ** (j * N) if j else 1)


@functools.lru_cache(maxsize=None)
def uniform_first_order() -> tuple[sp.Expr, sp.Expr, Derivation]:
    r"""Closed form of the uniform recursion, solved by :func:`sympy.rsolve`.

    With $\rho_k = \rho$ and $c_{k} \le c$ for all $k$, $L_k = l_k^2$ satisfies
    $L_k = K_1^2 (c^2 + 1) + K_1^2 \rho^2 L_{k-1}$, $L_0 = 0$ (hidden layers), and the
    read-out gives $l_N^2 = c^2 + 1 + \rho^2 L_{N-1}$.  With $q = K_1\rho$:
    $L_k = K_1^2(c^2+1)\frac{q^{2k} - 1}{q^2 - 1}$ for $q \ne 1$ and $K_1^2(c^2+1)k$ for
    $q = 1$ (its own ``Piecewise`` branch: the general form divides by zero there), so
    $l_N^2 = (c^2+1)\frac{q^{2N}-1}{q^2-1}$ resp. $(c^2+1)N$.  Growth in $N$:
    $l_N^2 \sim \frac{c^2+1}{q^2-1}q^{2N}$ ($q > 1$), $= (c^2+1)N$ ($q = 1$),
    $\to \frac{c^2+1}{1-q^2}$ ($q < 1$).

    Returns:
        ``(L_k, l_N^2, derivation)`` in the symbols ``k``, ``N``, ``rho``, ``c``, ``K1``
        (both ``Piecewise`` in ``Eq(K1*rho, 1)``).
    """
    k, N, rh, cc = _uniform_symbols()
    Lf = sp.Function("L")
    a = cc ** 2 + 1
    gen = sp.factor(_solve_linear(Q ** 2, K1 ** 2 * a, k))
    one = sp.factor(_solve_linear(sp.Integer(1), K1 ** 2 * a, k))
    # read-out: l_N^2 = c^2 + 1 + rho^2 L_{N-1} with rho^2 K1^2 = q^2
    lN_gen = sp.factor(sp.simplify(a + (Q / K1) ** 2 * gen.subs(k, N - 1)))
    lN_one = sp.factor(sp.expand(a + one.subs(k, N - 1) / K1 ** 2))
    at_q = {Q: K1 * rh}
    is_one = sp.Eq(K1 * rh, 1)
    sol = sp.Piecewise((one, is_one), (gen.subs(at_q), True))
    lN2 = sp.Piecewise((lN_one, is_one), (lN_gen.subs(at_q), True))
    d = Derivation("Uniform layers: closed form of the first-order recursion")
    d.assume("$\\rho_k = \\rho$ and $c_{k} \\le c$ for every layer; $q := K_1\\rho$")
    d.step(Lf(k), "=", K1 ** 2 * a + K1 ** 2 * rh ** 2 * Lf(k - 1),
           "$L_k = l_k^2$, hidden layers, $L_0 = 0$")
    d.step(Lf(k), "=", sp.Piecewise((one, sp.Eq(Q, 1)), (gen, True)),
           "sympy.rsolve; $q = 1$ is its own branch (the general form divides by $q^2 - 1$)")
    d.step(Tex("l_N^2"), "=", sp.Piecewise((lN_one, sp.Eq(Q, 1)), (lN_gen, True)),
           "linear read-out: $l_N^2 = c^2 + 1 + \\rho^2 L_{N-1}$, $\\rho^2K_1^2 = q^2$")
    for regime, expr, rel, why in (
            ("q>1", lN_gen, "~", "$q > 1$: geometric growth"),
            ("q=1", lN_one, "~", "$q = 1$: linear growth in $N$"),
            ("q<1", lN_gen, "->", "$q < 1$: bounded in $N$; the limit")):
        d.step(Tex("l_N^2"), rel, leading_growth(expr, N, Q, regime),
               f"{why} (leading term as $N \\to \\infty$)")
    return sol, lN2, d


@functools.lru_cache(maxsize=None)
def uniform_second_order() -> tuple[dict[str, sp.Expr], Derivation]:
    r"""Closed forms of the uniform second-order (gradient) recursion, by :func:`sympy.rsolve`.

    Uniform layers ($\rho_k = \rho$, $c_k \le c$, $q = K_1\rho$, $K_1 > 0$).  The
    program of :func:`second_order_program` is bounded by linear recursions:
    $\mu_k \le m_k$, $w_k \le \rho h_{k-1}$, $g_k = \tfrac12(w_k + \sqrt{w_k^2 +
    4l_{k-1}^2}) \le w_k + l_{k-1}$, $l_k \le \Lambda_k := K_1(\sqrt{c^2+1} +
    \rho\Lambda_{k-1})$ ($\sqrt{a^2 + b^2} \le a + b$), $m_k^2 = c^2 + 1 +
    \rho^2 L_{k-1}$ (:func:`uniform_first_order`), so $h_k \le H_k$ with

    $H_k = K_2(c^2 + 1 + \rho^2L_{k-1}) + K_1\rho H_{k-1} + K_1\Lambda_{k-1}$, $H_0 = 0$
    (hidden layers), and for the read-out $h_N = g_N \le \rho H_{N-1} + \Lambda_{N-1}$.

    Each is solved by rsolve (term by term), the case $q = 1$ as its own branch; growth:
    $h_N \sim C q^{2N}$ ($q > 1$), $\sim \tfrac12 K_2(c^2+1)N^2/K_1$ ... ($q = 1$,
    quadratic), bounded ($q < 1$).

    Returns:
        ``({"L": L_k, "Lambda": Lambda_k, "H": H_k, "h_N": bound of h_N}, derivation)``,
        each a ``Piecewise`` in ``Eq(K1*rho, 1)``, in the symbols ``k``, ``N``, ``rho``,
        ``c``, ``K1``, ``K2``.
    """
    k, N, rh, cc = _uniform_symbols()
    a = cc ** 2 + 1
    sa = sp.sqrt(a)
    Hf, Lamf, Lf = sp.Function("H"), sp.Function("Lambda"), sp.Function("L")
    forms: dict[str, dict[bool, sp.Expr]] = {"L": {}, "Lambda": {}, "H": {}, "h_N": {}}
    for unit in (False, True):
        qv = sp.Integer(1) if unit else Q
        rv = qv / K1  # rho in terms of q
        L = _solve_linear(qv ** 2, K1 ** 2 * a, k)
        Lam = _solve_linear(qv, K1 * sa, k)
        H = _solve_linear(qv, K2 * (a + rv ** 2 * L.subs(k, k - 1)) + K1 * Lam.subs(k, k - 1),
                          k)
        hN = rv * H.subs(k, N - 1) + Lam.subs(k, N - 1)
        for name, e in (("L", L), ("Lambda", Lam), ("H", H), ("h_N", hN)):
            forms[name][unit] = (sp.factor(sp.expand(e)) if unit
                                 else _tidy(e, N if name == "h_N" else k, Q))
    at_q = {Q: K1 * rh}
    is_one = sp.Eq(K1 * rh, 1)
    out = {name: sp.Piecewise((f[True], is_one), (f[False].subs(at_q), True))
           for name, f in forms.items()}
    d = Derivation("Uniform layers: closed form of the second-order (gradient) recursion")
    d.assume("$\\rho_k = \\rho$, $c_k \\le c$ for every layer; $q := K_1\\rho$, $K_1 > 0$")
    d.step(Tex("g_k"), "<=", Tex(r"w_k + l_{k-1} \le \rho h_{k-1} + l_{k-1}"),
           "$\\sqrt{w^2 + 4l^2} \\le w + 2l$; $w_k \\le \\rho h_{k-1}$")
    d.step(Tex("l_k"), "<=", Tex(r"\Lambda_k = K_1\big(\sqrt{c^2+1} + \rho\Lambda_{k-1}\big)"),
           "$\\sqrt{a^2 + b^2} \\le a + b$, $\\Lambda_0 = 0$")
    d.step(Hf(k), "=", K2 * (a + rh ** 2 * Lf(k - 1)) + K1 * rh * Hf(k - 1)
           + K1 * Lamf(k - 1), "$h_k = K_2\\mu_km_k + K_1g_k \\le H_k$ ($\\mu_k \\le m_k$), "
           "$H_0 = 0$ (hidden layers), $m_k^2 = c^2 + 1 + \\rho^2L_{k-1}$")
    for name, f in (("Lambda", Lamf(k)), ("L", Lf(k)), ("H", Hf(k))):
        d.step(f, "=", sp.Piecewise((forms[name][True], sp.Eq(Q, 1)),
                                    (forms[name][False], True)),
               "sympy.rsolve (term by term); $q = 1$ is its own branch")
    d.step(Tex("h_N"), "<=", sp.Piecewise((forms["h_N"][True], sp.Eq(Q, 1)),
                                          (forms["h_N"][False], True)),
           "linear read-out: $h_N = g_N \\le \\rho H_{N-1} + \\Lambda_{N-1}$, $\\rho = q/K_1$")
    for regime, unit, rel, why in (
            ("q>1", False, "~", "$q > 1$: geometric growth"),
            ("q=1", True, "~", "$q = 1$: polynomial growth in $N$"),
            ("q<1", False, "->", "$q < 1$: bounded in $N$; the limit")):
        d.step(Tex("h_N"), rel, leading_growth(forms["h_N"][unit], N, Q, regime),
               f"{why} (leading term as $N \\to \\infty$)")
    return out, d


# ------------------------------------------------------------------------------------
# derivations
# ------------------------------------------------------------------------------------


def first_order_derivation(depth: int | None = None, *, bounded: bool = True,
                           centre: bool = True) -> Derivation:
    r"""The proof of the first-order bound, step by step (for a generic layer $k$),
    followed by the recursion unrolled for ``depth`` layers (if given)."""
    d = Derivation("Parameter-Lipschitz bound of a feed-forward network on a ball")
    d.assume("$z_k = W_k a_{k-1} + b_k$, $a_k = \\sigma(z_k)$ ($k<N$), $f = z_N$; "
             "$a_0 = x$")
    d.assume("$\\theta, \\theta' \\in B_r(\\bar\\theta)$ (Euclidean norm of the flattened "
             "parameters), $\\Delta = \\theta - \\theta'$, $\\Delta_k = (\\Delta W_k, "
             "\\Delta b_k)$")
    d.assume("$\\sigma$ componentwise with $|\\sigma(s)-\\sigma(t)| \\le K_1|s-t|$, "
             "$|\\sigma| \\le S_0$, $|\\sigma(0)| = s_0$")
    rk = _nn("rho_k")
    d.step(Tex(r"\|W_k\|_2"), "<=", Tex(r"\|\bar W_k\|_2 + \|W_k - \bar W_k\|_F"),
           "triangle inequality, $\\|\\cdot\\|_2 \\le \\|\\cdot\\|_F$")
    d.then("<=", rk, "$\\|W_k - \\bar W_k\\|_F \\le \\|\\theta - \\bar\\theta\\| \\le r$, "
           "$\\rho_k := \\|\\bar W_k\\|_2 + r$ (likewise $\\beta_k := \\|\\bar b_k\\| + r$)")
    d.step(Tex(r"\|z_k - z_k'\|"), "=",
           Tex(r"\|\Delta W_k\, a_{k-1} + \Delta b_k + W_k'(a_{k-1} - a_{k-1}')\|"),
           "expand $W a + b - W' a' - b'$")
    d.then("<=", Tex(r"\|[\Delta W_k\ \Delta b_k]\|_F \sqrt{\|a_{k-1}\|^2 + 1} + "
                     r"\|W_k'\|_2 \|a_{k-1} - a_{k-1}'\|"),
           "triangle inequality; $\\|Av\\| \\le \\|A\\|_2\\|v\\| \\le \\|A\\|_F\\|v\\|$ with "
           "$v = (a_{k-1}, 1)$")
    d.then("<=", Tex(r"\sqrt{c_{k-1}^2+1}\,\|\Delta_k\| + \rho_k l_{k-1} \|\Delta_{<k}\|"),
           "induction hypotheses $\\|a_{k-1}\\| \\le c_{k-1}$, "
           "$\\|a_{k-1} - a'_{k-1}\\| \\le l_{k-1}\\|\\Delta_{<k}\\|$")
    d.then("<=", Tex(r"\sqrt{c_{k-1}^2 + 1 + \rho_k^2 l_{k-1}^2}\;\|\Delta_{\le k}\| = "
                     r"m_k \|\Delta_{\le k}\|"),
           "Cauchy-Schwarz: $\\alpha s + \\beta t \\le \\sqrt{\\alpha^2+\\beta^2}"
           "\\sqrt{s^2+t^2}$, $\\|\\Delta_k\\|^2 + \\|\\Delta_{<k}\\|^2 = "
           "\\|\\Delta_{\\le k}\\|^2$")
    d.step(Tex(r"\|a_k - a_k'\|"), "<=", Tex(r"K_1 \|z_k - z_k'\| \le K_1 m_k "
                                              r"\|\Delta_{\le k}\| =: l_k\|\Delta_{\le k}\|"),
           "$\\sigma$ componentwise $K_1$-Lipschitz (hidden layers; $l_N = m_N$ for the "
           "linear read-out)")
    d.step(Tex(r"\|a_k\|"), "<=", Tex(r"\|\sigma(z_k) - \sigma(0)\| + \|\sigma(0)\mathbf 1\|"
                                       r"\le K_1(\rho_k c_{k-1} + \beta_k) + \sqrt{n_k} s_0"),
           "triangle inequality, $\\|z_k\\| \\le \\rho_k c_{k-1} + \\beta_k$")
    if bounded:
        d.step(Tex(r"\|a_k\|"), "<=", Tex(r"\sqrt{n_k}\, S_0"), "$|\\sigma| \\le S_0$")
    if centre:
        d.step(Tex(r"\|a_k(\theta)\|"), "<=",
               Tex(r"\|a_k(\bar\theta)\| + l_k \|\theta - \bar\theta\| \le A_k + l_k r"),
               "the Lipschitz bound just proved, applied to $(\\theta, \\bar\\theta)$; "
               "$A_k$ a certified upper bound of $\\|a_k(\\bar\\theta)\\|$")
    d.step(Tex(r"\|f(x;\theta) - f(x;\theta')\|"), "<=",
           Tex(r"l_N \|\theta - \theta'\|"), "induction over $k = 1, \\dots, N$, "
           "$l_0 = 0$, $c_0 = \\|x\\|$")
    d.conclude("$l_N$ is a Lipschitz constant of $\\theta \\mapsto f(x;\\theta)$ on "
               "$B_r(\\bar\\theta)$ for every data point $x$ (no differentiability needed).")
    if depth is not None:
        d.section(program_derivation(*first_order_program(depth, bounded=bounded,
                                                           centre=centre),
                                     f"The recursion for N = {depth}"))
        if depth <= 12:
            un = Derivation("Unrolled (structure of the bound)")
            un.step(l(depth) ** 2, "<=", unrolled_first_order(depth),
                    "unroll $l_k^2 = K_1^2 m_k^2$; compare $\\|\\nabla_\\theta f\\|^2 = "
                    "\\sum_k \\|\\delta_k\\|^2(\\|a_{k-1}\\|^2+1)$")
            d.section(un)
    return d


def second_order_derivation(depth: int | None = None, *, loss: str | None = None,
                            bounded: bool = True, centre: bool = True,
                            jac: bool = False) -> Derivation:
    r"""The proof of the gradient-Lipschitz (smoothness) bound, step by step."""
    d = Derivation("Lipschitz bound of the parameter gradient (smoothness) on a ball")
    d.assume("everything of the first-order bound, and $|\\sigma'(s) - \\sigma'(t)| \\le "
             "K_2|s - t|$ ($K_2 < \\infty$)")
    d.assume("$h_k$ bounds the bilinear map $D^2_\\theta a_k$: $\\|D^2 a_k[u,v]\\| \\le h_k "
             "\\|u\\|\\|v\\|$ on $B_r$; $h_0 = 0$")
    d.step(Tex(r"D^2 z_k[u,v]"), "=",
           Tex(r"U_k\, D a_{k-1}[v] + V_k\, D a_{k-1}[u] + W_k D^2 a_{k-1}[u,v]"),
           "product rule on $W_k a_{k-1} + b_k$ ($U_k, V_k$: the $W_k$-blocks of $u, v$)")
    d.step(Tex(r"\|W_k D^2 a_{k-1}[u,v]\|"), "<=",
           Tex(r"\big(K_2 m_{k-1}\min(\rho_k\mu_{k-1},\ \kappa_k m_{k-1}) + "
               r"\rho_k K_1 g_{k-1}\big)\|u\|\|v\| =: w_k\|u\|\|v\|"),
           "$D^2a_{k-1} = \\sigma''\\odot p\\odot q + \\sigma'\\odot D^2z_{k-1}$ (below), "
           "$p, q = Dz_{k-1}[u], Dz_{k-1}[v]$; $\\|Wt\\|_2 \\le \\rho_k\\|t\\|_2$ and "
           "$\\|Wt\\|_2 \\le \\sum_j|t_j|\\|W_{:j}\\| \\le \\kappa_k\\|t\\|_1$ "
           "($\\kappa_k := \\max_j\\|\\bar W_{k,:j}\\| + r$), "
           "$\\|p\\odot q\\|_1 \\le \\|p\\|_2\\|q\\|_2$; $w_k \\le \\rho_k h_{k-1}$, $w_1 = 0$")
    d.step(Tex(r"\|D^2 z_k[u,v]\|"), "<=",
           Tex(r"\begin{pmatrix}\|u_k\| & \|u_{<k}\|\end{pmatrix}"
               r"\begin{pmatrix}0 & l_{k-1}\\ l_{k-1} & w_k\end{pmatrix}"
               r"\begin{pmatrix}\|v_k\|\\ \|v_{<k}\|\end{pmatrix}"),
           "$\\|U_k\\|_2 \\le \\|u_k\\|$, $\\|Da_{k-1}[v]\\| \\le l_{k-1}\\|v_{<k}\\|$")
    d.then("<=", Tex(r"g_k \|u\|\|v\|,\quad g_k = \tfrac12\Big(w_k + "
                     r"\sqrt{w_k^2 + 4 l_{k-1}^2}\Big)"),
           "Cauchy-Schwarz; $g_k$ is the spectral norm of the symmetric $2\\times2$ matrix")
    d.step(Tex(r"D^2 a_k[u,v]"), "=", Tex(r"\sigma''(z_k)\odot Dz_k[u]\odot Dz_k[v] + "
                                           r"\sigma'(z_k) \odot D^2 z_k[u,v]"),
           "chain rule (for $C^{1,1}$ $\\sigma$ the same bound follows from difference "
           "quotients of $Da_k$)")
    d.step(Tex(r"|D z_{k,i}[u]|"), "<=",
           Tex(r"\sqrt{c_{k-1}^2+1}\,\|u_k\| + \|W_{k,i:}\|\, l_{k-1}\|u_{<k}\| \le "
               r"\sqrt{c_{k-1}^2 + 1 + \omega_k^2 l_{k-1}^2}\;\|u\| =: \mu_k\|u\|"),
           "row $i$ of $Dz_k[u] = U_k a_{k-1} + u_{b_k} + W_k Da_{k-1}[u_{<k}]$: "
           "$\\|(U_{k,i:}, u_{b_k,i})\\| \\le \\|u_k\\|$, Cauchy-Schwarz; "
           "$\\omega_k := \\max_i\\|\\bar W_{k,i:}\\| + r$ (layer 1: $\\mu_1 = m_1$)")
    d.step(Tex(r"\|D^2 a_k[u,v]\|"), "<=", Tex(r"(K_2 \mu_k m_k + K_1 g_k)\|u\|\|v\| = "
                                                r"h_k\|u\|\|v\|"),
           "$\\|p\\odot q\\|_2 \\le \\|p\\|_\\infty\\|q\\|_2$ with $p = Dz_k[u]$, "
           "$\\|p\\|_\\infty \\le \\mu_k\\|u\\|$, $\\|Dz_k[v]\\| \\le m_k\\|v\\|$; "
           "$h_N = g_N$ for the linear read-out")
    if jac:
        d.step(Tex(r"\|Dz_k(\theta)\|"), "<=",
               Tex(r"\|Dz_k(\bar\theta)\| + \sup_{B_r}\|D^2 z_k\|\,\|\theta - \bar\theta\| "
                   r"\le J^z_k + g_k r"),
               "mean value inequality on the convex ball (operator norms); $J^z_k$ a "
               "certified bound of the centre Jacobian (interval forward-mode "
               "differentiation); likewise $\\max_i\\|\\nabla z_{k,i}\\| \\le J^r_k + g_k r$")
        d.step(Tex(r"\|Da_k(\theta)\|"), "<=", Tex(r"J^a_k + h_k r"),
               "the same with $\\|D^2 a_k\\| \\le h_k$; so $m_k$, $\\mu_k$, $l_k$ are the "
               "minima of the recursive and the centre bounds (exact as $r \\to 0$)")
    if loss is not None:
        lname = _loss_name(loss)
        d.step(Tex(r"\|D^2_\theta L\|"), "<=",
               Tex(r"\frac1n\sum_{i}\big(H\, l_N(x_i)^2 + G(x_i)\, h_N(x_i)\big)"),
               "$D^2(\\lambda\\circ f) = \\nabla^2\\lambda[Df, Df] + \\nabla\\lambda \\cdot "
               "D^2 f$, $\\|\\nabla^2\\lambda\\| \\le H$, $\\|\\nabla\\lambda\\| \\le G$, "
               "triangle inequality over the mean")
        if lname == "mse":
            d.step(Tex("H"), "=", 1, "$\\nabla^2_f \\tfrac12\\|f-y\\|^2 = I$")
            d.step(Tex("G"), "=", Tex(r"\min(c_N + \|y\|,\ E + l_N r)"),
                   "$\\|f(\\theta) - y\\| \\le \\|f(\\theta)\\| + \\|y\\|$ and "
                   "$\\le \\|f(\\bar\\theta)-y\\| + l_N r$")
        else:
            d.step(Tex("H"), "=", sp.Rational(1, 2),
                   "$\\nabla^2 = \\mathrm{diag}(p) - pp^T$, $v^T(\\cdot)v = "
                   "\\mathrm{Var}_p(v) \\le \\tfrac14(\\max v - \\min v)^2 \\le \\tfrac12$ "
                   "(Popoviciu)")
            d.step(Tex("G"), "=", sp.sqrt(2), "$\\|p - y\\|_2^2 \\le \\|p-y\\|_1\\|p-y\\|_\\infty"
                   " \\le 2\\cdot 1$ for $p, y$ in the simplex")
            if centre:
                d.step(Tex(r"\|\mathrm{diag}(p) - pp^T\|"), "<=",
                       Tex(r"\max_j p_j \le P + \tfrac12 l_N r"),
                       "$v^T(\\cdot)v = \\sum_j p_jv_j^2 - (\\sum_j p_jv_j)^2 \\le "
                       "\\max_j p_j\\|v\\|^2$; softmax is $\\tfrac12$-Lipschitz (its "
                       "Jacobian is $\\mathrm{diag}(p) - pp^T$), $\\|f(\\theta) - "
                       "f(\\bar\\theta)\\| \\le l_N r$; $P \\ge \\max_j p_j(\\bar\\theta)$")
                d.step(Tex(r"\|p(\theta) - e_y\|"), "<=", Tex(r"E + H\,l_N r"),
                       "mean value theorem along the output path $f(\\bar\\theta + "
                       "s(\\theta - \\bar\\theta))$ (length $\\le l_N r$), on which "
                       "$\\|\\nabla^2\\lambda\\| \\le H$; $E \\ge \\|p(\\bar\\theta) - "
                       "e_y\\|$; so $H = \\min(\\tfrac12, P + \\tfrac12 l_N r, 2\\bar P"
                       "e^{\\sqrt2 l_N r})$, $G = \\min(\\sqrt2, E + H l_N r)$")
        d.conclude("$\\|\\nabla L(\\theta) - \\nabla L(\\theta')\\| \\le L_{grad}"
                   "\\|\\theta - \\theta'\\|$ on the convex ball (mean value theorem).")
    if depth is not None:
        if loss is None:
            prog = second_order_program(depth, bounded=bounded, centre=centre, jac=jac)
        else:
            prog = loss_program(depth, loss, bounded=bounded, centre=centre, jac=jac)
        d.section(program_derivation(*prog, f"The recursion for N = {depth}"))
    return d


def network_first_order_derivation(kinds: Sequence[str] | None = None, *,
                                   bounded: bool = True, centre: bool = True,
                                   lognorm: Sequence[int] = ()) -> Derivation:
    r"""The first-order proof for networks with residual (and linear) layers: the
    feed-forward proof of :func:`first_order_derivation`, the residual block lemma, and
    the program for the given layer ``kinds`` (if given)."""
    d = first_order_derivation(None, bounded=bounded, centre=centre)
    rb = Derivation("Residual block $a_k = a_{k-1} + h_k\\sigma(W_k a_{k-1} + b_k)$ "
                    "($W_k$ square, $|h_k| \\le \\tau_k$, $h_k$ not a parameter)")
    rb.assume("the induction hypotheses $\\|a_{k-1}\\| \\le c_{k-1}$ and $\\|a_{k-1} - "
              "a'_{k-1}\\| \\le l_{k-1}\\|\\Delta_{<k}\\|$ on $B_r(\\bar\\theta)$")
    rb.step(Tex(r"\|a_k - a_k'\|"), "<=",
            Tex(r"\|a_{k-1} - a_{k-1}'\| + |h_k|\,\|\sigma(z_k) - \sigma(z_k')\|"),
            "triangle inequality")
    rb.then("<=", Tex(r"\|a_{k-1} - a_{k-1}'\| + \tau_k K_1\big(\sqrt{c_{k-1}^2+1}\,"
                      r"\|\Delta_k\| + \rho_k\|a_{k-1} - a_{k-1}'\|\big)"),
            "$\\sigma$ componentwise $K_1$-Lipschitz; $z_k - z_k' = \\Delta W_k a_{k-1} + "
            "\\Delta b_k + W_k'(a_{k-1} - a_{k-1}')$ as for a dense layer")
    rb.then("<=", Tex(r"(1 + \tau_kK_1\rho_k)\,l_{k-1}\|\Delta_{<k}\| + \tau_kK_1"
                      r"\sqrt{c_{k-1}^2+1}\,\|\Delta_k\|"), "induction hypothesis")
    rb.then("<=", Tex(r"\sqrt{(1 + \tau_kK_1\rho_k)^2l_{k-1}^2 + \tau_k^2K_1^2(c_{k-1}^2+1)}"
                      r"\;\|\Delta_{\le k}\| =: l_k\|\Delta_{\le k}\|"),
            "Cauchy-Schwarz over the blocks $\\Delta_k$, $\\Delta_{<k}$")
    rb.step(Tex(r"a_k - a_k'"), "=", Tex(r"(I + h_kS W_k')(a_{k-1} - a_{k-1}') + h_kS(\Delta "
                                          r"W_ka_{k-1} + \Delta b_k)"),
            "$S$ diagonal: the divided differences of $\\sigma$ between $z_k$ and $z_k'$ "
            "(in $[0, K_1]$ for a nondecreasing $\\sigma$)")
    rb.then("=>", Tex(r"\|I + h_kSW_k'\|_2 \le q_k = \min\Big(1 + \tau_kK_1\rho_k,\ "
                      r"\sqrt{1 + 2\tau_kK_1(\nu_k + r) + \tau_k^2K_1^2\rho_k^2}\Big)"),
            "$\\|I + M\\|_2^2 \\le 1 + 2\\mu_2(M) + \\|M\\|_2^2$ (Weyl); $\\mu_2(\\pm SW) "
            "\\le K_1\\nu(\\pm W)$ (convex in $S$: a vertex $K_1P_S$ of the box), $\\mu_2$ "
            "subadditive, $\\mu_2(SE) \\le K_1\\|E\\|_F \\le K_1r$; second option only for "
            "nondecreasing $\\sigma$ (layers with input $\\nu_k$), and then $l_k$ and the first "
            "$c_k$ option use $q_k$ in place of $1 + \\tau_kK_1\\rho_k$")
    rb.step(Tex(r"\|\sigma(W_ka + b_k)\|"), "<=",
            Tex(r"\|\sigma(W_ka + b_k) - \sigma(b_k)\| + \|\sigma(b_k)\| \le K_1\rho_k"
                r"c_{k-1} + \min(\gamma_k + K_1 r,\ K_1\beta_k + \sqrt{n_k}s_0)"),
            "triangle inequality; $\\|\\sigma(b_k) - \\sigma(\\bar b_k)\\| \\le K_1 r$, "
            "$\\gamma_k \\ge \\|\\sigma(\\bar b_k)\\|$; or $\\|\\sigma(b_k)\\| \\le "
            "\\|\\sigma(b_k) - \\sigma(0)\\| + \\sqrt{n_k}s_0 \\le K_1\\beta_k + \\sqrt{n_k}s_0$")
    rb.step(Tex(r"\|a_k\|"), "<=", Tex(r"\min\big(c_{k-1} + \tau_k(K_1\rho_kc_{k-1} + "
                                         r"\min(\gamma_k + K_1r, K_1\beta_k + \sqrt{n_k}s_0)),"
                                         r"\ c_{k-1} + \tau_k\sqrt{n_k}S_0,\ A_k + l_kr\big)"),
            "triangle inequality; $|\\sigma| \\le S_0$; centre: the Lipschitz bound applied "
            "to $(\\theta, \\bar\\theta)$")
    rb.step(Tex(r"\text{linear layer } a_k = W_ka_{k-1} + b_k"), "->",
            Tex(r"l_k = m_k,\ c_k = \min(\rho_kc_{k-1} + \beta_k,\ A_k + l_kr)"),
            "as for the linear read-out (an identity activation needs no $K_1$)")
    rb.conclude("Every layer kind maps the hypotheses at $k-1$ to those at $k$; the "
                "induction of the feed-forward proof goes through unchanged, so "
                "$\\|f(x;\\theta) - f(x;\\theta')\\| \\le l_N\\|\\theta - \\theta'\\|$.")
    d.section(rb)
    if kinds is not None:
        d.section(program_derivation(*network_first_order_program(kinds, bounded=bounded,
                                                                  centre=centre,
                                                                  lognorm=lognorm),
                                     f"The recursion for layers {list(kinds) + ['readout']}"))
    return d
