r"""Certified centre Jacobian norms and state chains of networks with residual blocks,
batched over the data points (``docs/theory-param.md`` sections 6 and 8).

For hidden layers of the kinds of section 6 (dense $a_k = \sigma(z_k)$, linear
$a_k = z_k$, residual block $a_k = a_{k-1} + h_k\sigma(z_k)$), $z_k = W_ka_{k-1} + b_k$,
the read-out $f = a_N = z_N$, and one data point:

* the state chains $\mathcal D_{k,j} = \partial a_k/\partial a_j = F_k\cdots F_{j+1}$ with
  $F_i = I + h_i\Sigma_iW_i$ (block), $\Sigma_iW_i$ (dense; the identity activation gives
  $W_i$), $F_N = W_N$, where $\Sigma_i = \operatorname{diag}(\sigma'(z_i))$;
* $\partial a_j/\partial z_j = T_j = t_j\Sigma_j$ ($t_j = h_j$ for a block, 1 otherwise)
  and layer $j$'s parameters enter $z_j$ as $U_ja_{j-1} + u_j$, so
  $$D_\theta z_k = \big[\,\tfrac{\partial z_k}{\partial z_j}\otimes(a_{j-1}, 1)^T\big]_{j\le k},
  \qquad \|D_\theta z_k\|_2 = \big\|\big[\sqrt{c_j}\,\tfrac{\partial z_k}{\partial z_j}
  \big]_{j\le k}\big\|_2,\quad c_j = \|a_{j-1}\|^2 + 1,$$
  because the Gram matrix of the left side is $\sum_jc_j\frac{\partial z_k}{\partial z_j}
  \frac{\partial z_k}{\partial z_j}^T$, that of the right side; likewise every row
  norm, and $D_\theta a_k$ with $\partial a_k/\partial z_j = \mathcal D_{k,j}T_j$;
  $\partial z_k/\partial z_j = W_k\mathcal D_{k-1,j}T_j$ ($j < k$), $I$ ($j = k$).

Everything is evaluated in batched midpoint-radius interval arithmetic (Lemma A.2,
:func:`symlip.bounds.curvature._bmm`) on the boxes of the interval forward pass, which
contain the exact centre values of $a_{j-1}$ and $\sigma'(z_j)$; spectral norms by
:func:`symlip.bounds.sensitivity.batched_norm2_upper` (certified: a float Cholesky
factorisation above the computed top eigenvalue, plus the radius's Frobenius norm).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symlip.arith.array import IntervalArray
from symlip.arith.linalg import ETA, U, to_midrad, up
from symlip.bounds.centre import interval_row_norms
from symlip.bounds.curvature import _bmm
from symlip.bounds.float_chains import sumsq_upper
from symlip.bounds.sensitivity import batched_norm2_upper

__all__ = ["RESIDUAL_CENTRE_BUDGET", "residual_centre_cost", "residual_centre_fit",
           "state_chains", "residual_centre_inputs", "residual_gn_norm"]

#: largest number of multiply-adds of the batched chain products (1,000 points of an
#: 8-wide network with 16 blocks cost 1.4e8: about 6 s here)
RESIDUAL_CENTRE_BUDGET = 250_000_000


def residual_centre_cost(net: Any, n_points: int) -> int:
    """Multiply-adds of the state chain products $\\mathcal D_{k,j}$, all $j < k$, and
    of the Jacobian blocks, for ``n_points`` points."""
    w = list(net.widths)
    N = net.depth
    tot = 0
    for j in range(1, N):
        for k in range(j + 1, N + 1):
            tot += 2 * w[k] * w[k - 1] * w[j]
    return n_points * tot


def residual_centre_fit(net: Any, n_points: int) -> bool:
    """Whether :func:`residual_centre_inputs` is within :data:`RESIDUAL_CENTRE_BUDGET`."""
    return net.depth > 1 and residual_centre_cost(net, n_points) <= RESIDUAL_CENTRE_BUDGET


def _scale_cols(mid: np.ndarray, rad: np.ndarray | None, s: IntervalArray
                ) -> tuple[np.ndarray, np.ndarray]:
    r"""Midpoint-radius enclosure of $X\operatorname{diag}(s)$ for every $X$ in
    ``(mid, rad)`` (``(B, m, n)``) and every $s$ in the interval vectors ``s``
    (``(B, n)``): $|Xs - x_ms_m| \le |x_m|s_r + x_r(|s_m| + s_r)$, plus the rounding of
    $\mathrm{fl}(x_ms_m)$ ($u|\cdot| + \eta$); radii rounded up."""
    sm, sr = to_midrad(s)
    sm, sr = sm[:, None, :], sr[:, None, :]
    out = mid * sm
    r = up(np.abs(mid) * sr)
    if rad is not None:
        r = up(r + up(rad * up(np.abs(sm) + sr)))
    return out, up(r + up(up(np.abs(out) * U) + ETA))


def _row_max(mid: np.ndarray, rad: np.ndarray) -> np.ndarray:
    """Per batch element, an upper bound of the largest row norm."""
    mag = up(np.abs(mid) + rad)
    return up(np.sqrt(sumsq_upper(mag, (2,)))).max(axis=1)


def state_chains(net: Any, X: np.ndarray) -> tuple[Any, list[np.ndarray], dict, dict, dict]:
    r"""The interval forward pass and, batched over the points: the weights, $\sqrt{\|a_{j-1}\|^2
    + 1}$ (``sq[j]``), $t_j\sigma'(z_j)$ (``T[j]``, hidden $j$) and the state chains
    $\mathcal D_{k,j}$, $j < k < N$ (``D[k, j]``, midpoint and radius)."""
    from symlip.models.network import ResidualLayer

    tr = net.interval_trace(X, dsigma=True)
    B, N = X.shape[0], net.depth
    Ws = [np.asarray(layer.weight, dtype=np.float64) for layer in net.layers]
    # sqrt(||a_{j-1}||^2 + 1)
    sq = {j: interval_row_norms(tr.inputs[j - 1], 1.0) for j in range(1, N + 1)}
    T: dict[int, IntervalArray] = {}  # t_j sigma'(z_j), (B, n_j)
    F: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # layer factors da_k/da_{k-1}
    for k in range(1, N):
        d = tr.dsigma[k - 1]
        layer = net.layers[k - 1]
        if isinstance(layer, ResidualLayer):
            d = d * float(layer.step)
        T[k] = d
        if k >= 2:
            fm, fr = _scale_cols(np.swapaxes(np.broadcast_to(Ws[k - 1], (B,) + Ws[k - 1].shape),
                                             1, 2), None, d)
            fm, fr = np.swapaxes(fm, 1, 2), np.swapaxes(fr, 1, 2)  # diag(d) W
            if isinstance(layer, ResidualLayer):
                fm = fm + np.eye(fm.shape[1])
                fr = up(fr + up(np.abs(fm) * U))
            F[k] = (fm, fr)
    # state chains D_{k,j}, j < k < N (D_{j,j} = I)
    D: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for j in range(1, N - 1):
        D[j + 1, j] = F[j + 1]
        for k in range(j + 2, N):
            D[k, j] = _bmm(F[k][0], F[k][1], *D[k - 1, j])
    return tr, Ws, sq, T, D


def residual_centre_inputs(net: Any, X: np.ndarray, chains: Any = None
                           ) -> dict[str, IntervalArray]:
    r"""Per data point (rows of ``X``), certified upper bounds, as interval arrays
    ``[0, bound]``: ``Jz_k`` $\ge \|D_\theta z_k(\bar\theta)\|_2$ ($k \ge 2$), ``Jr_k``
    $\ge \max_i\|\nabla_\theta z_{k,i}\|$ ($2 \le k < N$), ``Ja_k`` $\ge \|D_\theta
    a_k\|_2$ ($k < N$) and ``Ca_k_j`` $\ge \|\partial a_k/\partial a_j\|_2$
    ($1 \le j < k \le N$, $a_N = f$), all at the network's own parameters (module
    docstring).  ``chains``: :func:`state_chains` of the same network and data, if
    already computed."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    tr, Ws, sq, T, D = state_chains(net, X) if chains is None else chains
    B, N = X.shape[0], net.depth
    out: dict[str, np.ndarray] = {}
    for (k, j), (m, r) in D.items():
        out[f"Ca_{k}_{j}"] = batched_norm2_upper(m, r)
    eye = {j: np.broadcast_to(np.eye(net.widths[j]), (B, net.widths[j], net.widths[j]))
           for j in range(1, N)}
    zero = {j: np.zeros((B, net.widths[j], net.widths[j])) for j in range(1, N)}

    def chain(k: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        return (eye[j], zero[j]) if k == j else D[k, j]

    # the column scales sqrt(||a_{j-1}||^2 + 1) t_j sigma'(z_j) of layer j's blocks
    S = {j: T[j] * IntervalArray(np.repeat(sq[j].lo[:, None], T[j].lo.shape[1], 1),
                                 np.repeat(sq[j].hi[:, None], T[j].lo.shape[1], 1))
         for j in T}

    for k in range(1, N + 1):
        W = Ws[k - 1]
        zblocks = []
        for j in range(1, k + 1):
            if j == k:
                s = sq[k]
                bm = np.broadcast_to(np.eye(W.shape[0]), (B, W.shape[0], W.shape[0]))
                zblocks.append(_scale_cols(bm, None, IntervalArray(
                    np.repeat(s.lo[:, None], W.shape[0], 1),
                    np.repeat(s.hi[:, None], W.shape[0], 1))))
                continue
            cm, cr = chain(k - 1, j)
            pm, pr = _bmm(W, None, cm, cr)  # W_k D_{k-1,j} = dz_k/da_j
            if k == N:
                out[f"Ca_{N}_{j}"] = batched_norm2_upper(pm, pr)
            zblocks.append(_scale_cols(pm, pr, S[j]))
        if k >= 2:
            zm = np.concatenate([b[0] for b in zblocks], axis=2)
            zr = np.concatenate([b[1] for b in zblocks], axis=2)
            out[f"Jz_{k}"] = batched_norm2_upper(zm, zr)
            if k < N:
                out[f"Jr_{k}"] = _row_max(zm, zr)
        if k < N:
            ablocks = []
            for j in range(1, k + 1):
                ablocks.append(_scale_cols(*chain(k, j), S[j]))
            am = np.concatenate([b[0] for b in ablocks], axis=2)
            ar = np.concatenate([b[1] for b in ablocks], axis=2)
            out[f"Ja_{k}"] = batched_norm2_upper(am, ar)
    return {key: IntervalArray(np.zeros(B), np.asarray(v, dtype=np.float64))
            for key, v in out.items()}


def residual_gn_norm(net: Any, X: np.ndarray, y: np.ndarray, loss: str, chains: Any = None
                     ) -> float | np.ndarray | None:
    r"""Certified upper bound of $\|\frac1n\sum_iJ_i^TA_iJ_i\|_2$ at the centre for a
    network with residual blocks (Lemma 11's $\mathrm{GN}_c$; $J_i = D_\theta f(x_i)$,
    $A_i = \nabla^2_f\lambda_i = M_iM_i^T$): it equals $\frac1n\lambda_{\max}(K)$ with
    $K = [M_i^TJ_iJ_{i'}^TM_{i'}]_{ii'}$ and
    $J_iJ_{i'}^T = \sum_k(a_{k-1,i}\cdot a_{k-1,i'} + 1)\,\delta_{k,i}\delta_{k,i'}^T$,
    $\delta_{k,i} = \partial f_i/\partial z_k = W_N\mathcal D_{N-1,k}T_k$ ($I$ at $k = N$),
    all in midpoint-radius interval arithmetic on the forward pass's boxes (the seed $M_i^T$
    of :func:`symlip.bounds.gauss_newton._seed`); $\lambda_{\max}(K) \le
    \|\mathrm{sym}(\mathrm{mid})\|_2 + \|\mathrm{rad}\|_F$ plus the asymmetry of the
    midpoint.  Beyond the budgets of the feed-forward one
    (:data:`symlip.bounds.gauss_newton.GN_ELEMENT_BUDGET`, ``GN_MAX_ROWS``), per point
    the norm of its chunk of the data, as
    :func:`symlip.bounds.gauss_newton.centre_gauss_newton_norms`; ``None`` beyond
    :func:`residual_centre_fit` or those chunks' budget, or where an enclosure is not
    finite.  ``chains``:
    :func:`state_chains` of the same network and data, if already computed."""
    from symlip.arith.linalg import from_midrad, midrad_matmul
    from symlip.bounds.centre import frobenius_upper
    from symlip.bounds.gauss_newton import GN_ELEMENT_BUDGET, GN_MAX_ROWS, _seed, gn_cost, spec_top

    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    B, N, nN = X.shape[0], net.depth, net.widths[-1]
    if not residual_centre_fit(net, B):
        return None
    if gn_cost(net, B) > GN_ELEMENT_BUDGET or B * nN > GN_MAX_ROWS:
        return _chunked_gn(net, X, y, loss, chains)
    with np.errstate(over="ignore", invalid="ignore"):
        tr, Ws, _, T, D = state_chains(net, X) if chains is None else chains
        mt = _seed(net, tr.output, y, loss)  # M_i^T, (B, nN, nN)
        m = B * nN
        Km, Kr = np.zeros((m, m)), np.zeros((m, m))
        for k in range(1, N + 1):
            if k == N:
                dm = np.broadcast_to(np.eye(nN), (B, nN, nN))
                dr = None
            else:  # W_N D_{N-1,k} T_k (D_{N-1,N-1} = I)
                pm, pr = ((np.broadcast_to(Ws[N - 1], (B,) + Ws[N - 1].shape), None)
                          if k == N - 1 else _bmm(Ws[N - 1], None, *D[N - 1, k]))
                dm, dr = _scale_cols(pm, pr, T[k])
            em, er = _bmm(mt[0], mt[1], dm, dr)  # M^T delta_k, (B, nN, n_k)
            e2m, e2r = em.reshape(m, -1), er.reshape(m, -1)
            qm, qr = midrad_matmul(e2m, e2r, e2m.T, e2r.T)
            a = tr.inputs[k - 1]
            am, ar = to_midrad(a)
            gm, gr = midrad_matmul(am, ar, am.T, ar.T)
            g = from_midrad(gm, gr) + 1.0
            g = IntervalArray(np.repeat(np.repeat(g.lo, nN, 0), nN, 1),
                              np.repeat(np.repeat(g.hi, nN, 0), nN, 1))
            tm, trad = to_midrad(from_midrad(qm, qr) * g)
            new = Km + tm
            Kr = up(up(Kr + trad) + up(np.abs(new) * U))
            Km = new
        if not (np.all(np.isfinite(Km)) and np.all(np.isfinite(Kr))):
            return None
        sym = 0.5 * (Km + Km.T)
        Kr = up(Kr + up(np.abs(Km - sym)))
        top = up(spec_top(sym) + frobenius_upper(Kr))
        val = float(up(top / B))
    return val if np.isfinite(val) else None


def _slice_chains(chains: Any, idx: np.ndarray) -> Any:
    """The :func:`state_chains` of the points ``idx`` (every batched array sliced)."""
    from symlip.models.network import IntervalTrace

    tr, Ws, sq, T, D = chains
    tr2 = IntervalTrace([a[idx] for a in tr.inputs], [d[idx] for d in tr.dsigma],
                        tr.output[idx])
    return (tr2, Ws, {k: v[idx] for k, v in sq.items()}, {k: v[idx] for k, v in T.items()},
            {k: (m[idx], r[idx]) for k, (m, r) in D.items()})


def _chunked_gn(net: Any, X: np.ndarray, y: np.ndarray, loss: str, chains: Any
                ) -> np.ndarray | None:
    """Per point, the stacked norm of its chunk (the chunks and the argument of
    :func:`symlip.bounds.gauss_newton.centre_gauss_newton_norms`), or ``None``."""
    from symlip.bounds.gauss_newton import chunked_norms, gn_chunks

    if gn_chunks(net, X.shape[0]) is None:
        return None
    chains = state_chains(net, X) if chains is None else chains
    return chunked_norms(net, X.shape[0], lambda idx: residual_gn_norm(
        net, X[idx], np.asarray(y)[idx], loss, _slice_chains(chains, idx)))


def residual_loss_chains(net: Any, X: np.ndarray, y: np.ndarray, loss: str,
                         chains: Any = None, vectors: dict | None = None
                         ) -> dict[str, IntervalArray]:
    r"""Per data point, ``Ba_j`` $\ge \|\bar g^T\partial f/\partial a_j(\bar\theta)\|_2$
    ($1 \le j < N$) as interval arrays ``[0, bound]``, with $\bar g =
    \nabla_f\lambda(f(x;\bar\theta), y)$ the exact centre loss gradient (MSE: $f - y$;
    cross-entropy: $\mathrm{softmax}(f) - e_y$, on the forward pass's output box) and
    $\partial f/\partial a_j = W_N\mathcal D_{N-1,j}$: the row vector $\bar g^TW_N$, then
    its products with the state chains, in midpoint-radius interval arithmetic
    (the directional option of section 8).  ``chains``: :func:`state_chains` of the same
    network and data, if already computed; ``vectors``: if given, filled with the
    enclosures of the vectors themselves, ``j -> (mid, rad)`` of shape ``(B, n_j)``."""
    from symlip.bounds import recursion as rec
    from symlip.bounds.centre import interval_output_gradient

    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    tr, Ws, _, _, D = state_chains(net, X) if chains is None else chains
    B, N = X.shape[0], net.depth
    gm, gr = to_midrad(interval_output_gradient(tr.output, y, rec._loss_name(loss)))
    vm, vr = _bmm(gm[:, None, :], gr[:, None, :], Ws[N - 1], None)  # g^T W_N, (B, 1, n)
    out: dict[str, IntervalArray] = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(1, N):
            pm, pr = (vm, vr) if j == N - 1 else _bmm(vm, vr, *D[N - 1, j])
            if vectors is not None:
                vectors[j] = (pm[:, 0, :], pr[:, 0, :])
            bound = _row_max(pm, pr)
            if not np.all(np.isfinite(bound)):
                bound = np.full(B, np.inf)
            out[f"Ba_{j}"] = IntervalArray(np.zeros(B), np.asarray(bound, dtype=np.float64))
    return out


def sigma2_weighted_norms(net: Any, vectors: dict, boxes: dict[int, IntervalArray]
                          ) -> dict[str, IntervalArray]:
    r"""Per point, ``Bs_j`` $\ge \sup\|\,|\bar g^T\partial f/\partial a_j|\odot S_j\|_2$
    with $S_{j,m} \ge \sup|\sigma''|$ over neuron $m$'s interval of ``boxes[j]`` (the
    pre-activation box of layer $j$ on the ball; interval evaluation of the symbolic
    $\sigma''$, capped by the activation's certified $K_2$, which alone is used where
    there is no NumPy kernel) and ``vectors`` those of :func:`residual_loss_chains`
    (the directional option's per-neuron $\sigma''$ weights, section 8)."""
    from symlip.bounds.sensitivity import second_derivative_abs

    out: dict[str, IntervalArray] = {}
    for j, box in boxes.items():
        S = second_derivative_abs(net.activations[j - 1], box)
        vm, vr = vectors[j]
        mag = up(up(np.abs(vm) + vr) * S)
        bound = up(np.sqrt(sumsq_upper(mag, (1,))))
        out[f"Bs_{j}"] = IntervalArray(np.zeros(mag.shape[0]),
                                       np.where(np.isfinite(bound), bound, np.inf))
    return out
