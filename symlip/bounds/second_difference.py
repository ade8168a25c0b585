r"""A certified lower bound of the gradient-Lipschitz constant from the second difference
of the loss (Lemma 13 of ``docs/theory-param.md``, section 9).

If $\nabla L$ is $\Lambda$-Lipschitz on the ball $B_r(\bar\theta)$ and $\bar\theta \pm h$
lie in it, then with $\phi(s) = L(\bar\theta + sh)$

$$ L(\bar\theta + h) + L(\bar\theta - h) - 2L(\bar\theta) = \int_0^1(\phi'(s) -
   \phi'(-s))\,ds, \qquad |\phi'(s) - \phi'(-s)| = |(\nabla L(\bar\theta + sh) -
   \nabla L(\bar\theta - sh))\cdot h| \le 2s\Lambda\|h\|^2, $$

so $\Lambda \ge |L(\bar\theta + h) + L(\bar\theta - h) - 2L(\bar\theta)|/\|h\|^2$.  The three
losses are enclosed from float forward passes with norm-wise error bounds
(:func:`symlip.bounds.centre.centre_norms`), so the bound needs no backward pass and no
interval wrapping, and every parameter may move: at MNIST scale it sees the whole
Hessian where the read-out quotient (Lemma 10) sees one block.  For $h$ along the top
eigenvector of $\nabla^2L(\bar\theta)$ it tends to $\|\nabla^2L(\bar\theta)\|$ as
$r \to 0$.

**The witness.** $h$ is given per layer by low-rank factors, $H_k = \sum_j u_jv_j^T$ for
the weights and a vector for the biases (a rank-4 direction keeps most of the top
eigenvector's Rayleigh quotient at a few thousand numbers per layer), rebuilt by
element-wise IEEE operations (so bit for bit the same everywhere) and rounded to a
multiple of the spacing of $|\bar\theta_i| + |h_i|$, which makes $\bar\theta_i \pm h_i$
exact floats unless $|h_i|$ reaches beyond the binade of $\bar\theta_i$; the error-free
TwoSum finds those coordinates, whose $h_i$ is set to 0, so $\bar\theta \pm h$ are
exact floats (checked again), and $\|h\| \le r$ in interval arithmetic.  The
direction: float power iteration on a subsample (Hessian-vector products by central
differences of the float gradient; for cross-entropy the least confident points),
then a randomized rank-``rank`` SVD of each weight block; any direction is sound.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from symlip.arith.enclosure import Enclosure
from symlip.bounds import recursion as rec
from symlip.errors import InputError

__all__ = ["SECOND_DIFFERENCE_BUDGET", "second_difference_witness",
           "second_difference_from_witness"]

#: parameters x points up to which :func:`symlip.bounds.smooth.grad_lipschitz` adds this
#: lower bound to the read-out one where that applies (two more certified forward passes
#: over all the data and a power iteration on a subsample)
SECOND_DIFFERENCE_BUDGET = 4_000_000_000

#: the rank of each weight block's offset
DEFAULT_RANK = 4

def _up(x: Any) -> Any:
    return np.nextafter(x, np.inf)


# ------------------------------------------------------------------------------------
# the witness: low-rank offsets rebuilt exactly
# ------------------------------------------------------------------------------------


def _two_sum_err(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Knuth's TwoSum: the exact error ``(a + b) - fl(a + b)`` (no overflow)."""
    s = a + b
    bb = s - a
    return (a - (s - bb)) + (b - bb)


