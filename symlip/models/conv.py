r"""2-D convolutions as linear operators on a given input shape, and their certified norms.

A convolution (ONNX ``Conv`` / ``torch.nn.Conv2d``: pads, strides, dilations, groups) on
an input of shape $(C, H, W)$ is the linear map

$$ y[o, i, j] = b_o + \sum_{c, p, q} K[o, c, p, q]\;
   x[g(o) C_g + c,\; i s_h + p d_h - \pi_t,\; j s_w + q d_w - \pi_l] , $$

with zero outside the image (or, with ``circular=True``, the indices taken modulo
$H, W$).  Vectors are flattened channel-major, $(C, H, W)$ row-major, as
``torch.flatten`` and ONNX ``Flatten`` do.

:class:`ConvLayer` is a :class:`~symlip.models.network.DenseLayer` whose ``weight`` is the
explicit matrix of this map (each entry a kernel entry or 0, copied exactly), so every
bound of symlip applies unchanged to networks with convolutions: the matrix *is* the
operator, not an approximation.  It also keeps the kernel and the geometry, for the
kernel-parameter view (``docs/theory-conv.md``, Lemma C1) and :func:`conv_norm`.

:func:`conv_norm` encloses $\|K\|_{op}$ (the spectral norm of that matrix):

* the explicit matrix through :func:`symlip.arith.norms.spectral_norm` when it is small;
* otherwise the Fourier-domain block bound on the torus of the padded size, certified
  by outward-rounded error bounds and a Cholesky test per frequency (exact for
  circular padding with stride 1; an upper bound otherwise), and a certified lower end
  from a vector (the top singular vector of the worst frequency, or Lanczos
  with the convolution and its transpose) evaluated with a rigorous error bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from symlip.arith.enclosure import Enclosure
from symlip.errors import InputError
from symlip.models.network import DenseLayer

__all__ = [
    "ConvGeometry",
    "ConvLayer",
    "conv_matrix",
    "conv_apply",
    "conv_transpose_apply",
    "conv_norm",
    "conv_norm_info",
    "power_iteration",
    "lanczos_vector",
    "patch_count",
    "check_no_conv",
]


def check_no_conv(net: Any, what: str) -> None:
    """Raise :class:`InputError` if ``net`` has convolution layers (or layers an importer
    marked in ``net.derived_layers``: pools, folded scales) and ``what`` (a bound whose
    parameters are the entries of dense weights) would treat the entries of the explicit
    matrix as independent parameters: that bounds a different perturbation set than the
    kernel's (see ``docs/theory-conv.md``, Lemma C1)."""
    convs = [lay.name for lay in getattr(net, "layers", ()) if isinstance(lay, ConvLayer)]
    derived = dict(getattr(net, "derived_layers", None) or {})
    for name in convs:
        derived.setdefault(name, "a convolution")
    if derived:
        name, why = next(iter(sorted(derived.items())))
        raise InputError(f"{what} is not available for this network: layer {name!r} is "
                         f"{why}, so its matrix entries are not independent parameters "
                         f"(layers {sorted(derived)}); --wrt input (global and local) is")


def _pair(v: Any, what: str, minimum: int) -> tuple[int, int]:
    try:
        t = tuple(int(a) for a in (v if isinstance(v, (tuple, list)) else (v, v)))
    except (TypeError, ValueError):
        raise InputError(f"{what}={v!r} must be an integer or a pair of integers") from None
    if len(t) != 2 or min(t) < minimum:
        raise InputError(f"{what}={v!r} must be two integers >= {minimum}")
    return t  # type: ignore[return-value]


