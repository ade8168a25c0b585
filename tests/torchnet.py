"""The dense network of a :class:`~symlip.models.network.Network` as a torch function of
its flat parameter vector (``Network.params()`` order), for exact Hessians in the tests
(torch is a test dependency)."""

from __future__ import annotations

import math

import numpy as np
import torch

from symlip.models.network import Network

ACTS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid,
        "softplus": torch.nn.functional.softplus, "gelu": torch.nn.functional.gelu}


def random_net(rng, widths, act, scale=1.0):
    """Weights N(0, scale^2 / fan_in), biases N(0, 0.09)."""
    ws = [scale * rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])
          for k in range(len(widths) - 1)]
    bs = [0.3 * rng.standard_normal(widths[k + 1]) for k in range(len(widths) - 1)]
    return Network.from_arrays(ws, bs, act)


def forward(net, act: str, k: int | None = None):
    """``fwd(theta, x)``: the network's output at parameters ``theta`` (a float64 torch
    tensor, over all the network's parameters) and input ``x`` (NumPy), activation
    ``act`` after every hidden layer; with ``k``, the pre-activation $z_k$ instead."""
    w = net.widths
    k = net.depth if k is None else k

    def fwd(theta, x):
        a, i = torch.tensor(np.asarray(x, dtype=np.float64)), 0
        for q in range(k):
            W = theta[i:i + w[q + 1] * w[q]].reshape(w[q + 1], w[q])
            i += w[q + 1] * w[q]
            z = W @ a + theta[i:i + w[q + 1]]
            i += w[q + 1]
            a = ACTS[act](z)
        return z

    return fwd
