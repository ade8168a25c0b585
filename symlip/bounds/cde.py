r"""Certified parameter- and gradient-Lipschitz bounds of controlled ODEs on a ball.

**Which map.**  ``scheme="euler"`` (default): the map $\theta \mapsto Y(x;\theta)$ of
the Euler scheme on the given grid, in exact real arithmetic (what
:meth:`~symlip.models.cde.ControlledODE.forward` evaluates in floating point; a
weight-tied residual network).  The bound is rigorous for that map and testable
exactly: certified lower bounds are interval difference quotients of it.
``scheme="flow"``: the exact solution of the controlled ODE with $U$ linear between
grid points, *and* the Euler scheme on every refinement of the grid (one bound for the
whole family; no certified lower bound, the estimate comes from RK4).  Always
$L_{euler} \le L_{flow} \le L_{MATH}$ (``docs/theory-cde.md``).

Theorem (first order): for all $\theta, \theta'$ in the closed ball of radius $r$
around the model's parameters (Euclidean norm of the flattened vector, order of
:meth:`ControlledODE.params`) and every data point $x$,
$\|Y(x;\theta) - Y(x;\theta')\|_2 \le L\,\|\theta - \theta'\|_2$, with $L$ the program of
:func:`symlip.bounds.cde_program.euler_program` (or ``flow_program``) evaluated in
outward-rounded interval arithmetic on certified enclosures of its inputs (spectral
norms, bias norms, $\nu(\pm W_j)$, control increments, centre states, activation
constants); ``upper`` is rounded up.
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
from symlip.arith.enclosure import Enclosure, Truth, UnsupportedOperation, compare
from symlip.arith.floatsearch import float_search
from symlip.arith.linalg import affine_box
from symlip.arith.lognorm import nu_upper
from symlip.bounds import cde_program as prog
from symlip.bounds.centre import ce_output_gradient, row_norms
from symlip.bounds.checks import check_radius
from symlip.bounds.result import BoundResult
from symlip.errors import InputError, NotSmoothError, WitnessOutsideError
from symlip.models.cde import ControlledODE, _increments, is_monotone
from symlip.models.network import sigma_box
from symlip.symbolic.recursion import RecursiveFormula

__all__ = [
    "cde_param_lipschitz",
    "cde_grad_lipschitz",
    "certified_inputs",
    "bound_formula",
    "evaluate",
    "cde_estimate_param_lower",
    "certify_param_lower",
    "cde_quotient_from_witness",
    "loss_gradient",
    "SCHEMES",
]

#: what a bound can be about
SCHEMES = ("euler", "flow", "math", "math_euler")


def _scheme(s: str) -> str:
    if s not in SCHEMES:
        raise InputError(f"scheme={s!r} must be one of {SCHEMES}")
    return s


# ------------------------------------------------------------------------------------
# certified inputs
# ------------------------------------------------------------------------------------


@dataclass
class CdeInputs:
    """Certified enclosures of the formula inputs: scalars and per-data-point arrays."""

    scalars: dict[str, Enclosure]
    per_point: dict[str, IntervalArray]
    monotone: bool
    bounded: bool
    centre: bool
    n_steps: int
    d: int
    centre_output: IntervalArray | None = None
    nu_methods: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def hull(self) -> dict[str, Enclosure]:
        out = dict(self.scalars)
        for k, v in self.per_point.items():
            out[k] = Enclosure.from_floats(float(np.min(v.lo)), float(np.max(v.hi)))
        return out


def _plus(e: Enclosure | float, r: float) -> Enclosure:
    x = e.to_interval() if isinstance(e, Enclosure) else iv.mpf(float(e))
    return Enclosure.from_interval(x + iv.mpf(r))


def _spec(W: np.ndarray) -> Enclosure:
    from symlip.bounds.centre import spectral_upper

    return spectral_upper(W)[0]


def _vnorm(v: np.ndarray) -> Enclosure:
    n = row_norms(np.asarray(v, dtype=np.float64)[None, :])
    return Enclosure.from_floats(float(n.lo[0]), float(n.hi[0]))


def _enc(a: IntervalArray, idx: Any = ()) -> Enclosure:
    return Enclosure.from_floats(float(a.lo[idx]), float(a.hi[idx]))


def _iv_sum(cols: list[IntervalArray]) -> IntervalArray:
    acc = cols[0]
    for c in cols[1:]:
        acc = acc + c
    return acc


def _norms_iv(X: IntervalArray) -> IntervalArray:
    """Enclosures of the Euclidean norms of the rows of an interval batch."""
    sq = X.square()
    return _iv_sum([IntervalArray(sq.lo[..., i], sq.hi[..., i])
                    for i in range(sq.lo.shape[-1])]).sqrt()


def certified_inputs(model: ControlledODE, X: np.ndarray, U: np.ndarray, r: float, *,
                     centre: bool = True, lognorm: bool = True, smooth: bool = False
                     ) -> CdeInputs:
    """Certified enclosures of every input symbol of the bounds (see
    :mod:`symlip.bounds.cde_program` for the symbols).

    Args:
        model: the model at the centre $\\bar\\theta$.
        X: validated data ``(n_points, n0)``; U: validated control ``(N+1, d)``.
        r: radius.
        centre: run a rigorous interval Euler pass at $\\bar\\theta$ for $A_k$.
        lognorm: certify $\\nu(\\pm\\bar W_j)$ (only used when $\\sigma$ is monotone).
        smooth: also enclose $K_2$.
    """
    t0 = time.perf_counter()
    act = model.activation
    cs = act.constants
    monotone = lognorm and is_monotone(act)
    sc: dict[str, Enclosure] = {"r": Enclosure.point(r), "K1": cs.K1.enclosure,
                                "s0": cs.sigma0.enclosure, "n": Enclosure.point(model.state_dim)}
    bounded = cs.S0.is_finite
    if bounded:
        sc["S0"] = cs.S0.enclosure
    if smooth:
        sc["K2"] = cs.K2.enclosure
    sc["rho_A"] = _plus(_spec(model.A), r)
    sc["beta_a"] = _plus(_vnorm(model.a), r)
    sc["rho_C"] = _plus(_spec(model.C), r)
    sc["beta_c"] = _plus(_vnorm(model.c), r)
    specs = [_spec(W) for W in model.Ws]
    sc["rho"] = _plus(Enclosure.from_floats(max(s.lower_float for s in specs),
                                            max(s.upper_float for s in specs)), r)
    bn = [_vnorm(b) for b in model.bs]
    sc["beta"] = _plus(Enclosure.from_floats(max(e.lower_float for e in bn),
                                             max(e.upper_float for e in bn)), r)
    t1 = time.perf_counter()
    # per-step control quantities
    dU = _increments(U)
    absd = dU.abs()
    N, d = absd.lo.shape
    cols = [IntervalArray(absd.lo[:, j], absd.hi[:, j]) for j in range(d)]
    w = _iv_sum(cols)
    u2 = _iv_sum([c.square() for c in cols]).sqrt()
    # ||sigma(b_j)|| (upper ends), rigorous
    sb = []
    for b in model.bs:
        s = sigma_box(act, IntervalArray(b[None, :]))
        sb.append(_norms_iv(s).hi[0])
    g = _iv_sum([c * IntervalArray(0.0, float(sb[j])) for j, c in enumerate(cols)])
    g = IntervalArray(np.zeros_like(g.lo), g.hi)
    methods: list[str] = []
    if monotone:
        nus = []
        for W in model.Ws:
            (ep, mp), (em, mm) = nu_upper(W), nu_upper(-W)
            nus.append((ep.upper_float, em.upper_float))
            methods += [mp, mm]
        sign = np.sign(np.diff(U, axis=0))  # sign of the exact increment (see docs)
        terms = []
        for j in range(d):
            nuj = np.where(sign[:, j] >= 0, nus[j][0], nus[j][1])
            terms.append(cols[j] * IntervalArray(0.0, nuj))
        nu = _iv_sum(terms)
        nu = IntervalArray(np.zeros_like(nu.lo), nu.hi)
    for k in range(N):
        sc[f"w_{k}"] = _enc(w, k)
        sc[f"u_{k}"] = _enc(u2, k)
        sc[f"g_{k}"] = _enc(g, k)
        for j in range(d):
            sc[f"v_{j + 1}_{k}"] = _enc(cols[j], k)
        if monotone:
            sc[f"nu_{k}"] = _enc(nu, k)
    tv = [_iv_sum([IntervalArray(c.lo[k], c.hi[k]) for k in range(N)]) for c in cols]
    sc["V1"] = _enc(_iv_sum(tv))
    sc["V2"] = _enc(_iv_sum([t.square() for t in tv]).sqrt())
    t2 = time.perf_counter()
    per_point = {"xi": row_norms(X)}
    cout = None
    if centre:
        states = model.interval_states(X, U)
        for k, S in enumerate(states):
            per_point[f"A_{k}"] = _norms_iv(S)
        cout = affine_box(model.C, model.c, states[-1])
    t3 = time.perf_counter()
    return CdeInputs(sc, per_point, monotone, bounded, centre, N, d, cout, methods,
                     {"norms": t1 - t0, "control": t2 - t1, "centre_euler": t3 - t2})


def bound_formula(scheme: str, ci: CdeInputs, order: int = 1, loss: str = "mse"
                  ) -> RecursiveFormula:
    """The program of a scheme for the given inputs' flags."""
    return _formula(_scheme(scheme), ci.n_steps, ci.d, ci.bounded, ci.centre, ci.monotone,
                    order, prog.loss_name(loss))