@dataclass(frozen=True)
class ConvGeometry:
    """Shape data of a 2-D convolution on a fixed input shape.

    Args:
        in_shape: ``(C, H, W)``.
        out_channels: ``O`` (a multiple of ``groups``).
        kernel_shape: ``(kh, kw)``.
        strides, dilations: pairs of integers >= 1.
        pads: ``(top, left, bottom, right)`` (the ONNX order), integers >= 0.
        groups: ``C`` and ``O`` are multiples of it.
        circular: indices wrap around (PyTorch ``padding_mode='circular'``) instead of
            reading zeros.

    Raises:
        InputError: bad shapes, an empty output, channels not divisible by ``groups``.
    """

    in_shape: tuple[int, int, int]
    out_channels: int
    kernel_shape: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    groups: int = 1
    circular: bool = False

    def __post_init__(self) -> None:
        try:
            ins = tuple(int(a) for a in self.in_shape)
            pads = tuple(int(a) for a in self.pads)
        except (TypeError, ValueError):
            raise InputError(f"bad convolution shapes {self.in_shape!r}, {self.pads!r}") from None
        if len(ins) != 3 or min(ins) < 1:
            raise InputError(f"in_shape={self.in_shape!r} must be (C, H, W) of positive ints")
        if len(pads) != 4 or min(pads) < 0:
            raise InputError(f"pads={self.pads!r} must be (top, left, bottom, right) >= 0")
        object.__setattr__(self, "in_shape", ins)
        object.__setattr__(self, "pads", pads)
        object.__setattr__(self, "kernel_shape", _pair(self.kernel_shape, "kernel_shape", 1))
        object.__setattr__(self, "strides", _pair(self.strides, "strides", 1))
        object.__setattr__(self, "dilations", _pair(self.dilations, "dilations", 1))
        g, o, c = int(self.groups), int(self.out_channels), ins[0]
        if g < 1 or o < 1 or c % g or o % g:
            raise InputError(f"groups={self.groups!r}: input channels {c} and output channels "
                             f"{self.out_channels} must be positive multiples of it")
        object.__setattr__(self, "groups", g)
        object.__setattr__(self, "out_channels", o)
        oh, ow = self.out_hw
        if oh < 1 or ow < 1:
            raise InputError(f"convolution with kernel {self.kernel_shape}, pads {pads}, "
                             f"dilations {self.dilations} on input {ins} has an empty output")
        if self.circular:
            (kh, kw), (dh, dw) = self.kernel_shape, self.dilations
            if (kh - 1) * dh + 1 > ins[1] or (kw - 1) * dw + 1 > ins[2] or \
                    max(pads[0], pads[2]) > ins[1] or max(pads[1], pads[3]) > ins[2]:
                raise InputError("circular padding needs the kernel extent and the pads "
                                 f"within the input size {ins[1:]} (kernel "
                                 f"{self.kernel_shape}, dilations {self.dilations}, pads {pads})")

    @property
    def padded_hw(self) -> tuple[int, int]:
        t, left, b, r = self.pads
        return self.in_shape[1] + t + b, self.in_shape[2] + left + r

    @property
    def torus_hw(self) -> tuple[int, int]:
        """The torus of the Fourier bound: the input size (circular) or the padded size."""
        return tuple(self.in_shape[1:]) if self.circular else self.padded_hw  # type: ignore

    @property
    def out_hw(self) -> tuple[int, int]:
        (hp, wp), (kh, kw) = self.padded_hw, self.kernel_shape
        (sh, sw), (dh, dw) = self.strides, self.dilations
        return (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.out_channels, *self.out_hw)

    @property
    def kernel_array_shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_shape[0] // self.groups, *self.kernel_shape)

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))


def patch_count(geom: ConvGeometry) -> int:
    r"""$\gamma$: the largest number of (output position, kernel tap) pairs that read one
    input pixel of one channel, i.e. the most patches covering a pixel; at most
    $\lceil k_h/s_h\rceil\lceil k_w/s_w\rceil$ for dilation 1.  Computed exactly by
    counting (the constant of ``docs/theory-conv.md``, Lemma C1)."""
    rows_h = _axis_taps(geom, 0)
    rows_w = _axis_taps(geom, 1)
    return int(rows_h.max()) * int(rows_w.max())


def _axis_taps(geom: ConvGeometry, axis: int) -> np.ndarray:
    """For one spatial axis: how many (output index, tap) pairs read each input index."""
    n = geom.in_shape[1 + axis]
    k, s, d = geom.kernel_shape[axis], geom.strides[axis], geom.dilations[axis]
    pad0 = geom.pads[axis]
    o = geom.out_hw[axis]
    idx = (np.arange(o)[:, None] * s + np.arange(k)[None, :] * d - pad0).ravel()
    if geom.circular:
        idx = idx % n
    idx = idx[(idx >= 0) & (idx < n)]
    return np.bincount(idx, minlength=n)


def _check_kernel(kernel: Any, geom: ConvGeometry, what: str = "kernel") -> np.ndarray:
    from symlip.models.network import check_real_array

    k = check_real_array(kernel, what)
    if k.shape != geom.kernel_array_shape:
        raise InputError(f"{what} has shape {k.shape}, expected {geom.kernel_array_shape} "
                         f"(out, in/groups, kh, kw) for {geom}")
    return k


