r"""Feed-forward networks: dense layers, one activation between layers, linear read-out.

A :class:`Network` of depth $N$ computes, for an input $x = a_0 \in \mathbb{R}^{n_0}$,

$$ z_k = W_k a_{k-1} + b_k, \qquad a_k = \sigma_k(z_k) \quad (k < N), \qquad
   f(x) = z_N , $$

with $W_k$ of shape $n_k \times n_{k-1}$ (PyTorch layout: out x in).  Layer indices in
this module are 0-based: ``layers[0]`` is $W_1, b_1$.

Two kinds of evaluation live here:

* **NumPy (float64, not certified)** — :meth:`Network.forward`,
  :meth:`Network.forward_trace`, :meth:`Network.input_jacobian`,
  :meth:`Network.param_jacobian`, vectorised over a batch.  The Jacobians are the
  closed forms (chain rule layer by layer), not finite differences.
* **Rigorous** — :meth:`Network.interval_forward` returns enclosures of the exact real
  outputs $f(x)$ for the weights as the doubles they are, every endpoint rounded
  outward.  See its docstring for the error analysis.

Parameter vector order (:meth:`Network.params`), the PyTorch ``state_dict`` order:
``W_1`` row-major, ``b_1``, ``W_2`` row-major, ``b_2``, ..., ``W_N``, ``b_N``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import mpmath
import numpy as np
from mpmath.libmp import round_ceiling, round_floor
from mpmath.libmp.libmpf import from_man_exp

from symlip.activations.registry import AbstractActivation, Activation, X, get_activation
from symlip.arith.array import IntervalArray
from symlip.arith.enclosure import (
    Enclosure,
    UnsupportedOperation,
    iv_from,
    make_mpf,
    mpf_to_float,
    working_precision,
)
from symlip.arith.enclosure import endpoints as _iv_endpoints
from symlip.arith.linalg import affine_box
from symlip.errors import InputError, SymlipError
from symlip.symbolic.compile import interval_lambdify

__all__ = ["DenseLayer", "ResidualLayer", "Network", "Trace", "IntervalTrace", "check_chain",
           "check_real_array", "check_no_residual", "dsigma_box", "sigma_box"]


# ----------------------------------------------------------------------------------
# validation helpers (shared with symlip.models.io)
# ----------------------------------------------------------------------------------


def check_real_array(
    value: Any, what: str, error: type[SymlipError] = InputError
) -> np.ndarray:
    """Convert ``value`` to a float64 array *exactly*, or raise ``error`` naming ``what``.

    float16/float32/float64 arrays (and integers of magnitude <= 2**53) convert to
    float64 without rounding; anything else (complex, bool, long double, object,
    strings) is rejected, as are NaN and infinite entries.

    Args:
        value: array-like.
        what: how the error message names the value (``"tensor '0.weight'"``).
        error: the exception class to raise.

    Returns:
        A new float64 array.

    Raises:
        error: unsupported dtype or a non-finite entry.

    Examples:
        >>> check_real_array(np.float32([0.1]), "w").tolist() == [float(np.float32(0.1))]
        True
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise error(f"{what} is not a numeric array ({exc})") from None
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "f" and size in (2, 4, 8):
        out = arr.astype(np.float64)  # exact: every float16/32 value is a double
    elif kind in "iu":
        if arr.size and np.max(np.abs(arr.astype(object))) > 2**53:
            raise error(f"{what} has integers above 2**53 that float64 cannot hold exactly")
        out = arr.astype(np.float64)
    else:
        raise error(
            f"{what} has unsupported dtype {arr.dtype}; expected float16, float32 or float64"
        )
    bad = ~np.isfinite(out)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        kind_s = "NaN" if np.isnan(out[idx]) else "infinite"
        raise error(
            f"{what} has {int(bad.sum())} non-finite entr{'y' if bad.sum() == 1 else 'ies'} "
            f"(first: {kind_s} at index {list(idx)})"
        )
    return out


def _split_int(x: float) -> tuple[int, int]:
    """The double ``x`` as ``(m, e)`` with ``x == m * 2**e`` exactly (m a signed int)."""
    m, e = math.frexp(x)
    return int(m * (1 << 53)), e - 53


# ----------------------------------------------------------------------------------
# layers
# ----------------------------------------------------------------------------------


class _AffineLayer:
    """Shared validation and cached rigorous forms of a layer holding ``W, b``."""

    weight: np.ndarray
    bias: np.ndarray
    name: str

    def _validate(self) -> None:
        label = f"layer {self.name!r}" if self.name else "layer"
        w = check_real_array(self.weight, f"{label} weight")
        b = check_real_array(self.bias, f"{label} bias")
        if w.ndim != 2 or 0 in w.shape:
            raise InputError(
                f"{label} weight must be a non-empty 2-D (out x in) array, got shape {w.shape}"
            )
        if b.shape != (w.shape[0],):
            raise InputError(
                f"{label} bias has shape {b.shape}, expected ({w.shape[0]},) to match "
                f"weight shape {w.shape}"
            )
        w.flags.writeable = False
        b.flags.writeable = False
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)
        object.__setattr__(self, "name", str(self.name))

    @property
    def shape(self) -> tuple[int, int]:
        """``(out, in)``."""
        return self.weight.shape  # type: ignore[return-value]

    @property
    def n_params(self) -> int:
        return self.weight.size + self.bias.size

    # -- float products (not certified); a convolution layer overrides them -------------
    def matvec(self, a: np.ndarray) -> np.ndarray:
        """$a W^T$ for a batch of row vectors ``(..., in) -> (..., out)`` (float64)."""
        return a @ self.weight.T

    def rmatvec(self, d: np.ndarray) -> np.ndarray:
        """$d W$ for a batch of row vectors ``(..., out) -> (..., in)`` (float64)."""
        return d @ self.weight

    # -- cached forms for rigorous evaluation -----------------------------------------
    @cached_property
    def _exact_rows(self) -> list[tuple[list[tuple[int, int, int]], tuple[int, int]]]:
        """Per row: ``[(j, m, e) for W_ij = m 2^e != 0]`` and the bias as ``(m, e)``."""
        rows = []
        for i in range(self.weight.shape[0]):
            row = self.weight[i]
            terms = [(int(j), *_split_int(float(row[j]))) for j in np.flatnonzero(row)]
            rows.append((terms, _split_int(float(self.bias[i]))))
        return rows