@lru_cache(maxsize=64)
def _formula(scheme: str, N: int, d: int, bounded: bool, centre: bool, lognorm: bool,
             order: int, loss: str) -> RecursiveFormula:
    kw = {"bounded": bounded, "order": order, "loss": loss}
    if scheme == "euler":
        return prog.euler_program(N, d, centre=centre, lognorm=lognorm, **kw)
    if scheme == "flow":
        return prog.flow_program(N, d, lognorm=lognorm, **kw)
    return prog.math_program(discrete=scheme == "math_euler", n_steps=N, **kw)


def _args(formula: RecursiveFormula, ci: CdeInputs, hull: bool) -> dict[str, Any]:
    h = ci.hull() if hull else None
    out: dict[str, Any] = {}
    for s in formula.inputs:
        name = str(s)
        if hull:
            out[name] = h[name]  # type: ignore[index]
        else:
            out[name] = ci.per_point[name] if name in ci.per_point else ci.scalars[name]
    return out


def evaluate(formula: RecursiveFormula, ci: CdeInputs) -> IntervalArray:
    """The formula per data point (outward-rounded intervals): float-interval arrays
    when the program is algebraic, else mpmath intervals point by point (``exp``)."""
    args = _args(formula, ci, hull=False)
    try:
        return formula.enclose_array(args)
    except UnsupportedOperation:
        pass
    npts = next(iter(ci.per_point.values())).lo.shape[0]
    lo, hi = np.empty(npts), np.empty(npts)
    for i in range(npts):
        a = {k: (_enc(v, i) if isinstance(v, IntervalArray) else v) for k, v in args.items()}
        e = formula.enclose(a)
        lo[i], hi[i] = e.lower_float, e.upper_float
    return IntervalArray(lo, hi)


