"""PyTorch side of symlip (the optional ``torch`` extra): modules to train
Lipschitz-constrained networks, recorders of bounds through training, and optimizers
with certified step sizes. Trained models are exported to symlip model files and
certified by the library; nothing here is itself a certified number.
"""

# --- issue #15: 1-Lipschitz layers, learnable linear splines, export (lazy: torch is
# imported on first use of a name)
_LAZY_TORCH = {
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


def __getattr__(name):  # PEP 562
    mod = _LAZY_TORCH.get(name)
    if mod is None:
        raise AttributeError(f"module 'symlip.torch' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(mod), name)
