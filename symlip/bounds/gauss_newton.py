r"""The certified centre Gauss-Newton norm of a mean loss (Lemma 11 of
``docs/theory-param.md``, section 7).

For $L(\theta) = \frac1n\sum_i\lambda(f(x_i;\theta), y_i)$ the Hessian splits as
$\nabla^2L = \frac1n\sum_i J_i^T A_i J_i + \frac1n\sum_i\sum_o(\partial_o\lambda)_i
\nabla^2 f_{io}$ with $J_i = D_\theta f(x_i;\theta)$ and $A_i = \nabla^2_f\lambda$
($I$ for MSE, $\operatorname{diag}(p_i) - p_ip_i^T$ for softmax cross-entropy).  The
first part's norm is the squared norm of the stacked matrix $[M_1^TJ_1; \dots;
M_n^TJ_n]$ ($A_i = M_iM_i^T$), i.e. the top eigenvalue of its small Gram matrix
($n\,n_N \times n\,n_N$):

$$ \Big\|\frac1n\sum_i J_i^TA_iJ_i\Big\|_2 = \frac1n\lambda_{\max}(K),\qquad
   K_{(i,o),(j,o')} = \sum_{p=1}^N(a_{p-1,i}\cdot a_{p-1,j} + 1)\,
   (\delta_{p,i}\delta_{p,j}^T)_{oo'}, $$

$\delta_{p,i} = M_i^T\,\partial f(x_i)/\partial z_p$ (backpropagated from the seed
$M_i^T$), since $J_iJ_j^T = \sum_p(a_{p-1,i}\cdot a_{p-1,j} + 1)\,D_{N,p,i}D_{N,p,j}^T$
(the $W_p$- and $b_p$-blocks of $\partial f/\partial\theta$ are $D_{N,p}\otimes
a_{p-1}^T$ and $D_{N,p}$).  Cross-entropy: $\operatorname{diag}(p) - pp^T =
M M^T$ with $M = \operatorname{diag}(s)(I - ss^T)$, $s = \sqrt p$ ($\|s\| = 1$, so
$I - ss^T$ is a projection).

Certified without interval wrapping (midpoint-radius backpropagation wraps by about
$10^7$ at depth 16): float factors $\hat a_{p-1}$, $\hat\delta_{p,i}$ with a norm-wise
error bound $\varepsilon \ge \|S - \hat S\|_F$ of the stacked matrix, the float errors
carried through the exact chains $D_{k,j}$ (:mod:`symlip.bounds.float_chains`, so they
grow like the chain norms, not like $\prod_k\|W_k\|_2$: on tanh 8-32x32-1
$\varepsilon/\|\hat S\|$ is $2.7\times10^{-11}$ instead of $1.6\times10^4$, at depth 16
$1.4\times10^{-11}$ instead of $2\times10^{-5}$), so $\|S\|^2 \le
(\|\hat S\| + \varepsilon)^2$, and $\|\hat S\|^2 = \lambda_{\max}(\hat S\hat S^T) \le
\|\mathrm{mid}\|_2 + \|\mathrm{rad}\|_F$ (Weyl) for a midpoint-radius enclosure of the
Gram sums of the float factors (Higham's a priori bounds, the certified spectral norm of
:func:`symlip.arith.norms.spectral_norm`); every float step on a bound is rounded up.
The error argument is in :func:`_gn_norm` and :mod:`symlip.bounds.float_chains`
(Lemma 11 of ``docs/theory-param.md``, section 7, states the previous recursion for
$\varepsilon$ through $\prod_k\|W_k\|_2$, which the ``"product"`` mode beyond
:data:`CHAIN_BUDGET` still is, up to the boxes' $\sup|\sigma'|$ in place of $K_1$).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symlip.arith.array import IntervalArray
from symlip.arith.linalg import from_midrad as _to_interval
from symlip.arith.linalg import midrad_matmul as _ia_matmul
from symlip.arith.linalg import to_midrad as _to_midrad
from symlip.arith.linalg import up as _up
from symlip.bounds.centre import frobenius_upper
from symlip.bounds.float_chains import (
    ChainForward,
    chain_backward,
    chain_cost,
    chain_forward,
    loss_seed,
    sumsq_upper,
)
from symlip.bounds.float_chains import fro as _fro

__all__ = ["CHAIN_BUDGET", "centre_gauss_newton_norm", "centre_gauss_newton_norms",
           "float_loss_gradient", "GN_ELEMENT_BUDGET", "GN_CHUNKED_BUDGET", "gn_chunks",
           "chunked_norms"]

#: largest ``(n * n_N)^2 * max_p n_p`` (the Gram products) for which the centre
#: Gauss-Newton norm is computed; beyond it the per-point bound of Lemma 8 is used
GN_ELEMENT_BUDGET = 2_000_000_000
#: largest ``n * n_N`` (the Gram matrix is that square, a few arrays of it are held)
GN_MAX_ROWS = 2048
#: largest relative float error ``eps / ||hat S||`` of the stacked matrix for which the
#: centre norm is used (the errors grow with the chain norms times the local rounding
#: errors; with the product-of-norms fallback beyond :data:`CHAIN_BUDGET` like 2^N times
#: them, so deep networks beyond ~25 tanh layers of norm 2 exceed it there and keep
#: Lemma 8 alone)
GN_REL_ERR = 1e-3
#: largest :func:`symlip.bounds.float_chains.chain_cost` (multiply-adds of the float
#: chains D_{k,i} over the points) for which the float errors are carried through the
#: chains; beyond it through products of layer norms (8-32x32-1 with 16 points: 2.8e8)
CHAIN_BUDGET = 2_000_000_000


def _seed(net: Any, F: IntervalArray, y: np.ndarray | None, loss: str
          ) -> tuple[np.ndarray, np.ndarray]:
    """Per point the enclosure of $M_i^T$ (``(B, nN, nN)`` midpoint, radius)."""
    from symlip.arith import kernels as _npk

    B, nN = F.lo.shape
    if loss == "mse":
        eye = np.broadcast_to(np.eye(nN), (B, nN, nN)).copy()
        return eye, np.zeros_like(eye)
    soft = _npk.softmax_box(F)
    P = IntervalArray(np.maximum(soft.lo, 0.0), soft.hi)
    s = P.sqrt()  # (B, nN)
    sm, sr = _to_midrad(s)
    # M^T = (I - s s^T) diag(s): entry (o, o') = (delta_oo' - s_o s_o') s_o'
    ss_m = sm[:, :, None] * sm[:, None, :]
    outer = _to_interval(ss_m, _up(_up(_up(np.abs(sm)[:, :, None] * sr[:, None, :])
                                        + _up(sr[:, :, None] * _up(np.abs(sm) + sr)[:, None, :]))
                                    + _up(np.abs(ss_m) * 2.0**-53)))
    eye = IntervalArray(np.broadcast_to(np.eye(nN), (B, nN, nN)).copy())
    Mt = (eye - outer) * IntervalArray(s.lo[:, None, :], s.hi[:, None, :])
    return _to_midrad(Mt)


def gn_cost(net: Any, n_points: int) -> int:
    """Multiply-adds of the Gram products (see :data:`GN_ELEMENT_BUDGET`)."""
    m = n_points * net.widths[-1]
    return m * m * sum(net.widths[1:])


def centre_gauss_newton_norm(net: Any, X: np.ndarray, y: np.ndarray | None, loss: str
                             ) -> float | None:
    r"""Certified upper bound of $\|\frac1n\sum_iJ_i^TA_iJ_i\|_2$ at the centre
    (module docstring); ``None`` beyond :data:`GN_ELEMENT_BUDGET` or
    :data:`GN_MAX_ROWS`, beyond the relative
    float error :data:`GN_REL_ERR`, for residual networks, or where an activation has
    no rigorous interval kernel."""
    if (getattr(net, "has_residual", False) or gn_cost(net, X.shape[0]) > GN_ELEMENT_BUDGET
            or X.shape[0] * net.widths[-1] > GN_MAX_ROWS):
        return None
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return _gn_norm(net, X, y, loss)
    except (ValueError, FloatingPointError):
        return None


#: total ``(n * n_N)^2 * sum_p n_p`` of the chunked computation
#: (:func:`centre_gauss_newton_norms`) when the whole data set is over the budgets
GN_CHUNKED_BUDGET = 4 * GN_ELEMENT_BUDGET


def gn_chunks(net: Any, n_points: int, budget: int | None = None) -> list[np.ndarray] | None:
    r"""Consecutive chunks of the point indices, each within :data:`GN_ELEMENT_BUDGET`
    and :data:`GN_MAX_ROWS`, with total cost within :data:`GN_CHUNKED_BUDGET` (the cost
    of chunks of $c$ points is about $n\,c\,n_N^2\sum_pn_p$); ``None`` below two points
    per chunk (the per-point bound is as good)."""
    budget = GN_CHUNKED_BUDGET if budget is None else budget
    nN = net.widths[-1]
    per = nN * nN * sum(net.widths[1:])
    c = min(GN_MAX_ROWS // nN, int(np.sqrt(GN_ELEMENT_BUDGET / per)),
            budget // max(1, n_points * per))
    if c < 2:
        return None
    return np.array_split(np.arange(n_points), -(-n_points // c))


def centre_gauss_newton_norms(net: Any, X: np.ndarray, y: np.ndarray | None, loss: str
                              ) -> float | np.ndarray | None:
    r"""Lemma 11's $\mathrm{GN}_c$: :func:`centre_gauss_newton_norm` of all the data
    where it fits, else per point the certified stacked norm of its chunk
    (:func:`gn_chunks`): with chunks $c$ of $n_c$ points,
    $\|\frac1n\sum_iJ_i^TA_iJ_i\| \le \sum_c\frac{n_c}{n}\|\frac1{n_c}\sum_{i\in c}
    J_i^TA_iJ_i\|$, the mean over the points of these per-point values, so the mean of
    Lemma 11's per-point lines stays a bound; ``None`` where neither applies."""
    whole = centre_gauss_newton_norm(net, X, y, loss)
    if whole is not None or getattr(net, "has_residual", False):
        return whole
    return chunked_norms(net, X.shape[0], lambda idx: centre_gauss_newton_norm(
        net, X[idx], None if y is None else y[idx], loss))