# ------------------------------------------------------------------------------------
# lower bounds
# ------------------------------------------------------------------------------------


def _jac_norms(model: ControlledODE, X: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, Any]:
    J = model.param_jacobian(X, U)
    _, s, vt = np.linalg.svd(J, full_matrices=False)
    return s[:, 0], vt[:, 0, :]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


@float_search
def cde_estimate_param_lower(model: ControlledODE, X: np.ndarray, U: np.ndarray, r: float, *,
                         seed: int = 0, max_points: int = 32, steps: int = 10
                         ) -> tuple[float, int, np.ndarray]:
    r"""Sampled lower estimate of $\sup_{\theta\in B_r}\|J_\theta Y(x;\theta)\|_2$ for the
    Euler map (float64, not certified): exact Jacobian norms at the centre, then a random
    search with shrinking steps inside the ball at the best point.

    Returns:
        ``(estimate, point index, best theta)``.
    """
    theta0 = model.params()
    idx = np.argsort(-np.linalg.norm(X, axis=1))[:max_points]
    norms, _ = _jac_norms(model, X[idx], U)
    j = int(np.argmax(norms))
    best_i, best, best_th = int(idx[j]), float(norms[j]), theta0
    if r <= 0:
        return best, best_i, best_th
    rng = np.random.default_rng(seed)
    x = X[best_i:best_i + 1]
    step = r
    cands = [_jac_norms(model, x, U)[1][0]]
    for _ in range(steps):
        dirs = cands + [_unit(rng.standard_normal(theta0.size)) for _ in range(3)]
        for dv in dirs:
            for sg in (1.0, -1.0):
                th = best_th + sg * step * dv
                off = th - theta0
                nrm = float(np.linalg.norm(off))
                if nrm > r:
                    th = theta0 + off * (r / nrm) * (1 - 1e-9)
                val, vt = _jac_norms(model.with_params(th), x, U)
                if val[0] > best:
                    best, best_th, cands = float(val[0]), th, [vt[0]]
        step *= 0.5
    return best, best_i, best_th


