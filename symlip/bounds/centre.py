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
  a\|$, and the last term is bounded by the rigorous float kernels of
  :mod:`symlip.arith.kernels` (tanh, sigmoid): $\hat a$ is the lower end of the kernel's
  point enclosure of $\sigma(\hat z)$ and $E$ its largest width (a few ulps;
  ``docs/intervals.md``), so $|\sigma(\hat z) - \hat a| \le E$ elementwise.  Other
  activations are enclosed element by element with ``interval_sigma`` (mpmath), which
  is only done for small arrays.

Every per-point sum, product and square root of these error terms is evaluated in
outward-rounded :class:`~symlip.arith.array.IntervalArray` arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np

from symlip.arith import kernels as _npk
from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure
from symlip.arith.linalg import (
    ETA,
    U,
    from_midrad,
    gamma,
    midrad_matmul,
    midrad_row_scale,
    overflow_is_input_error,
    to_midrad,
    up,
)
from symlip.models.network import IntervalTrace

__all__ = ["CentreNorms", "centre_norms", "spectral_upper", "frobenius_upper", "row_norms",
           "ce_output_gradient", "interval_output_gradient", "loss_boxes"]

#: element budget of the generic (mpmath, element by element) activation enclosure
GENERIC_ELEMENT_LIMIT = 20000


# ------------------------------------------------------------------------------------
# norms of weights (certified upper bounds)
# ------------------------------------------------------------------------------------


def frobenius_upper(w: np.ndarray) -> float:
    """Certified upper bound of ``||w||_F`` (float sum of squares with error bound)."""
    w = np.asarray(w, dtype=np.float64)
    with np.errstate(over="ignore"):  # entries near 1e300: the bound is +inf (sound)
        s = float(np.dot(w.ravel(), w.ravel()))
        bound = up(up(s * up(1.0 + 2 * gamma(w.size + 1))) + w.size * 2 * ETA)
    return float(up(math.sqrt(bound)))


#: matrices with min(shape) >= this use :func:`fast_spectral_upper`
FAST_SPECTRAL_MIN_DIM = 256


#: results of deterministic certified computations keyed by the bytes of their inputs
#: (spectral norms, centre forward passes): ``param_lipschitz`` and ``grad_lipschitz``
#: on the same network and data share them (the same numbers a fresh call computes)
_CONTENT_CACHE: dict[Any, Any] = {}
_CONTENT_CACHE_SIZE = 8


def _digest(*arrays: Any) -> tuple[Any, ...]:
    """A key for the contents of ``arrays``: a read-only array that owns its data (the
    weights of a :class:`~symlip.models.network.Network` layer) by its ``id`` (the cache
    entry keeps it alive, so the ``id`` is not reused), any other by a hash of its bytes."""
    import hashlib

    out: list[Any] = []
    for a in arrays:
        a = np.asarray(a)
        if not a.flags.writeable and a.flags.owndata:
            out.append(("id", id(a), a.dtype.str, a.shape))
            continue
        a = np.ascontiguousarray(a)
        h = hashlib.blake2b(digest_size=20)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
        out.append(h.hexdigest())
    return tuple(out)


def _cached(key: Any, compute: Any, pin: Any = None) -> Any:
    """``compute()`` once per ``key`` (a few recent keys kept; ``pin``: objects whose
    ``id`` is part of the key, kept alive with the entry)."""
    if key in _CONTENT_CACHE:
        return _CONTENT_CACHE[key][0]
    val = compute()
    if _CONTENT_CACHE_SIZE <= 0:
        return val
    while len(_CONTENT_CACHE) >= _CONTENT_CACHE_SIZE:
        _CONTENT_CACHE.pop(next(iter(_CONTENT_CACHE)))
    _CONTENT_CACHE[key] = (val, pin)
    return val


def spectral_upper(w: np.ndarray) -> tuple[Enclosure, str]:
    """Certified enclosure of ``||w||_2`` and the method used (cached by the bytes of
    ``w`` for large matrices: a deterministic computation).

    Small matrices: :func:`symlip.arith.norms.spectral_norm` (tight to ~1e-10).  Large ones:
    :func:`symlip.arith.norms.spectral_norm_fast` (the same certificate started from a
    power-iteration estimate instead of a full ``eigvalsh``; gap ~1e-6 relative).
    """
    from symlip.arith.norms import spectral_norm, spectral_norm_fast

    w = np.asarray(w, dtype=np.float64)
    if min(w.shape) >= FAST_SPECTRAL_MIN_DIM:
        return _cached(("spectral", _digest(w)),
                       lambda: (spectral_norm_fast(w), "fast-spectral"), pin=w)
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


