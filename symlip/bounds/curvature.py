r"""Certified per-point centre curvature norms (issue #12):
$$\mathrm{CV}_i \ge \Big\|\sum_o\bar g_{io}\nabla^2_\theta f_o(x_i;\bar\theta)\Big\|_2,$$
the second part of the loss Hessian $\nabla^2L = \frac1n\sum_i[J_i^TA_iJ_i +
\sum_og_{io}\nabla^2_\theta f_{io}]$ at the network's own parameters $\bar\theta$, for the
exact real loss gradient with respect to the output at the centre: MSE $\bar g =
f(x;\bar\theta) - y$, softmax cross-entropy $\bar g = \mathrm{softmax}(f(x;\bar\theta)) -
e_y$ (the weights and data the doubles they are; every number is the upper end of an
outward-rounded bound, never a float estimate).

**Setting.** A dense network $z_k = W_ka_{k-1} + b_k$, $a_k = \sigma(z_k)$ ($k < N$),
$f = z_N$, $a_0 = x$, widths $n_k$; $\Sigma_k = \operatorname{diag}(\sigma'(z_k))$, $F_i =
W_i\Sigma_{i-1}$, $D_{k,j} = F_k\cdots F_{j+1} = \partial z_k/\partial z_j$ ($D_{k,k} =
I$), $\beta_k = D_{N,k}^T\bar g$ (so $\beta_N = \bar g$, $\beta_k = \Sigma_kv_k$ with
$v_k = W_{k+1}^T\beta_{k+1}$) and $\gamma_k = \sigma''(z_k)\odot v_k$ ($k < N$).

**(a) The identity** (``tests/test_gauss_newton.py::test_hessian_of_weighted_output_
reduces_to_small_problem`` builds both sides).  For $\phi(\theta) = \bar g^Tf(x;\theta)$,
$\nabla^2_\theta\phi = Q^TSQ$, where $Q$ has the $m = 2\sum_{k<N}n_k$ rows $y_k =
U_ka_{k-1} + u_{b,k}$ ($k = 1..N-1$; $(U_k, u_{b,k})$ the layer-$k$ part of a parameter
direction) and $p_k = U_k^T\beta_k$ ($k = 2..N$), and $S$ is symmetric with the blocks
$S[p_k, y_j] = \Sigma_{k-1}D_{k-1,j}$ ($1 \le j < k \le N$), $S[y_j, y_l] =
\sum_{k=\max(j,l)}^{N-1}D_{k,j}^T\operatorname{diag}(\gamma_k)D_{k,l}$, $S[p, p] = 0$.
(The second directional derivative along $U$ is $\ddot z_k = F_k\ddot z_{k-1} +
2\dot W_k\Sigma_{k-1}\dot z_{k-1} + W_k\operatorname{diag}(\sigma''(z_{k-1}))\dot
z_{k-1}^{\odot 2}$ with $\dot z_j = \sum_{i\le j}D_{j,i}y_i$; contract with $\bar g$.)
With $H_l = \sum_{k=l}^{N-1}D_{k,l}^T\operatorname{diag}(\gamma_k)D_{k,l}$ the $y$-$y$
blocks are $S[y_j, y_l] = D_{l,j}^TH_l$ ($j \le l$), since $D_{k,j} = D_{k,l}D_{l,j}$.

**(b) The Gram matrix of $Q$.**  Layer $k$'s parameters feed only $y_k$ and $p_k$, so
$M = QQ^T$ is block diagonal, per layer $M_k$ with $M[y_k, y_k] = c_kI$, $c_k =
\|a_{k-1}\|^2 + 1$; $M[p_k, p_k] = b_kI$, $b_k = \|\beta_k\|^2$; $M[y_k, p_k] =
\beta_ka_{k-1}^T$ ($2 \le k \le N-1$).  Its eigenvalues are $c_k$, $b_k$ and those of
$\begin{pmatrix}c_k & \|a_{k-1}\|\|\beta_k\|\\ \|a_{k-1}\|\|\beta_k\| & b_k\end{pmatrix}$,
so $\|M\|_2 = \max_k\big(\frac{c_k + b_k}2 + \sqrt{(\frac{c_k - b_k}2)^2 +
\|a_{k-1}\|^2b_k}\big)$ ($c_1$ and $b_N$ for the first and last blocks).

**(c) An exact factor, so no sandwich.**  For every $L$ with $LL^T = M$,
$\|Q^TSQ\|_2 = \|L^TSL\|_2$: both matrices are symmetric, $Q^TSQ$ has the nonzero
eigenvalues of $SQQ^T = SM$, and $L^TSL$ those of $SLL^T = SM$.  Per layer block (rows
$y_k$ then $p_k$; $a = a_{k-1}$, $\beta = \beta_k$, $c = c_k$, $b = b_k$)
$$L_k = \begin{pmatrix}\sqrt c\,I & 0\\ a\beta^T/\sqrt c & \sqrt b\,(I -
\kappa aa^T)\end{pmatrix},\qquad \kappa = \frac1{\sqrt c\,(\sqrt c + 1)},$$
$L_1 = \sqrt{c_1}I$, $L_N = \sqrt{b_N}I$.  Indeed $L_kL_k^T = M_k$: the off-diagonal
block is $\sqrt c\cdot\beta a^T/\sqrt c$, and $\frac{a\beta^T\beta a^T}c + b(I -
\kappa aa^T)^2 = bI + b(\frac1c - 2\kappa + \kappa^2\|a\|^2)aa^T = bI$ because, with
$t = \sqrt c$ and $\|a\|^2 = t^2 - 1$, $2\kappa - \kappa^2(t^2 - 1) = \frac{2t - (t -
1)}{t^2(t + 1)} = \frac1{t^2}$.  (The suggested alternative, a float square root of
$\mathrm{mid}(M)$ and $M \preceq \tilde L\tilde L^T + \varepsilon I$, costs a
$\sqrt\varepsilon\|S\tilde L\|$ term, about $10^{-8}$ relative; the closed form is
enclosed in interval arithmetic over boxes containing the exact $a_{k-1}$, $\beta_k$, so
it contains the exact $L$.)

**(d) Certification: floats with norm-wise error bounds.**  A midpoint-radius interval
evaluation of (a)-(c) (tried first) is sound but useless beyond a few layers: every
product with $|W_k|\Sigma_{k-1}$ multiplies the radii by $\||W_k|\Sigma_{k-1}\|_2
\approx 4.3$ on the 32-wide tanh layers of 8-32x16-1 (against $\|W_k\Sigma_{k-1}\|_2
\approx 1.8$, and the whole chain $\|D_{17,2}\|_2 \approx 0.08$), and the forward pass,
the backward pass and $H_l$ compound: $2.5\times10^{13}$ instead of 17.5 at that depth.  So
every quantity is a float $\hat X$ with a bound $e_X \ge \|X - \hat X\|_2$ of the error of
the exact $X$, and the errors are propagated through the *exact* chains (telescoping),
whose norms are small, not through products of layer norms (steps 1-4 are
:mod:`symlip.bounds.float_chains`, shared with the Gauss-Newton norm and the float
loss gradient; there every $C_{k,i}$ is also capped by $C_{k,k-1}C_{k-1,i}$):

1. Forward: $\hat z_k$, $r_k$ = midpoint and radius of
   :func:`~symlip.arith.linalg.affine_box` of $W_k\hat a_{k-1} + b_k$ (Lemma A.1);
   $\hat a_k$, $q_k$ = midpoint and radius of :func:`~symlip.models.network.sigma_box` at
   the point $\hat z_k$.  Mean value theorem per coordinate: $z_k - \hat z_k =
   F^\xi_k(z_{k-1} - \hat z_{k-1}) + W_kq_{k-1} - r_k$ with $F^\xi_k =
   W_k\operatorname{diag}(\sigma'(\xi_{k-1}))$, $\xi$ between $z$ and $\hat z$, so
   $\|z_k - \hat z_k\|_2 \le e^z_k = \sum_{i\le k}C_{k,i}(\|r_i\| + \|W_i\|_2\|q_{i-1}\|)$
   with $C_{k,i} \ge \|D^\xi_{k,i}\|_2$ ($C_{k,k} = 1$).  The boxes $\hat z_k \pm e^z_k$
   (each coordinate) contain $z_k$ and $\xi_k$; $\sigma'$, $\sigma''$ are enclosed on them
   by the NumPy interval programs of the activation's symbolic derivatives (midpoint
   $\hat s$, radius $\varsigma$ per coordinate), and $\|a_k - \hat a_k\| \le
   \sup_{\mathrm{box}}|\sigma'|\,e^z_k + \|q_k\|$.
2. Chains, built with the forward pass: $\hat D_{k,i} = \mathrm{fl}(W_k\hat E_{k-1,i})$,
   $\hat E_{k,i} = \mathrm{fl}(\operatorname{diag}(\hat s_k)\hat D_{k,i})$, $\hat E_{i,i} =
   \operatorname{diag}(\hat s_i)$, with $e_{D} = \|W_k\|_2e_E + \gamma_{n}\|W_k\|_F\|\hat
   E\|_F$ and $e_E = \max|s_k|\,e_D + \|\varsigma_k\odot\hat D\|_F +
   u\|\hat E\|_F$ (valid for every $\sigma'$ in the boxes, so for $D$ and $D^\xi$);
   $C_{k,i} = \|\hat D_{k,i}\|_F + e_D$.
3. $\bar g$: MSE $\mathrm{fl}(\hat z_N - y)$, error $e^z_N + u\|\hat g\|$; cross-entropy
   the midpoint of :func:`~symlip.arith.kernels.softmax_box` at $\hat z_N$ minus $e_y$,
   error $\frac12e^z_N$ (softmax is $\frac12$-Lipschitz: $x^T(\operatorname{diag}(p) -
   pp^T)x$ is a variance, at most $\frac14(\max x - \min x)^2 \le \frac12\|x\|^2$) plus
   the box radius.
4. Backward: $\hat v_k = \mathrm{fl}(W_{k+1}^T\hat\beta_{k+1})$, $\hat\beta_k =
   \mathrm{fl}(\hat s_k\odot\hat v_k)$; $\beta_k - \hat\beta_k = F_{k+1}^T(\beta_{k+1} -
   \hat\beta_{k+1}) + \tau_k$ with $\|\tau_k\| \le \max|s_k|\,\gamma\|W_{k+1}\|_F
   \|\hat\beta_{k+1}\| + \|\varsigma_k\odot\hat v_k\| + u\|\hat\beta_k\|$, so $e_{\beta_k} =
   C_{N,k}e_{\bar g} + \sum_{i=k}^{N-1}C_{i,k}\|\tau_i\|$.  $\hat\gamma_k =
   \mathrm{fl}(\hat s''_k\odot\hat v_k)$ with $e_{v_k} \le \|W_{k+1}\|_2e_{\beta_{k+1}} +$
   rounding.
5. $\hat H_l$ (the sum in (a), products of balls: $\|AB - \hat A\hat B\| \le \|\hat A\|_F
   e_B + e_A\|\hat B\|_F + e_Ae_B + \gamma_k\|\hat A\|_F\|\hat B\|_F$), symmetrised
   $\mathrm{fl}(\frac12(\hat H + \hat H^T))$ (exactly symmetric: floating addition
   commutes); $\hat S$ assembled exactly symmetric from $\hat H_l$, $\hat D_{l,j}^T\hat
   H_l$ and $\hat E_{k-1,j}$; $e_S = (\sum_{\text{blocks}}e_{\text{block}}^2)^{1/2} \ge
   \|S - \hat S\|_2$ ($\|[A_{ij}]\|_2^2 \le \sum_{ij}\|A_{ij}\|_2^2$; off-diagonal
   blocks counted twice).
6. $L$ enclosed blockwise (interval arithmetic on the boxes $\hat a_{k-1} \pm e_a$,
   $\hat\beta_k \pm e_\beta$), $\hat L$ its midpoint, $e_L = \max_k\|\mathrm{rad}\,L_k\|_F
   \ge \|L - \hat L\|_2$; $\|L\|_2^2 = \|M\|_2$ from (b) in interval arithmetic.
7. $\hat K = \mathrm{fl}(\hat L^T\mathrm{fl}(\hat S\hat L))$ (block products), $\hat K_s =
   \mathrm{fl}(\frac12(\hat K + \hat K^T))$; with the exact $L$, $S$:
   $$\|L^TSL\|_2 \le \|\hat K_s\|_2 + e_K + e_L\|\hat S\|_F(\|L\|_2 + \|\hat L\|_2) +
   \|M\|_2\,e_S,$$
   $e_K$ the float errors of the two products ($\gamma_s\max_k\|\hat L_k\|_F$ times
   $\|\hat S\|_F$, resp. $\|\mathrm{fl}(\hat S\hat L)\|_F$, the first also times
   $\|\hat L\|_2$) and of the symmetrisation.
8. $\|\hat K_s\|_2 = \max(\lambda_{\max}(\hat K_s), \lambda_{\max}(-\hat K_s))$, each
   certified by a float Cholesky factorisation of $C = \mathrm{fl}(\alpha I \mp \hat K_s)$
   with $\alpha$ just above a float eigenvalue estimate (``eigvalsh``; ARPACK beyond
   $m = 600$): $C + \Delta = RR^T$ with $|\Delta| \le \gamma_{m+1}|R||R^T|$ (Higham,
   Thm 10.3) and the diagonal rounding at most $u\max_i|C_{ii}|$ give
   $\lambda_{\max}(\pm\hat K_s) \le \alpha + \gamma_{m+1}\|R\|_F^2 + u\max_i|C_{ii}|$.

Every float operation on a bound is rounded up (underflow terms $k\eta$ included).  The
error bounds grow like the chain norms, not like $\prod_k\|W_k\|$: on 8-32x16-1 tanh the
bound exceeds the float norm of $\hat K_s$ by $4\times10^{-8}$ to $1.2\times10^{-7}$
relative (about $2\times10^{-7}$ absolute on a point of norm 0.04, mostly $\|M\|_2e_S$);
on networks of depth $\le 9$ and width $\le 5$ by at most $3\times10^{-11}$ relative.

Cost (:func:`curvature_cost`): per point about $\frac23m^3$ multiply-adds for the two
Cholesky factorisations (plus $3m^3$ for ``eigvalsh`` when $m \le 600$) and
$2m\sum_ks_k^2$ ($s_k$ the layer block sizes) for $\hat K$; beyond
:data:`CURVATURE_BUDGET` :func:`centre_curvature_norms` returns ``None``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from symlip.activations.registry import Activation
from symlip.arith.array import IntervalArray
from symlip.arith.linalg import (
    ETA,
    RAD_FLOOR,
    U,
    down,
    from_midrad,
    gamma,
    to_midrad,
    up,
)
from symlip.bounds.centre import frobenius_upper, spectral_upper
from symlip.bounds.float_chains import chain_backward, chain_cost, chain_forward, loss_seed, wmul
from symlip.bounds.float_chains import diag as _diag
from symlip.bounds.float_chains import dmul as _dmul
from symlip.bounds.float_chains import finite as _finite
from symlip.bounds.float_chains import fro as _fro
from symlip.bounds.float_chains import pmul as _pmul
from symlip.bounds.float_chains import psum as _psum
from symlip.bounds.float_chains import sumsq_upper as _sumsq_upper
from symlip.bounds.recursion import _loss_name
from symlip.errors import InputError
from symlip.models.conv import ConvLayer

__all__ = ["CURVATURE_BUDGET", "centre_curvature_norms", "curvature_cost",
           "hidden_hessian_norms", "output_hessian_norms", "output_second_order_norms"]

#: largest :func:`curvature_cost` (multiply-adds) for which the curvature norms are
#: computed: 1.9e10 for 8-32x16-1 with 16 points (m = 1024, 2.2 s on one core of the
#: development machine, 3.3 s for a first call), 3.9e9 for 8-64-64-64-4 (m = 384, 0.37 s,
#: 1.6 s first call); 784-1024-1024-10
#: is 1.7e12 with 16 points and 1.1e15 with 10,000
CURVATURE_BUDGET = 30_000_000_000
#: the same for the $n_N$ runs of :func:`output_hessian_norms` together (about 4 s per
#: 3.6e10 on the digits MLP of ``benchmarks/bench_depth.py``)
OUTPUT_HESSIAN_BUDGET = 4 * CURVATURE_BUDGET
#: largest :func:`hidden_hessian_cost` for which :func:`hidden_hessian_norms` runs
HIDDEN_HESSIAN_BUDGET = CURVATURE_BUDGET
#: largest m for which the eigenvalue estimate is a full ``eigvalsh`` (beyond it: ARPACK)
_EIGH_MAX = 600
#: entries of the per-chunk ``S`` and ``K`` arrays (memory: a few arrays of this many
#: doubles are alive at once)
_CHUNK_ENTRIES = 1 << 21

MidRad = tuple[np.ndarray, np.ndarray]


# ------------------------------------------------------------------------------------
# cost
# ------------------------------------------------------------------------------------


def _block_sizes(w: list[int]) -> list[int]:
    """Sizes of the layer blocks of ``M`` (rows ``y_k`` then ``p_k``), k = 1..N."""
    N = len(w) - 1
    return [(w[k] if k < N else 0) + (w[k - 1] if k >= 2 else 0) for k in range(1, N + 1)]


def curvature_cost(net: Any, n_points: int) -> int:
    r"""Multiply-adds of :func:`centre_curvature_norms` (an estimate): per point the
    chains $D_{k,i}$, the $H_l$ sums, the $y$-$y$ blocks, $K = \hat L^T\hat S\hat L$ (two
    products with one layer block each), the two Cholesky factorisations of the
    $m\times m$ matrix and the eigenvalue estimate."""
    w = list(net.widths)
    N = len(w) - 1
    if N < 2:
        return 0
    m = 2 * sum(w[1:N])
    chains = chain_cost(w, 1)
    hess = sum(w[k] * w[q] * (w[q] + 1) for q in range(1, N) for k in range(q + 1, N))
    syy = sum(w[j] * w[q] * w[q] for q in range(1, N) for j in range(1, q))
    prods = 2 * m * sum(s * s for s in _block_sizes(w))
    spec = (2 * m**3) // 3 + (3 * m**3 if m <= _EIGH_MAX else 300 * m * m)
    return int(n_points) * (chains + hess + syy + prods + spec)


# ------------------------------------------------------------------------------------
# batched midpoint-radius arithmetic (Lemma A.2 of docs/intervals.md)
# ------------------------------------------------------------------------------------


def _bmm(am: np.ndarray, ar: np.ndarray | None, bm: np.ndarray,
         br: np.ndarray | None) -> MidRad:
    r"""Batched :func:`~symlip.arith.linalg.midrad_matmul` (the same Lemma A.2, leading
    axes broadcast): for every real $A$, $B$ with $|A - a_m| \le a_r$, $|B - b_m| \le
    b_r$ entrywise, $|AB - C| \le R$.  ``None`` radius = exact."""
    k = am.shape[-1]
    g = gamma(k)
    mid = am @ bm
    absbm = np.abs(bm)
    left = up(absbm * g) if br is None else up(up(absbm * g) + br)
    if ar is None:
        S = np.abs(am) @ left
        k2 = k
    else:
        right = absbm if br is None else up(absbm + br)
        # the inner product of Lemma A.2 with inner dimension 2k, [|a_m|, a_r] [left;
        # right], summed in the order (first k terms) + (last k terms): Higham's bound
        # holds for every order of summation
        S = np.abs(am) @ left + ar @ right
        k2 = 2 * k
    grow = float(up(1.0 + 2.0 * up(k2 * U)))
    rad = up(up(up(S + k2 * ETA) * grow) + 2 * k * ETA)
    return mid, np.maximum(rad, RAD_FLOOR)


# ------------------------------------------------------------------------------------
# certified spectral norm of a symmetric float matrix
# ------------------------------------------------------------------------------------


def _lam_max_upper(A: np.ndarray, est: float, scale: float) -> float:
    r"""Certified upper bound of $\lambda_{\max}(A)$ ($A$ symmetric float) from a float
    Cholesky factorisation of $\mathrm{fl}(\alpha I - A)$ with $\alpha$ just above the
    estimate ``est`` (module docstring); ``inf`` if every shift fails."""
    m = A.shape[0]
    gm = gamma(m + 1)
    idx = np.arange(m)
    for factor in (1e-11, 1e-9, 1e-7, 1e-5, 1e-3, 1e-1):
        alpha = float(up(est + factor * scale + 2 * m * ETA))
        C = -A
        C[idx, idx] = C[idx, idx] + alpha  # one rounding per diagonal entry
        try:
            R = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            continue
        if not np.all(np.isfinite(R)):
            continue
        rf = float(_sumsq_upper(R, (0, 1)))
        diag = float(np.max(np.abs(C[idx, idx])))
        under = up(2.0 * m * (m + 1) * ETA)  # underflow terms of the factorisation
        return float(up(up(up(alpha + float(up(gm * rf))) + float(up(diag * U))) + under))
    return math.inf


def _sym_norm_upper(A: np.ndarray) -> float:
    r"""Certified upper bound of $\|A\|_2$ for a symmetric float matrix: the larger of
    the certified $\lambda_{\max}(A)$ and $\lambda_{\max}(-A)$, capped by the Frobenius
    norm."""
    m = A.shape[0]
    fro = float(up(np.sqrt(_sumsq_upper(A, (0, 1)))))
    if m == 0 or fro == 0.0:
        return fro
    if m <= _EIGH_MAX:
        ev = np.linalg.eigvalsh(A)
        lo, hi = float(ev[0]), float(ev[-1])
    else:
        from scipy.sparse.linalg import eigsh

        try:
            ev = eigsh(A, k=2, which="BE", tol=0, return_eigenvectors=False)
            lo, hi = float(np.min(ev)), float(np.max(ev))
        except Exception:  # noqa: BLE001 - no convergence: the full eigenvalues
            ev = np.linalg.eigvalsh(A)
            lo, hi = float(ev[0]), float(ev[-1])
    scale = max(abs(lo), abs(hi), 1e-300)
    top = _lam_max_upper(A, hi, scale)
    bot = _lam_max_upper(-A, -lo, scale)
    return min(fro, max(top, bot, 0.0))


# ------------------------------------------------------------------------------------
# the computation
# ------------------------------------------------------------------------------------


def _numpy_kernel(expr: Any) -> Any:
    """The NumPy interval program of ``expr``, or ``None``."""
    from symlip.bounds.local_jacobian import _numpy_interval

    try:
        return _numpy_interval(expr)
    except Exception:  # noqa: BLE001 - no NumPy kernel for some function of expr
        return None


def _dense_chain(net: Any) -> bool:
    """Whether ``net`` is a plain dense chain (no residual, derived or conv layers)."""
    if getattr(net, "has_residual", False) or getattr(net, "derived_layers", None):
        return False
    return not any(isinstance(layer, ConvLayer) for layer in net.layers)


def _smooth_kernels(net: Any) -> list | None:
    r"""Per hidden layer the NumPy interval programs of $\sigma'$ and $\sigma''$, or
    ``None`` if an activation is not smooth or has no such program."""
    kernels = []
    for act in net.activations[: net.depth - 1]:
        if not isinstance(act, Activation) or not act.is_smooth:
            return None
        d = act.derivatives
        k1, k2 = _numpy_kernel(d[1]), _numpy_kernel(d[2])
        if k1 is None or k2 is None:
            return None
        kernels.append((k1, k2))
    return kernels


def _on_box(f: Any, z: IntervalArray) -> IntervalArray:
    with np.errstate(over="ignore", invalid="ignore"):
        r = f(z)
    return IntervalArray(np.broadcast_to(r.lo, z.lo.shape).copy(),
                         np.broadcast_to(r.hi, z.hi.shape).copy())


def centre_curvature_norms(net: Any, X: Any, y: Any, loss: str, *, output: int | None = None,
                           rows: bool = False) -> Any:
    r"""Per data point $i$ a certified upper bound $\mathrm{CV}_i \ge \|\sum_o\bar g_{io}
    \nabla^2_\theta f_o(x_i;\bar\theta)\|_2$ (module docstring), float64 shape ``(n,)``.

    Args:
        net: a dense :class:`~symlip.models.network.Network`.
        X: data ``(n, n0)``.
        y: targets as in :mod:`symlip.bounds.smooth`: MSE ``(n, nN)`` floats,
            cross-entropy ``(n,)`` class indices (validated: :class:`InputError`).
        loss: ``"mse"`` or ``"cross-entropy"``.
        output: if given, the seed is $e_o$ for ``o = output`` in place of $\bar g$
            (``y`` and ``loss`` then only checked): a bound of $\|\nabla^2f_o\|$.
        rows: also return, per point and hidden layer $j$, a certified upper bound of
            $\|S_{y_j,:}L\|_2$ (:func:`output_second_order_norms`): a pair.

    Returns:
        The upper ends, or ``None`` beyond :data:`CURVATURE_BUDGET`, for residual or
        convolutional networks, for activations without a NumPy interval program of
        $\sigma'$ or $\sigma''$ (or with $K_2 = \infty$), or where a float64 enclosure
        overflows.  Depth 1: zeros ($f$ is affine in $\theta$).
    """
    loss = _loss_name(loss)
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    n, nN = X.shape[0], net.widths[-1]
    y = np.asarray(y)
    if loss == "mse":
        if y.size != n * nN:
            raise InputError(f"MSE targets have shape {y.shape}, expected ({n}, {nN})")
        y = y.astype(np.float64).reshape(n, nN)
    else:
        if y.shape != (n,) or np.any(y != np.round(y)) or np.any((y < 0) | (y >= nN)):
            raise InputError(f"cross-entropy targets must be {n} class indices in [0, {nN})")
        y = y.astype(np.intp)
    if not _dense_chain(net):
        return None
    N = net.depth
    if N < 2:
        return (np.zeros(n), np.zeros((n, 0))) if rows else np.zeros(n)
    if curvature_cost(net, n) > CURVATURE_BUDGET:
        return None
    kernels = _smooth_kernels(net)
    if kernels is None:
        return None
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return _curvature(net, X, y, loss, kernels, output, rows)
    except (InputError, ValueError, FloatingPointError):  # float64 enclosures overflowed
        return None


def output_second_order_norms(net: Any, X: Any, chains: bool = True
                              ) -> tuple[np.ndarray, np.ndarray | None] | None:
    r"""Per data point $\mathrm{HC}_i$ (:func:`output_hessian_norms`) and, with
    ``chains``, per hidden layer $j = 1..N-1$ a certified upper bound
    $\mathrm{LDc}_{i,j} \ge \sup_{\|u\| = 1}\|\partial_uD_{N,j}(x_i;\bar\theta)\|_2$,
    the derivative of the output chain $D_{N,j} = \partial f/\partial z_j$ at the centre
    (Lemma 12d of ``docs/theory-param.md``), shape ``(n, N-1)``, from the same $n_N$
    runs (without ``chains``: ``None`` in its place).

    With the seed $e_o$, $\beta_j = D_{N,j}^Te_o$ is the gradient of $f_o$ with
    respect to the bias $b_j$, so the bias rows of $\nabla^2f_o\,u = Q^TSQu$ are
    $\partial_u\beta_j = (SQu)_{y_j}$ (the rows $y_j = U_ja_{j-1} + u_{b,j}$ carry the
    bias with coefficient 1); hence $\sup_u\|\partial_u\beta_j\| = \|S_{y_j,:}Q\|_2 =
    \|S_{y_j,:}L\|_2$ ($QQ^T = M = LL^T$).  Over the outputs,
    $\|\partial_uD_{N,j}\|_2 \le \|\partial_uD_{N,j}\|_F = (\sum_o\|\partial_u
    \beta^{(o)}_j\|^2)^{1/2}$.  ``None`` as for :func:`output_hessian_norms`."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    n, nN = X.shape[0], net.widths[-1]
    if nN * curvature_cost(net, n) > OUTPUT_HESSIAN_BUDGET:
        return None
    tot = np.zeros(n)
    rows = np.zeros((n, max(net.depth - 1, 0)))
    for o in range(nN):
        out = centre_curvature_norms(net, X, np.zeros((n, nN)), "mse", output=o,
                                     rows=chains)
        if out is None:
            return None
        cv, rn = out if chains else (out, None)
        tot = up(tot + up(cv * cv))
        if chains:
            rows = up(rows + up(rn * rn))
    return up(np.sqrt(tot)), (up(np.sqrt(rows)) if chains else None)


