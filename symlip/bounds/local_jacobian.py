r"""The interval Jacobian of a network on an input ball, and its certified norm.

On a ball $B = B(x_0, \varepsilon)$ the interval forward pass of
:func:`symlip.bounds.input.local_input_lipschitz` encloses every hidden pre-activation
$z_k(x)$, $x \in B$, in a box; on it $\sigma'(z_{k,i}) \in [s^-_{k,i}, s^+_{k,i}]$
(:func:`derivative_ranges`).  Then for every $x \in B$ where $f$ is differentiable

$$J(x) = W_N \Sigma_{N-1} W_{N-1} \cdots \Sigma_1 W_1, \qquad
  \Sigma_k = \operatorname{diag}(s_k),\ s_k \in [s^-_k, s^+_k]$$

(a residual block contributes $I + h_k \Sigma_k W_k$ in place of $\Sigma_k W_k$).
:func:`jacobian_box` encloses this product, for all such $s_k$ at once, in an interval
matrix $|J - M| \le R$ (midpoint-radius arithmetic of :mod:`symlip.bounds.centre`:
Higham's a priori bound $\gamma_k$ for every float product, every radius rounded up),
and :func:`jacobian_norm_upper` certifies $\sup_{|J - M| \le R}\|J\|_2 \le
\min(\|M\|_2 + \|R\|_2, \||M| + R\|_2)$ (triangle inequality; $\|\cdot\|_2$ is
monotone on nonnegative matrices; every norm certified by
:func:`symlip.arith.norms.spectral_norm`).

Built from the input side (:class:`ForwardJacobian`, when $n_0 \max_k n_k$ is within
:data:`symlip.bounds.input.MEAN_VALUE_BUDGET`), the partial products also give the
interval Jacobian of every pre-activation, so each box is intersected with its
mean-value form $z_k(x_0) \pm \varepsilon\,\|(|Q_m| + Q_r)_{i,:}\|_2$
(:func:`mean_value_box`) before $\sigma'$'s ranges on it are taken: the plain interval
pass overestimates deep boxes (each layer loses the correlations between neurons), the
mean-value form is of order $\varepsilon\|\nabla z_{k,i}\|$.

Lemma (mean value theorem on the convex ball): for $x, y \in B$,
$f(y) - f(x) = \int_0^1 J(x + t(y - x))(y - x)\,dt$, so
$\|f(y) - f(x)\| \le \sup_{[J]}\|J\|_2\,\|y - x\|$.  For a piecewise-smooth $\sigma$
(ReLU, leaky ReLU, ELU) the chain rule holds for almost every $t$ along the segment: at a
kink $z_{k,i}(t)$ sits on a level set, where its derivative vanishes almost everywhere,
so any $s_{k,i}$ in the (nonempty) range gives the same product.  As $\varepsilon \to 0$
the ranges shrink to $\sigma'(z_k(x_0))$ (smooth $\sigma$) and the bound tends to
$\|J(x_0)\|_2$.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure
from symlip.arith.linalg import midrad_add, midrad_matmul, midrad_row_scale, up
from symlip.errors import InputError
from symlip.symbolic.compile import interval_lambdify

__all__ = ["ForwardJacobian", "derivative_ranges", "jacobian_box", "jacobian_norm_upper",
           "mean_value_box", "split_norm_upper"]


def derivative_ranges(act: Any, z: IntervalArray, abs_sup: np.ndarray) -> IntervalArray:
    r"""Enclosure $[s^-_i, s^+_i] \supseteq \{\sigma'(t) : t \in [z^-_i, z^+_i]\}$ per
    neuron (at a kink: both one-sided derivatives).

    The interval evaluation of the symbolic $\sigma'$ (``interval_lambdify``, NumPy
    kernels, or mpmath element by element where NumPy has no correctly rounded kernel)
    intersected with $[-d_i, d_i]$, ``abs_sup`` $= d_i \ge \sup|\sigma'|$ on the range
    (the enclosure the product-of-norms bound uses) and, for a smooth activation, with
    the centred form $\sigma'(c_i) \pm K_2 w_i$ (mean value theorem on $\sigma'$, $K_2$
    its certified Lipschitz constant, $|t - c_i| \le w_i$ on the range).  An activation
    without a symbolic derivative (a linear spline) gets $[-d_i, d_i]$.  Endpoints are
    rounded outward.
    """
    from symlip.activations.registry import X

    d = np.asarray(abs_sup, dtype=np.float64)
    lo, hi = -d, d.copy()
    d1 = act.derivatives[1] if hasattr(act, "derivatives") else None
    if d1 is not None:
        zd = z
        if not act.constants.K2.enclosure.is_finite:
            # a kink: sigma' written with Heaviside/Piecewise takes one convention at the
            # kink point (SymPy's Heaviside(0) = 1/2, Piecewise's first true branch);
            # widening the range by one ulp each way brings in both one-sided
            # derivatives at a kink on an endpoint (kinks sit at doubles: 0, +-1)
            zd = IntervalArray(np.nextafter(z.lo, -np.inf), np.nextafter(z.hi, np.inf))
        try:
            r = _numpy_interval(d1)(zd)
            rlo = np.broadcast_to(r.lo, z.lo.shape)
            rhi = np.broadcast_to(r.hi, z.hi.shape)
        except Exception:  # noqa: BLE001 - no NumPy kernel (e.g. cos): rigorous mpmath
            f = interval_lambdify([X], d1, backend="mpmath", prec=64)
            rlo, rhi = np.empty(z.lo.shape), np.empty(z.lo.shape)
            for i in np.ndindex(*z.lo.shape):
                e = Enclosure.from_interval(f(Enclosure.from_floats(zd.lo[i], zd.hi[i])
                                              .to_interval()))
                rlo[i], rhi[i] = e.lower_float, e.upper_float
        ok = np.isfinite(rlo) & np.isfinite(rhi)
        lo = np.where(ok, np.maximum(lo, rlo), lo)
        hi = np.where(ok, np.minimum(hi, rhi), hi)
        clo, chi = _centred_form(act, d1, z)
        if clo is not None:
            lo, hi = np.maximum(lo, clo), np.minimum(hi, chi)
    if np.any(lo > hi):  # pragma: no cover - two enclosures of a nonempty set intersect
        raise AssertionError("derivative enclosures do not intersect")
    return IntervalArray(lo, hi)


def _centred_form(act: Any, d1: Any, z: IntervalArray) -> tuple[Any, Any]:
    r"""$\sigma'(t) \in \sigma'(c) \pm K_2 w$ for $|t - c| \le w$ ($K_2$ the certified
    Lipschitz constant of $\sigma'$; $c$ the float midpoint of the range, $\sigma'(c)$
    enclosed by interval evaluation): tighter than the interval evaluation of an
    expression with repeated terms (sigmoid's $\sigma(1 - \sigma)$) on small ranges.
    ``(None, None)`` for a non-smooth activation or where NumPy has no kernel."""
    K2 = act.constants.K2.enclosure
    if not K2.is_finite:
        return None, None
    with np.errstate(over="ignore", invalid="ignore"):
        c = 0.5 * z.lo + 0.5 * z.hi
        w = np.maximum(np.maximum(up(z.hi - c), up(c - z.lo)), 0.0)
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(w))):
        return None, None
    try:
        sc = _numpy_interval(d1)(IntervalArray(c))
    except Exception:  # noqa: BLE001 - no NumPy kernel: the interval evaluation alone
        return None, None
    spread = IntervalArray(w) * K2.upper_float
    lo = (IntervalArray(np.broadcast_to(sc.lo, c.shape)) - spread).lo
    hi = (IntervalArray(np.broadcast_to(sc.hi, c.shape)) + spread).hi
    ok = np.isfinite(lo) & np.isfinite(hi)
    return np.where(ok, lo, -np.inf), np.where(ok, hi, np.inf)


@lru_cache(maxsize=64)
def _numpy_interval(expr: Any) -> Any:
    from symlip.activations.registry import X

    return interval_lambdify([X], expr, backend="numpy")


class ForwardJacobian:
    r"""The interval Jacobians $P_k \ni \partial a_k/\partial x$ of the layer outputs on
    the ball, built layer by layer from the input side ($P_0 = I$,
    $P_k = F_k P_{k-1}$, :func:`jacobian_box`), so that the Jacobian of each
    pre-activation, $W_k P_{k-1}$, is available before layer $k$'s ranges are fixed
    (:func:`mean_value_box`).  Midpoint-radius ``(mid, rad)`` pairs; ``rad`` ``None``
    means exact."""

    def __init__(self, net: Any) -> None:
        from symlip.models.network import ResidualLayer

        self.net = net
        self.pm: np.ndarray | None = None
        self.pr: np.ndarray | None = None
        self._res = [isinstance(layer, ResidualLayer) for layer in net.layers]

    def z_jacobian(self, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Enclosure of $\\partial z_{k+1}/\\partial x = W_{k+1} P_k$ (``k`` 0-based layer
        index, so ``z_jacobian(0)`` is $W_1$, exact)."""
        W = self.net.layers[k].weight
        if self.pm is None:
            return W.copy(), None
        return midrad_matmul(W, None, self.pm, self.pr)

    def advance(self, k: int, s: IntervalArray,
                q: tuple[np.ndarray, np.ndarray | None] | None = None) -> None:
        """$P \\leftarrow \\operatorname{diag}(s) W P$ (dense) or $P + h\\operatorname{diag}(s)
        W P$ (residual block) for hidden layer ``k`` (0-based); ``q`` = a
        :meth:`z_jacobian` result for this layer, if already computed."""
        qm, qr = self.z_jacobian(k) if q is None else q
        if self._res[k]:
            s = s * float(self.net.layers[k].step)
        qm, qr = midrad_row_scale(qm, qr, s)
        if self._res[k]:
            im = np.eye(self.net.layers[k].weight.shape[1]) if self.pm is None else self.pm
            ir = np.zeros_like(im) if self.pr is None else self.pr
            qm, qr = midrad_add(im, ir, qm, qr)
        self.pm, self.pr = qm, qr

    def output(self) -> tuple[np.ndarray, np.ndarray]:
        """Enclosure of the network's Jacobian $W_N P_{N-1}$ (after every hidden layer
        has been :meth:`advance` d)."""
        m, r = self.z_jacobian(self.net.depth - 1)
        return m, np.zeros_like(m) if r is None else r


def mean_value_box(zc: IntervalArray, q: tuple[np.ndarray, np.ndarray | None],
                   eps: float) -> IntervalArray:
    r"""Enclosure of $\{z(x) : \|x - x_0\|_2 \le \varepsilon\}$ by the mean value form:
    $|z_i(x) - z_i(x_0)| \le \varepsilon\,\sup_B\|\nabla z_i\|_2 \le
    \varepsilon\,\|(|Q_m| + Q_r)_{i,:}\|_2$ for an interval Jacobian ``q`` $= (Q_m, Q_r)$
    of $z$ on the ball, ``zc`` $\ni z(x_0)$.  Row norms certified
    (:func:`symlip.bounds.centre.row_norms`), products rounded up.
    """
    from symlip.bounds.centre import row_norms

    qm, qr = q
    mag = np.abs(qm) if qr is None else up(np.abs(qm) + qr)
    rad = up(row_norms(mag).hi * np.float64(eps))
    return zc + IntervalArray(-rad, rad)


def jacobian_box(net: Any, ranges: list[IntervalArray]) -> tuple[np.ndarray, np.ndarray]:
    r"""Interval matrix $(M, R)$ with $|J - M| \le R$ entrywise for every
    $J = F_N F_{N-1} \cdots F_1$, $F_N = W_N$ and, for the hidden layers,
    $F_k = \operatorname{diag}(s_k) W_k$ (dense) or $I + h_k\operatorname{diag}(s_k) W_k$
    (residual block), $s_k$ in ``ranges[k-1]`` (from :func:`derivative_ranges`).

    Evaluated from the input side when $n_0 \le n_N$ (:class:`ForwardJacobian`), else as
    $J^\top$ from the output side (the same enclosure property; returned transposed
    back), so the intermediate matrices have $\min(n_0, n_N)$ columns.
    """
    from symlip.models.network import ResidualLayer

    N = net.depth
    if net.widths[0] <= net.widths[-1]:
        fj = ForwardJacobian(net)
        for k in range(N - 1):
            fj.advance(k, ranges[k])
        m, r = fj.output()
    else:
        Ws = [layer.weight for layer in net.layers]
        res = [isinstance(layer, ResidualLayer) for layer in net.layers]
        steps = [float(getattr(layer, "step", 0.0)) for layer in net.layers]
        # J^T = F_1^T ... F_{N-1}^T W_N^T: Q <- W_k^T diag(s_k) Q (+ Q for a block)
        qm, qr = Ws[-1].T.copy(), None
        for k in range(N - 2, -1, -1):
            s = ranges[k] * steps[k] if res[k] else ranges[k]
            sm, sr = midrad_row_scale(qm, qr, s)
            tm, tr = midrad_matmul(Ws[k].T, None, sm, sr)
            if res[k]:
                tm, tr = midrad_add(qm, np.zeros_like(qm) if qr is None else qr, tm, tr)
            qm, qr = tm, tr
        m = qm.T
        r = np.zeros_like(m) if qr is None else qr.T
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(r))):
        raise InputError("the interval Jacobian overflowed float64")
    return m, r


