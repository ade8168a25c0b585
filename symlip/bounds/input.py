r"""Input-Lipschitz bounds of feed-forward networks (Khromov & Singh).

For $f(x) = W_N \sigma(W_{N-1} \cdots \sigma(W_1 x + b_1) \cdots) + b_N$ with the
Euclidean norm on inputs and outputs:

* **upper** — $\operatorname{Lip}(f) \le \prod_{k=1}^{N} \|W_k\|_2 \prod_{k<N} K_{1,k}$
  (composition lemma, $\operatorname{Lip}(x \mapsto Wx + b) = \|W\|_2$, and a
  componentwise $\sigma$ with $|\sigma'| \le K_1$ is $K_1$-Lipschitz in $\ell_2$).
  Built as a SymPy product of per-layer factors $\rho_k K_1^{(k)}$, certified by evaluating
  the same product on certified enclosures of $\|W_k\|_2$ and $K_{1,k}$.  A residual
  block $a \mapsto a + h\sigma(Wa + b)$ contributes the factor $1 + \tau_k K_1^{(k)}\rho_k$
  ($\tau_k = |h|$; triangle inequality).
* **local upper** over a ball $B(x_0, \varepsilon)$ — interval propagation of the
  pre-activation ranges; $d_{k,i} \ge \sup |\sigma'|$ over neuron $i$'s range;
  $\operatorname{Lip}_{B}(f) \le \|W_N\|_2 \prod_{k<N} \|D_k W_k\|_2$ with
  $D_k = \operatorname{diag}(d_k)$ (the Jacobian on the ball is
  $W_N \Delta_{N-1} W_{N-1} \cdots \Delta_1 W_1$ with $|\Delta_k| \le D_k$), and
  $\operatorname{Lip}_B(f) \le J_{loc}$, a certified norm bound of that product as one
  interval matrix, $\Delta_k \in [\operatorname{diag}(s^-_k), \operatorname{diag}(s^+_k)]$
  the enclosed ranges of $\sigma'$ (:mod:`symlip.bounds.local_jacobian`; the norm of the
  product, not the product of norms: it tends to $\|J(x_0)\|_2$ as $\varepsilon \to 0$).
  With it, every pre-activation box is also intersected with its mean-value form
  $z_k(x_0) \pm \varepsilon \sup_B\|\nabla z_{k,i}\|_2$, which tightens both terms,
  and (``preact="linear"``, the default) with the box from linear relaxations of the
  activations back-substituted to the ball (:mod:`symlip.bounds.relaxation`: stable
  ReLUs get the exact derivative 0 or 1), and ``J_loc`` is refined by splitting the
  most influential derivative ranges at their ends
  (:func:`symlip.bounds.local_jacobian.split_norm_upper`).
  The minimum of both and the global bound is taken, so the local bound never exceeds
  the global bound.
* **lower** — $\max_{x \in S} \|J_x f(x)\|_2$ over the data, convex combinations of
  pairs and a few ascent steps (an *estimate*), and a *certified* lower bound: an
  interval-evaluated difference quotient $\|f(x) - f(x')\| / \|x - x'\|$ at the best
  point, with $x'$ a small step along the top right singular vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp
from mpmath import iv

from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure, working_precision
from symlip.arith.floatsearch import float_search
from symlip.arith.linalg import affine_box
from symlip.bounds.registry import Context, QuantitySpec
from symlip.bounds.result import BoundResult
from symlip.errors import InputError
from symlip.models.network import sigma_box
from symlip.symbolic.compile import interval_lambdify
from symlip.symbolic.derivation import Derivation, Tex
from symlip.symbolic.formula import Formula
from symlip.symbolic.symbols import J_LOC, k1_layer, nu, rho, tau
from symlip.symbolic.symbols import lam as _lam

__all__ = [
    "input_lipschitz",
    "input_product_formula",
    "input_product_derivation",
    "local_input_lipschitz",
    "local_input_formula",
    "local_input_derivation",
    "local_over_data",
    "estimate_input_lower",
    "certify_input_lower",
    "jacobian_norms",
]


# ------------------------------------------------------------------------------------
# the symbolic product and its derivation
# ------------------------------------------------------------------------------------


def _dense_factor(k: int | str) -> sp.Expr:
    r"""$\rho_kK_1^{(k)}$: a hidden dense layer followed by its activation."""
    return rho(k) * k1_layer(k)


def _residual_plain(k: int | str) -> sp.Expr:
    r"""$1 + \tau_kK_1^{(k)}\rho_k$: a residual block, triangle inequality."""
    return 1 + tau(k) * k1_layer(k) * rho(k)


def _residual_lognorm(k: int | str) -> sp.Expr:
    """The logarithmic-norm bound of a residual block with a nondecreasing activation."""
    t, K, w = tau(k), k1_layer(k), rho(k)
    return sp.sqrt(1 + 2 * t * K * nu(k) + t ** 2 * K ** 2 * w ** 2)


def _residual_factor(k: int | str, lognorm: bool) -> sp.Expr:
    plain = _residual_plain(k)
    if not lognorm:
        return plain
    return sp.Min(plain, _residual_lognorm(k), evaluate=False)


def input_product_formula(depth: int, name: str = "L_x", residual: Sequence[bool] | None = None,
                          lognorm: Sequence[int] = ()) -> tuple[Formula, list[sp.Expr]]:
    r"""The product bound for a network of ``depth`` layers.

    Args:
        residual: per layer, whether it is a residual block (default: none is).
        lognorm: the (1-based) residual blocks with a nondecreasing activation: their
            factor is $\\min(1 + \\tau_kK_1^{(k)}\\rho_k, \\sqrt{1 + 2\\tau_kK_1^{(k)}\\nu_k +
            \\tau_k^2(K_1^{(k)})^2\\rho_k^2})$, ``nu_k`` $\\ge \\nu(\\operatorname{sign}(h_k)W_k)$.

    Returns:
        ``(formula, factors)``: the formula $\prod_k F_k$ in the symbols ``rho_k``
        ($=\|W_k\|_2$), ``K_1^(k)`` (Lipschitz constant of the activation of layer $k$)
        and ``tau_k`` ($= |h_k|$) of :mod:`symlip.symbolic.symbols`, and the per-layer
        factors $F_k$: $\rho_k K_1^{(k)}$ for dense hidden layers, $1 + \tau_k
        K_1^{(k)}\rho_k$ for residual blocks, $\rho_N$ for the read-out.
    """
    if depth < 1:
        raise InputError(f"{depth=} must be >= 1")
    res = [False] * depth if residual is None else [bool(v) for v in residual]
    if len(res) != depth or res[-1]:
        raise InputError(f"residual={residual!r} must hold one flag per layer ({depth}), the "
                         "read-out not residual")
    factors: list[sp.Expr] = []
    inputs: list[sp.Symbol] = []
    for k in range(1, depth):
        if res[k - 1]:
            factors.append(_residual_factor(k, k in set(lognorm)))
            inputs += [rho(k), k1_layer(k), tau(k)] + ([nu(k)] if k in set(lognorm) else [])
        else:
            factors.append(_dense_factor(k))
            inputs += [rho(k), k1_layer(k)]
    factors.append(rho(depth))
    inputs.append(rho(depth))
    return Formula(sp.Mul(*factors), inputs, name=name), factors


def input_product_derivation(depth: int, activation_latex: str = r"\sigma",
                             residual: Sequence[bool] | None = None,
                             lognorm: Sequence[int] = ()) -> Derivation:
    """Step-by-step derivation of the product bound (composition, submultiplicativity);
    with ``residual`` flags, also the lemma for residual blocks (Lemma I.1,
    ``docs/theory-input.md``)."""
    N = depth
    d = Derivation(f"Input-Lipschitz upper bound of a depth-{N} network (l2 norms)")
    d.assume(r"$f = A_N \circ \sigma \circ A_{N-1} \circ \cdots \circ \sigma \circ A_1$, "
             r"$A_k(u) = W_k u + b_k$")
    # every factor below is the formula's own (the functions that build
    # input_product_formula, at a generic layer k), printed by SymPy
    k = "k"
    dist = sp.Symbol(r"\|u - v\|_2", nonnegative=True)
    K, W = sp.latex(k1_layer(k)), sp.latex(rho(k))
    d.assume(rf"${activation_latex}$ acts componentwise with $|{activation_latex}'| \le K$ "
             rf"(after layer $k$: ${K}$)")
    d.assume(rf"${W} := \|W_k\|_2$, the largest singular value of $W_k$")
    d.step(Tex(r"\|A_k u - A_k v\|_2"), "=", Tex(r"\|W_k (u - v)\|_2"), "the bias cancels")
    d.then("<=", rho(k) * dist, "definition of the operator norm")
    d.step(Tex(r"\|\sigma(u) - \sigma(v)\|_2^2"), "=",
           Tex(r"\sum_i |\sigma(u_i) - \sigma(v_i)|^2"), "componentwise activation")
    d.then("<=", k1_layer(k) ** 2 * dist ** 2, rf"mean value theorem, $|\sigma'| \le {K}$")
    if residual is not None and any(residual):
        d.assume(rf"a residual block $R_k(u) = u + h_k\sigma(W_k u + b_k)$ has "
                 rf"${sp.latex(tau(k))} := |h_k|$")
        d.step(Tex(r"\|R_k u - R_k v\|_2"), "<=",
               Tex(r"\|u - v\|_2 + |h_k|\,\|\sigma(W_k u + b_k) - \sigma(W_k v + b_k)\|_2"),
               "triangle inequality")
        d.then("<=", _residual_plain(k) * dist,
               rf"the two bounds above: $\operatorname{{Lip}}(R_k) \le "
               rf"{sp.latex(_residual_plain(k))}$")
        if lognorm:
            d.step(Tex(r"R_k u - R_k v"), "=", Tex(r"(I + h_k S W_k)(u - v)"),
                   rf"$S$ diagonal, the divided differences of $\sigma$, in $[0, {K}]$ for a "
                   r"nondecreasing $\sigma$")
            d.then("=>", Tex(r"\operatorname{Lip}(R_k) \le " + sp.latex(_residual_lognorm(k))),
                   rf"$\|I + M\|^2 \le 1 + 2\mu_2(M) + \|M\|^2$, $\mu_2(\pm SW) \le "
                   rf"{K}\nu(\pm W)$ (convex in $S$, maximal at a vertex ${K}P_S$); "
                   rf"${sp.latex(nu(k))} \ge \nu(\operatorname{{sign}}(h_k)W_k)$ certified by "
                   r"symlip.arith.lognorm")
    formula, factors = input_product_formula(depth, residual=residual, lognorm=lognorm)
    d.step(Tex(r"\operatorname{Lip}(f)"), "<=",
           Tex(r"\prod_{k=1}^{N} \operatorname{Lip}(A_k) \prod_{k=1}^{N-1} "
               r"\operatorname{Lip}(\sigma)") if residual is None or not any(residual) else
           Tex(r"\prod_{k} \operatorname{Lip}(\text{layer } k)"),
           "composition: $\\operatorname{Lip}(g \\circ h) \\le \\operatorname{Lip}(g)"
           "\\operatorname{Lip}(h)$")
    d.then("<=", formula.expr, "the two bounds above, layer by layer")
    d.conclude(f"Each factor ${sp.latex(_dense_factor(k))}$ (read-out: "
               f"${sp.latex(rho('N'))}$) is layer $k$'s contribution; a ReLU network has "
               f"${K} = 1$ (Lemma I.1, docs/theory-input.md).")
    del factors
    return d


# ------------------------------------------------------------------------------------
# lower bounds: Jacobian norms, ascent, certified difference quotient
# ------------------------------------------------------------------------------------


def jacobian_norms(net: Any, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spectral norms of the input Jacobians at ``xs`` (float estimates) and the top
    right singular vectors, shape ``(batch,)`` and ``(batch, n0)``."""
    J = _finite_jacobians(net.input_jacobian(xs))
    _, s, vt = np.linalg.svd(J, full_matrices=False)
    return s[:, 0], vt[:, 0, :]


