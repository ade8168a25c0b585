r"""Pre-activation bounds on an input ball by linear relaxation (CROWN / DeepPoly).

On a ball $B = B(x_0, \varepsilon)$ (l2) the pre-activations $z_k(x)$ of the hidden
layers are bounded by back-substituting linear bounds of each activation to the input:

**Lemma (linear relaxation).**  Let $l_j \le z_j(x) \le u_j$ on $B$ for every hidden layer
$j < k$, and let $\underline\alpha_{j,i} t + \underline\beta_{j,i} \le \sigma(t) \le
\overline\alpha_{j,i} t + \overline\beta_{j,i}$ for $t \in [l_{j,i}, u_{j,i}]$.  If
$z_k(x) \le \Lambda\,\sigma(z_j(x)) + c$ on $B$, then with
$\Lambda' = \Lambda^+\operatorname{diag}(\overline\alpha_j) +
\Lambda^-\operatorname{diag}(\underline\alpha_j)$,
$z_k(x) \le \Lambda' z_j(x) + c + \Lambda^+\overline\beta_j + \Lambda^-\underline\beta_j$
($\Lambda^\pm$ the positive / negative parts: each term is bounded by the side of the
relaxation its sign selects); then $z_j = W_j a_{j-1} + b_j$ is substituted exactly.  At
the input, $\sup_{x \in B} (\Lambda x + c)_i = (\Lambda x_0 + c)_i + \varepsilon
\|\Lambda_{i,:}\|_2$ (Cauchy-Schwarz, attained).  The lower bound is the upper bound of
$-z_k$ (both are run as one stacked back-substitution).  A residual block
$a_j = a_{j-1} + h_j\sigma(z_j)$ keeps $\Lambda$ on $a_{j-1}$ and relaxes
$h_j\Lambda\,\sigma(z_j)$.

**Rounding.**  Every coefficient matrix is a float matrix $\Lambda$ used *as is* (the
inequality is a statement about those floats); what floating point loses is added to the
constant with a rigorous bound.  $\mathrm{fl}(\Lambda W)$ from
:func:`symlip.arith.linalg.midrad_matmul` comes with $R \ge |\Lambda W -
\mathrm{fl}(\Lambda W)|$, and $(\Lambda W - \mathrm{fl}(\Lambda W)) a \le R|a|$ with
$|a_{j-1}| \le A_{j-1}$ from the layer's already known box; one rounded product per entry
($\Lambda'$, $h\Lambda$) errs by at most $u|\cdot| + \eta$ entrywise, times the known
magnitude of what it multiplies; a rounded sum by $u|\cdot|$; constants and matrix-vector
products are upper ends of midpoint-radius enclosures, rounded up.  So every returned box
contains $z_k(B)$ exactly.

**Relaxations** (:func:`relax`; each valid for the exact reals on $[l, u]$, offsets
rounded outward):

* ReLU, unstable ($l < 0 < u$): upper chord $\overline\alpha = u/(u - l)$ (any float),
  $\overline\beta = \max(-\overline\alpha l,\ u - \overline\alpha u)$ (ReLU minus a line is
  convex: its maximum on $[l, u]$ is at an end); lower $\underline\alpha \in \{0, 1\}$
  (1 if $u \ge -l$), $\underline\beta = 0$.  Stable: exact ($\sigma = t$ or $0$).
* leaky ReLU with slope $a \in [0, 1]$: the same with $\sigma(l) = al$ and
  $\underline\alpha \in \{a^\uparrow, 1\}$ ($a^\uparrow \ge a$ a float, at most 1).
* any other activation: a parallel band $\sigma(t) - \alpha t \in [\beta^-, \beta^+]$, the
  thinnest of (i) $\alpha = 0$ and the interval range of $\sigma$; (ii) $\alpha$ the
  midpoint of the enclosure $[s^-, s^+]$ of $\sigma'$ on $[l, u]$,
  $g(t) = \sigma(t) - \alpha t \in g(c) \pm \delta w$ with $\delta = \max(s^+ - \alpha,
  \alpha - s^-)$, $|t - c| \le w$ (mean value theorem); (iii) if $\sigma'$ is
  $K_2$-Lipschitz (certified constant), $\alpha \approx \sigma'(c)$ and
  $g(t) \in g(c) \pm (e w + K_2 w^2/2)$, $e \ge |\sigma'(c) - \alpha|$ (Taylor with the
  integral remainder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from symlip.arith.array import IntervalArray
from symlip.arith.linalg import ETA, U, midrad_matmul, up
from symlip.bounds.centre import row_norms

__all__ = ["Relaxation", "relax", "relaxed_box"]


@dataclass
class Relaxation:
    r"""$\underline\alpha t + \underline\beta \le \sigma(t) \le \overline\alpha t +
    \overline\beta$ for every $t$ in the neuron's box (exact reals, float coefficients);
    ``zmag`` $\ge |t|$ on the box, ``smag`` $\ge |\sigma(t)|$."""

    al: np.ndarray
    bl: np.ndarray
    au: np.ndarray
    bu: np.ndarray
    zmag: np.ndarray
    smag: np.ndarray


def _mag(box: IntervalArray) -> np.ndarray:
    return np.maximum(np.abs(box.lo), np.abs(box.hi))


def _leaky_slope(act: Any) -> IntervalArray | None:
    """Enclosure of a leaky ReLU's negative slope $a$ if $0 \\le a \\le 1$, else None."""
    if getattr(act, "name", None) != "leaky_relu":
        return None
    import sympy as sp

    from symlip.activations.registry import X
    from symlip.symbolic.compile import enclose

    a = sp.nsimplify(act.derivatives[1].subs(X, -1))
    e = enclose(a)
    if not (e.lower_float >= 0 and e.upper_float <= 1):
        return None
    return IntervalArray(e.lower_float, e.upper_float)


