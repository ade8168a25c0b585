r"""A certified lower bound of the gradient-Lipschitz constant at MNIST scale, from the
read-out block of the Hessian (Lemma 10 of ``docs/theory-param.md``, section 9).

Two parameter vectors $\theta_\pm$ that differ from $\bar\theta$ only in the read-out
$(W_N, b_N)$ leave the last hidden state $a_i = a_{N-1}(x_i;\bar\theta)$ unchanged, so
$f_i^\pm = f_i + \Delta^\pm\tilde a_i$ ($\tilde a_i = (a_i, 1)$, $\Delta^\pm = \theta_\pm -
\bar\theta$ as a matrix).  The read-out part of $\nabla L$ is $\frac1n\sum_i g_i\tilde
a_i^T$ with $g_i = \nabla_f\lambda(f_i, y_i)$; with $D = \theta_+ - \theta_-$ and
Cauchy-Schwarz,

$$ \frac{\|\nabla L(\theta_+) - \nabla L(\theta_-)\|}{\|\theta_+ - \theta_-\|} \ge
   \frac{|\frac1n\sum_i (g^+_i - g^-_i)\cdot D\tilde a_i|}{\|D\|_F^2}, \qquad
   D\tilde a_i = f^+_i - f^-_i. $$

Everything on the right is enclosed from ONE float forward pass with norm-wise error
bounds (:func:`symlip.bounds.centre.centre_norms`: $\|a_i - \hat a_i\| \le e_i$,
$\|f_i - \hat f_i\| \le e^f_i$), no interval forward pass: the products $\Delta\tilde
a_i$ by a float product plus the bound $|\Delta_{j,:}(a_i - \hat a_i)| \le
\|\Delta_{j,:}\|e_i$ and Higham's $\gamma_{n+1}|\Delta_{j,:}||\tilde{\hat a}_i|$; MSE:
$g^+ - g^- = f^+ - f^-$; cross-entropy: softmax of the boxes $\hat f_i \pm e^f_i +
\Delta^\pm\tilde a_i$ with the rigorous exp kernel.  The direction is the top
eigenvector of the read-out block of the Hessian at the centre (float power iteration,
any direction is sound).  Cost: two GEMMs of the data by the read-out per power step,
against two full interval forward and backward passes for the full quotient.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure
from symlip.arith.kernels import softmax_box
from symlip.bounds import recursion as rec
from symlip.errors import InputError

__all__ = ["readout_block_direction", "readout_quotient", "readout_grad_lower",
           "READOUT_LOWER_BUDGET"]

_U = 2.0**-53

#: parameters x points above which :func:`symlip.bounds.smooth.grad_lipschitz` takes the
#: read-out lower bound instead of the full interval gradient quotient
READOUT_LOWER_BUDGET = 10_000_000


def _up(x: Any) -> Any:
    return np.nextafter(x, np.inf)


def _gamma(n: int) -> float:
    from symlip.arith.linalg import gamma

    return gamma(n)


def _softmax(f: np.ndarray) -> np.ndarray:
    e = np.exp(f - f.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def readout_block_direction(ahat: np.ndarray, fhat: np.ndarray, loss: str,
                            iters: int = 20, seed: int = 0) -> np.ndarray:
    r"""Float top eigenvector ``(nN, n+1)`` (unit Frobenius norm) of the read-out block
    $\frac1n\sum_i A_i\otimes\tilde a_i\tilde a_i^T$ of the Hessian ($A_i = I$ for MSE,
    $\mathrm{diag}(p_i) - p_ip_i^T$ for cross-entropy); not certified (any direction is
    sound)."""
    # float32 and at most 2048 evenly spaced points suffice for a direction
    step = max(1, fhat.shape[0] // 2048)
    ahat, fhat = ahat[::step], fhat[::step]
    n, nN = fhat.shape
    At = np.concatenate([ahat, np.ones((n, 1))], axis=1).astype(np.float32)
    mse = rec._loss_name(loss) == "mse"
    p = None if mse else _softmax(fhat).astype(np.float32)
    rng = np.random.default_rng(seed)
    Xd = rng.standard_normal((1 if mse else nN, At.shape[1])).astype(np.float32)
    Xd /= np.linalg.norm(Xd)
    lam = 0.0
    for _ in range(iters):
        S = At @ Xd.T  # (n, nN): X a_i
        T = S if p is None else p * S - p * np.sum(p * S, axis=1, keepdims=True)
        Y = T.T @ At / n
        new = float(np.linalg.norm(Y))
        if new == 0:
            break
        Xd = Y / new
        if abs(new - lam) <= 1e-3 * new:
            break
        lam = new
    if mse:  # I (x) M: the top eigenvector of M in one output row
        out = np.zeros((nN, At.shape[1]))
        out[0] = Xd[0]
        return out
    return Xd.astype(np.float64)


def _products(delta: IntervalArray, At: np.ndarray, an: np.ndarray, err: np.ndarray
              ) -> IntervalArray:
    r"""Enclosures ``(n, nN)`` of $\Delta\tilde a_i$ for every exact $\Delta$ in the
    interval matrix ``delta`` ``(nN, n+1)`` and exact $a_i$ with $\|a_i - \hat a_i\| \le
    e_i$: $\mathrm{fl}(\hat{\tilde a}_i\cdot m_j) \pm (\gamma_{n+2}\|m_j\|\|\hat{\tilde
    a}_i\| + \|m_{j,W}\|e_i + \|\varrho_j\|(\|\hat{\tilde a}_i\| + e_i))$ with
    $m \pm \varrho$ the midpoint-radius form of ``delta`` (Higham's dot-product bound
    and Cauchy-Schwarz; every term rounded up)."""
    from symlip.bounds.centre import row_norms

    lo, hi = delta.lo, delta.hi
    mid = 0.5 * lo + 0.5 * hi
    rad = np.maximum(_up(hi - mid), _up(mid - lo))
    rad = _up(rad)
    prod = At @ mid.T
    mn = row_norms(mid).hi  # (nN,)
    mwn = row_norms(mid[:, :-1]).hi
    rn = row_norms(rad).hi
    g = _gamma(At.shape[1] + 1)
    R = _up(_up(g * _up(an[:, None] * mn[None, :])) + _up(err[:, None] * mwn[None, :]))
    R = _up(R + _up(_up(an + err)[:, None] * rn[None, :]))
    R = _up(R + 1e-300)  # underflow of the float products
    return IntervalArray(np.nextafter(prod - R, -np.inf), np.nextafter(prod + R, np.inf))




def _sum_rows(a: IntervalArray) -> IntervalArray:
    tot = a[:, 0]
    for j in range(1, a.lo.shape[1]):
        tot = tot + a[:, j]
    return tot


def readout_quotient(cn: Any, y: np.ndarray, loss: str, off_plus: IntervalArray,
                     off_minus: IntervalArray) -> Enclosure:
    r"""Enclosure of $|\frac1n\sum_i(g^+_i - g^-_i)\cdot D\tilde a_i| / \|D\|_F^2$
    (Lemma 10), a lower bound of the gradient difference quotient between
    $\theta_\pm = \bar\theta + \Delta^\pm$ (offsets on the read-out only, ``(nN, n+1)``
    interval matrices: the exact differences of the float parameter vectors).
    ``cn``: the :class:`~symlip.bounds.centre.CentreNorms` of the centre."""
    a, e = cn.last_hidden, cn.last_hidden_err
    if a is None:
        raise InputError("the read-out lower bound needs a hidden layer")
    from symlip.bounds.centre import row_norms

    At = np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)
    an = row_norms(At).hi  # upper norms of (a_hat, 1)
    sp_ = _products(off_plus, At, an, e)
    sm = _products(off_minus, At, an, e)
    d = sp_ - sm
    if rec._loss_name(loss) == "mse":
        dg = d
    else:
        ef = np.asarray(cn.output_err, dtype=np.float64)[:, None]
        F = IntervalArray(np.nextafter(cn.output - ef, -np.inf),
                          np.nextafter(cn.output + ef, np.inf))
        dg = softmax_box(F + sp_) - softmax_box(F + sm)
    num = _sum_rows(dg * d).mean().to_interval()
    D2 = (off_plus - off_minus).square()
    den_lo = float(np.nextafter(math.fsum(D2.lo.ravel().tolist()), -np.inf))
    den_hi = float(np.nextafter(math.fsum(D2.hi.ravel().tolist()), np.inf))
    if not den_lo > 0:
        return Enclosure.point(0)
    from mpmath import iv

    lo, hi = float(num.a), float(num.b)  # |num|: mpf ends of an outward interval
    absn = iv.mpf([lo if lo > 0 else (-hi if hi < 0 else 0.0), max(abs(lo), abs(hi))])
    return Enclosure.from_interval(absn / iv.mpf([den_lo, den_hi]))


def readout_grad_lower(net: Any, cn: Any, loss: str, r: float, *, seed: int = 0
                       ) -> dict[str, Any]:
    r"""The witness of Lemma 10 (``method: "readout"``, read-out indices and offsets in
    :meth:`Network.params` order): $\theta_\pm = \bar\theta \pm tX$, $X$ the top
    eigenvector of the read-out Hessian block, $t = r/2$ for MSE (the
    quotient does not depend on $t$), else $\min(r/8, 10^{-4}\max(1, \max|\bar\theta|))$.
    :func:`symlip.bounds.smooth.grad_quotient_from_witness` encloses its quotient."""
    W, b = net.layers[-1].weight, net.layers[-1].bias
    Xd = readout_block_direction(cn.last_hidden, cn.output, loss, seed=seed)
    theta0 = net.params()
    start = theta0.size - W.size - b.size
    if rec._loss_name(loss) == "mse":
        t = r / 2
    else:
        t = min(r / 8, 1e-4 * max(1.0, float(np.max(np.abs(theta0)))))
    off = np.concatenate([Xd[:, :-1].ravel(), Xd[:, -1]])  # W_N row-major, then b_N
    off = off / np.linalg.norm(off)
    return {"kind": "gradient_difference_quotient", "method": "readout",
            "indices": list(range(start, theta0.size)),
            "offset_plus": [float(v) for v in t * off],
            "offset_minus": [float(v) for v in -t * off]}


def readout_offsets(net: Any, keep: np.ndarray, tp: np.ndarray, tm: np.ndarray
                    ) -> tuple[IntervalArray, IntervalArray]:
    """The exact read-out offsets $\\theta_\\pm - \\bar\\theta$ as ``(nN, n+1)`` interval
    matrices (the float parameter vectors ``tp``, ``tm``); raises :class:`InputError`
    unless ``keep`` lies in the read-out block."""
    theta0 = net.params()
    W = net.layers[-1].weight
    nN, nh = W.shape
    start = theta0.size - W.size - nN
    if keep.size == 0 or keep.min() < start:
        raise InputError("a read-out lower-bound witness may only move the read-out "
                         "parameters")
    out = []
    base = IntervalArray(theta0[start:])
    for th in (tp, tm):
        d = IntervalArray(th[start:]) - base
        Wd = IntervalArray(d.lo[:W.size].reshape(nN, nh), d.hi[:W.size].reshape(nN, nh))
        bd = IntervalArray(d.lo[W.size:][:, None], d.hi[W.size:][:, None])
        out.append(IntervalArray(np.concatenate([Wd.lo, bd.lo], axis=1),
                                 np.concatenate([Wd.hi, bd.hi], axis=1)))
    return out[0], out[1]


class _Boxes:
    """Midpoints and per-point norm-wise radii of the interval forward pass's last hidden
    and output boxes (networks with residual blocks): the interface of
    :class:`~symlip.bounds.centre.CentreNorms` the read-out bound reads."""

    def __init__(self, hidden: IntervalArray, out: IntervalArray) -> None:
        from symlip.bounds.centre import row_norms

        def split(b: IntervalArray) -> tuple[np.ndarray, np.ndarray]:
            mid = np.clip(0.5 * b.lo + 0.5 * b.hi, b.lo, b.hi)
            dev = np.maximum(_up(b.hi - mid), _up(mid - b.lo))
            return mid, row_norms(dev).hi

        self.last_hidden, self.last_hidden_err = split(hidden)
        self.output, self.output_err = split(out)


def centre_for_readout(net: Any, X: np.ndarray) -> Any:
    """The centre forward pass the read-out bound uses (spectral norms of
    :func:`symlip.bounds.centre.spectral_upper`, as the certified inputs use them, so
    ``verify`` recomputes the same numbers); for residual networks the boxes of the
    interval forward pass (:meth:`Network.interval_trace`)."""
    from symlip.bounds.centre import centre_norms, spectral_upper

    if getattr(net, "has_residual", False):
        if net.depth < 2:
            raise InputError("the read-out lower bound needs a hidden layer")
        tr = net.interval_trace(X)
        return _Boxes(tr.inputs[-1], tr.output)

    spec = [spectral_upper(layer.weight)[0].upper_float for layer in net.layers]
    cn = centre_norms(net, X, spectral=spec)
    if cn is None or cn.last_hidden is None:
        raise InputError("the read-out lower bound needs a vectorised activation kernel "
                         "and a hidden layer")
    return cn