def certify_param_lower(model: ControlledODE, x: np.ndarray, U: np.ndarray, r: float,
                        theta: np.ndarray, *, t: float | None = None
                        ) -> tuple[Enclosure, dict[str, Any]]:
    r"""Certified lower bound: $\|Y(x;\theta_1) - Y(x;\theta_2)\| / \|\theta_1 -
    \theta_2\|$ for $\theta_1 = \theta$ and $\theta_2 = \theta \pm t v$ ($v$ the top right
    singular vector of the Euler Jacobian at $\theta$), both in the ball, evaluated with
    rigorous interval Euler passes (precise activation enclosures).

    Returns:
        ``(enclosure, witness)``; the lower end is a certified lower bound of the
        Lipschitz constant of the Euler map on $B_r$.
    """
    theta0 = model.params()
    _, vt = _jac_norms(model.with_params(theta), x[None, :], U)
    v = vt[0]
    scale = max(1.0, float(np.max(np.abs(theta0))))
    tt = min(1e-3 * scale, r) if t is None else min(t, r)
    off = theta - theta0
    th2 = None
    for _ in range(60):
        for sg in (1.0, -1.0):
            cand = theta + sg * tt * v
            if np.linalg.norm(cand - theta0) <= r * (1 - 1e-12):
                th2 = cand
                break
        if th2 is not None:
            break
        tt *= 0.5
    if th2 is None or np.array_equal(th2, theta):
        return Enclosure.point(0), {}
    del off
    wit = {"kind": "difference_quotient", "x": [float(a) for a in x],
           "theta": [float(a) for a in theta], "theta_prime": [float(a) for a in th2]}
    return cde_quotient_from_witness(model, wit, r, U), wit


def _iv_dist(a: np.ndarray, b: np.ndarray) -> Any:
    s = iv.mpf(0)
    for p, q in zip(a, b, strict=False):
        dd = iv.mpf(float(p)) - iv.mpf(float(q))
        s += dd * dd
    return iv.sqrt(s)


def cde_quotient_from_witness(model: ControlledODE, wit: Mapping[str, Any], r: float,
                          U: np.ndarray) -> Enclosure:
    """Recompute a witness's certified difference quotient (both points in the ball)."""
    x = np.asarray(wit["x"], dtype=np.float64)
    th1 = np.asarray(wit["theta"], dtype=np.float64)
    th2 = np.asarray(wit["theta_prime"], dtype=np.float64)
    theta0 = model.params()
    if th1.shape != theta0.shape or th2.shape != theta0.shape or x.shape != (model.n_inputs,):
        raise InputError("lower-bound witness does not match the model's shapes")
    for th in (th1, th2):
        if compare(_iv_dist(th, theta0), "<=", iv.mpf(r)) is not Truth.TRUE:
            raise WitnessOutsideError(f"lower-bound witness leaves the parameter ball of radius {r!r}")
    den = _iv_dist(th1, th2)
    y1 = model.with_params(th1).interval_forward(x, U)
    y2 = model.with_params(th2).interval_forward(x, U)
    num = iv.sqrt(sum(((a.to_interval() - b.to_interval()) ** 2
                       for a, b in zip(y1, y2, strict=True)),
                      iv.mpf(0)))
    return Enclosure.from_interval(num / den)


