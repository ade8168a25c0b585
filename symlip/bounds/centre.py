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
  $\delta = 2^{-10}$, $|\hat z| \le 20$: $\tanh(g + s) = \tanh g + \tanh'(g)s + \tfrac12\tanh''(g)s^2
  + R$, $|R| \le |s|^3/3$ with $|s| \le \delta/2$ (about $4\cdot 10^{-11}$); the table entries are certified
  enclosures (products of an mpmath-interval $e^{-2\delta}$ in outward-rounded float
  intervals) and the three float operations of the kernel add at most $2u$; the tail
  $|z| > 20$ adds $1 - \tanh 20 < 10^{-17}$.  Other activations are enclosed element
  by element with ``interval_sigma`` (mpmath), which is only done for small arrays.

Every per-point sum, product and square root of these error terms is evaluated in
outward-rounded :class:`~symlip.arith.array.IntervalArray` arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
from mpmath import iv

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure
from symlip.errors import InputError

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
    with np.errstate(over="ignore"):  # entries near 1e300: the bound is +inf (sound)
        s = float(np.dot(w.ravel(), w.ravel()))
        bound = _up(_up(s * _up(1.0 + 2 * _gamma(w.size + 1))) + w.size * 2 * _ETA)
    return float(_up(math.sqrt(bound)))


def _float_overflow_is_input_error(fn: Any) -> Any:
    """Float64 passes with a priori error bounds: an overflow (weights or data near 1e300)
    would turn the error bounds into inf - inf; it is reported as an
    :class:`~symlip.errors.InputError` instead of a NumPy warning or a NaN."""
    import functools

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            with np.errstate(over="raise", invalid="raise"):
                return fn(*args, **kwargs)
        except FloatingPointError as exc:
            raise InputError(f"the float64 pass with error bounds overflowed ({exc}): "
                             "weights or data too large for it (near 1e300)") from None

    return wrapped


#: matrices with min(shape) >= this use :func:`fast_spectral_upper`
FAST_SPECTRAL_MIN_DIM = 256


def spectral_upper(w: np.ndarray) -> tuple[Enclosure, str]:
    """Certified enclosure of ``||w||_2`` and the method used.

    Small matrices: :func:`symlip.arith.norms.spectral_norm` (tight to ~1e-10).  Large ones:
    :func:`symlip.arith.norms.spectral_norm_fast` (the same certificate started from a
    power-iteration estimate instead of a full ``eigvalsh``; gap ~1e-6 relative).
    """
    from symlip.arith.norms import spectral_norm, spectral_norm_fast

    w = np.asarray(w, dtype=np.float64)
    if min(w.shape) >= FAST_SPECTRAL_MIN_DIM:
        return spectral_norm_fast(w), "fast-spectral"
    return spectral_norm(w), "spectral"


def fast_spectral_upper(w: np.ndarray) -> float:
    """Certified upper bound of ``||w||_2`` for large matrices (a float, rounded up):
    :func:`symlip.arith.norms.spectral_norm_fast` (Gram-Cholesky certificate of
    :func:`symlip.arith.norms.spectral_norm` started from a power-iteration estimate)."""
    from symlip.arith.norms import spectral_norm_fast

    return spectral_norm_fast(np.asarray(w, dtype=np.float64)).upper_float


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
def _tanh_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    r"""Tables of tanh, tanh', tanh''/2 at j*delta (j = 0..J) and the kernel's error bound.

    Returns ``(T, D, C, E)``: floats with ``|tanh(z) - kernel(z)| <= E`` for every double.
    The kernel is the second-order Taylor polynomial at the nearest grid point,
    $T + s(D + sC)$, $|s| \le \delta/2$; the remainder is at most
    $\sup|\tanh'''|\,|s|^3/6$ with $\sup|\tanh'''| = 2$ ($\tanh''' = 2\,\mathrm{sech}^2
    (3\tanh^2 - 1)$ and $(1-t)|3t-1| \le 1$ for $t = \tanh^2 \in [0, 1)$).
    """
    delta = 2.0**-_DELTA_EXP
    J = int(_YMAX / delta)
    from symlip.arith.mpfuncs import iv_exp

    with mpmath.workprec(80):
        qi = iv_exp(iv.mpf(-2 * delta))  # e^{-2 delta}, rigorous
    # one extra ulp each side: mpmath's transcendental directed rounding can be off by a
    # few ulps of its working precision (see symlip.arith.mpfuncs.widen)
    q = IntervalArray(np.nextafter(_mp_down(qi.a), -np.inf), _up(_mp_up(qi.b)))
    B = 64
    # e^{-2 j delta} = P[a] Q[b], j = a B + b: Q[b] = q^b, P[a] = q^(B a), outward rounded
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
    ex = IntervalArray(np.nextafter(np.outer(pa_lo, qb_lo).ravel(), -np.inf),
                       _up(np.outer(pa_hi, qb_hi).ravel()))[: J + 1]
    ex = IntervalArray(np.maximum(ex.lo, 0.0), np.minimum(ex.hi, 1.0))
    t = (1.0 - ex) / (1.0 + ex)  # tanh(j delta)
    d = 1.0 - t * t  # tanh'(j delta)
    c = -(t * d)  # tanh''(j delta) / 2
    T = 0.5 * t.lo + 0.5 * t.hi
    D = 0.5 * d.lo + 0.5 * d.hi
    C = 0.5 * c.lo + 0.5 * c.hi

    def err(mid: np.ndarray, enc: IntervalArray) -> float:
        return float(np.max(np.maximum(_up(mid - enc.lo), _up(enc.hi - mid))))

    s = iv.mpf(delta) / 2
    tail = 2 * iv_exp(-2 * iv.mpf(_YMAX))  # 1 - tanh(Y) <= 2 e^{-2Y}
    # table errors + Taylor remainder (2 |s|^3 / 6) + Horner rounding (4 ops, terms <= 1)
    # + the tail (|z| > Y is clipped to Y)
    E = (iv.mpf(err(T, t)) + iv.mpf(err(D, d)) * s + iv.mpf(err(C, c)) * s * s
         + iv.mpf(2) * s ** 3 / 6 + 4 * iv.mpf(_U) * (1 + s) + tail)
    return T, D, C, float(_up(_mp_up(E.b) * (1 + 2.0**-40)))  # margin for mpmath's exp