@dataclass(frozen=True, eq=False)
class DenseLayer(_AffineLayer):
    """One affine map $z = W a + b$ with float64 weights (read-only copies).

    Args:
        weight: shape ``(out, in)``; float16/32/64 converted exactly to float64.
        bias: shape ``(out,)``.
        name: the layer's name (the ``nn.Sequential`` index, ``"0"``, ``"2"``...).

    Raises:
        InputError: wrong shapes, unsupported dtype, NaN or infinite entries; the
            message names the layer.

    Examples:
        >>> DenseLayer(np.ones((3, 2)), np.zeros(3), "0").shape
        (3, 2)
    """

    weight: np.ndarray
    bias: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        self._validate()

    def renamed(self, name: str) -> DenseLayer:
        return DenseLayer(self.weight, self.bias, name)

    def __repr__(self) -> str:
        return f"DenseLayer(name={self.name!r}, shape={self.shape})"


@dataclass(frozen=True, eq=False)
class ResidualLayer(_AffineLayer):
    r"""A residual block $a \mapsto a + h\,\sigma(W a + b)$ with square $W$.

    $\sigma$ is the network's activation of this layer (``Network.activations[k]``
    for ``layers[k]``); the step $h$ is a fixed real number, *not* a parameter
    ($\theta$ holds only $W, b$).  Float64 weights, read-only copies.

    Args:
        weight: shape ``(n, n)``.
        bias: shape ``(n,)``.
        name: the layer's name.
        step: $h$, a finite real number (default 1).

    Raises:
        InputError: a non-square weight, a non-finite or non-real step, and every
            error of :class:`DenseLayer`; the message names the layer and the value.

    Examples:
        >>> ResidualLayer(np.eye(2), np.zeros(2), "1", step=0.5).step
        0.5
    """

    weight: np.ndarray
    bias: np.ndarray
    name: str = ""
    step: float = 1.0

    def __post_init__(self) -> None:
        self._validate()
        label = f"residual layer {self.name!r}" if self.name else "residual layer"
        if self.weight.shape[0] != self.weight.shape[1]:
            raise InputError(
                f"{label} weight has shape {self.weight.shape}; a residual block "
                "a -> a + h sigma(W a + b) needs a square weight (n, n)"
            )
        h = self.step
        if isinstance(h, (bool, np.bool_)) or not isinstance(
                h, (int, float, np.integer, np.floating)):
            raise InputError(f"{label} step h={h!r} must be a finite real number")
        hf = float(h)
        if not math.isfinite(hf) or (isinstance(h, (int, np.integer)) and abs(int(h)) > 2**53):
            raise InputError(f"{label} step h={h!r} must be a finite real number")
        object.__setattr__(self, "step", hf)

    def renamed(self, name: str) -> ResidualLayer:
        return ResidualLayer(self.weight, self.bias, name, self.step)

    def __repr__(self) -> str:
        return f"ResidualLayer(name={self.name!r}, shape={self.shape}, step={self.step!r})"


#: the layer types a :class:`Network` holds
Layer = DenseLayer | ResidualLayer


def check_no_residual(net: Any, what: str) -> None:
    """Raise :class:`InputError` if ``net`` has residual layers: ``what`` (a dense-chain
    computation) would otherwise return wrong numbers for them."""
    if getattr(net, "has_residual", False):
        raise InputError(f"{what} is not supported for networks with residual layers")


def check_chain(layers: Sequence[DenseLayer], error: type[SymlipError] = InputError) -> None:
    """Raise ``error`` unless each layer's input width is the previous output width."""
    for prev, cur in zip(layers, layers[1:], strict=False):
        if cur.shape[1] != prev.shape[0]:
            raise error(
                f"layer {cur.name!r} weight has shape {cur.shape} (input width "
                f"{cur.shape[1]}), but the previous layer {prev.name!r} has weight shape "
                f"{prev.shape} (output width {prev.shape[0]})"
            )


class Trace(NamedTuple):
    """Intermediate values of a forward pass (batch axis first).

    Attributes:
        layer_inputs: $a_0 = x, a_1, \\dots, a_{N-1}$ — the input of each dense layer.
        preactivations: $z_1, \\dots, z_N$; ``preactivations[-1]`` is the output.
    """

    layer_inputs: list[np.ndarray]
    preactivations: list[np.ndarray]

    @property
    def output(self) -> np.ndarray:
        return self.preactivations[-1]


def _same_activation(a: AbstractActivation, b: AbstractActivation) -> bool:
    if a is b:
        return True
    if isinstance(a, Activation) and isinstance(b, Activation):
        return a.name == b.name and a.expr == b.expr
    return False


def _resolve_activation(a: Any, param: Any = None) -> AbstractActivation:
    if isinstance(a, AbstractActivation):
        if param is not None:
            raise InputError(f"param={param!r} given with an activation object {a!r}")
        return a
    if not isinstance(a, str):
        raise InputError(
            f"activation must be a registry name or an AbstractActivation, got {a!r}"
        )
    return get_activation(a, param)


# ----------------------------------------------------------------------------------
# the network
# ----------------------------------------------------------------------------------