def jacobian_norm_upper(mid: np.ndarray, rad: np.ndarray) -> Enclosure:
    r"""Enclosure $[0, U]$ of $\sup\{\|J\|_2 : |J - M| \le R\}$ (``mid`` $= M$,
    ``rad`` $= R \ge 0$ entrywise).

    $U \ge \min(\|M\|_2 + \|R\|_2,\ \||M| + R\|_2)$: $\|J\|_2 \le \|M\|_2 +
    \|J - M\|_2$ and $\|J\|_2 \le \||J|\|_2$, and $\|\cdot\|_2$ is monotone on
    nonnegative matrices ($0 \le A \le B$ entrywise gives $\|A\|_2 \le \|B\|_2$), with
    $|J - M| \le R$ and $|J| \le |M| + R$.  The first term is the tight one near a point
    (it keeps the signs of $M$), the second when the entries' signs are uncertain.  Every
    spectral norm is a certified upper end (:func:`symlip.arith.norms.spectral_norm`), sums are
    rounded up.

    Raises:
        InputError: a negative or non-finite entry in ``rad``, or a non-finite ``mid``.
    """
    from symlip.arith.norms import spectral_norm

    if not (np.all(np.isfinite(mid)) and np.all(np.isfinite(rad))):
        raise InputError("the interval Jacobian has a non-finite entry")
    if np.any(rad < 0):
        raise InputError(f"radius matrix has a negative entry {float(np.min(rad))!r}")
    a = spectral_norm(mid).upper_float
    b = spectral_norm(rad).upper_float if np.any(rad > 0) else 0.0
    mag = up(np.abs(mid) + rad)  # >= |M| + R entrywise
    c = spectral_norm(mag).upper_float
    return Enclosure.from_floats(0.0, min(float(up(a + b)), c))


