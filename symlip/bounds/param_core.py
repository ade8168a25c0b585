r"""The machinery of the parameter bound of feed-forward networks (Lemmas 1-3 and 7 of
``docs/theory-param.md``): data checks, certified inputs of the recursion, the local
inputs, the float Jacobian norms, the lower-bound search and its witness quotient.

:mod:`symlip.bounds.param` is the entry point (:func:`~symlip.bounds.param.param_lipschitz`,
which also dispatches residual and convolutional networks) and the certificate kind; the
residual and kernel-view variants build on this module, not on the entry point, so that
no two bound modules import each other.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from mpmath import iv

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure, Truth, compare
from symlip.arith.floatsearch import float_search
from symlip.bounds import recursion as rec
from symlip.bounds.centre import centre_norms, row_norms, spectral_upper
from symlip.bounds.result import BoundResult
from symlip.errors import InputError, WitnessOutsideError

# ------------------------------------------------------------------------------------
# input validation
# ------------------------------------------------------------------------------------


def check_data(net: Any, data: Any, what: str = "data") -> np.ndarray:
    """Data as a float64 array ``(n_points, n0)``; a 1-D array is one point."""
    if data is None:
        raise InputError(f"{what} is required: an array of shape (n_points, {net.widths[0]})")
    try:
        x = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a real array, got {type(data).__name__}") from None
    if x.ndim == 1:
        x = x[None, :]
    n0 = net.widths[0]
    if x.ndim != 2 or x.shape[1] != n0 or x.shape[0] == 0:
        raise InputError(f"{what} has shape {np.shape(data)}, expected (n_points, {n0})")
    bad = ~np.isfinite(x)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{what} has a non-finite value {x[idx]} at index {idx}")
    return x


# ------------------------------------------------------------------------------------
# certified inputs of the formula
# ------------------------------------------------------------------------------------


@dataclass
class CertifiedInputs:
    """Scalar enclosures and per-point interval arrays of the formula's inputs."""

    scalars: dict[str, Enclosure]
    per_point: dict[str, IntervalArray]
    bounded: bool
    centre: bool
    centre_data: Any = None
    timings: dict[str, float] = field(default_factory=dict)
    spectral_method: str = "spectral"
    jac: bool = False
    #: intermediate results a later input step reuses (not formula inputs)
    stash: dict[str, Any] = field(default_factory=dict)

    def add_jacobians(self, compute: Any) -> None:
        """Add the per-point centre Jacobian norms that ``compute()`` certifies and set
        ``jac``; off (``jac = False``) where an activation has no rigorous kernel for
        $\\sigma'$."""
        from symlip.arith.enclosure import UnsupportedOperation

        try:
            self.per_point.update(compute())
            self.jac = True
        except (ValueError, UnsupportedOperation):
            self.jac = False

    def hull(self) -> dict[str, Enclosure]:
        out = dict(self.scalars)
        for k, v in self.per_point.items():
            out[k] = Enclosure.from_floats(float(np.min(v.lo)), float(np.max(v.hi)))
        return out


def _constant(acts: list[Any], name: str) -> Enclosure:
    encs = [getattr(a.constants, name).enclosure for a in acts]
    lo = min(e.lower_float for e in encs)
    hi = max(e.upper_float for e in encs)
    return Enclosure.from_floats(lo, hi)


def _plus_r(e: Enclosure, r: float) -> Enclosure:
    return Enclosure.from_interval(e.to_interval() + iv.mpf(r))


def activation_scalars(acts: list[Any], r: float, *, smooth: bool = False
                       ) -> tuple[dict[str, Enclosure], bool]:
    """The scalar inputs shared by all layers: ``r`` and the activation constants
    ``K1``, ``s0`` (and ``S0`` when finite, ``K2`` when ``smooth``), each the hull over
    ``acts``; returns ``(scalars, bounded)`` with ``bounded`` = ``S0`` is finite."""
    scalars: dict[str, Enclosure] = {"r": Enclosure.point(r)}
    bounded = True
    if acts:
        scalars["K1"] = _constant(acts, "K1")
        scalars["s0"] = _constant(acts, "sigma0")
        s0e = _constant(acts, "S0")
        bounded = s0e.is_finite
        if bounded:
            scalars["S0"] = s0e
        if smooth:
            scalars["K2"] = _constant(acts, "K2")
    return scalars, bounded


