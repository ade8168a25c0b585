r"""1-Lipschitz linear layers (Björck-Bowie, spectral normalisation) and their certification.

In floating point these maps make a weight matrix only *approximately* 1-Lipschitz.
What proves a layer (or a network) 1-Lipschitz is a certified upper bound of
$\|W\|_2$ (:func:`symlip.arith.norms.spectral_norm`, tightened here by an exact rational
semidefiniteness test when the matrix is small and its norm is a short binary number,
:func:`tight_spectral_norm`), and for a network the product bound
$\prod_k \|W_k\|_2 \prod_k K_{1,k}$ of :func:`symlip.bounds.input.input_lipschitz`
with the verdict of :func:`symlip.arith.verdict.lipschitz_verdict`
(:func:`certify_lipschitz_network`).

* :func:`bjorck_orthonormalize` — $W \leftarrow (1 + \beta) W - \beta W W^\top W$
  ($\beta = 1/2$: $\tfrac32 W - \tfrac12 W W^\top W$, the first-order Björck-Bowie step;
  higher orders use the binomial series of $(W^\top W)^{-1/2}$), as in the code of
  Ducotterd et al. (15 iterations; 25 for Wasserstein).
* :func:`spectral_normalize` — divide by a power-iteration estimate (float, not certified).
* :func:`certified_spectral_normalize` — divide by a certified upper bound (slightly
  enlarged) and *verify* the result: its certified $\|\cdot\|_2$ is $\le 1$.
* :func:`layer_epsilon` — the certified $\varepsilon = \max(0, \overline{\|W\|_2} - 1)$.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from symlip.arith.enclosure import (
    Enclosure,
    Truth,
    compare,
    outward_decimal,
    working_precision,
)
from symlip.arith.linalg import psd_exact
from symlip.errors import InputError
from symlip.symbolic.formula import Formula
from symlip.symbolic.symbols import rho

__all__ = [
    "bjorck_orthonormalize",
    "spectral_normalize",
    "certified_spectral_normalize",
    "certify_spectral_norm_le",
    "tight_spectral_norm",
    "layer_epsilon",
    "certify_lipschitz_network",
]

#: largest min(m, n) for which the exact rational semidefiniteness test is attempted
EXACT_TEST_MAX_DIM = 32


def _matrix(W: Any, name: str = "W", dtype: Any = None) -> np.ndarray:
    from symlip.models.network import check_real_array

    a = check_real_array(W, name)
    if a.ndim != 2 or 0 in a.shape:
        raise InputError(f"{name} must be a non-empty 2-D array, got shape {a.shape}")
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise InputError(f"dtype={dtype!r} must be float32 or float64")
        return a.astype(dt)
    src = np.asarray(W).dtype
    return a.astype(np.float32) if src == np.float32 else a


def bjorck_orthonormalize(W: Any, beta: float = 0.5, iters: int = 15, order: int = 1, *,
                          scaling: str = "auto", dtype: Any = None) -> np.ndarray:
    r"""Björck-Bowie orthonormalisation (floating point; the result is *not* certified).

    Order 1: $W \leftarrow (1+\beta) W - \beta\, W (W^\top W)$.  Order $p > 1$:
    $W \leftarrow W \sum_{j=0}^{p} \binom{-1/2}{j} (W^\top W - I)^j$ (``beta`` unused).
    The iteration maps each singular value $s$ to $\tfrac32 s - \tfrac12 s^3$ ($\beta =
    1/2$), which converges to 1 for $0 < s < \sqrt 3$ and never exceeds 1 from
    $s \le 1$; so in exact arithmetic a start with $\|W\|_2 \le 1$ stays 1-Lipschitz.
    Rounding errors make $\|W\|_2 = 1 + O(u)$: certify with :func:`layer_epsilon`.

    Args:
        W: 2-D array (any shape; the Gram matrix is formed on the smaller side).
        beta: step parameter of the order-1 iteration (0.5 in the paper's code).
        iters: number of iterations (15 in the paper; 25 for Wasserstein).
        order: order of the series (1 = the paper's iteration).
        scaling: ``"auto"`` (the default: divide by $\min(\|W\|_F,
            \sqrt{\|W\|_1\|W\|_\infty})$, two cheap upper bounds of $\|W\|_2$ —
            Hölder: $\|W\|_2^2 \le \|W\|_1\|W\|_\infty$ — so the start has
            $\|W\|_2 \le 1$ up to rounding and the iteration converges),
            ``"none"`` (the paper's code: only safe when $\|W\|_2 < \sqrt 3$),
            ``"frobenius"`` (divide by $\|W\|_F$) or ``"default"`` (divide by
            $\sqrt{mn}$).
        dtype: ``float32`` / ``float64``; default: float32 input stays float32, other
            inputs are float64.  All arithmetic runs in this type.

    Returns:
        The iterate, same shape, in ``dtype``.

    Raises:
        InputError: bad shapes/values, ``iters < 0``, ``order < 1``, unknown scaling.

    Examples:
        >>> W = bjorck_orthonormalize(np.array([[0.6, 0.0], [0.0, 0.9]]), iters=30)
        >>> np.allclose(W, np.eye(2))
        True
    """
    a = _matrix(W, "W", dtype)
    if not isinstance(iters, (int, np.integer)) or iters < 0:
        raise InputError(f"{iters=} must be an integer >= 0")
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise InputError(f"{order=} must be an integer >= 1")
    if not (isinstance(beta, (int, float)) and math.isfinite(beta)):
        raise InputError(f"{beta=} must be a finite number")
    dt = a.dtype.type
    if scaling == "auto":
        a64 = np.abs(a.astype(np.float64))
        n = min(float(np.linalg.norm(a64)),
                math.sqrt(float(a64.sum(axis=0).max(initial=0.0))
                          * float(a64.sum(axis=1).max(initial=0.0))))
        if n > 0:
            a = (a / dt(n)).astype(a.dtype)
    elif scaling == "frobenius":
        n = float(np.linalg.norm(a))
        if n > 0:
            a = (a / dt(n)).astype(a.dtype)
    elif scaling == "default":
        a = (a / dt(math.sqrt(a.shape[0] * a.shape[1]))).astype(a.dtype)
    elif scaling != "none":
        raise InputError(f"{scaling=} must be 'auto', 'none', 'frobenius' or 'default'")
    tall = a.shape[0] >= a.shape[1]
    b = dt(beta)
    coeffs = [dt(_binom_half(j)) for j in range(order + 1)]
    with np.errstate(over="ignore", invalid="ignore"):
        a = _iterate(a, dt, b, coeffs, int(iters), order, tall)
    return a


def _iterate(a: np.ndarray, dt: Any, b: Any, coeffs: list[Any], iters: int, order: int,
             tall: bool) -> np.ndarray:
    for _ in range(iters):
        if order == 1:
            if tall:
                a = (dt(1) + b) * a - b * (a @ (a.T @ a))
            else:
                a = (dt(1) + b) * a - b * ((a @ a.T) @ a)
        else:
            if tall:
                Q = a.T @ a - np.eye(a.shape[1], dtype=a.dtype)
                S = _series(Q, coeffs)
                a = a @ S
            else:
                Q = a @ a.T - np.eye(a.shape[0], dtype=a.dtype)
                S = _series(Q, coeffs)
                a = S @ a
        if not np.all(np.isfinite(a)):
            raise InputError("Björck iteration diverged (||W||_2 too large: scale W first, "
                             "e.g. scaling='auto')")
    return a


def _binom_half(j: int) -> float:
    """$\\binom{-1/2}{j}$."""
    out = Fraction(1)
    for i in range(j):
        out *= (Fraction(-1, 2) - i) / (i + 1)
    return float(out)


def _series(Q: np.ndarray, coeffs: list[Any]) -> np.ndarray:
    S = coeffs[-1] * np.eye(Q.shape[0], dtype=Q.dtype)
    for cj in reversed(coeffs[:-1]):
        S = S @ Q + cj * np.eye(Q.shape[0], dtype=Q.dtype)
    return S


def spectral_normalize(W: Any, iters: int = 100, seed: int = 0) -> np.ndarray:
    """Divide ``W`` by a power-iteration estimate of $\\|W\\|_2$ (float64, **not
    certified**: the result's norm may exceed 1 by the estimate's error).

    Examples:
        >>> bool(abs(np.linalg.norm(spectral_normalize(np.diag([2.0, 1.0])), 2) - 1) < 1e-12)
        True
    """
    a = _matrix(W, "W", np.float64)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(a.shape[1])
    s = 0.0
    for _ in range(int(iters)):
        u = a @ v
        nu = np.linalg.norm(u)
        if nu == 0:
            return a.copy()
        v = a.T @ (u / nu)
        s = float(np.linalg.norm(v))
        v = v / s
    return a / s


def certified_spectral_normalize(W: Any) -> tuple[np.ndarray, Enclosure]:
    r"""Scale ``W`` so that its certified spectral norm is $\le 1$.

    $Q = \mathrm{fl}(W / d)$ with $d$ the certified upper bound of $\|W\|_2$ enlarged by
    a relative margin $\mu$ (starting at $2^{-50}$): each entry is rounded to nearest,
    so $Q = (W/d) \circ (1 + \delta)$, $|\delta| \le u$, which alone does not prove
    $\|Q\|_2 \le 1$; therefore $\|Q\|_2$ is *certified again* and the margin is
    multiplied by 16 until the certified upper end is $\le 1$.

    Returns:
        ``(Q, enclosure of ||Q||_2)`` with ``enclosure.upper <= 1``.

    Examples:
        >>> Q, e = certified_spectral_normalize(np.array([[3.0, 4.0]]))
        >>> e.upper <= 1 and e.lower > 0.999999
        True
    """
    from symlip.arith.norms import spectral_norm

    a = _matrix(W, "W", np.float64)
    s = spectral_norm(a)
    if s.upper == 0:
        return a.copy(), s
    mu = 2.0**-50
    for _ in range(20):
        with mpmath.workprec(80):
            d = float(mpmath.fmul(s.upper, 1 + mu, rounding="c"))
        d = math.nextafter(d, math.inf)
        q = a / d
        e = tight_spectral_norm(q)
        if compare(e.upper, "<=", 1) is Truth.TRUE:
            return q, e
        mu *= 16
    raise InputError("could not certify ||W / d||_2 <= 1")  # pragma: no cover


def certify_spectral_norm_le(W: Any, t: Any) -> Truth:
    r"""Decide $\|W\|_2 \le t$ *exactly* (small matrices): $t^2 I - W^\top W \succeq 0$
    in rational arithmetic (Gram matrix on the smaller side).  ``TRUE`` / ``FALSE`` are
    exact; ``UNDECIDED`` when the matrix is too large (> :data:`EXACT_TEST_MAX_DIM`).

    Examples:
        >>> certify_spectral_norm_le(np.array([[0.0, 1.0], [1.0, 0.0]]), 1)
        <Truth.TRUE: 'true'>
    """
    a = _matrix(W, "W", np.float64)
    if a.shape[0] < a.shape[1]:
        a = a.T
    p = a.shape[1]
    if p > EXACT_TEST_MAX_DIM or a.shape[0] > 16 * EXACT_TEST_MAX_DIM:
        return Truth.UNDECIDED
    tf = Fraction(t)
    # exact Gram matrix in integers: W = M 2^e with M an integer matrix
    nz = a[a != 0]
    e = min((math.frexp(float(v))[1] - 53 for v in nz), default=0)
    M = np.array([[int(Fraction(float(v)) / Fraction(2) ** e) for v in row] for row in a],
                 dtype=object)
    Gi = M.T.dot(M)
    scale = Fraction(2) ** (2 * e)
    S = [[(tf * tf if i == j else Fraction(0)) - scale * int(Gi[i, j]) for j in range(p)]
         for i in range(p)]
    return Truth.TRUE if psd_exact(S) else Truth.FALSE


def tight_spectral_norm(W: Any) -> Enclosure:
    r"""Certified enclosure of $\|W\|_2$: :func:`symlip.arith.norms.spectral_norm`, with the
    upper end lowered to $t$ when an exact test proves $\|W\|_2 \le t$ for the short
    binary number $t$ nearest the enclosure (30 significant bits) — e.g. $t = 1$ for a
    permutation or a scaled Hadamard matrix, whose floating-point enclosure is
    $[1, 1 + 10^{-15}]$ and could never certify a product $\le 1$.

    Examples:
        >>> tight_spectral_norm(np.eye(3)[[2, 0, 1]]).upper == 1
        True
    """
    from symlip.arith.norms import spectral_norm

    a = _matrix(W, "W", np.float64)
    e = spectral_norm(a)
    if not e.is_finite or e.upper == e.lower or min(a.shape) > EXACT_TEST_MAX_DIM:
        return e
    mid = (e.lower + e.upper) / 2
    m, ex = math.frexp(float(mid))
    t = Fraction(round(m * 2**30)) * Fraction(2) ** (ex - 30)
    if Fraction(t) < _q(e.lower) or Fraction(t) >= _q(e.upper):
        return e
    if certify_spectral_norm_le(a, t) is Truth.TRUE:
        return Enclosure(e.lower, _frac_mpf(t))
    return e


def _q(x: mpmath.mpf) -> Fraction:
    from symlip.arith.enclosure import mpf_to_fraction

    return mpf_to_fraction(x)


def _frac_mpf(t: Fraction) -> mpmath.mpf:
    # t = odd * 2^k exactly: a short binary number, exact as an mpf
    num, den = t.numerator, t.denominator
    k = den.bit_length() - 1
    assert den == 1 << k
    return mpmath.ldexp(mpmath.mpf(num), -k)


#: $\varepsilon = \rho - 1$: a layer with $\|W\|_2 \le \rho$ is $(1 + \varepsilon)$-Lipschitz
EPSILON = Formula(rho("k") - 1, [rho("k")], name="epsilon_k")


def epsilon_enclosure(norm: Enclosure) -> Enclosure:
    r""":data:`EPSILON` on an enclosure of $\|W_k\|_2$, by the interval compiler (256-bit
    outward rounding: exact for the short binary numbers of certified norms)."""
    with working_precision(256):
        return EPSILON.enclose({"rho_k": norm})


def layer_epsilon(W: Any) -> dict[str, Any]:
    r"""How far a layer is from 1-Lipschitz, certified.

    Returns:
        ``{"norm": Enclosure of ||W||_2, "epsilon_upper": str, "epsilon_lower": str,
        "one_lipschitz": "certified" | "refuted" | "refuted (exact test)" |
        "undecided"}`` where
        ``epsilon_upper`` $= \max(0, \overline{\|W\|_2} - 1)$ rounded up (the layer is
        $(1 + \varepsilon)$-Lipschitz) and ``epsilon_lower`` $= \underline{\|W\|_2} - 1$
        rounded down (if $> 0$ the layer is certainly *not* 1-Lipschitz).  When the
        enclosure straddles 1, :func:`certify_spectral_norm_le` decides exactly (small
        matrices): "refuted (exact test)" means $\|W\|_2 > 1$ exactly, by less than
        the enclosure's width.
    """
    e = tight_spectral_norm(W)
    one = Enclosure.point(1)
    eps = epsilon_enclosure(e)
    up, lo = eps.upper, eps.lower
    if compare(e.upper, "<=", one) is Truth.TRUE:
        verdict = "certified"
    elif compare(e.lower, ">", one) is Truth.TRUE:
        verdict = "refuted"
    else:
        # the enclosure straddles 1: decide exactly when the matrix is small
        exact = certify_spectral_norm_le(W, 1)
        verdict = {Truth.TRUE: "certified", Truth.FALSE: "refuted (exact test)"}.get(
            exact, "undecided")
    return {"norm": e, "epsilon_upper": outward_decimal(max(up, 0), 6, up=True),
            "epsilon_lower": outward_decimal(lo, 6, up=False), "one_lipschitz": verdict}


def certify_lipschitz_network(net: Any, target: float = 1.0, data: Any = None, *,
                              seed: int = 0) -> Any:
    r"""Certified input-Lipschitz bound of a network and the verdict ``Lip <= target``.

    The bound is :func:`symlip.bounds.input.input_lipschitz` (product of certified
    per-layer spectral norms — :func:`tight_spectral_norm` — and certified activation
    constants, e.g. the exact max slope of a :class:`~symlip.activations.spline.LinearSpline`); the
    verdict (:func:`symlip.arith.verdict.lipschitz_verdict`) is ``certified-<t>-lipschitz``
    when the certified upper bound is $\le t$, ``refuted`` when the certified lower
    bound (an interval difference quotient) exceeds $t$, else ``undecided`` with the
    margin (upper minus target, rounded up).

    Returns:
        The :class:`~symlip.bounds.result.BoundResult`, with ``extra`` holding ``verdict``,
        ``target`` and ``margin``, and ``per_layer[k]["epsilon_upper"]``.
    """
    from symlip.arith.verdict import lipschitz_verdict
    from symlip.bounds.input import input_lipschitz

    res = input_lipschitz(net, data, seed=seed)
    res.extra.update(lipschitz_verdict(res, target))
    for k, _layer in enumerate(net.layers, start=1):
        up = epsilon_enclosure(res.inputs[str(rho(k))]).upper
        res.per_layer[k - 1]["epsilon_upper"] = outward_decimal(max(up, 0), 6, up=True)
    return res