def output_hessian_norms(net: Any, X: Any) -> np.ndarray | None:
    r"""Per data point a certified upper bound $\mathrm{HC}_i \ge \|D^2_\theta f(x_i;
    \bar\theta)\| = \sup_{\|u\| = \|v\| = 1}\|D^2f[u, v]\|_2$: the centre curvature of
    every output $f_o$ (:func:`centre_curvature_norms` with the exact seed $e_o$), then
    $(\sum_o\|\nabla^2f_o\|^2)^{1/2}$ (since $\|D^2f[u,v]\|^2 = \sum_o(u^T\nabla^2f_o
    v)^2$).  ``None`` where the centre curvature is, or where $n_N$ times its cost is
    over :data:`OUTPUT_HESSIAN_BUDGET`."""
    out = output_second_order_norms(net, X, chains=False)
    return None if out is None else out[0]


def hidden_hessian_cost(net: Any, n_points: int) -> int:
    r"""Multiply-adds of :func:`hidden_hessian_norms` (an estimate): the chains, the Gram
    matrix $P$ of the stacked hidden Jacobians and, per hidden layer $K$, the matrices
    $\Gamma^{(K)}$ and the trace."""
    w = list(net.widths)
    N = len(w) - 1
    if N < 3:
        return 0
    m = sum(w[1:N - 1])
    gam = sum(w[K] * w[k + 1] * w[k] for K in range(2, N) for k in range(1, K))
    tr = sum(w[K] * sum(w[1:K]) ** 2 for K in range(2, N))
    return int(n_points) * (chain_cost(w, 1) + m**3 + gam + tr)


