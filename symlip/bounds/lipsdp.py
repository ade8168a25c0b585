r"""Verified LipSDP: the input-Lipschitz bound of Fazlyab et al. (NeurIPS 2019), certified.

For $f(x) = W_N\phi(W_{N-1}\cdots\phi(W_1x + b_1)\cdots) + b_N$ whose activation after
layer $k$ is *slope-restricted* in $[\alpha_k, \beta_k]$ (every difference quotient of
$\phi$ lies in that interval), and any diagonal $T_k \succeq 0$:

* **incremental quadratic constraint** — per neuron,
  $-2t(\Delta\phi - \alpha\Delta z)(\Delta\phi - \beta\Delta z) \ge 0$, i.e.
  $\begin{bmatrix}\Delta z\\ \Delta\phi\end{bmatrix}^T
  \begin{bmatrix}-2\alpha\beta T & (\alpha + \beta)T\\ (\alpha + \beta)T & -2T\end{bmatrix}
  \begin{bmatrix}\Delta z\\ \Delta\phi\end{bmatrix} \ge 0$;
* **S-procedure** — if the block-tridiagonal matrix $M(\rho, T)$ (the sum of those
  forms with $\Delta z_k = W_k\Delta x_{k-1}$, plus $W_N^TW_N$ on the last block and
  $-\rho I$ on the input block) is $\preceq 0$, then
  $\|f(x) - f(y)\|_2^2 \le \rho\|x - y\|_2^2$, so $\operatorname{Lip}(f) \le \sqrt\rho$.

**What is certified.**  The multipliers come from a floating-point solver (Clarabel's
own sparse API, the LMI split into one PSD cone per pair of consecutive layers by
Agler's theorem for the block-tridiagonal, chordal sparsity pattern), or from the
scalable variant (block-Schur elimination from the output, as in ecLipsE, Syed &
Fazlyab 2024, with the diagonal multipliers refined by L-BFGS on the exact value
$\rho^*(T)$).  None of that is trusted: the multipliers are rounded to doubles,
$\rho$ is inflated, and $-M(\rho, T) \succeq 0$ is *proved* with
:func:`symlip.arith.norms.certify_psd` (a Cholesky factorisation with Higham's rounding-error
bound; the weights enter as the doubles they are, the entries' rounding errors are
bounded by $\gamma_K$).  The certified number is $\sqrt\rho$ rounded up: the formula
``sqrt(rho_LMI)`` evaluated on the certified input ``rho_LMI`` $= [0, \rho]$.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from symlip.arith.enclosure import Enclosure
from symlip.bounds.registry import Context
from symlip.bounds.result import BoundResult
from symlip.errors import InputError, SymlipError
from symlip.symbolic.derivation import Derivation, Tex
from symlip.symbolic.formula import Formula

__all__ = [
    "LipSDPError",
    "lipsdp_lipschitz",
    "lipsdp_formula",
    "lipsdp_derivation",
    "certified_input_lipschitz",
    "prove_lipsdp",
    "slope_bounds",
    "VARIANTS",
]

#: the variants: ``neuron`` (one multiplier per neuron), ``layer`` (one per layer), both
#: solved with Clarabel; ``schur`` the scalable variant (no conic solver)
VARIANTS = ("neuron", "layer", "schur")

#: largest sum over the PSD cones of svec(size)^2 for which ``auto`` uses Clarabel (the
#: interior-point KKT system holds a dense svec x svec block per cone: a 64+50 cone alone
#: took > 5 minutes and 3.5 GB here); larger networks get the scalable variant
CLARABEL_BUDGET = 2.0e6

RHO = sp.Symbol("rho_LMI", nonnegative=True)


class LipSDPError(SymlipError):
    """The LipSDP bound cannot be computed or proved for this network."""


# ------------------------------------------------------------------------------------
# slope bounds of the activations
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slopes:
    """Certified slope restriction $[\\alpha, \\beta]$ of an activation, as doubles:
    ``alpha`` rounded down, ``beta`` rounded up (a wider interval stays valid)."""

    alpha: float
    beta: float
    alpha_exact: Any = None
    how: str = ""


def slope_bounds(act: Any) -> Slopes:
    r"""$[\alpha, \beta]$ with $\alpha \le \phi'(x) \le \beta$ on every piece of $\phi$.

    $\beta = K_1$ (the certified $\sup|\phi'|$, rounded up).  $\alpha$ is the certified
    infimum of $\phi'$ from :func:`symlip.activations.constants.derive_slope_bounds`
    ($\inf\phi' = c - \sup|\phi' - c|$ for any $c \ge \sup\phi'$), rounded down.  A
    continuous, piecewise-$C^1$ $\phi$ with $\alpha \le \phi' \le \beta$ on each piece has
    every difference quotient in $[\alpha, \beta]$ (mean value theorem piece by piece).
    Activations without a SymPy expression (linear splines) get $[-K_1, K_1]$.

    Raises:
        LipSDPError: $\phi$ is not Lipschitz ($K_1 = \infty$).
    """
    K1 = act.constants.K1
    if not K1.is_finite:
        raise LipSDPError(f"activation {getattr(act, 'name', act)!r} is not Lipschitz "
                          f"(K1 = inf: {K1.reason}); LipSDP needs a slope restriction")
    beta = K1.enclosure.upper_float
    try:
        from symlip.activations.constants import derive_slope_bounds

        lo = derive_slope_bounds(act)
        return Slopes(max(lo.enclosure.lower_float, -beta), beta, lo.exact, lo.where)
    except (AttributeError, ValueError, NotImplementedError, TypeError):
        return Slopes(-beta, beta, None, "|phi'| <= K1")


# ------------------------------------------------------------------------------------
# the network as a chain of blocks
# ------------------------------------------------------------------------------------


@dataclass
class Chain:
    """Weights and slope bounds of a feed-forward network, the data of the LMI."""

    Ws: list[np.ndarray]
    alpha: list[float]
    beta: list[float]

    @property
    def sizes(self) -> list[int]:
        return [W.shape[1] for W in self.Ws]  # n_0 .. n_{N-1}

    @property
    def hidden(self) -> list[int]:
        return self.sizes[1:]

    @property
    def n_vars(self) -> int:
        return sum(self.hidden)

    def split(self, t: np.ndarray) -> list[np.ndarray]:
        out, i = [], 0
        for n in self.hidden:
            out.append(t[i:i + n])
            i += n
        return out


def chain_of(net: Any) -> Chain:
    """The :class:`Chain` of a network; residual networks are refused."""
    if getattr(net, "has_residual", False):
        raise LipSDPError("LipSDP is implemented for feed-forward (dense) networks; this "
                          "network has residual layers: use the product bound")
    if net.depth < 2:
        raise LipSDPError(f"a network of depth {net.depth} has no activation; its Lipschitz "
                          "constant is ||W||_2 (the product bound is exact)")
    al, be = [], []
    for act in net.activations:
        s = slope_bounds(act)
        al.append(s.alpha)
        be.append(s.beta)
    return Chain([np.asarray(W, dtype=np.float64) for W in net.weights], al, be)


# ------------------------------------------------------------------------------------
# the LMI: assembly (with rounding bounds) and the proof
# ------------------------------------------------------------------------------------


def assemble(ch: Chain, rho: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    r"""$\hat H \approx -M(\rho, T)$, the entrywise magnitude matrix $E$ (the same sums
    with every factor replaced by its absolute value) and $K$ with
    $|H - \hat H| \le \gamma_K E_{exact} \le \gamma_K/(1 - \gamma_K)\,E$ entrywise (plus
    underflow terms).

    Blocks ($a_k = \alpha_k\beta_k$, $T_k = \operatorname{diag}(t_k)$):
    $H_{00} = \rho I + 2a_1W_1^TT_1W_1$, $H_{kk} = 2T_k + 2a_{k+1}W_{k+1}^TT_{k+1}W_{k+1}$,
    $H_{N-1,N-1} = 2T_{N-1} - W_N^TW_N$, $H_{k-1,k} = -(\alpha_k + \beta_k)W_k^TT_k$.
    Each entry is a sum of at most $m = \max_k n_k + 3$ products of at most 6 factors
    (Higham Lemma 3.1/3.3: any order, FMA allowed) and the symmetrising average, so
    $K = m + 6$ covers it; $E$'s own rounding: exact $\le fl(E)/(1 - \gamma_K)$.
    """
    sizes = ch.sizes
    off = np.concatenate([[0], np.cumsum(sizes)])
    n = int(off[-1])
    H = np.zeros((n, n))
    E = np.zeros((n, n))
    ts = ch.split(np.asarray(t, dtype=np.float64))
    nH = len(ch.hidden)
    H[: sizes[0], : sizes[0]][np.diag_indices(sizes[0])] = rho
    E[: sizes[0], : sizes[0]][np.diag_indices(sizes[0])] = abs(rho)
    for k in range(1, nH + 1):
        W, tk = ch.Ws[k - 1], ts[k - 1]
        a, b = ch.alpha[k - 1], ch.beta[k - 1]
        bp, bk = slice(off[k - 1], off[k]), slice(off[k], off[k + 1])
        if a * b != 0.0:
            s = 2.0 * a * b * tk
            H[bp, bp] += W.T @ (s[:, None] * W)
            aW = np.abs(W)
            E[bp, bp] += aW.T @ (np.abs(s)[:, None] * aW)
        c = -(a + b) * tk
        H[bp, bk] = W.T * c[None, :]
        H[bk, bp] = H[bp, bk].T
        E[bp, bk] = np.abs(W.T) * np.abs(c)[None, :]
        E[bk, bp] = E[bp, bk].T
        H[bk, bk][np.diag_indices(len(tk))] += 2.0 * tk
        E[bk, bk][np.diag_indices(len(tk))] += 2.0 * np.abs(tk)
    WN = ch.Ws[-1]
    last = slice(off[nH], off[nH + 1])
    H[last, last] -= WN.T @ WN
    E[last, last] += np.abs(WN).T @ np.abs(WN)
    H = (H + H.T) / 2  # exact: the two triangles are the same float sums (symmetrised)
    m = max(max(sizes), WN.shape[0]) + 3
    return H, E, m + 6


def prove_lipsdp(ch: Chain, rho: float, t: np.ndarray) -> Any:
    """Prove $-M(\\rho, T) \\succeq 0$ for the doubles ``rho``, ``t`` (``t >= 0``):
    a :class:`symlip.arith.norms.PSDProof`; ``holds`` means $\\operatorname{Lip}(f) \\le
    \\sqrt{\\rho}$."""
    from symlip.arith.norms import _ETA, _gamma, certify_psd

    t = np.asarray(t, dtype=np.float64)
    if t.shape != (ch.n_vars,) or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise InputError(f"multipliers must be {ch.n_vars} finite numbers >= 0")
    if not (math.isfinite(rho) and rho > 0):
        raise InputError(f"{rho=} must be a finite number > 0")
    H, E, K = assemble(ch, rho, t)
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(E))):
        from symlip.arith.norms import PSDProof

        return PSDProof(False, reason="the LMI matrix overflows float64")
    g = _gamma(K)
    # exact |.|-sums <= fl(E) / (1 - gamma_K) (nonnegative terms), so the factor is
    # gamma_K / (1 - gamma_K)
    return certify_psd(H, E, g / (1 - g), err_abs=Fraction(4 * K) * _ETA)


# ------------------------------------------------------------------------------------
# the floating-point SDP (Clarabel, clique decomposition)
# ------------------------------------------------------------------------------------


def _svec(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    return hi * (hi + 1) // 2 + lo, np.where(lo == hi, 1.0, math.sqrt(2.0))


def clarabel_cost(ch: Chain) -> float:
    """Sum over the clique cones of svec(size)^2 (what the KKT system stores densely)."""
    s = ch.sizes
    return float(sum(((s[k - 1] + s[k]) * (s[k - 1] + s[k] + 1) / 2) ** 2
                     for k in range(1, len(s))))


def solve_clarabel(ch: Chain, variant: str = "neuron") -> tuple[float, np.ndarray, dict]:
    r"""Float solution $(\hat\rho, \hat t)$ of LipSDP-Neuron / -Layer with Clarabel.

    The LMI $-M \succeq 0$ has the block-tridiagonal (chordal) pattern with cliques
    $\{k-1, k\}$; by Agler's theorem it holds iff $-M = \sum_k E_k^TZ_kE_k$ with
    $Z_k \succeq 0$: one PSD cone of size $n_{k-1} + n_k$ per clique, with free
    symmetric $X_k$ splitting the shared diagonal block $H_{kk}$ between cliques $k$ and
    $k+1$.  The problem goes to Clarabel in its standard form
    $\min q^Tx$, $Ax + s = b$, $s \in \mathbb{R}_+^{n_t} \times \prod_k
    \mathcal{S}_+^{n_{k-1}+n_k}$ (upper triangles, column-major, off-diagonals
    $\times\sqrt2$), assembled as sparse triplets: nothing dense of the LMI's size.
    """
    import clarabel
    import scipy.sparse as sps

    sizes, hidden = ch.sizes, ch.hidden
    nH = len(hidden)
    # variables: rho | t (neurons or layers) | svec(X_k), k = 1..nH-1
    nt = ch.n_vars if variant == "neuron" else nH
    xoff = [1 + nt]
    for k in range(1, nH):
        xoff.append(xoff[-1] + hidden[k - 1] * (hidden[k - 1] + 1) // 2)
    nvar = xoff[-1]
    tcol = []
    c0 = 1
    for k, nk in enumerate(hidden):
        tcol.append(c0 + np.arange(nk) if variant == "neuron" else np.full(nk, 1 + k))
        c0 += nk
    rows, cols, vals = [np.arange(nt)], [1 + np.arange(nt)], [-np.ones(nt)]  # t >= 0
    b_parts = [np.zeros(nt)]
    cone_off = nt
    cones = [clarabel.NonnegativeConeT(nt)]

    def put(i: Any, j: Any, col: Any, v: Any) -> None:
        # the cone slack is s = b - A x: a term +v x_col in Z_k enters A as -v
        i, j, col, v = (np.broadcast_arrays(np.asarray(i), np.asarray(j), np.asarray(col),
                                            np.asarray(v, dtype=float)))
        idx, sc = _svec(i.ravel(), j.ravel())
        rows.append(cone_off + idx)
        cols.append(col.ravel())
        vals.append(-sc * v.ravel())

    for k in range(1, nH + 1):
        p, q = sizes[k - 1], sizes[k]
        dim = p + q
        bvec = np.zeros(dim * (dim + 1) // 2)
        W = ch.Ws[k - 1]
        a, bb = ch.alpha[k - 1], ch.beta[k - 1]
        tc = tcol[k - 1]
        if k == 1:
            put(np.arange(p), np.arange(p), 0, 1.0)  # rho I
        else:  # 2 T_{k-1} - X_{k-1} on the top-left block
            put(np.arange(p), np.arange(p), tcol[k - 2], 2.0)
            iu, ju = np.triu_indices(p)
            put(iu, ju, xoff[k - 2] + np.arange(len(iu)), -1.0)
        if a * bb != 0.0:  # 2ab W^T T W on the top-left block, per neuron
            iu, ju = np.triu_indices(p)
            put(iu[None, :], ju[None, :], tc[:, None], 2 * a * bb * W[:, iu] * W[:, ju])
        # off-diagonal -(a+b) W^T T: entry (r, p + i) = -(a+b) W[i, r] t_i
        ii, rr = np.nonzero(W)
        put(rr, p + ii, tc[ii], -(a + bb) * W[ii, rr])
        if k < nH:  # X_k on the bottom-right block
            iu, ju = np.triu_indices(q)
            put(p + iu, p + ju, xoff[k - 1] + np.arange(len(iu)), 1.0)
        else:  # 2 T - W_N^T W_N
            put(p + np.arange(q), p + np.arange(q), tc, 2.0)
            G = ch.Ws[-1].T @ ch.Ws[-1]
            iu, ju = np.triu_indices(q)
            idx, sc = _svec(p + iu, p + ju)
            bvec[idx] = -sc * G[iu, ju]
        b_parts.append(bvec)
        cones.append(clarabel.PSDTriangleConeT(dim))
        cone_off += len(bvec)
    A = sps.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(cone_off, nvar))
    b = np.concatenate(b_parts)
    P = sps.csc_matrix((nvar, nvar))
    qv = np.zeros(nvar)
    qv[0] = 1.0
    st = clarabel.DefaultSettings()
    st.verbose = False
    st.chordal_decomposition_enable = False  # decomposed above
    st.max_threads = 1
    t0 = time.perf_counter()
    sol = clarabel.DefaultSolver(P, qv, A, b, cones, st).solve()
    info = {"status": str(sol.status), "solve_time": time.perf_counter() - t0,
            "iterations": int(sol.iterations)}
    x = np.asarray(sol.x, dtype=float)
    if "Solved" not in info["status"] or not np.all(np.isfinite(x)):
        raise LipSDPError(f"Clarabel did not solve the LipSDP problem (status "
                          f"{info['status']})")
    tl = x[1:1 + nt]
    t = np.maximum(tl if variant == "neuron" else np.concatenate(
        [np.full(n, tl[k]) for k, n in enumerate(hidden)]), 0.0)
    return float(x[0]), t, info


# ------------------------------------------------------------------------------------
# the scalable variant: block-Schur elimination from the output
# ------------------------------------------------------------------------------------


def rho_star(ch: Chain, t: np.ndarray, grad: bool = False, mu: float = 0.0
             ) -> tuple[float, np.ndarray | None]:
    r"""$\rho^*(T) = \min\{\rho : -M(\rho, T) \succeq 0\}$ by block elimination (float).

    $S_{N-1} = 2T_{N-1} - Y_{N-1}$, $Y_{N-1} = W_N^TW_N$;
    $Y_{k-1} = W_k^T((\alpha_k + \beta_k)^2T_kS_k^{-1}T_k - 2\alpha_k\beta_kT_k)W_k$,
    $S_{k-1} = 2T_{k-1} - Y_{k-1}$; $-M \succeq 0$ iff every $S_k \succ 0$ and
    $\rho \ge \lambda_{\max}(Y_0)$ (Schur complements).  $+\infty$ if some $S_k$ is not
    positive definite.  With ``grad``: $\partial\lambda_j/\partial t_i =
    -2(z_{k,i} - \alpha u_i)(z_{k,i} - \beta u_i)$, $u = W_kz_{k-1}$, $z_0$ the eigenvector
    $v_j$ of $Y_0$, $z_k = (\alpha_k + \beta_k)S_k^{-1}T_kW_kz_{k-1}$ (envelope theorem);
    with ``mu > 0`` the value and gradient are those of the smooth maximum
    $\mu\log\sum_j e^{\lambda_j/\mu} \in [\lambda_{\max}, \lambda_{\max} + \mu\log n_0]$.
    """
    ts = ch.split(t)
    nH = len(ts)
    Y = ch.Ws[-1].T @ ch.Ws[-1]
    chols: list[Any] = [None] * nH
    for k in range(nH, 0, -1):
        tk = ts[k - 1]
        S = -Y
        S[np.diag_indices(len(tk))] += 2.0 * tk
        try:
            C = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            return math.inf, None
        a, b = ch.alpha[k - 1], ch.beta[k - 1]
        W = ch.Ws[k - 1]
        # Q_k = -(a+b) W^T T ; Q S^{-1} Q^T = (a+b)^2 (C^{-1} T W)^T (C^{-1} T W)
        G = np.linalg.solve(C, tk[:, None] * W)  # C^{-1} T W
        chols[k - 1] = C
        Y = (a + b) ** 2 * (G.T @ G)
        if a * b != 0.0:
            Y -= 2 * a * b * (W.T @ (tk[:, None] * W))
    lam, V = np.linalg.eigh((Y + Y.T) / 2)
    top = float(lam[-1])
    if mu > 0:
        w = np.exp((lam - top) / mu)
        keep = w > 1e-12 * w.sum()
        val = top + mu * math.log(float(w.sum()))
        w, Z = w[keep] / w.sum(), V[:, keep]
    else:
        val, w, Z = top, np.ones(1), V[:, -1:]
    if not grad:
        return val, None
    g = []
    for k in range(1, nH + 1):
        tk, W, C = ts[k - 1], ch.Ws[k - 1], chols[k - 1]
        a, b = ch.alpha[k - 1], ch.beta[k - 1]
        U = W @ Z
        Zk = (a + b) * np.linalg.solve(C.T, np.linalg.solve(C, tk[:, None] * U))
        g.append(-2.0 * (((Zk - a * U) * (Zk - b * U)) @ w))
        Z = Zk
    return val, np.concatenate(g)


def _schur_init(ch: Chain) -> np.ndarray:
    """Feasible diagonal multipliers, layer by layer from the output: $T_k = s\\mu D$ with
    $D = \\operatorname{diag}(Y_k)$, $\\mu = \\lambda_{\\max}(D^{-1/2}Y_kD^{-1/2})$ (so
    $2T_k - Y_k \\succ 0$ for $s > 1/2$), $s$ minimising $\\lambda_{\\max}(Y_{k-1})$."""
    nH = len(ch.hidden)
    Y = ch.Ws[-1].T @ ch.Ws[-1]
    out: list[np.ndarray] = [None] * nH  # type: ignore[list-item]
    for k in range(nH, 0, -1):
        dY = np.maximum(np.diag(Y), 1e-12 * max(float(np.max(np.abs(Y))), 1e-300))
        r = 1 / np.sqrt(dY)
        mu = float(np.linalg.eigvalsh(r[:, None] * Y * r[None, :])[-1])
        mu = max(mu, 1e-12)
        W = ch.Ws[k - 1]
        a, b = ch.alpha[k - 1], ch.beta[k - 1]

        def nxt(s: float, mu: float = mu, dY: np.ndarray = dY, W: np.ndarray = W,
                a: float = a, b: float = b, Y: np.ndarray = Y) -> tuple[float, Any, Any]:
            tk = s * mu * dY
            S = -Y
            S[np.diag_indices(len(tk))] += 2.0 * tk
            try:
                C = np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                return math.inf, None, None
            G = np.linalg.solve(C, tk[:, None] * W)
            Yn = (a + b) ** 2 * (G.T @ G)
            if a * b != 0.0:
                Yn -= 2 * a * b * (W.T @ (tk[:, None] * W))
            Yn = (Yn + Yn.T) / 2
            # the largest eigenvalue by a few power steps (an estimate is enough here)
            return float(np.linalg.eigvalsh(Yn)[-1]) if Yn.shape[0] <= 400 else \
                _top_eig(Yn), tk, Yn

        lo, hi = math.log(0.5 + 1e-6), math.log(8.0)
        gr = (math.sqrt(5) - 1) / 2
        x1, x2 = hi - gr * (hi - lo), lo + gr * (hi - lo)
        f1, f2 = nxt(math.exp(x1))[0], nxt(math.exp(x2))[0]
        for _ in range(14):
            if f1 <= f2:
                hi, x2, f2 = x2, x1, f1
                x1 = hi - gr * (hi - lo)
                f1 = nxt(math.exp(x1))[0]
            else:
                lo, x1, f1 = x1, x2, f2
                x2 = lo + gr * (hi - lo)
                f2 = nxt(math.exp(x2))[0]
        _, tk, Yn = nxt(math.exp((lo + hi) / 2))
        if tk is None:  # pragma: no cover - s > 1/2 keeps S positive definite
            _, tk, Yn = nxt(1.0)
        out[k - 1] = tk
        Y = Yn
    return np.concatenate(out)


def _top_eig(Y: np.ndarray) -> float:
    from scipy.sparse.linalg import eigsh

    try:
        return float(eigsh(Y, k=1, which="LA", return_eigenvectors=False, tol=1e-6)[0])
    except Exception:  # noqa: BLE001 - ARPACK did not converge: the exact way
        return float(np.linalg.eigvalsh(Y)[-1])


def solve_schur(ch: Chain, max_iter: int = 200, time_limit: float = 120.0
                ) -> tuple[float, np.ndarray, dict]:
    """The scalable variant: :func:`_schur_init`, then L-BFGS-B on $\\log t \\mapsto
    \\log\\rho^*(e^{\\log t})$ with the envelope gradient (no conic solver; memory
    $O(\\sum_k n_kn_{k-1})$)."""
    from scipy.optimize import minimize

    t0 = time.perf_counter()
    t_init = _schur_init(ch)
    rho0, _ = rho_star(ch, t_init)
    if not math.isfinite(rho0):  # pragma: no cover
        raise LipSDPError("the layer-by-layer initialisation is not feasible")
    best = [rho0, t_init.copy()]
    floor = np.log(np.maximum(t_init, 1e-300)) - 40.0

    class _Stop(Exception):
        pass

    def stage(x0: np.ndarray, mu: float) -> np.ndarray:
        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            t = np.exp(x)
            r, g = rho_star(ch, t, grad=True, mu=mu)
            if not math.isfinite(r) or r <= 0 or g is None:
                # infeasible (some S_k not positive definite): a high, sloped value that
                # sends the line search back towards larger multipliers
                return 1e3, -1e3 * np.ones_like(x)
            if mu == 0.0 and r < best[0]:
                best[0], best[1] = r, t.copy()
            elif mu > 0.0:
                r0, _ = rho_star(ch, t)
                if r0 < best[0]:
                    best[0], best[1] = r0, t.copy()
            return math.log(r), g * t / r

        def cb(_: Any) -> None:
            if time.perf_counter() - t0 > time_limit:
                raise _Stop

        res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                       bounds=list(zip(floor, np.full(len(floor), np.inf))), callback=cb,
                       options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-10})
        return res.x

    try:  # each stage restarts from the best point so far (best is updated by cb)
        for rel in (1e-2, 1e-4, 0.0):
            stage(np.log(best[1]), rel * best[0])
    except _Stop:
        pass
    return float(best[0]), best[1], {"init_rho": rho0, "solve_time":
                                     time.perf_counter() - t0}


# ------------------------------------------------------------------------------------
# from float multipliers to a proof
# ------------------------------------------------------------------------------------


def verify_multipliers(ch: Chain, rho_hat: float, t_hat: np.ndarray,
                       anchor: tuple[float, np.ndarray] | None = None
                       ) -> tuple[float, np.ndarray, Any]:
    r"""Doubles $(\rho, t)$ near $(\hat\rho, \hat t)$ with $-M(\rho, T) \succeq 0$ proved.

    Inflate $\rho$ (factors $1 + 10^{-9} \dots 10^{-2}$); if the proof still fails,
    move the multipliers towards a strictly feasible ``anchor`` (the Schur point):
    $M$ is affine in $(\rho, t)$, so $(1 - \theta)(\hat\rho, \hat t) + \theta\cdot
    \text{anchor}$ is strictly feasible for every $\theta > 0$ when $\hat t$ is feasible
    up to the solver's tolerance.

    Raises:
        LipSDPError: no candidate could be proved (never a wrong number).
    """
    t_hat = np.maximum(np.asarray(t_hat, dtype=np.float64), 0.0)
    last = None
    cands: list[tuple[float, np.ndarray]] = []
    for f in (1e-9, 1e-7, 1e-5, 1e-3, 1e-2):
        cands.append((rho_hat * (1 + f), t_hat))
    if anchor is not None:
        ra, ta = anchor
        for th in (1e-6, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0):
            rho = (1 - th) * rho_hat + th * ra
            t = (1 - th) * t_hat + th * ta
            for f in (1e-7, 1e-4, 1e-2):
                cands.append((rho * (1 + f), t))
    for rho, t in cands:
        rho = float(np.nextafter(rho, np.inf))
        pr = prove_lipsdp(ch, rho, t)
        if pr.holds:
            return rho, t, pr
        last = pr
    raise LipSDPError("the LMI could not be proved negative semidefinite for the solver's "
                      f"multipliers ({last.reason if last else 'no candidate'})")


# ------------------------------------------------------------------------------------
# formula, derivation, result
# ------------------------------------------------------------------------------------


def lipsdp_formula(name: str = "L_x") -> Formula:
    r"""$\operatorname{Lip}(f) \le \sqrt{\rho_{LMI}}$, $\rho_{LMI}$ a certified input (the
    proved LMI's $\rho$)."""
    return Formula(sp.sqrt(RHO), [RHO], name=name)


def lipsdp_derivation(depth: int) -> Derivation:
    """The derivation: incremental quadratic constraint, S-procedure, the bound."""
    dz, dphi, a, b, t = sp.symbols(r"\Delta{}z \Delta\phi alpha beta t", real=True)
    d = Derivation(f"LipSDP input-Lipschitz bound of a depth-{depth} network (l2 norms)")
    d.assume(r"$f = A_N \circ \phi \circ A_{N-1} \circ \cdots \circ \phi \circ A_1$, "
             r"$A_k(u) = W_ku + b_k$; after layer $k$, $\phi$ is slope-restricted: "
             r"$\alpha_k \le (\phi(u) - \phi(v))/(u - v) \le \beta_k$ (certified "
             r"$\alpha_k \le \inf\phi'$, $\beta_k \ge \sup\phi'$)")
    qc = -2 * t * (dphi - a * dz) * (dphi - b * dz)
    Q = sp.Matrix([[-2 * a * b * t, (a + b) * t], [(a + b) * t, -2 * t]])
    v = sp.Matrix([dz, dphi])
    d.step(qc, ">=", 0, "slope restriction: $\\Delta\\phi$ lies between $\\alpha\\Delta z$ "
           "and $\\beta\\Delta z$, so the two factors have opposite signs; $t \\ge 0$")
    d.then("=", sp.expand((v.T * Q * v)[0]), "expanded")
    d.step(sp.expand(qc), "=", sp.MatMul(v.T, Q, v, evaluate=False),
           "incremental quadratic constraint, per neuron (Fazlyab et al. 2019, Lemma 1)")
    rho = RHO
    dx, df = sp.symbols(r"\|\Delta{}x\|_2 \|\Delta{}f\|_2", nonnegative=True)
    qsum = sp.Symbol(r"\sum_{k,i}q_{k,i}", real=True)
    d.step(df ** 2 - rho * dx ** 2 + qsum, "=", Tex(r"\Delta^T M(\rho_{LMI}, T)\,\Delta"),
           r"$\Delta = (\Delta x_0, \ldots, \Delta x_{N-1})$, $\Delta z_k = W_k\Delta x_{k-1}$ "
           r"(biases cancel), $\Delta f = W_N\Delta x_{N-1}$; $M$ block-tridiagonal")
    d.then("<=", 0, r"$M(\rho_{LMI}, T) \preceq 0$, proved: certified Cholesky of $-M$ with "
                    r"Higham's rounding-error bound (symlip.arith.norms.certify_psd)")
    d.step(df ** 2, "<=", rho * dx ** 2 - qsum, "rearranged")
    d.then("<=", rho * dx ** 2, "S-procedure: every $q_{k,i} \\ge 0$ (the constraint above)")
    f = lipsdp_formula()
    d.step(Tex(r"\operatorname{Lip}(f)"), "<=", f.expr, "square root (monotone)")
    d.conclude(r"The certified bound is $\sqrt{\rho_{LMI}}$ rounded up, $\rho_{LMI}$ the "
               r"double for which the LMI was proved (Fazlyab et al., NeurIPS 2019, Thm 2).")
    return d


def auto_variant(ch: Chain) -> str:
    """``neuron`` when clarabel is importable and the clique cones fit the budget,
    else ``schur``."""
    try:
        import clarabel  # noqa: F401
    except ImportError:
        return "schur"
    return "neuron" if clarabel_cost(ch) <= CLARABEL_BUDGET else "schur"


@dataclass
class LipSDPRun:
    """Everything one LipSDP computation produced (floats are *not* certified)."""

    variant: str
    rho: float  # the proved double
    t: np.ndarray
    float_rho: float
    seconds: float
    info: dict = field(default_factory=dict)


def run_lipsdp(net: Any, variant: str = "auto") -> LipSDPRun:
    """Solve (``variant``) and prove; :class:`LipSDPRun` with the proved ``rho``."""
    if variant not in ("auto", *VARIANTS):
        raise InputError(f"LipSDP variant {variant!r} is unknown; expected one of "
                         f"{('auto', *VARIANTS)}")
    try:
        import scipy  # noqa: F401  (every variant: sparse LMI blocks, eigsh, L-BFGS)
    except ImportError:
        raise LipSDPError("LipSDP needs scipy and clarabel (pip install scipy clarabel)"
                          ) from None
    t0 = time.perf_counter()
    ch = chain_of(net)
    v = auto_variant(ch) if variant == "auto" else variant
    if v in ("neuron", "layer"):
        try:
            import clarabel  # noqa: F401
        except ImportError:
            raise LipSDPError("the neuron/layer variants need clarabel (a dependency of "
                              "symlip): pip install clarabel") from None
        rho_hat, t_hat, info = solve_clarabel(ch, v)
        try:
            rho, t, pr = verify_multipliers(ch, rho_hat, t_hat)
        except LipSDPError:
            rs, ts, _ = _anchor(ch)
            rho, t, pr = verify_multipliers(ch, rho_hat, t_hat, anchor=(rs, ts))
    else:
        rho_hat, t_hat, info = solve_schur(ch)
        rho, t, pr = verify_multipliers(ch, rho_hat, t_hat)
    info = {**info, "margin": float(pr.margin), "delta": pr.delta}
    return LipSDPRun(v, rho, t, rho_hat, time.perf_counter() - t0, info)


def _anchor(ch: Chain) -> tuple[float, np.ndarray, None]:
    t = _schur_init(ch) * 1.01
    r, _ = rho_star(ch, t)
    return r * 1.01, t, None


def lipsdp_lipschitz(net: Any, data: np.ndarray | None = None, *, variant: str = "auto",
                     seed: int = 0, lower: bool = True) -> BoundResult:
    r"""Certified LipSDP bound $\operatorname{Lip}(f) \le \sqrt{\rho}$ (l2 norms).

    Args:
        net: a feed-forward :class:`~symlip.models.network.Network` (no residual layers).
        data: points for the lower bounds (as :func:`symlip.input_lipschitz`).
        variant: ``"neuron"``, ``"layer"`` (Clarabel), ``"schur"`` (scalable, no conic
            solver) or ``"auto"`` (neuron when it fits :data:`CLARABEL_BUDGET`).

    Returns:
        :class:`~symlip.bounds.result.BoundResult` (``quantity="input_lipschitz"``); its
        ``upper`` is $\sqrt\rho$ rounded up with $-M(\rho, T) \succeq 0$ proved;
        ``extra`` names the variant and gives the float SDP value (not certified).

    Raises:
        LipSDPError: residual layers, a non-Lipschitz activation, a solver failure or a
            proof that does not go through.
    """
    from symlip.bounds.input import _check_data

    data = _check_data(net, data)
    run = run_lipsdp(net, variant)
    return _result(net, run, data, seed, lower)


def _result(net: Any, run: LipSDPRun, data: Any, seed: int, lower: bool) -> BoundResult:
    from symlip.bounds.input import certify_input_lower, estimate_input_lower

    formula = lipsdp_formula()
    inputs = {str(RHO): Enclosure.from_floats(0.0, run.rho)}
    enc = formula.enclose(inputs)
    estimate = lower_enc = witness = None
    if lower:
        estimate, xb, vb = estimate_input_lower(net, data, seed=seed)
        lower_enc, witness = certify_input_lower(net, xb, vb)
    extra = {"method": "lipsdp", "lipsdp_variant": run.variant,
             "lipsdp_float": math.sqrt(run.float_rho) if run.float_rho > 0 else None,
             "lipsdp_seconds": run.seconds}
    return BoundResult(quantity="input_lipschitz", norm="l2", enclosure=enc,
                       formula=formula, inputs=inputs, derivation=lipsdp_derivation(net.depth),
                       lower_enclosure=lower_enc, estimate=estimate, extra=extra,
                       witness=witness)


def multipliers_record(run: LipSDPRun) -> dict[str, Any]:
    """The JSON record of the proved multipliers (doubles as exact hex strings)."""
    return {"variant": run.variant, "rho": float(run.rho).hex(),
            "t": [float(x).hex() for x in run.t]}


def _read_record(rec: Any) -> tuple[float, np.ndarray]:
    v = rec.get("variant") if isinstance(rec, dict) else None
    if v not in VARIANTS:
        raise InputError(f"the LipSDP multipliers record names variant {v!r}; expected one "
                         f"of {list(VARIANTS)}")
    try:
        rho = float.fromhex(rec["rho"])
        t = np.array([float.fromhex(x) for x in rec["t"]], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"the LipSDP multipliers record is malformed: {exc}") from None
    return rho, t


# ------------------------------------------------------------------------------------
# the tightest certified input bound: product, LipSDP, ...
# ------------------------------------------------------------------------------------

METHODS = ("auto", "product", "lipsdp", "all")


def certified_input_lipschitz(net: Any, data: np.ndarray | None = None, *,
                              method: str = "auto", variant: str = "auto",
                              input_radius: float | None = None, seed: int = 0,
                              lower: bool = True, local_preact: str = "linear"
                              ) -> BoundResult:
    """The tightest certified global input bound over the chosen methods.

    ``method``: ``"product"`` (layer norms), ``"lipsdp"`` (verified LipSDP), ``"all"``
    or ``"auto"`` (both when LipSDP applies, i.e. clarabel or the scalable variant and a
    dense network; else the product with a note).  ``input_radius`` and ``local_preact``
    add the local bound as in :func:`~symlip.bounds.input.input_lipschitz`.
    ``extra["methods"]`` gives each
    method's certified value and time; the result (formula, inputs, certificate) is the
    winning method's.
    """
    from symlip.bounds.input import input_lipschitz

    if method not in METHODS:
        raise InputError(f"input method {method!r} is unknown; expected one of {METHODS}")
    t0 = time.perf_counter()
    prod = input_lipschitz(net, data, input_radius=input_radius, seed=seed, lower=lower,
                           local_preact=local_preact)
    methods: dict[str, Any] = {"product": {"upper": prod.enclosure.upper_str(),
                                           "seconds": time.perf_counter() - t0}}
    best = prod
    notes = []
    if method in ("lipsdp", "all", "auto"):
        try:
            run = run_lipsdp(net, variant)
        except LipSDPError as exc:
            if method == "lipsdp":
                raise
            notes.append(f"lipsdp not used: {exc}")
        else:
            res = _result(net, run, None, seed, lower=False)
            res.lower_enclosure, res.estimate, res.witness = (prod.lower_enclosure,
                                                              prod.estimate, prod.witness)
            methods["lipsdp"] = {"upper": res.enclosure.upper_str(), "seconds": run.seconds,
                                 "variant": run.variant,
                                 "float": res.extra["lipsdp_float"]}
            res.extra["multipliers"] = multipliers_record(run)
            if method == "lipsdp" or res.enclosure.upper < prod.enclosure.upper:
                best = res
    best.extra["methods"] = methods
    best.extra["method"] = "lipsdp" if best is not prod else "product"
    for k in ("input_radius", "local_upper", "local_preact", "dominant_layer"):
        if k in prod.extra:
            best.extra[k] = prod.extra[k]
    if not best.per_layer:  # the product's per-layer factors (what each layer contributes)
        best.per_layer = prod.per_layer
    if notes:
        best.extra["notes"] = notes
    return best


def certify_context(ctx: Context) -> BoundResult:
    """CLI handler of ``certify --wrt input``: the tightest of the ``--method`` choices.
    When LipSDP wins, the proved multipliers go into the options (so the certificate
    records them and ``verify`` re-proves the LMI)."""
    res = certified_input_lipschitz(
        ctx.model, ctx.data, method=ctx.options.get("method", "auto"),
        input_radius=ctx.options.get("input_radius"), seed=int(ctx.options.get("seed", 0)),
        local_preact=str(ctx.options.get("local_preact", "interval")))
    rec = res.extra.pop("multipliers", None)
    if rec is not None and res.extra.get("method") == "lipsdp":
        ctx.options["lipsdp"] = rec
    return res


def rebuild_context(ctx: Context) -> tuple[Formula, dict[str, Enclosure]]:
    """``verify``: the formula and ``rho_LMI`` re-proved from the model file and the
    multipliers recorded in the certificate's options (``[0, inf]`` when the proof fails,
    so a tampered certificate does not hold)."""
    rec = ctx.options.get("lipsdp")
    if rec is None:
        raise InputError("the LipSDP certificate records no multipliers (options.lipsdp)")
    rho, t = _read_record(rec)
    ch = chain_of(ctx.model)
    if t.shape != (ch.n_vars,):
        return lipsdp_formula(), {str(RHO): Enclosure.unbounded_above(0)}
    try:
        pr = prove_lipsdp(ch, rho, t)
    except InputError:
        pr = None
    if pr is None or not pr.holds:  # not proved: nothing is known about rho
        return lipsdp_formula(), {str(RHO): Enclosure.unbounded_above(0)}
    return lipsdp_formula(), {str(RHO): Enclosure.from_floats(0.0, rho)}