def _indices(geom: ConvGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, taps)``: matrix entry ``(rows[t], cols[t])`` is
    ``kernel.ravel()[taps[t]]``; every ``(row, col)`` pair occurs once."""
    c_in, h, w = geom.in_shape
    o_ch, cg, kh, kw = geom.kernel_array_shape
    oh, ow = geom.out_hw
    (sh, sw), (dh, dw) = geom.strides, geom.dilations
    pt, pl = geom.pads[0], geom.pads[1]
    og = o_ch // geom.groups
    o = np.arange(o_ch)[:, None, None, None, None, None]
    c = np.arange(cg)[None, :, None, None, None, None]
    p = np.arange(kh)[None, None, :, None, None, None]
    q = np.arange(kw)[None, None, None, :, None, None]
    i = np.arange(oh)[None, None, None, None, :, None]
    j = np.arange(ow)[None, None, None, None, None, :]
    shape = (o_ch, cg, kh, kw, oh, ow)
    ii = np.broadcast_to(i * sh + p * dh - pt, shape)
    jj = np.broadcast_to(j * sw + q * dw - pl, shape)
    if geom.circular:
        ii, jj = ii % h, jj % w
    ok = (ii >= 0) & (ii < h) & (jj >= 0) & (jj < w)
    chan = np.broadcast_to((o // og) * cg + c, shape)
    rows = np.broadcast_to((o * oh + i) * ow + j, shape)
    cols = (chan * h + ii) * w + jj
    taps = np.broadcast_to(((o * cg + c) * kh + p) * kw + q, shape)
    return rows[ok], cols[ok], taps[ok]


def conv_matrix(kernel: Any, geom: ConvGeometry) -> np.ndarray:
    """The explicit ``(n_out, n_in)`` float64 matrix of the convolution (no bias).

    Every entry is a kernel entry copied exactly, or 0 (each (output, input) pair is
    read by at most one tap; circular geometries are checked to keep it so).

    Examples:
        >>> g = ConvGeometry((1, 3, 3), 1, (2, 2))
        >>> conv_matrix(np.arange(4.0).reshape(1, 1, 2, 2), g)[0].tolist()
        [0.0, 1.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0]
    """
    k = _check_kernel(kernel, geom)
    rows, cols, taps = _indices(geom)
    m = np.zeros((geom.n_out, geom.n_in))
    m[rows, cols] = k.ravel()[taps]
    return m


# ----------------------------------------------------------------------------------
# float convolution and its transpose (im2col), for power iteration and estimates
# ----------------------------------------------------------------------------------


def _pad(x: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    t, left, b, r = geom.pads
    mode = "wrap" if geom.circular else "constant"
    return np.pad(x, ((0, 0), (0, 0), (t, b), (left, r)), mode=mode)


def _patches(x: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """``(B, groups, Cg*kh*kw, oh*ow)`` patches of the padded input."""
    xp = _pad(x, geom)
    bsz, c = x.shape[:2]
    kh, kw = geom.kernel_shape
    (sh, sw), (dh, dw) = geom.strides, geom.dilations
    oh, ow = geom.out_hw
    s = xp.strides
    view = np.lib.stride_tricks.as_strided(
        xp, (bsz, c, kh, kw, oh, ow), (s[0], s[1], s[2] * dh, s[3] * dw, s[2] * sh, s[3] * sw),
        writeable=False)
    return view.reshape(bsz, geom.groups, (c // geom.groups) * kh * kw, oh * ow)


def conv_apply(kernel: np.ndarray, geom: ConvGeometry, x: np.ndarray) -> np.ndarray:
    """Float convolution (no bias) of a batch ``x`` of shape ``(B, C, H, W)`` or
    ``(B, n_in)``; returns ``(B, n_out)``.  Not certified."""
    x = np.asarray(x, float).reshape(-1, *geom.in_shape)
    g = geom.groups
    k = np.asarray(kernel, float).reshape(g, geom.out_channels // g, -1)
    pat = _patches(x, geom)  # (B, g, T, P): one product per group over the whole batch
    bsz, _, t, npos = pat.shape
    y = np.matmul(k, np.ascontiguousarray(pat.transpose(1, 2, 0, 3)).reshape(g, t, -1))
    return y.reshape(g, -1, bsz, npos).transpose(2, 0, 1, 3).reshape(bsz, -1)


def conv_transpose_apply(kernel: np.ndarray, geom: ConvGeometry, y: np.ndarray) -> np.ndarray:
    """The adjoint of :func:`conv_apply`: ``(B, n_out) -> (B, n_in)``.  Not certified."""
    g = geom.groups
    oh, ow = geom.out_hw
    kh, kw = geom.kernel_shape
    (sh, sw), (dh, dw) = geom.strides, geom.dilations
    c, h, w = geom.in_shape
    y = np.asarray(y, float).reshape(-1, g, geom.out_channels // g, oh * ow)
    bsz = y.shape[0]
    k = np.asarray(kernel, float).reshape(g, geom.out_channels // g, -1)
    # one product per group over the whole batch: (g, T, Og) @ (g, Og, B*P)
    yt = np.ascontiguousarray(y.transpose(1, 2, 0, 3)).reshape(g, y.shape[2], -1)
    dp = np.matmul(np.swapaxes(k, 1, 2), yt).reshape(c, kh, kw, bsz, oh, ow)
    hp, wp = geom.padded_hw
    # scatter in the product's (channel, batch) order (contiguous reads), then transpose
    xc = np.zeros((c, bsz, hp, wp))
    for p in range(kh):
        for q in range(kw):
            xc[:, :, p * dh:p * dh + sh * (oh - 1) + 1:sh,
               q * dw:q * dw + sw * (ow - 1) + 1:sw] += dp[:, p, q]
    xp = xc.transpose(1, 0, 2, 3)
    t, left = geom.pads[0], geom.pads[1]
    if not geom.circular:
        return xp[:, :, t:t + h, left:left + w].reshape(bsz, -1)
    xh = np.zeros((bsz, c, h, wp))
    np.add.at(xh, (slice(None), slice(None), (np.arange(hp) - t) % h), xp)
    out = np.zeros((bsz, c, h, w))
    np.add.at(out, (slice(None), slice(None), slice(None), (np.arange(wp) - left) % w), xh)
    return out.reshape(bsz, -1)


def _chunked(fn: Any, x: np.ndarray, n_cols: int, rows: int = 256) -> np.ndarray:
    """``fn`` on the rows of ``x`` (leading axes flattened) in chunks of ``rows`` (the
    im2col patches of a chunk stay small)."""
    x = np.asarray(x, float)
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty((flat.shape[0], n_cols))
    for s in range(0, flat.shape[0], rows):
        out[s:s + rows] = fn(flat[s:s + rows])
    return out.reshape(*x.shape[:-1], n_cols)


def power_iteration(kernel: Any, geom: ConvGeometry, iters: int = 100,
                    seed: int = 0) -> tuple[float, np.ndarray]:
    """``iters`` steps of $v \\leftarrow K^TKv/\\|K^TKv\\|$; returns the float estimate
    $\\|Kv\\|$ (a lower estimate, not certified) and $v$ (unit norm)."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((1, geom.n_in))
    v /= np.linalg.norm(v)
    k = np.asarray(kernel, float)
    for _ in range(int(iters)):
        u = conv_transpose_apply(k, geom, conv_apply(k, geom, v))
        nu = np.linalg.norm(u)
        if nu == 0:
            return 0.0, v[0]
        v = u / nu
    return float(np.linalg.norm(conv_apply(k, geom, v))), v[0]