def chunked_norms(net: Any, n_points: int, norm_of: Any) -> np.ndarray | None:
    """Per point, ``norm_of(idx)`` (a float or ``None``) of its chunk ``idx`` of
    :func:`gn_chunks`; ``None`` without chunks or where a chunk gives no float (the
    feed-forward and the residual stacked norms)."""
    chunks = gn_chunks(net, n_points)
    if chunks is None:
        return None
    out = np.empty(n_points)
    for idx in chunks:
        v = norm_of(idx)
        if not isinstance(v, float):
            return None
        out[idx] = v
    return out


def _centre_pass(net: Any, X: np.ndarray
                 ) -> tuple[ChainForward, list[np.ndarray], list[float]]:
    r"""The float forward pass at the centre with errors carried through the exact
    chains (:func:`symlip.bounds.float_chains.chain_forward`: ``"norms"`` within
    :data:`CHAIN_BUDGET`, else the products of layer norms), $\sigma'$ enclosed on the
    boxes by :func:`symlip.bounds.local_jacobian.derivative_ranges`; also the float64
    weights and certified $\|W_k\|_F$."""
    from symlip.bounds.centre import spectral_upper
    from symlip.bounds.local_jacobian import derivative_ranges

    Ws = [np.asarray(layer.weight, dtype=np.float64) for layer in net.layers]
    rho = [float(spectral_upper(W)[0].upper_float) for W in Ws]
    wf = [frobenius_upper(W) for W in Ws]

    def derivs(k: int, box: IntervalArray) -> list[IntervalArray]:
        act = net.activations[k - 1]
        K1 = act.constants.K1.enclosure.upper_float
        return [derivative_ranges(act, box, np.full(box.lo.shape, K1))]

    mode = "norms" if chain_cost(net.widths, X.shape[0]) <= CHAIN_BUDGET else "product"
    return chain_forward(net, X, Ws, rho, wf, derivs, mode), Ws, wf