#: default largest number of vertex sub-problems of :func:`split_norm_upper`
SPLIT_VERTICES = 16
#: ... unless every range with a positive width can be split within this many
SPLIT_FULL_VERTICES = 64


def _split_scores(net: Any, ranges: list[IntervalArray]) -> list[np.ndarray]:
    """Heuristic weight of each neuron's derivative range in the Jacobian's spread: its
    width times the norms of the column of the float midpoint Jacobian after it and of
    the row before it (dense networks; residual networks: the width alone).  Only the
    choice of the neurons to split depends on it, never the soundness."""
    from symlip.models.network import ResidualLayer

    widths = [np.maximum(r.hi - r.lo, 0.0) for r in ranges]
    if any(isinstance(layer, ResidualLayer) for layer in net.layers):
        return widths
    with np.errstate(over="ignore", invalid="ignore"):
        mids = [0.5 * r.lo + 0.5 * r.hi for r in ranges]
        Ws = [layer.weight for layer in net.layers]
        before, P = [], None  # rows of d z_k / d x
        for k, W in enumerate(Ws[:-1]):
            Z = W if P is None else W @ P
            before.append(np.linalg.norm(Z, axis=1))
            P = mids[k][:, None] * Z
        after, Q = [None] * len(ranges), Ws[-1]  # columns of d f / d a_k
        for k in range(len(ranges) - 1, -1, -1):
            after[k] = np.linalg.norm(Q, axis=0)
            Q = (Q * mids[k][None, :]) @ Ws[k]
        out = [w * a * b for w, a, b in zip(widths, after, before, strict=True)]
    return [np.where(np.isfinite(s), s, np.inf) for s in out]


