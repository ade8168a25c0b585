r"""Float passes of a dense network with norm-wise error bounds carried through the
exact chains (shared by :mod:`symlip.bounds.curvature` and
:mod:`symlip.bounds.gauss_newton`).

**Setting.** $z_k = W_ka_{k-1} + b_k$, $a_k = \sigma(z_k)$ ($k < N$), $f = z_N$, $a_0 =
x$; $\Sigma_k = \operatorname{diag}(\sigma'(z_k))$, $D_{k,j} = W_k\Sigma_{k-1}\cdots
W_{j+1}\Sigma_j = \partial z_k/\partial z_j$ ($D_{k,k} = I$).  Every quantity is a float
$\hat X$ with a certified bound $e_X \ge \|X - \hat X\|$ (2-norm for vectors and chains,
Frobenius for the backward rows) of the error of the exact real $X$ at the network's
(double) parameters and data; every float operation on a bound is rounded up.

**Why the chains.** A recursion $e_k = \|W_k\|_2(\sup|\sigma'|e_{k-1}) + \text{local}_k$
multiplies the error by $\|W_k\|_2 \approx 2$ per layer (forward, and again backward):
$2^{2N}u$, $2.3\times10^5$ on the tanh network 8-32x32-1 against a Gauss-Newton
norm of 14.5.  The true chains are small ($\|D_{17,2}\|_2 \approx 0.08$ on 8-32x16-1), so
the errors are summed through them (telescoping) instead:

1. **Forward** (:func:`chain_forward`).  $\hat z_k$, $r_k$ = midpoint and radius of
   :func:`~symlip.arith.linalg.affine_box` of $W_k\hat a_{k-1} + b_k$ (Lemma A.1 of
   ``docs/intervals.md``); $\hat a_k$, $q_k$ = midpoint and radius of
   :func:`~symlip.models.network.sigma_box` at the point $\hat z_k$.  Mean value theorem
   per coordinate: $z_k - \hat z_k = F^\xi_k(z_{k-1} - \hat z_{k-1}) + W_kq_{k-1} - r_k$
   (up to the sign of the rounding terms) with $F^\xi_k = W_k\operatorname{diag}
   (\sigma'(\xi_{k-1}))$, $\xi$ between $z$ and $\hat z$, so
   $$\|z_k - \hat z_k\|_2 \le e^z_k = \sum_{i\le k}C_{k,i}\,\ell_i,\qquad \ell_i =
   \|r_i\| + \|W_i\|_2\|q_{i-1}\|,$$
   with $C_{k,i} \ge \|D^\xi_{k,i}\|_2$ ($C_{k,k} = 1$).  The boxes $\hat z_k \pm e^z_k$
   (each coordinate) contain $z_k$ and $\xi_k$ (by induction on $k$: $C_{k,i}$ only uses
   the boxes of layers $i..k-1$); $\sigma'$ (and what else the caller asks for, e.g.
   $\sigma''$) is enclosed on them (midpoint $\hat s_k$, radius $\varsigma_k$ per
   coordinate), and $\|a_k - \hat a_k\| \le e^a_k = \sup_{\mathrm{box}}|\sigma'|\,e^z_k +
   \|q_k\|$.
2. **Chain norms.**  ``mode="full"``/``"norms"``: $\hat D_{k,i} = \mathrm{fl}(W_k\hat
   E_{k-1,i})$, $\hat E_{k,i} = \mathrm{fl}(\operatorname{diag}(\hat s_k)\hat D_{k,i})$,
   $\hat E_{i,i} = \operatorname{diag}(\hat s_i)$, with $e_D = \|W_k\|_2e_E +
   \gamma_n\|W_k\|_F\|\hat E\|_F$ and $e_E = \max|s_k|\,e_D + \|\varsigma_k\odot\hat D\|_F
   + u\|\hat E\|_F$ (:func:`wmul`, :func:`dmul`; valid for every $\sigma'$ in the boxes,
   so for $D$ and $D^\xi$), and $C_{k,i} = \|\hat D_{k,i}\|_F + e_D$.  ``"full"`` keeps
   every $\hat D_{k,i}$, $\hat E_{k,i}$ (the curvature needs them), ``"norms"`` only the
   last layer's.  ``"product"`` (cheap, loose with depth: the previous norm-wise
   recursion): $C_{k,i} = \prod_{l=i+1}^k\|W_l\|_2\sup_{\mathrm{box}}|\sigma'_{l-1}|$.  In
   every mode $C_{k,i}$ is also capped by $C_{k,k-1}C_{k-1,i}$ (submultiplicativity).
3. **Backward** (:func:`chain_backward`), rows $\beta_k = \beta_{k+1}W_{k+1}\Sigma_k$
   (``(n, r, n_k)``; the loss gradient has $r = 1$, the Gauss-Newton factor $r = n_N$)
   from a seed $\hat\beta_N$ with $\|\beta_N - \hat\beta_N\|_F \le e_N$: $\hat v_k =
   \mathrm{fl}(\hat\beta_{k+1}W_{k+1})$, $\hat\beta_k = \mathrm{fl}(\hat v_k\hat s_k)$;
   $\beta_k - \hat\beta_k = (\beta_{k+1} - \hat\beta_{k+1})W_{k+1}\Sigma_k + \tau_k$ with
   $\|\tau_k\|_F \le \max|s_k|\,\gamma\|W_{k+1}\|_F\|\hat\beta_{k+1}\|_F + \|\varsigma_k
   \odot\hat v_k\|_F + u\|\hat\beta_k\|_F$, so (telescoping, $\|XD\|_F \le
   \|X\|_F\|D\|_2$)
   $$\|\beta_k - \hat\beta_k\|_F \le C_{N,k}e_N + \sum_{i=k}^{N-1}C_{i,k}\|\tau_i\|_F.$$
4. **Loss seed** (:func:`loss_seed`), the output gradient $\bar g = \nabla_f\lambda$:
   MSE $\mathrm{fl}(\hat z_N - y)$, error $e^z_N + u\|\hat g\|$; cross-entropy the
   midpoint of :func:`~symlip.arith.kernels.softmax_box` at $\hat z_N$ minus $e_y$, error
   $\frac12e^z_N$ (softmax is $\frac12$-Lipschitz: $x^T(\operatorname{diag}(p) - pp^T)x$
   is a variance, at most $\frac14(\max x - \min x)^2 \le \frac12\|x\|^2$) plus the box
   radius and one rounding.

Errors so grow like the chain norms times the local rounding errors ($\approx
10^{-14}$ relative on 8-32x32-1), not like $\prod_k\|W_k\|_2$.  Cost of the chains
(:func:`chain_cost`): $n\sum_{i<k}n_kn_{k-1}n_i$ multiply-adds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symlip.arith.array import IntervalArray
from symlip.arith.kernels import softmax_box
from symlip.arith.linalg import ETA, U, affine_box, down, gamma, to_midrad, up
from symlip.models.network import sigma_box

__all__ = ["ChainForward", "chain_backward", "chain_cost", "chain_forward", "diag", "dmul", "finite", "fro",
           "loss_seed", "pmul", "psum", "sumsq_upper", "wmul"]

MidRad = tuple[np.ndarray, np.ndarray]


# ---- float balls: a float array and a bound of the norm of its error ------------------


def sumsq_upper(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Upper bound of the exact sum of squares of ``a`` over ``axes`` (rounded up)."""
    n = int(np.prod([a.shape[i] for i in axes]))
    s = np.sum(a * a, axis=axes)
    g = gamma(n + 1)
    return up(up(up(s / (1.0 - g)) * (1 + 2 * U)) + (n + 1) * 2 * ETA)


