"""Private: a PyTorch ``nn.Sequential`` of Linear and activation modules as a symlip
:class:`~symlip.models.network.Network` (float64 copies of the weights, exact).

Kept minimal on purpose: it is :meth:`symlip.models.network.Network.from_torch` (which refuses
unsupported modules by name) after a check that the model is on the CPU side of what
it can read.  The general importer (``symlip.from_torch`` through ONNX, issue #13) will
replace it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_network", "params_vector", "set_params_vector"]


def to_network(model: Any) -> Any:
    """The symlip network of ``model`` (an ``nn.Sequential`` of ``Linear`` and supported
    activation modules, linear read-out).  Weights are converted exactly to float64.

    Raises:
        InputError: not a Sequential, an unsupported module (named), a bad layout.
    """
    from symlip.models.network import Network

    return Network.from_torch(model)


def params_vector(model: Any) -> np.ndarray:
    """The parameters of ``model`` in ``state_dict`` order as one float64 vector (the
    order of :meth:`symlip.models.network.Network.params`)."""
    import torch

    with torch.no_grad():
        return np.concatenate([p.detach().to("cpu", torch.float64).reshape(-1).numpy()
                               for p in model.parameters()])


def set_params_vector(model: Any, theta: np.ndarray) -> None:
    """Write the flat vector ``theta`` (``state_dict`` order) into ``model``'s parameters
    (cast to each parameter's dtype)."""
    import torch

    k = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(torch.as_tensor(theta[k:k + n], dtype=p.dtype).reshape(p.shape))
            k += n
    if k != theta.size:
        raise ValueError(f"parameter vector has {theta.size} entries; the model {k}")
