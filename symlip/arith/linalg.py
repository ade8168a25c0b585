r"""Certified float64 linear algebra on boxes: products with rigorous rounding-error terms.

Every function returns an enclosure of the exact real result (the inputs are the doubles
they are), with every float operation on a bound rounded the safe way (``nextafter``
after a correctly rounded operation).  The error model is Higham's, *Accuracy and
Stability of Numerical Algorithms*, (3.5), with underflow: a dot product of $k$ terms
evaluated in any order (BLAS, with or without FMA) has
$|\mathrm{fl}(x^\top y) - x^\top y| \le \gamma_k |x|^\top|y| + k\eta$,
$\gamma_k = ku/(1 - ku)$, $u = 2^{-53}$, $\eta = 2^{-1074}$.  The proofs are Lemmas
I.1 and I.2 of ``docs/intervals.md``.

* :func:`affine_box` — the image $\{Wv + b : v \in [l, h]\}$ of a box (a batch of boxes)
  under an affine map with point weights (Lemma A.1).  The one enclosure of a layer's
  affine map on a box: interval forward passes, local bounds and the controlled-ODE
  Euler steps all call it.
* :func:`midrad_matmul` — the product of two interval matrices in midpoint-radius form
  (Lemma A.2), with :func:`midrad_add`, :func:`midrad_row_scale` and the conversions
  :func:`to_midrad` / :func:`from_midrad`.
* :func:`psd_exact` — positive semidefiniteness of a rational matrix, decided exactly.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Any

import numpy as np

from symlip.arith.array import IntervalArray
from symlip.errors import InputError

__all__ = [
    "ETA",
    "RAD_FLOOR",
    "U",
    "affine_box",
    "down",
    "from_midrad",
    "gamma",
    "midrad_add",
    "midrad_matmul",
    "midrad_row_scale",
    "overflow_is_input_error",
    "psd_exact",
    "to_midrad",
    "up",
]

#: unit roundoff of binary64 (round to nearest)
U = 2.0**-53
#: the smallest subnormal: bounds the underflow error of a product (``2 eta`` of Higham)
ETA = 2.0**-1074
#: smallest radius kept by the midpoint-radius functions (a larger radius is still an
#: enclosure): keeps subnormal numbers, very slow on x86, out of the radius arrays
RAD_FLOOR = 2.0**-500


def up(a: Any) -> Any:
    """The next double above ``a``: an upper bound of the exact result of the one
    correctly rounded operation that produced ``a`` (also when subnormal or infinite)."""
    return np.nextafter(a, np.inf)


def down(a: Any) -> Any:
    """The next double below ``a`` (see :func:`up`)."""
    return np.nextafter(a, -np.inf)


def gamma(n: int) -> float:
    r"""An upper bound of $\gamma_n = nu/(1 - nu)$, rounded up.

    Raises:
        ValueError: $nu \ge 1/4$ (beyond the error analysis; needs ~10^15 terms).
    """
    nu = n * U
    if nu >= 0.25:
        raise ValueError(f"dimension {n} too large for the float64 error bound")
    return float(up(up(nu) / (1.0 - nu) * (1 + 4 * U)))


def overflow_is_input_error(fn: Any) -> Any:
    """Decorator for float64 passes with a priori error bounds: an overflow (weights or
    data near 1e300) would turn the error bounds into inf - inf; it is reported as an
    :class:`~symlip.errors.InputError` instead of a NumPy warning or a NaN."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            with np.errstate(over="raise", invalid="raise"):
                return fn(*args, **kwargs)
        except FloatingPointError as exc:
            raise InputError(f"the float64 pass with error bounds overflowed ({exc}): "
                             "weights or data too large for it (near 1e300)") from None

    return wrapped


# ------------------------------------------------------------------------------------
# the affine image of a box (Lemma A.1)
# ------------------------------------------------------------------------------------


