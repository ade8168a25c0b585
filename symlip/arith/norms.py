r"""Certified matrix norms at BLAS speed: $\|W\|_2$, $\|W\|_F$, $\|W\|_1$, $\|W\|_\infty$.

Every function returns an :class:`~symlip.arith.enclosure.Enclosure` ``[lower, upper]`` that
contains the exact real norm of the matrix; ``upper`` is a certified upper bound and
``lower`` a certified lower bound.  The heavy work is done by ordinary floating-point
BLAS/LAPACK calls (Gram matrix, symmetric eigenvalue estimate, Cholesky); what makes the
result rigorous is an *a-priori rounding error bound* for each of those calls, added on
top of the floating-point result in exact rational arithmetic (:class:`fractions.Fraction`),
and square roots taken with directed rounding.  The error analysis, with all formulas,
is in ``docs/norms.md``; the docstrings below state each theorem used.

Assumptions (stated once, relied on by every function here):

* IEEE-754 binary64 arithmetic, rounding to nearest, gradual underflow (no
  flush-to-zero / denormals-are-zero; :func:`_check_fp_environment` tests this once).
  Unit roundoff $u = 2^{-53}$, $\gamma_n = nu/(1-nu)$; an operation that underflows
  makes an absolute error of at most $\eta = 2^{-1075}$ (half the smallest subnormal).
* BLAS/LAPACK implement the *classical* algorithms: every entry of a matrix product,
  and every entry of the Cholesky factor, is computed from the standard inner-product
  formula with the additions done in *any* order (blocking, threads, SIMD lanes), with
  or without fused multiply-add, and a division possibly done as multiplication by a
  computed reciprocal.  The $\gamma_n$ bounds used hold for any such order.  Strassen-type
  fast multiplication is *not* covered (OpenBLAS, MKL, BLIS and Accelerate do not use it
  for ``dgemm``/``dsyrk``).
* Inputs are converted exactly to float64 (float16/float32 are subsets of float64;
  integer arrays are accepted only when every entry converts exactly).

A 1-D array is rejected (:class:`~symlip.errors.InputError`): a vector has no single
"matrix norm" convention (column and row differ for ``norm_1``/``norm_inf``); pass
``v.reshape(-1, 1)`` or ``v.reshape(1, -1)``.  Empty and all-zero matrices give ``[0, 0]``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
from mpmath.libmp import from_rational, round_ceiling, round_floor

from symlip.arith.enclosure import Enclosure
from symlip.errors import InputError

__all__ = [
    "frobenius_norm",
    "norm_1",
    "norm_inf",
    "spectral_norm",
    "spectral_norm_fast",
    "spectral_norm_upper",
]

_mk = mpmath.mp.make_mpf

#: unit roundoff of binary64 (round to nearest)
_U = Fraction(1, 1 << 53)
#: largest absolute error of one rounding that underflows (half the smallest subnormal)
_ETA = Fraction(1, 1 << 1075)
#: binary precision of the endpoints returned (rounded outward)
_PREC = 80
#: at most this many entries are summed exactly (math.fsum) by norm_1 / norm_inf
_EXACT_SUM_BUDGET = 1 << 22


# ----------------------------------------------------------------------------------
# exact scalar helpers
# ----------------------------------------------------------------------------------


def _gamma(n: int) -> Fraction:
    r"""$\gamma_n = nu/(1-nu)$ exactly, $u = 2^{-53}$ (0 for $n \le 0$)."""
    if n <= 0:
        return Fraction(0)
    nu = n * _U
    if nu >= Fraction(1, 4):
        raise InputError(f"dimension {n=} is too large for the rounding-error bounds (n*u >= 1/4)")
    return nu / (1 - nu)


def _q(x: float) -> Fraction:
    """The double ``x`` as an exact fraction."""
    return Fraction(float(x))


def _sqrt_q(q: Fraction, up: bool, bits: int = 96) -> Fraction:
    """A rational lower (``up=False``) or upper bound of sqrt(q), relative accuracy 2^-bits."""
    if q <= 0:
        return Fraction(0)
    a, b = q.numerator, q.denominator
    n = a * b  # sqrt(a/b) = sqrt(a*b)/b
    s = max(0, (2 * bits - n.bit_length()) // 2 + 1)
    n <<= 2 * s
    r = math.isqrt(n)
    if up and r * r != n:
        r += 1
    return Fraction(r, b << s)


def _to_mpf(q: Fraction, up: bool) -> mpmath.mpf:
    """``q`` rounded to ``_PREC`` bits towards +inf (``up``) or -inf, as an exact mpf."""
    rnd = round_ceiling if up else round_floor
    return _mk(from_rational(q.numerator, q.denominator, _PREC, rnd))


def _enclosure(lo: Fraction, hi: Fraction) -> Enclosure:
    return Enclosure(_to_mpf(max(lo, Fraction(0)), up=False), _to_mpf(hi, up=True))


def _down(x: float) -> float:
    return math.nextafter(x, -math.inf)


def _up(x: float) -> float:
    return math.nextafter(x, math.inf)


# ----------------------------------------------------------------------------------
# input checking and exact power-of-two scaling
# ----------------------------------------------------------------------------------


def _as_matrix(W: Any, name: str = "W") -> np.ndarray:
    """``W`` as a 2-D float64 array, converted exactly; bad input raises InputError."""
    try:
        arr = np.asarray(W)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"{name} cannot be read as a numeric array: {exc}") from exc
    dt = arr.dtype
    if dt.kind == "f" and dt.itemsize in (2, 4, 8):
        out = arr.astype(np.float64, copy=False)
    elif dt.kind in "iu":
        out = arr.astype(np.float64)
        big = np.abs(out) > 2.0**53
        if big.any() and not np.array_equal(out.astype(dt), arr):
            raise InputError(
                f"{name} has integer entries that float64 cannot hold exactly "
                f"(e.g. {arr[big].flat[0]}); convert it yourself"
            )
    else:
        raise InputError(
            f"{name} has dtype {dt}; expected float16, float32, float64 or an integer dtype"
        )
    if out.ndim != 2:
        raise InputError(
            f"{name} must be a 2-D matrix, got shape {arr.shape}; for a vector v pass "
            "v.reshape(-1, 1) or v.reshape(1, -1)"
        )
    finite = np.isfinite(out)
    if not finite.all():
        i, j = (int(t) for t in np.argwhere(~finite)[0])
        raise InputError(
            f"{name} must be finite, but {name}[{i}, {j}] = {out[i, j]} "
            f"({int((~finite).sum())} non-finite entries)"
        )
    return out


@dataclass(frozen=True)
class _Scaled:
    r"""``A = fl(2^{-e} W)``, with $\max|A_{ij}| \in [1/2, 1)$.

    Scaling by a power of two is exact unless an entry falls into the subnormal range;
    then (round to nearest) that entry moves by at most $\eta = 2^{-1075}$.  ``changed``
    counts such entries, so $\|A - 2^{-e}W\|_F \le \sqrt{\text{changed}}\,\eta$.
    """

    A: np.ndarray
    e: int
    changed: int
    amax: float  # max |W_ij| (exact)

    @property
    def err_fro(self) -> Fraction:
        """Upper bound of ||A - 2^-e W||_F (hence of the 2-norm), in scaled units."""
        return _sqrt_q(self.changed * _ETA * _ETA, up=True) if self.changed else Fraction(0)


def _scale(W: np.ndarray) -> _Scaled | None:
    """Scale ``W`` by a power of two so that max|entry| is in [1/2, 1); None if W == 0."""
    if W.size == 0:
        return None
    absW = np.abs(W)
    amax = float(absW.max())
    if amax == 0.0:
        return None
    e = math.frexp(amax)[1]
    # x * 2**-e is correctly rounded, i.e. exact unless the result is subnormal
    A = W * 2.0**-e if -1022 <= e <= 1022 else np.ldexp(W, -e)
    changed = 0
    # only entries below 2**(e-1022) can land in the subnormal range
    if e > 0 and bool((absW < 2.0 ** (e - 1022)).any()):
        changed = int(np.count_nonzero(np.ldexp(A, e) != W))
    return _Scaled(np.ascontiguousarray(A), e, changed, amax)


@functools.lru_cache(maxsize=1)
def _check_fp_environment() -> None:
    """Refuse to certify when subnormals are flushed to zero (FTZ/DAZ)."""
    tiny = np.full((8, 8), 2.0**-1070)
    half = np.full((8, 8), 0.5 / 8)
    if not (np.multiply(tiny, 0.5)[0, 0] == 2.0**-1071 and (tiny @ half)[0, 0] == 2.0**-1071):
        raise RuntimeError(
            "this process flushes subnormal numbers to zero (FTZ/DAZ); the rounding-error "
            "bounds of symlip.arith.norms assume IEEE-754 gradual underflow"
        )


# ----------------------------------------------------------------------------------
# absolute sums and sums of squares with rigorous bounds (scaled matrices, no overflow)
# ----------------------------------------------------------------------------------


def _abs_sums(absA: np.ndarray, axis: int) -> tuple[np.ndarray, Fraction]:
    r"""Floating-point sums $\hat s_i$ of nonnegative entries along ``axis`` and
    $g = \gamma_{N-1}$ ($N$ terms per sum): $\hat s_i/(1+g) \le s_i \le \hat s_i/(1-g)$.

    Theorem (Higham, *Accuracy and Stability*, Lemma 3.1 / (4.3)): a sum of $N$ terms in
    any order is $\sum_j x_j(1+\theta_j)$, $|\theta_j| \le \gamma_{N-1}$; for $x_j \ge 0$
    this gives the two inequalities.  Additions never make an underflow error.
    """
    return absA.sum(axis=axis), _gamma(absA.shape[axis] - 1)


def _max_abs_sum_upper(absA: np.ndarray, axis: int) -> Fraction:
    s, g = _abs_sums(absA, axis)
    return _q(float(s.max())) / (1 - g) if s.size else Fraction(0)


def _sumsq_bounds(A: np.ndarray) -> tuple[Fraction, Fraction]:
    r"""Enclosure $[lo, hi]$ of $\sum_{ij} A_{ij}^2$ (A finite, entries < 1 in magnitude).

    Row sums $\hat r_i$ of squares (any order, FMA allowed; $n$ products, $n$ terms) obey
    $|\hat r_i - r_i| \le \gamma_n r_i + 2n\eta$; the $m$ row sums are then added exactly
    and rounded once by :func:`math.fsum` (correctly rounded, so the exact sum lies
    between the neighbours of the result).
    """
    m, n = A.shape
    if A.size == 0:
        return Fraction(0), Fraction(0)
    r = np.einsum("ij,ij->i", A, A)
    tot = math.fsum(r.tolist())
    g = _gamma(n)
    slack = 2 * n * m * _ETA
    lo = (_q(_down(tot)) - slack) / (1 + g)
    hi = (_q(_up(tot)) + slack) / (1 - g)
    return max(lo, Fraction(0)), hi


# ----------------------------------------------------------------------------------
# Frobenius, 1 and infinity norms
# ----------------------------------------------------------------------------------


def frobenius_norm(W: Any) -> Enclosure:
    r"""Certified enclosure of the Frobenius norm $\|W\|_F = (\sum_{ij} W_{ij}^2)^{1/2}$.

    Method: scale $W$ exactly by $2^{-e}$ (max entry in $[1/2, 1)$, so nothing
    overflows), sum squares per row in floating point, add the row sums with
    :func:`math.fsum`, and enclose the exact sum by
    $\hat S/(1+\gamma_n) \le S \le \hat S/(1-\gamma_n)$ (plus an underflow term
    $2mn\eta$), with $\hat S$ widened by one ulp each way.  Square roots are rounded
    down/up in exact integer arithmetic; entries that scaling pushed into the subnormal
    range widen the result by $\sqrt{c}\,\eta$.  Relative width about $\gamma_n$.

    Args:
        W: 2-D array (float16/32/64 or exactly convertible integers), any shape.

    Returns:
        Enclosure ``[lo, hi]`` with ``lo <= ||W||_F <= hi``; ``hi`` rounded up.

    Raises:
        InputError: not 2-D, NaN/Inf entries, or an unsupported dtype.

    Examples:
        >>> import numpy as np
        >>> e = frobenius_norm(np.array([[3.0, 0.0], [0.0, 4.0]]))
        >>> e.lower <= 5 <= e.upper and float(e.width) < 1e-14
        True
    """
    W = _as_matrix(W)
    sc = _scale(W)
    if sc is None:
        return Enclosure.point(0)
    if np.count_nonzero(W) == 1:  # a single nonzero entry: the norm is |entry|, exactly
        return Enclosure.point(sc.amax)
    lo2, hi2 = _sumsq_bounds(sc.A)
    err = sc.err_fro
    lo = (_sqrt_q(lo2, up=False) - err) * Fraction(2) ** sc.e
    hi = (_sqrt_q(hi2, up=True) + err) * Fraction(2) ** sc.e
    return _enclosure(lo, hi)


def _max_abs_sum(W: Any, axis: int) -> Enclosure:
    W = _as_matrix(W)
    sc = _scale(W)
    if sc is None:
        return Enclosure.point(0)
    A, N = sc.A, sc.A.shape[axis]
    s, g = _abs_sums(np.abs(A), axis)
    smax = float(s.max())
    slack = sc.changed * _ETA  # scaling error of any one sum, in scaled units
    lo = _q(smax) / (1 + g) - slack
    hi = _q(smax) / (1 - g) + slack
    # Candidates for the maximiser: every i whose upper bound reaches the best lower bound.
    thr = float((lo - slack) * (1 - g))
    thr = _down(thr) if thr > 0 else 0.0
    cand = np.flatnonzero(s >= thr)
    if cand.size * N <= _EXACT_SUM_BUDGET:
        # math.fsum returns the exact sum rounded to nearest: the exact value lies
        # between the neighbouring doubles.  Sum the scaled entries when scaling was
        # exact (no overflow possible), else the original ones (exact, may overflow).
        src = A if sc.changed == 0 else W
        shift = Fraction(2) ** sc.e if sc.changed == 0 else Fraction(1)
        try:
            best_lo, best_hi = Fraction(0), Fraction(0)
            for i in cand.tolist():
                vec = src[:, i] if axis == 0 else src[i, :]
                t = math.fsum(np.abs(vec).tolist())
                best_lo = max(best_lo, _q(_down(t)) if t > 0 else Fraction(0))
                best_hi = max(best_hi, _q(_up(t)) if t > 0 else Fraction(0))
            if math.isfinite(float(best_hi)):
                return _enclosure(best_lo * shift, best_hi * shift)
        except OverflowError:
            pass
    return _enclosure(lo * Fraction(2) ** sc.e, hi * Fraction(2) ** sc.e)


def norm_1(W: Any) -> Enclosure:
    r"""Certified enclosure of the operator 1-norm $\|W\|_1 = \max_j \sum_i |W_{ij}|$
    (maximum absolute *column* sum).

    Method: floating-point column sums $\hat s_j$ of $|2^{-e}W|$ bracket the exact sums,
    $\hat s_j/(1+\gamma_{m-1}) \le s_j \le \hat s_j/(1-\gamma_{m-1})$; every column whose
    upper bound reaches the largest lower bound is then summed exactly with
    :func:`math.fsum` (correctly rounded: the exact sum is within one ulp), so the result
    is usually one ulp wide.  If too many columns tie (over ``2**22`` entries to re-sum),
    the $\gamma$ enclosure is returned.  (``mpmath.iv.mnorm(A, 1)`` is not used: it can
    return a non-upper bound.)

    Args:
        W: 2-D array (float16/32/64 or exactly convertible integers), any shape.

    Returns:
        Enclosure ``[lo, hi]`` with ``lo <= ||W||_1 <= hi``; ``hi`` rounded up.

    Raises:
        InputError: not 2-D, NaN/Inf entries, or an unsupported dtype.

    Examples:
        >>> import numpy as np
        >>> e = norm_1(np.array([[1.0, -2.0], [3.0, 4.0]]))
        >>> e.lower <= 6 <= e.upper
        True
    """
    return _max_abs_sum(W, axis=0)


def norm_inf(W: Any) -> Enclosure:
    r"""Certified enclosure of the operator $\infty$-norm
    $\|W\|_\infty = \max_i \sum_j |W_{ij}|$ (maximum absolute *row* sum).

    Same method as :func:`norm_1`, on rows ($\gamma_{n-1}$, $n$ = number of columns).

    Args:
        W: 2-D array (float16/32/64 or exactly convertible integers), any shape.

    Returns:
        Enclosure ``[lo, hi]`` with ``lo <= ||W||_inf <= hi``; ``hi`` rounded up.

    Raises:
        InputError: not 2-D, NaN/Inf entries, or an unsupported dtype.

    Examples:
        >>> import numpy as np
        >>> e = norm_inf(np.array([[1.0, -2.0], [3.0, 4.0]]))
        >>> e.lower <= 7 <= e.upper
        True
    """
    return _max_abs_sum(W, axis=1)


# ----------------------------------------------------------------------------------
# spectral norm
# ----------------------------------------------------------------------------------


@dataclass
class _SpectralInfo:
    """Diagnostics of one spectral-norm certification (for benchmarks and tests)."""

    shape: tuple[int, int] = (0, 0)
    gram_size: int = 0
    attempts: list[tuple[float, bool]] = field(default_factory=list)  # (alpha, success)
    e_gram: float = 0.0
    e_chol: float = 0.0
    e_diag: float = 0.0
    method: str = ""


def _block_inverses(L: np.ndarray, bs: int) -> list[np.ndarray]:
    p = L.shape[0]
    return [np.linalg.inv(L[i : i + bs, i : i + bs]) for i in range(0, p, bs)]


def _solve_llt(L: np.ndarray, inv: list[np.ndarray], b: np.ndarray, bs: int) -> np.ndarray:
    """x ~ (L L^T)^{-1} b by blocked substitution (heuristic: only used to find a vector)."""
    p = L.shape[0]
    y = b.copy()
    for k, i in enumerate(range(0, p, bs)):
        j = min(i + bs, p)
        if i:
            y[i:j] -= L[i:j, :i] @ y[:i]
        y[i:j] = inv[k] @ y[i:j]
    x = y
    starts = list(range(0, p, bs))
    for k in range(len(starts) - 1, -1, -1):
        i = starts[k]
        j = min(i + bs, p)
        if j < p:
            x[i:j] -= L[j:, i:j].T @ x[j:]
        x[i:j] = inv[k].T @ x[i:j]
    return x


def _top_vector(L: np.ndarray, alpha: float, max_iters: int = 40) -> np.ndarray:
    """Inverse iteration with alpha*I - M = L L^T: converges to the top eigenvector of M
    at the rate (alpha - lambda_1)/(alpha - lambda_2).  Stops when the shifted Rayleigh
    estimate alpha - v^T v / v^T x settles (heuristic: the vector is only a witness)."""
    p = L.shape[0]
    bs = 256
    inv = _block_inverses(L, bs)
    v = np.random.default_rng(0).standard_normal(p)
    v /= np.linalg.norm(v)
    prev = math.nan
    for it in range(max_iters):
        x = _solve_llt(L, inv, v, bs)
        nx, vx = float(np.linalg.norm(x)), float(v @ x)
        if not (math.isfinite(nx) and math.isfinite(vx)) or nx == 0.0 or vx <= 0.0:
            break
        est = alpha - 1.0 / vx
        v = x / nx
        if it >= 1 and abs(est - prev) <= 2.0**-50 * abs(alpha):
            break
        prev = est
    return v


def _lower_from_vector(A: np.ndarray, v: np.ndarray, B: Fraction) -> tuple[Fraction, float]:
    r"""Certified lower bound of $\|A\|_2 \ge \|Av\|_2/\|v\|_2$, and the float estimate.

    $\hat y = fl(Av)$ obeys $|\hat y - Av| \le \gamma_p|A||v| + 2p\eta$ entrywise, so
    $\|Av\| \ge \|\hat y\| - \gamma_p\sqrt{B}\,\|v\| - \sqrt{k}\,2p\eta$ with
    $B \ge \||A|\|_2^2$.  Squared norms $\hat y^T\hat y$, $v^Tv$ are bracketed with
    $\gamma_k$, $\gamma_p$ (nonnegative terms) plus underflow terms.
    """
    k, p = A.shape
    y = A @ v
    sy, sv = float(y @ y), float(v @ v)
    if not (math.isfinite(sy) and math.isfinite(sv)) or sv == 0.0:
        return Fraction(0), 0.0
    y2_lo = max((_q(sy) - 2 * k * _ETA) / (1 + _gamma(k)), Fraction(0))
    v2_hi = (_q(sv) + 2 * p * _ETA) / (1 - _gamma(p))
    v_hi = _sqrt_q(v2_hi, up=True)
    err_y = _gamma(p) * _sqrt_q(B, up=True) * v_hi + _sqrt_q(Fraction(k), up=True) * 2 * p * _ETA
    y_lo = _sqrt_q(y2_lo, up=False) - err_y
    return max(y_lo / v_hi, Fraction(0)), sy / sv


def _orthonormal(V: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the columns (Cholesky-QR twice; heuristic, estimates only)."""
    for _ in range(2):
        G = V.T @ V
        G = (G + G.T) / 2 + np.eye(G.shape[0]) * (1e-14 * np.trace(G) + 1e-300)
        R = np.linalg.cholesky(G).T
        V = np.linalg.solve(R.T, V.T).T
    return V