def fro(a: np.ndarray) -> np.ndarray:
    """Per batch element (axis 0), an upper bound of the Frobenius norm."""
    return up(np.sqrt(sumsq_upper(a, tuple(range(1, a.ndim)))))


def _size(a: np.ndarray) -> int:
    return int(np.prod(a.shape[1:]))


def finite(*xs: Any) -> bool:
    return all(np.all(np.isfinite(x)) for x in xs)


def wmul(W: np.ndarray, rho: float, wf: float, x: np.ndarray, e: np.ndarray,
         left: bool = True) -> tuple[np.ndarray, np.ndarray]:
    r"""$\mathrm{fl}(W\hat X)$ (``left``; else $\mathrm{fl}(\hat XW)$) for a fixed float
    $W$ with $\|W\|_2 \le \rho$, $\|W\|_F \le w_F$, and the error bound of the exact
    $WX$, $\|X - \hat X\| \le e$: $\rho e + \gamma_k w_F\|\hat X\|_F + k\eta\sqrt{pq}$
    (Higham: $|\mathrm{fl}(W\hat X) - W\hat X| \le \gamma_k|W||\hat X| + k\eta$,
    $\||W||\hat X|\|_F \le \|W\|_F\|\hat X\|_F$)."""
    out = W @ x if left else x @ W
    k = W.shape[1] if left else W.shape[0]
    err = up(up(rho * e) + up(gamma(k) * up(wf * fro(x))))
    return out, up(err + k * ETA * math.sqrt(_size(out)) * 2)


