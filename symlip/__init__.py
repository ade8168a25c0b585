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
    "activation_names": "symlip.activations.registry",
    "get_activation": "symlip.activations.registry",
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
    "ControlledODE": "symlip.models.cde",
    "make_certificate": "symlip.certificate",
    "from_torch": "symlip.models.torch",
    "load_onnx": "symlip.models.onnx",
    "ConvLayer": "symlip.models.conv",
    "conv_norm": "symlip.models.conv",
    "conv_param_lipschitz": "symlip.bounds.conv_param",
    "verify_certificate": "symlip.certificate",
    "load_demo": "symlip.app.demo",
    "run_demo": "symlip.app.demo",
    "Derivation": "symlip.symbolic.derivation",
    "Step": "symlip.symbolic.derivation",
    "CertificateError": "symlip.errors",
    "InputError": "symlip.errors",
    "ModelFileError": "symlip.errors",
    "NotSmoothError": "symlip.errors",
    "SymlipError": "symlip.errors",
    "UnknownActivationError": "symlip.errors",
    "Formula": "symlip.symbolic.formula",
    "Enclosure": "symlip.arith.enclosure",
    "Truth": "symlip.arith.enclosure",
    "compare": "symlip.arith.enclosure",
    "load": "symlip.models.io",
    "load_layers": "symlip.models.io",
    "read_model": "symlip.models.io",
    "save": "symlip.models.io",
    "sha256_file": "symlip.models.io",
    "bjorck_orthonormalize": "symlip.models.lipschitz_layers",
    "certified_spectral_normalize": "symlip.models.lipschitz_layers",
    "certify_lipschitz_network": "symlip.models.lipschitz_layers",
    "layer_epsilon": "symlip.models.lipschitz_layers",
    "spectral_normalize": "symlip.models.lipschitz_layers",
    "tight_spectral_norm": "symlip.models.lipschitz_layers",
    "DenseLayer": "symlip.models.network",
    "Network": "symlip.models.network",
    "ResidualLayer": "symlip.models.network",
    "frobenius_norm": "symlip.arith.norms",
    "norm_1": "symlip.arith.norms",
    "norm_inf": "symlip.arith.norms",
    "spectral_norm": "symlip.arith.norms",
    "spectral_norm_upper": "symlip.arith.norms",
    "BoundResult": "symlip.bounds.result",
    "LinearSpline": "symlip.activations.spline",
    "certify_max_slope": "symlip.activations.spline",
    "clip_slopes": "symlip.activations.spline",
    "project_slopes": "symlip.activations.spline",
    "spline_network": "symlip.activations.spline",
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