def lanczos_vector(kernel: Any, geom: ConvGeometry, steps: int = 100,
                   seed: int = 0) -> tuple[float, np.ndarray]:
    r"""``steps`` Lanczos steps (full reorthogonalisation) on $K^TK$, one product with the
    convolution and its transpose per step, as :func:`power_iteration`; returns the
    float estimate $\|Kv\|$ and the top Ritz vector $v$ (unit norm).  Not certified
    (:func:`certified_ratio` certifies the vector).  Near the top, the spectrum of a
    zero-padded convolution is a cluster (64 channels on 32x32: the two largest
    singular values agree to 3e-8, the third is 2e-3 lower): 100 power steps stop at
    2.00674, 100 Lanczos steps reach 2.0111475, the norm to 8 digits."""
    k = np.asarray(kernel, float)
    n = geom.n_in
    m = max(1, min(int(steps), n))
    q = np.random.default_rng(seed).standard_normal(n)
    q /= np.linalg.norm(q)
    Q = np.zeros((m, n))
    alpha, beta = np.zeros(m), np.zeros(m)
    j_end = m
    for j in range(m):
        Q[j] = q
        w = conv_transpose_apply(k, geom, conv_apply(k, geom, q[None]))[0]
        alpha[j] = q @ w
        # full reorthogonalisation, one pass (the vector is certified afterwards, so
        # orthogonality only affects how good it is, not what is claimed)
        w -= Q[:j + 1].T @ (Q[:j + 1] @ w)
        b = float(np.linalg.norm(w))
        beta[j] = b
        if b <= 1e-14 * max(abs(alpha[j]), 1e-300):  # invariant subspace found
            j_end = j + 1
            break
        q = w / b
    t = np.diag(alpha[:j_end]) + np.diag(beta[:j_end - 1], 1) + np.diag(beta[:j_end - 1], -1)
    _, vecs = np.linalg.eigh(t)
    v = vecs[:, -1] @ Q[:j_end]
    v /= np.linalg.norm(v)
    return float(np.linalg.norm(conv_apply(k, geom, v[None]))), v


# ----------------------------------------------------------------------------------
# certified pieces
# ----------------------------------------------------------------------------------

_U = Fraction(1, 1 << 53)
_ETA = Fraction(1, 1 << 1074)


def _gamma(n: int) -> Fraction:
    nu = n * _U
    if nu >= Fraction(1, 4):
        raise InputError(f"dimension {n=} is too large for the rounding-error bounds")
    return nu / (1 - nu)