def certified_param_inputs(net: Any, X: np.ndarray, r: float, *, centre: bool | str = "auto",
                           smooth: bool = False) -> CertifiedInputs:
    """Certified enclosures of every input symbol of the parameter bound.

    Args:
        net: the network.
        X: validated data ``(n_points, n0)``.
        r: radius.
        centre: ``"auto"``/``True``: centre activation norms (dropped when no
            vectorised rigorous kernel exists and the data are large); ``False``: never.
        smooth: also enclose ``K2``.
    """
    t0 = time.perf_counter()
    scalars, bounded = activation_scalars(list(net.activations), r, smooth=smooth)
    t1 = time.perf_counter()
    spec_up: list[float] = []
    methods: list[str] = []
    for k, layer in enumerate(net.layers, start=1):
        s, m_used = spectral_upper(layer.weight)
        methods.append(m_used)
        spec_up.append(s.upper_float)
        scalars[f"rho_{k}"] = _plus_r(s, r)
        bn = row_norms(layer.bias[None, :])
        scalars[f"beta_{k}"] = _plus_r(Enclosure.from_floats(float(bn.lo[0]), float(bn.hi[0])), r)
        if k < net.depth:
            scalars[f"n_{k}"] = Enclosure.point(layer.shape[0])
    t2 = time.perf_counter()
    per_point = {"c_0": row_norms(X)}
    cdata = None
    if centre:
        cdata = centre_norms(net, X, spectral=spec_up)
    use_centre = cdata is not None
    if use_centre:
        for k, A in enumerate(cdata.A, start=1):
            per_point[f"A_{k}"] = A
    t3 = time.perf_counter()
    return CertifiedInputs(scalars, per_point, bounded, use_centre, cdata,
                           {"constants": t1 - t0, "norms": t2 - t1, "centre_forward": t3 - t2},
                           ",".join(methods))


@lru_cache(maxsize=64)
def param_program(depth: int, bounded: bool, centre: bool) -> rec.RecursiveFormula:
    """The first-order program as a formula named ``L_param`` (cached)."""
    defs, inputs = rec.first_order_program(depth, bounded=bounded, centre=centre)
    return rec.RecursiveFormula(defs, inputs, name="L_param")


#: the methods of :func:`param_lipschitz`
METHODS = ("local", "recursion")


def check_method(method: Any) -> str:
    """``"local"`` (Lemma 7, :mod:`symlip.bounds.sensitivity`) or ``"recursion"``."""
    if method not in METHODS:
        raise InputError(f"{method=} must be one of {list(METHODS)}")
    return str(method)


@lru_cache(maxsize=32)
def local_param_program(depth: int, bounded: bool) -> rec.RecursiveFormula:
    """The local-sensitivity program (Lemma 7, min with the recursion), ``L_param``."""
    from symlip.bounds.sensitivity import local_first_order_program

    defs, inputs = local_first_order_program(depth, bounded)
    return rec.RecursiveFormula(list(defs), list(inputs), name="L_param")


def local_applies(net: Any, n_points: int) -> bool:
    """Whether the local method runs (dense chain within the cost budget); else the
    recursion is used and recorded (``extra["method"]``)."""
    from symlip.bounds.sensitivity import LOCAL_COST_BUDGET, local_cost

    if getattr(net, "has_residual", False) or net.depth < 2:
        return False
    return local_cost(net, n_points) <= 4 * LOCAL_COST_BUDGET


def local_spec(net: Any, r: float, ci: CertifiedInputs) -> list[float]:
    r"""Certified upper bounds of $\|W_k\|_2$ at the centre (``rho_k`` less $r$, rounded
    up), the ones the local inputs' float passes use."""
    spec = [ci.scalars[f"rho_{k}"].upper_float - r for k in range(1, net.depth + 1)]
    return [float(np.nextafter(s, np.inf)) for s in spec]


def add_local_inputs(net: Any, X: np.ndarray, r: float, ci: CertifiedInputs,
                     formula: rec.RecursiveFormula) -> bool:
    """Put the certified local inputs of ``formula`` into ``ci.per_point`` (in place);
    ``False`` (and ``ci`` unchanged) when their float passes with error bounds overflow
    (weights or data near 1e300): the caller then uses the recursion, and so does
    ``verify``, which repeats the same computation."""
    from symlip.bounds.sensitivity import local_param_inputs

    t0 = time.perf_counter()
    spec = local_spec(net, r, ci)
    base = {**ci.scalars, **ci.per_point}
    try:
        with np.errstate(over="raise", invalid="raise"):
            loc = local_param_inputs(net, X, r, formula, base, spec)
    except (FloatingPointError, InputError):
        return False
    for name, v in loc.items():
        if name.startswith("A_") and name in ci.per_point:
            continue  # the centre forward pass's enclosure (also certified)
        ci.per_point[name] = v
    ci.centre = True
    ci.timings["local_inputs"] = time.perf_counter() - t0
    return True