# ------------------------------------------------------------------------------------
# public entry points
# ------------------------------------------------------------------------------------


def _validate(model: Any, data: Any, control: Any, radius: Any
              ) -> tuple[ControlledODE, np.ndarray, np.ndarray, float]:
    if not isinstance(model, ControlledODE):
        raise InputError(f"model must be a ControlledODE, got {type(model).__name__}")
    r = check_radius(radius)
    X = model.check_inputs(data)
    U = model.check_control(control)
    return model, X, U, r


def cde_param_lipschitz(model: ControlledODE, data: Any, control: Any, radius: float, *,
                    scheme: str = "euler", centre: bool = True, lognorm: bool = True,
                    lower: bool = True, seed: int = 0) -> BoundResult:
    r"""Certified Lipschitz constant of $\theta \mapsto Y(x;\theta)$ on $B_r(\bar\theta)$.

    Returns $L$ with $\|Y(x;\theta) - Y(x;\theta')\|_2 \le L\|\theta - \theta'\|_2$ for all
    $\theta, \theta'$ in the closed ball of radius ``radius`` around the model's
    parameters and every row $x$ of ``data``, where $Y$ is:

    * ``scheme="euler"`` (default): the Euler scheme on the grid of ``control`` (exact
      arithmetic); ``lower`` is a certified interval difference quotient of this map;
    * ``scheme="flow"``: the exact solution ($U$ linear between grid points) and the
      Euler scheme on every refinement of the grid; no certified ``lower``;
    * ``"math"`` / ``"math_euler"``: the closed forms of ``MATH.md`` section 3 (exact
      solution / Euler with the product), for comparison.

    ``upper`` evaluates the program on the hull of the per-point inputs (rounded up);
    ``extra["upper_pointwise"]`` is the certified maximum of the per-point values;
    ``extra["upper_flow"]``/``["upper_math"]`` the other bounds for comparison.

    Args:
        model: a :class:`~symlip.models.cde.ControlledODE`.
        data: ``(n_points, n0)`` (a 1-D array is one point).
        control: ``(N + 1, d)`` grid values of $U$ (a 1-D array is one channel).
        radius: $r \ge 0$.
        centre: use the centre trajectory for the state bound (euler).
        lognorm: use the logarithmic norm (monotone activations only).
        lower: compute the sampled estimate and the certified lower bound.
        seed: seed of the sampling.

    Raises:
        InputError: negative or non-finite radius, data / control of the wrong shape, NaN.

    Examples:
        >>> import numpy as np
        >>> from symlip.models.cde import ControlledODE, time_grid
        >>> m = ControlledODE.random(2, 3, 1, 1, seed=0)
        >>> res = cde_param_lipschitz(m, [[1.0, -1.0]], time_grid(1.0, 10), 0.01)
        >>> res.lower <= res.upper
        True
    """
    model, X, U, r = _validate(model, data, control, radius)
    scheme = _scheme(scheme)
    time.perf_counter()
    ci = certified_inputs(model, X, U, r, centre=centre and scheme == "euler", lognorm=lognorm)
    formula = bound_formula(scheme, ci)
    t1 = time.perf_counter()
    pointwise = evaluate(formula, ci)
    hull_inputs = _args(formula, ci, hull=True)
    enclosure = formula.enclose(hull_inputs)
    t2 = time.perf_counter()
    extra: dict[str, Any] = {
        "radius": r, "scheme": scheme, "n_steps": ci.n_steps, "channels": ci.d,
        "n_points": int(X.shape[0]), "upper_pointwise": pointwise.upper_max().upper_str(),
        "centre_trajectory": ci.centre, "logarithmic_norm": ci.monotone,
        "nu_methods": sorted(set(ci.nu_methods)),
    }
    if scheme == "euler":
        for other in ("flow", "math"):
            f2 = bound_formula(other, ci)
            extra[f"upper_{other}"] = f2.enclose(_args(f2, ci, hull=True)).upper_str()
    est, low, wit = None, None, None
    if lower:
        est, i, th = cde_estimate_param_lower(model, X, U, r, seed=seed)
        if scheme == "euler" and r > 0:
            low, wit = certify_param_lower(model, X[i], U, r, th)
            if not wit:
                low, wit = None, None
            else:
                wit = {**wit, "row": int(i)}  # the data row the witness point x is
        elif scheme != "euler":
            est = _flow_estimate(model, X[i], U, th)
    t3 = time.perf_counter()
    extra["timings"] = {**ci.timings, "formula_eval": t2 - t1, "lower": t3 - t2}
    deriv = _derivation(scheme, 1)
    return BoundResult("cde_param_lipschitz", "l2", enclosure, formula, hull_inputs, deriv,
                       lower_enclosure=low, estimate=est, extra=extra, witness=wit)