def relax(act: Any, z: IntervalArray, s: IntervalArray, smag: np.ndarray) -> Relaxation:
    """Sound linear relaxation of ``act`` on the boxes ``z`` (one per neuron), given an
    enclosure ``s`` of $\\sigma'$ on them (:func:`symlip.bounds.local_jacobian.
    derivative_ranges`) and ``smag`` $\\ge |\\sigma|$ on them.  See the module docstring."""
    lo, hi = z.lo, z.hi
    zmag = _mag(z)
    name = getattr(act, "name", None)
    slope = _leaky_slope(act) if name == "leaky_relu" else None
    if name == "relu" or slope is not None:
        return _relu_like(lo, hi, zmag, smag, slope)
    return _band(act, z, s, zmag, smag)


def _relu_like(lo: np.ndarray, hi: np.ndarray, zmag: np.ndarray, smag: np.ndarray,
               slope: IntervalArray | None) -> Relaxation:
    n = lo.shape
    active, dead = lo >= 0, hi <= 0
    unst = ~active & ~dead
    one, zero = np.ones(n), np.zeros(n)
    if slope is None:  # ReLU: dead neurons are exactly 0
        al, au = np.where(active, one, zero), np.where(active, one, zero)
        bl, bu = np.zeros(n), np.zeros(n)  # distinct arrays: written below
        s_lo_val = IntervalArray(zero)  # sigma(l), used for the unstable neurons
        a_up = 0.0
    else:
        am = 0.5 * slope.lo + 0.5 * slope.hi
        # dead: sigma(t) = a t = a_m t + (a - a_m) t, (a - a_m) t in [a - a_m] * [l, u]
        off = (slope - float(am)) * IntervalArray(lo, hi)
        al = np.where(active, one, am)
        au = al.copy()
        bl = np.where(active, zero, off.lo)
        bu = np.where(active, zero, off.hi)
        s_lo_val = slope * IntervalArray(lo)
        a_up = float(min(slope.hi, 1.0))
    if np.any(unst):
        lo_u, hi_u = lo[unst], hi[unst]
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.clip((hi_u - s_lo_val.lo[unst]) / (hi_u - lo_u), 0.0, 1.0)
        alpha = np.where(np.isfinite(alpha), alpha, 1.0)
        # sigma - alpha t is convex: its maximum on [l, u] is at an end
        at_lo = s_lo_val[unst] - IntervalArray(lo_u) * IntervalArray(alpha)
        at_hi = IntervalArray(hi_u) - IntervalArray(hi_u) * IntervalArray(alpha)
        au[unst] = alpha
        bu[unst] = np.maximum(at_lo.hi, at_hi.hi)
        al[unst] = np.where(hi_u >= -lo_u, 1.0, a_up)
        bl[unst] = 0.0
    return Relaxation(al, bl, au, bu, zmag, smag)