def _power_estimate(M: np.ndarray, iters: int = 40, block: int = 16, seed: int = 0) -> float:
    """Top eigenvalue of the symmetric PSD ``M`` by block power iteration and
    Rayleigh-Ritz (an estimate from below, O(p^2) per step instead of eigvalsh's p^3)."""
    p = M.shape[0]
    V = np.random.default_rng(seed).standard_normal((p, min(p, block)))
    for i in range(iters):
        V = M @ V
        if i % 4 == 3 or i == iters - 1:
            V = _orthonormal(V)
    return float(np.max(np.linalg.eigvalsh(V.T @ M @ V)))


def _spectral_scaled(
    A: np.ndarray, amax: float, rel_tol: float, info: _SpectralInfo, max_attempts: int = 10,
    power: bool = False,
) -> tuple[Fraction, Fraction]:
    r"""Enclosure of $\|A\|_2$ for a scaled ``A`` of shape (k, p), p <= k, max|A_ij| < 1.

    $G = A^TA$ (exact), $M = fl(A^TA)$.  Bounds (all rounded up, exact rationals):

    * $\|M - G\|_2 \le e_G = \gamma_k B + 2kp\eta$, $B = \min(\|A\|_1\|A\|_\infty,
      \|A\|_F^2) \ge \||A|\|_2^2 \ge \||A|^T|A|\|_2$ (Higham Thm 3.5 / (3.12), any order).
    * $\hat A = fl(\alpha I - M)$ differs from $\alpha I - M$ only on the diagonal, by
      at most $u|\hat A_{ii}|$ (fl(x) = x/(1+δ)); call the bound $e_D$.
    * A Cholesky factorisation that runs to completion gives $LL^T = \hat A + \Delta$,
      $|\Delta| \le \gamma_{p+2}|L||L^T| + 4(p+1)(1+\max_j L_{jj})\eta$ entrywise
      (Higham Thm 10.3 with $\gamma_{p+1}$; one more rounding allowed for a reciprocal,
      plus a generous underflow term), so $\|\Delta\|_2 \le e_C = \gamma_{p+2}
      \min(\|L\|_1\|L\|_\infty, \|L\|_F^2) + 4p(p+1)(1+\max_j L_{jj})\eta$.
    * Then $\alpha I - G = LL^T - \Delta + (M - G) - (\hat A - (\alpha I - M))
      \succeq -(e_C + e_G + e_D) I$, hence $\|A\|_2^2 = \lambda_{\max}(G) \le
      \alpha + e_C + e_G + e_D$.
    """
    k, p = A.shape
    absA = np.abs(A)
    fro2_lo, fro2_hi = _sumsq_bounds(A)
    B = min(_max_abs_sum_upper(absA, 0) * _max_abs_sum_upper(absA, 1), fro2_hi)
    del absA
    hi_best = _sqrt_q(B, up=True)  # ||A||_2 <= || |A| ||_2 <= sqrt(B): always valid
    lo_best = max(_q(amax), _sqrt_q(fro2_lo / p, up=False))  # max|a_ij|, ||A||_F/sqrt(p)
    info.method = "trivial"

    M = A.T @ A
    if not np.isfinite(M).all():  # cannot happen for max|A_ij| < 1; be safe
        return lo_best, hi_best
    e_gram = _gamma(k) * B + 2 * k * p * _ETA
    info.e_gram = float(e_gram)
    diagM = M.diagonal().copy()
    try:
        lam = _power_estimate(M) if power else float(np.linalg.eigvalsh(M)[-1])
    except np.linalg.LinAlgError:  # pragma: no cover - LAPACK did not converge
        lam = float(B)  # an upper bound: Cholesky succeeds, inverse iteration refines
    trM = math.fsum(diagM.tolist())
    g_chol = _gamma(p + 2)

    def base_shift(lam: float) -> float:
        # a quarter of the expected error terms: smaller would not tighten the bound
        est_chol = float(g_chol) * max(p * lam - trM, lam)
        return max(0.25 * (float(e_gram) + est_chol), 4 * (p + 2) * 2.0**-53 * lam, 2.0**-1000)

    shift = base_shift(lam)
    if power:  # a power-iteration estimate is low by ~1e-4 relative: start above it
        shift = max(shift, 2e-3 * lam)
    alpha_fail: float | None = None
    alpha_ok: float | None = None
    vec_shift: float | None = None
    fails = 0
    idx = np.diag_indices(p)
    for _ in range(max_attempts):
        alpha = lam + shift
        Ahat = -M
        Ahat[idx] = alpha - diagM
        try:
            L = np.linalg.cholesky(Ahat)
            ok = bool(np.isfinite(L).all())
        except np.linalg.LinAlgError:
            ok = False
        info.attempts.append((alpha, ok))
        if not ok:
            fails += 1
            alpha_fail = alpha if alpha_fail is None else max(alpha_fail, alpha)
            if alpha_ok is None:  # the estimate was too low: grow the shift fast, but
                # never beyond 1.01 B >= 1.01 lambda_max(G) (there Cholesky must succeed)
                cap = 1.01 * float(B) - lam
                if shift >= cap:
                    break
                shift = min(shift * 16.0**fails, cap)
            else:
                shift = 0.5 * (alpha_fail + alpha_ok) - lam
                if not alpha_fail < lam + shift < alpha_ok:
                    break
            continue
        alpha_ok = alpha if alpha_ok is None else min(alpha_ok, alpha)
        del Ahat
        absL = np.abs(L)
        BL = min(_max_abs_sum_upper(absL, 0) * _max_abs_sum_upper(absL, 1), _sumsq_bounds(L)[1])
        del absL
        maxdiag = float(L.diagonal().max())
        e_chol = g_chol * BL + 4 * p * (p + 1) * (1 + _q(maxdiag)) * _ETA
        e_diag = _U * _q(float(np.max(np.abs(alpha - diagM))))
        lam_hi = _q(alpha) + e_chol + e_gram + e_diag
        hi = _sqrt_q(lam_hi, up=True)
        if hi < hi_best:
            hi_best = hi
            info.method = "gram-cholesky"
            info.e_chol, info.e_diag = float(e_chol), float(e_diag)
        if vec_shift is None or alpha - lam < vec_shift / 4:
            # a new vector when alpha came markedly closer to lambda_max (faster convergence)
            vec_shift = alpha - lam
            try:
                v = _top_vector(L, alpha)
            except np.linalg.LinAlgError:  # pragma: no cover - singular diagonal block
                v = np.ones(p)
            lo, rq = _lower_from_vector(A, v, B)
            lo_best = max(lo_best, lo)
            lam = max(lam, rq)
        del L
        if (hi_best - lo_best) <= Fraction(rel_tol) * hi_best:
            break
        # Can a smaller alpha still help?  Only if the shift dominates the error terms.
        errs = e_chol + e_gram + e_diag
        if _q(alpha) - lo_best * lo_best <= errs:
            break
        base = base_shift(lam)
        new_shift = base if alpha - lam > 2 * base else (alpha - lam) / 4.0
        if alpha_fail is not None and lam + new_shift <= alpha_fail:
            new_shift = 0.5 * (alpha_fail + alpha) - lam
        if not lam + new_shift < alpha:
            break
        shift = new_shift
    return lo_best, hi_best


