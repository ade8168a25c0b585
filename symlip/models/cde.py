r"""Controlled ODEs (neural ODEs and neural CDEs): the model, its solvers, its files.

The model, with state $X_t \in \mathbb R^n$, input $x \in \mathbb R^{n_0}$, a control path
$U : [0, T] \to \mathbb R^d$ and output $Y \in \mathbb R^m$:

$$ X_0 = A x + a, \qquad dX_t = \sum_{j=1}^{d} \sigma(W_j X_t + b_j)\, dU^j_t, \qquad
   Y = C X_T + c . $$

The control is given as its values on a grid, an array ``U`` of shape ``(N + 1, d)``
(row $k$ = $U$ at the $k$-th grid point; only increments $\Delta U_k = U_{k+1} - U_k$
matter, there is no time column).  Between grid points $U$ is taken to be linear.  A
neural ODE is the case $U_t = t$ (one column, :func:`time_grid`).

Three maps are evaluated here (vectorised over a batch of inputs, float64):

* ``scheme="euler"`` — the **Euler scheme on the grid**
  $X_{k+1} = X_k + \sum_j \sigma(W_j X_k + b_j)\, \Delta U^j_k$.  This is the map the
  certified bound of :func:`symlip.cde.param_lipschitz` is about by default: a
  weight-tied residual network with $N$ blocks.  :meth:`ControlledODE.interval_forward`
  evaluates it rigorously (exact real arithmetic enclosed by outward-rounded intervals).
* ``scheme="heun"`` / ``"rk4"`` — Heun (explicit trapezoid) and classical Runge-Kutta
  on each linear piece of $U$ (the ODE $dX/ds = G(X)\,\Delta U_k$, $s \in [0, 1]$);
  with ``substeps`` they approximate the **exact solution** of the controlled ODE,
  which the ``scheme="flow"`` bound covers.  Not rigorous.

Parameters $\theta = (A, a, W_1, b_1, \dots, W_d, b_d, C, c)$, flattened row-major in
this order (PyTorch state-dict order of the keys ``readin.weight``, ``readin.bias``,
``field.<j>.weight``, ``field.<j>.bias`` ($j = 0..d-1$), ``readout.weight``,
``readout.bias``); $\|\theta\|$ is the Euclidean norm of that vector.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symlip._files import atomic_target
from symlip.activations.registry import AbstractActivation, get_activation
from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import Enclosure
from symlip.arith.linalg import affine_box
from symlip.errors import InputError, ModelFileError, SymlipError
from symlip.models.network import sigma_box

__all__ = [
    "ControlledODE",
    "check_control",
    "time_grid",
    "SCHEMES",
    "MONOTONE_ACTIVATIONS",
    "is_monotone",
]

#: solver schemes of :meth:`ControlledODE.forward`
SCHEMES = ("euler", "heun", "rk4")

#: activations with $\sigma' \ge 0$ everywhere (registry names; elu needs alpha > 0 and
#: leaky_relu a slope >= 0, which the registry enforces)
MONOTONE_ACTIVATIONS = frozenset(
    {"identity", "relu", "leaky_relu", "tanh", "sigmoid", "softplus", "elu"})


def is_monotone(act: AbstractActivation) -> bool:
    r"""True when $\sigma$ is nondecreasing ($0 \le$ every divided difference $\le K_1$).

    Decided by name for the registry activations listed in
    :data:`MONOTONE_ACTIVATIONS`; every other activation (gelu, silu, sin, splines)
    counts as non-monotone, which only switches the logarithmic-norm improvement off.
    """
    return getattr(act, "name", None) in MONOTONE_ACTIVATIONS and \
        type(act).__name__ == "Activation"


def time_grid(T: float = 1.0, n_steps: int = 100) -> np.ndarray:
    """The control of a neural ODE on $[0, T]$: ``U = linspace(0, T, n_steps + 1)[:, None]``.

    Examples:
        >>> time_grid(1.0, 4).ravel().tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise InputError(f"{n_steps=} must be an integer >= 1")
    if not np.isfinite(T) or T <= 0:
        raise InputError(f"{T=} must be a finite number > 0")
    return np.linspace(0.0, float(T), int(n_steps) + 1)[:, None]


