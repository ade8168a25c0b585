r"""Parameter-Lipschitz bound of spline networks, the spline coefficients included.

Parameters: $\Theta = (W_1, b_1, \gamma_1, W_2, b_2, \gamma_2, \dots, W_N, b_N)$, where
$\gamma_k$ are the coefficients of the linear-spline activation after layer $k$
(:class:`~symlip.spline.LinearSpline`), Euclidean norm of the flattened vector, ball
$B_r(\bar\Theta)$.

Theorem.  For every data point $x$ and all $\Theta, \Theta' \in B_r(\bar\Theta)$,
$\|f(x;\Theta) - f(x;\Theta')\|_2 \le l_N \|\Theta - \Theta'\|_2$, where $l_N$ is the
first-order recursion of :mod:`symlip.bounds.recursion` (built by
:func:`~symlip.bounds.recursion.first_order_program`) with, for each hidden layer $k$,

* $l_k = \sqrt{K_{1,k}^2 m_k^2 + w_k^2}$ instead of $K_1 m_k$;
* $K_{1,k} = K_1(\bar\gamma_k) + \sqrt2\, r / T_k$ — a slope $(c_{i+1} - c_i)/T$
  moves by at most $\sqrt 2 \|d\gamma\| / T$;
* $s_{0,k} = s_0(\bar\gamma_k) + w_k(0)\, r$ — the value at 0 moves with the
  coefficients; $S_0$ is not used ($= \infty$ on the ball when $r > 0$);
* $w_k = q_k \sqrt{(1 + \varsigma_k)^2 + \varsigma_k^2}$,
  $\varsigma_k = \max(0, (\zeta_k - R_k)/T_k)$, $\zeta_k = \rho_k c_{k-1} + \beta_k$
  bounds every $|z_{k,i}|$ on the ball, $R_k = \min(b_k, -a_k)$ for the grid
  $[a_k, b_k]$, and $q_k = 1$ for per-neuron coefficients, $\sqrt{n_k}$ for a shared
  spline — the **coefficient sensitivity**: $\sigma(z;\gamma)$ is linear in $\gamma$
  with weights $(1 - f, f)$ on two neighbouring coefficients, $f \in [0, 1]$ inside the
  grid (factor $\le 1$) and $(1 + s, -s)$ at distance $sT$ outside (factor
  $\sqrt{(1+s)^2+s^2}$).

Proof of the changed step: $a_k - a_k' = [\sigma(z_k;\gamma_k) - \sigma(z_k';\gamma_k)] +
[\sigma(z_k';\gamma_k) - \sigma(z_k';\gamma_k')]$, so
$\|a_k - a_k'\| \le K_{1,k}\|z_k - z_k'\| + w_k\|\gamma_k - \gamma_k'\|
\le K_{1,k} m_k \|\Delta_{\le k}\| + w_k \|\Delta\gamma_k\|
\le \sqrt{K_{1,k}^2 m_k^2 + w_k^2}\, \|(\Delta_{\le k}, \Delta\gamma_k)\|$
(Cauchy-Schwarz); per-neuron: $\sum_i w^2\|d\gamma_i\|^2 \le w^2\|d\gamma\|^2$; shared:
$\|\Phi\, d\gamma\|_2 \le \|\Phi\|_F \|d\gamma\| \le \sqrt{n_k}\, w\, \|d\gamma\|$.

A gradient (smoothness) bound does not exist for splines ($K_2 = \infty$):
:func:`spline_grad_lipschitz` raises :class:`~symlip.errors.NotSmoothError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp
from mpmath import iv

from symlip.bounds import recursion as rec
from symlip.bounds.param import (
    _args,
    _top_direction,
    certified_param_inputs,
    certify_param_lower,
    check_data,
    check_radius,
    estimate_param_lower,
)
from symlip.derivation import Derivation, Tex
from symlip.errors import InputError
from symlip.intervals import Enclosure, working_precision
from symlip.result import BoundResult

__all__ = ["spline_param_program", "spline_param_lipschitz", "spline_grad_lipschitz",
           "spline_param_derivation", "PARAMETER_SET"]

#: the parameter set of :func:`spline_param_lipschitz` (``"parameters"`` in its results)
PARAMETER_SET = "weights, biases and spline coefficients"


def _nn(name: str) -> sp.Symbol:
    return sp.Symbol(name, nonnegative=True)


def _syms(k: int) -> dict[str, sp.Symbol]:
    out = {n: _nn(f"{n}_{k}") for n in ("K1", "s0", "T", "q", "zeta", "vs", "w")}
    # Rg = min(b, -a) is negative for a grid [a, b] that does not contain 0
    out["Rg"] = sp.Symbol(f"Rg_{k}", real=True)
    return out


def spline_param_program(depth: int, centre: bool = True) -> rec.RecursiveFormula:
    """The first-order program with the coefficient blocks (see the module docstring).

    Built from :func:`symlip.bounds.recursion.first_order_program` by rewriting the
    hidden layers' definitions (no second recursion)."""
    defs, inputs = rec.first_order_program(depth, bounded=False, centre=centre)
    out: list[rec.Definition] = []
    new_inputs = [s for s in inputs if s not in (rec.K1, rec.s0, rec.S0)]
    for d in defs:
        k = int(str(d.symbol).split("_")[1])
        if k >= depth:
            out.append(d)
            continue
        s = _syms(k)
        sub = {rec.K1: s["K1"], rec.s0: s["s0"]}
        if d.symbol == rec.l(k):
            out.append(rec.Definition(s["zeta"], rec.rho(k) * rec.c(k - 1) + rec.beta(k),
                                      "$|z_{k,i}| \\le \\|z_k\\| \\le \\rho_k c_{k-1} + "
                                      "\\beta_k$ on the ball"))
            out.append(rec.Definition(s["vs"], sp.Max(0, (s["zeta"] - s["Rg"]) / s["T"]),
                                      "distance beyond the grid, in grid steps"))
            out.append(rec.Definition(
                s["w"], s["q"] * sp.sqrt((1 + s["vs"]) ** 2 + s["vs"] ** 2),
                "coefficient sensitivity: weights $(1-f, f)$ inside, $(1+s, -s)$ outside"))
            out.append(rec.Definition(
                d.symbol, sp.sqrt(s["K1"] ** 2 * rec.m(k) ** 2 + s["w"] ** 2),
                "$\\|a_k - a_k'\\| \\le K_{1,k}\\|z_k - z_k'\\| + w_k\\|\\Delta\\gamma_k\\|$, "
                "Cauchy-Schwarz"))
            new_inputs += [s["K1"], s["s0"], s["Rg"], s["T"], s["q"]]
        else:
            out.append(rec.Definition(d.symbol, d.expr.xreplace(sub), d.why))
    return rec.RecursiveFormula(out, rec._dedup(new_inputs), name="L_param_spline")


