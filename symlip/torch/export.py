r"""Export of trained 1-Lipschitz torch models to symlip networks and model files,
**certified-normalised**, so that ``symlip certify FILE --wrt input --target 1`` says
``certified-1-lipschitz``.

Floating-point Björck or spectral normalisation leaves $\lVert W\rVert_2 = 1 + O(u)$,
and the paper's float clip map leaves spline slopes of $1 + 10^{-16}$ (see
``docs/splines.md``).  The export therefore, in float64:

1. takes each layer's effective weight (after Björck / spectral normalisation) and,
   when its certified spectral norm (:func:`symlip.models.lipschitz_layers.tight_spectral_norm`)
   is not $\le 1$, divides it by the certified upper bound and re-certifies
   (:func:`symlip.models.lipschitz_layers.certified_spectral_normalize`): every exported layer
   has certified $\lVert W_k\rVert_2 \le 1$;
2. replaces each spline's coefficients by their exact Euclidean projection onto
   $\max_i |s_i| \le 1$ (:func:`symlip.activations.spline.project_slopes`): certified $K_1 \le 1$.

The certified product bound $\prod_k \lVert W_k\rVert_2 \prod_k K_{1,k}$ is then
$\le 1$.  The exported network differs from the torch one by these (tiny) changes; its
forward is checked against the torch forward by the tests.

**GroupSort** (group size 2) is not an elementwise activation and model files cannot
name it; it is exported *exactly in real arithmetic* as a per-neuron spline network:
on a pair $(a, b)$, with the orthogonal $P = \tfrac{1}{\sqrt2}
\left(\begin{smallmatrix}1 & 1\\ 1 & -1\end{smallmatrix}\right)$ and
$M = \tfrac{1}{\sqrt2}\left(\begin{smallmatrix}1 & -1\\ 1 & 1\end{smallmatrix}\right)$,

$$ \mathrm{GS}(a, b) = (\min, \max) = M \big(\mathrm{id}(s), |d|\big),\qquad
   (s, d) = P (a, b), $$

since $\min = \tfrac{a + b}{2} - \tfrac{|a - b|}{2}$ and
$\max = \tfrac{a + b}{2} + \tfrac{|a - b|}{2}$.  $P$ is folded into the layer before
($W_k \to P W_k$, $b_k \to P b_k$), $M$ into the layer after
($W_{k+1} \to W_{k+1} M$); the activation becomes the per-neuron splines
identity / absolute value (3 knots on $[-1, 1]$, slopes exactly $\pm1$).  Orthogonal
factors leave spectral norms unchanged (up to the rounding of the float64 products,
which step 1 absorbs), so the certified bound is the product of the certified layer
norms, as for GroupSort networks in the literature (GroupSort is 1-Lipschitz: a
permutation on each input).  The absolute-value activation is exported the same way
(the spline $|x|$ on every neuron).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from symlip.errors import InputError

__all__ = ["certified_normalise_weight", "to_network", "export", "certify_model"]

_IDENT = np.array([-1.0, 0.0, 1.0])
_ABS = np.array([1.0, 0.0, 1.0])


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy().copy()


def certified_normalise_weight(W: Any) -> np.ndarray:
    r"""``W`` (float64) if its certified $\lVert W\rVert_2 \le 1$, else ``W`` divided by
    its certified upper bound (slightly enlarged, then re-certified $\le 1$)."""
    from symlip.arith.enclosure import Truth, compare
    from symlip.models.lipschitz_layers import certified_spectral_normalize, tight_spectral_norm

    a = np.asarray(W, dtype=np.float64)
    if compare(tight_spectral_norm(a).upper, "<=", 1) is Truth.TRUE:
        return a
    return certified_spectral_normalize(a)[0]


def _pair_blocks(n: int, block: list[list[float]]) -> np.ndarray:
    r = 1.0 / math.sqrt(2.0)
    P = np.zeros((n, n))
    for i in range(0, n, 2):
        P[i:i + 2, i:i + 2] = np.array(block) * r
    return P


def to_network(model: Any, *, normalise: bool = True) -> Any:
    """The :class:`~symlip.models.network.Network` of a trained
    :class:`~symlip.torch.models.LipschitzMLP` (float64), certified-normalised unless
    ``normalise=False`` (then the raw effective weights and spline coefficients).

    ReLU networks get the registry activation ``relu``; spline networks their
    (projected) splines; GroupSort and absolute-value networks per-neuron splines (see
    the module docstring).

    Raises:
        InputError: not a :class:`LipschitzMLP`.
    """
    from symlip.activations.spline import LinearSpline as NpSpline
    from symlip.models.network import Network
    from symlip.torch.models import LipschitzMLP

    if not isinstance(model, LipschitzMLP):
        raise InputError(f"to_network needs a symlip.torch.LipschitzMLP, got "
                         f"{type(model).__name__}")
    with torch.no_grad():
        Ws = [_np(w) for w in model.effective_weights()]
        bs = [_np(lin.bias) if lin.bias is not None else np.zeros(w.shape[0])
              for lin, w in zip(model.linears, Ws, strict=True)]
    kind = model.activation
    acts: Any
    if kind == "relu":
        acts = "relu"
    elif kind == "spline":
        acts = [s.to_symlip(exact=normalise) for s in model.splines()]
    elif kind == "abs":
        acts = [NpSpline(np.tile(_ABS, (w.shape[0], 1)), 1.0) for w in Ws[:-1]]
    else:  # groupsort: fold the pair rotation into the neighbouring layers
        for k in range(len(Ws) - 1):
            n = Ws[k].shape[0]
            P, M = _pair_blocks(n, [[1, 1], [1, -1]]), _pair_blocks(n, [[1, -1], [1, 1]])
            Ws[k] = P @ Ws[k]
            bs[k] = P @ bs[k]
            Ws[k + 1] = Ws[k + 1] @ M
        acts = [NpSpline(np.stack([_IDENT if i % 2 == 0 else _ABS
                                   for i in range(w.shape[0])]), 1.0) for w in Ws[:-1]]
    if normalise:
        Ws = [certified_normalise_weight(w) for w in Ws]
    if len(Ws) == 1:
        acts = None
    return Network.from_arrays(Ws, bs, acts)


def export(model: Any, path: str | Path, *, normalise: bool = True,
           metadata: dict[str, str] | None = None) -> Any:
    """Write the certified-normalised network of ``model`` to a symlip model file
    (``.npz`` / ``.safetensors``, :func:`symlip.models.io.save`) and return the
    :class:`~symlip.models.network.Network` written."""
    import symlip.models.io

    net = to_network(model, normalise=normalise)
    md = {"symlip.torch.activation": model.activation}
    md.update(metadata or {})
    symlip.models.io.save(net, path, metadata=md)
    return net


def certify_model(model: Any, data: Any = None, target: Any = 1, *,
                  seed: int = 0) -> Any:
    """Certify the exported network of ``model`` against ``target``
    (:func:`symlip.models.lipschitz_layers.certify_lipschitz_network`): the result's
    ``extra["verdict"]`` is ``certified-1-lipschitz`` for a certified-normalised export."""
    from symlip.models.lipschitz_layers import certify_lipschitz_network

    net = model if not hasattr(model, "effective_weights") else to_network(model)
    return certify_lipschitz_network(net, target, data, seed=seed)
