r"""Certified logarithmic-norm constants $\nu(W)$ of the vector fields.

For a diagonal $S$ with entries in $[0, K_1]$ (the divided differences of a
nondecreasing $\sigma$),

$$ \mu_2(SW) = \lambda_{\max}\big(\mathrm{sym}(SW)\big) \le K_1\,\nu(W), \qquad
   \nu(W) := \max_{S \subseteq \{1..n\}} \lambda_{\max}\big(\mathrm{sym}(P_S W)\big), $$

$\mathrm{sym}(M) = (M + M^\top)/2$, $P_S$ the projector on the coordinates in $S$:
$D \mapsto \lambda_{\max}(\mathrm{sym}(DW))$ is convex (a linear map followed by the
convex $\lambda_{\max}$), so its maximum over the box $[0, K_1]^n$ is attained at a vertex
$K_1 P_S$.  $\nu(W) \ge 0$ ($S = \emptyset$) and $\nu(W) \le \|W\|_2$.

Note: $\mu_2(W)$ alone does *not* bound $\mu_2(SW)$: for the rotation
$W = [[0, 1], [-1, 0]]$, $\mu_2(W) = 0$ but $\mu_2(\mathrm{diag}(1, 0) W) = 1/2$.

Certification (:func:`nu_upper`): for $n \le$ :data:`EXACT_MAX_DIM` all $2^n$ vertices,
with a short dyadic $\alpha$ slightly above the float estimate and an *exact* rational
test $\alpha I - \mathrm{sym}(P_S W) \succeq 0$ for every $S$; for larger $n$ the
bound $\nu(W) \le (\mu_2(W) + \|W\|_2)/2$ (write $P_S = (I + E)/2$ with $E$ a signature
matrix: $\lambda_{\max}(\mathrm{sym}(EW)) \le \|EW\|_2 = \|W\|_2$), with $\mu_2(W)$
certified the same way when $n \le$ :data:`MU_EXACT_MAX_DIM`; otherwise $\|W\|_2$.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from symlip.arith.enclosure import Enclosure
from symlip.arith.linalg import psd_exact

__all__ = ["nu_upper", "nu_estimate", "EXACT_MAX_DIM", "MU_EXACT_MAX_DIM"]

#: all 2^n vertices are certified exactly up to this state dimension
EXACT_MAX_DIM = 7
#: mu_2(W) is certified exactly (one rational LDL^T) up to this dimension
MU_EXACT_MAX_DIM = 40


def _subsets(n: int) -> np.ndarray:
    return np.array(list(itertools.product((0.0, 1.0), repeat=n)))


def nu_estimate(W: np.ndarray) -> float:
    """Float estimate of $\\nu(W)$ (exact enumeration for small $n$; not certified)."""
    W = np.asarray(W, dtype=np.float64)
    n = W.shape[0]
    if n > EXACT_MAX_DIM:
        mu = float(np.linalg.eigvalsh((W + W.T) / 2)[-1])
        return max(0.0, (mu + float(np.linalg.norm(W, 2))) / 2)
    masks = _subsets(n)
    M = masks[:, :, None] * W[None]
    S = (M + np.transpose(M, (0, 2, 1))) / 2
    return max(0.0, float(np.max(np.linalg.eigvalsh(S)[:, -1])))


def _dyadic_up(x: float, bits: int = 40) -> Fraction:
    """A short binary number >= x (``bits`` significant bits)."""
    if x <= 0:
        return Fraction(0)
    m, e = math.frexp(x)
    return Fraction(math.ceil(m * (1 << bits))) * Fraction(2) ** (e - bits)


def _certify_all(W: np.ndarray, alpha: Fraction, masks: np.ndarray) -> bool:
    n = W.shape[0]
    Wq = [[Fraction(float(v)) for v in row] for row in W]
    for mask in masks:
        S = [[(alpha if i == j else Fraction(0))
              - (Wq[i][j] * int(mask[i]) + Wq[j][i] * int(mask[j])) / 2
              for j in range(n)] for i in range(n)]
        if not psd_exact(S):
            return False
    return True


def _lambda_max_upper(W: np.ndarray, masks: np.ndarray, est: float) -> Fraction | None:
    scale = float(np.max(np.abs(W))) * W.shape[0] + 1e-300
    for tries in range(4):
        alpha = _dyadic_up(max(est, 0.0) + scale * 2.0 ** (-36 + 8 * tries))
        if _certify_all(W, alpha, masks):
            return alpha
    return None


@lru_cache(maxsize=256)
def _nu_cached(key: bytes, shape: tuple[int, int]) -> tuple[float, str]:
    W = np.frombuffer(key, dtype=np.float64).reshape(shape)
    n = shape[0]
    from symlip.arith.norms import spectral_norm

    spec = spectral_norm(W).upper_float
    if not np.any(W):
        return 0.0, "zero"
    if n <= EXACT_MAX_DIM:
        masks = _subsets(n)
        # check the vertices in order of decreasing float estimate (early failure)
        M = masks[:, :, None] * W[None]
        lam = np.linalg.eigvalsh((M + np.transpose(M, (0, 2, 1))) / 2)[:, -1]
        order = np.argsort(-lam)
        a = _lambda_max_upper(W, masks[order], float(lam.max()))
        if a is not None:
            v = _frac_up(a)
            return (min(v, spec), "vertices") if v < spec else (spec, "spectral")
        return spec, "spectral"
    if n <= MU_EXACT_MAX_DIM:
        mu_est = float(np.linalg.eigvalsh((W + W.T) / 2)[-1])
        a = _lambda_max_upper(W, np.ones((1, n)), mu_est)
        if a is not None:
            v = _frac_up((a + Fraction(spec)) / 2)
            return (max(v, 0.0), "midpoint") if v < spec else (spec, "spectral")
    return spec, "spectral"


def _frac_up(q: Fraction) -> float:
    """The smallest double >= q (q a Fraction)."""
    f = float(q)
    if Fraction(f) < q:
        f = math.nextafter(f, math.inf)
    return f


def nu_upper(W: np.ndarray) -> tuple[Enclosure, str]:
    r"""Certified enclosure ``[0, upper]`` of $\nu(W)$ and the method used.

    ``upper`` is a double $\ge \nu(W)$ proved by exact rational positive-semidefiniteness
    tests (``"vertices"``, ``"midpoint"``), or the certified $\|W\|_2$ (``"spectral"``).

    Examples:
        >>> up = nu_upper(np.array([[0.0, 1.0], [-1.0, 0.0]]))[0].upper_float  # rotation: 1/2
        >>> 0.5 <= up < 0.5 + 1e-9
        True
    """
    W = np.ascontiguousarray(W, dtype=np.float64)
    v, how = _nu_cached(W.tobytes(), W.shape)
    return Enclosure.from_floats(0.0, v), how