def split_norm_upper(net: Any, ranges: list[IntervalArray],
                     max_vertices: int = SPLIT_VERTICES,
                     min_share: float = 0.0,
                     max_full: int = SPLIT_FULL_VERTICES) -> tuple[Enclosure, int]:
    r"""Enclosure $[0, U]$ of $\sup\|J\|_2$ over every $J = F_N \cdots F_1$ of
    :func:`jacobian_box` (each $s_{k,i}$ in its range), by splitting the ranges of the
    $m$ most influential neurons ($2^m \le$ ``max_vertices``; all of them when there
    are at most $\log_2$ ``max_full``, e.g. every unstable ReLU of a small ball) at their
    ends.

    Vertex reduction (Lemma I.3, ``docs/theory-input.md``): $\sup\|J\|_2$ is the maximum
    over the $2^m$ vertices of the split ranges of the supremum with those fixed; each
    term is bounded by :func:`jacobian_norm_upper` with the split ranges set to their
    float endpoints.  For ReLU networks the unstable neurons are the ones split.

    Returns:
        ``(enclosure, m)``: the bound and the number of neurons split; $[0, \infty]$ and
        0 when the split neurons would carry less than ``min_share`` of the total
        heuristic spread (many comparable ranges, e.g. a smooth activation: splitting a
        few of them gains little and costs $2^m$ certified norms).
    """
    scores = _split_scores(net, ranges)
    flat = [(float(sc[i]), k, i) for k, sc in enumerate(scores) for i in range(len(sc))
            if ranges[k].hi[i] > ranges[k].lo[i] and sc[i] > 0]
    flat.sort(reverse=True)
    m = min(len(flat), max(0, int(np.log2(max(1, max_vertices)))))
    if 2 ** len(flat) <= max(max_full, max_vertices):  # few enough: split them all
        m = len(flat)
    total = sum(v for v, _, _ in flat)
    if m == 0 or not sum(v for v, _, _ in flat[:m]) >= min_share * total:
        return Enclosure.unbounded_above(0), 0  # the split would not remove enough spread
    chosen = [(k, i) for _, k, i in flat[:m]]
    boxes = []
    for bits in range(2 ** m):
        los = [np.array(r.lo, dtype=np.float64) for r in ranges]
        his = [np.array(r.hi, dtype=np.float64) for r in ranges]
        for b, (k, i) in enumerate(chosen):
            v = his[k][i] if (bits >> b) & 1 else los[k][i]
            los[k][i] = his[k][i] = v
        boxes.append(jacobian_box(net, [IntervalArray(lo, hi)
                                        for lo, hi in zip(los, his, strict=True)]))
    # the largest float estimates first, so that cheap bounds below them can be kept
    order = sorted(range(len(boxes)), key=lambda v: -_norm_estimate(*boxes[v]))
    best = 0.0
    for v in order:
        best = max(best, _vertex_norm_upper(*boxes[v], floor=best))
    return Enclosure.from_floats(0.0, best), m