def affine_box(W: np.ndarray, b: np.ndarray | None, a: IntervalArray) -> IntervalArray:
    r"""Enclosure of $\{Wv + b : v \in [lo, hi]\}$ for each box (row) of ``a``.

    ``a`` has shape ``(n,)`` (one box) or ``(batch, n)`` (one box per row); ``W`` is
    ``(p, n)``, ``b`` is ``(p,)`` or ``None`` (no bias).  Lemma A.1 of
    ``docs/intervals.md``: with $m = \mathrm{fl}(lo/2 + hi/2)$ and $\rho \ge |v - m|$
    rounded up, the exact $Wv + b$ lies in $\hat z \pm R$ where
    $\hat z = \mathrm{fl}(\mathrm{fl}(Wm) + b)$ (BLAS, any order) and
    $R = \big(\mathrm{fl}(|W|\,t) + 2n\eta\big)(1 + 2nu) + u|\hat z|$,
    $t \ge \rho + \gamma_n|m|$ ($t = 0$ where $lo = hi = 0$, exactly); every operation
    on $R$ is rounded up and the ends
    $\hat z \mp R$ one ulp outward.  For a point ($lo = hi$) the width is the
    rounding-error term $\approx 2(\gamma_n|W||m| + u|\hat z|)$ alone.

    Two matrix products of inner dimension $n$ per call (BLAS speed).

    Raises:
        InputError: an infinite box end, or a result beyond float64.
    """
    lo, hi = np.asarray(a.lo, dtype=np.float64), np.asarray(a.hi, dtype=np.float64)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise InputError("interval propagation overflowed float64 (a layer's input box is "
                         "unbounded)")
    W = np.asarray(W, dtype=np.float64)
    n = W.shape[1]
    g = gamma(n)  # raises beyond ~10^15 inputs
    with np.errstate(over="ignore", invalid="ignore"):
        m = 0.5 * lo + 0.5 * hi
        rho = up(np.maximum(hi - m, m - lo))  # each difference one rounding: up bounds it
        t = up(rho + up(g * np.abs(m)))
        # a coordinate fixed at exactly 0 (lo = hi = 0: m, rho and g|m| are exact zeros)
        # contributes nothing; up() would make it the smallest subnormal, and subnormal
        # operands slow BLAS down about 15x (images: most pixels are 0)
        t[(lo == 0.0) & (hi == 0.0)] = 0.0
        zc = m @ W.T
        grow = float(up(1.0 + up(2.0 * n * U)))
        R = up(up(t @ np.abs(W).T + 2 * n * ETA) * grow)
        if b is not None:
            zc = zc + np.asarray(b, dtype=np.float64)  # one rounding: <= u |zc|
            R = up(R + up(U * np.abs(zc)))
        out_lo = down(zc - R)
        out_hi = up(zc + R)
    if not (np.all(np.isfinite(out_lo)) and np.all(np.isfinite(out_hi))):
        raise InputError("interval propagation overflowed float64 (a layer's output box)")
    return IntervalArray(out_lo, out_hi)


# ------------------------------------------------------------------------------------
# midpoint-radius products of interval matrices (Lemma A.2)
# ------------------------------------------------------------------------------------