def _spectral_norm_info(W: Any, rel_tol: float = 1e-10, power: bool = False
                        ) -> tuple[Enclosure, _SpectralInfo]:
    """:func:`spectral_norm` plus diagnostics (attempted shifts, error terms)."""
    if not (isinstance(rel_tol, (int, float)) and math.isfinite(rel_tol) and rel_tol > 0):
        raise InputError(f"{rel_tol=} must be a finite number > 0")
    W = _as_matrix(W)
    _check_fp_environment()
    m, n = W.shape
    info = _SpectralInfo(shape=(m, n), gram_size=min(m, n))
    sc = _scale(W)
    if sc is None:
        info.method = "zero"
        return Enclosure.point(0), info
    if min(m, n) == 1 or np.count_nonzero(sc.A) == 1:
        info.method = "frobenius"  # a vector (or one nonzero entry): ||W||_2 = ||W||_F
        return frobenius_norm(W), info
    A = sc.A if n <= m else sc.A.T
    lo_s, hi_s = _spectral_scaled(A, math.ldexp(sc.amax, -sc.e), rel_tol, info, power=power)
    err = sc.err_fro
    f = Fraction(2) ** sc.e
    return _enclosure((lo_s - err) * f, (hi_s + err) * f), info


def spectral_norm(W: Any, *, rel_tol: float = 1e-10) -> Enclosure:
    r"""Certified enclosure $[lo, hi]$ of the spectral norm $\|W\|_2 = \sigma_{\max}(W)$.

    Method (full error analysis in ``docs/norms.md``):

    1. Convert exactly to float64; scale exactly by $2^{-e}$ so that
       $\max|A_{ij}| \in [1/2, 1)$ (entries pushed into the subnormal range move by
       at most $\eta = 2^{-1075}$ each; the result is widened by $\sqrt{c}\,\eta$).
       Let $A$ be the scaled matrix, transposed if needed so that it is $k \times p$
       with $p = \min(m, n) \le k$: the Gram matrix is $p \times p$ (4096x512 and
       512x4096 both give 512x512).
    2. $M = fl(A^TA)$ (BLAS ``syrk``/``gemm``), $\|M - A^TA\|_2 \le e_G =
       \gamma_k \min(\|A\|_1\|A\|_\infty, \|A\|_F^2) + 2kp\eta$.
    3. $\hat\lambda$ = top eigenvalue of $M$ from ``numpy.linalg.eigvalsh``
       (an estimate only); $\alpha = \hat\lambda + $ shift.
    4. Floating-point Cholesky $\hat A = fl(\alpha I - M) = LL^T - \Delta$; if it runs to
       completion, $\|\Delta\|_2 \le e_C = \gamma_{p+2}\min(\|L\|_1\|L\|_\infty,
       \|L\|_F^2) + 4p(p+1)(1+\max L_{jj})\eta$, and the diagonal rounding of
       $\hat A$ is at most $e_D = u\max_i|\hat A_{ii}|$.  Since $LL^T \succeq 0$:
       $\|A\|_2^2 \le \alpha + e_C + e_G + e_D$.  A failed Cholesky raises the shift
       (x16), a successful one lowers it (bisection between the last failure and
       success) while the shift dominates the gap and the gap exceeds ``rel_tol``.
    5. Lower end: $v$ from inverse iteration with $LL^T$ (converges to the top
       eigenvector because $\alpha$ is just above $\lambda_{\max}$), and
       $\|A\|_2 \ge \|Av\|_2/\|v\|_2$ with $fl(Av)$ and the two squared norms bracketed
       by $\gamma_p$, $\gamma_k$ bounds.  Also $\|A\|_2 \ge \max|A_{ij}|$.
    6. All error terms are exact rationals; square roots are rounded down/up with
       integer square roots; the endpoints are rounded outward to 80 bits and
       multiplied by $2^e$ exactly.

    The $\gamma_n$ bounds hold for any summation order, blocking, threading and FMA, so
    the result is rigorous whatever BLAS is linked, provided it uses classical (not
    Strassen-type) multiplication; IEEE-754 binary64 with round-to-nearest and gradual
    underflow is assumed (checked once at run time).  If Cholesky never succeeds (it
    does in practice), the trivial bound $\sqrt{\min(\|A\|_1\|A\|_\infty,\|A\|_F^2)}$ is
    returned.  ``rel_tol`` is a target: the gap can never be smaller than the rounding
    terms, about $(\gamma_k B/\lambda + \gamma_p p)/2$ relative (2e-10 for a
    2048x2048 Gaussian matrix).  Cost: one Gram product, one ``eigvalsh`` of size $p$,
    usually one Cholesky, $O(kp)$ extra.

    Args:
        W: 2-D array (float16/32/64 or exactly convertible integers), any shape.
        rel_tol: target relative gap ``(hi - lo) / hi`` (> 0).

    Returns:
        Enclosure ``[lo, hi]``: ``lo <= ||W||_2 <= hi``, ``hi`` rounded up, ``lo`` down.

    Raises:
        InputError: not 2-D, NaN/Inf entries, unsupported dtype, or bad ``rel_tol``.

    Examples:
        >>> import numpy as np
        >>> e = spectral_norm(np.array([[3.0, 0.0], [0.0, 4.0]]))
        >>> e.lower <= 4 <= e.upper and float(e.width) < 1e-12
        True
        >>> spectral_norm(np.zeros((3, 2)))
        [0, 0]
    """
    return _spectral_norm_info(W, rel_tol)[0]