def _sumsq_hi(a: np.ndarray) -> Fraction:
    """Upper bound of $\\sum a_i^2$ (float sum of squares, $\\gamma_{n+1}$ relative plus
    underflow)."""
    a = np.asarray(a, float).ravel()
    if a.size == 0:
        return Fraction(0)
    s = float(np.dot(a, a))
    return (Fraction(math.nextafter(s, math.inf)) + 2 * a.size * _ETA) / (1 - _gamma(a.size + 1))


def _sumsq_lo(a: np.ndarray) -> Fraction:
    a = np.asarray(a, float).ravel()
    if a.size == 0:
        return Fraction(0)
    s = float(np.dot(a, a))
    lo = (Fraction(math.nextafter(s, -math.inf)) - 2 * a.size * _ETA) / (1 + _gamma(a.size + 1))
    return max(lo, Fraction(0))


def _sqrt_q(q: Fraction, up: bool) -> Fraction:
    from symlip.arith.norms import _sqrt_q as sq

    return sq(q, up)


def certified_ratio(kernel: Any, geom: ConvGeometry, x: np.ndarray) -> Fraction:
    r"""A certified lower bound of $\|Kx\|_2/\|x\|_2 \le \|K\|_{op}$ for a float vector ``x``.

    $y = fl(Kx)$ by im2col: each entry is a dot product of $T = C_g k_h k_w$ terms, so
    $|y - Kx| \le \gamma_T |K||x|$ entrywise (Higham (3.5), any order); $|K||x|$ is
    computed in floats and enlarged by $1/(1-\gamma_T)$.  Then $\|Kx\| \ge \|y\| -
    \|y - Kx\|$ with the sums of squares bracketed as in :mod:`symlip.arith.norms`.
    """
    k = _check_kernel(kernel, geom)
    x = np.asarray(x, float).reshape(1, -1)
    y = conv_apply(k, geom, x)
    t = k[0].size
    a = conv_apply(np.abs(k), geom, np.abs(x))
    g = _gamma(t)
    err2 = _sumsq_hi(a) * (g / (1 - g)) ** 2
    num = _sqrt_q(_sumsq_lo(y), up=False) - _sqrt_q(err2, up=True)
    den = _sqrt_q(_sumsq_hi(x), up=True)
    if num <= 0 or den == 0:
        return Fraction(0)
    return num / den


def _twiddles(n: int) -> tuple[np.ndarray, np.ndarray]:
    """$\\cos(2\\pi j/n)$, $\\sin(2\\pi j/n)$ rounded to nearest doubles (error <= u), from
    mpmath at 80 bits."""
    import mpmath

    with mpmath.workprec(80):
        cs = [mpmath.cospi(mpmath.mpf(2 * j) / n) for j in range(n)]
        sn = [mpmath.sinpi(mpmath.mpf(2 * j) / n) for j in range(n)]
    return np.array([float(v) for v in cs]), np.array([float(v) for v in sn])


def _top_eigenvalues(h: np.ndarray, iters: int = 30) -> np.ndarray:
    r"""Float estimates of $\lambda_{\max}$ of a stack of Hermitian PSD matrices: batched
    power iteration, then ``eigvalsh`` for the blocks within 5% of the largest (only the
    maximum matters, and it must be accurate: it sets the Cholesky shift)."""
    rng = np.random.default_rng(0)
    v = rng.standard_normal(h.shape[:2]) + 0j
    for _ in range(iters):
        v = np.einsum("fij,fj->fi", h, v)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
    lam = np.einsum("fi,fij,fj->f", np.conj(v), h, v).real
    top = np.flatnonzero(lam >= 0.95 * lam.max())
    lam[top] = np.linalg.eigvalsh(h[top])[:, -1]
    return lam