def spline_param_derivation(depth: int, centre: bool = True) -> Derivation:
    """The proof (first-order derivation plus the coefficient step) and the program."""
    d = rec.first_order_derivation(None, bounded=False, centre=centre)
    sd = Derivation("Spline coefficients as parameters")
    sd.assume("$a_k = \\sigma(z_k; \\gamma_k)$, $\\sigma$ a linear spline on the grid "
              "$t_i = a + iT$ with coefficients $\\gamma_k$")
    sd.step(Tex(r"\sigma(z;\gamma)"), "=", Tex(r"(1-f)\gamma_j + f\gamma_{j+1}"),
            "linear interpolation; $f \\in [0,1]$ inside, $f = -s$ at $a - sT$, $1 + s$ at "
            "$b + sT$")
    sd.step(Tex(r"|\sigma(z;\gamma) - \sigma(z;\gamma')|"), "<=",
            Tex(r"\sqrt{(1+s)^2 + s^2}\,\|\gamma - \gamma'\|_2"),
            "Cauchy-Schwarz on the two weights")
    sd.step(Tex(r"\|a_k - a_k'\|"), "<=",
            Tex(r"K_{1,k}\|z_k - z_k'\| + w_k\|\Delta\gamma_k\| \le "
                r"\sqrt{K_{1,k}^2 m_k^2 + w_k^2}\,\|\Delta_{\le k}, \Delta\gamma_k\|"),
            "split the difference; $K_{1,k}$ over the ball: $K_1(\\bar\\gamma) + \\sqrt2 r/T$")
    d.section(sd)
    f = spline_param_program(depth, centre)
    d.section(rec.program_derivation(f.definitions, f.inputs, f"The recursion for N = {depth}"))
    return d