def spectral_norm_fast(W: Any, *, rel_tol: float = 1e-6) -> Enclosure:
    r""":func:`spectral_norm` with the estimate $\hat\lambda$ of step 3 from block power
    iteration and Rayleigh-Ritz instead of a full ``eigvalsh`` (for large matrices:
    $O(p^2)$ per step instead of $O(p^3)$ with a large constant).

    Only the *starting shift* changes; the certificate (Cholesky of
    $\alpha I - M$ with the same error terms) and the lower end (inverse iteration) are
    those of :func:`spectral_norm`, so the result is equally rigorous.  A low estimate
    costs a failed Cholesky or two; the default ``rel_tol`` stops the bisection early.

    Examples:
        >>> import numpy as np
        >>> e = spectral_norm_fast(np.diag([3.0, 4.0, 1.0]))
        >>> e.lower <= 4 <= e.upper and float(e.width) < 1e-5
        True
    """
    return _spectral_norm_info(W, rel_tol, power=True)[0]


def spectral_norm_upper(W: Any, *, rel_tol: float = 1e-10) -> float:
    """A certified upper bound of ``||W||_2`` as a float (``spectral_norm(W).upper_float``).

    Examples:
        >>> import numpy as np
        >>> spectral_norm_upper(np.eye(3)) >= 1.0
        True
    """
    return spectral_norm(W, rel_tol=rel_tol).upper_float


