r"""Rigorous per-data-point quantities at the centre $\bar\theta$, vectorised over data.

The centre-based option $c_k \le \|a_k(\bar\theta; x)\| + l_k r$ of the parameter bound
needs a *certified upper bound* $A_k(x)$ of the exact activation norm for every data
point.  A float forward pass is not enough; :func:`centre_norms` runs one float64
forward pass at BLAS speed and carries a rigorous **norm-wise error bound** along:

* affine step: with $\hat a$ the computed activations and $e$ a bound of
  $\|a - \hat a\|$,
  $\|z - \hat z\| \le \|W\|_2\, e + \gamma_n \|W\|_F \|\hat a\| + 2u\|\hat z\| + \eta'$
  (BLAS dot products in any order, FMA or not: $|\mathrm{fl}(W\hat a) - W\hat a| \le
  \gamma_n |W||\hat a|$, and $\||W||\hat a|\| \le \||W|\|_2\|\hat a\| \le \|W\|_F
  \|\hat a\|$; the bias addition rounds once, $u = 2^{-53}$; $\eta'$ covers underflow);
* activation step: $\|\sigma(z) - \hat a\| \le K_1 \|z - \hat z\| + \|\sigma(\hat z) - \hat
  a\|$, and the last term is bounded by a *rigorous kernel*: for tanh (and sigmoid
  $= \tfrac12 + \tfrac12\tanh(x/2)$) a tangent-line table on the grid $j\delta$,
  $\delta = 2^{-10}$, $|\hat z| \le 20$: $\tanh(g + s) = \tanh g + \tanh'(g)s + R$,
  $|R| \le \tfrac{K_2}{2}s^2$ with $|s| \le \delta/2$; the table entries are certified
  enclosures (products of an mpmath-interval $e^{-2\delta}$ in outward-rounded float
  intervals) and the three float operations of the kernel add at most $2u$; the tail
  $|z| > 20$ adds $1 - \tanh 20 < 10^{-17}$.  Other activations are enclosed element
  by element with ``interval_sigma`` (mpmath), which is only done for small arrays.

Every per-point sum, product and square root of these error terms is evaluated in
outward-rounded :class:`~symlip.intervals.IntervalArray` arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
from mpmath import iv

from symlip.intervals import Enclosure, IntervalArray

__all__ = ["CentreNorms", "centre_norms", "spectral_upper", "frobenius_upper",
           "tanh_kernel", "row_norms"]

_U = 2.0**-53
_ETA = 2.0**-1074
_DELTA_EXP = 10  # grid step 2^-10
_YMAX = 20.0
#: element budget of the generic (mpmath, element by element) activation enclosure
GENERIC_ELEMENT_LIMIT = 20000


def _up(a: Any) -> Any:
    return np.nextafter(a, np.inf)


def _gamma(n: int) -> float:
    """Upper bound of gamma_n = n u / (1 - n u), rounded up."""
    nu = n * _U
    if nu >= 0.25:
        raise ValueError(f"dimension {n} too large for the float64 error bound")
    return float(_up(_up(nu) / (1.0 - nu) * (1 + 4 * _U)))


# ------------------------------------------------------------------------------------
# norms of weights (certified upper bounds)
# ------------------------------------------------------------------------------------


def frobenius_upper(w: np.ndarray) -> float:
    """Certified upper bound of ``||w||_F`` (float sum of squares with error bound)."""
    w = np.asarray(w, dtype=np.float64)
    s = float(np.dot(w.ravel(), w.ravel()))
    bound = _up(_up(s * _up(1.0 + 2 * _gamma(w.size + 1))) + w.size * 2 * _ETA)
    return float(_up(math.sqrt(bound)))


def spectral_upper(w: np.ndarray) -> tuple[Enclosure, str]:
    """Certified enclosure of ``||w||_2`` and the method used.

    Uses :func:`symlip.norms.spectral_norm` when available; otherwise the rigorous
    (looser) Frobenius bound with a zero lower end.
    """
    try:
        from symlip.norms import spectral_norm
    except ImportError:  # pragma: no cover - depends on the checkout
        return Enclosure.from_floats(0.0, frobenius_upper(w)), "frobenius"
    return spectral_norm(np.asarray(w, dtype=np.float64)), "spectral"


# ------------------------------------------------------------------------------------
# rigorous row norms of float arrays
# ------------------------------------------------------------------------------------


def row_norms(a: np.ndarray) -> IntervalArray:
    """Enclosures of the Euclidean norms of the rows of a float array (exact values)."""
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[1]
    s = np.einsum("ij,ij->i", a, a)
    g = _gamma(n)
    lo = np.maximum(np.nextafter(s / (1.0 + g) * (1 - 2 * _U), -np.inf), 0.0)
    hi = _up(_up(s / (1.0 - g)) * (1 + 2 * _U)) + n * 2 * _ETA
    return IntervalArray(lo, _up(hi)).sqrt()


# ------------------------------------------------------------------------------------
# the tanh kernel
# ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _tanh_table() -> tuple[np.ndarray, np.ndarray, float]:
    """Table of tanh and tanh' at j*delta (j = 0..J) and the kernel's error bound E.

    Returns ``(T, D, E)``: floats with ``|tanh(z) - kernel(z)| <= E`` for every double z.
    """
    delta = 2.0**-_DELTA_EXP
    J = int(_YMAX / delta)
    # q = exp(-2 delta) enclosed by mpmath interval arithmetic
    with mpmath.workprec(80):
        qi = iv.exp(iv.mpf(-2 * delta))
    q = IntervalArray(float(mpmath.mpf(qi.a)) if False else _mp_down(qi.a), _mp_up(qi.b))
    B = 64
    # Q[b] = q^b (b < B), P[a] = q^(B a)
    qb_lo, qb_hi = [1.0], [1.0]
    cur = IntervalArray(1.0)
    for _ in range(1, B):
        cur = cur * q
        qb_lo.append(float(cur.lo)), qb_hi.append(float(cur.hi))
    qB = cur * q
    pa_lo, pa_hi = [1.0], [1.0]
    cur = IntervalArray(1.0)
    for _ in range(1, J // B + 2):
        cur = cur * qB
        pa_lo.append(float(cur.lo)), pa_hi.append(float(cur.hi))
    Q = IntervalArray(np.array(qb_lo), np.array(qb_hi))
    P = IntervalArray(np.array(pa_lo), np.array(pa_hi))
    ex = IntervalArray(np.outer(P.lo, Q.lo).ravel(), np.outer(P.hi, Q.hi).ravel())
    ex = IntervalArray(np.nextafter(ex.lo, -np.inf), _up(ex.hi))[: J + 1]  # e^{-2 j delta}
    ex = IntervalArray(np.maximum(ex.lo, 0.0), np.minimum(ex.hi, 1.0))
    t = (1.0 - ex) / (1.0 + ex)  # tanh(j delta)
    d = 1.0 - t * t  # tanh'(j delta)
    T = 0.5 * t.lo + 0.5 * t.hi
    D = 0.5 * d.lo + 0.5 * d.hi
    t_err = float(np.max(np.maximum(_up(T - t.lo), _up(t.hi - T))))
    d_err = float(np.max(np.maximum(_up(D - d.lo), _up(d.hi - D))))
    # E = t_err + d_err * delta/2 + (K2/2)(delta/2)^2 + 2u(1 + delta) + tail, rounded up
    K2 = iv.mpf(4) * iv.sqrt(3) / 9
    s = iv.mpf(delta) / 2
    tail = 2 * iv.exp(-2 * iv.mpf(_YMAX))  # 1 - tanh(Y) <= 2 e^{-2Y}
    E = (iv.mpf(t_err) + iv.mpf(d_err) * s + K2 / 2 * s * s + 2 * iv.mpf(_U) * (1 + s * 2)
         + tail)
    return T, D, _mp_up(E.b)


def _mp_up(x: Any) -> float:
    from symlip.intervals import _mpf_to_float

    return _mpf_to_float(mpmath.mpf(x) if not isinstance(x, mpmath.mpf) else x, up=True)


def _mp_down(x: Any) -> float:
    from symlip.intervals import _mpf_to_float

    return _mpf_to_float(mpmath.mpf(x) if not isinstance(x, mpmath.mpf) else x, up=False)


def tanh_kernel(z: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Values ``v`` with ``|v - tanh(z)| <= E`` elementwise for every double in ``z``.

    Returns:
        ``(v, E)``.
    """
    T, D, E = _tanh_table()
    scale = float(2**_DELTA_EXP)
    y = np.minimum(np.abs(z), _YMAX)
    j = np.rint(y * scale)
    s = y - j * (1.0 / scale)  # exact: Sterbenz (or j = 0)
    ji = j.astype(np.intp)
    v = T[ji] + D[ji] * s
    v = np.copysign(v, z, out=out)
    return v, E