def check_control(control: Any, d: int | None = None, what: str = "control") -> np.ndarray:
    """The control path as float64 ``(N + 1, d)``, ``N >= 1``; a 1-D array is one channel.

    Raises:
        InputError: not a real array, wrong shape or number of channels, NaN/inf.
    """
    if control is None:
        raise InputError(f"{what} is required: an array of shape (n_steps + 1, d)")
    try:
        u = np.asarray(control, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a real array, got {type(control).__name__}") from None
    if u.ndim == 1:
        u = u[:, None]
    shape = np.shape(control)
    if u.ndim != 2 or u.shape[0] < 2 or u.shape[1] < 1:
        raise InputError(f"{what} has shape {shape}; expected (n_steps + 1, d) with at least "
                         "two grid points")
    if d is not None and u.shape[1] != d:
        raise InputError(f"{what} has shape {shape}: {u.shape[1]} channel(s), but the model "
                         f"has {d} vector field(s); expected ({u.shape[0]}, {d})")
    bad = ~np.isfinite(u)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{what} has a non-finite value {u[idx]} at index {idx}")
    return u


def _matrix(a: Any, name: str, ndim: int, error: type[SymlipError] = InputError) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise error(f"{name} must be a real array, got {type(a).__name__}") from None
    if arr.ndim != ndim or 0 in arr.shape:
        what = "a 2-D matrix" if ndim == 2 else "a 1-D vector"
        raise error(f"{name} has shape {np.shape(a)}; expected {what}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise error(f"{name} has a non-finite value {arr[idx]} at index {idx}")
    return arr


@dataclass(frozen=True)
class Trajectory:
    """States of a batch along the grid: ``states[k]`` has shape ``(batch, n)``."""

    states: np.ndarray
    output: np.ndarray


class ControlledODE:
    r"""$X_0 = Ax + a$, $dX = \sum_j \sigma(W_j X + b_j)\,dU^j$, $Y = C X_T + c$.

    Args:
        A, a: read-in, shapes ``(n, n0)`` and ``(n,)``.
        Ws, bs: the vector fields, ``d`` matrices ``(n, n)`` and vectors ``(n,)``.
        C, c: read-out, shapes ``(m, n)`` and ``(m,)``.
        activation: registry name or activation object (default ``"tanh"``).
        param: activation parameter.

    Raises:
        InputError: shapes that do not chain, NaN/inf weights.

    Examples:
        >>> m = ControlledODE(np.eye(2), np.zeros(2), [np.zeros((2, 2))], [np.ones(2)],
        ...                   np.ones((1, 2)), np.zeros(1), "identity")
        >>> m.forward([[0.0, 0.0]], time_grid(1.0, 4)).tolist()   # X_T = t * 1 per coordinate
        [[2.0]]
    """

    def __init__(self, A: Any, a: Any, Ws: Sequence[Any], bs: Sequence[Any], C: Any, c: Any,
                 activation: str | AbstractActivation = "tanh", param: Any = None) -> None:
        A = _matrix(A, "readin.weight", 2)
        a = _matrix(a, "readin.bias", 1)
        n = A.shape[0]
        if a.shape != (n,):
            raise InputError(f"readin.bias has shape {a.shape}; expected ({n},) to match "
                             f"readin.weight of shape {A.shape}")
        if len(Ws) == 0 or len(Ws) != len(bs):
            raise InputError(f"need d >= 1 vector fields with one bias each, got {len(Ws)} "
                             f"weights and {len(bs)} biases")
        Wl, bl = [], []
        for j, (W, b) in enumerate(zip(Ws, bs, strict=False)):
            W = _matrix(W, f"field.{j}.weight", 2)
            b = _matrix(b, f"field.{j}.bias", 1)
            if W.shape != (n, n) or b.shape != (n,):
                raise InputError(f"field.{j} has weight {W.shape} and bias {b.shape}; expected "
                                 f"({n}, {n}) and ({n},) for a state of dimension {n}")
            Wl.append(W)
            bl.append(b)
        C = _matrix(C, "readout.weight", 2)
        c = _matrix(c, "readout.bias", 1)
        if C.shape[1] != n or c.shape != (C.shape[0],):
            raise InputError(f"readout has weight {C.shape} and bias {c.shape}; expected "
                             f"(m, {n}) and (m,)")
        self.A, self.a, self.C, self.c = A, a, C, c
        self.Ws, self.bs = tuple(Wl), tuple(bl)
        self.activation = get_activation(activation, param) if isinstance(activation, str) \
            else get_activation(activation)
        for arr in (self.A, self.a, self.C, self.c, *self.Ws, *self.bs):
            arr.setflags(write=False)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, A: Any, a: Any, Ws: Sequence[Any], bs: Sequence[Any], C: Any, c: Any,
                    activation: str | AbstractActivation = "tanh", param: Any = None
                    ) -> ControlledODE:
        """Same as the constructor (named for symmetry with :class:`~symlip.models.network.Network`)."""
        return cls(A, a, Ws, bs, C, c, activation, param)

    @classmethod
    def random(cls, n0: int, n: int, d: int, m: int, *, scale: float = 1.0, seed: int = 0,
               activation: str = "tanh") -> ControlledODE:
        r"""A random model: entries $\mathcal N(0, \text{scale}^2/\text{fan-in})$."""
        rng = np.random.default_rng(seed)
        s = float(scale)
        return cls(rng.normal(0, s / np.sqrt(n0), (n, n0)), rng.normal(0, s * 0.1, n),
                   [rng.normal(0, s / np.sqrt(n), (n, n)) for _ in range(d)],
                   [rng.normal(0, s * 0.1, n) for _ in range(d)],
                   rng.normal(0, s / np.sqrt(n), (m, n)), rng.normal(0, s * 0.1, m), activation)

    @classmethod
    def load(cls, path: str | os.PathLike[str], activation: Any = None, param: Any = None
             ) -> ControlledODE:
        """Read a model file (see :func:`load_cde`)."""
        return load_cde(path, activation, param)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model (see :func:`save_cde`)."""
        save_cde(self, path)

    # -- shapes and parameters ---------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return self.A.shape[1]

    @property
    def state_dim(self) -> int:
        return self.A.shape[0]

    @property
    def n_channels(self) -> int:
        return len(self.Ws)

    @property
    def n_outputs(self) -> int:
        return self.C.shape[0]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Tensors by key, in parameter order."""
        out = {"readin.weight": self.A, "readin.bias": self.a}
        for j, (W, b) in enumerate(zip(self.Ws, self.bs, strict=False)):
            out[f"field.{j}.weight"] = W
            out[f"field.{j}.bias"] = b
        out["readout.weight"] = self.C
        out["readout.bias"] = self.c
        return out

    def param_layout(self) -> list[tuple[str, slice, tuple[int, ...]]]:
        """``(key, slice into params(), shape)`` for each tensor."""
        out, o = [], 0
        for k, v in self.state_dict().items():
            out.append((k, slice(o, o + v.size), v.shape))
            o += v.size
        return out

    @property
    def n_params(self) -> int:
        return sum(v.size for v in self.state_dict().values())

    def params(self) -> np.ndarray:
        """The flattened parameter vector $\\theta$ (see the module docstring for the order)."""
        return np.concatenate([v.ravel() for v in self.state_dict().values()])

    def with_params(self, theta: Any) -> ControlledODE:
        """A copy with parameters ``theta`` (same layout as :meth:`params`)."""
        th = np.asarray(theta, dtype=np.float64)
        if th.shape != (self.n_params,):
            raise InputError(f"theta has shape {th.shape}; expected ({self.n_params},)")
        t = {k: th[s].reshape(shape) for k, s, shape in self.param_layout()}
        d = self.n_channels
        return ControlledODE(t["readin.weight"], t["readin.bias"],
                             [t[f"field.{j}.weight"] for j in range(d)],
                             [t[f"field.{j}.bias"] for j in range(d)],
                             t["readout.weight"], t["readout.bias"], self.activation)

    def __repr__(self) -> str:
        return (f"ControlledODE(n0={self.n_inputs}, n={self.state_dim}, d={self.n_channels}, "
                f"m={self.n_outputs}, activation={self.activation.name!r})")

    # -- validation ------------------------------------------------------------------------
    def check_inputs(self, x: Any, what: str = "data") -> np.ndarray:
        """Inputs as float64 ``(batch, n0)``; a 1-D array is one point."""
        if x is None:
            raise InputError(f"{what} is required: an array of shape (n_points, {self.n_inputs})")
        try:
            a = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{what} must be a real array, got {type(x).__name__}") from None
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] != self.n_inputs or a.shape[0] == 0:
            raise InputError(f"{what} has shape {np.shape(x)}; expected "
                             f"(n_points, {self.n_inputs})")
        bad = ~np.isfinite(a)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputError(f"{what} has a non-finite value {a[idx]} at index {idx}")
        return a

    def check_control(self, control: Any) -> np.ndarray:
        return check_control(control, self.n_channels)

    # -- float solvers -----------------------------------------------------------------------
    def _field(self, X: np.ndarray, dU: np.ndarray) -> np.ndarray:
        """$G(X)\\,\\Delta U = \\sum_j \\sigma(W_j X + b_j) \\Delta U^j$ for a batch ``X``."""
        out = np.zeros_like(X)
        for j, (W, b) in enumerate(zip(self.Ws, self.bs, strict=False)):
            if dU[j] != 0:
                out += np.asarray(self.activation.sigma(X @ W.T + b)) * dU[j]
        return out

    def trajectory(self, x: Any, control: Any, scheme: str = "euler", substeps: int = 1
                   ) -> Trajectory:
        """States at the grid points (after each grid interval) and the output.

        Args:
            x: inputs ``(batch, n0)``.
            control: ``(N + 1, d)``.
            scheme: ``"euler"``, ``"heun"`` or ``"rk4"``.
            substeps: equal sub-steps per grid interval (Euler with ``substeps=s`` is Euler
                on the grid refined ``s`` times, $U$ linear in between).
        """
        xb = self.check_inputs(x, "x")
        u = self.check_control(control)
        if scheme not in SCHEMES:
            raise InputError(f"{scheme=} must be one of {SCHEMES}")
        if not isinstance(substeps, (int, np.integer)) or substeps < 1:
            raise InputError(f"{substeps=} must be an integer >= 1")
        dUs = np.diff(u, axis=0)
        X = xb @ self.A.T + self.a
        states = [X]
        for dU in dUs:
            h = dU / substeps
            for _ in range(int(substeps)):
                if scheme == "euler":
                    X = X + self._field(X, h)
                elif scheme == "heun":
                    k1 = self._field(X, h)
                    k2 = self._field(X + k1, h)
                    X = X + 0.5 * (k1 + k2)
                else:
                    k1 = self._field(X, h)
                    k2 = self._field(X + 0.5 * k1, h)
                    k3 = self._field(X + 0.5 * k2, h)
                    k4 = self._field(X + k3, h)
                    X = X + (k1 + 2 * k2 + 2 * k3 + k4) / 6
            states.append(X)
        return Trajectory(np.stack(states), X @ self.C.T + self.c)

    def forward(self, x: Any, control: Any, scheme: str = "euler", substeps: int = 1
                ) -> np.ndarray:
        """Outputs $Y$ for a batch of inputs, shape ``(batch, m)`` (float64, not rigorous)."""
        return self.trajectory(x, control, scheme, substeps).output

    def param_jacobian(self, x: Any, control: Any) -> np.ndarray:
        r"""$\partial Y / \partial\theta$ of the **Euler** map, shape ``(batch, m, P)``.

        Forward-mode sensitivities: $T_{k+1} = T_k + \sum_j \Delta U^j_k\,
        \sigma'(z_j) \odot (\dot W_j X_k + \dot b_j + W_j T_k)$, all $P$ directions at
        once (float64, not rigorous).
        """
        xb = self.check_inputs(x, "x")
        u = self.check_control(control)
        lay = {k: s for k, s, _ in self.param_layout()}
        B, n, P = xb.shape[0], self.state_dim, self.n_params
        act = self.activation
        X = xb @ self.A.T + self.a
        T = np.zeros((B, P, n))
        sA = lay["readin.weight"]
        TA = T[:, sA, :].reshape(B, n, self.n_inputs, n)
        for p in range(n):
            TA[:, p, :, p] = xb
        T[:, sA, :] = TA.reshape(B, -1, n)
        sa = lay["readin.bias"]
        T[:, sa, :] += np.eye(n)
        for dU in np.diff(u, axis=0):
            upd = np.zeros_like(T)
            Xn = X.copy()
            for j, (W, b) in enumerate(zip(self.Ws, self.bs, strict=False)):
                if dU[j] == 0:
                    continue
                z = X @ W.T + b
                s = np.asarray(act.dsigma(z)) * dU[j]  # (B, n)
                dz = T @ W.T  # (B, P, n)
                sW = lay[f"field.{j}.weight"]
                blk = dz[:, sW, :].reshape(B, n, n, n)
                for p in range(n):
                    blk[:, p, :, p] += X
                dz[:, sW, :] = blk.reshape(B, -1, n)
                dz[:, lay[f"field.{j}.bias"], :] += np.eye(n)
                upd += dz * s[:, None, :]
                Xn += np.asarray(act.sigma(z)) * dU[j]
            T = T + upd
            X = Xn
        m = self.n_outputs
        J = T @ self.C.T  # (B, P, m)
        sC = lay["readout.weight"]
        JC = J[:, sC, :].reshape(B, m, n, m)
        for p in range(m):
            JC[:, p, :, p] = X
        J[:, sC, :] = JC.reshape(B, -1, m)
        J[:, lay["readout.bias"], :] += np.eye(m)
        return np.transpose(J, (0, 2, 1))

    # -- rigorous Euler ------------------------------------------------------------------------
    def interval_states(self, x: Any, control: Any, precise: bool = False
                        ) -> list[IntervalArray]:
        r"""Rigorous enclosures of the Euler states $X_0, \dots, X_N$ for a batch.

        Exact real arithmetic on the given doubles (weights, inputs, grid values; the
        increments $U_{k+1} - U_k$ exactly), enclosed by outward-rounded float intervals;
        the activation by :func:`~symlip.models.network.sigma_box` (``precise``: mpmath
        per element, for difference quotients).  Returns ``N + 1`` interval arrays of
        shape ``(batch, n)``.
        """
        xb = self.check_inputs(x, "x")
        u = self.check_control(control)
        dU = _increments(u)
        X = affine_box(self.A, self.a, IntervalArray(xb))
        out = [X]
        for k in range(u.shape[0] - 1):
            acc = X
            for j, (W, b) in enumerate(zip(self.Ws, self.bs, strict=False)):
                dj = dU[k, j]
                if dj.lo == 0 and dj.hi == 0:
                    continue
                acc = acc + sigma_box(self.activation, affine_box(W, b, X), precise=precise) * dj
            X = acc
            _check_finite(X, k)
            out.append(X)
        return out

    def interval_output(self, x: Any, control: Any, precise: bool = False) -> IntervalArray:
        """Rigorous enclosure of the Euler output $Y$ for a batch, shape ``(batch, m)``."""
        X = self.interval_states(x, control, precise)[-1]
        return affine_box(self.C, self.c, X)

    def interval_forward(self, x: Any, control: Any, precise: bool = True) -> list[Enclosure]:
        """Rigorous enclosures of the Euler outputs at one input point."""
        Y = self.interval_output(np.asarray(x, dtype=np.float64).reshape(1, -1), control,
                                 precise)
        return [Enclosure.from_floats(lo, hi) for lo, hi in zip(Y.lo[0], Y.hi[0], strict=False)]