def _args(formula: rec.RecursiveFormula, ci: CertifiedInputs, hull: bool) -> dict[str, Any]:
    vals: dict[str, Any] = {}
    h = ci.hull() if hull else None
    for s in formula.inputs:
        name = str(s)
        if hull:
            vals[name] = h[name]  # type: ignore[index]
        elif name in ci.per_point:
            vals[name] = ci.per_point[name]
        else:
            vals[name] = ci.scalars[name]
    return vals


def evaluate_pointwise(formula: rec.RecursiveFormula, ci: CertifiedInputs) -> IntervalArray:
    """The formula per data point (outward-rounded float intervals)."""
    return formula.enclose_array(_args(formula, ci, hull=False))


# ------------------------------------------------------------------------------------
# lower bounds
# ------------------------------------------------------------------------------------


def param_jacobian_norms(net: Any, X: np.ndarray, chunk: int = 256) -> np.ndarray:
    r"""$\|J_\theta f(x;\theta)\|_2$ per data point (float64, not certified).

    Closed form: $J J^T = \sum_k (\|a_{k-1}\|^2 + 1)\, \delta_k \delta_k^T$ with
    $\delta_k = \partial f / \partial z_k$ ($n_N \times n_k$) from backpropagation.
    Networks with residual blocks: :func:`_residual_param_jacobian_norms`.
    """
    if getattr(net, "has_residual", False):
        return _residual_param_jacobian_norms(net, X, chunk)
    out = []
    for s in range(0, X.shape[0], chunk):
        xb = X[s:s + chunk]
        tr = net.forward_trace(xb)
        nN = net.widths[-1]
        delta = np.broadcast_to(np.eye(nN), (xb.shape[0], nN, nN))
        gram = np.zeros((xb.shape[0], nN, nN))
        for k in range(net.depth - 1, -1, -1):
            a = tr.layer_inputs[k]
            w = np.einsum("bi,bi->b", a, a) + 1.0
            gram += w[:, None, None] * np.einsum("boi,bpi->bop", delta, delta)
            if k > 0:
                delta = delta @ net.layers[k].weight
                d = np.asarray(net.activations[k - 1].dsigma(tr.preactivations[k - 1]))
                delta = delta * d[:, None, :]
        ev = np.linalg.eigvalsh(gram)[:, -1]
        out.append(np.sqrt(np.maximum(ev, 0.0)))
    return np.concatenate(out)


def _top_direction(net: Any, x: np.ndarray) -> np.ndarray:
    """Top right singular vector of $J_\\theta f(x;\\theta)$ (unit, parameter order)."""
    if not getattr(net, "has_residual", False):
        return _top_direction_gram(net, x)
    J = np.asarray(net.param_jacobian(x))  # (nN, P)
    # the top eigenvector u of the small Gram matrix J J^T gives v = J^T u / ||J^T u||
    # (the same vector as the SVD's, ~30x faster for nN << P)
    _, U = np.linalg.eigh(J @ J.T)
    return _unit(J.T @ U[:, -1])


def _top_direction_gram(net: Any, x: np.ndarray) -> np.ndarray:
    r""":func:`_top_direction` without forming $J$ (dense chains): $JJ^T = \sum_k
    (\|a_{k-1}\|^2 + 1)\delta_k\delta_k^T$ ($n_N \times n_N$, see
    :func:`param_jacobian_norms`), its top eigenvector $u$, and $J^Tu$ layer by layer:
    $(\delta_k^Tu)\otimes a_{k-1}$ for $W_k$, $\delta_k^Tu$ for $b_k$ (float, a search
    direction: not certified)."""
    tr = net.forward_trace(np.asarray(x, dtype=np.float64)[None, :])
    nN = net.widths[-1]
    deltas: list[np.ndarray] = [None] * net.depth  # type: ignore[list-item]
    delta = np.eye(nN)
    gram = np.zeros((nN, nN))
    for k in range(net.depth - 1, -1, -1):
        a = tr.layer_inputs[k][0]
        deltas[k] = delta
        gram += (float(a @ a) + 1.0) * (delta @ delta.T)
        if k > 0:
            d = np.asarray(net.activations[k - 1].dsigma(tr.preactivations[k - 1]))[0]
            delta = (delta @ net.layers[k].weight) * d[None, :]
    _, U = np.linalg.eigh(gram)
    u = U[:, -1]
    parts = []
    for k in range(net.depth):
        g = u @ deltas[k]
        parts += [np.outer(g, tr.layer_inputs[k][0]).ravel(), g]
    return _unit(np.concatenate(parts))


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