class Network:
    r"""A feed-forward network: dense layers, an activation after every hidden layer,
    linear read-out.

    Args:
        layers: the dense layers $W_1, b_1, \dots, W_N, b_N$ in order.
        activations: ``depth - 1`` activations (registry names or objects), the
            $k$-th applied to the output of ``layers[k]``.  A single name or object is
            used for every hidden layer.

    Raises:
        InputError: no layers, widths that do not chain (both layers and shapes are
            named), the wrong number of activations.
        UnknownActivationError: an unknown activation name.

    Examples:
        >>> net = Network.from_arrays([np.eye(2), np.ones((1, 2))], [np.zeros(2), [0.5]],
        ...                           "relu")
        >>> net.widths, net.depth, net.n_params
        ([2, 2, 1], 2, 9)
        >>> net.forward(np.array([1.0, -3.0])).tolist()
        [1.5]
    """

    def __init__(
        self,
        layers: Sequence[DenseLayer],
        activations: Sequence[AbstractActivation | str] | AbstractActivation | str | None,
    ) -> None:
        layers = tuple(layers)
        if not layers:
            raise InputError("a network needs at least one dense layer, got none")
        for k, layer in enumerate(layers):
            if not isinstance(layer, (DenseLayer, ResidualLayer)):
                raise InputError(f"layers[{k}] is {type(layer).__name__}, not a DenseLayer "
                                 "or ResidualLayer")
        if not isinstance(layers[-1], DenseLayer):
            raise InputError(
                f"the last layer {layers[-1].name!r} is a ResidualLayer; symlip networks end "
                "with a linear read-out (a DenseLayer)"
            )
        check_chain(layers)
        n_hidden = len(layers) - 1
        if activations is None:
            if n_hidden:
                raise InputError(
                    f"a network with {n_hidden} hidden layer(s) needs an activation"
                )
            acts: tuple[AbstractActivation, ...] = ()
        elif isinstance(activations, (str, AbstractActivation)):
            acts = (_resolve_activation(activations),) * n_hidden
        else:
            acts = tuple(_resolve_activation(a) for a in activations)
            if len(acts) != n_hidden:
                raise InputError(
                    f"{len(acts)} activations given for {n_hidden} hidden layer(s); "
                    f"expected depth - 1 = {n_hidden}"
                )
        if all(layer.name == "" for layer in layers):
            layers = tuple(lay.renamed(str(k)) for k, lay in enumerate(layers))
        names = [layer.name for layer in layers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes or "" in names:
            raise InputError(f"layer names must be unique and non-empty, got {names}")
        self._layers = layers
        self._activations = acts

    # -- constructors ------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        weights: Sequence[Any],
        biases: Sequence[Any],
        activation: AbstractActivation | str | Sequence[AbstractActivation | str] | None,
        param: Any = None,
        steps: Sequence[float | None] | None = None,
    ) -> Network:
        """Build a network from weight matrices (out x in) and bias vectors.

        Layers are named ``"0"``, ``"2"``, ``"4"``, ... as in an ``nn.Sequential`` of
        Linear and activation modules.

        Args:
            weights: ``N`` arrays, ``weights[k]`` of shape ``(n_{k+1}, n_k)``.
            biases: ``N`` arrays of shapes ``(n_{k+1},)``.
            activation: a registry name / object for every hidden layer, or a list of
                ``N - 1`` of them; ``None`` only for ``N = 1``.
            param: parameter of a parametrised activation (leaky slope, ELU alpha...).
            steps: ``None``, or one entry per layer: ``None`` for a dense layer, a step
                $h$ for a residual block $a \\mapsto a + h\\sigma(W a + b)$
                (:class:`ResidualLayer`, square weight; ``activation[k]`` is its
                $\\sigma$).

        Raises:
            InputError: mismatched counts or shapes (naming both layers), bad values.
        """
        weights, biases = list(weights), list(biases)
        if len(weights) != len(biases):
            raise InputError(f"{len(weights)} weight matrices but {len(biases)} bias vectors")
        steps = [None] * len(weights) if steps is None else list(steps)
        if len(steps) != len(weights):
            raise InputError(f"{len(steps)} steps given for {len(weights)} layers; expected one "
                             "per layer (None for a dense layer)")
        pairs = enumerate(zip(weights, biases, steps, strict=True))
        layers = [DenseLayer(w, b, str(2 * k)) if h is None else
                  ResidualLayer(w, b, str(2 * k), h) for k, (w, b, h) in pairs]
        if isinstance(activation, (str, AbstractActivation)) or activation is None:
            acts: Any = None if activation is None else _resolve_activation(activation, param)
        else:
            acts = [_resolve_activation(a, param) for a in activation]
        return cls(layers, acts)

    @classmethod
    def from_torch(cls, module: Any) -> Network:
        """Build a network from a PyTorch ``nn.Sequential`` of Linear and activation modules.

        Accepted activation modules: ``Tanh``, ``ReLU``, ``Sigmoid``, ``Softplus``
        (``beta=1``), ``ELU(alpha)``, ``GELU`` (``approximate='none'`` only), ``SiLU``,
        ``LeakyReLU(negative_slope)``, ``Identity``.  The sequence must alternate
        ``Linear, activation, Linear, ..., Linear`` (linear read-out).  Weights are
        converted exactly to float64; a ``Linear(bias=False)`` gets a zero bias.
        Layers are named by their index in the Sequential (as in its ``state_dict``).

        Note: PyTorch's ``Softplus`` switches to the identity for ``x > threshold``
        (default 20), an approximation of $\\log(1+e^x)$ that differs from it by less
        than $e^{-20} \\approx 2 \\cdot 10^{-9}$; symlip analyses the exact function.

        Raises:
            InputError: torch is not installed, the module is not a Sequential, an
                unsupported module or layout (the message names the module).
        """
        try:
            import torch
            from torch import nn
        except ImportError:
            raise InputError(
                "Network.from_torch needs PyTorch; install it with pip install 'symlip[torch]'"
            ) from None
        if not isinstance(module, nn.Sequential):
            raise InputError(f"expected a torch.nn.Sequential, got {type(module).__name__}")
        layers: list[DenseLayer] = []
        acts: list[AbstractActivation] = []
        expect_linear = True
        for name, m in module.named_children():
            if isinstance(m, nn.Linear):
                if not expect_linear:
                    raise InputError(
                        f"module {name!r} is a Linear directly after another Linear; insert "
                        "nn.Identity() between them or merge the two layers"
                    )
                with torch.no_grad():
                    w = m.weight.detach().to(device="cpu", dtype=torch.float64).numpy()
                    b = (np.zeros(w.shape[0]) if m.bias is None else
                         m.bias.detach().to(device="cpu", dtype=torch.float64).numpy())
                layers.append(DenseLayer(w.copy(), b.copy(), name))
                expect_linear = False
            else:
                act = _torch_activation(name, m, nn)
                if expect_linear:
                    where = "first module" if not layers else "module after an activation"
                    raise InputError(
                        f"module {name!r} ({type(m).__name__}) is the {where}; expected a "
                        "Linear (Linear and activation modules must alternate)"
                    )
                acts.append(act)
                expect_linear = True
        if not layers:
            raise InputError("the Sequential has no Linear module")
        if expect_linear:
            raise InputError(
                "the Sequential ends with an activation; symlip networks have a linear "
                "read-out (drop the last activation module)"
            )
        return cls(layers, acts)

    # -- structure -------------------------------------------------------------------
    @property
    def layers(self) -> tuple[DenseLayer | ResidualLayer, ...]:
        return self._layers

    @property
    def has_residual(self) -> bool:
        """Whether some layer is a :class:`ResidualLayer`."""
        return any(isinstance(layer, ResidualLayer) for layer in self._layers)

    @property
    def residual_mask(self) -> list[bool]:
        """Per layer: ``True`` for a :class:`ResidualLayer`."""
        return [isinstance(layer, ResidualLayer) for layer in self._layers]

    @property
    def activations(self) -> tuple[AbstractActivation, ...]:
        """The ``depth - 1`` hidden-layer activations."""
        return self._activations

    @property
    def activation(self) -> AbstractActivation | None:
        """The activation shared by all hidden layers; ``None`` when there are none.

        Raises:
            InputError: the hidden layers use different activations (use
                :attr:`activations`).
        """
        if not self._activations:
            return None
        first = self._activations[0]
        if all(_same_activation(first, a) for a in self._activations[1:]):
            return first
        raise InputError(
            "the hidden layers use different activations "
            f"({[getattr(a, 'name', repr(a)) for a in self._activations]}); use .activations"
        )

    @property
    def depth(self) -> int:
        """N, the number of dense layers."""
        return len(self._layers)

    @property
    def widths(self) -> list[int]:
        """``[n_0, n_1, ..., n_N]``."""
        return [self._layers[0].shape[1]] + [layer.shape[0] for layer in self._layers]

    @property
    def n_params(self) -> int:
        return sum(layer.n_params for layer in self._layers)

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self._layers]

    @property
    def weights(self) -> list[np.ndarray]:
        return [layer.weight for layer in self._layers]

    @property
    def biases(self) -> list[np.ndarray]:
        return [layer.bias for layer in self._layers]

    def __repr__(self) -> str:
        acts = sorted({getattr(a, "label", getattr(a, "name", "?")) for a in self._activations})
        act = ", ".join(acts) if acts else "no activation"
        res = sum(self.residual_mask)
        blocks = f", {res} residual block{'s' if res != 1 else ''}" if res else ""
        return (f"Network({'-'.join(map(str, self.widths))}, {act}, "
                f"{self.n_params} params{blocks})")

    # -- parameter vector ------------------------------------------------------------------
    def param_layout(self) -> list[tuple[str, slice, tuple[int, ...]]]:
        """``(key, slice, shape)`` of every tensor in the parameter vector, in order.

        Keys are state-dict keys: ``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...
        """
        out, start = [], 0
        for layer in self._layers:
            for suffix, arr in (("weight", layer.weight), ("bias", layer.bias)):
                out.append((f"{layer.name}.{suffix}", slice(start, start + arr.size), arr.shape))
                start += arr.size
        return out

    def params(self) -> np.ndarray:
        """The parameter vector $\\theta$: ``W_1`` row-major, ``b_1``, ``W_2``, ``b_2``, ...

        Examples:
            >>> net = Network.from_arrays([[[1.0, 2.0]]], [[3.0]], None)
            >>> net.params().tolist()
            [1.0, 2.0, 3.0]
        """
        return np.concatenate([a.ravel() for layer in self._layers
                               for a in (layer.weight, layer.bias)])

    def with_params(self, theta: Any) -> Network:
        """A network of the same shape and activations with parameter vector ``theta``.

        Raises:
            InputError: wrong length or non-finite entries.
        """
        theta = check_real_array(theta, "parameter vector theta")
        if theta.shape != (self.n_params,):
            raise InputError(
                f"parameter vector has shape {theta.shape}, expected ({self.n_params},)"
            )
        layers, start = [], 0
        for layer in self._layers:
            m, n = layer.shape
            w = theta[start:start + m * n].reshape(m, n)
            b = theta[start + m * n:start + m * n + m]
            start += m * n + m
            if isinstance(layer, ResidualLayer):
                layers.append(ResidualLayer(w, b, layer.name, layer.step))
            else:
                layers.append(DenseLayer(w, b, layer.name))
        return Network(layers, self._activations)

    # -- NumPy evaluation (float64, not certified) ---------------------------------------
    def _batch(self, x: Any) -> tuple[np.ndarray, bool]:
        arr = check_real_array(x, "input x")
        single = arr.ndim == 1
        if single:
            arr = arr[None, :]
        n0 = self.widths[0]
        if arr.ndim != 2 or arr.shape[1] != n0:
            raise InputError(
                f"input x has shape {np.shape(x)}, expected ({n0},) or (batch, {n0})"
            )
        return arr, single

    def _trace(self, xb: np.ndarray) -> Trace:
        inputs, pre = [xb], []
        a = xb
        for k, layer in enumerate(self._layers):
            z = layer.matvec(a) + layer.bias
            pre.append(z)
            if k < self.depth - 1:
                s = np.asarray(self._activations[k].sigma(z), dtype=np.float64)
                a = a + layer.step * s if isinstance(layer, ResidualLayer) else s
                inputs.append(a)
        return Trace(inputs, pre)

    def forward(self, x: Any) -> np.ndarray:
        """Float64 outputs $f(x)$; ``x`` of shape ``(n0,)`` or ``(batch, n0)``. Not certified."""
        xb, single = self._batch(x)
        out = self._trace(xb).output
        return out[0] if single else out

    __call__ = forward

    def forward_trace(self, x: Any) -> Trace:
        """Pre-activations $z_k$ and layer inputs $a_{k-1}$ of every layer (float64).

        Arrays always carry the batch axis first (a 1-D ``x`` gives batch size 1).
        """
        xb, _ = self._batch(x)
        return self._trace(xb)

    def _backprop(self, xb: np.ndarray, want_params: bool) -> tuple[np.ndarray, list]:
        """Propagate $\\delta_k = \\partial f / \\partial z_k$ from the output back.

        Returns the input Jacobian ``(B, nN, n0)`` and, if asked, the per-layer
        parameter blocks ``(dW (B, nN, out*in), db (B, nN, out))``.
        """
        tr = self._trace(xb)
        bsz, n_out = xb.shape[0], self.widths[-1]
        # g = d f / d (output of layer k); the read-out's output is z_N itself
        g = np.broadcast_to(np.eye(n_out), (bsz, n_out, n_out))
        blocks: list = [None] * self.depth
        for k in range(self.depth - 1, -1, -1):
            layer = self._layers[k]
            if k == self.depth - 1:
                delta = g  # d f / d z_k
            else:
                d = np.asarray(self._activations[k].dsigma(tr.preactivations[k]))
                delta = g * d[:, None, :]
                if isinstance(layer, ResidualLayer):
                    delta = layer.step * delta  # a_k = a_{k-1} + h sigma(z_k)
            if want_params:
                a = tr.layer_inputs[k]
                gw = delta[:, :, :, None] * a[:, None, None, :]
                blocks[k] = (gw.reshape(bsz, n_out, -1), np.array(delta))
            back = layer.rmatvec(delta)  # (B, nN, n_{k-1})
            g = g + back if isinstance(layer, ResidualLayer) else back
        return g, blocks

    def input_jacobian(self, x: Any) -> np.ndarray:
        r"""Jacobian $\partial f / \partial x = W_N D_{N-1} W_{N-1} \cdots D_1 W_1$,
        $D_k = \operatorname{diag}(\sigma'(z_k))$, float64 (not certified).  A residual
        block contributes the factor $I + h D_k W_k$ instead of $D_k W_k$.

        Returns:
            shape ``(batch, nN, n0)``, or ``(nN, n0)`` for a 1-D ``x``.
        """
        xb, single = self._batch(x)
        jac, _ = self._backprop(xb, want_params=False)
        return jac[0] if single else jac

    def param_jacobian(self, x: Any) -> np.ndarray:
        r"""Jacobian $\partial f / \partial \theta$ by backpropagation (float64, not certified).

        With $\delta_N = I$ and $\delta_{k} = (\delta_{k+1} W_{k+1}) D_k$:
        $\partial f/\partial W_k = \delta_k \otimes a_{k-1}$ and
        $\partial f/\partial b_k = \delta_k$; columns in :meth:`params` order.  For a
        residual block $a_k = a_{k-1} + h\sigma(z_k)$: $\delta_k = h\,(\partial f/\partial
        a_k) D_k$ and $\partial f/\partial a_{k-1} = \partial f/\partial a_k + \delta_k W_k$.

        Returns:
            shape ``(batch, nN, n_params)``, or ``(nN, n_params)`` for a 1-D ``x``.
        """
        xb, single = self._batch(x)
        _, blocks = self._backprop(xb, want_params=True)
        jac = np.concatenate([blk for pair in blocks for blk in pair], axis=2)
        return jac[0] if single else jac

    # -- rigorous evaluation -----------------------------------------------------------------
    def interval_forward(self, x: Any, prec: int | None = None) -> list[Enclosure]:
        r"""Rigorous enclosures of the outputs $f(x)$ at one input point (or box).

        The weights enter as the doubles they are; the result encloses the exact real
        value of the network (the activation evaluated exactly), for every input in
        the given input intervals.

        Two algorithms, both rigorous:

        * ``prec=None`` (default, fast): float64 intervals, the forward pass of
          :meth:`interval_trace` on one box: affine maps by
          :func:`~symlip.arith.linalg.affine_box` (midpoint-radius with the a priori
          rounding-error bound of BLAS dot products, Lemma A.1 of
          ``docs/intervals.md``), the activation by :func:`sigma_box`.
        * ``prec=<bits>``: the affine sums are computed *exactly* in integer arithmetic
          and rounded once outward to ``prec`` bits; the activation runs in mpmath
          intervals at ``prec`` bits.  Widths shrink like $2^{-\text{prec}}$.  On
          small networks the activation dominates and ``prec=100`` costs about as
          much as the float64 path; on wide ReLU networks it is ~100x slower.

        Args:
            x: ``n0`` values: floats (taken as the doubles they are),
                :class:`~symlip.arith.enclosure.Enclosure` s or ``mpmath.iv`` intervals
                (an input box), or an :class:`~symlip.arith.array.IntervalArray`.
            prec: ``None`` for the float64 path, or the binary precision (>= 53).

        Returns:
            ``nN`` enclosures of the outputs (lower ends rounded down, upper up).

        Raises:
            InputError: wrong length, non-finite input, overflow during evaluation.

        Examples:
            >>> net = Network.from_arrays([[[2.0]], [[1.0]]], [[0.0], [0.5]], "tanh")
            >>> out = net.interval_forward([0.25])[0]
            >>> out.contains(0.5 + math.tanh(0.5)) and float(out.width) < 1e-14
            True
        """
        lo, hi, exact = self._input_bounds(x)
        if prec is None:
            out = self.interval_trace(IntervalArray(lo, hi)).output
            return [Enclosure.from_floats(a, b) for a, b in zip(out.lo, out.hi, strict=True)]
        prec = int(prec)
        if prec < 53:
            raise InputError(f"{prec=} must be >= 53 (or None for the float64 path)")
        if exact is None:
            exact = ([_float_exact(v) for v in lo], [_float_exact(v) for v in hi])
        los, his = exact
        for k in range(self.depth):
            zlos, zhis = self._affine_exact(k, los, his, prec)
            if k < self.depth - 1:
                slos, shis = self._activation_mp(k, zlos, zhis, prec)
                if isinstance(self._layers[k], ResidualLayer):
                    los, his = self._residual_mp(k, los, his, slos, shis, prec)
                else:
                    los, his = slos, shis
            else:
                los, his = zlos, zhis
        return [Enclosure(a, b) for a, b in zip(los, his, strict=False)]

    def interval_trace(self, X: Any, *, dsigma: bool = False) -> IntervalTrace:
        r"""The interval forward pass: enclosures of every layer's output at every row
        (a point or a box) of ``X``.

        The one rigorous float64 forward pass: affine maps by
        :func:`~symlip.arith.linalg.affine_box` (Lemma A.1 of ``docs/intervals.md``),
        activations by :func:`sigma_box`, residual blocks $a + h\sigma(z)$ in
        :class:`~symlip.arith.array.IntervalArray` arithmetic (every endpoint one ulp
        outward).  The exact real state of the network (the weights as the doubles they
        are) at every input of a box lies in the box computed for it.

        Args:
            X: points, shape ``(batch, n0)`` or ``(n0,)`` (floats, taken exactly), or an
                :class:`~symlip.arith.array.IntervalArray` of boxes of that shape.
            dsigma: also enclose $\sigma'(z_k)$ (:func:`dsigma_box`) of the hidden layers.

        Raises:
            InputError: a non-finite input, or a float64 overflow.
        """
        a = X if isinstance(X, IntervalArray) else IntervalArray(np.asarray(X, dtype=np.float64))
        ins, ds = [a], []
        for k, layer in enumerate(self._layers):
            try:
                z = affine_box(layer.weight, layer.bias, a)
                if k == self.depth - 1:
                    return IntervalTrace(ins, ds, z)
                act = self._activations[k]
                s = sigma_box(act, z)
                if dsigma:
                    ds.append(dsigma_box(act, z))
                    if not (np.all(np.isfinite(ds[-1].lo)) and np.all(np.isfinite(ds[-1].hi))):
                        raise InputError("a derivative box is unbounded")
                a = a + s * layer.step if isinstance(layer, ResidualLayer) else s
                if not (np.all(np.isfinite(a.lo)) and np.all(np.isfinite(a.hi))):
                    raise InputError("an output box is unbounded")
            except InputError as exc:
                raise InputError(f"interval evaluation overflowed float64 in layer "
                                 f"{layer.name!r} ({exc}); use interval_forward(x, "
                                 "prec=...)") from None
            ins.append(a)
        raise AssertionError("unreachable")  # pragma: no cover

    def _residual_mp(self, k: int, los: list, his: list, slos: list, shis: list,
                     prec: int) -> tuple[list, list]:
        """$a + h s$ in mpmath intervals at ``prec`` bits (``h`` enters exactly)."""
        h = _float_exact(self._layers[k].step)
        out_lo, out_hi = [], []
        with working_precision(prec):
            hiv = iv_from(h, h)
            for a, b, sa, sb in zip(los, his, slos, shis, strict=True):
                r = iv_from(a, b) + hiv * iv_from(sa, sb)
                ra, rb = _iv_endpoints(r)
                out_lo.append(ra)
                out_hi.append(rb)
        return out_lo, out_hi

    def _input_bounds(self, x: Any) -> tuple[np.ndarray, np.ndarray, tuple | None]:
        """Float64 bounds ``lo <= x <= hi`` of the input (rounded outward), and the exact
        mpf endpoints when the input was given as intervals (else ``None``)."""
        n0 = self.widths[0]
        exact = None
        if isinstance(x, IntervalArray):
            lo, hi = np.asarray(x.lo, float).ravel(), np.asarray(x.hi, float).ravel()
        else:
            items = list(x) if not isinstance(x, np.ndarray) else list(x.ravel())
            if items and all(isinstance(v, (int, float, np.integer, np.floating))
                             for v in items):
                lo = hi = check_real_array(np.asarray(items, dtype=np.float64), "input x")
            else:
                ends = []
                for i, v in enumerate(items):
                    try:
                        a, b = _iv_endpoints(v)
                    except (TypeError, ValueError) as exc:
                        raise InputError(f"input x[{i}] = {v!r} is not a number or "
                                         f"interval ({exc})") from None
                    ends.append((a, b))
                lo = np.array([mpf_to_float(a, up=False) for a, _ in ends])
                hi = np.array([mpf_to_float(b, up=True) for _, b in ends])
                # keep exact endpoints for the multi-precision path
                exact = ([a for a, _ in ends], [b for _, b in ends])
        if lo.shape != (n0,):
            raise InputError(f"input x has {lo.size} entries, expected {n0}")
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise InputError(f"input x must be finite, got bounds {lo}, {hi}")
        if np.any(lo > hi):
            raise InputError("input interval with lower end > upper end")
        return lo, hi, exact

    def _affine_exact(self, k: int, los: list, his: list, prec: int) -> tuple[list, list]:
        """Exact $W^+ h + W^- l + b$ (and the lower twin), rounded once outward."""
        layer = self._layers[k]
        lo_me = [_mpf_split(v) for v in los]
        hi_me = [_mpf_split(v) for v in his]
        out_lo, out_hi = [], []
        for terms, (bm, be) in layer._exact_rows:
            up: list[tuple[int, int]] = [(bm, be)]
            dn: list[tuple[int, int]] = [(bm, be)]
            for j, wm, we in terms:
                (hm, he), (lm, le) = (hi_me[j], lo_me[j]) if wm > 0 else (lo_me[j], hi_me[j])
                up.append((wm * hm, we + he))
                dn.append((wm * lm, we + le))
            out_hi.append(_exact_sum(up, prec, round_ceiling))
            out_lo.append(_exact_sum(dn, prec, round_floor))
        return out_lo, out_hi

    def _activation_mp(self, k: int, los: list, his: list, prec: int) -> tuple[list, list]:
        f = _mp_interval_sigma(self._activations[k], prec)
        out_lo, out_hi = [], []
        with working_precision(prec):
            for i, (a, b) in enumerate(zip(los, his, strict=False)):
                r = f(iv_from(a, b), i)
                ra, rb = _iv_endpoints(r)
                if not (mpmath.isfinite(ra) and mpmath.isfinite(rb)):
                    raise InputError(
                        f"activation after layer {self._layers[k].name!r} is not finite"
                    )
                out_lo.append(ra)
                out_hi.append(rb)
        return out_lo, out_hi