def dmul(dm: np.ndarray, dr: Any, x: np.ndarray, e: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray]:
    r"""$\mathrm{fl}(d_m\odot\hat X)$ (``d`` broadcast: rows, columns or entries) for
    every $d$ with $|d - d_m| \le d_r$ entrywise, and the error bound of the exact
    $d\odot X$: $\max|d|\,e + \|d_r\odot\hat X\|_F + u\|\mathrm{fl}(d_m\odot\hat X)\|_F
    + \eta\sqrt{\mathrm{size}}$ ($d\odot$ is a diagonal scaling, of norm $\max|d|$)."""
    out = dm * x
    ax = tuple(range(1, np.ndim(dm)))
    dmax = np.max(up(np.abs(dm) + dr), axis=ax) if ax else up(np.abs(dm) + dr)
    err = up(up(dmax * e) + fro(up(np.broadcast_to(dr, out.shape) * np.abs(x))))
    return out, up(up(err + up(U * fro(out))) + ETA * math.sqrt(_size(out)) * 2)


def pmul(a: np.ndarray, ea: np.ndarray, b: np.ndarray, eb: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray]:
    r"""$\mathrm{fl}(\hat A\hat B)$ and the error bound of the exact $AB$:
    $\|\hat A\|_Fe_B + e_A\|\hat B\|_F + e_Ae_B + \gamma_k\|\hat A\|_F\|\hat B\|_F +
    k\eta\sqrt{pq}$."""
    out = a @ b
    k = a.shape[-1]
    fa, fb = fro(a), fro(b)
    err = up(up(up(fa * eb) + up(ea * fb)) + up(ea * eb))
    err = up(err + up(gamma(k) * up(fa * fb)))
    return out, up(err + k * ETA * math.sqrt(_size(out)) * 2)


def diag(v: MidRad) -> MidRad:
    """Batched ``diag(v)`` of a midpoint-radius vector (off-diagonal entries exactly 0)."""
    vm, vr = v
    n = vm.shape[-1]
    dm = np.zeros((*vm.shape, n))
    dr = np.zeros((*vm.shape, n))
    idx = np.arange(n)
    dm[..., idx, idx] = vm
    dr[..., idx, idx] = vr
    return dm, dr


def psum(a: np.ndarray, ea: np.ndarray, b: np.ndarray, eb: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray]:
    out = a + b
    return out, up(up(ea + eb) + up(U * fro(out)))


# ---- the forward pass with the chains --------------------------------------------------


def chain_cost(widths: list[int], n_points: int) -> int:
    r"""Multiply-adds of the chains $\hat D_{k,i}$ (``mode="full"``/``"norms"``)."""
    w = list(widths)
    N = len(w) - 1
    return int(n_points) * sum(w[k] * w[k - 1] * w[i] for k in range(2, N + 1)
                               for i in range(1, k))