@float_search
def estimate_param_lower(net: Any, X: np.ndarray, r: float, *, seed: int = 0,
                         max_points: int = 64, steps: int = 12
                         ) -> tuple[float, int, np.ndarray]:
    r"""Sampled lower estimate of $\sup_{\theta \in B_r} \|J_\theta f(x;\theta)\|_2$ (float).

    Exact Jacobian norms at the centre for (up to ``max_points``) data points, then a
    random search with shrinking steps inside the ball at the best point.  Not
    certified (float64), but a valid lower estimate of the Lipschitz constant.

    Returns:
        ``(estimate, point index, best theta)``.
    """
    theta0 = net.params()
    if X.shape[0] > max_points:
        idx = np.argsort(-np.linalg.norm(X, axis=1))[:max_points]
    else:
        idx = np.arange(X.shape[0])
    norms = param_jacobian_norms(net, X[idx])
    j = int(np.argmax(norms))
    best_i, best, best_theta = int(idx[j]), float(norms[j]), theta0
    if r <= 0 or net.n_params * net.widths[-1] > 5_000_000:
        return best, best_i, best_theta
    x = X[best_i]
    best, best_theta = ball_search(
        lambda th: float(param_jacobian_norms(net.with_params(th), x[None, :])[0]),
        lambda th: _top_direction(net.with_params(th), x),
        theta0, best_theta, best, r, steps=steps, step0=r, seed=seed)
    return best, best_i, best_theta


def ball_search(value: Any, top_direction: Any, theta0: np.ndarray, theta: np.ndarray,
                best: float, r: float, *, steps: int, step0: float, seed: int = 0
                ) -> tuple[float, np.ndarray]:
    """Float search for a larger ``value(theta)`` in the closed ball ``B_r(theta0)``:
    ``steps`` rounds of steps ``+-step`` (halved each round, from ``step0``) along
    ``top_direction(best theta)`` and three random unit directions, each point pulled
    back into the ball.  Returns ``(best value, best theta)``; not certified (an
    estimate of a supremum over the ball, from below)."""
    rng = np.random.default_rng(seed)
    step = step0
    cands = [top_direction(theta)]
    for _ in range(steps):
        dirs = cands + [_unit(rng.standard_normal(theta0.size)) for _ in range(3)]
        for d in dirs:
            for sgn in (1.0, -1.0):
                th = theta + sgn * step * d
                off = th - theta0
                # huge radii (1e300) overflow the float search: such points are skipped
                with np.errstate(all="ignore"):
                    nrm = np.linalg.norm(off)
                    if nrm > r:
                        th = theta0 + off * (r / nrm) * (1 - 1e-9)
                    if not (np.isfinite(nrm) and np.all(np.isfinite(th))):
                        continue
                    try:
                        val = value(th)
                    except InputError:  # non-finite parameters or outputs
                        continue
                if math.isfinite(val) and val > best:
                    best, theta = val, th
        cands = [top_direction(theta)]
        step *= 0.5
    return best, theta


def certify_param_lower(net: Any, x: np.ndarray, r: float, direction: np.ndarray,
                        *, t: float | None = None, k_sparse: int = 512
                        ) -> tuple[Enclosure, dict[str, Any]]:
    r"""Certified lower bound $\|f(x;\bar\theta + d) - f(x;\bar\theta)\| / \|d\|$.

    $d$ is a sparse step (the ``k_sparse`` largest coordinates of ``direction``) of
    length at most $r$; both outputs are enclosed by :meth:`Network.interval_forward`,
    the norms in interval arithmetic, so the lower end is a certified lower bound of
    the Lipschitz constant on $B_r$ (both parameter vectors lie in the ball).

    Returns:
        ``(enclosure of the quotient, witness)``; the witness (point, indices, values)
        lets :func:`check_param_lower` recompute it.
    """
    P = direction.size
    mag = np.abs(direction)
    if P > k_sparse:  # the k largest magnitudes without sorting all P
        part = np.argpartition(-mag, k_sparse - 1)[:k_sparse]
        keep = part[np.argsort(-mag[part], kind="stable")]
    else:
        keep = np.argsort(-mag)
    vals = direction[keep]
    nv = float(np.linalg.norm(vals))
    if nv == 0 or r <= 0:
        return Enclosure.point(0), {}
    tt = r if t is None else min(t, r)
    tt = min(tt, 1e-3 * max(1.0, float(np.max(np.abs(net.params())))))
    d = vals * (tt / nv) * (1 - 1e-9)
    wit = {"x": [float(v) for v in x], "indices": [int(i) for i in keep],
           "step": [float(v) for v in d]}
    return param_quotient_from_witness(net, wit, r), wit