# ----------------------------------------------------------------------------------
# rigorous helpers
# ----------------------------------------------------------------------------------


def _float_exact(v: float) -> mpmath.mpf:
    return _iv_endpoints(float(v))[0]


def _mpf_split(v: mpmath.mpf) -> tuple[int, int]:
    sign, man, exp, _ = v._mpf_
    if not man and exp:
        raise InputError(f"non-finite value {v} in exact interval evaluation")
    return (-man if sign else man), exp


#: largest span (bits between the lowest and the highest bit of the terms) summed as one
#: exact integer; beyond it (data near 1e100 through a sigmoid gives terms 2^(-10^100)
#: apart) the sum is taken with directed rounding instead: bounded time and memory
_MAX_EXACT_SPAN = 1 << 14


def _exact_sum(pairs: list[tuple[int, int]], prec: int, rnd: str) -> mpmath.mpf:
    """$\\sum m_i 2^{e_i}$ rounded to ``prec`` bits in direction ``rnd``.

    Computed exactly and rounded once when the terms span at most
    :data:`_MAX_EXACT_SPAN` bits; otherwise as a chain of additions each rounded in
    direction ``rnd`` at ``prec + 16`` bits, then once more to ``prec``.  Rounding every
    partial sum in one direction keeps it on that side of the exact partial sum
    (addition is monotone), so the result is still a certified upper (``round_ceiling``)
    or lower (``round_floor``) bound of the exact sum, at bounded cost."""
    pairs = [(m, e) for m, e in pairs if m]
    if not pairs:
        return make_mpf(from_man_exp(0, 0))
    e0 = min(e for _, e in pairs)
    top = max(e + abs(m).bit_length() for m, e in pairs)
    if top - e0 <= _MAX_EXACT_SPAN:
        total = sum(m << (e - e0) for m, e in pairs)
        return make_mpf(from_man_exp(total, e0, prec, rnd))
    from mpmath.libmp import mpf_add

    acc = from_man_exp(0, 0)
    for m, e in sorted(pairs, key=lambda p: p[1] + abs(p[0]).bit_length()):
        acc = mpf_add(acc, from_man_exp(m, e), prec + 16, rnd)
    return make_mpf(from_man_exp(*_man_exp(acc), prec, rnd))