def _band(act: Any, z: IntervalArray, s: IntervalArray, zmag: np.ndarray,
          smag: np.ndarray) -> Relaxation:
    from symlip.models.network import sigma_box

    lo, hi = z.lo, z.hi
    with np.errstate(over="ignore", invalid="ignore"):
        c = np.minimum(np.maximum(0.5 * lo + 0.5 * hi, lo), hi)
        w = np.maximum(np.maximum(up(hi - c), up(c - lo)), 0.0)
    # (i) constant band: the interval range of sigma
    rng = sigma_box(act, z)
    alpha = np.zeros(lo.shape)
    blo, bhi = rng.lo.copy(), rng.hi.copy()
    sc = sigma_box(act, IntervalArray(c))
    # (ii) first order: alpha = mid of the derivative range
    ok = np.isfinite(s.lo) & np.isfinite(s.hi) & np.isfinite(w)
    if np.any(ok):
        a1 = np.where(ok, 0.5 * s.lo + 0.5 * s.hi, 0.0)
        d1 = np.where(ok, np.maximum(up(s.hi - a1), up(a1 - s.lo)), 0.0)
        g = sc - IntervalArray(c) * IntervalArray(a1)
        r = up(d1 * w)
        lo1, hi1 = (g - IntervalArray(-r, r)).lo, (g + IntervalArray(-r, r)).hi
        better = ok & np.isfinite(lo1) & np.isfinite(hi1) & ((hi1 - lo1) < (bhi - blo))
        alpha = np.where(better, a1, alpha)
        blo, bhi = np.where(better, lo1, blo), np.where(better, hi1, bhi)
    # (iii) second order around the midpoint (smooth activations)
    K2 = act.constants.K2.enclosure if hasattr(act, "constants") else None
    d1e = act.derivatives[1] if hasattr(act, "derivatives") else None
    if K2 is not None and K2.is_finite and d1e is not None:
        from symlip.bounds.local_jacobian import _numpy_interval

        try:
            sd = _numpy_interval(d1e)(IntervalArray(c))
            sdl = np.broadcast_to(sd.lo, c.shape)
            sdh = np.broadcast_to(sd.hi, c.shape)
        except Exception:  # noqa: BLE001 - no NumPy kernel: keep (i), (ii)
            sdl = None
        if sdl is not None:
            a2 = 0.5 * sdl + 0.5 * sdh
            e = np.maximum(up(sdh - a2), up(a2 - sdl))
            # huge boxes overflow to inf / nan here: such neurons fail `better` below
            with np.errstate(over="ignore", invalid="ignore"):
                r = up(up(e * w) + up(up(w * w) * (0.5 * K2.upper_float)))
                g = sc - IntervalArray(c) * IntervalArray(a2)
                lo2, hi2 = (g - IntervalArray(-r, r)).lo, (g + IntervalArray(-r, r)).hi
            better = (np.isfinite(a2) & np.isfinite(lo2) & np.isfinite(hi2)
                      & ((hi2 - lo2) < (bhi - blo)))
            alpha = np.where(better, a2, alpha)
            blo, bhi = np.where(better, lo2, blo), np.where(better, hi2, bhi)
    return Relaxation(alpha, blo, alpha.copy(), bhi, zmag, smag)


# ------------------------------------------------------------------------------------
# rigorous float helpers
# ------------------------------------------------------------------------------------