def _flow_estimate(model: ControlledODE, x: np.ndarray, U: np.ndarray, theta: np.ndarray,
                   substeps: int = 8) -> float:
    """Difference quotient of the RK4 map (``substeps`` per interval) along the Euler
    top direction: an estimate for the exact solution (float, not certified)."""
    m = model.with_params(theta)
    _, vt = _jac_norms(m, x[None, :], U)
    t = 1e-5 * max(1.0, float(np.linalg.norm(theta)))
    y1 = model.with_params(theta + t * vt[0]).forward(x, U, "rk4", substeps)
    y0 = model.with_params(theta - t * vt[0]).forward(x, U, "rk4", substeps)
    return float(np.linalg.norm(y1 - y0) / (2 * t))


@lru_cache(maxsize=16)
def _derivation(scheme: str, order: int) -> Any:
    """The derivation of a scheme's bound (built once per process: SymPy limits)."""
    from symlip.symbolic.derivation import Derivation

    d = Derivation(f"Controlled ODE, {'first' if order == 1 else 'second'} order, "
                   f"scheme {scheme}")
    if scheme in ("math", "flow"):
        d.section(prog.continuous_derivation(order))
    if scheme in ("math_euler", "euler"):
        d.section(prog.euler_derivation(order))
    if scheme in ("euler", "flow"):
        d.section(prog.improved_derivation(order))
    return d


# ------------------------------------------------------------------------------------
# second order
# ------------------------------------------------------------------------------------


def check_targets(model: ControlledODE, X: np.ndarray, targets: Any, loss: str) -> np.ndarray:
    """MSE: ``(n, m)`` floats (``(n,)`` for one output); cross-entropy: class indices."""
    from symlip.bounds.smooth import check_targets as ff_check

    class _Shape:  # the feed-forward checker reads widths only
        widths = [model.n_inputs, model.n_outputs]

    return ff_check(_Shape(), X, targets, loss)


def loss_gradient(model: ControlledODE, X: np.ndarray, U: np.ndarray, y: np.ndarray,
                  loss: str) -> np.ndarray:
    """Float64 gradient of the mean loss of the Euler map (not certified)."""
    J = model.param_jacobian(X, U)
    f = model.forward(X, U)
    n = X.shape[0]
    if prog.loss_name(loss) == "mse":
        delta = (f - y) / n
    else:
        delta = ce_output_gradient(f, y) / n
    return np.einsum("bm,bmp->p", delta, J)