def _man_exp(v: tuple) -> tuple[int, int]:
    sign, man, exp, _ = v
    return (-man if sign else man), exp


# ----------------------------------------------------------------------------------
# the interval forward pass: sigma on a box, layer by layer (one implementation)
# ----------------------------------------------------------------------------------


@dataclass
class IntervalTrace:
    r"""Enclosures of an interval forward pass (:meth:`Network.interval_trace`), batch
    along axis 0: ``inputs[k]`` $\ni a_k$ ($a_0 = x$), ``dsigma[k]`` $\ni
    \sigma'(z_{k+1})$ for the hidden layers (empty unless asked for), ``output``
    $\ni f$."""

    inputs: list[IntervalArray]
    dsigma: list[IntervalArray]
    output: IntervalArray

    @property
    def states(self) -> list[IntervalArray]:
        """The layer outputs $a_1, \\dots, a_{N-1}$ and $f$."""
        return [*self.inputs[1:], self.output]


@lru_cache(maxsize=256)
def _compiled(expr: Any, backend: str, prec: int | None = None) -> Any:
    """``interval_lambdify([X], expr)``, cached on the (immutable, hashable) SymPy
    expression; ``None`` when the backend has no rigorous version of it."""
    try:
        return interval_lambdify([X], expr, backend=backend, prec=prec)
    except UnsupportedOperation:
        return None