# ----------------------------------------------------------------------------------
# certified positive semidefiniteness (LipSDP's linear matrix inequality)
# ----------------------------------------------------------------------------------


@dataclass
class PSDProof:
    r"""Outcome of :func:`certify_psd`.

    Attributes:
        holds: ``True`` iff the proof succeeded: every symmetric $H$ with
            $|H - \hat H| \le E$ entrywise is positive semidefinite.
        margin: a certified lower bound of $\lambda_{\min}(DHD)$ ($D$ the power-of-two
            diagonal scaling), exact rational; meaningful when ``holds``.
        delta: the shift $\delta$ subtracted before the Cholesky factorisation.
        errors: the rounding/perturbation terms ``{"chol", "diag", "input", "scale"}``.
        reason: why the proof failed (empty when it holds).
    """

    holds: bool
    margin: Fraction = Fraction(0)
    delta: float = 0.0
    errors: dict[str, float] = field(default_factory=dict)
    reason: str = ""


def certify_psd(H: Any, err: Any = None, err_factor: Fraction = Fraction(0),
                err_abs: Fraction = Fraction(0), delta: float | None = None) -> PSDProof:
    r"""Prove that a symmetric matrix is positive semidefinite (a certified Cholesky test).

    Theorem.  Let $\hat H$ be a symmetric float matrix and $H$ the exact matrix of
    interest with $|H_{ij} - \hat H_{ij}| \le c\,E_{ij} + a$
    (``err`` $= E \ge 0$, ``err_factor`` $= c$, ``err_abs`` $= a$).  Rows and columns
    that are zero in both $\hat H$ and $E$ (and $a = 0$) are dropped first (a zero row
    does not change semidefiniteness).  Scale by the
    powers of two $d_i \approx \hat H_{ii}^{-1/2}$: $\tilde H = D\hat HD$ is exact (up to
    underflow, at most $\eta = 2^{-1075}$ per entry).  If the floating-point Cholesky
    factorisation of $\hat A = fl(\tilde H - \delta I)$ runs to completion,
    $LL^T = \hat A + \Delta$ with $\|\Delta\|_2 \le e_C = \gamma_{n+2}\min(\|L\|_1
    \|L\|_\infty, \|L\|_F^2) + 4n(n+1)(1 + \max_j L_{jj})\eta$ (Higham, *Accuracy and
    Stability*, Thm 10.3, any order of operations, FMA allowed; the bound of
    :func:`spectral_norm`), and $|\hat A_{ii} - (\tilde H_{ii} - \delta)| \le
    u|\hat A_{ii}| \le e_D$.  Hence
    $$DHD = LL^T - \Delta + \delta I + (\text{diagonal rounding}) + D(H - \hat H)D
    \succeq (\delta - e_C - e_D - e_H - n\eta)\,I,$$
    $e_H = c\|DED\|_F + a\sum_i d_i^2$ (a norm of the perturbation), so $H \succeq 0$ whenever the
    bracket, ``margin``, is $\ge 0$; all terms are exact rationals rounded up.

    Args:
        H: the float matrix $\hat H$ (must be symmetric; checked exactly).
        err: nonnegative float matrix $E$ (or ``None`` for $E = 0$).
        err_factor: the exact factor $c$ of $E$.
        err_abs: $a$: an absolute perturbation bound per entry (unscaled units).
        delta: the shift; default: four times the expected rounding terms.

    Returns:
        :class:`PSDProof`; ``holds`` is ``False`` (never a wrong ``True``) when the
        factorisation breaks down or the margin is negative.
    """
    Hf = _as_matrix(H, "H")
    n = Hf.shape[0]
    if Hf.shape != (n, n) or not np.array_equal(Hf, Hf.T):
        return PSDProof(False, reason=f"H must be square and symmetric, got shape {Hf.shape}")
    _check_fp_environment()
    if err_abs == 0:
        keep = np.flatnonzero(np.any(Hf != 0, axis=1) | (np.any(np.asarray(err) != 0, axis=1)
                                                         if err is not None else False))
        if keep.size < n:
            Hf = Hf[np.ix_(keep, keep)]
            err = None if err is None else np.asarray(err)[np.ix_(keep, keep)]
            n = Hf.shape[0]
            if n == 0:
                return PSDProof(True)
    diag = Hf.diagonal()
    if np.any(diag < 0):
        i = int(np.argmin(diag))
        return PSDProof(False, reason=f"negative diagonal entry H[{i}, {i}] = {diag[i]}")
    # powers of two d_i with d_i^2 H_ii in [1/4, 1); a zero diagonal gets d_i = 1
    e = np.where(diag > 0, np.frexp(np.where(diag > 0, diag, 1.0))[1], 0)
    e = -((e + 1) // 2)
    ee = e[:, None] + e[None, :]
    Hs = np.ldexp(Hf, ee)  # one correctly rounded scaling: exact unless subnormal
    e_scale = n * _ETA  # one underflow per entry at most (powers of two otherwise exact)
    e_H = Fraction(0)
    if err is not None and err_factor:
        Es = np.ldexp(_as_matrix(err, "err"), ee)
        e_H += err_factor * (_q(frobenius_norm(Es).upper_float) + e_scale)
    if err_abs:
        e_H += err_abs * sum((Fraction(2) ** (2 * int(k)) for k in e), Fraction(0))
    g_chol = _gamma(n + 2)
    if delta is None:
        est = float(g_chol) * max(float(np.trace(np.abs(Hs))), 1.0) + float(e_H)
        delta = 4.0 * est + 2.0**-1000
    Ahat = Hs.copy()
    Ahat[np.diag_indices(n)] -= delta
    try:
        L = np.linalg.cholesky(Ahat)
    except np.linalg.LinAlgError:
        return PSDProof(False, delta=delta, reason="the Cholesky factorisation broke down")
    if not np.isfinite(L).all():
        return PSDProof(False, delta=delta, reason="the Cholesky factor is not finite")
    absL = np.abs(L)
    BL = min(_max_abs_sum_upper(absL, 0) * _max_abs_sum_upper(absL, 1), _sumsq_bounds(L)[1])
    e_chol = g_chol * BL + 4 * n * (n + 1) * (1 + _q(float(L.diagonal().max()))) * _ETA
    e_diag = _U * _q(float(np.max(np.abs(Ahat.diagonal()))))
    margin = _q(delta) - e_chol - e_diag - e_H - e_scale
    errors = {"chol": float(e_chol), "diag": float(e_diag), "input": float(e_H),
              "scale": float(e_scale)}
    if margin < 0:
        return PSDProof(False, margin, delta, errors,
                        reason=f"the shift {delta:.3g} does not cover the rounding terms")
    return PSDProof(True, margin, delta, errors)