# ------------------------------------------------------------------------------------
# rigorous helpers
# ------------------------------------------------------------------------------------


def _increments(u: np.ndarray) -> IntervalArray:
    """Enclosures of the exact increments $U_{k+1} - U_k$, shape ``(N, d)``."""
    return IntervalArray(u[1:]) - IntervalArray(u[:-1])


def _check_finite(X: IntervalArray, k: int) -> None:
    if not (np.all(np.isfinite(X.lo)) and np.all(np.isfinite(X.hi))):
        raise InputError(f"interval Euler step {k} overflowed float64")


# ------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------

_FIELD_RE = re.compile(r"^field\.(\d+)\.(weight|bias)$")
_FIXED = ("readin.weight", "readin.bias", "readout.weight", "readout.bias")


def _strip_prefix(keys: Sequence[str]) -> str:
    """The common dotted prefix before ``readin.``/``field.``/``readout.`` (may be '')."""
    for k in keys:
        for anchor in ("readin.", "readout.", "field."):
            i = k.find(anchor)
            if i > 0 and k[i - 1] == ".":
                pre = k[:i]
                if all(kk.startswith(pre) for kk in keys):
                    return pre
    return ""


def load_cde(path: str | os.PathLike[str], activation: Any = None, param: Any = None
         ) -> ControlledODE:
    """Load a controlled ODE from ``.npz`` / ``.safetensors``.

    Keys: ``readin.weight`` (n, n0), ``readin.bias`` (n,), ``field.<j>.weight`` (n, n),
    ``field.<j>.bias`` (n,) for $j = 0, \\dots, d-1$ (consecutive), ``readout.weight``
    (m, n), ``readout.bias`` (m,); a common dotted prefix (``model.readin.weight``...) is
    stripped.  float16/32/64 tensors only (converted exactly).  The activation comes
    from the argument or the file's metadata (``"activation"``, ``"activation_param"``,
    as for feed-forward files); default ``tanh`` is *not* assumed.

    Raises:
        ModelFileError: missing/unknown keys, bad shapes, dtypes, NaN/inf, unreadable file.
        InputError: no activation given and none recorded.
    """
    from symlip.models.io import _existing, _read_npz, _read_safetensors, _sniff, _tensor

    p = _existing(path)
    fmt = _sniff(p)
    tensors, meta = _read_safetensors(p) if fmt == "safetensors" else _read_npz(p)
    pre = _strip_prefix(list(tensors))
    t = {k[len(pre):]: v for k, v in tensors.items()}
    where = str(p)
    unknown = sorted(k for k in t if k not in _FIXED and not _FIELD_RE.match(k))
    if unknown:
        raise ModelFileError(
            f"{where!r}: unknown tensor(s) {unknown}; a controlled-ODE file holds readin.weight, "
            "readin.bias, field.<j>.weight, field.<j>.bias, readout.weight, readout.bias")
    missing = [k for k in _FIXED if k not in t]
    if missing:
        raise ModelFileError(f"{where!r}: missing tensor(s) {[pre + k for k in missing]}")
    idx = sorted({int(_FIELD_RE.match(k).group(1)) for k in t if _FIELD_RE.match(k)})
    if not idx:
        raise ModelFileError(f"{where!r}: no vector fields (expected field.0.weight, "
                             "field.0.bias, ...)")
    if idx != list(range(len(idx))):
        raise ModelFileError(f"{where!r}: vector fields must be numbered 0..d-1, got {idx}")
    for j in idx:
        for s in ("weight", "bias"):
            if f"field.{j}.{s}" not in t:
                raise ModelFileError(f"{where!r}: field {j} has no {pre}field.{j}.{s}")
    arr = {k: _tensor(p, pre + k, v, 2 if k.endswith("weight") else 1) for k, v in t.items()}
    if activation is None:
        if param is not None:
            raise InputError(f"param={param!r} given without an activation")
        try:
            if "activation" in meta:
                activation = get_activation(meta["activation"], meta.get("activation_param"))
        except SymlipError as exc:
            raise ModelFileError(f"{where!r}: bad activation in the metadata: {exc}") from None
        if activation is None:
            raise InputError(f"{where!r} does not record its activation; pass one (e.g. "
                             "activation='tanh', or --activation tanh on the command line)")
    elif param is not None:
        activation = get_activation(activation, param)
    try:
        return ControlledODE(arr["readin.weight"], arr["readin.bias"],
                             [arr[f"field.{j}.weight"] for j in idx],
                             [arr[f"field.{j}.bias"] for j in idx],
                             arr["readout.weight"], arr["readout.bias"], activation)
    except InputError as exc:
        raise ModelFileError(f"{where!r}: {exc}") from None


def save_cde(model: ControlledODE, path: str | os.PathLike[str],
         metadata: Mapping[str, str] | None = None) -> None:
    """Write a controlled ODE (float64 tensors, activation in the metadata), atomically."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in (".npz", ".safetensors"):
        raise InputError(f"model file name {str(p)!r} must end in .npz or .safetensors")
    md = dict(metadata or {})
    md["activation"] = model.activation.name
    prm = getattr(model.activation, "param", None)
    if prm is not None:
        from symlip.models.io import _param_str

        md["activation_param"] = _param_str(prm)
    md["model_type"] = "cde"
    tensors = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in model.state_dict().items()}
    with atomic_target(p) as tmp:
        if ext == ".safetensors":
            from safetensors.numpy import save_file

            save_file(tensors, str(tmp), metadata=md)
        else:
            with open(tmp, "wb") as fh:
                np.savez(fh, **tensors, __metadata__=np.array(json.dumps(md)))
