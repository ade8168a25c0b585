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
error bound $\varepsilon \ge \|S - \hat S\|_F$ of the stacked matrix, so $\|S\|^2 \le
(\|\hat S\| + \varepsilon)^2$, and $\|\hat S\|^2 = \lambda_{\max}(\hat S\hat S^T) \le
\|\mathrm{mid}\|_2 + \|\mathrm{rad}\|_F$ (Weyl) for a midpoint-radius enclosure of the
Gram sums of the float factors (Higham's a priori bounds, the certified spectral norm of
:func:`symlip.arith.norms.spectral_norm`); every float step on a bound is rounded up.
Lemma 11 of ``docs/theory-param.md`` (section 7) states the recursion for $\varepsilon$.
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

__all__ = ["centre_gauss_newton_norm", "float_loss_gradient", "GN_ELEMENT_BUDGET"]

#: largest ``(n * n_N)^2 * max_p n_p`` (the Gram products) for which the centre
#: Gauss-Newton norm is computed; beyond it the per-point bound of Lemma 8 is used
GN_ELEMENT_BUDGET = 2_000_000_000
#: largest ``n * n_N`` (the Gram matrix is that square, a few arrays of it are held)
GN_MAX_ROWS = 2048
#: largest relative float error ``eps / ||hat S||`` of the stacked matrix for which the
#: centre norm is used (about 2^N times the activation kernels' error: deep networks
#: beyond ~25 tanh layers of norm 2 exceed it and keep Lemma 8 alone)
GN_REL_ERR = 1e-3


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


def _float_pass(net: Any, X: np.ndarray, spec: list[float] | None = None) -> Any:
    r"""Float forward pass with norm-wise errors (:func:`symlip.bounds.sensitivity.
    float_forward`), plus the float activations $\hat a_k$ it uses, $e^a_k \ge \|a_k -
    \hat a_k\|$, and per hidden layer the midpoint $\hat s_k$ and radius $\varsigma_k$
    (max over the neurons) of $\sigma'$ enclosed on the box $\hat z_k \pm e^z_k$."""
    from types import SimpleNamespace

    from symlip.bounds.local_jacobian import derivative_ranges
    from symlip.bounds.sensitivity import _sumsq_upper, float_forward
    from symlip.models.network import sigma_box

    B, N = X.shape[0], net.depth
    fw = float_forward(net, X, spec)
    ahat: list[np.ndarray] = [np.asarray(X, dtype=np.float64)]
    ea: list[np.ndarray] = [np.zeros(B)]
    sh, se = [], []
    for k in range(N - 1):
        z = fw.zhat[k]
        sig = sigma_box(net.activations[k], IntervalArray(z))
        am = np.clip(0.5 * sig.lo + 0.5 * sig.hi, sig.lo, sig.hi)
        dev = np.maximum(_up(sig.hi - am), _up(am - sig.lo))
        K1 = net.activations[k].constants.K1.enclosure.upper_float
        ea.append(_up(_up(fw.ez[k] * K1) + _up(np.sqrt(_sumsq_upper(dev, (1,))))))
        ahat.append(am)
        # sigma'(z_exact) with |z - zhat|_inf <= ez: enclosed on the box
        rad = fw.ez[k][:, None]
        box = IntervalArray(np.nextafter(z - rad, -np.inf), np.nextafter(z + rad, np.inf))
        sd = derivative_ranges(net.activations[k], box, np.full(z.shape, K1))
        smid = np.clip(0.5 * sd.lo + 0.5 * sd.hi, sd.lo, sd.hi)
        sh.append(smid)
        se.append(np.maximum(_up(sd.hi - smid), _up(smid - sd.lo)).max(axis=1))
    er = fw.eout[:, None]
    F = IntervalArray(np.nextafter(fw.out - er, -np.inf), np.nextafter(fw.out + er, np.inf))
    return SimpleNamespace(fw=fw, ahat=ahat, ea=ea, sh=sh, se=se, F=F)