@overflow_is_input_error
def midrad_matmul(am: np.ndarray, ar: np.ndarray | None, bm: np.ndarray,
                  br: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    r"""Midpoint-radius enclosure of a product of interval matrices (Lemma A.2).

    For every real $A$ with $|A - a_m| \le a_r$ and $B$ with $|B - b_m| \le b_r$
    (entrywise; ``None`` = 0), $|AB - C| \le R$ entrywise for the returned ``(C, R)``.

    Proof: $AB - a_m b_m = a_m(B - b_m) + (A - a_m)B$, so $|AB - a_m b_m| \le
    |a_m| b_r + a_r(|b_m| + b_r)$; $C = \mathrm{fl}(a_m b_m)$ (BLAS, any order, FMA or
    not) has $|C - a_m b_m| \le \gamma_k|a_m||b_m| + k\eta$ (inner dimension $k$).
    Both radius terms are one nonnegative product
    $S = [|a_m|, a_r]\,[\gamma_k|b_m| + b_r;\ |b_m| + b_r]$ (inner dimension
    $k' \le 2k$, factors rounded up), whose exact value is at most
    $(\mathrm{fl}(S) + k'\eta)(1 + 2k'u)$ since $\gamma_{k'}/(1 - \gamma_{k'}) \le 2k'u$
    for $k'u \le 1/4$.  Every float operation on radii is rounded up.
    """
    k = am.shape[-1]
    g = gamma(k)
    mid = am @ bm
    absbm = np.abs(bm)
    left = up(up(absbm * g) + br) if br is not None else up(absbm * g)
    if ar is None:
        S = np.abs(am) @ left
        k2 = k
    else:
        right = up(absbm + br) if br is not None else absbm
        S = np.concatenate([np.abs(am), ar], axis=-1) @ np.concatenate([left, right], axis=0)
        k2 = 2 * k
    grow = float(up(1.0 + 2.0 * up(k2 * U)))
    rad = up(up(up(S + k2 * ETA) * grow) + 2 * k * ETA)
    return mid, np.maximum(rad, RAD_FLOOR)


def midrad_row_scale(zm: np.ndarray, zr: np.ndarray | None,
                     d: IntervalArray) -> tuple[np.ndarray, np.ndarray]:
    r"""Midpoint-radius enclosure of $\operatorname{diag}(d)\,Z$ for every real $Z$ with
    $|Z - z_m| \le z_r$ and every $d$ in the interval vector ``d`` (one per row).

    With $d \in [d_m \pm d_r]$: $|dZ - d_m z_m| \le |z_m| d_r + z_r(|d_m| + d_r)$, and
    $\mathrm{fl}(z_m d_m)$ errs by at most $u|\mathrm{fl}(z_m d_m)| + \eta$
    ($\mathrm{fl}(x) = x/(1 + \delta)$, $|\delta| \le u$); radii rounded up.
    """
    dmid, drad = to_midrad(d)
    dm = zm * dmid[:, None]
    zr = np.zeros_like(zm) if zr is None else zr
    dr = up(up(up(np.abs(zm) * drad[:, None])
               + up(zr * up(np.abs(dmid) + drad)[:, None]))
            + up(up(np.abs(dm) * U) + ETA))
    return dm, np.maximum(dr, RAD_FLOOR)


def midrad_add(am: np.ndarray, ar: np.ndarray, bm: np.ndarray,
               br: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Midpoint-radius enclosure of $A + B$: $\mathrm{fl}(a_m + b_m)$ errs by at most
    $u|\mathrm{fl}(a_m + b_m)|$ (a sum never underflows inexactly); radii rounded up."""
    mid = am + bm
    return mid, up(up(ar + br) + up(np.abs(mid) * U))


def from_midrad(mid: np.ndarray, rad: np.ndarray) -> IntervalArray:
    """The interval array ``[mid - rad, mid + rad]``, ends rounded outward."""
    return IntervalArray(down(mid - rad), up(mid + rad))


def to_midrad(a: IntervalArray) -> tuple[np.ndarray, np.ndarray]:
    """``(mid, rad)`` with ``[a.lo, a.hi]`` inside ``[mid - rad, mid + rad]`` (exactly)."""
    mid = 0.5 * a.lo + 0.5 * a.hi  # any float inside [lo, hi] will do
    mid = np.minimum(np.maximum(mid, a.lo), a.hi)
    rad = np.maximum(up(a.hi - mid), up(mid - a.lo))
    return mid, np.maximum(rad, RAD_FLOOR)


# ------------------------------------------------------------------------------------
# exact rational linear algebra
# ------------------------------------------------------------------------------------


def psd_exact(S: list[list[Fraction]]) -> bool:
    """Exact test of positive semidefiniteness of a symmetric rational matrix
    (symmetric LDL^T with diagonal pivoting, in Fractions: no rounding)."""
    A = [row[:] for row in S]
    n = len(A)
    idx = list(range(n))
    while idx:
        p = max(idx, key=lambda i: A[i][i])
        d = A[p][p]
        if d < 0:
            return False
        if d == 0:
            return all(A[i][j] == 0 for i in idx for j in idx)
        idx.remove(p)
        for i in idx:
            f = A[i][p] / d
            if f:
                for j in idx:
                    A[i][j] -= f * A[p][j]
    return True
