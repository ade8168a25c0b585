"""symlip: verified symbolic derivation of Lipschitz constants of neural networks.

Every bound is one SymPy expression (a :class:`Formula`): lambdified to NumPy for fast
*estimates*, evaluated in outward-rounded interval arithmetic for *certified* numbers,
and rendered step by step (a :class:`Derivation`) as LaTeX, Markdown or text.

The public names are loaded on first use (PEP 562 ``__getattr__``), so ``import symlip``
does not pay for SymPy and mpmath until something is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from symlip._version import __version__

#: public name -> the module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    "cde": "symlip.cde",
    "activation_names": "symlip.activations",
    "get_activation": "symlip.activations",
    "input_lipschitz": "symlip.bounds.input",
    "local_input_lipschitz": "symlip.bounds.input",
    "lipsdp_lipschitz": "symlip.bounds.lipsdp",
    "certified_input_lipschitz": "symlip.bounds.lipsdp",
    "no_global_bound": "symlip.bounds.noglobal",
    "param_lipschitz": "symlip.bounds.param",
    "StepResult": "symlip.bounds.smooth",
    "certified_step": "symlip.bounds.smooth",
    "grad_lipschitz": "symlip.bounds.smooth",
    "param_and_grad_lipschitz": "symlip.bounds.smooth",
    "spline_param_lipschitz": "symlip.bounds.spline_param",
    "ControlledODE": "symlip.cde.model",
    "make_certificate": "symlip.certificate",
    "from_torch": "symlip.models.torch",
    "load_onnx": "symlip.models.onnx",
    "ConvLayer": "symlip.models.conv",
    "conv_norm": "symlip.models.conv",
    "conv_param_lipschitz": "symlip.models.conv_param",
    "verify_certificate": "symlip.certificate",
    "load_demo": "symlip.demo",
    "run_demo": "symlip.demo",
    "Derivation": "symlip.derivation",
    "Step": "symlip.derivation",
    "CertificateError": "symlip.errors",
    "InputError": "symlip.errors",
    "ModelFileError": "symlip.errors",
    "NotSmoothError": "symlip.errors",
    "SymlipError": "symlip.errors",
    "UnknownActivationError": "symlip.errors",
    "Formula": "symlip.formula",
    "Enclosure": "symlip.intervals",
    "Truth": "symlip.intervals",
    "compare": "symlip.intervals",
    "load": "symlip.io",
    "load_layers": "symlip.io",
    "read_model": "symlip.io",
    "save": "symlip.io",
    "sha256_file": "symlip.io",
    "bjorck_orthonormalize": "symlip.lipschitz_layers",
    "certified_spectral_normalize": "symlip.lipschitz_layers",
    "certify_lipschitz_network": "symlip.lipschitz_layers",
    "layer_epsilon": "symlip.lipschitz_layers",
    "spectral_normalize": "symlip.lipschitz_layers",
    "tight_spectral_norm": "symlip.lipschitz_layers",
    "DenseLayer": "symlip.network",
    "Network": "symlip.network",
    "ResidualLayer": "symlip.network",
    "frobenius_norm": "symlip.norms",
    "norm_1": "symlip.norms",
    "norm_inf": "symlip.norms",
    "spectral_norm": "symlip.norms",
    "spectral_norm_upper": "symlip.norms",
    "BoundResult": "symlip.result",
    "LinearSpline": "symlip.spline",
    "certify_max_slope": "symlip.spline",
    "clip_slopes": "symlip.spline",
    "project_slopes": "symlip.spline",
    "spline_network": "symlip.spline",
    "track": "symlip.torch.track",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    try:
        modname = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'symlip' has no attribute {name!r}") from None
    mod = importlib.import_module(modname)
    value = mod if modname == f"symlip.{name}" else getattr(mod, name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