def fourier_upper(kernel: Any, geom: ConvGeometry, *, rel_tol: float = 2e-8
                  ) -> tuple[Fraction, dict[str, Any]]:
    r"""Certified upper bound of $\|K\|_{op}$ from the Fourier-domain blocks on the torus
    of the padded size $H_p \times W_p$.

    Theorem: the circular convolution $C$ on the $H_p\times W_p$ torus is unitarily
    block-diagonal, $\|C\| = \max_\omega \sigma_{\max}(\hat K(\omega))$ with
    $\hat K(\omega)_{oc} = \sum_{p,q} K_{ocpq} e^{2\pi i(\omega_1 p d_h/H_p +
    \omega_2 q d_w/W_p)}$ (zero between groups).  The zero-padded convolution is
    $\mathrm{crop}\circ S\circ C\circ\mathrm{embed}$ (outputs never wrap), hence
    $\|K\| \le \|C\|$ (circular outputs that repeat a torus position, when the
    output is larger than the input, multiply it by $\sqrt{\text{multiplicity}}$,
    the norm of the selection with repeats); with circular padding, stride 1 and
    output size = input size it *is* $C$ on the $H\times W$ torus (the pads only shift
    phases): the bound is exact.

    Rounding: twiddles are the nearest doubles (error $\le u$); $\hat K$ is a float
    matmul of $T = k_hk_w$ terms, so $|\Delta\hat K| \le \gamma_{T+2}\sum_t|K_t|$ per
    entry and $\|\Delta\hat K(\omega)\|_2 \le \delta = \|\Delta\hat K\|_F$.  For each
    $\omega$, the real embedding $R = [[\Re, -\Im], [\Im, \Re]]$ ($\sigma(R) =
    \sigma(\hat K)$) gives $M = fl(R^TR)$, and a float Cholesky of $\alpha I - M$ that
    runs to completion gives $\lambda_{\max}(R^TR) \le \alpha + e_C + e_G + e_D$ with
    the error terms of :func:`symlip.arith.norms.spectral_norm`.  Result:
    $\sqrt{\alpha + \max_\omega(e_C + e_G + e_D)} + \delta$, all in exact rationals
    rounded up.  ``rel_tol`` sets $\alpha = \hat\lambda(1 + \text{rel\_tol})$.
    """
    k = _check_kernel(kernel, geom)
    o_ch, cg, kh, kw = k.shape
    c_in = geom.in_shape[0]
    g = geom.groups
    og = o_ch // g
    # full (O, C) kernel with zeros between groups
    full = np.zeros((o_ch, c_in, kh, kw))
    for gi in range(g):
        full[gi * og:(gi + 1) * og, gi * cg:(gi + 1) * cg] = k[gi * og:(gi + 1) * og]
    amax_sum = float(np.abs(full).sum(axis=(2, 3)).max())
    if amax_sum == 0:
        return Fraction(0), {"method": "zero"}
    e = math.frexp(amax_sum)[1] + 1  # scale by 2^-e: every |K_hat| entry < 1/2 (exact)
    full = np.ldexp(full, -e)
    hp, wp = geom.torus_hw
    dh, dw = geom.dilations
    n = math.lcm(hp, wp)
    cos_t, sin_t = _twiddles(n)
    w1 = np.arange(hp)
    w2 = np.arange(wp // 2 + 1)  # conjugate frequencies have the same singular values
    p = np.arange(kh)
    q = np.arange(kw)
    # phase index j = (w1 p dh wp + w2 q dw hp) mod n, as (T, n_freq)
    ph = (w1[None, None, :, None] * p[:, None, None, None] * dh * (n // hp)
          + w2[None, None, None, :] * q[None, :, None, None] * dw * (n // wp)) % n
    ph = ph.reshape(kh * kw, -1)
    kf = full.reshape(o_ch * c_in, kh * kw)
    re = (kf @ cos_t[ph]).reshape(o_ch, c_in, -1)
    im = (kf @ sin_t[ph]).reshape(o_ch, c_in, -1)
    t = kh * kw
    s = np.abs(kf).sum(axis=1)  # float; exact <= s / (1 - gamma_t)
    ent = _gamma(t + 2) / (1 - _gamma(t))
    delta2 = 2 * _sumsq_hi(s) * ent * ent
    delta = _sqrt_q(delta2, up=True)
    re = np.ascontiguousarray(np.moveaxis(re, 2, 0))
    im = np.ascontiguousarray(np.moveaxis(im, 2, 0))
    kc = re + 1j * im
    # H = K_hat^H K_hat (zgemm: each real and imaginary part is a classical sum of 2O
    # real products, so the real Gram M = R^T R = [[Re H, -Im H], [Im H, Re H]] of the
    # embedding R = [[Re, -Im], [Im, Re]] has the error bound of a real product, k = 2O)
    hmat = np.matmul(np.ascontiguousarray(np.conj(np.swapaxes(kc, 1, 2))), kc)
    lam_f = _top_eigenvalues(hmat)  # float estimates only
    lam_hat = float(lam_f.max())
    hr, hi_ = hmat.real, hmat.imag
    m = np.concatenate([np.concatenate([hr, -hi_], axis=2),
                        np.concatenate([hi_, hr], axis=2)], axis=1)  # (F, 2C, 2C)
    pdim, kdim = m.shape[1], 2 * o_ch
    diag = np.diagonal(m, axis1=1, axis2=2)
    # B_omega = ||R_omega||_F^2 = 2 ||K_hat(omega)||_F^2 (upper): float sums, enlarged
    fro = 2.0 * (np.einsum("fij,fij->f", re, re) + np.einsum("fij,fij->f", im, im))
    gk = _gamma(kdim * pdim + 1)
    b_max = (Fraction(math.nextafter(float(fro.max()), math.inf))
             + 2 * kdim * pdim * _ETA) / (1 - gk)
    e_gram = _gamma(kdim) * b_max + 2 * kdim * pdim * _ETA
    shift = max(rel_tol * lam_hat, 64 * float(e_gram), 2.0**-900)
    info: dict[str, Any] = {"frequencies": int(len(m)), "scale_exp": e}
    idx = np.arange(pdim)
    for _attempt in range(8):
        alpha = lam_hat + shift
        a_hat = -m
        a_hat[:, idx, idx] = alpha - diag
        try:
            chol = np.linalg.cholesky(a_hat)
            ok = bool(np.isfinite(chol).all())
        except np.linalg.LinAlgError:
            ok = False
        if ok:
            break
        shift *= 16.0
    else:  # pragma: no cover - Cholesky never ran: fall back to the Frobenius bound
        hi = _sqrt_q(b_max, up=True) + delta
        info["method"] = "fourier-frobenius"
        return hi * Fraction(2) ** e, info
    lfro = np.einsum("fij,fij->f", chol, chol)
    g_l = _gamma(pdim * pdim + 1)
    bl = (Fraction(math.nextafter(float(lfro.max()), math.inf))
          + 2 * pdim * pdim * _ETA) / (1 - g_l)
    maxdiag = float(np.diagonal(chol, axis1=1, axis2=2).max())
    e_chol = _gamma(pdim + 2) * bl + 4 * pdim * (pdim + 1) * (1 + Fraction(maxdiag)) * _ETA
    e_diag = _U * Fraction(float(np.max(np.abs(alpha - diag))))
    lam_hi = Fraction(alpha) + e_chol + e_gram + e_diag
    hi = _sqrt_q(lam_hi, up=True) + delta
    best = int(np.argmax(lam_f))
    # circular outputs may read the same torus position twice (output larger than the
    # input): y = S C x with S a selection with repeats, ||S|| = sqrt(max multiplicity)
    mult = 1
    if geom.circular:
        for ax in (0, 1):
            pos = (np.arange(geom.out_hw[ax]) * geom.strides[ax]) % geom.in_shape[1 + ax]
            mult *= int(np.bincount(pos).max())
    if mult > 1:
        hi = hi * _sqrt_q(Fraction(mult), up=True)
    info.update(method="fourier", alpha=alpha, multiplicity=mult, worst=best, lam_hat=lam_hat,
                kc_best=kc[best], freq=(int(w1[best // len(w2)]), int(w2[best % len(w2)])))
    return hi * Fraction(2) ** e, info


def _fourier_vector(geom: ConvGeometry, kc: np.ndarray, freq: tuple[int, int]) -> np.ndarray:
    """A real input $x = \\Re(v e^{2\\pi i(\\omega_1 m/H + \\omega_2 n/W)})$ with $v$ the top
    right singular vector of $\\hat K(\\omega)$ (exact maximiser for circular stride 1)."""
    _, vh = np.linalg.eigh(np.conj(kc.T) @ kc)
    v = vh[:, -1]
    c, h, w = geom.in_shape
    hp, wp = geom.torus_hw
    m = np.arange(h)[:, None]
    n = np.arange(w)[None, :]
    phase = np.exp(2j * np.pi * (freq[0] * m / hp + freq[1] * n / wp))
    x = np.real(v[:, None, None] * phase[None])
    if not np.any(x):
        x = np.imag(v[:, None, None] * phase[None])
    return x.reshape(-1)


#: explicit matrices up to this many entries go through symlip.arith.norms.spectral_norm
EXPLICIT_LIMIT = 2**24


def conv_norm_info(kernel: Any, geom: ConvGeometry, *, method: str = "auto",
                   power_iters: int = 60, rel_tol: float = 1e-9
                   ) -> tuple[Enclosure, dict[str, Any]]:
    """:func:`conv_norm` plus diagnostics (method, frequencies, float Lanczos estimate);
    ``power_iters``: the Lanczos steps of the lower end (60 reach the 64-channel 32x32
    zero-padded norm to 1.5e-7 in the time of about 90 power steps)."""
    k = _check_kernel(kernel, geom)
    if method not in ("auto", "explicit", "fourier"):
        raise InputError(f"{method=} must be 'auto', 'explicit' or 'fourier'")
    if method == "explicit" or (method == "auto" and geom.n_in * geom.n_out <= EXPLICIT_LIMIT):
        from symlip.arith.norms import spectral_norm

        enc = spectral_norm(conv_matrix(k, geom), rel_tol=rel_tol)
        return enc, {"method": "explicit"}
    hi, info = fourier_upper(k, geom)
    exact = geom.circular and geom.strides == (1, 1) and geom.out_hw == geom.in_shape[1:]
    lo = Fraction(0)
    if info.get("method") == "fourier" and exact:
        x = _fourier_vector(geom, info["kc_best"], info["freq"])
        lo = certified_ratio(k, geom, x)
    if not exact or lo == 0:
        est, v = lanczos_vector(k, geom, power_iters)
        info["lanczos_estimate"] = est
        lo = max(lo, certified_ratio(k, geom, v))
    info.pop("kc_best", None)
    info["exact_fourier"] = exact
    from symlip.arith.norms import _enclosure

    return _enclosure(lo, max(hi, lo)), info


def conv_norm(kernel: Any, geom: ConvGeometry, *, method: str = "auto",
              power_iters: int = 60) -> Enclosure:
    r"""Certified enclosure ``[lo, hi]`` of the operator norm $\|K\|_2$ of the convolution.

    * ``"explicit"`` (``"auto"`` when the matrix has at most 2^24 entries): the matrix of
      :func:`conv_matrix` through :func:`symlip.arith.norms.spectral_norm` (width ~1e-10).
    * ``"fourier"``: upper end :func:`fourier_upper` (exact for circular padding and
      stride 1, else the norm on the padded torus, an upper bound), lower end
      :func:`certified_ratio` of the top singular vector of the worst frequency
      (circular, stride 1) or of the top Ritz vector of ``power_iters`` Lanczos steps
      with the convolution and its transpose (:func:`lanczos_vector`).

    Both ends are certified (outward-rounded); ``lo <= ||K||_2 <= hi``.

    Examples:
        >>> g = ConvGeometry((2, 6, 6), 3, (3, 3), pads=(1, 1, 1, 1))
        >>> kern = np.random.default_rng(0).standard_normal(g.kernel_array_shape)
        >>> e = conv_norm(kern, g)
        >>> float(e.width) / float(e.upper) < 1e-9
        True
    """
    return conv_norm_info(kernel, geom, method=method, power_iters=power_iters)[0]


# ----------------------------------------------------------------------------------
# the layer
# ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ConvLayer(DenseLayer):
    r"""A convolution $z = \mathrm{conv}(K, a) + b$ on a fixed input shape, as the
    :class:`~symlip.models.network.DenseLayer` of its explicit matrix (``weight``) and the bias
    repeated over positions (``bias``).  Build it with :meth:`from_kernel`.

    Attributes:
        kernel: ``(O, C/groups, kh, kw)`` float64 (read-only).
        kernel_bias: ``(O,)``.
        geometry: the :class:`ConvGeometry`.
    """

    kernel: Any = None
    kernel_bias: Any = None
    geometry: Any = None

    @classmethod
    def from_kernel(cls, kernel: Any, bias: Any, geometry: ConvGeometry,
                    name: str = "") -> ConvLayer:
        """The layer of ``kernel`` (``(O, C/groups, kh, kw)``) and ``bias`` (``(O,)`` or
        ``None`` for zeros) on ``geometry``.

        Examples:
            >>> g = ConvGeometry((1, 4, 4), 2, (3, 3))
            >>> ConvLayer.from_kernel(np.ones((2, 1, 3, 3)), None, g, "0").shape
            (8, 16)
        """
        from symlip.models.network import check_real_array

        k = _check_kernel(kernel, geometry)
        b = (np.zeros(geometry.out_channels) if bias is None
             else check_real_array(bias, "convolution bias"))
        if b.shape != (geometry.out_channels,):
            raise InputError(f"convolution bias has shape {b.shape}, expected "
                             f"({geometry.out_channels},)")
        oh, ow = geometry.out_hw
        k.flags.writeable = False
        b.flags.writeable = False
        return cls(conv_matrix(k, geometry), np.repeat(b, oh * ow), name, k, b, geometry)

    def renamed(self, name: str) -> ConvLayer:
        return ConvLayer(self.weight, self.bias, name, self.kernel, self.kernel_bias,
                         self.geometry)

    def matvec(self, a: np.ndarray) -> np.ndarray:
        """The convolution of a batch ``(..., n_in) -> (..., n_out)`` by im2col
        (:func:`conv_apply`, in chunks): the explicit matrix's product without its
        zeros (float64, not certified; rounding differs from the dense product)."""
        return _chunked(lambda v: conv_apply(self.kernel, self.geometry, v), a,
                        self.geometry.n_out)

    def rmatvec(self, d: np.ndarray) -> np.ndarray:
        """The adjoint, ``(..., n_out) -> (..., n_in)`` (:func:`conv_transpose_apply`)."""
        return _chunked(lambda v: conv_transpose_apply(self.kernel, self.geometry, v), d,
                        self.geometry.n_in)

    @property
    def n_kernel_params(self) -> int:
        return int(self.kernel.size + self.kernel_bias.size)

    def __repr__(self) -> str:
        return (f"ConvLayer(name={self.name!r}, in={self.geometry.in_shape}, "
                f"out={self.geometry.out_shape}, kernel={self.kernel.shape})")