def _splines(net: Any) -> list[Any]:
    from symlip.spline import LinearSpline

    if getattr(net, "has_residual", False):
        res = [lay.name for lay, m in zip(net.layers, net.residual_mask, strict=True) if m]
        raise InputError(f"layer(s) {res} are residual blocks; the coefficient bound is "
                         "derived for feed-forward spline networks only (a residual block "
                         "a + h sigma(W a + b) is not covered)")
    acts = list(net.activations)
    bad = [k for k, a in enumerate(acts) if not isinstance(a, LinearSpline)]
    if bad:
        raise InputError(f"hidden layer(s) {bad} do not have a LinearSpline activation; the "
                         "coefficient bound needs a spline after every hidden layer")
    return acts


def spline_inputs(net: Any, X: np.ndarray, r: float, centre: Any = "auto") -> Any:
    """Certified inputs: those of :func:`~symlip.bounds.param.certified_param_inputs`
    plus the per-layer spline symbols (exact rationals, rounded outward)."""
    from symlip.spline import _frac_enclosure

    acts = _splines(net)
    ci = certified_param_inputs(net, X, r, centre=centre)
    for name in ("K1", "s0", "S0"):
        ci.scalars.pop(name, None)
    ci.bounded = False
    rr = Enclosure.point(r)
    for k, a in enumerate(acts, start=1):
        ci.scalars[f"K1_{k}"] = a.ball_slope_bound(rr)
        w0 = a.certify_coefficient_factor(0.0)
        with working_precision(113):  # iv.prec (mpmath.workprec sets mp.prec only)
            s0 = (a.constants.sigma0.enclosure.to_interval()
                  + w0.to_interval() * iv.mpf((rr.lower, rr.upper)))
        ci.scalars[f"s0_{k}"] = Enclosure.from_interval(s0)
        ci.scalars[f"Rg_{k}"] = Enclosure.point(min(a.hi, -a.lo))
        ci.scalars[f"T_{k}"] = _frac_enclosure(a.step_exact)
        n = net.layers[k - 1].shape[0]
        if a.shared:
            with working_precision(113):
                ci.scalars[f"q_{k}"] = Enclosure.from_interval(iv.sqrt(iv.mpf(n)))
        else:
            ci.scalars[f"q_{k}"] = Enclosure.point(1)
    return ci


def spline_param_lipschitz(net: Any, data: Any, radius: float, *, centre: Any = "auto",
                           lower: bool = True, seed: int = 0) -> BoundResult:
    r"""Certified Lipschitz constant of $\Theta \mapsto f(x;\Theta)$ on $B_r(\bar\Theta)$,
    $\Theta$ = weights, biases **and spline coefficients** (see the module docstring).

    Returns $L$ with $\|f(x;\Theta) - f(x;\Theta')\|_2 \le L\|\Theta - \Theta'\|_2$ for
    all $\Theta, \Theta'$ in the closed ball and every row $x$ of ``data``; ``upper`` is
    the program evaluated in interval arithmetic on the hull of the per-point inputs
    (rounded up), ``extra["upper_pointwise"]`` the max of the per-point evaluations.
    The certified lower bound perturbs weights and biases only (a subspace of the
    ball), so it is also a lower bound here.

    Raises:
        InputError: a hidden layer without a spline, a residual block, bad radius or
            data.

    Examples:
        >>> from symlip.spline import spline_network
        >>> net = spline_network([[[1.0]], [[1.0]]], [[0.0], [0.0]], [[0.0, 0.0, 1.0]], 1.0)
        >>> res = spline_param_lipschitz(net, [[0.5]], 0.0, lower=False)
        >>> res.upper >= 1.0
        True
    """
    r = check_radius(radius)
    X = check_data(net, data)
    ci = spline_inputs(net, X, r, centre)
    formula = spline_param_program(net.depth, ci.centre)
    pointwise = formula.enclose_array(_args(formula, ci, hull=False))
    hull = _args(formula, ci, hull=True)
    enclosure = formula.enclose(hull)
    est = low = wit = None
    if lower:
        est, i, _ = estimate_param_lower(net, X, r, seed=seed)
        if r > 0:
            low, wit = certify_param_lower(net, X[i], r, _top_direction(net, X[i]))
            wit = {"kind": "difference_quotient", **wit} if wit else None
            if not wit:
                low = None
    n_coef = int(sum(a.coefficients.size for a in _splines(net)))
    per_layer = []
    for k, layer in enumerate(net.layers, start=1):
        row = {"name": layer.name, "rho_upper": ci.scalars[f"rho_{k}"].upper_str(8)}
        if k < net.depth:
            row["K1_ball_upper"] = ci.scalars[f"K1_{k}"].upper_str(8)
        per_layer.append(row)
    extra = {"radius": r, "upper_pointwise": pointwise.upper_max().upper_str(),
             "n_points": int(X.shape[0]), "centre_norms": ci.centre,
             "parameters": PARAMETER_SET,
             "n_parameters": int(net.n_params) + n_coef, "n_coefficients": n_coef,
             "lower_parameters": "weights and biases (a subspace of the ball)"}
    return BoundResult("param_lipschitz_spline", "l2", enclosure, formula, hull,
                       spline_param_derivation(net.depth, ci.centre), lower_enclosure=low,
                       estimate=est, per_layer=per_layer, extra=extra, witness=wit)


