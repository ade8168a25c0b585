"""PyTorch side of symlip (the optional ``torch`` extra): modules to train
Lipschitz-constrained networks, recorders of bounds through training, and optimizers
with certified step sizes. Trained models are exported to symlip model files and
certified by the library; nothing here is itself a certified number.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module under symlip.torch (imported on first use, so importing
#: symlip.torch does not import PyTorch)
_LAZY: dict[str, str] = {
    "Recorder": "symlip.torch.track",
    "CertifiedGD": "symlip.torch.optim",
    # issue #15: 1-Lipschitz layers, learnable linear splines, export
    "LinearSpline": "symlip.torch.layers",
    "BjorckLinear": "symlip.torch.layers",
    "SpectralNormLinear": "symlip.torch.layers",
    "GroupSort": "symlip.torch.layers",
    "Abs": "symlip.torch.layers",
    "bjorck": "symlip.torch.layers",
    "clip_slopes_torch": "symlip.torch.layers",
    "tv2_torch": "symlip.torch.layers",
    "LipschitzMLP": "symlip.torch.models",
    "to_network": "symlip.torch.export",
    "export": "symlip.torch.export",
    "certify_model": "symlip.torch.export",
    "train_regression": "symlip.torch.train",
    "train_classifier": "symlip.torch.train",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        modname = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'symlip.torch' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(modname), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