def _sigmoid_kernel(z: np.ndarray) -> tuple[np.ndarray, float]:
    v, E = tanh_kernel(0.5 * z)
    v *= 0.5
    v += 0.5
    # 0.5 z exact unless subnormal (tanh' <= 1: error <= eta); 0.5 v exact; + rounds by u
    return v, float(_up(_up(E / 2 + _U) + _ETA))


_KERNELS = {"tanh": tanh_kernel, "sigmoid": _sigmoid_kernel}


def _generic_kernel(act: Any, z: np.ndarray) -> tuple[np.ndarray, float]:
    """Float values of sigma and a rigorous max elementwise error (mpmath per element)."""
    v = np.asarray(act.sigma(z), dtype=np.float64)
    err = 0.0
    from symlip.intervals import _endpoints, _iv_from, _float_to_mpf, _mpf_to_float

    with mpmath.workprec(64):
        for zi, vi in zip(z.ravel(), v.ravel()):
            m = _float_to_mpf(float(zi))
            enc = act.interval_sigma(_iv_from(m, m))
            lo, hi = _endpoints(enc)
            e = max(_mpf_to_float(hi - _float_to_mpf(float(vi)), True),
                    _mpf_to_float(_float_to_mpf(float(vi)) - lo, True))
            err = max(err, e)
    if not np.all(np.isfinite(v)):
        raise ValueError("non-finite activation values at the centre")
    return v, float(_up(err))