def _finite_jacobians(J: np.ndarray) -> np.ndarray:
    """Float Jacobians that overflowed (weights/data near 1e300) set to 0: they lose the
    search instead of stopping the SVD (``LinAlgError``)."""
    with np.errstate(all="ignore"):
        bad = ~np.all(np.isfinite(J), axis=(-2, -1))
        big = np.max(np.abs(np.where(np.isfinite(J), J, 0.0)), axis=(-2, -1)) > 1e150
    bad = bad | big  # squares of the entries would overflow inside the SVD
    if np.any(bad):
        J = J.copy()
        J[bad] = 0.0
    return J


def _norm_grad(net: Any, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """||J(x)||_2 and its gradient in x (needs sigma''), vectorised over the batch."""
    J = _finite_jacobians(net.input_jacobian(xs))
    u, s, vt = np.linalg.svd(J, full_matrices=False)
    uu, vv = u[:, :, 0], vt[:, 0, :]
    zs = net.forward_trace(xs).preactivations
    Ws = [layer.weight for layer in net.layers]
    N = len(Ws)
    # tangent pass t_k = D_k W_k t_{k-1}, t_0 = v
    t = [vv]
    zdot = []
    for k in range(N - 1):
        zd = t[-1] @ Ws[k].T
        zdot.append(zd)
        t.append(net.activations[k].dsigma(zs[k]) * zd)
    # adjoints of the tangent: g_k = d s / d t_k
    g = [None] * N
    g[N - 1] = uu @ Ws[N - 1]
    for k in range(N - 2, 0, -1):
        g[k] = (net.activations[k].dsigma(zs[k]) * g[k + 1]) @ Ws[k]
    # direct sources d s / d z_k through D_k, then back through the primal network
    p = None
    for k in range(N - 2, -1, -1):
        direct = g[k + 1] * net.activations[k].d2sigma(zs[k]) * zdot[k]
        if p is not None:
            direct = direct + net.activations[k].dsigma(zs[k]) * (p @ Ws[k + 1])
        p = direct
    grad = p @ Ws[0] if p is not None else np.zeros_like(xs)
    return s[:, 0], grad


@float_search
def estimate_input_lower(
    net: Any,
    data: np.ndarray | None = None,
    *,
    n_pairs: int = 256,
    ascent_steps: int = 20,
    n_best: int = 8,
    seed: int = 0,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Best sampled value of $\\|J_x f(x)\\|_2$ (a float **estimate** of a lower bound).

    The set searched: the data (or 256 standard-normal points if none), convex
    combinations $\\lambda x_i + (1-\\lambda) x_j$ of random pairs, then a few steps of
    gradient ascent on $\\|J\\|_2$ from the best points (smooth activations), or a
    shrinking random search (non-smooth ones).

    Returns:
        ``(value, x_best, v_best)``: the value, where it is attained, and the top right
        singular vector there.
    """
    rng = np.random.default_rng(seed)
    n0 = net.widths[0]
    S = np.asarray(data, dtype=float) if data is not None and len(data) else \
        rng.standard_normal((256, n0))
    cands = [S]
    if len(S) >= 2 and n_pairs:
        i = rng.integers(0, len(S), n_pairs)
        j = rng.integers(0, len(S), n_pairs)
        lam = rng.random((n_pairs, 1))
        cands.append(lam * S[i] + (1 - lam) * S[j])
    P = np.concatenate(cands)
    vals, vs = jacobian_norms(net, P)
    order = np.argsort(vals)[::-1][:n_best]
    X, best = P[order].copy(), vals[order].copy()
    # the ascent gradient (_norm_grad) is the dense chain; residual nets: random search
    smooth = all(a.is_smooth for a in net.activations) and not getattr(net, "has_residual",
                                                                        False)
    scale = float(np.std(S)) if len(S) > 1 and np.std(S) > 0 else 1.0
    step = 0.05 * scale
    for _ in range(ascent_steps):
        if smooth:
            _, grad = _norm_grad(net, X)
            gn = np.linalg.norm(grad, axis=1, keepdims=True)
            Y = X + step * grad / np.where(gn > 0, gn, 1.0)
        else:
            Y = X + step * rng.standard_normal(X.shape)
        vy, _ = jacobian_norms(net, Y)
        better = vy > best
        X[better], best[better] = Y[better], vy[better]
        if not better.any():
            step *= 0.5
    k = int(np.argmax(best))
    v_all = jacobian_norms(net, X[k:k + 1])[1][0]
    return float(best[k]), X[k], v_all


def _iv_vec_norm(vals: Sequence[Any]) -> Any:
    s = iv.mpf(0)
    for v in vals:
        s += v**2  # not v * v: for v containing 0 that dips below 0 and sqrt fails
    return iv.sqrt(s)


def certify_input_lower(net: Any, x: np.ndarray, direction: np.ndarray,
                        step: float | None = None) -> tuple[Enclosure, dict[str, Any]]:
    """Certified lower bound on Lip(f): an interval difference quotient at ``x``.

    $x' = \\mathrm{fl}(x + h v)$; both are exact doubles.  The quotient
    $\\|f(x) - f(x')\\|_2 / \\|x - x'\\|_2$ is enclosed with rigorous forward passes, so
    the lower end of the returned enclosure is a certified lower bound of the
    Lipschitz constant (on any set containing both points).

    Returns:
        ``(enclosure, witness)`` with ``witness = {"x": [...], "x_prime": [...]}``.
    """
    x = np.asarray(x, dtype=float)
    v = np.asarray(direction, dtype=float)
    if step is None:
        # steps of 1e-3 |x|, 1e-4 |x| let the float64 interval passes resolve the quotient
        # (a second instead of a minute on convolutional networks); one is kept when its
        # enclosure is within 1e-6 of the float |J(x) v| (no curvature or
        # activation change seen at that scale), else the step 1e-6 |x| (exact passes)
        nv = max(float(np.linalg.norm(v)), 1e-300)
        with np.errstate(all="ignore"):  # extreme magnitudes: jv = inf/nan, not kept
            jv = float(np.linalg.norm(net.input_jacobian(x) @ v)) / nv
        for rel in (1e-3, 1e-4):
            xp = x + rel * max(1.0, float(np.linalg.norm(x))) * v / nv
            q = _float_quotient(net, x, xp)
            if q is not None and np.isfinite(jv) and (1 - 1e-6) * jv <= q.lower_float \
                    and q.upper_float <= (1 + 1e-6) * jv:
                return q, {"kind": "difference_quotient", "x": x.tolist(),
                           "x_prime": xp.tolist()}
        step = 1e-6 * max(1.0, float(np.linalg.norm(x)))
    xp = x + step * v / max(float(np.linalg.norm(v)), 1e-300)
    witness = {"kind": "difference_quotient", "x": x.tolist(), "x_prime": xp.tolist()}
    return input_quotient_from_witness(net, witness), witness


def input_quotient_from_witness(net: Any, witness: dict[str, Any]) -> Enclosure:
    """Re-evaluate the difference quotient of a witness rigorously."""
    x = np.asarray(witness["x"], dtype=float)
    xp = np.asarray(witness["x_prime"], dtype=float)
    if x.shape != xp.shape or x.shape != (net.widths[0],):
        raise InputError(f"witness points have shapes {x.shape}, {xp.shape}; "
                         f"expected ({net.widths[0]},)")
    if np.array_equal(x, xp):
        return Enclosure.point(0)
    # float64 interval passes first (vectorised; on wide or convolutional networks the
    # exact passes below take seconds per point), else the exact passes at 113 bits.
    # Both are rigorous, and the choice depends only on the witness: verify repeats it.
    q = _float_quotient(net, x, xp)
    if q is not None:
        return q
    with working_precision(113):
        fx = net.interval_forward(x, prec=113)
        fxp = net.interval_forward(xp, prec=113)
        num = _iv_vec_norm([_to_iv(a) - _to_iv(b) for a, b in zip(fx, fxp)])
        den = _iv_vec_norm([_to_iv(float(a)) - _to_iv(float(b)) for a, b in zip(x, xp)])
        q = num / den
    return Enclosure.from_interval(q)


def _float_quotient(net: Any, x: np.ndarray, xp: np.ndarray) -> Enclosure | None:
    """The witness quotient from float64 interval forward passes (rigorous), or ``None``
    when its enclosure is wider than 1e-6 relative (or a pass fails)."""
    import warnings

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # extreme magnitudes: the exact passes decide
            fx = net.interval_forward(x)
            fxp = net.interval_forward(xp)
    except (InputError, ValueError, OverflowError, ZeroDivisionError, ArithmeticError):
        return None
    with working_precision(113):
        num = _iv_vec_norm([_to_iv(a) - _to_iv(b) for a, b in zip(fx, fxp, strict=True)])
        den = _iv_vec_norm([_to_iv(float(a)) - _to_iv(float(b)) for a, b in zip(x, xp, strict=True)])
        q = num / den
    enc = Enclosure.from_interval(q)
    lo, hi = enc.lower_float, enc.upper_float
    if not (lo > 0 and np.isfinite(hi) and hi - lo <= 1e-6 * lo):
        return None
    return enc


def _to_iv(v: Any) -> Any:
    if isinstance(v, Enclosure):
        return v.to_interval()
    if isinstance(v, float):
        return Enclosure.point(v).to_interval()
    return v


# ------------------------------------------------------------------------------------
# certified upper bounds
# ------------------------------------------------------------------------------------


def _global_inputs(net: Any) -> dict[str, Enclosure]:
    # spectral_norm, tightened by an exact test for small matrices whose norm is a short
    # binary number (e.g. exactly 1 for permutations): see symlip.models.lipschitz_layers
    from symlip.models.lipschitz_layers import tight_spectral_norm

    inputs: dict[str, Enclosure] = {}
    N = net.depth
    mask = _residual_mask(net) or [False] * N
    ln = _lognorm_layers(net)
    for k, layer in enumerate(net.layers, start=1):
        inputs[str(rho(k))] = tight_spectral_norm(layer.weight)
        if k < N:
            inputs[str(k1_layer(k))] = net.activations[k - 1].constants.K1.enclosure
        if mask[k - 1]:
            inputs[str(tau(k))] = Enclosure.point(abs(layer.step))
        if k in ln:
            from symlip.arith.lognorm import nu_upper

            inputs[str(nu(k))] = nu_upper((-1.0 if layer.step < 0 else 1.0) * layer.weight)[0]
    return inputs


def _lognorm_layers(net: Any) -> tuple[int, ...]:
    """Residual blocks with a nondecreasing activation (logarithmic-norm factor)."""
    if not getattr(net, "has_residual", False):
        return ()
    from symlip.bounds.residual import lognorm_layers

    return lognorm_layers(net)


def _residual_mask(net: Any) -> list[bool] | None:
    """Per layer, whether it is a residual block; ``None`` for a network without any."""
    return list(net.residual_mask) if getattr(net, "has_residual", False) else None


def _rebuild_global(ctx: Context) -> tuple[Formula, dict[str, Enclosure]]:
    if ctx.options.get("lipsdp") is not None:  # the LipSDP method won: re-prove its LMI
        from symlip.bounds.lipsdp import rebuild_context

        return rebuild_context(ctx)
    net = ctx.model
    formula, _ = input_product_formula(net.depth, residual=_residual_mask(net),
                                       lognorm=_lognorm_layers(net))
    return formula, _global_inputs(net)


def _dsigma_sup(act: Any, lo: np.ndarray, hi: np.ndarray, cap: float) -> np.ndarray:
    """Rigorous upper bounds of sup |sigma'| over each interval [lo_i, hi_i], capped."""
    from symlip.activations.registry import X

    d1 = act.derivatives[1] if hasattr(act, "derivatives") else None
    if hasattr(act, "dsigma_abs_sup"):
        return np.minimum(act.dsigma_abs_sup(lo, hi), cap)
    if d1 is None:
        return np.full(lo.shape, cap)
    try:
        from symlip.bounds.local_jacobian import _numpy_interval

        r = _numpy_interval(sp.Abs(d1))(IntervalArray(lo, hi))
        return np.minimum(r.hi, cap)
    except Exception:  # noqa: BLE001 - any failure of the fast path: rigorous fallback
        f = interval_lambdify([X], sp.Abs(d1), backend="mpmath", prec=64)
        out = np.empty(lo.shape)
        for i in np.ndindex(*lo.shape):
            out[i] = Enclosure.from_interval(f(Enclosure.from_floats(lo[i], hi[i]))).upper_float
        return np.minimum(out, cap)


def _affine_ball(W: np.ndarray, b: np.ndarray, x0: np.ndarray, eps: float) -> IntervalArray:
    """Rigorous enclosure of {W x + b : ||x - x0||_2 <= eps}, coordinate by coordinate.

    z_i in w_i . x0 + b_i +- eps ||w_i||_2 (Cauchy-Schwarz); W x0 + b enclosed by
    :func:`~symlip.arith.linalg.affine_box` (Lemma A.1 of docs/intervals.md), the row
    norms certified (:func:`symlip.bounds.centre.row_norms`), the rest outward rounded.
    """
    from symlip.bounds.centre import row_norms

    centre = affine_box(W, b, IntervalArray(np.asarray(x0, dtype=np.float64)))
    # eps = 0: the ball is its centre (and inf * 0 would be NaN for an overflowing norm)
    norms = row_norms(W).hi if eps != 0 else np.zeros(W.shape[0])
    with np.errstate(over="ignore"):
        rad = np.nextafter(norms * np.float64(eps), np.inf)
    if not np.all(np.isfinite(rad)):
        raise InputError("interval propagation overflowed float64 (the image of the input "
                         "ball under the first layer)")
    return centre + IntervalArray(-rad, rad)



#: with ``preact="linear"``, ``J_loc`` is refined by the vertex split
#: (:func:`symlip.bounds.local_jacobian.split_norm_upper`) when it exceeds this multiple
#: of the float norm of the midpoint Jacobian (below it the split cannot gain much)
SPLIT_GAIN = 1.02
#: ... and when the split neurons carry at least this share of the heuristic spread
SPLIT_SHARE = 0.5

#: how ``local_input_lipschitz`` bounds the hidden pre-activations on the ball:
#: ``"linear"`` (linear relaxation back-substituted to the ball, intersected with the
#: interval / mean-value boxes; the default) or ``"interval"`` (those boxes alone)
PREACT_METHODS = ("linear", "interval")

#: largest ``n_0 * max_k n_k`` for which the local bound builds the interval Jacobian from
#: the input side and tightens every pre-activation box by its mean-value form
MEAN_VALUE_BUDGET = 2**22


def _local_factor(k: int | str, residual: bool) -> sp.Expr:
    r"""Layer $k$'s factor of the local product: $\lambda_k$, a residual block
    $1 + \tau_k\lambda_k$."""
    return 1 + tau(k) * _lam(k) if residual else _lam(k)


def local_input_formula(depth: int, name: str = "L_loc", residual: Sequence[bool] | None = None,
                        lognorm: Sequence[int] = ()) -> Formula:
    r"""The local bound $\min(J_{loc},\ \prod_{k<N} \lambda_k \, \rho_N,\ \prod_k
    \rho_k \prod_{k<N} K_1^{(k)})$ with $J_{loc} \ge \sup\|J\|_2$ over the interval
    Jacobian of the ball (:mod:`symlip.bounds.local_jacobian`) and $\lambda_k \ge
    \|D_k W_k\|_2$; at most the global bound by construction.  A residual block
    (``residual[k-1]``) contributes $1 + \tau_k\lambda_k$ to the local product (and its
    factor of :func:`input_product_formula` to the global one)."""
    glob, _ = input_product_formula(depth, residual=residual, lognorm=lognorm)
    res = [False] * depth if residual is None else list(residual)
    lams = [_lam(k) for k in range(1, depth)]
    local = sp.Mul(*[_local_factor(k, res[k - 1]) for k in range(1, depth)]) * rho(depth)
    inputs = [J_LOC] + lams + list(glob.inputs)
    return Formula(sp.Min(J_LOC, local, glob.expr, evaluate=False), inputs, name=name)


def local_input_derivation(depth: int, residual: Sequence[bool] | None = None,
                           lognorm: Sequence[int] = (), preact: str = "linear") -> Derivation:
    """Step-by-step derivation of the local bound on a ball (:func:`local_input_formula`,
    Lemma I.2 of ``docs/theory-input.md``):
    the interval-Jacobian term ``J_loc`` and the product of local norms; with
    ``preact="linear"`` also the linear-relaxation boxes and the vertex split of
    ``J_loc`` (:mod:`symlip.bounds.relaxation`, :func:`symlip.bounds.local_jacobian.
    split_norm_upper`)."""
    if preact not in PREACT_METHODS:
        raise InputError(f"preact={preact!r}: expected one of {', '.join(PREACT_METHODS)}")
    res = residual is not None and any(residual)
    linear = preact == "linear"
    d = Derivation(r"Local input-Lipschitz bound on a ball $B = B(x_0, \varepsilon)$")
    d.assume(r"$z_k(x) \in [z^-_k, z^+_k]$ for every $x \in B$ (interval forward pass, "
             r"outward rounded, intersected with the mean-value box "
             + (r"and the linear-relaxation box " if linear else "") +
             r"below); on that box "
             r"$\sigma'(z_{k,i}) \in [s^-_{k,i}, s^+_{k,i}]$ and $|\sigma'(z_{k,i})| \le "
             r"d_{k,i}$ (at a kink: both one-sided derivatives)")
    if linear:
        d.assume(r"on each earlier neuron's box, $\underline\alpha_{j,i} t + "
                 r"\underline\beta_{j,i} \le \sigma(t) \le \overline\alpha_{j,i} t + "
                 r"\overline\beta_{j,i}$ (ReLU: chord above, $0$ or $t$ below, exact when "
                 r"the neuron is stable; smooth $\sigma$: the thinnest certified band "
                 r"$\alpha t + [\beta^-, \beta^+]$)")
        d.step(Tex(r"z_{k,i}(x)"), "<=", Tex(r"(\Lambda^{(k)} x + c^{(k)})_i"),
               r"back-substitution: in $\Lambda\sigma(z_j)$ each term is bounded by the "
               r"side of the relaxation its coefficient's sign selects, then "
               r"$z_j = W_j a_{j-1} + b_j$ exactly, down to the input (CROWN / DeepPoly); "
               r"the float coefficients are used as they are, their rounding times the "
               r"known magnitudes is added to $c^{(k)}$")
        d.then("<=", Tex(r"(\Lambda^{(k)} x_0 + c^{(k)})_i + \varepsilon "
                         r"\|\Lambda^{(k)}_{i,:}\|_2"),
               r"Cauchy-Schwarz on the ball (the lower end: the same for $-z_k$); a stable "
               r"ReLU gets $s^-_{k,i} = s^+_{k,i} \in \{0, 1\}$")
    d.step(Tex(r"f(y) - f(x)"), "=", Tex(r"\int_0^1 J(x + t(y - x))\,(y - x)\,dt"),
           r"mean value theorem on the convex ball (integral form; for a piecewise-smooth "
           r"$\sigma$ the chain rule holds for almost every $t$)")
    d.then("=>", Tex(r"\operatorname{Lip}_B(f) \le \sup_{x \in B} \|J(x)\|_2"),
           r"$\|\int_0^1 J\,dt\,(y - x)\| \le \sup\|J\|_2\,\|y - x\|$")
    d.step(Tex(r"J(x)"), "=", Tex(r"W_N \Sigma_{N-1}(x) W_{N-1} \cdots \Sigma_1(x) W_1"),
           r"chain rule, $\Sigma_k(x) = \operatorname{diag}(\sigma'(z_k(x)))$"
           + (r"; a residual block contributes $I + h_k\Sigma_k W_k$" if res else ""))
    d.then("in", Tex(r"[M - R,\ M + R]"),
           r"interval matrix product with $\Sigma_k \in [\operatorname{diag}(s^-_k), "
           r"\operatorname{diag}(s^+_k)]$: it contains every $J(x)$, $x \in B$ "
           r"(midpoint-radius arithmetic, float rounding bounded by Higham's $\gamma_k$)")
    d.step(Tex(r"|z_{k,i}(x) - z_{k,i}(x_0)|"), "<=",
           Tex(r"\varepsilon \, \|(|Q^{(k)}_m| + Q^{(k)}_r)_{i,:}\|_2"),
           r"the same two steps for $z_k$: its Jacobians on $B$ lie in $[Q^{(k)}_m \pm "
           r"Q^{(k)}_r]$, the interval product up to layer $k$ (from the input side, so "
           r"layer $k$'s box is tightened before its $\sigma'$ ranges are taken)")
    d.step(Tex(r"\sup_{|A - M| \le R} \|A\|_2"), "<=",
           Tex(r"\min(\|M\|_2 + \|R\|_2,\ \||M| + R\|_2) \le J_{loc}"),
           r"triangle inequality; $\|\cdot\|_2$ is monotone on nonnegative matrices "
           r"($|A - M| \le R$, $|A| \le |M| + R$); certified spectral norms")
    if linear:
        d.step(Tex(r"\sup_{s \in [s^-, s^+]} \|J(s)\|_2"), "=",
               Tex(r"\max_{v \in V} \sup_{s \in [s^-, s^+],\ s_S = v} \|J(s)\|_2"),
               r"vertex reduction: $J$ is affine in each $s_{k,i}$ separately, so the "
               r"supremum over the other ranges is convex in each split coordinate and "
               r"attains its maximum at a vertex $v$ of the ranges of the split neurons "
               r"$S$ (all of positive width if at most 6, else the 4 most influential); "
               r"each term is "
               r"bounded as above, $J_{loc}$ is the smaller of the maximum and the "
               r"unsplit bound")
    kk, NN = sp.Symbol("k", integer=True), sp.Symbol("N", integer=True)
    d.step(Tex(r"\|J(x)\|_2"), "<=",
           Tex(r"\|W_N\|_2 \prod_{k<N} \|\Sigma_k W_k\|_2 \le "
               + sp.latex(sp.Product(_local_factor(kk, False), (kk, 1, NN - 1))
                          * rho("N"))),
           r"submultiplicativity; $\Sigma_k = C_k D_k$ with $D_k = \operatorname{diag}(d_k)$, "
           r"$C_k$ diagonal, $\|C_k\|_2 \le 1$, so $\|\Sigma_k W_k\|_2 \le \|D_k W_k\|_2 "
           r"\le \lambda_k$" + (rf"; a residual block: ${sp.latex(_local_factor('k', True))}$"
                                  if res else ""))
    f = local_input_formula(depth, residual=residual, lognorm=lognorm)
    d.step(Tex(r"\operatorname{Lip}_B(f)"), "<=", f.expr,
           "the two bounds above and the global bound (each is an upper bound)")
    d.conclude(r"Each term is evaluated on certified enclosures; the minimum never exceeds "
               r"the global bound, and $J_{loc} \to \|J(x_0)\|_2$ as $\varepsilon \to 0$ "
               r"for a smooth $\sigma$ (Lemma I.2, docs/theory-input.md).")
    return d


def local_input_lipschitz(net: Any, center: np.ndarray, eps: float, *,
                          interval_jacobian: bool = True, preact: str = "linear",
                          global_inputs: dict[str, Enclosure] | None = None,
                          boxes: list[IntervalArray] | None = None,
                          ) -> BoundResult:
    r"""Certified Lipschitz bound of f on the ball $B(x_0, \varepsilon)$ (l2).

    Args:
        interval_jacobian: compute ``J_loc`` and tighten the boxes by their mean-value
            form; ``False`` sets ``J_loc`` to $[0, \infty]$ and keeps the plain interval
            boxes (the product-of-local-norms bound alone, the previous method: cheaper,
            for comparisons).
        preact: how the hidden pre-activation boxes are bounded: ``"linear"`` (default)
            also intersects each box with the back-substitution of linear relaxations of
            the activations to the ball (:mod:`symlip.bounds.relaxation`, CROWN /
            DeepPoly: it recognises stable ReLUs, whose derivative is then exactly 0 or
            1); ``"interval"`` keeps the interval / mean-value boxes alone (the previous
            method, for comparisons).  See :data:`PREACT_METHODS`.
        global_inputs: the certified inputs of the global bound of ``net``
            (``_global_inputs(net)``), when already computed (several balls).
        boxes: if a list, the final box of every hidden pre-activation $z_k$ on the
            ball (each contains $z_k(B)$) is appended to it, in layer order.

    Returns:
        :class:`~symlip.bounds.result.BoundResult` with ``quantity="local_input_lipschitz"``
        (no lower bound; ``extra``: ``input_radius``, ``local_preact``): the upper end of
        its ``enclosure`` bounds
        $\sup_{x \ne y \in B} \|f(x) - f(y)\| / \|x - y\|$; it is the
        :func:`local_input_formula` evaluated on the certified ``inputs``
        (``J_loc`` >= the norm of every Jacobian on the ball,
        :func:`symlip.bounds.local_jacobian.jacobian_norm_upper`; ``lambda_k`` >=
        $\|D_k W_k\|_2$; the global inputs), so it never exceeds the global bound.
        Lemma I.2 of ``docs/theory-input.md`` (residual blocks included): the bound
        holds for every pair of points of the ball; it tends to $\|J(x_0)\|_2$ as
        $\varepsilon \to 0$ for a smooth activation.

    Raises:
        InputError: a negative or non-finite ``eps``, a centre of the wrong shape, an
            interval pass that overflows.
    """
    enc, inputs = _local_ball(net, center, eps, interval_jacobian=interval_jacobian,
                              preact=preact, global_inputs=global_inputs, boxes=boxes)
    mask = _residual_mask(net)
    lognorm = tuple(_lognorm_layers(net))
    formula = _local_formula_cached(net.depth, None if mask is None else tuple(mask), lognorm)
    deriv = local_input_derivation(net.depth, residual=mask, lognorm=lognorm, preact=preact)
    return BoundResult(quantity="local_input_lipschitz", norm="l2", enclosure=enc,
                       formula=formula, inputs=inputs, derivation=deriv,
                       extra={"input_radius": eps, "local_preact": preact})


def _local_ball(net: Any, center: np.ndarray, eps: float, *, interval_jacobian: bool,
                preact: str, global_inputs: dict[str, Enclosure] | None,
                boxes: list[IntervalArray] | None) -> tuple[Enclosure, dict[str, Enclosure]]:
    """The enclosure and the certified inputs of :func:`local_input_lipschitz` (without
    the result object: :func:`local_over_data` calls it once per ball)."""
    from symlip.arith.norms import frobenius_norm, spectral_norm

    if not np.isfinite(eps) or eps < 0:
        raise InputError(f"input radius {eps=} must be finite and >= 0")
    if preact not in PREACT_METHODS:
        raise InputError(f"preact={preact!r}: expected one of {', '.join(PREACT_METHODS)}")
    x0 = np.asarray(center, dtype=float)
    if x0.shape != (net.widths[0],):
        raise InputError(f"centre has shape {x0.shape}; expected ({net.widths[0]},)")
    from symlip.bounds.local_jacobian import (
        ForwardJacobian,
        derivative_ranges,
        jacobian_box,
        jacobian_norm_upper,
        mean_value_box,
        split_norm_upper,
    )
    from symlip.bounds.relaxation import relax, relaxed_box

    inputs = dict(_global_inputs(net) if global_inputs is None else global_inputs)
    mask = _residual_mask(net) or [False] * net.depth
    ranges = []
    linear = preact == "linear"
    relaxations: list[Any] = []
    amags: list[np.ndarray] = []
    z = _affine_ball(net.layers[0].weight, net.layers[0].bias, x0, eps)
    # the input box of the ball (needed when the first layer is a residual block)
    a_in = IntervalArray(np.nextafter(x0 - eps, -np.inf), np.nextafter(x0 + eps, np.inf))
    # mean-value boxes: the interval Jacobian from the input side, and the point pass at x0
    fj = (ForwardJacobian(net) if interval_jacobian and net.widths[0] * max(net.widths)
          <= MEAN_VALUE_BUDGET else None)
    zc, ac_in = z, IntervalArray(x0)
    if fj is not None:
        zc = _affine_ball(net.layers[0].weight, net.layers[0].bias, x0, 0.0)
    u = 2.0**-53
    for k in range(net.depth - 1):
        act = net.activations[k]
        W = net.layers[k].weight
        K1 = act.constants.K1.enclosure
        q = None
        if fj is not None and k > 0:  # layer 1: the mean-value box is the ball's image
            q = fj.z_jacobian(k)
            mv = mean_value_box(zc, q, eps)
            z = IntervalArray(np.maximum(z.lo, mv.lo), np.minimum(z.hi, mv.hi))
            if np.any(z.lo > z.hi):  # pragma: no cover - both boxes hold z_k(x0)
                raise AssertionError("disjoint enclosures of the pre-activations")
        if linear and k > 0:
            rb = relaxed_box(net, k, x0, eps, relaxations, amags)
            if rb is not None:
                z = IntervalArray(np.maximum(z.lo, rb.lo), np.minimum(z.hi, rb.hi))
                if np.any(z.lo > z.hi):  # pragma: no cover - both boxes hold z_k(x0)
                    raise AssertionError("disjoint enclosures of the pre-activations")
        if boxes is not None:
            boxes.append(z)
        d = _dsigma_sup(act, z.lo, z.hi, K1.upper_float)
        # ||D W||_2 <= ||fl(D W)||_2 + ||E||_F with |E| <= u/(1-u) |fl(D W)| (one rounded
        # product per entry; d_i >= sup|sigma'| on neuron i's range)
        M = d[:, None] * W
        err = float(np.nextafter(u * (1 + 4 * u) * frobenius_norm(M).upper_float, np.inf))
        lam = float(np.nextafter(spectral_norm(M).upper_float + err, np.inf))
        inputs[str(_lam(k + 1))] = Enclosure.from_floats(0.0, lam)
        if interval_jacobian or linear:
            ranges.append(derivative_ranges(act, z, d))
        if fj is not None:
            fj.advance(k, ranges[-1], q)
            ac = sigma_box(act, zc)
            ac_in = ac_in + ac * net.layers[k].step if mask[k] else ac
            zc = affine_box(net.layers[k + 1].weight, net.layers[k + 1].bias, ac_in)
        a = sigma_box(act, z)
        if linear:
            relaxations.append(relax(act, z, ranges[-1], _magnitude(a)))
        if mask[k]:
            a = a_in + a * net.layers[k].step
            if not (np.all(np.isfinite(a.lo)) and np.all(np.isfinite(a.hi))):
                raise InputError(f"interval propagation overflowed in residual layer "
                                 f"{net.layers[k].name!r}")
        a_in = a
        amags.append(_magnitude(a))
        z = affine_box(net.layers[k + 1].weight, net.layers[k + 1].bias, a)
    if interval_jacobian:
        if fj is not None:
            m, r = fj.output()
            if not (np.all(np.isfinite(m)) and np.all(np.isfinite(r))):
                raise InputError("the interval Jacobian overflowed float64")
        else:
            m, r = jacobian_box(net, ranges)
        inputs["J_loc"] = jacobian_norm_upper(m, r)
        # the maximum over the vertices of the most influential derivative ranges, unless
        # the bound is already within SPLIT_GAIN of the midpoint Jacobian's norm (float)
        if (linear and any(np.any(rg.hi > rg.lo) for rg in ranges)
                and inputs["J_loc"].upper_float > SPLIT_GAIN * float(np.linalg.norm(m, 2))):
            split, _ = split_norm_upper(net, ranges, min_share=SPLIT_SHARE)
            if split.upper < inputs["J_loc"].upper:
                inputs["J_loc"] = split
    else:
        inputs["J_loc"] = Enclosure.unbounded_above(0)
    mask0 = _residual_mask(net)
    formula = _local_formula_cached(net.depth, None if mask0 is None else tuple(mask0),
                                    tuple(_lognorm_layers(net)))
    return formula.enclose(inputs), inputs


@lru_cache(maxsize=32)
def _local_formula_cached(depth: int, residual: tuple[bool, ...] | None,
                          lognorm: tuple[int, ...]) -> Formula:
    """:func:`local_input_formula`, built once per shape (its compiled interval evaluator
    is cached on the object)."""
    return local_input_formula(depth, residual=residual, lognorm=lognorm)


def _magnitude(box: IntervalArray) -> np.ndarray:
    r"""$\max(|lo|, |hi|)$ per element: a bound of $|v|$ for every $v$ in the box."""
    return np.maximum(np.abs(box.lo), np.abs(box.hi))


def local_over_data(net: Any, data: np.ndarray | None, eps: float,
                    preact: str = "linear") -> Enclosure:
    """The local bound on $\bigcup_i B(x_i, \varepsilon)$ ballwise: the enclosure with the
    largest upper end of :func:`local_input_lipschitz` (pre-activation boxes by
    ``preact``) over the rows of ``data`` (the origin if ``None``).  What
    ``extra["local_upper"]`` reports and ``verify`` redoes."""
    if not np.isfinite(eps) or eps < 0:
        raise InputError(f"input radius {eps!r} must be finite and >= 0")
    if preact not in PREACT_METHODS:
        raise InputError(f"preact={preact!r}: expected one of {', '.join(PREACT_METHODS)}")
    centres = data if data is not None else np.zeros((1, net.widths[0]))
    best = None
    glob = _global_inputs(net) if len(centres) else None
    for c in centres:
        e, _ = _local_ball(net, c, eps, interval_jacobian=True, preact=preact,
                           global_inputs=glob, boxes=None)
        best = e if best is None or e.upper > best.upper else best
    if best is None:
        raise InputError("no data points for the local bound")
    return best


def _rebuild_local(ctx: Context) -> Enclosure:
    eps = ctx.options.get("input_radius")
    if eps is None:
        raise InputError("the certificate records a local bound but no input_radius option")
    # a certificate without a recorded method predates the linear relaxation
    return local_over_data(ctx.model, _check_data(ctx.model, ctx.data), float(eps),
                           preact=str(ctx.options.get("local_preact", "interval")))


def input_lipschitz(
    net: Any,
    data: np.ndarray | None = None,
    *,
    input_radius: float | None = None,
    seed: int = 0,
    lower: bool = True,
    local_preact: str = "linear",
) -> BoundResult:
    r"""Certified input-Lipschitz bound of a feed-forward network (l2 norms).

    Returns ``L`` such that $\|f(x) - f(x')\|_2 \le L \|x - x'\|_2$ for all inputs
    $x, x'$ (global bound, the product of per-layer factors).  With ``input_radius``
    $\varepsilon$ and ``data``, also the local bound over $\bigcup_i B(x_i,\varepsilon)$
    ballwise (``extra["local_upper"]``: the largest over the data points of the
    certified local bound on each ball).

    Args:
        net: a :class:`~symlip.models.network.Network`.
        data: array (n_samples, n_inputs) for the lower bounds (and the local bound).
        input_radius: radius of the input balls for the local bound.
        seed: seed of the random search.
        lower: compute the lower bounds (estimate and certified).
        local_preact: the pre-activation boxes of the local bound (``"linear"``, the
            default, or ``"interval"``; see :func:`local_input_lipschitz`), recorded in
            ``extra["local_preact"]``.

    Returns:
        :class:`~symlip.bounds.result.BoundResult` with ``quantity="input_lipschitz"``.

    Raises:
        InputError: data of the wrong width, NaN/Inf data, negative radius.
    """
    data = _check_data(net, data)
    mask = _residual_mask(net)
    formula, factors = input_product_formula(net.depth, residual=mask,
                                             lognorm=_lognorm_layers(net))
    inputs = _global_inputs(net)
    enclosure = formula.enclose(inputs)
    per_layer = []
    for k, fac in enumerate(factors, start=1):
        fenc = Formula(fac, sorted(fac.free_symbols, key=str), name=f"f_{k}").enclose(
            {str(s): inputs[str(s)] for s in fac.free_symbols})
        per_layer.append({
            "name": net.layers[k - 1].name,
            "factor_upper": fenc.upper_str(),
            "norm_upper": inputs[str(rho(k))].upper_str(),
        })
    dominant = max(range(len(per_layer)), key=lambda i: float(per_layer[i]["factor_upper"]))
    derivation = input_product_derivation(net.depth, residual=mask,
                                          lognorm=_lognorm_layers(net))
    estimate = None
    lower_enc = None
    witness = None
    if lower:
        estimate, xb, vb = estimate_input_lower(net, data, seed=seed)
        lower_enc, witness = certify_input_lower(net, xb, vb)
    extra: dict[str, Any] = {"dominant_layer": per_layer[dominant]["name"]}
    if input_radius is not None:
        if not np.isfinite(input_radius) or input_radius < 0:
            raise InputError(f"input radius {input_radius!r} must be finite and >= 0")
        best = local_over_data(net, data, input_radius, preact=local_preact)
        extra["input_radius"] = input_radius
        extra["local_upper"] = best.upper_str()
        extra["local_preact"] = local_preact
    return BoundResult(
        quantity="input_lipschitz",
        norm="l2",
        enclosure=enclosure,
        formula=formula,
        inputs=inputs,
        derivation=derivation,
        lower_enclosure=lower_enc,
        estimate=estimate,
        per_layer=per_layer,
        extra=extra,
        witness=witness,
    )


def _check_data(net: Any, data: Any) -> np.ndarray | None:
    if data is None:
        return None
    a = np.asarray(data)
    if a.dtype.kind not in "fiu":
        raise InputError(f"data must be a real array, got dtype {a.dtype}")
    a = a.astype(float)
    if a.ndim == 1 and net.widths[0] == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] != net.widths[0]:
        raise InputError(f"data has shape {a.shape}; expected (n_samples, {net.widths[0]})")
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise InputError(f"data has a non-finite value {a[tuple(bad)]} at index {tuple(bad)}")
    return a


def _check_lower(ctx: Context, witness: Any) -> Enclosure:
    return input_quotient_from_witness(ctx.model, witness)


def certify_context(ctx: Context) -> BoundResult:
    """CLI handler: the input bound for a loaded model, data and options."""
    return input_lipschitz(ctx.model, ctx.data, input_radius=ctx.options.get("input_radius"),
                           seed=int(ctx.options.get("seed", 0)),
                           local_preact=str(ctx.options.get("local_preact", "interval")))


#: how ``verify`` re-checks an ``input_lipschitz`` certificate; the witness is two points
#: of the input space (the global bound holds on all of it, so they need not be data rows)
SPEC = QuantitySpec(_rebuild_global, _check_lower, rebuild_local=_rebuild_local)