def _mp_up(x: Any) -> float:
    from symlip.arith.enclosure import mpf_to_float

    return mpf_to_float(mpmath.mpf(x) if not isinstance(x, mpmath.mpf) else x, up=True)


def _mp_down(x: Any) -> float:
    from symlip.arith.enclosure import mpf_to_float

    return mpf_to_float(mpmath.mpf(x) if not isinstance(x, mpmath.mpf) else x, up=False)


def tanh_kernel(z: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Values ``v`` with ``|v - tanh(z)| <= E`` elementwise for every double in ``z``.

    Returns:
        ``(v, E)``.
    """
    T, D, C, E = _tanh_table()
    scale = float(2**_DELTA_EXP)
    y = np.minimum(np.abs(z), _YMAX)
    j = np.rint(y * scale)
    s = y - j * (1.0 / scale)  # exact: Sterbenz (or j = 0)
    ji = j.astype(np.intp)
    v = C[ji]
    v *= s
    v += D[ji]
    v *= s
    v += T[ji]
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
    from symlip.arith.enclosure import endpoints, float_to_mpf, iv_from, mpf_to_float

    with mpmath.workprec(64):
        width = z.shape[-1] if z.ndim else 1
        for i, (zi, vi) in enumerate(zip(z.ravel(), v.ravel())):
            m = float_to_mpf(float(zi))
            # neuron index (last axis): per-neuron activations such as linear splines
            enc = act.interval_sigma(iv_from(m, m), neuron=i % width)
            lo, hi = endpoints(enc)
            e = max(mpf_to_float(hi - float_to_mpf(float(vi)), True),
                    mpf_to_float(float_to_mpf(float(vi)) - lo, True))
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


@_float_overflow_is_input_error
def centre_norms(net: Any, X: np.ndarray, *, spectral: list[float] | None = None,
                 chunk: int = 2048) -> CentreNorms | None:
    """Certified enclosures of the centre activation norms for every row of ``X``.

    Args:
        net: a :class:`~symlip.models.network.Network`.
        X: data, shape ``(n_points, n0)``, finite doubles.
        spectral: certified upper bounds of ``||W_k||_2`` (else the Frobenius bound).
        chunk: rows per block (memory).

    Returns:
        :class:`CentreNorms`, or ``None`` when an activation has no vectorised kernel
        and the arrays exceed :data:`GENERIC_ELEMENT_LIMIT` (the caller then drops the
        centre option; still rigorous).
    """
    from symlip.models.network import check_no_residual

    check_no_residual(net, "centre_norms (the dense-chain centre forward pass)")
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
                a = np.empty_like(z)
                E = 0.0
                for b in range(0, z.shape[0], 128):  # cache-sized blocks
                    a[b:b + 128], Eb = kern(z[b:b + 128])
                    E = max(E, Eb)
            else:
                a, E = _generic_kernel(act, z)
            e = ez * K1s[k] + float(_up(math.sqrt(m_out) * _up(E * (1 + 4 * _U))))
            anorm = row_norms(a)
            A_parts[k].append(IntervalArray(np.maximum((anorm - e).lo, 0), (anorm + e).hi))
    A = [IntervalArray(np.concatenate([p.lo for p in parts]), np.concatenate([p.hi for p in parts]))
         for parts in A_parts]
    return CentreNorms(A, np.concatenate(outs), np.concatenate(oerrs), methods)


# ------------------------------------------------------------------------------------
# batched interval forward / backward pass (point parameters, a batch of points)
# ------------------------------------------------------------------------------------


@_float_overflow_is_input_error
def _ia_matmul(am: np.ndarray, ar: np.ndarray | None, bm: np.ndarray,
               br: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    r"""Midpoint-radius enclosure of a product of interval matrices.

    For every real $A$ with $|A - a_m| \le a_r$ and $B$ with $|B - b_m| \le b_r$
    (entrywise; ``None`` = 0), $|AB - C| \le R$ entrywise for the returned ``(C, R)``.

    Proof: $AB - a_m b_m = a_m(B - b_m) + (A - a_m)B$, so $|AB - a_m b_m| \le
    |a_m| b_r + a_r(|b_m| + b_r)$; $C = \mathrm{fl}(a_m b_m)$ (BLAS, any order, FMA or
    not) has $|C - a_m b_m| \le \gamma_k|a_m||b_m| + k\eta$ (Higham (3.5), inner
    dimension $k$).  Both radius terms are one nonnegative product
    $S = [|a_m|, a_r]\,[\gamma_k|b_m| + b_r;\ |b_m| + b_r]$ (inner dimension
    $k' \le 2k$, factors rounded up), whose exact value is at most
    $(\mathrm{fl}(S) + k'\eta)(1 + 2k'u)$ since $\gamma_{k'}/(1 - \gamma_{k'}) \le 2k'u$
    for $k'u \le 1/4$.  Every float operation on radii is rounded up.
    """
    k = am.shape[-1]
    g = _gamma(k)
    mid = am @ bm
    absbm = np.abs(bm)
    left = _up(_up(absbm * g) + br) if br is not None else _up(absbm * g)
    if ar is None:
        S = np.abs(am) @ left
        k2 = k
    else:
        right = _up(absbm + br) if br is not None else absbm
        S = np.concatenate([np.abs(am), ar], axis=-1) @ np.concatenate([left, right], axis=0)
        k2 = 2 * k
    grow = float(_up(1.0 + 2.0 * _up(k2 * _U)))
    rad = _up(_up(_up(S + k2 * _ETA) * grow) + 2 * k * _ETA)
    return mid, np.maximum(rad, _RAD_FLOOR)


def _ia_row_scale(zm: np.ndarray, zr: np.ndarray | None,
                  d: IntervalArray) -> tuple[np.ndarray, np.ndarray]:
    r"""Midpoint-radius enclosure of $\operatorname{diag}(d)\,Z$ for every real $Z$ with
    $|Z - z_m| \le z_r$ and every $d$ in the interval vector ``d`` (one per row).

    With $d \in [d_m \pm d_r]$: $|dZ - d_m z_m| \le |z_m| d_r + z_r(|d_m| + d_r)$, and
    $\mathrm{fl}(z_m d_m)$ errs by at most $u|\mathrm{fl}(z_m d_m)| + \eta$
    ($\mathrm{fl}(x) = x/(1 + \delta)$, $|\delta| \le u$); radii rounded up.
    """
    dmid, drad = _to_midrad(d)
    dm = zm * dmid[:, None]
    zr = np.zeros_like(zm) if zr is None else zr
    dr = _up(_up(_up(np.abs(zm) * drad[:, None])
                 + _up(zr * _up(np.abs(dmid) + drad)[:, None]))
             + _up(_up(np.abs(dm) * _U) + _ETA))
    return dm, np.maximum(dr, _RAD_FLOOR)


def _ia_add(am: np.ndarray, ar: np.ndarray, bm: np.ndarray,
            br: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Midpoint-radius enclosure of $A + B$: $\mathrm{fl}(a_m + b_m)$ errs by at most
    $u|\mathrm{fl}(a_m + b_m)|$ (a sum never underflows inexactly); radii rounded up."""
    mid = am + bm
    return mid, _up(_up(ar + br) + _up(np.abs(mid) * _U))


#: smallest radius kept (a larger radius is still an enclosure): keeps subnormal numbers,
#: which are very slow on x86, out of the interval arrays (nextafter(0) is subnormal)
_RAD_FLOOR = 2.0**-500


def _to_interval(mid: np.ndarray, rad: np.ndarray) -> IntervalArray:
    return IntervalArray(np.nextafter(mid - rad, -np.inf), _up(mid + rad))


def _to_midrad(a: IntervalArray) -> tuple[np.ndarray, np.ndarray]:
    mid = 0.5 * a.lo + 0.5 * a.hi  # any float inside [lo, hi] will do
    mid = np.minimum(np.maximum(mid, a.lo), a.hi)
    rad = np.maximum(_up(a.hi - mid), _up(mid - a.lo))
    return mid, np.maximum(rad, _RAD_FLOOR)


_ACT_IV_CACHE: dict[int, Any] = {}


def _interval_act(act: Any) -> tuple[Any, Any]:
    """Rigorous NumPy-interval versions of sigma and sigma' (cached per activation)."""
    key = id(act)
    if key not in _ACT_IV_CACHE:
        from symlip.activations.registry import X as _X
        from symlip.symbolic.compile import interval_lambdify

        expr = getattr(act, "derivatives", None)
        if expr is None:
            raise ValueError(f"activation {getattr(act, 'name', act)!r} has no symbolic "
                             "derivative (needed for a rigorous interval gradient)")
        f0 = interval_lambdify([_X], expr[0], backend="numpy")
        f1 = interval_lambdify([_X], expr[1], backend="numpy")
        _ACT_IV_CACHE[key] = (act, f0, f1)
    return _ACT_IV_CACHE[key][1], _ACT_IV_CACHE[key][2]


@dataclass
class IntervalTrace:
    """Enclosures of a forward pass: ``inputs[k]`` = $a_k$ ($a_0 = x$), ``dsigma[k]`` =
    $\\sigma'(z_{k+1})$ for the hidden layers, ``output`` = $f$; batch along axis 0."""

    inputs: list[IntervalArray]
    dsigma: list[IntervalArray]
    output: IntervalArray


def interval_trace(net: Any, X: np.ndarray) -> IntervalTrace:
    """Rigorous enclosures of the activations, the derivatives $\\sigma'(z_k)$ and the
    outputs of ``net`` at the rows of ``X`` (exact real values for the float weights)."""
    from symlip.models.network import check_no_residual

    check_no_residual(net, "interval_trace (the dense-chain interval forward pass)")
    a = IntervalArray(np.asarray(X, dtype=np.float64))
    am, ar = a.lo, None
    ins, ds = [a], []
    for k, layer in enumerate(net.layers):
        zm, zr = _ia_matmul(am, ar, layer.weight.T, None)
        z = _to_interval(zm, zr) + IntervalArray(layer.bias)
        if k == net.depth - 1:
            return IntervalTrace(ins, ds, z)
        s0, s1 = _interval_act(net.activations[k])
        with np.errstate(over="ignore", invalid="ignore"):
            a, d = IntervalArray.wrap(s0(z)), IntervalArray.wrap(s1(z))
        if not (np.all(np.isfinite(a.lo)) and np.all(np.isfinite(a.hi))
                and np.all(np.isfinite(d.lo)) and np.all(np.isfinite(d.hi))):
            raise ValueError(f"interval activation after layer {layer.name!r} is not finite")
        ins.append(a)
        ds.append(d)
        am, ar = _to_midrad(a)
    raise AssertionError("unreachable")  # pragma: no cover


def interval_backward(net: Any, tr: IntervalTrace, delta: IntervalArray) -> IntervalArray:
    r"""Enclosure of $\sum_i \delta_i^T \partial f(x_i)/\partial\theta$ (the gradient of
    $\sum_i \langle \delta_i, f(x_i;\theta)\rangle$ for fixed $\delta_i$ enclosures,
    ``delta`` of shape (batch, nN)), in :meth:`Network.params` order."""
    parts: list[tuple[IntervalArray, IntervalArray]] = []
    dm, dr = _to_midrad(delta)
    ones = np.ones((1, dm.shape[0]))
    for k in range(net.depth - 1, -1, -1):
        am, ar = _to_midrad(tr.inputs[k])
        gm, gr = _ia_matmul(dm.T, dr.T, am, ar)
        bm, brr = _ia_matmul(ones, None, dm, dr)
        parts.append((_to_interval(gm, gr), _to_interval(bm[0], brr[0])))
        if k > 0:
            pm, pr = _ia_matmul(dm, dr, net.layers[k].weight, None)
            dm, dr = _to_midrad(_to_interval(pm, pr) * tr.dsigma[k - 1])
    parts.reverse()
    lo = np.concatenate([x for gW, gb in parts for x in (gW.lo.ravel(), gb.lo)])
    hi = np.concatenate([x for gW, gb in parts for x in (gW.hi.ravel(), gb.hi)])
    return IntervalArray(lo, hi)


# ------------------------------------------------------------------------------------
# certified centre Jacobian norms w.r.t. the parameters (small problems)
# ------------------------------------------------------------------------------------

#: largest ``n_points * sum_k n_k * P_{<=k}`` for which the centre Jacobians are computed
JACOBIAN_ELEMENT_BUDGET = 4_000_000
#: largest number of data points for the centre Jacobians (one spectral norm per point)
JACOBIAN_POINT_BUDGET = 16


def jacobian_cost(net: Any, n_points: int) -> int:
    """``n_points * sum_k n_k * P_{<=k}``: the size of the centre Jacobians."""
    tot, P = 0, 0
    for layer in net.layers:
        P += layer.n_params
        tot += layer.shape[0] * P
    return n_points * tot


def _interval_norm2_upper(mid: np.ndarray, rad: np.ndarray) -> float:
    r"""Certified upper bound of $\sup\{\|M\|_2 : |M - \mathrm{mid}| \le \mathrm{rad}\}$:
    $\|\mathrm{mid}\|_2 + \|\mathrm{rad}\|_F$ (Weyl / triangle inequality)."""
    from symlip.arith.norms import spectral_norm

    if mid.size == 0:
        return 0.0
    s = spectral_norm(mid).upper_float
    return float(_up(s + frobenius_upper(rad)))


def centre_jacobians(net: Any, X: np.ndarray) -> dict[str, IntervalArray]:
    r"""Per data point, certified upper bounds of the centre Jacobian norms
    $J^z_k \ge \|D_\theta z_k(\bar\theta; x)\|_2$ ($k \ge 2$),
    $J^r_k \ge \max_i\|\nabla_\theta z_{k,i}(\bar\theta; x)\|_2$ ($2 \le k < N$) and
    $J^a_k \ge \|D_\theta a_k(\bar\theta; x)\|_2$ ($k < N$), as interval arrays
    ``[0, bound]`` keyed ``Jz_k``, ``Jr_k``, ``Ja_k``.

    Forward-mode differentiation in midpoint-radius interval arithmetic on the
    enclosures of :func:`interval_trace`: $Dz_k = [W_k\,Da_{k-1} \mid I \otimes a_{k-1}^T
    \mid I]$ (columns: earlier parameters, $W_k$, $b_k$; the order does not affect the
    norms), $Da_k = \mathrm{diag}(\sigma'(z_k))\,Dz_k$; the spectral norm of the midpoint
    matrix is certified by :func:`symlip.arith.norms.spectral_norm`, the radius matrix adds its
    Frobenius norm.  One spectral norm per point and layer: meant for small problems
    (see :data:`JACOBIAN_ELEMENT_BUDGET`).
    """
    from symlip.models.network import check_no_residual

    check_no_residual(net, "centre_jacobians (dense-chain Jacobians)")
    tr = interval_trace(net, X)
    N = net.depth
    out: dict[str, list[float]] = {}
    for i in range(X.shape[0]):
        dm = np.zeros((net.widths[0], 0))
        dr = np.zeros((net.widths[0], 0))
        for k in range(1, N + 1):
            layer = net.layers[k - 1]
            nk = layer.shape[0]
            pm, pr = _ia_matmul(layer.weight, None, dm, dr)
            a = tr.inputs[k - 1][i]
            am, ar = _to_midrad(IntervalArray(a.lo[None, :], a.hi[None, :]))
            eye = np.eye(nk)
            zm = np.concatenate([pm, np.kron(eye, am), eye], axis=1)
            zr = np.concatenate([pr, np.kron(eye, ar), np.zeros((nk, nk))], axis=1)
            if k >= 2:
                out.setdefault(f"Jz_{k}", []).append(_interval_norm2_upper(zm, zr))
            if k == N:
                break
            if k >= 2:
                rows = row_norms(_up(np.abs(zm) + zr))
                out.setdefault(f"Jr_{k}", []).append(float(np.max(rows.hi)))
            d = tr.dsigma[k - 1][i]
            dm, dr = _ia_row_scale(zm, zr, IntervalArray(d.lo, d.hi))
            out.setdefault(f"Ja_{k}", []).append(_interval_norm2_upper(dm, dr))
    return {key: IntervalArray(np.zeros(len(v)), np.asarray(v, dtype=np.float64))
            for key, v in out.items()}