# ------------------------------------------------------------------------------------
# the forward pass with error bounds
# ------------------------------------------------------------------------------------


@dataclass
class CentreNorms:
    """Per-data-point certified quantities at the centre.

    Attributes:
        A: ``A[k-1]`` encloses $\\|a_k(\\bar\\theta; x)\\|$ for $k = 1..N$ (the last:
            $\\|f(x;\\bar\\theta)\\|$), one interval per data point.
        output: float outputs $\\hat f$ (batch, nN).
        output_err: per point, an upper bound of $\\|f(x;\\bar\\theta) - \\hat f\\|$.
        method: ``"table"`` / ``"generic"`` per hidden layer.
    """

    A: list[IntervalArray]
    output: np.ndarray
    output_err: np.ndarray
    method: list[str] = field(default_factory=list)


def centre_norms(net: Any, X: np.ndarray, *, spectral: list[float] | None = None,
                 chunk: int = 2048) -> CentreNorms | None:
    """Certified enclosures of the centre activation norms for every row of ``X``.

    Args:
        net: a :class:`~symlip.network.Network`.
        X: data, shape ``(n_points, n0)``, finite doubles.
        spectral: certified upper bounds of ``||W_k||_2`` (else the Frobenius bound).
        chunk: rows per block (memory).

    Returns:
        :class:`CentreNorms`, or ``None`` when an activation has no vectorised kernel
        and the arrays exceed :data:`GENERIC_ELEMENT_LIMIT` (the caller then drops the
        centre option; still rigorous).
    """
    layers = net.layers
    n_layers = len(layers)
    acts = list(net.activations)
    npts = X.shape[0]
    for k, act in enumerate(acts):
        if act.name not in _KERNELS and npts * layers[k].shape[0] > GENERIC_ELEMENT_LIMIT:
            return None
    frob = [frobenius_upper(layer.weight) for layer in layers]
    spec = spectral if spectral is not None else frob
    gam = [_gamma(layer.shape[1] + 1) for layer in layers]
    K1s = [float(a.constants.K1.enclosure.upper_float) for a in acts]
    A_parts: list[list[IntervalArray]] = [[] for _ in range(n_layers)]
    outs, oerrs = [], []
    methods = [a.name if a.name in _KERNELS else "generic" for a in acts]
    for start in range(0, npts, chunk):
        a = X[start:start + chunk]
        e = IntervalArray(np.zeros(a.shape[0]))
        anorm = row_norms(a)
        for k, layer in enumerate(layers):
            z = a @ layer.weight.T
            z += layer.bias
            m_out = layer.shape[0]
            zn = row_norms(z)
            under = float(_up(math.sqrt(m_out) * (layer.shape[1] + 2) * 2 * _ETA))
            ez = (e * spec[k] + anorm * (gam[k] * frob[k]) + zn * (2 * _U)) + under
            if k == n_layers - 1:
                outs.append(z)
                oerrs.append(ez.hi)
                A_parts[k].append(IntervalArray(np.maximum(zn.lo - ez.hi, 0), (zn + ez).hi))
                break
            act = acts[k]
            kern = _KERNELS.get(act.name)
            if kern is not None:
                a, E = kern(z)
            else:
                a, E = _generic_kernel(act, z)
            e = ez * K1s[k] + float(_up(math.sqrt(m_out) * _up(E * (1 + 4 * _U))))
            anorm = row_norms(a)
            A_parts[k].append(IntervalArray(np.maximum((anorm - e).lo, 0), (anorm + e).hi))
    A = [IntervalArray(np.concatenate([p.lo for p in parts]), np.concatenate([p.hi for p in parts]))
         for parts in A_parts]
    return CentreNorms(A, np.concatenate(outs), np.concatenate(oerrs), methods)