def lower_bounds(net: Any, X: np.ndarray, r: float, *, seed: int = 0
                 ) -> tuple[float | None, Enclosure | None, dict[str, Any] | None]:
    """``(estimate, certified lower enclosure, witness)``: the sampled estimate, and the
    interval difference quotient along the top direction at the best point (``None``
    when ``r == 0`` or no certified quotient was found)."""
    est, i, _ = estimate_param_lower(net, X, r, seed=seed)
    if r <= 0:
        return est, None, None
    low_enc, witness = certify_param_lower(net, X[i], r, _top_direction(net, X[i]))
    if not witness:
        return est, None, None
    return est, low_enc, {"kind": "difference_quotient", **witness, "row": int(i)}


def param_quotient_from_witness(net: Any, wit: Mapping[str, Any], r: float) -> Enclosure:
    """Recompute the certified difference quotient of a witness (see above)."""
    x = np.asarray(wit["x"], dtype=np.float64)
    keep = np.asarray(wit["indices"], dtype=np.intp)
    d = np.asarray(wit["step"], dtype=np.float64)
    theta0 = net.params()
    theta1 = theta0.copy()
    theta1[keep] = theta0[keep] + d
    # the exact step is theta1 - theta0 (a difference of doubles), enclosed here
    step = [iv.mpf(float(a)) - iv.mpf(float(b)) for a, b in zip(theta1[keep], theta0[keep])]
    dn = iv.sqrt(sum((s * s for s in step), iv.mpf(0)))
    if compare(dn, "<=", iv.mpf(r)) is not Truth.TRUE:
        raise WitnessOutsideError(f"lower-bound witness leaves the parameter ball of radius {r!r}")
    f0 = net.interval_forward(x)
    f1 = net.with_params(theta1).interval_forward(x)
    diff2 = sum(((b.to_interval() - a.to_interval()) ** 2 for a, b in zip(f0, f1)), iv.mpf(0))
    q = Enclosure.from_interval(iv.sqrt(diff2) / dn)
    if getattr(net, "has_residual", False) or net.depth < 4:
        return q
    # deep networks: the interval forward pass wraps (widths grow like prod |||W|||_2);
    # a float pass with norm-wise error bounds e0, e1 gives
    # ||f1 - f0|| >= ||f1^ - f0^|| - e0 - e1 (sensitivity.float_forward)
    from symlip.bounds.sensitivity import float_forward

    net1 = net.with_params(theta1)
    g0 = float_forward(net, x[None, :], [spectral_upper(w)[0].upper_float for w in net.weights])
    g1 = float_forward(net1, x[None, :], [spectral_upper(w)[0].upper_float
                                          for w in net1.weights])
    d2 = sum(((iv.mpf(float(b)) - iv.mpf(float(a))) ** 2
              for a, b in zip(g0.out[0], g1.out[0])), iv.mpf(0))
    num = iv.sqrt(d2) - iv.mpf(float(g0.eout[0])) - iv.mpf(float(g1.eout[0]))
    lo = Enclosure.from_interval(num / dn).lower
    if compare(lo, ">", q.lower) is Truth.TRUE:
        hi = q.upper if compare(q.upper, ">=", lo) is Truth.TRUE else lo
        return Enclosure(lo, hi)
    return q