def _norm_estimate(mid: np.ndarray, rad: np.ndarray) -> float:
    r"""Float estimate of $\||M| + R\|_2$ (the order of the vertices only)."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = float(np.linalg.norm(np.abs(mid) + rad, 2))
    return v if np.isfinite(v) else np.inf


def _vertex_norm_upper(mid: np.ndarray, rad: np.ndarray, floor: float = 0.0) -> float:
    r"""Upper bound of $\sup_{|J - M| \le R}\|J\|_2$, certified, by the cheapest of
    the bounds of :func:`jacobian_norm_upper` that is good enough:
    $\||M| + R\|_F$ (certified float bound of
    :func:`symlip.bounds.centre.frobenius_upper`) when it is at most ``floor`` (the
    maximum taken over the vertices is then unchanged), else the one of
    $\|M\|_2 + \|R\|_2$ ($\|R\|_2 \le \|R\|_F$ when the radius is small) and
    $\||M| + R\|_2$ with the smaller float estimate, certified."""
    from symlip.arith.norms import spectral_norm
    from symlip.bounds.centre import frobenius_upper

    if not (np.all(np.isfinite(mid)) and np.all(np.isfinite(rad))):
        raise InputError("the interval Jacobian has a non-finite entry")
    mag = up(np.abs(mid) + rad)
    fro = frobenius_upper(mag)
    if fro <= floor:
        return fro
    e1 = float(np.linalg.norm(mid, 2)) + float(np.linalg.norm(rad, 2))
    e2 = float(np.linalg.norm(mag, 2))
    if e2 < e1:
        return min(fro, spectral_norm(mag).upper_float)
    a = spectral_norm(mid).upper_float
    b = frobenius_upper(rad)
    if b > 0.05 * a:
        b = min(b, spectral_norm(rad).upper_float)
    return min(fro, float(up(a + b)))