def _mp_interval_sigma(act: AbstractActivation, prec: int) -> Any:
    """``f(z, neuron)`` enclosing sigma on an ``iv`` interval at ``prec`` bits."""
    g = _compiled(act.expr, "mpmath", prec) if isinstance(act, Activation) else None
    if g is not None:
        return lambda z, neuron: g(z)
    return act.interval_sigma


def _mp_on_boxes(f: Any, z: IntervalArray) -> IntervalArray:
    """``f(interval, neuron)`` on every box of ``z`` in mpmath intervals at 64 bits,
    endpoints rounded outward to doubles (the last axis of ``z`` indexes the neurons)."""
    lo, hi = np.asarray(z.lo, dtype=np.float64), np.asarray(z.hi, dtype=np.float64)
    width = lo.shape[-1] if lo.ndim else 1
    out_lo, out_hi = np.empty(lo.shape), np.empty(hi.shape)
    with working_precision(64):
        for i in range(lo.size):
            r = f(iv_from(_float_exact(lo.flat[i]), _float_exact(hi.flat[i])), i % width)
            a, b = _iv_endpoints(r)
            if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
                raise InputError(f"activation enclosure on [{lo.flat[i]}, {hi.flat[i]}] "
                                 "is not finite")
            out_lo.flat[i] = mpf_to_float(a, up=False)
            out_hi.flat[i] = mpf_to_float(b, up=True)
    return IntervalArray(out_lo, out_hi)


