r"""Parameter-Lipschitz bound of spline networks, the spline coefficients included.

Parameters: $\Theta = (W_1, b_1, \gamma_1, W_2, b_2, \gamma_2, \dots, W_N, b_N)$, where
$\gamma_k$ are the coefficients of the linear-spline activation after layer $k$
(:class:`~symlip.activations.spline.LinearSpline`), Euclidean norm of the flattened vector, ball
$B_r(\bar\Theta)$.

Theorem.  For every data point $x$ and all $\Theta, \Theta' \in B_r(\bar\Theta)$,
$\|f(x;\Theta) - f(x;\Theta')\|_2 \le l_N \|\Theta - \Theta'\|_2$, where $l_N$ is the
first-order recursion of :mod:`symlip.bounds.recursion` (built by
:func:`~symlip.bounds.recursion.first_order_program`) with, for each hidden layer $k$,

* $l_k = \sqrt{(K_1^{(k)})^2 m_k^2 + \psi_k^2}$ instead of $K_1 m_k$;
* $K_1^{(k)} = K_1(\bar\gamma_k) + \sqrt2\, r / T_k$ — a slope $(c_{i+1} - c_i)/T$
  moves by at most $\sqrt 2 \|d\gamma\| / T$;
* $s_0^{(k)} = s_0(\bar\gamma_k) + \psi_k(0)\, r$ — the value at 0 moves with the
  coefficients; $S_0$ is not used ($= \infty$ on the ball when $r > 0$);
* $\psi_k = \chi_k \sqrt{(1 + \varsigma_k)^2 + \varsigma_k^2}$,
  $\varsigma_k = \max(0, (\zeta_k - Rg_k)/T_k)$, $\zeta_k = \rho_k c_{k-1} + \beta_k$
  bounds every $|z_{k,i}|$ on the ball, $Rg_k = \min(b_k, -a_k)$ for the grid
  $[a_k, b_k]$, and $\chi_k = 1$ for per-neuron coefficients, $\sqrt{n_k}$ for a shared
  spline — the **coefficient sensitivity**: $\sigma(z;\gamma)$ is linear in $\gamma$
  with weights $(1 - f, f)$ on two neighbouring coefficients, $f \in [0, 1]$ inside the
  grid (factor $\le 1$) and $(1 + s, -s)$ at distance $sT$ outside (factor
  $\sqrt{(1+s)^2+s^2}$).

Proof of the changed step: $a_k - a_k' = [\sigma(z_k;\gamma_k) - \sigma(z_k';\gamma_k)] +
[\sigma(z_k';\gamma_k) - \sigma(z_k';\gamma_k')]$, so
$\|a_k - a_k'\| \le K_1^{(k)}\|z_k - z_k'\| + \psi_k\|\gamma_k - \gamma_k'\|
\le K_1^{(k)} m_k \|\Delta_{\le k}\| + \psi_k \|\Delta\gamma_k\|
\le \sqrt{(K_1^{(k)})^2 m_k^2 + \psi_k^2}\, \|(\Delta_{\le k}, \Delta\gamma_k)\|$
(Cauchy-Schwarz); per-neuron: $\sum_i w^2\|d\gamma_i\|^2 \le w^2\|d\gamma\|^2$; shared:
$\|\Phi\, d\gamma\|_2 \le \|\Phi\|_F \|d\gamma\| \le \sqrt{n_k}\, w\, \|d\gamma\|$.

Lower side (all parameters moved): :func:`spline_param_jacobian` is the exact Jacobian
in weights, biases and coefficients ($\partial\sigma(z;\gamma)/\partial\gamma_j$ is the
hat function of knot $j$, or the extension weights $(1+s, -s)$ outside the grid);
:func:`estimate_spline_param_lower` maximises its norm over the data and inside the
ball; :func:`certify_spline_param_lower` encloses a difference quotient between two
points of the ball, re-checked from its witness by :func:`spline_quotient_from_witness`.

A gradient (smoothness) bound does not exist for splines ($K_2 = \infty$):
:func:`spline_grad_lipschitz` raises :class:`~symlip.errors.NotSmoothError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp
from mpmath import iv

from symlip.arith.enclosure import Enclosure, Truth, compare, working_precision
from symlip.arith.floatsearch import float_search
from symlip.bounds import recursion as rec
from symlip.bounds.checks import check_radius
from symlip.bounds.param_core import _args, ball_search, certified_param_inputs, check_data
from symlip.bounds.registry import QuantitySpec
from symlip.bounds.result import BoundResult
from symlip.errors import InputError, WitnessOutsideError
from symlip.symbolic import symbols as S
from symlip.symbolic.derivation import Derivation, Tex

__all__ = ["spline_param_program", "spline_param_lipschitz", "spline_grad_lipschitz",
           "spline_param_derivation", "PARAMETER_SET", "spline_param_layout", "spline_params",
           "spline_with_params", "spline_param_jacobian", "spline_param_jacobian_norms",
           "estimate_spline_param_lower", "certify_spline_param_lower",
           "spline_quotient_from_witness"]

#: the parameter set of :func:`spline_param_lipschitz` (``"parameters"`` in its results)
PARAMETER_SET = "weights, biases and spline coefficients"


def _syms(k: int) -> dict[str, sp.Symbol]:
    """Layer $k$'s spline symbols, from the vocabulary :mod:`symlip.symbolic.symbols`
    (``Rg`` is real: negative for a grid that does not contain 0)."""
    return {"K1": S.k1_layer(k), "s0": S.s0_layer(k), "T": S.grid_step(k),
            "q": S.coef_mult(k), "zeta": S.zeta(k), "vs": S.varsigma(k), "w": S.psi(k),
            "Rg": S.grid_reach(k)}


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
                "$\\|a_k - a_k'\\| \\le K_1^{(k)}\\|z_k - z_k'\\| + \\psi_k\\|\\Delta\\gamma_k\\|$, "
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
            Tex(r"K_1^{(k)}\|z_k - z_k'\| + \psi_k\|\Delta\gamma_k\| \le "
                r"\sqrt{(K_1^{(k)})^2 m_k^2 + \psi_k^2}\,\|\Delta_{\le k}, \Delta\gamma_k\|"),
            "split the difference; $K_1^{(k)}$ over the ball: $K_1(\\bar\\gamma) + \\sqrt2 r/T$")
    d.section(sd)
    f = spline_param_program(depth, centre)
    d.section(rec.program_derivation(f.definitions, f.inputs, f"The recursion for N = {depth}"))
    return d


def _splines(net: Any) -> list[Any]:
    from symlip.activations.spline import LinearSpline

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
    from symlip.activations.spline import _frac_enclosure

    acts = _splines(net)
    ci = certified_param_inputs(net, X, r, centre=centre)
    for name in ("K1", "s0", "S0"):
        ci.scalars.pop(name, None)
    ci.bounded = False
    rr = Enclosure.point(r)
    for k, a in enumerate(acts, start=1):
        ci.scalars[str(S.k1_layer(k))] = a.ball_slope_bound(rr)
        w0 = a.certify_coefficient_factor(0.0)
        with working_precision(113):  # iv.prec (mpmath.workprec sets mp.prec only)
            s0 = (a.constants.sigma0.enclosure.to_interval()
                  + w0.to_interval() * iv.mpf((rr.lower, rr.upper)))
        ci.scalars[str(S.s0_layer(k))] = Enclosure.from_interval(s0)
        ci.scalars[str(S.grid_reach(k))] = Enclosure.point(min(a.hi, -a.lo))
        ci.scalars[str(S.grid_step(k))] = _frac_enclosure(a.step_exact)
        n = net.layers[k - 1].shape[0]
        if a.shared:
            with working_precision(113):
                ci.scalars[str(S.coef_mult(k))] = Enclosure.from_interval(iv.sqrt(iv.mpf(n)))
        else:
            ci.scalars[str(S.coef_mult(k))] = Enclosure.point(1)
    return ci


# ------------------------------------------------------------------------------------
# the full parameter vector Theta = (W_1, b_1, gamma_1, ..., W_N, b_N)
# ------------------------------------------------------------------------------------


def spline_param_layout(net: Any) -> list[tuple[str, slice, tuple[int, ...]]]:
    r"""``(key, slice, shape)`` of every tensor of $\Theta$, in order: ``W_1``, ``b_1``,
    the coefficients $\gamma_1$ of the spline after layer 1 (shape ``(neurons, K)``, or
    ``(K,)`` for a shared spline, row-major), ``W_2``, ... ``W_N``, ``b_N``.

    Keys are state-dict keys; a spline after Linear ``i`` is ``"<i+1>.coefficients"``
    when the layer names are integers with room between them (the model-file layout),
    else ``"<name>+1.coefficients"``.
    """
    acts = _splines(net)
    names = [layer.name for layer in net.layers]
    ints = [int(n) for n in names] if all(n.isdigit() for n in names) else None
    room = ints is not None and all(b - a >= 2 for a, b in zip(ints, ints[1:], strict=False))
    out, start = [], 0
    for k, layer in enumerate(net.layers):
        for suffix, arr in (("weight", layer.weight), ("bias", layer.bias)):
            out.append((f"{layer.name}.{suffix}", slice(start, start + arr.size), arr.shape))
            start += arr.size
        if k < len(acts):
            a = acts[k]
            shape = (a.knots,) if a.shared else a.coefficients.shape
            key = f"{ints[k] + 1}.coefficients" if room else f"{layer.name}+1.coefficients"
            size = int(np.prod(shape))
            out.append((key, slice(start, start + size), shape))
            start += size
    return out


def spline_params(net: Any) -> np.ndarray:
    r"""The full parameter vector $\Theta$ (weights, biases and spline coefficients, in
    :func:`spline_param_layout` order), float64.

    Examples:
        >>> from symlip.models.network import spline_network
        >>> net = spline_network([[[2.0]], [[3.0]]], [[0.5], [0.0]], [[[0.0, 1.0]]], 1.0)
        >>> spline_params(net).tolist()
        [2.0, 0.5, 0.0, 1.0, 3.0, 0.0]
    """
    acts = _splines(net)
    parts = []
    for k, layer in enumerate(net.layers):
        parts += [layer.weight.ravel(), layer.bias.ravel()]
        if k < len(acts):
            parts.append(acts[k].coefficients.ravel())
    return np.concatenate(parts).astype(np.float64)


def spline_with_params(net: Any, theta: Any) -> Any:
    """The spline network with full parameter vector ``theta`` (same shapes, grids and
    names; coefficients taken exactly as the doubles given).

    Raises:
        InputError: wrong length or a non-finite entry (index and value named).
    """
    from symlip.activations.spline import LinearSpline
    from symlip.models.network import DenseLayer, Network

    acts = _splines(net)
    layout = spline_param_layout(net)
    P = layout[-1][1].stop
    try:
        theta = np.asarray(theta, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"parameter vector must be a real array, got {type(theta).__name__}"
                         ) from None
    if theta.shape != (P,):
        raise InputError(f"parameter vector has shape {theta.shape}, expected ({P},) "
                         "(weights, biases and spline coefficients)")
    bad = np.flatnonzero(~np.isfinite(theta))
    if bad.size:
        raise InputError(f"parameter vector has a non-finite value {theta[bad[0]]} at "
                         f"index {int(bad[0])}")
    it = iter(layout)
    layers, new_acts = [], []
    for k, layer in enumerate(net.layers):
        _, sw, shw = next(it)
        _, sb, _ = next(it)
        layers.append(DenseLayer(theta[sw].reshape(shw), theta[sb].copy(), layer.name))
        if k < len(acts):
            _, sc, shc = next(it)
            a = acts[k]
            new_acts.append(LinearSpline(theta[sc].reshape(shc), [a.lo, a.hi], name=a.name))
    return Network(layers, new_acts if new_acts else None)


def _basis(act: Any, z: np.ndarray) -> np.ndarray:
    r"""$\partial\sigma(z;\gamma)/\partial\gamma_j$ per entry of ``z`` ``(B, n)``: the
    hat function of knot $j$ inside the grid, the linear extension's weights
    $(1 + s, -s)$ on the two end coefficients outside; shape ``(B, n, K)``."""
    j, w0, w1 = act.coefficient_weights(z)
    phi = np.zeros(z.shape + (act.knots,))
    np.put_along_axis(phi, j[..., None], w0[..., None], axis=-1)
    np.put_along_axis(phi, (j + 1)[..., None], w1[..., None], axis=-1)
    return phi


@float_search
def spline_param_jacobian(net: Any, X: Any) -> np.ndarray:
    r"""$\partial f(x;\Theta)/\partial\Theta$ in all parameters (weights, biases and
    spline coefficients), closed form, vectorised over the rows of ``X`` (float64, not
    certified).

    Backpropagation with $g_k = \partial f/\partial a_k$ ($g_N = I$),
    $\delta_k = g_k D_k$, $D_k = \operatorname{diag}(\sigma_k'(z_k))$ (right derivative
    at a knot): $\partial f/\partial W_k = \delta_k \otimes a_{k-1}$,
    $\partial f/\partial b_k = \delta_k$, and since a linear spline is linear in its
    coefficients, $\partial f/\partial\gamma_{k,i,j} = g_{k,i}\,\varphi_j(z_{k,i})$
    with $\varphi_j$ the basis of :func:`_basis` (a shared spline sums over $i$).
    Exact where every spline is differentiable at its pre-activation.

    Returns:
        shape ``(n_points, nN, P)``, columns in :func:`spline_param_layout` order.
    """
    acts = _splines(net)
    X = check_data(net, X)
    tr = net.forward_trace(X)
    B, nN = X.shape[0], net.widths[-1]
    g = np.broadcast_to(np.eye(nN), (B, nN, nN))
    blocks: list[list[np.ndarray]] = [[] for _ in range(net.depth)]
    for k in range(net.depth - 1, -1, -1):
        layer = net.layers[k]
        z = tr.preactivations[k]
        coef = None
        if k == net.depth - 1:
            delta = g
        else:
            a = acts[k]
            phi = _basis(a, z)
            if a.shared:
                coef = np.einsum("boi,bik->bok", g, phi)
            else:
                coef = (g[:, :, :, None] * phi[:, None, :, :]).reshape(B, nN, -1)
            delta = g * np.asarray(a.dsigma(z))[:, None, :]
        inp = tr.layer_inputs[k]
        gw = (delta[:, :, :, None] * inp[:, None, None, :]).reshape(B, nN, -1)
        blocks[k] = [gw, np.array(delta)] + ([coef] if coef is not None else [])
        g = delta @ layer.weight
    return np.concatenate([b for blk in blocks for b in blk], axis=2)


def spline_param_jacobian_norms(net: Any, X: Any, chunk: int | None = None) -> np.ndarray:
    r"""$\|\partial f(x;\Theta)/\partial\Theta\|_2$ per row of ``X`` (float64, not
    certified): the largest singular value of :func:`spline_param_jacobian`."""
    X = check_data(net, X)
    P = spline_param_layout(net)[-1][1].stop
    nN = net.widths[-1]
    if chunk is None:
        chunk = max(1, min(256, 4_000_000 // max(1, nN * P)))
    out = []
    for s in range(0, X.shape[0], chunk):
        J = spline_param_jacobian(net, X[s:s + chunk])
        gram = J @ np.swapaxes(J, 1, 2)
        out.append(np.sqrt(np.maximum(np.linalg.eigvalsh(gram)[:, -1], 0.0)))
    return np.concatenate(out)


def _spline_top_direction(net: Any, x: np.ndarray) -> np.ndarray:
    """Top right singular vector (unit) of the full Jacobian at ``x``."""
    J = spline_param_jacobian(net, x[None, :])[0]
    return np.linalg.svd(J, full_matrices=False)[2][0]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _into_ball(off: np.ndarray, r: float) -> np.ndarray:
    n = float(np.linalg.norm(off))
    return off * (r * (1 - 1e-9) / n) if n > r * (1 - 1e-9) else off


def _top_triplet(net: Any, theta: np.ndarray, x: np.ndarray
                 ) -> tuple[float, np.ndarray, np.ndarray]:
    J = spline_param_jacobian(spline_with_params(net, theta), x[None, :])[0]
    u, s, vt = np.linalg.svd(J, full_matrices=False)
    return float(s[0]), u[:, 0], vt[0]


def _gradient_ascent(net: Any, theta0: np.ndarray, x: np.ndarray, r: float, iters: int
                     ) -> tuple[float, np.ndarray]:
    r"""Projected ascent of $\|J(\Theta)\|_2$ on the ball.  The gradient of the top
    singular value $u^\top J(\Theta) v$ is the Hessian-vector product
    $\nabla_\Theta (u^\top f)$ differentiated along $v$, taken as a central difference
    of two Jacobians (exact inside a linear piece of every spline, where $f$ is a
    polynomial in $\Theta$)."""
    th = theta0
    best, u, v = _top_triplet(net, th, x)
    step, h = r, max(1e-7, 1e-3 * r)
    for _ in range(iters):
        Jp = spline_param_jacobian(spline_with_params(net, th + h * v), x[None, :])[0]
        Jm = spline_param_jacobian(spline_with_params(net, th - h * v), x[None, :])[0]
        g = _unit((Jp - Jm).T @ u)
        if not np.any(g):
            break
        for s_ in (step, step / 3):
            cand = theta0 + _into_ball(th - theta0 + s_ * g, r)
            val, uu, vv = _top_triplet(net, cand, x)
            if val > best:
                best, th, u, v = val, cand, uu, vv
                break
        else:
            step /= 2
            if step < 1e-6 * r:
                break
    return best, th


@float_search
def estimate_spline_param_lower(net: Any, X: np.ndarray, r: float, *, seed: int = 0,
                                max_points: int | None = None, steps: int = 12,
                                iters: int = 30,
                                n_ascent: int = 3) -> tuple[float, int, np.ndarray]:
    r"""Sampled lower estimate of $\sup_{\Theta \in B_r} \|J_\Theta f(x;\Theta)\|_2$,
    all parameters (float64, not certified).

    The exact full Jacobian norm at the centre for every data point (vectorised; only
    the ``max_points`` of largest norm if given); then, from the ``n_ascent`` best
    points, a projected gradient ascent of the Jacobian norm inside the ball (``iters``
    steps, :func:`_gradient_ascent`); at the best point found, a search with shrinking
    steps along the top singular direction and random directions (as
    :func:`symlip.bounds.param.estimate_param_lower`).

    Returns:
        ``(estimate, point index, best Theta)``.
    """
    theta0 = spline_params(net)
    if max_points is not None and X.shape[0] > max_points:
        idx = np.argsort(-np.linalg.norm(X, axis=1))[:max_points]
    else:
        idx = np.arange(X.shape[0])
    norms = spline_param_jacobian_norms(net, X[idx])
    j = int(np.argmax(norms))
    best_i, best, best_theta = int(idx[j]), float(norms[j]), theta0
    if r <= 0 or theta0.size * net.widths[-1] > 5_000_000:
        return best, best_i, best_theta
    for jj in np.argsort(-norms)[:n_ascent]:
        val, th = _gradient_ascent(net, theta0, X[idx[jj]], r, iters)
        if val > best:
            best, best_i, best_theta = val, int(idx[jj]), th
    x = X[best_i]
    best, best_theta = ball_search(
        lambda th: float(spline_param_jacobian_norms(spline_with_params(net, th),
                                                     x[None, :])[0]),
        lambda th: _spline_top_direction(spline_with_params(net, th), x),
        theta0, best_theta, best, r, steps=steps, step0=r / 4, seed=seed)
    return best, best_i, best_theta


@float_search
def _float_quotient(net: Any, theta0: np.ndarray, x: np.ndarray, a: np.ndarray,
                    b: np.ndarray) -> float:
    fa = spline_with_params(net, theta0 + a).forward(x)
    fb = spline_with_params(net, theta0 + b).forward(x)
    d = float(np.linalg.norm((theta0 + a) - (theta0 + b)))
    return float(np.linalg.norm(fa - fb)) / d if d > 0 else 0.0


def certify_spline_param_lower(net: Any, x: np.ndarray, r: float, *,
                               best_theta: np.ndarray | None = None, k_sparse: int = 4096,
                               n_certify: int = 3) -> tuple[Enclosure | None, dict[str, Any],
                                                            float]:
    r"""Certified lower bound $\|f(x;\Theta_a) - f(x;\Theta_b)\| / \|\Theta_a -
    \Theta_b\|$ with $\Theta_a, \Theta_b \in B_r(\bar\Theta)$ moving weights, biases
    **and spline coefficients**.

    Candidate pairs: $(\bar\Theta \pm t v, \bar\Theta)$ and
    $(\bar\Theta + t v, \bar\Theta - t v)$ along the top singular vector $v$ of the
    full Jacobian at the centre, and the same around the ascent's best point
    ``best_theta`` (pulled into the ball), for $t = r, r/4, \dots$; the best few by their
    float quotient are re-evaluated rigorously (:func:`spline_quotient_from_witness`:
    ball membership in interval arithmetic, interval forward passes of both networks
    with exact spline ranges) and the largest certified lower end is kept.

    Returns:
        ``(enclosure or None, witness, best float quotient)``.
    """
    theta0 = spline_params(net)
    if r <= 0:
        return None, {}, 0.0
    scale = max(1.0, float(np.max(np.abs(theta0))))
    ts = [t for t in (r * 4.0 ** -m for m in range(8)) if t >= 1e-9 * scale] or [r]
    centres = [(np.zeros_like(theta0), _spline_top_direction(net, x))]
    if best_theta is not None and np.any(best_theta != theta0):
        o = best_theta - theta0
        centres.append((o, _spline_top_direction(spline_with_params(net, best_theta), x)))
    pairs = []
    for o, v in centres:
        for t in ts:
            pairs.append((_into_ball(o + t * v, r), _into_ball(o - t * v, r)))
            if not np.any(o):
                pairs += [(t * v * (1 - 1e-9), o), (-t * v * (1 - 1e-9), o)]
            else:
                pairs += [(_into_ball(o + t * v, r), o), (_into_ball(o - t * v, r), o)]
    scored = []
    for a, b in pairs:
        supp = np.abs(a) + np.abs(b)
        keep = np.sort(np.argsort(-supp)[: min(k_sparse, supp.size)])
        a2, b2 = np.zeros_like(a), np.zeros_like(b)
        a2[keep], b2[keep] = a[keep], b[keep]
        try:
            q = _float_quotient(net, theta0, x[None, :], a2, b2)
        except InputError:
            continue
        scored.append((q, keep, a2[keep], b2[keep]))
    scored.sort(key=lambda s: -s[0])
    best_enc, best_wit = None, {}
    for _q, keep, a, b in scored[:n_certify]:
        wit = {"kind": "difference_quotient", "parameters": PARAMETER_SET,
               "x": [float(v) for v in x], "indices": [int(i) for i in keep],
               "step": [float(v) for v in a], "base": [float(v) for v in b]}
        try:
            enc = spline_quotient_from_witness(net, wit, r)
        except InputError:
            continue
        if best_enc is None or enc.lower > best_enc.lower:
            best_enc, best_wit = enc, wit
    return best_enc, best_wit, (scored[0][0] if scored else 0.0)


def spline_quotient_from_witness(net: Any, wit: Any, r: float) -> Enclosure:
    r"""Recompute the certified difference quotient of a witness.

    ``wit["parameters"] == PARAMETER_SET``: ``indices`` index the full vector
    $\Theta$ (:func:`spline_param_layout`); $\Theta_a = \bar\Theta + $ ``step`` and
    $\Theta_b = \bar\Theta + $ ``base`` (zeros if absent) at those indices, each sum
    rounded to a double, then: $\|\Theta_a - \bar\Theta\|$ and
    $\|\Theta_b - \bar\Theta\|$ must be $\le r$ in interval arithmetic (certainly,
    not maybe), both outputs are enclosed by :meth:`~symlip.models.network.Network.interval_forward`
    (splines evaluated by their exact range), and the quotient is enclosed in interval
    arithmetic; its lower end is a certified lower bound of the Lipschitz constant on
    the ball.  A witness without ``"parameters"`` (certificates before the coefficients
    were moved) indexes the weights and biases only
    (:func:`symlip.bounds.param.param_quotient_from_witness`).

    Raises:
        InputError: a point outside the ball, indices out of range or repeated,
            lengths that differ, non-finite values, two equal points.
    """
    from symlip.bounds.param_core import param_quotient_from_witness

    if "parameters" not in wit:
        return param_quotient_from_witness(net, wit, r)
    if wit["parameters"] != PARAMETER_SET:
        raise InputError(f"lower-bound witness parameters={wit['parameters']!r}; expected "
                         f"{PARAMETER_SET!r}")
    x = np.asarray(wit["x"], dtype=np.float64)
    raw = list(wit["indices"])
    bad_i = [i for i in raw if isinstance(i, bool) or not isinstance(i, (int, np.integer))]
    if bad_i:
        raise InputError(f"lower-bound witness index {bad_i[0]!r} is not an integer")
    keep = np.asarray(raw, dtype=np.int64)
    da = np.asarray(wit["step"], dtype=np.float64)
    db = np.asarray(wit.get("base", np.zeros(da.shape)), dtype=np.float64)
    theta0 = spline_params(net)
    P = theta0.size
    if keep.ndim != 1 or da.shape != keep.shape or db.shape != keep.shape:
        raise InputError(f"lower-bound witness: {keep.size} indices, {da.size} step and "
                         f"{db.size} base values must be equally many")
    if keep.size and (keep.min() < 0 or keep.max() >= P):
        bad = int(keep[(keep < 0) | (keep >= P)][0])
        raise InputError(f"lower-bound witness index {bad} is outside 0..{P - 1}")
    if np.unique(keep).size != keep.size:
        raise InputError("lower-bound witness indices must be distinct")
    if not (np.all(np.isfinite(da)) and np.all(np.isfinite(db))):
        raise InputError("lower-bound witness has a non-finite step")
    ta, tb = theta0.copy(), theta0.copy()
    ta[keep] = theta0[keep] + da
    tb[keep] = theta0[keep] + db
    rr = iv.mpf(float(r))

    def norm(u: np.ndarray, v: np.ndarray) -> Any:
        d = [iv.mpf(float(p)) - iv.mpf(float(q)) for p, q in zip(u[keep], v[keep], strict=True)]
        return iv.sqrt(sum((s * s for s in d), iv.mpf(0)))

    for name, t in (("step", ta), ("base", tb)):
        if compare(norm(t, theta0), "<=", rr) is not Truth.TRUE:
            raise WitnessOutsideError(f"lower-bound witness: the {name} point leaves the ball of "
                             f"radius {r!r}")
    dn = norm(ta, tb)
    if compare(dn, ">", iv.mpf(0)) is not Truth.TRUE:
        raise InputError("lower-bound witness: the two parameter vectors are equal")
    fa = spline_with_params(net, ta).interval_forward(x)
    fb = spline_with_params(net, tb).interval_forward(x)
    diff2 = sum(((p.to_interval() - q.to_interval()) ** 2 for p, q in zip(fa, fb, strict=True)),
                iv.mpf(0))
    return Enclosure.from_interval(iv.sqrt(diff2) / dn)


def spline_param_lipschitz(net: Any, data: Any, radius: float, *, centre: Any = "auto",
                           lower: bool = True, seed: int = 0) -> BoundResult:
    r"""Certified Lipschitz constant of $\Theta \mapsto f(x;\Theta)$ on $B_r(\bar\Theta)$,
    $\Theta$ = weights, biases **and spline coefficients** (see the module docstring).

    Returns $L$ with $\|f(x;\Theta) - f(x;\Theta')\|_2 \le L\|\Theta - \Theta'\|_2$ for
    all $\Theta, \Theta'$ in the closed ball and every row $x$ of ``data``; ``upper`` is
    the program evaluated in interval arithmetic on the hull of the per-point inputs
    (rounded up), ``extra["upper_pointwise"]`` the max of the per-point evaluations.
    ``estimate`` is the largest norm of the full Jacobian (weights, biases and
    coefficients, :func:`spline_param_jacobian`) found at the centre and by an ascent
    inside the ball (:func:`estimate_spline_param_lower`), or a larger sampled
    difference quotient; the certified lower bound is an interval difference quotient
    between two points of the ball that differ in weights, biases **and** coefficients
    (:func:`certify_spline_param_lower`; ``witness`` re-checks it,
    ``extra["lower_parameters"]`` names the parameters it moves).

    Raises:
        InputError: a hidden layer without a spline, a residual block, bad radius or
            data.

    Examples:
        >>> from symlip.models.network import spline_network
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
        est, i, best_theta = estimate_spline_param_lower(net, X, r, seed=seed)
        if r > 0:
            low, wit, _ = certify_spline_param_lower(net, X[i], r, best_theta=best_theta)
            # the certified quotient is itself a lower bound; a float quotient is not
            # added (cancellation at small steps makes it noisy)
            if low is not None:
                est = max(est, low.lower_float)
            wit = {**wit, "row": int(i)} if wit else None  # the data row x is
            if wit is None:
                low = None
    n_coef = int(sum(a.coefficients.size for a in _splines(net)))
    per_layer = []
    for k, layer in enumerate(net.layers, start=1):
        row = {"name": layer.name, "rho_upper": ci.scalars[f"rho_{k}"].upper_str(8)}
        if k < net.depth:
            row["K1_ball_upper"] = ci.scalars[str(S.k1_layer(k))].upper_str(8)
        per_layer.append(row)
    extra = {"radius": r, "upper_pointwise": pointwise.upper_max().upper_str(),
             "n_points": int(X.shape[0]), "centre_norms": ci.centre,
             "parameters": PARAMETER_SET,
             "n_parameters": int(net.n_params) + n_coef, "n_coefficients": n_coef,
             "lower_parameters": PARAMETER_SET}
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

def has_splines(model: Any) -> bool:
    """``True`` if a hidden activation of ``model`` is a linear spline (read from the
    file): its coefficients are parameters too, so this module serves ``--wrt params``
    and refuses ``--wrt gradient`` (the route in :data:`symlip.bounds.registry.BOUNDS`)."""
    from symlip.activations.spline import LinearSpline

    acts = getattr(model, "activations", None) or []
    return any(isinstance(a, LinearSpline) for a in acts)


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
    return spline_quotient_from_witness(ctx.model, witness,
                                        check_radius(ctx.options.get("radius")))


#: how ``verify`` re-checks a ``param_lipschitz_spline`` certificate
SPEC = QuantitySpec(_rebuild, _check_lower, witness_row=("x", "row"),
                    witness_offsets=("step", "base"), base_params=spline_params)