def spline_grad_lipschitz(net: Any, *args: Any, **kwargs: Any) -> BoundResult:
    """A gradient-Lipschitz bound of a spline network does not exist: always raises.

    Raises:
        NotSmoothError: with the explanation (the first non-affine spline's jump).
    """
    for a in net.activations:
        a.require_smooth("a gradient-Lipschitz (smoothness) bound")
    raise InputError("every spline is affine: use the bound of the equivalent linear "
                     "network")  # pragma: no cover - affine splines only


# ------------------------------------------------------------------------------------
# CLI / certificate hooks (``symlip certify SPLINE_MODEL --wrt params|gradient``)
# ------------------------------------------------------------------------------------

def certify_context(ctx: Any) -> BoundResult:
    """CLI handler of ``symlip certify --wrt params`` for a spline network (activation
    read from the model file): :func:`spline_param_lipschitz`, the coefficients
    included as parameters."""
    r = ctx.options.get("radius")
    if r is None:
        raise InputError("--wrt params needs --radius R (the radius of the parameter ball)")
    return spline_param_lipschitz(ctx.model, ctx.data, r,
                                  seed=int(ctx.options.get("seed", 0)))


def refuse_gradient_context(ctx: Any) -> BoundResult:
    """CLI handler of ``symlip certify --wrt gradient`` for a spline network: always
    refuses (no other option is needed to say so).

    Raises:
        NotSmoothError: $K_2 = \\infty$, with the knot where a slope jumps.
        InputError: every spline is affine (no spline-network bound; use a linear one).
    """
    from symlip.errors import NotSmoothError

    for a in _splines(ctx.model):
        if not a.is_smooth:
            raise NotSmoothError(
                f"--wrt gradient: a linear-spline network has no gradient-Lipschitz bound: "
                f"K2 = infinity for {a.name} ({a.constants.K2.reason}); use --wrt params "
                "or --wrt input")
    raise InputError("--wrt gradient: every spline of this network is affine; save it as "
                     "a network with linear activations to bound its gradient")


def _rebuild(ctx: Any) -> tuple[rec.RecursiveFormula, dict[str, Enclosure]]:
    r = check_radius(ctx.options.get("radius"))
    X = check_data(ctx.model, ctx.data)
    ci = spline_inputs(ctx.model, X, r)
    formula = spline_param_program(ctx.model.depth, ci.centre)
    return formula, _args(formula, ci, hull=True)


def _check_lower(ctx: Any, witness: Any) -> Enclosure:
    from symlip.bounds.param import quotient_from_witness

    return quotient_from_witness(ctx.model, witness, check_radius(ctx.options.get("radius")))


def _register() -> None:
    from symlip.certificate import QuantitySpec, register_quantity

    register_quantity(QuantitySpec("param_lipschitz_spline", _rebuild, _check_lower))


_register()