def _residual_param_jacobian_norms(net: Any, X: np.ndarray, chunk: int = 256) -> np.ndarray:
    r"""$\|J_\theta f(x;\theta)\|_2$ per data point (float64, not certified), for
    networks with residual blocks, without forming $J$.

    $\partial f/\partial W_k = \delta_k \otimes a_{k-1}$, $\partial f/\partial b_k =
    \delta_k$ with $\delta_k = \partial f/\partial z_k$ (for a block, $\delta_k =
    h_k\,(\partial f/\partial a_k) D_k$), so $JJ^\top = \sum_k (\|a_{k-1}\|^2 + 1)
    \delta_k\delta_k^\top$ ($n_N \times n_N$).
    """
    from symlip.models.network import ResidualLayer

    out = []
    nN = net.widths[-1]
    for s in range(0, X.shape[0], chunk):
        xb = X[s:s + chunk]
        tr = net.forward_trace(xb)
        g = np.broadcast_to(np.eye(nN), (xb.shape[0], nN, nN))
        gram = np.zeros((xb.shape[0], nN, nN))
        for k in range(net.depth - 1, -1, -1):
            layer = net.layers[k]
            if k == net.depth - 1:
                delta = g
            else:
                d = np.asarray(net.activations[k].dsigma(tr.preactivations[k]))
                delta = g * d[:, None, :]
                if isinstance(layer, ResidualLayer):
                    delta = layer.step * delta
            a = tr.layer_inputs[k]
            w = np.einsum("bi,bi->b", a, a) + 1.0
            gram += w[:, None, None] * np.einsum("boi,bpi->bop", delta, delta)
            back = delta @ layer.weight
            g = g + back if isinstance(layer, ResidualLayer) else back
        ev = np.linalg.eigvalsh(gram)[:, -1]
        out.append(np.sqrt(np.maximum(ev, 0.0)))
    return np.concatenate(out)


def param_formula(net: Any, X: np.ndarray, r: float, ci: CertifiedInputs,
                  method: str) -> tuple[rec.RecursiveFormula, str]:
    """The formula of ``method`` and the method used; for ``"local"`` the certified
    local inputs are added to ``ci`` (see :func:`local_applies`)."""
    if method == "local" and local_applies(net, X.shape[0]):
        formula = local_param_program(net.depth, ci.bounded)
        if add_local_inputs(net, X, r, ci, formula):
            return formula, "local"
    return param_program(net.depth, ci.bounded, ci.centre), "recursion"


def param_lipschitz_from_inputs(net: Any, X: np.ndarray, r: float, ci: CertifiedInputs,
                                formula: rec.RecursiveFormula, *, lower: bool = True,
                                seed: int = 0, pointwise_max: bool = False) -> BoundResult:
    """:func:`param_lipschitz` on already certified inputs (shared with the gradient).

    With ``pointwise_max`` (the local method) ``upper`` is the max over the data points
    of the formula on each point's certified inputs (``extra["aggregate"] = "max"``,
    re-checked point by point by ``symlip verify``); the hull evaluation stays in
    ``extra["upper_hull"]`` (the local inputs vary from point to point, so their hull is
    looser)."""
    t1 = time.perf_counter()
    pointwise = evaluate_pointwise(formula, ci)
    hull_inputs = _args(formula, ci, hull=True)
    enclosure = formula.enclose(hull_inputs)
    t3 = time.perf_counter()
    upw = pointwise.upper_max()
    est, low_enc, witness = lower_bounds(net, X, r, seed=seed) if lower else (None,) * 3
    t4 = time.perf_counter()
    deriv = rec.first_order_derivation(net.depth, bounded=ci.bounded, centre=ci.centre)
    if any(str(sym).startswith("C_") for sym in formula.inputs):
        from symlip.bounds.sensitivity import local_first_order_derivation

        deriv.section(local_first_order_derivation(net.depth if net.depth <= 4 else None))
    extra = {
        "radius": r,
        "upper_pointwise": upw.upper_str(),
        "n_points": int(X.shape[0]),
        "centre_norms": ci.centre,
        "spectral_method": ci.spectral_method,
        "timings": {**ci.timings, "interval_eval": t3 - t1, "lower": t4 - t3},
    }
    per_layer = [{"name": layer.name, "rho_upper": ci.scalars[f"rho_{k}"].upper_str(8),
                  "beta_upper": ci.scalars[f"beta_{k}"].upper_str(8)}
                 for k, layer in enumerate(net.layers, start=1)]
    if pointwise_max:
        extra["upper_hull"] = enclosure.upper_str()
        extra["aggregate"] = "max"
        enclosure = Enclosure(0, upw.upper)
    return BoundResult("param_lipschitz", "l2", enclosure, formula, hull_inputs, deriv,
                       lower_enclosure=low_enc, estimate=est, per_layer=per_layer,
                       extra=extra, witness=witness)