@float_search
def estimate_grad_lower(model: ControlledODE, X: np.ndarray, U: np.ndarray, y: np.ndarray,
                        loss: str, r: float, *, iters: int = 15, seed: int = 0) -> float:
    """Float estimate of the top Hessian eigenvalue magnitude of the mean loss (power
    iteration on central differences of exact float gradients) at the centre and at
    $\\bar\\theta \\pm r v$.  Not certified."""
    theta0 = model.params()
    rng = np.random.default_rng(seed)

    def hvp(th: np.ndarray, v: np.ndarray) -> np.ndarray:
        eps = 1e-5 * max(1.0, float(np.linalg.norm(th))) / max(1.0, math.sqrt(th.size))
        gp = loss_gradient(model.with_params(th + eps * v), X, U, y, loss)
        gm = loss_gradient(model.with_params(th - eps * v), X, U, y, loss)
        return (gp - gm) / (2 * eps)

    def top(th: np.ndarray) -> tuple[float, np.ndarray]:
        v = _unit(rng.standard_normal(th.size))
        lam = 0.0
        for _ in range(iters):
            wv = hvp(th, v)
            lam = float(np.linalg.norm(wv))
            if lam == 0:
                break
            v = wv / lam
        return lam, v

    best, v = top(theta0)
    if r > 0:
        for s in (1.0, -1.0):
            best = max(best, top(theta0 + s * r * v * (1 - 1e-12))[0])
    return best


def cde_grad_lipschitz(model: ControlledODE, data: Any, control: Any, targets: Any,
                   loss: str, radius: float, *, scheme: str = "euler", centre: bool = True,
                   lognorm: bool = True, lower: bool = True, seed: int = 0) -> BoundResult:
    r"""Certified Lipschitz constant of $\theta \mapsto \nabla_\theta L(\theta)$ on $B_r$.

    $L(\theta) = \frac1n\sum_i \lambda(Y(x_i;\theta), y_i)$ with $Y$ the Euler map
    (``scheme="euler"``) or the exact solution / refined Euler maps (``"flow"``);
    returns $L_{grad}$ with $\|\nabla L(\theta) - \nabla L(\theta')\|_2 \le L_{grad}
    \|\theta - \theta'\|_2$ on the closed ball.  Needs $K_2 < \infty$.

    Args:
        loss: ``"mse"`` ($\frac12\|Y - y\|^2$) or ``"cross-entropy"`` (softmax).

    Raises:
        InputError: bad radius, shapes, NaN, unknown loss.
        NotSmoothError: an activation with $K_2 = \infty$ (ReLU...).
    """
    model, X, U, r = _validate(model, data, control, radius)
    scheme = _scheme(scheme)
    lname = prog.loss_name(loss)
    y = check_targets(model, X, targets, lname)
    act = model.activation
    if not act.constants.K2.is_finite:
        from symlip.bounds.smooth import not_smooth_witness

        raise NotSmoothError(f"no gradient-Lipschitz bound exists for activation "
                             f"{act.name!r}: K2 = infinity ({act.constants.K2.reason})",
                             witness=not_smooth_witness(act))
    t0 = time.perf_counter()
    use_centre = centre and scheme == "euler"
    ci = certified_inputs(model, X, U, r, centre=use_centre, lognorm=lognorm, smooth=True)
    _loss_point_inputs(ci, y, lname)
    formula = bound_formula(scheme, ci, order=2, loss=lname)
    pointwise = evaluate(formula, ci)
    hull_inputs = _args(formula, ci, hull=True)
    enclosure = formula.enclose(hull_inputs)
    t1 = time.perf_counter()
    est = estimate_grad_lower(model, X, U, y, lname, r, seed=seed) if lower else None
    extra = {"radius": r, "scheme": scheme, "loss": lname, "n_steps": ci.n_steps,
             "n_points": int(X.shape[0]), "upper_pointwise": pointwise.upper_max().upper_str(),
             "centre_trajectory": ci.centre, "logarithmic_norm": ci.monotone,
             "timings": {**ci.timings, "bound": t1 - t0, "lower": time.perf_counter() - t1}}
    return BoundResult("cde_grad_lipschitz", "l2", enclosure, formula, hull_inputs,
                       _derivation(scheme, 2), lower_enclosure=None, estimate=est, extra=extra)


def _loss_point_inputs(ci: CdeInputs, y: np.ndarray, loss: str) -> None:
    if loss != "mse":
        return
    ci.per_point["Y"] = row_norms(y)
    if ci.centre and ci.centre_output is not None:
        ci.per_point["E"] = _norms_iv(ci.centre_output - IntervalArray(y))