@dataclass
class ChainForward:
    r"""A float forward pass with chain-propagated errors (module docstring, step 1-2).

    ``A[k]`` ($k = 0..N-1$): $\hat a_k$ and the per-coordinate radius $e^a_k$ (broadcast;
    a box containing $a_k$); ``ea[k]``: per point $e^a_k \ge \|a_k - \hat a_k\|_2$;
    ``ez[k]`` ($k = 1..N$): per point $e^z_k$; ``sig[k]`` ($k = 1..N-1$): the midpoint-
    radius enclosures of $\sigma'$ (first) and the further derivatives the caller asked
    for, on the boxes; ``C[k, i]`` ($1 \le i < k \le N$): per point $C_{k,i} \ge
    \|D_{k,i}\|_2$ for every $\sigma'$ in the boxes; ``D``, ``E`` (``mode="full"``): the
    float chains with their error bounds; ``zN``, ``ezN``: the output and its error."""

    A: list[MidRad]
    ea: list[np.ndarray]
    ez: dict[int, np.ndarray]
    sig: dict[int, list[MidRad]]
    C: dict[tuple[int, int], np.ndarray]
    zN: np.ndarray
    ezN: np.ndarray
    D: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    E: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def chain_forward(net: Any, X: np.ndarray, Ws: list[np.ndarray], rho: list[float],
                  wf: list[float],
                  derivs: Callable[[int, IntervalArray], list[IntervalArray]],
                  mode: str = "full") -> ChainForward:
    r"""The forward pass of the module docstring (steps 1-2).  ``Ws``: the weights as
    float64, ``rho[k]`` $\ge \|W_{k+1}\|_2$, ``wf[k]`` $\ge \|W_{k+1}\|_F$;
    ``derivs(k, box)``: enclosures of $\sigma_k'$ (first) and of any further functions
    on the box of hidden layer ``k`` (1-based, ``(n, n_k)``); ``mode``: ``"full"``,
    ``"norms"`` or ``"product"`` (step 2).

    Raises:
        ValueError: a non-finite enclosure (float64 overflow) or a bad ``mode``.
        InputError: from :func:`~symlip.arith.linalg.affine_box` on an unbounded box.
    """
    from symlip.models.network import check_no_residual

    if mode not in ("full", "norms", "product"):
        raise ValueError(f"unknown chain mode {mode!r}")
    # the chains here are products of W_k Sigma_{k-1}: a residual block's factor is
    # I + h Sigma W, so a residual network would get the numbers of another network
    check_no_residual(net, "the float chains (dense-chain forward pass)")
    N = net.depth
    n = X.shape[0]
    ah = np.asarray(X, dtype=np.float64)
    fw = ChainForward(A=[(ah, np.zeros_like(ah))], ea=[np.zeros(n)], ez={}, sig={}, C={},
                      zN=ah, ezN=np.zeros(n))
    D, E, C = fw.D, fw.E, fw.C
    Eprev: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    loc: dict[int, np.ndarray] = {}  # l_i = ||r_i|| + ||W_i||_2 ||q_{i-1}||
    dmax: dict[int, np.ndarray] = {}  # per point sup |sigma'_k| on the box
    q_prev = np.zeros(n)
    for k, layer in enumerate(net.layers, start=1):
        zm, zr = to_midrad(affine_box(Ws[k - 1], layer.bias, IntervalArray(ah)))
        loc[k] = up(fro(zr) + up(rho[k - 1] * q_prev))
        Ecur: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i in range(1, k):
            step = up(rho[k - 1] * dmax[k - 1])  # >= ||W_k Sigma_{k-1}||_2
            cap = step if i == k - 1 else up(step * C[k - 1, i])
            if mode == "product":
                C[k, i] = cap
                continue
            d = wmul(Ws[k - 1], rho[k - 1], wf[k - 1], *Eprev[i])
            C[k, i] = np.minimum(up(fro(d[0]) + d[1]), cap)
            if mode == "full":
                D[k, i] = d
            if k < N:
                Ecur[i] = d  # scaled by Sigma_k below
        ez = loc[k]
        for i in range(1, k):
            ez = up(ez + up(C[k, i] * loc[i]))  # ||z_k - zhat_k||_2 (telescoping)
        fw.ez[k] = ez
        if k == N:
            if not finite(zm, ez):
                raise ValueError("float forward pass overflowed")
            fw.zN, fw.ezN = zm, ez
            break
        box = IntervalArray(down(zm - ez[:, None]), up(zm + ez[:, None]))
        boxes = derivs(k, box)
        sp = sigma_box(net.activations[k - 1], IntervalArray(zm))
        if not finite(ez, sp.lo, sp.hi, *[x for b in boxes for x in (b.lo, b.hi)]):
            raise ValueError(f"non-finite enclosure in layer {k}")
        fw.sig[k] = [to_midrad(b) for b in boxes]
        d1 = boxes[0]
        dmax[k] = np.max(np.maximum(np.abs(d1.lo), np.abs(d1.hi)), axis=1)
        ah, ar = to_midrad(sp)
        q_prev = fro(ar)
        ea = up(up(dmax[k] * ez) + q_prev)  # mean value theorem per coordinate in the box
        fw.ea.append(ea)
        fw.A.append((ah, np.broadcast_to(ea[:, None], ah.shape).copy()))
        if mode != "product":
            sm, sr = fw.sig[k][0]
            for i in range(1, k):
                Ecur[i] = dmul(sm[:, :, None], sr[:, :, None], *Ecur[i])
            Ecur[k] = (diag(fw.sig[k][0])[0], np.max(sr, axis=1))
            if mode == "full":
                E.update({(k, i): v for i, v in Ecur.items()})
            Eprev = Ecur
    return fw