def _numpy_on_boxes(f: Any, z: IntervalArray) -> IntervalArray:
    with np.errstate(over="ignore", invalid="ignore"):
        r = f(z)
    return IntervalArray(np.broadcast_to(r.lo, np.shape(z.lo)).copy(),
                         np.broadcast_to(r.hi, np.shape(z.hi)).copy())


def sigma_box(act: AbstractActivation, z: IntervalArray, *, precise: bool = False
              ) -> IntervalArray:
    r"""Rigorous enclosure of $\sigma$ on every box of ``z`` (the last axis indexes the
    neurons), endpoints rounded outward to doubles: the one enclosure of an activation
    on a box.

    In order: the activation's own vectorised rigorous version
    (``interval_sigma_array(lo, hi)``, linear splines: exact ranges); the interval
    program compiled from its expression (:func:`~symlip.symbolic.compile.
    interval_lambdify`, NumPy backend: outward-rounded algebra and the rigorous kernels
    of :mod:`symlip.arith.kernels`); otherwise, and with ``precise=True`` for
    activations beyond identity and ReLU, ``interval_sigma`` per element in mpmath
    intervals at 64 bits (widths ~1e-19 instead of ~1e-16).
    """
    vec = getattr(act, "interval_sigma_array", None)
    if vec is not None:
        shape = np.shape(z.lo)
        width = shape[-1] if shape else 1
        lo, hi = np.reshape(z.lo, (-1, width)), np.reshape(z.hi, (-1, width))
        out_lo, out_hi = np.empty(lo.shape), np.empty(hi.shape)
        for i in range(lo.shape[0]):
            out_lo[i], out_hi[i] = vec(lo[i], hi[i])
        return IntervalArray(out_lo.reshape(shape), out_hi.reshape(shape))
    fast = _compiled(act.expr, "numpy") if isinstance(act, Activation) else None
    if fast is not None and (not precise or act.name in ("identity", "relu")):
        return _numpy_on_boxes(fast, z)
    return _mp_on_boxes(_mp_interval_sigma(act, 64), z)