def hidden_hessian_norms(net: Any, X: Any) -> np.ndarray | None:
    r"""Per data point $i$ and hidden layer $k = 1..N-1$ a certified upper bound
    $\mathrm{HS}_{i,k}$ of the Frobenius norm of the $\sigma''$ part of $D^2_\theta
    z_k(x_i;\bar\theta)$ (Lemma 12e of ``docs/theory-param.md``), shape ``(n, N-1)``,
    column 0 zero ($z_1$ is affine in $\theta$).

    The second derivative of $z_K$ along $u$ is $\sum_{i=2}^KD_{K,i}(2U_i\Sigma_{i-1}
    \dot z_{i-1} + W_i(\sigma''(z_{i-1})\odot\dot z_{i-1}^{\odot2}))$ with $\dot z_k =
    J_ku = \sum_{j\le k}D_{k,j}y_j$ (module docstring (a)); the $\sigma''$ part is, per
    coordinate $c$ of $z_K$, $u^T(\sum_{k<K}J_k^T\operatorname{diag}(\Gamma_k[c,:])J_k)u$
    with $\Gamma_k = D_{K,k+1}W_{k+1}\operatorname{diag}(\sigma''(z_k))$.  Its Frobenius
    norm over $c$ and the parameter pairs is exactly
    $$\Big(\sum_{k,l<K}\big\langle\Gamma_k^T\Gamma_l,\ P_{kl}\odot P_{kl}\big\rangle
    \Big)^{1/2},\qquad P_{kl} = J_kJ_l^T = \sum_{j\le\min(k,l)}c_jD_{k,j}D_{l,j}^T,$$
    $c_j = \|a_{j-1}\|^2 + 1$ (since $\operatorname{tr}(J_k^TG J_kJ_l^THJ_l) =
    \operatorname{tr}(GP_{kl}HP_{lk})$ and $\operatorname{tr}(\operatorname{diag}(g)P
    \operatorname{diag}(h)P^T) = g^T(P\odot P)h$); it grows with every $c_j$, so upper
    bounds of the $c_j$ give an upper bound.  All $k, l < N-1$ share one Gram matrix
    $P = \hat J_DC\hat J_D^T$ of the stacked chains; each $K$ uses its leading block.
    Certified from the float chains (steps 1-2) with $\|P - \hat P\|_2 \le e_J(2f_J +
    e_J) + \gamma_{m+1}f_J^2$ ($f_J^2 = \sum c_j\|\hat D_{k,j}\|_F^2$, $e_J^2 = \sum
    c_je_{D_{k,j}}^2$), $\|X\odot Y\|_2 \le \|X\|_2\|Y\|_2$ (Schur) for $P\odot P -
    \hat P\odot\hat P = (P - \hat P)\odot(P + \hat P)$, and, with $\mathcal K$ the
    Khatri-Rao factor of $P\odot P = \mathcal K\mathcal K^T$ ($\|\mathcal K\|_2^2 =
    \|P\odot P\|_2 \le \|P\|_2^2$), $\|\Gamma\mathcal K\|_F \le \|\hat\Gamma\mathcal
    K\|_F + \|\Gamma - \hat\Gamma\|_F\|P\|_2$.  ``None`` beyond
    :data:`HIDDEN_HESSIAN_BUDGET`, for residual or convolutional networks, activations
    without NumPy interval programs of $\sigma'$, $\sigma''$, and on overflow."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    n, N = X.shape[0], net.depth
    if N < 3:
        return np.zeros((n, max(N - 1, 0)))
    if not _dense_chain(net) or hidden_hessian_cost(net, n) > HIDDEN_HESSIAN_BUDGET:
        return None
    kernels = _smooth_kernels(net)
    if kernels is None:
        return None
    w = list(net.widths)
    m = sum(w[1:N - 1])
    per = max(1, _CHUNK_ENTRIES // (m * m))
    out = np.zeros((n, N - 1))
    for c0 in range(0, n, per):
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                res = _hidden_yy(net, X[c0:c0 + per], kernels)
        except (InputError, ValueError, FloatingPointError):
            return None
        if res is None:
            return None
        out[c0:c0 + per] = res
    return out


def _forward(net: Any, X: np.ndarray, kernels: list
             ) -> tuple[list[np.ndarray], list[float], list[float], Any]:
    r"""The weights as float64, bounds of their spectral and Frobenius norms, and the
    float forward pass with the chains and the boxes of $\sigma'$, $\sigma''$ (steps
    1-2 of the module docstring)."""
    Ws = [np.asarray(layer.weight, dtype=np.float64) for layer in net.layers]
    rho = [float(spectral_upper(W)[0].upper_float) for W in Ws]
    wf = [frobenius_upper(W) for W in Ws]

    def derivs(k: int, box: IntervalArray) -> list[IntervalArray]:
        k1, k2 = kernels[k - 1]
        return [_on_box(k1, box), _on_box(k2, box)]

    return Ws, rho, wf, chain_forward(net, X, Ws, rho, wf, derivs, mode="full")


def _hidden_yy(net: Any, X: np.ndarray, kernels: list) -> np.ndarray | None:
    N, n, w = net.depth, X.shape[0], list(net.widths)
    Ws, rho, wf, fw = _forward(net, X, kernels)
    D = fw.D
    s2 = {k: sig[1] for k, sig in fw.sig.items()}
    # c_j >= ||a_{j-1}||^2 + 1 (floats, rounded up: an upper bound is enough)
    c = {}
    for j in range(1, N - 1):
        an = up(_fro(fw.A[j - 1][0]) + fw.ea[j - 1])
        c[j] = up(up(an * an) + 1.0)
    # the stacked chains J_D (block (k, j) = D_{k,j}, D_{k,k} = I), k, j = 1..N-2, and
    # P = J_D C J_D^T; f_J^2 >= sum c_j ||Dhat_{k,j}||_F^2, e_J^2 >= sum c_j e_{k,j}^2
    off = np.cumsum([0] + w[1:N - 1])
    m = int(off[-1])
    J = np.zeros((n, m, m))
    fj2, ej2 = np.zeros(n), np.zeros(n)
    for k in range(1, N - 1):
        rk = slice(off[k - 1], off[k])
        J[:, rk, rk] = np.eye(w[k])
        fj2 = up(fj2 + up(c[k] * w[k]))
        for j in range(1, k):
            dm, de = D[k, j]
            J[:, rk, off[j - 1]:off[j]] = dm
            fj2 = up(fj2 + up(c[j] * _sumsq_upper(dm, (1, 2))))
            ej2 = up(ej2 + up(c[j] * up(de * de)))
    cv = np.concatenate([np.broadcast_to(c[j][:, None], (n, w[j])) for j in range(1, N - 1)],
                        axis=1)
    P = J @ (cv[:, :, None] * np.swapaxes(J, 1, 2))
    fJ, eJ = up(np.sqrt(fj2)), up(np.sqrt(ej2))
    eP = up(up(up(eJ * up(2.0 * fJ + eJ)) + up(gamma(m + 1) * fj2)) + 2 * m * ETA)
    pnorm = up(up(fJ + eJ) * up(fJ + eJ))  # >= ||P||_2
    P2 = P * P
    out = np.zeros((n, N - 1))
    for K in range(2, N):
        mk = int(off[K - 1])
        # Gamma_k = D_{K,k+1} W_{k+1} diag(sigma''(z_k)), k = 1..K-1, side by side
        G = np.empty((n, w[K], mk))
        eg2 = np.zeros(n)
        for k in range(1, K):
            if k + 1 == K:
                v, ev = np.broadcast_to(Ws[K - 1], (n, w[K], w[k])), np.zeros(n)
            else:
                v, ev = wmul(Ws[k], rho[k], wf[k], *D[K, k + 1], left=False)
            gm, ge = _dmul(s2[k][0][:, None, :], s2[k][1][:, None, :], v, ev)
            G[:, :, off[k - 1]:off[k]] = gm
            eg2 = up(eg2 + up(min(w[K], w[k]) * up(ge * ge)))  # ||.||_F^2 <= rank ||.||_2^2
        Pk = P2[:, :mk, :mk]
        t = np.sum((G @ Pk) * G, axis=(1, 2))
        gf2 = _sumsq_upper(G, (1, 2))
        pf = _fro(Pk)
        # float trace error, then P (x) P - Phat (x) Phat
        t = up(up(t + up(gamma(mk + w[K] * mk + 4) * up(gf2 * pf))) + 2 * mk * mk * ETA)
        t = up(t + up(up(eP * up(2.0 * _fro(P[:, :mk, :mk]) + eP)) * gf2))
        res = up(np.sqrt(np.maximum(t, 0.0)) + up(up(np.sqrt(eg2)) * pnorm))
        out[:, K - 1] = res
    return out if _finite(out) else None


def _curvature(net: Any, X: np.ndarray, y: Any, loss: str, kernels: list,
               output: int | None = None, rows: bool = False) -> Any:
    N = net.depth
    n = X.shape[0]
    w = list(net.widths)
    # ---- forward pass with the chains: layer k's float pre-activations zhat_k, the
    # boxes of sigma', sigma'' around them, and the chains D_{k,i}, E_{k,i} = Sigma_k
    # D_{k,i} (float, with a bound of the spectral norm of their error) ---------------
    Ws, rho, wf, fw = _forward(net, X, kernels)
    A, D, E = fw.A, fw.D, fw.E
    s2 = {k: sig[1] for k, sig in fw.sig.items()}
    # ---- gbar -------------------------------------------------------------------
    if output is None:
        g, eg = loss_seed(fw.zN, fw.ezN, y, loss)
    else:  # the exact seed e_o: the Hessian of the output f_o
        g, eg = np.zeros(fw.zN.shape), np.zeros(n)
        g[:, output] = 1.0
    # ---- backward: beta_k, gamma_k (k < N).  beta_k - betahat_k = D_{N,k}^T (beta_N -
    # betahat_N) + sum_{i=k}^{N-1} D_{i,k}^T tau_i with the local errors tau_i ----------
    beta, vs = chain_backward(fw, Ws, wf, g, eg)
    gam: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for k in range(N - 1, 0, -1):
        v, rv = vs[k]
        ev = up(up(rho[k] * beta[k + 1][1]) + rv)  # ||v_k - vhat_k||_2
        gam[k] = _dmul(s2[k][0], s2[k][1], v, ev)
    # ---- H_q = sum_{k >= q} D_{k,q}^T diag(gamma_k) D_{k,q}, symmetrised -------------
    H: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for q in range(1, N):
        gm, eg_ = gam[q]
        h, eh = _diag((gm, gm))[0], eg_  # ||diag(dgamma)||_2 <= ||dgamma||_2
        for k in range(q + 1, N):
            gk, egk = gam[k]
            G = _dmul(gk[:, :, None], egk[:, None, None], *D[k, q])
            h, eh = _psum(h, eh, *_pmul(np.swapaxes(D[k, q][0], 1, 2), D[k, q][1], *G))
        hs = 0.5 * (h + np.swapaxes(h, 1, 2))  # exactly symmetric (fl(a+b) = fl(b+a))
        H[q] = (hs, up(up(eh + up(2 * U * _fro(hs))) + w[q] * ETA * 2))
    # ---- y-y blocks S[y_j, y_q] = D_{q,j}^T H_q (j < q) -------------------------------
    Syy: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for q in range(1, N):
        for j in range(1, q):
            Syy[j, q] = _pmul(np.swapaxes(D[q, j][0], 1, 2), D[q, j][1], *H[q])
    # ||S - Shat||_2 <= (sum of the squared block error bounds)^(1/2)
    es2 = np.zeros(n)
    for q in range(1, N):
        es2 = up(es2 + up(H[q][1] ** 2))
    for _, e in Syy.values():
        es2 = up(es2 + up(2 * up(e ** 2)))
    for k in range(2, N + 1):
        for j in range(1, k):
            es2 = up(es2 + up(2 * up(E[k - 1, j][1] ** 2)))
    eS = up(np.sqrt(es2))
    if rows:  # per y_j row block of S: (sum of its blocks' squared error bounds)^(1/2)
        erow = {}
        for j in range(1, N):
            e2 = up(H[j][1] ** 2)
            for q in range(1, N):
                if q != j:
                    e2 = up(e2 + up(Syy[min(j, q), max(j, q)][1] ** 2))
            for k in range(j + 1, N + 1):
                e2 = up(e2 + up(E[k - 1, j][1] ** 2))
            erow[j] = up(np.sqrt(e2))
    # ---- L blocks (enclosures of the exact factor) and ||L||_2^2 = ||M||_2 ------------
    betab = {k: (b, np.broadcast_to(e[:, None], b.shape).copy()) for k, (b, e) in beta.items()}
    Lb, Mnorm = _factor_blocks(N, w, A, betab)
    if not _finite(eS, Mnorm):
        return None
    # ---- layout -------------------------------------------------------------------
    off_y, off_p, starts = {}, {}, []
    pos = 0
    for k in range(1, N + 1):
        starts.append(pos)
        if k < N:
            off_y[k] = pos
            pos += w[k]
        if k >= 2:
            off_p[k] = pos
            pos += w[k - 1]
    m = pos
    sizes = _block_sizes(w)
    smax = max(sizes)
    # L = Lhat + dL: ||dL||_2 <= eL (block diagonal: the largest block radius), and
    # ||Lhat||_2 <= ||L||_2 + eL = sqrt(||M||_2) + eL
    eL = np.zeros(n)
    lf = np.zeros(n)  # largest ||Lhat_b||_F
    for Lm, Lr in Lb:
        eL = np.maximum(eL, _fro(Lr))
        lf = np.maximum(lf, _fro(Lm))
    lnorm = up(np.sqrt(Mnorm))
    lhat2 = up(lnorm + eL)
    chunk = max(1, _CHUNK_ENTRIES // (m * m))
    res = np.empty(n)
    rown = np.empty((n, N - 1))
    for c0 in range(0, n, chunk):
        sl = slice(c0, min(n, c0 + chunk))
        B = sl.stop - sl.start
        Sm = np.zeros((B, m, m))

        def put(r0: int, q0: int, blk: np.ndarray, Sm: np.ndarray = Sm, sl: slice = sl
                ) -> None:
            bm = blk[sl]
            Sm[:, r0:r0 + bm.shape[1], q0:q0 + bm.shape[2]] = bm
            Sm[:, q0:q0 + bm.shape[2], r0:r0 + bm.shape[1]] = np.swapaxes(bm, 1, 2)

        for q in range(1, N):
            put(off_y[q], off_y[q], H[q][0])
        for (j, q), blk in Syy.items():
            put(off_y[j], off_y[q], blk[0])
        for k in range(2, N + 1):
            for j in range(1, k):
                put(off_p[k], off_y[j], E[k - 1, j][0])
        # Khat = fl(Lhat^T fl(Shat Lhat)): Shat Lhat by block columns, then by block rows
        P = np.empty((B, m, m))
        for b, (s0, sz) in enumerate(zip(starts, sizes, strict=True)):
            P[:, :, s0:s0 + sz] = Sm[:, :, s0:s0 + sz] @ Lb[b][0][sl]
        Km = np.empty((B, m, m))
        for b, (s0, sz) in enumerate(zip(starts, sizes, strict=True)):
            Km[:, s0:s0 + sz, :] = np.swapaxes(Lb[b][0][sl], 1, 2) @ P[:, s0:s0 + sz, :]
        sf, pf = _fro(Sm), _fro(P)
        if rows:
            for j in range(1, N):
                rs = slice(off_y[j], off_y[j] + w[j])
                rown[sl, j - 1] = _row_block_norms(Sm[:, rs, :], P[:, rs, :], gamma(smax),
                                                   lf[sl], eL[sl], lnorm[sl], erow[j][sl])
        del Sm, P
        if not _finite(Km):
            return None
        Ks = 0.5 * (Km + np.swapaxes(Km, 1, 2))  # exactly symmetric
        del Km
        g = gamma(smax)
        tiny = smax * ETA * m * 2
        # ||fl(Shat Lhat) - Shat Lhat||_F <= g ||Shat||_F max_b ||Lhat_b||_F + tiny, and
        # the same for the second product; symmetrising rounds once more
        eP = up(up(g * up(sf * lf[sl])) + tiny)
        eK = up(up(up(g * up(lf[sl] * pf)) + tiny) + up(lhat2[sl] * eP))
        eK = up(up(eK + up(2 * U * _fro(Ks))) + m * ETA * 2)
        # ||L^T Shat L - Lhat^T Shat Lhat|| <= eL ||Shat|| (||L|| + ||Lhat||)
        eK = up(eK + up(up(eL[sl] * sf) * up(lnorm[sl] + lhat2[sl])))
        for i in range(B):
            res[sl.start + i] = up(_sym_norm_upper(np.ascontiguousarray(Ks[i])) + eK[i])
    # ||L^T S L|| <= ||L^T Shat L|| + ||L||_2^2 ||S - Shat||_2
    res = up(res + up(Mnorm * eS))
    if not _finite(res):
        return None
    if rows:
        return (res, rown) if _finite(rown) else None
    return res


def _row_block_norms(Sj: np.ndarray, Pj: np.ndarray, g: float, lf: np.ndarray,
                     eL: np.ndarray, lnorm: np.ndarray, eSj: np.ndarray) -> np.ndarray:
    r"""Per point a certified upper bound of $\|S_{y_j,:}L\|_2$ for the exact $S$, $L$,
    from the float row block $\hat S_j$ of $\hat S$ and its float product $\hat P_j =
    \mathrm{fl}(\hat S_j\hat L)$ (the $y_j$ rows of ``P`` in :func:`_curvature`):
    $\|\hat P_j\|_2^2 \le \|\mathrm{fl}(\hat P_j\hat P_j^T)_{\mathrm{sym}}\|_2 +
    \gamma_m\|\hat P_j\|_F^2 + 2u\|\cdot\|_F$ (the Gram matrix's float error and its
    symmetrisation; certified by :func:`_sym_norm_upper`), then
    $\|S_jL - \hat P_j\| \le \gamma_s\|\hat S_j\|_F\max_b\|\hat L_b\|_F +
    \|\hat S_j\|_Fe_L + e_{S_j}\|L\|_2$ (the product's rounding, $L - \hat L$, $S_j -
    \hat S_j$)."""
    B, nj, m = Pj.shape
    Gm = Pj @ np.swapaxes(Pj, 1, 2)
    Gs = 0.5 * (Gm + np.swapaxes(Gm, 1, 2))
    pf2 = _sumsq_upper(Pj, (1, 2))
    gf = _fro(Gs)
    sjf = _fro(Sj)
    extra = up(up(up(gamma(m) * pf2) + up(2 * U * gf)) + 2 * m * nj * ETA)
    out = np.empty(B)
    for i in range(B):
        lam = up(_sym_norm_upper(np.ascontiguousarray(Gs[i])) + extra[i])
        out[i] = up(np.sqrt(lam))
    efl = up(up(g * up(sjf * lf)) + 2 * m * ETA)
    err = up(up(efl + up(sjf * eL)) + up(eSj * lnorm))
    return up(out + err)


def _factor_blocks(N: int, w: list[int], A: list[MidRad], beta: dict[int, MidRad]
                   ) -> tuple[list[MidRad], np.ndarray]:
    r"""Per layer $k = 1..N$ the enclosure of the exact factor $L_k$ of $M_k$ (module
    docstring), batched over the points: ``(n, s_k, s_k)`` midpoint, radius; and per
    point an upper bound of $\|M\|_2 = \max_k\lambda_{\max}(M_k)$, where
    $\lambda_{\max}(M_k) = \frac{c+b}2 + \sqrt{(\frac{c-b}2)^2 + \|a\|^2b}$ (the
    eigenvalues of $M_k$ are $c$, $b$ and those of $\begin{pmatrix}c & \|a\|\|\beta\|
    \\ \|a\|\|\beta\| & b\end{pmatrix}$), for all $a$, $\beta$ in the boxes ``A``,
    ``beta`` (midpoint, radius per coordinate)."""

    def sqnorm(v: MidRad) -> IntervalArray:
        vm, vr = v
        s = _bmm(vm[:, None, :], vr[:, None, :], vm[:, :, None], vr[:, :, None])
        lo = np.maximum(down(s[0] - s[1]), 0.0)[:, 0, 0]
        return IntervalArray(lo, up(s[0] + s[1])[:, 0, 0])

    def scaled_eye(t: IntervalArray, size: int) -> MidRad:
        tm, tr = to_midrad(t)
        e = np.eye(size)
        return tm[:, None, None] * e, np.maximum(tr[:, None, None] * e, 0.0)

    out = []
    c1 = sqnorm(A[0]) + 1.0
    mnorm = c1.hi
    for k in range(1, N + 1):
        if k == 1:
            out.append(scaled_eye(c1.sqrt(), w[1]))
            continue
        bk = sqnorm(beta[k])
        if k == N:
            mnorm = np.maximum(mnorm, bk.hi)
            out.append(scaled_eye(bk.sqrt(), w[N - 1]))
            continue
        sa = sqnorm(A[k - 1])
        ck = sa + 1.0
        lam = (ck + bk) * 0.5 + (((ck - bk) * 0.5).square() + sa * bk).sqrt()
        mnorm = np.maximum(mnorm, lam.hi)
        av = from_midrad(*A[k - 1])  # (n, n_{k-1})
        bv = from_midrad(*beta[k])  # (n, n_k)
        t = (sqnorm(A[k - 1]) + 1.0).sqrt()  # sqrt(c)
        kap = (t * (t + 1.0)).reciprocal()
        sb = bk.sqrt()
        ny, npn = w[k], w[k - 1]
        nb = av.lo.shape[0]
        # bottom-left a beta^T / sqrt(c); bottom-right sqrt(b) (I - kappa a a^T)
        outer_ab = (IntervalArray(av.lo[:, :, None], av.hi[:, :, None])
                    * IntervalArray(bv.lo[:, None, :], bv.hi[:, None, :]))
        bl = outer_ab * IntervalArray(t.lo[:, None, None], t.hi[:, None, None]).reciprocal()
        outer_aa = (IntervalArray(av.lo[:, :, None], av.hi[:, :, None])
                    * IntervalArray(av.lo[:, None, :], av.hi[:, None, :]))
        eye = IntervalArray(np.broadcast_to(np.eye(npn), (nb, npn, npn)))
        br = (eye - outer_aa * IntervalArray(kap.lo[:, None, None], kap.hi[:, None, None])) \
            * IntervalArray(sb.lo[:, None, None], sb.hi[:, None, None])
        tl = scaled_eye(t, ny)
        blm, blr = to_midrad(bl)
        brm, brr = to_midrad(br)
        s = ny + npn
        Lm = np.zeros((nb, s, s))
        Lr = np.zeros((nb, s, s))
        Lm[:, :ny, :ny], Lr[:, :ny, :ny] = tl
        Lm[:, ny:, :ny], Lr[:, ny:, :ny] = blm, blr
        Lm[:, ny:, ny:], Lr[:, ny:, ny:] = brm, brr
        out.append((Lm, Lr))
    return out, mnorm