def loss_seed(zN: np.ndarray, ezN: np.ndarray, y: Any, loss: str
              ) -> tuple[np.ndarray, np.ndarray]:
    r"""The float output gradient $\hat g$ of the loss (MSE $\frac12\|f - y\|^2$, ``y``
    ``(n, n_N)``; cross-entropy, ``y`` class indices) at the output $\hat z_N$ with
    $\|f - \hat z_N\| \le$ ``ezN``, and per point $e \ge \|\bar g - \hat g\|_2$ (module
    docstring, step 4)."""
    n, nN = zN.shape
    if loss == "mse":
        g = zN - np.asarray(y, dtype=np.float64).reshape(n, nN)
        eg = up(ezN + up(U * fro(g)))
    else:
        pm, pr = to_midrad(softmax_box(IntervalArray(zN)))
        onehot = np.zeros((n, nN))
        onehot[np.arange(n), np.asarray(y, dtype=np.intp)] = 1.0
        g = pm - onehot
        eg = up(up(up(0.5 * ezN) + fro(pr)) + up(U * fro(g)))
    if not finite(g, eg):
        raise ValueError("non-finite loss gradient at the output")
    return g, eg


def chain_backward(fw: ChainForward, Ws: list[np.ndarray], wf: list[float],
                   seed: np.ndarray, eseed: np.ndarray
                   ) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]],
                              dict[int, tuple[np.ndarray, np.ndarray]]]:
    r"""Backpropagation of the rows ``seed`` (``(n, ..., n_N)``, per point error bound
    ``eseed``) through the exact chains (module docstring, step 3).

    Returns ``(beta, v)``: ``beta[k]`` ($k = 1..N$) $= (\hat\beta_k, e_k)$ with $e_k \ge
    \|\beta_k - \hat\beta_k\|_F$; ``v[k]`` ($k < N$) $= (\hat v_k, \rho_k)$ with $\rho_k$
    the rounding error alone of $\mathrm{fl}(\hat\beta_{k+1}W_{k+1})$ against
    $\hat\beta_{k+1}W_{k+1}$."""
    N = len(Ws)
    n = seed.shape[0]
    shape = (n,) + (1,) * (seed.ndim - 2) + (-1,)
    bh: dict[int, np.ndarray] = {N: seed}
    tau: dict[int, np.ndarray] = {}
    vs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for k in range(N - 1, 0, -1):
        v, rv = wmul(Ws[k], 0.0, wf[k], bh[k + 1], np.zeros(n), left=False)
        vs[k] = (v, rv)
        sm, sr = fw.sig[k][0]
        bh[k], tau[k] = dmul(sm.reshape(shape), sr.reshape(shape), v, rv)
    beta: dict[int, tuple[np.ndarray, np.ndarray]] = {N: (seed, eseed)}
    for k in range(N - 1, 0, -1):
        e = up(fw.C[N, k] * eseed)
        for i in range(k, N):
            e = up(e + (tau[i] if i == k else up(fw.C[i, k] * tau[i])))
        beta[k] = (bh[k], e)
    return beta, vs