def dsigma_box(act: AbstractActivation, z: IntervalArray) -> IntervalArray:
    r"""Rigorous enclosure of $\sigma'$ on every box of ``z`` (rounded outward), from the
    activation's symbolic derivative (NumPy interval program, else mpmath at 64 bits).

    Raises:
        ValueError: the activation has no symbolic derivative.
    """
    d = getattr(act, "derivatives", None)
    if d is None:
        raise ValueError(f"activation {getattr(act, 'name', act)!r} has no symbolic "
                         "derivative (needed for a rigorous interval gradient)")
    fast = _compiled(d[1], "numpy")
    if fast is not None:
        return _numpy_on_boxes(fast, z)
    g = _compiled(d[1], "mpmath", 64)
    if g is None:
        raise UnsupportedOperation(f"no rigorous interval version of {d[1]}")
    return _mp_on_boxes(lambda v, neuron: g(v), z)


def _torch_activation(name: str, m: Any, nn: Any) -> AbstractActivation:
    """The registry activation of a torch activation module (or a clear error)."""
    simple = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.SiLU: "silu",
              nn.Identity: "identity"}
    for cls, key in simple.items():
        if type(m) is cls:
            return get_activation(key)
    if type(m) is nn.Softplus:
        if float(m.beta) != 1.0:
            raise InputError(f"module {name!r}: Softplus(beta={m.beta}) is not supported; "
                             "only beta=1")
        return get_activation("softplus")
    if type(m) is nn.ELU:
        return get_activation("elu", float(m.alpha))
    if type(m) is nn.LeakyReLU:
        return get_activation("leaky_relu", float(m.negative_slope))
    if type(m) is nn.GELU:
        approx = getattr(m, "approximate", "none")
        if approx != "none":
            raise InputError(
                f"module {name!r}: GELU(approximate={approx!r}) is not supported; symlip "
                "certifies the exact erf form GELU(approximate='none')"
            )
        return get_activation("gelu")
    raise InputError(
        f"module {name!r} of type {type(m).__name__} is not supported; expected Linear or "
        "one of Tanh, ReLU, Sigmoid, Softplus, ELU, GELU, SiLU, LeakyReLU, Identity"
    )