def _rebuild(net: Any, wit: Mapping[str, Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The offsets ``(H_k, h_k)`` of every layer from the witness's factors, rounded to
    a multiple of the spacing of $|\\bar\\theta_i| + |h_i|$ (element-wise IEEE
    operations only: the same bits on every machine)."""
    layers = wit.get("layers")
    if not isinstance(layers, list) or len(layers) != net.depth:
        raise InputError(f"a second-difference witness needs 'layers', one entry per layer "
                         f"({net.depth}), got {type(layers).__name__}")
    out = []
    for k, (layer, ent) in enumerate(zip(net.layers, layers), start=1):
        m, n = layer.weight.shape
        try:
            u = np.asarray(ent["u"], dtype=np.float64)
            v = np.asarray(ent["v"], dtype=np.float64)
            b = np.asarray(ent["bias"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed second-difference witness layer {k}: {exc}") from None
        if u.ndim != 2 or v.ndim != 2 or u.shape[0] != m or v.shape[0] != n or \
                u.shape[1] != v.shape[1] or b.shape != (m,):
            raise InputError(f"second-difference witness layer {k}: factors of shapes "
                             f"{u.shape}, {v.shape} and bias {b.shape}, expected ({m}, r), "
                             f"({n}, r) and ({m},)")
        if not (np.all(np.isfinite(u)) and np.all(np.isfinite(v)) and np.all(np.isfinite(b))):
            raise InputError(f"second-difference witness layer {k} has a non-finite value")
        H = np.zeros((m, n))
        with np.errstate(over="ignore", invalid="ignore"):
            for j in range(u.shape[1]):
                H = H + np.multiply.outer(u[:, j], v[:, j])
            parts = []
            for base, off in ((layer.weight, H), (layer.bias, b)):
                q = np.spacing(np.abs(base) + np.abs(off))
                off = np.round(off / q) * q
                # where theta_i +- h_i would still round (|h_i| beyond the binade of
                # theta_i, whose last bits are then not a multiple of q): h_i = 0
                exact = (_two_sum_err(base, off) == 0) & (_two_sum_err(base, -off) == 0)
                parts.append(np.where(exact, off, 0.0))
        if not all(np.all(np.isfinite(p)) for p in parts):
            raise InputError(f"second-difference witness layer {k}: offsets overflow")
        out.append((parts[0], parts[1]))
    return out


def _points(net: Any, offs: list[tuple[np.ndarray, np.ndarray]], r: float
            ) -> tuple[Any, Any, Enclosure]:
    """The networks at $\\bar\\theta \\pm h$ (exact: checked with TwoSum) and an enclosure
    of $\\|h\\|^2$; raises :class:`WitnessOutsideError` if $\\|h\\| > r$ may hold."""
    from mpmath import iv

    from symlip.arith.enclosure import Truth, compare
    from symlip.errors import WitnessOutsideError

    plus_w, plus_b, minus_w, minus_b = [], [], [], []
    sq_lo, sq_hi = [], []
    for layer, (H, b) in zip(net.layers, offs):
        for base, off, pl, mi in ((layer.weight, H, plus_w, minus_w),
                                  (layer.bias, b, plus_b, minus_b)):
            if np.any(_two_sum_err(base, off) != 0) or np.any(_two_sum_err(base, -off) != 0):
                raise InputError("the second-difference witness points are not exact "
                                 "floats (theta +- h rounds)")
            pl.append(base + off)
            mi.append(base - off)
            s = (off * off).ravel()
            sq_lo.append(np.nextafter(s, -np.inf))
            sq_hi.append(_up(s))
    lo = float(np.nextafter(math.fsum(np.concatenate(sq_lo).tolist()), -np.inf))
    hi = float(_up(math.fsum(np.concatenate(sq_hi).tolist())))
    h2 = Enclosure.from_interval(iv.mpf([max(lo, 0.0), hi]))
    if compare(iv.sqrt(h2.to_interval()), "<=", iv.mpf(r)) is not Truth.TRUE:
        raise WitnessOutsideError(f"gradient lower-bound witness leaves the ball of radius "
                                  f"{r!r}")
    mk = [net.with_params(np.concatenate([a.ravel() for pair in zip(ws, bs) for a in pair]))
          for ws, bs in ((plus_w, plus_b), (minus_w, minus_b))]
    return mk[0], mk[1], h2


def second_difference_from_witness(net: Any, X: np.ndarray, y: np.ndarray, loss: str,
                                   wit: Mapping[str, Any], r: float) -> Enclosure:
    r"""Enclosure of $|L(\bar\theta + h) + L(\bar\theta - h) - 2L(\bar\theta)| /
    \|h\|^2$ for the witness's $h$ (Lemma 13), whose lower end is a certified lower
    bound of the gradient-Lipschitz constant on $B_r(\bar\theta)$."""
    from mpmath import iv

    from symlip.bounds.centre import _centre_norms, frobenius_upper, loss_boxes
    from symlip.bounds.readout_lower import centre_for_readout

    offs = _rebuild(net, wit)
    plus, minus, h2 = _points(net, offs, r)
    if not h2.lower > 0:
        return Enclosure.point(0)
    cn0 = centre_for_readout(net, X)  # the cached centre pass (spectral norms certified)
    spec0 = [float(_spectral(layer.weight)) for layer in net.layers]
    spec = [float(_up(s + frobenius_upper(H))) for s, (H, _) in zip(spec0, offs)]
    boxes = []
    for cn in (_centre_norms(plus, X, spectral=spec), _centre_norms(minus, X, spectral=spec),
               cn0):
        if cn is None:
            raise InputError("the second-difference lower bound needs a vectorised "
                             "activation kernel")
        boxes.append(loss_boxes(cn, y, rec._loss_name(loss)))
    d = (boxes[0] + boxes[1] - boxes[2] * 2.0).mean().to_interval()
    lo, hi = float(d.a), float(d.b)
    absd = iv.mpf([lo if lo > 0 else (-hi if hi < 0 else 0.0), max(abs(lo), abs(hi))])
    return Enclosure.from_interval(absd / h2.to_interval())


def _spectral(w: np.ndarray) -> float:
    from symlip.bounds.centre import spectral_upper

    return spectral_upper(w)[0].upper_float


# ------------------------------------------------------------------------------------
# the direction (float, any direction is sound)
# ------------------------------------------------------------------------------------


def _top_direction(net: Any, X: np.ndarray, y: np.ndarray, loss: str, gradient: Any, *,
                   seed: int, iters: int, points: int) -> np.ndarray:
    """Float top eigenvector of the Hessian of the mean loss over a subsample of
    ``points`` rows (power iteration, central differences of the float gradient
    ``gradient(net, X, y, loss)``)."""
    rng = np.random.default_rng(seed)
    if X.shape[0] > points:
        # cross-entropy: the Hessian of a confident point is about p (1 - p), small, so
        # the points with the most probability off the top class carry the top
        # direction (on a digits-trained MLP: 4.70 against 3.3-4.4 from random
        # subsamples, the full Hessian's 4.71); MSE: a random subsample (the
        # Gauss-Newton part weighs every point alike)
        if rec._loss_name(loss) == "mse":
            sel = np.sort(rng.choice(X.shape[0], points, replace=False))
        else:
            f = net.forward(X)
            e = np.exp(f - f.max(axis=1, keepdims=True))
            weight = 1 - e.max(axis=1) / e.sum(axis=1) + 1e-12 * rng.random(X.shape[0])
            sel = np.sort(np.argsort(-weight)[:points])
        X, y = X[sel], y[sel]
    theta = net.params()
    eps = 1e-5 * max(1.0, float(np.linalg.norm(theta))) / max(1.0, math.sqrt(theta.size))
    v = rng.standard_normal(theta.size)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(iters):
        w = (gradient(net.with_params(theta + eps * v), X, y, loss)
             - gradient(net.with_params(theta - eps * v), X, y, loss)) / (2 * eps)
        new = float(np.linalg.norm(w))
        if not new > 0 or not math.isfinite(new):
            break
        v = w / new
        if abs(new - lam) <= 1e-4 * new:
            break
        lam = new
    return v


def _low_rank(B: np.ndarray, rank: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """Factors ``(u, v)`` of a rank-``rank`` approximation ``u @ v.T`` of ``B``
    (randomized range finder with one power step, then a small SVD)."""
    m, n = B.shape
    k = min(rank, m, n)
    if min(m, n) <= rank + 8:
        U, s, Vt = np.linalg.svd(B, full_matrices=False)
        return U[:, :k] * s[:k], Vt[:k].T
    Q, _ = np.linalg.qr(B @ rng.standard_normal((n, k + 8)))
    Q, _ = np.linalg.qr(B @ (B.T @ Q))
    U, s, Vt = np.linalg.svd(Q.T @ B, full_matrices=False)
    return (Q @ U[:, :k]) * s[:k], Vt[:k].T


def second_difference_witness(net: Any, X: np.ndarray, y: np.ndarray, loss: str, r: float,
                              gradient: Any, *, seed: int = 0, rank: int = DEFAULT_RANK,
                              iters: int = 20, points: int = 128) -> dict[str, Any]:
    r"""The witness of Lemma 13 (``method: "second_difference"``): $h$ of norm just
    below $r$ along a rank-``rank`` (per weight block) approximation of the top
    eigenvector of the subsample Hessian; ``gradient(net, X, y, loss)``: the float
    gradient of the mean loss (:func:`symlip.bounds.smooth.loss_gradient`)."""
    v = _top_direction(net, X, y, loss, gradient, seed=seed, iters=iters, points=points)
    rng = np.random.default_rng(seed + 1)
    parts, start = [], 0
    for layer in net.layers:
        m, n = layer.weight.shape
        B = v[start:start + m * n].reshape(m, n)
        b = v[start + m * n:start + m * n + m]
        start += m * n + m
        u, w = _low_rank(B, rank, rng)
        parts.append((u, w, b))
    # the norm of the rebuilt offset, then the scale that puts it just inside the ball
    sq = sum(float(np.sum((u @ w.T) ** 2) + np.sum(b * b)) for u, w, b in parts)
    scale = r * (1 - 1e-6) / math.sqrt(sq) if sq > 0 else 0.0
    s = math.sqrt(scale)
    return {"kind": "gradient_difference_quotient", "method": "second_difference",
            "layers": [{"u": (u * s).tolist(), "v": (w * s).tolist(),
                        "bias": (b * scale).tolist()} for u, w, b in parts]}
