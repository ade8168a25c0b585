"""symlip: verified symbolic derivation of Lipschitz constants of neural networks.

Every bound is one SymPy expression (a :class:`Formula`): lambdified to NumPy for fast
*estimates*, evaluated in outward-rounded interval arithmetic for *certified* numbers,
and rendered step by step (a :class:`Derivation`) as LaTeX, Markdown or text.

``__all__`` is the curated API (about 25 names: models, the main bounds, the result,
formula, derivation and enclosure types, certificates, the controlled-ODE facade
:mod:`symlip.cde`, errors).  Everything else lives in its layer's module (see
docs/architecture.md); the former flat names stay reachable as ``symlip.NAME`` aliases.

The names are loaded on first use (PEP 562 ``__getattr__``), so ``import symlip`` does
not pay for SymPy and mpmath until something is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from symlip._version import __version__

#: the curated public names -> the module that defines each (imported on first access)
_PUBLIC: dict[str, str] = {
    # models: build, load, save, convert
    "Network": "symlip.models.network",
    "load": "symlip.models.io",
    "save": "symlip.models.io",
    "from_torch": "symlip.models.torch",
    "load_onnx": "symlip.models.onnx",
    "get_activation": "symlip.activations.registry",
    # bounds
    "input_lipschitz": "symlip.bounds.input",
    "local_input_lipschitz": "symlip.bounds.input",
    "lipsdp_lipschitz": "symlip.bounds.lipsdp",
    "certified_input_lipschitz": "symlip.bounds.lipsdp",
    "param_lipschitz": "symlip.bounds.param",
    "grad_lipschitz": "symlip.bounds.smooth",
    "certified_step": "symlip.bounds.smooth",
    "BoundResult": "symlip.bounds.result",
    # the symbolic core and certified numbers
    "Formula": "symlip.symbolic.formula",
    "Derivation": "symlip.symbolic.derivation",
    "Enclosure": "symlip.arith.enclosure",
    # certificates
    "make_certificate": "symlip.certificate",
    "verify_certificate": "symlip.certificate",
    # controlled ODEs (a facade module: symlip.cde.param_lipschitz, ...)
    "cde": "symlip.cde",
    # errors
    "SymlipError": "symlip.errors",
    "InputError": "symlip.errors",
    "ModelFileError": "symlip.errors",
    "CertificateError": "symlip.errors",
    "NotSmoothError": "symlip.errors",
}

#: names of the former flat API (before issue #14): still reachable as ``symlip.NAME``
#: for existing code and the docs, but not part of ``__all__``; new code imports them
#: from their module (the value here).
_ALIASES: dict[str, str] = {
    "activation_names": "symlip.activations.registry",
    "no_global_bound": "symlip.bounds.noglobal",
    "StepResult": "symlip.bounds.smooth",
    "param_and_grad_lipschitz": "symlip.bounds.smooth",
    "spline_param_lipschitz": "symlip.bounds.spline_param",
    "ControlledODE": "symlip.models.cde",
    "ConvLayer": "symlip.models.conv",
    "conv_norm": "symlip.models.conv",
    "conv_param_lipschitz": "symlip.bounds.conv_param",
    "conv_grad_lipschitz": "symlip.bounds.conv_grad",
    "load_demo": "symlip.app.demo",
    "run_demo": "symlip.app.demo",
    "Step": "symlip.symbolic.derivation",
    "UnknownActivationError": "symlip.errors",
    "Truth": "symlip.arith.enclosure",
    "compare": "symlip.arith.enclosure",
    "load_layers": "symlip.models.io",
    "read_model": "symlip.models.io",
    "sha256_file": "symlip.models.io",
    "bjorck_orthonormalize": "symlip.models.lipschitz_layers",
    "certified_spectral_normalize": "symlip.models.lipschitz_layers",
    "certify_lipschitz_network": "symlip.models.lipschitz_layers",
    "layer_epsilon": "symlip.models.lipschitz_layers",
    "spectral_normalize": "symlip.models.lipschitz_layers",
    "tight_spectral_norm": "symlip.models.lipschitz_layers",
    "DenseLayer": "symlip.models.network",
    "ResidualLayer": "symlip.models.network",
    "frobenius_norm": "symlip.arith.norms",
    "norm_1": "symlip.arith.norms",
    "norm_inf": "symlip.arith.norms",
    "spectral_norm": "symlip.arith.norms",
    "spectral_norm_upper": "symlip.arith.norms",
    "LinearSpline": "symlip.activations.spline",
    "certify_max_slope": "symlip.activations.spline",
    "clip_slopes": "symlip.activations.spline",
    "project_slopes": "symlip.activations.spline",
    "spline_network": "symlip.activations.spline",
    "track": "symlip.torch.track",
}

_LAZY: dict[str, str] = {**_ALIASES, **_PUBLIC}

__all__ = ["__version__", *_PUBLIC]


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
    return sorted(set(globals()) | set(__all__))