def ce_output_gradient(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""Float $\mathrm{softmax}(f_i) - e_{y_i}$ per row (not certified), with the entry
    $y_i$ as $-\sum_{j\ne y_i}p_j$: $p_{y_i} - 1$ cancels when the prediction is
    confident (at $1 - p_{y_i} = 10^{-13}$ it keeps only 3 digits), and finite differences
    of such gradients (the Hessian power iteration) would be rounding noise."""
    z = f - f.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(p.shape[0])
    off = p.copy()
    off[rows, y] = 0.0
    p[rows, y] = -off.sum(axis=1)
    return p


def row_norms(a: np.ndarray) -> IntervalArray:
    """Enclosures of the Euclidean norms of the rows of a float array (exact values)."""
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[1]
    s = np.einsum("ij,ij->i", a, a)
    g = gamma(n)
    lo = np.maximum(np.nextafter(s / (1.0 + g) * (1 - 2 * U), -np.inf), 0.0)
    hi = up(up(s / (1.0 - g)) * (1 + 2 * U)) + n * 2 * ETA
    return IntervalArray(lo, up(hi)).sqrt()


def interval_output_gradient(F: IntervalArray, y: np.ndarray, loss: str) -> IntervalArray:
    r"""Per row, an enclosure of the loss gradient $\nabla_f\lambda$ for every output $f$ in
    the boxes ``F``: $f - y$ (MSE, ``y`` targets) or $\mathrm{softmax}(f) - e_y$
    (cross-entropy, ``y`` class indices; the rigorous softmax kernel on the boxes)."""
    if loss == "mse":
        return F - IntervalArray(np.asarray(y, dtype=np.float64).reshape(F.lo.shape))
    P = _npk.softmax_box(F)
    onehot = np.zeros(P.lo.shape)
    onehot[np.arange(onehot.shape[0]), np.asarray(y, dtype=np.intp).ravel()] = 1.0
    return P - IntervalArray(onehot)


def loss_boxes(cn: CentreNorms, y: np.ndarray, loss: str) -> IntervalArray:
    r"""Per point, an enclosure of the loss $\lambda(f(x_i), y_i)$ from the float outputs
    ``cn.output`` and the bounds ``cn.output_err`` of $\|f_i - \hat f_i\|$.

    MSE: $\frac12\|f - y\|^2$ with $\|f - y\| \in \|\hat f - y\| \pm e$ (the float
    difference rounds by $u|\hat f - y|$ per entry).  Cross-entropy: $\lambda(\hat f) =
    \log\sum_je^{\hat f_j - \hat f_y}$ with the rigorous ``exp`` and ``log`` kernels,
    widened by $\sqrt2\,e$ ($\|\nabla_f\lambda\| = \|p - e_y\| \le \sqrt2$)."""
    f = np.asarray(cn.output, dtype=np.float64)
    e = np.asarray(cn.output_err, dtype=np.float64)
    if loss == "mse":
        dn = row_norms(f - y)
        dn = IntervalArray(np.nextafter(dn.lo * (1 - 2 * U), -np.inf),
                           np.nextafter(dn.hi * (1 + 2 * U), np.inf))
        lo = np.maximum(dn.lo - e, 0.0)
        hi = dn.hi + e
        return IntervalArray(np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)).square() * 0.5
    n = f.shape[0]
    fy = IntervalArray(f[np.arange(n), np.asarray(y, dtype=np.intp)])
    S = IntervalArray(np.zeros(n))
    for j in range(f.shape[1]):
        d = IntervalArray(f[:, j]) - fy
        S = S + IntervalArray(*_npk.exp(d.lo, d.hi))
    lam = IntervalArray(*_npk.log(S.lo, S.hi))
    w = up(e * float(up(math.sqrt(2.0))))
    return IntervalArray(np.maximum(np.nextafter(lam.lo - w, -np.inf), 0.0), up(lam.hi + w))


def interval_row_norms(a: IntervalArray, plus: float = 0.0) -> IntervalArray:
    """Per row of an interval matrix, an enclosure of $\\sqrt{\\|a\\|^2 + \\mathrm{plus}}$
    for every $a$ in it."""
    sq = a.square()
    acc = IntervalArray(np.full(a.lo.shape[0], float(plus)))
    for j in range(a.lo.shape[1]):
        acc = acc + sq[:, j]
    return acc.sqrt()


# ------------------------------------------------------------------------------------
# float values of the activation with a rigorous error bound
# ------------------------------------------------------------------------------------


def _kernel_values(kernel: Any, z: np.ndarray) -> tuple[np.ndarray, float]:
    """Values ``v`` with ``|v - sigma(z)| <= E`` elementwise for every double in ``z``:
    the lower ends of the rigorous point enclosures ``[lo, hi]`` of a kernel of
    :mod:`symlip.arith.kernels` and ``E`` their largest width (rounded up; a few ulps).

    Returns:
        ``(v, E)``.
    """
    lo, hi = kernel(z, z)
    return lo, float(up(np.max(hi - lo, initial=0.0)))  # sigma(z) in [lo, hi]


#: activations with a vectorised rigorous kernel (the others: mpmath per element)
_KERNELS = {"tanh": _npk.tanh, "sigmoid": _npk.sigmoid}


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
    return v, float(up(err))


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
    #: float last hidden activations $\hat a_{N-1}$ (batch, n_{N-1}) and per point a
    #: certified bound of $\|a_{N-1}(x;\bar\theta) - \hat a_{N-1}\|$ (depth >= 2)
    last_hidden: np.ndarray | None = None
    last_hidden_err: np.ndarray | None = None


def centre_norms(net: Any, X: np.ndarray, *, spectral: list[float] | None = None,
                 chunk: int = 2048) -> CentreNorms | None:
    """:func:`_centre_norms`, cached by the bytes of the weights, the data and the
    spectral bounds for large problems (param and gradient bounds share it)."""
    return cached_on_network(
        "centre", net, X, np.asarray(spectral if spectral is not None else [], float),
        (tuple(type(lay).__name__ for lay in net.layers), chunk),
        lambda: _centre_norms(net, X, spectral=spectral, chunk=chunk))


def cached_on_network(tag: str, net: Any, X: np.ndarray, array: np.ndarray, extra: Any,
                      compute: Any) -> Any:
    """``compute()``, cached for large problems (``X.size * max width >= 10^7``) by
    ``tag``, the contents of the weights, biases, the data and ``array``, the identity
    of the activations and ``extra``, so that the parameter and gradient bounds on the
    same network and data share centre quantities (which their users never modify)."""
    if X.size * max(net.widths) < 10_000_000:
        return compute()
    acts = tuple(net.activations)
    key = (tag, _digest(X, *[a for lay in net.layers for a in (lay.weight, lay.bias)], array),
           tuple(id(a) for a in acts), extra)
    return _cached(key, compute, pin=(acts, [lay.weight for lay in net.layers],
                                      [lay.bias for lay in net.layers]))


@overflow_is_input_error
def _centre_norms(net: Any, X: np.ndarray, *, spectral: list[float] | None = None,
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
    gam = [gamma(layer.shape[1] + 1) for layer in layers]
    K1s = [float(a.constants.K1.enclosure.upper_float) for a in acts]
    A_parts: list[list[IntervalArray]] = [[] for _ in range(n_layers)]
    outs, oerrs, lasts, lerrs = [], [], [], []
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
            under = float(up(math.sqrt(m_out) * (layer.shape[1] + 2) * 2 * ETA))
            ez = (e * spec[k] + anorm * (gam[k] * frob[k]) + zn * (2 * U)) + under
            if k == n_layers - 1:
                outs.append(z)
                oerrs.append(ez.hi)
                if k > 0:
                    lasts.append(a)
                    lerrs.append(np.asarray(e.hi, dtype=np.float64))
                A_parts[k].append(IntervalArray(np.maximum(zn.lo - ez.hi, 0), (zn + ez).hi))
                break
            act = acts[k]
            kern = _KERNELS.get(act.name)
            if kern is not None:
                a, E = _kernel_values(kern, z)
            else:
                a, E = _generic_kernel(act, z)
            e = ez * K1s[k] + float(up(math.sqrt(m_out) * up(E * (1 + 4 * U))))
            anorm = row_norms(a)
            A_parts[k].append(IntervalArray(np.maximum((anorm - e).lo, 0), (anorm + e).hi))
    A = [IntervalArray(np.concatenate([p.lo for p in parts]), np.concatenate([p.hi for p in parts]))
         for parts in A_parts]
    last = (np.concatenate(lasts), np.concatenate(lerrs)) if lasts else (None, None)
    return CentreNorms(A, np.concatenate(outs), np.concatenate(oerrs), methods, *last)


# ------------------------------------------------------------------------------------
# batched interval forward / backward pass (point parameters, a batch of points)
# ------------------------------------------------------------------------------------


def interval_trace(net: Any, X: np.ndarray) -> IntervalTrace:
    """:meth:`~symlip.models.network.Network.interval_trace` with the derivatives
    $\\sigma'(z_k)$, for the dense chains :func:`interval_backward` and
    :func:`centre_jacobians` take."""
    from symlip.models.network import check_no_residual

    check_no_residual(net, "interval_trace (the dense-chain interval forward pass)")
    return net.interval_trace(X, dsigma=True)


def interval_backward(net: Any, tr: IntervalTrace, delta: IntervalArray) -> IntervalArray:
    r"""Enclosure of $\sum_i \delta_i^T \partial f(x_i)/\partial\theta$ (the gradient of
    $\sum_i \langle \delta_i, f(x_i;\theta)\rangle$ for fixed $\delta_i$ enclosures,
    ``delta`` of shape (batch, nN)), in :meth:`Network.params` order.  Residual blocks
    $a_k = a_{k-1} + h_k\sigma(z_k)$: $\partial/\partial z_k = h_k\sigma'(z_k)\odot g_k$
    and $g_{k-1} = g_k + W_k^T\partial/\partial z_k$ for the state gradient $g_k$ (``tr``
    from :meth:`Network.interval_trace` with ``dsigma``)."""
    from symlip.arith.linalg import midrad_add
    from symlip.models.network import ResidualLayer

    parts: list[tuple[IntervalArray, IntervalArray]] = []
    dm, dr = to_midrad(delta)  # df/dz of the read-out
    ones = np.ones((1, dm.shape[0]))
    ga: tuple[np.ndarray, np.ndarray] | None = None  # the gradient w.r.t. the state
    for k in range(net.depth - 1, -1, -1):
        layer = net.layers[k]
        res = isinstance(layer, ResidualLayer)
        if ga is not None:  # hidden layer: delta_k = t_k sigma'(z_k) (.) ga
            d = tr.dsigma[k] * float(layer.step) if res else tr.dsigma[k]
            dm, dr = to_midrad(from_midrad(*ga) * d)
        am, ar = to_midrad(tr.inputs[k])
        gm, gr = midrad_matmul(dm.T, dr.T, am, ar)
        bm, brr = midrad_matmul(ones, None, dm, dr)
        parts.append((from_midrad(gm, gr), from_midrad(bm[0], brr[0])))
        if k > 0:
            pm, pr = midrad_matmul(dm, dr, layer.weight, None)
            # a residual block passes the state gradient on: a = a_in + h sigma(W a_in + b)
            ga = midrad_add(pm, pr, *ga) if res and ga is not None else (pm, pr)
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
    return float(up(s + frobenius_upper(rad)))


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
            pm, pr = midrad_matmul(layer.weight, None, dm, dr)
            a = tr.inputs[k - 1][i]
            am, ar = to_midrad(IntervalArray(a.lo[None, :], a.hi[None, :]))
            eye = np.eye(nk)
            zm = np.concatenate([pm, np.kron(eye, am), eye], axis=1)
            zr = np.concatenate([pr, np.kron(eye, ar), np.zeros((nk, nk))], axis=1)
            if k >= 2:
                out.setdefault(f"Jz_{k}", []).append(_interval_norm2_upper(zm, zr))
            if k == N:
                break
            if k >= 2:
                rows = row_norms(up(np.abs(zm) + zr))
                out.setdefault(f"Jr_{k}", []).append(float(np.max(rows.hi)))
            d = tr.dsigma[k - 1][i]
            dm, dr = midrad_row_scale(zm, zr, IntervalArray(d.lo, d.hi))
            out.setdefault(f"Ja_{k}", []).append(_interval_norm2_upper(dm, dr))
    return {key: IntervalArray(np.zeros(len(v)), np.asarray(v, dtype=np.float64))
            for key, v in out.items()}