def _matvec_up(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A rigorous upper bound of the exact product ``A @ v`` (float inputs, any signs)."""
    m, r = midrad_matmul(A, None, v[:, None], None)
    return up(m[:, 0] + r[:, 0])


def _eta_term(v: np.ndarray) -> float:
    """$\\ge \\eta \\sum_i v_i$ for $v \\ge 0$ (underflow of one rounded product per entry)."""
    return float(up(up(v.size * float(np.max(v, initial=0.0))) * ETA))


def _rowscale_err(L: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """$\\ge (u|L| + \\eta)\\,$``mag``: the error of one rounded product per entry of the
    float matrix ``L`` against a vector of magnitude at most ``mag``."""
    return up(up(_matvec_up(np.abs(L), mag) * U) + _eta_term(mag))


def _through(L: np.ndarray, r: Relaxation) -> tuple[np.ndarray, np.ndarray]:
    r"""$L\sigma(z) \le L' z + d$ on the box: returns ``(L', d)`` (``d`` rounded up,
    including the rounding of $L'$ times $|z| \le$ ``zmag``)."""
    pos = L >= 0
    Lz = np.where(pos, L * r.au, L * r.al)
    d = _matvec_up(np.concatenate([np.where(pos, L, 0.0), np.where(pos, 0.0, L)], axis=1),
                   np.concatenate([r.bu, r.bl]))
    return Lz, up(d + _rowscale_err(Lz, r.zmag))


def relaxed_box(net: Any, k: int, x0: np.ndarray, eps: float, relaxations: list[Relaxation],
                amag: list[np.ndarray]) -> IntervalArray | None:
    r"""Box containing $z_k(x)$ (``k`` the 0-based layer index, $k \ge 1$) for every
    $\|x - x_0\|_2 \le \varepsilon$, by back-substitution of ``relaxations`` (one per
    hidden layer $< k$, valid on boxes containing those layers' pre-activations on the
    ball); ``amag[j]`` $\ge |a_j(x)|$ on the ball for the hidden layer outputs.  ``None``
    if a magnitude is not finite (the caller keeps its other box)."""
    if not all(np.all(np.isfinite(m)) for m in amag[:k]) or not all(
            np.all(np.isfinite(r.zmag)) and np.all(np.isfinite(r.smag))
            and np.all(np.isfinite(r.bu)) and np.all(np.isfinite(r.bl))
            for r in relaxations[:k]):
        return None
    xmag = up(np.abs(x0) + eps)

    def amag_of(j: int) -> np.ndarray:
        return xmag if j < 0 else amag[j]

    with np.errstate(over="ignore", invalid="ignore"):
        return _back_substitute(net, k, x0, eps, relaxations, amag_of)


def _back_substitute(net: Any, k: int, x0: np.ndarray, eps: float,
                     relaxations: list[Relaxation], amag_of: Any) -> IntervalArray | None:
    from symlip.models.network import ResidualLayer

    W, b = net.layers[k].weight, net.layers[k].bias
    n = W.shape[0]
    L = np.concatenate([W, -W])
    c = np.concatenate([b, -b])
    j = k - 1
    while j >= 0:
        layer, r = net.layers[j], relaxations[j]
        if isinstance(layer, ResidualLayer):
            Lh = L * float(layer.step)
            c = up(c + _rowscale_err(Lh, r.smag))
            Lz, d = _through(Lh, r)
        else:
            Lz, d = _through(L, r)
        c = up(c + d)
        G, R = midrad_matmul(Lz, None, layer.weight, None)
        c = up(up(c + _matvec_up(Lz, layer.bias)) + _matvec_up(R, amag_of(j - 1)))
        if isinstance(layer, ResidualLayer):
            G = L + G
            c = up(c + up(_matvec_up(np.abs(G), amag_of(j - 1)) * U))
        L = G
        j -= 1
    rad = up(row_norms(L).hi * np.float64(eps))
    upper = up(up(c + _matvec_up(L, x0)) + rad)
    if not np.all(np.isfinite(upper)):
        return None
    return IntervalArray(-upper[n:], upper[:n])