def _back_step(d: np.ndarray, err: np.ndarray, W: np.ndarray, spec: float, frob: float,
               s: np.ndarray, ds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""$\hat\delta_{p-1} = \mathrm{fl}(\mathrm{fl}(\hat\delta_pW_p)\hat s)$ (batched
    ``(B, r, n_p)``) and $\epsilon_{p-1} \ge \|\delta_{p-1} - \hat\delta_{p-1}\|_F$ per
    point: $\epsilon_p\|W\|_2(\max|\hat s| + \varsigma) + \|\hat\delta_pW\|_F\varsigma +
    \gamma_{n_p}\|W\|_F\|\hat\delta_p\|_F\max|\hat s| + u\|\hat\delta_{p-1}\|_F$."""
    from symlip.arith.linalg import gamma as _gamma
    from symlip.bounds.sensitivity import _fro

    dn = _fro(d)
    P = d @ W
    gW = _up(_up(_gamma(W.shape[0]) * frob) * dn)  # ||fl(dW) - dW||_F
    smax = np.abs(s).max(axis=1)
    Pn = _up(_fro(P) + gW)  # >= ||hat d W||_F
    out = P * s[:, None, :]
    e = _up(_up(_up(err * _up(spec * _up(smax + ds))) + _up(Pn * ds))
            + _up(_up(gW * smax) + _up(_fro(out) * 2.0**-53))) + 1e-290
    return out, e


def _gn_norm(net: Any, X: np.ndarray, y: np.ndarray | None, loss: str) -> float | None:
    r"""Float Jacobian $\hat J$ with a norm-wise error bound (no interval wrapping, whose
    radii grow like $\prod_k\||W_k|\|_2$): $\lambda_{\max}(JJ^T) = \|J\|^2 \le
    (\|\hat J\| + \varepsilon)^2$, $\varepsilon \ge \|J - \hat J\|_F$, and
    $\|\hat J\|^2 = \lambda_{\max}(\hat J\hat J^T)$ from the Gram products of the float
    factors (enclosed with Higham's bounds, :func:`_ia_matmul` on point matrices)."""
    from symlip.arith.norms import spectral_norm
    from symlip.bounds.sensitivity import _fro, _sumsq_upper

    B, N = X.shape[0], net.depth
    nN = net.widths[-1]
    Ws = [layer.weight for layer in net.layers]
    spec = [spectral_norm(W).upper_float for W in Ws]
    frob = [frobenius_upper(W) for W in Ws]
    fp = _float_pass(net, X, spec)
    ahat, ea = fp.ahat, fp.ea
    # the seed M_i^T, enclosed for every output within the certified error of the float pass
    sm, sr = _seed(net, fp.F, y, loss)
    d = sm.copy()
    err = _fro(sr)  # ||delta_N - hat delta_N||_F per point
    eps2 = np.zeros(B)
    m = B * nN
    Km = np.zeros((m, m))
    Kr = np.zeros((m, m))
    for p in range(N, 0, -1):
        a = ahat[p - 1]
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
        an = _up(np.sqrt(_sumsq_upper(a, (1,))))
        dn = _fro(d)
        blk = _up(_up(err * _up(an + ea[p - 1])) + _up(dn * ea[p - 1]))
        eps2 = _up(eps2 + _up(_up(blk * blk) + _up(err * err)))
        if p > 1:
            d, err = _back_step(d, err, Ws[p - 1], spec[p - 1], frob[p - 1],
                                fp.sh[p - 2], fp.se[p - 2])
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
    $f \in \hat f \pm e^{\mathrm{out}}$, its radius the seed error) with the error
    recursion of :func:`_back_step`; the blocks $\frac1n\hat\Delta_p^T\hat A_{p-1}$,
    $\frac1n\sum_i\hat\delta_{p,i}$ err by at most $\frac1n(\sum_i\epsilon_{p,i}
    (\|\hat a\| + e^a) + \|\hat\delta\|e^a + \gamma_n\|\hat\Delta_p\|_F\|\hat A\|_F)$ and
    $\frac1n(\sum_i\epsilon_{p,i} + \gamma_n\|\hat\Delta_p\|_F\sqrt n)$ plus one rounding of
    the division.  Weight norms: certified spectral upper bounds
    (:func:`symlip.bounds.centre.spectral_upper`)."""
    from symlip.arith import kernels as _npk
    from symlip.arith.linalg import gamma as _gamma
    from symlip.bounds.sensitivity import _sumsq_upper

    B, N = X.shape[0], net.depth
    from symlip.bounds.centre import spectral_upper

    Ws = [layer.weight for layer in net.layers]
    frob = [frobenius_upper(W) for W in Ws]
    spec = [spectral_upper(W)[0].upper_float for W in Ws]
    fp = _float_pass(net, X, spec)
    F = fp.F
    if loss == "mse":
        V = F - IntervalArray(np.asarray(y, dtype=np.float64))
    else:
        onehot = np.zeros(F.lo.shape)
        onehot[np.arange(B), np.asarray(y, dtype=np.intp)] = 1.0
        V = _npk.softmax_box(F) - IntervalArray(onehot)
    vm, vr = _to_midrad(V)
    d = vm[:, None, :]
    err = _up(np.sqrt(_sumsq_upper(vr, (1,))))
    g = 1.0 / B
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    e2 = 0.0
    for p in range(N, 0, -1):
        a = fp.ahat[p - 1]
        D = d[:, 0, :]  # (B, n_p)
        gw = (D.T @ a) * g
        gb = D.sum(axis=0) * g
        parts.append((gw, gb))
        an = _up(np.sqrt(_sumsq_upper(a, (1,))))
        dn = _up(np.sqrt(_sumsq_upper(D, (1,))))
        Dn = _up(np.sqrt(float(_sumsq_upper(D[None], (1, 2))[0])))
        Afro = _up(np.sqrt(float(_sumsq_upper(a[None], (1, 2))[0])))
        gam = _gamma(B + 1)
        ew = _up(float(np.sum(_up(_up(err * _up(an + fp.ea[p - 1])) + _up(dn * fp.ea[p - 1]))))
                 * (1 + 4 * B * 2.0**-53))
        ew = _up(_up(ew + _up(_up(gam * Dn) * Afro)) * g)
        ew = _up(ew + _up(float(np.sqrt(np.sum(gw * gw))) * 2.0**-52))
        eb = _up(float(np.sum(err)) * (1 + 4 * B * 2.0**-53))
        eb = _up(_up(eb + _up(_up(gam * Dn) * np.sqrt(B) * (1 + 2.0**-50))) * g)
        eb = _up(eb + _up(float(np.sqrt(np.sum(gb * gb))) * 2.0**-52))
        e2 = _up(e2 + _up(_up(ew * ew) + _up(eb * eb)))
        if p > 1:
            d, err = _back_step(d, err, Ws[p - 1], spec[p - 1], frob[p - 1],
                                fp.sh[p - 2], fp.se[p - 2])
    parts.reverse()
    grad = np.concatenate([x for gw, gb in parts for x in (gw.ravel(), gb)])
    return grad, float(_up(np.sqrt(_up(e2 * (1 + 8 * N * 2.0**-53)))))


def spec_top(S: np.ndarray) -> float:
    r"""Certified upper bound of $\|S\|_2$ for a symmetric float matrix."""
    from symlip.arith.norms import spectral_norm

    return spectral_norm(S).upper_float