def _gn_norm(net: Any, X: np.ndarray, y: np.ndarray | None, loss: str) -> float | None:
    r"""Float factors $\hat a_{p-1}$, $\hat\delta_p$ with norm-wise error bounds
    propagated through the exact chains (:mod:`symlip.bounds.float_chains`; no interval
    wrapping, whose radii grow like $\prod_k\||W_k|\|_2$, and no recursion through
    $\prod_k\|W_k\|_2$): $\lambda_{\max}(JJ^T) = \|J\|^2 \le (\|\hat J\| +
    \varepsilon)^2$, $\varepsilon \ge \|J - \hat J\|_F$, and $\|\hat J\|^2 =
    \lambda_{\max}(\hat J\hat J^T)$ from the Gram products of the float factors
    (enclosed with Higham's bounds, :func:`_ia_matmul` on point matrices).

    Errors: the seed $M_i^T$ is enclosed (:func:`_seed`) for every output in the box
    $\hat z_N \pm e^z_N$, $\hat\delta_N$ its midpoint, $\|\delta_N -
    \hat\delta_N\|_F \le \|\mathrm{rad}\|_F$; backpropagated by
    :func:`~symlip.bounds.float_chains.chain_backward`, $\epsilon_p \ge \|\delta_p -
    \hat\delta_p\|_F \le C_{N,p}\epsilon_N + \sum_{i=p}^{N-1}C_{i,p}\|\tau_i\|_F$.
    Per point and layer the $W_p$-block $\delta_p\otimes a_{p-1}$ errs by at most
    $\epsilon_p(\|\hat a_{p-1}\| + e^a_{p-1}) + \|\hat\delta_p\|_Fe^a_{p-1}$, the
    $b_p$-block by $\epsilon_p$; $\varepsilon^2$ is the sum of their squares."""
    from symlip.arith.linalg import down

    B, N = X.shape[0], net.depth
    nN = net.widths[-1]
    fw, Ws, wf = _centre_pass(net, X)
    er = fw.ezN[:, None]
    F = IntervalArray(down(fw.zN - er), _up(fw.zN + er))
    # the seed M_i^T, enclosed for every output within the certified error of the float pass
    sm, sr = _seed(net, F, y, loss)
    beta, _ = chain_backward(fw, Ws, wf, sm, _fro(sr))
    eps2 = np.zeros(B)
    m = B * nN
    Km = np.zeros((m, m))
    Kr = np.zeros((m, m))
    for p in range(N, 0, -1):
        a, eap = fw.A[p - 1][0], fw.ea[p - 1]
        d, err = beta[p]
        gm, gr = _ia_matmul(a, None, a.T, None)
        gm = gm + 1.0
        gr = _up(gr + _up(np.abs(gm) * 2.0**-53))
        d2 = d.reshape(m, -1)
        pm, pr = _ia_matmul(d2, None, d2.T, None)
        wm = np.repeat(np.repeat(gm, nN, axis=0), nN, axis=1)
        wr = np.repeat(np.repeat(gr, nN, axis=0), nN, axis=1)
        tm, trad = _to_midrad(_to_interval(pm, pr) * _to_interval(wm, wr))
        new = Km + tm
        Kr = _up(_up(Kr + trad) + _up(np.abs(new) * 2.0**-53))
        Km = new
        # ||delta_p (x) a - hat delta_p (x) hat a||_F and the bias block
        an = _up(np.sqrt(sumsq_upper(a, (1,))))
        blk = _up(_up(err * _up(an + eap)) + _up(_fro(d) * eap))
        eps2 = _up(eps2 + _up(_up(blk * blk) + _up(err * err)))
    if not (np.all(np.isfinite(Km)) and np.all(np.isfinite(Kr)) and np.all(np.isfinite(eps2))):
        return None
    sym = 0.5 * (Km + Km.T)
    Kr = _up(Kr + _up(np.abs(Km - sym)))
    top = _up(spec_top(sym) + frobenius_upper(Kr))
    eps = _up(np.sqrt(_up(float(np.sum(eps2)) * (1 + 4 * B * 2.0**-53))))
    if not eps <= GN_REL_ERR * np.sqrt(top):
        return None  # the float errors grew too large (very deep): Lemma 8 alone
    val = _up(_up(np.sqrt(top)) + eps) ** 2
    val = _up(val)
    val = float(_up(val / B))
    return val if np.isfinite(val) else None


def float_loss_gradient(net: Any, X: np.ndarray, y: np.ndarray, loss: str
                        ) -> tuple[np.ndarray, float]:
    r"""The mean-loss gradient $\hat g$ in floats (:meth:`Network.params` order) and a
    certified $e \ge \|\nabla L(\theta) - \hat g\|_2$ for the exact real gradient at the
    network's (float) parameters, without interval wrapping (used by the certified
    lower bound of deep networks).

    Backpropagation of $v_i = \nabla_f\lambda_i$ (MSE $f - y$, cross-entropy
    $\mathrm{softmax}(f) - e_y$; the seed is the midpoint of an interval enclosure over
    $f \in \hat f \pm e^{\mathrm{out}}$, its radius the seed error, as in
    :func:`symlip.bounds.float_chains.loss_seed`) with the errors carried through the
    exact chains (:func:`~symlip.bounds.float_chains.chain_backward`: $\epsilon_{p,i}
    \le C_{N,p}e_{\bar g} + \sum_{p\le q<N}C_{q,p}\|\tau_q\|$, $e^a$ from
    :func:`~symlip.bounds.float_chains.chain_forward`); the blocks $\frac1n\hat\Delta_p^T\hat A_{p-1}$,
    $\frac1n\sum_i\hat\delta_{p,i}$ err by at most $\frac1n(\sum_i\epsilon_{p,i}
    (\|\hat a\| + e^a) + \|\hat\delta\|e^a + \gamma_n\|\hat\Delta_p\|_F\|\hat A\|_F)$ and
    $\frac1n(\sum_i\epsilon_{p,i} + \gamma_n\|\hat\Delta_p\|_F\sqrt n)$ plus one rounding of
    the division.  Weight norms: certified spectral upper bounds
    (:func:`symlip.bounds.centre.spectral_upper`)."""
    from symlip.arith.linalg import gamma as _gamma

    B, N = X.shape[0], net.depth
    fw, Ws, wf = _centre_pass(net, X)
    g, eg = loss_seed(fw.zN, fw.ezN, y, loss)
    beta, _ = chain_backward(fw, Ws, wf, g[:, None, :], eg)
    gB = 1.0 / B
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    e2 = 0.0
    for p in range(N, 0, -1):
        a, eap = fw.A[p - 1][0], fw.ea[p - 1]
        D, err = beta[p][0][:, 0, :], beta[p][1]  # (B, n_p)
        gw = (D.T @ a) * gB
        gb = D.sum(axis=0) * gB
        parts.append((gw, gb))
        an = _up(np.sqrt(sumsq_upper(a, (1,))))
        dn = _up(np.sqrt(sumsq_upper(D, (1,))))
        Dn = _up(np.sqrt(float(sumsq_upper(D[None], (1, 2))[0])))
        Afro = _up(np.sqrt(float(sumsq_upper(a[None], (1, 2))[0])))
        gam = _gamma(B + 1)
        ew = _up(float(np.sum(_up(_up(err * _up(an + eap)) + _up(dn * eap))))
                 * (1 + 4 * B * 2.0**-53))
        ew = _up(_up(ew + _up(_up(gam * Dn) * Afro)) * gB)
        ew = _up(ew + _up(float(np.sqrt(np.sum(gw * gw))) * 2.0**-52))
        eb = _up(float(np.sum(err)) * (1 + 4 * B * 2.0**-53))
        eb = _up(_up(eb + _up(_up(gam * Dn) * np.sqrt(B) * (1 + 2.0**-50))) * gB)
        eb = _up(eb + _up(float(np.sqrt(np.sum(gb * gb))) * 2.0**-52))
        e2 = _up(e2 + _up(_up(ew * ew) + _up(eb * eb)))
    parts.reverse()
    grad = np.concatenate([x for gw, gb in parts for x in (gw.ravel(), gb)])
    return grad, float(_up(np.sqrt(_up(e2 * (1 + 8 * N * 2.0**-53)))))


def spec_top(S: np.ndarray) -> float:
    r"""Certified upper bound of $\|S\|_2$ for a symmetric float matrix."""
    from symlip.arith.norms import spectral_norm

    return spectral_norm(S).upper_float
