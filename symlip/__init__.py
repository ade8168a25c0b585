"""symlip: verified symbolic derivation of Lipschitz constants of neural networks.

Every bound is one SymPy expression (a :class:`Formula`): lambdified to NumPy for fast
*estimates*, evaluated in outward-rounded interval arithmetic for *certified* numbers,
and rendered step by step (a :class:`Derivation`) as LaTeX, Markdown or text.
"""

from symlip._version import __version__
from symlip.activations import activation_names, get_activation
from symlip.bounds.input import input_lipschitz, local_input_lipschitz
from symlip.certificate import make_certificate, verify_certificate
from symlip.derivation import Derivation, Step
from symlip.errors import (
    CertificateError,
    InputError,
    ModelFileError,
    NotSmoothError,
    SymlipError,
    UnknownActivationError,
)
from symlip.formula import Formula
from symlip.intervals import Enclosure, Truth, compare
from symlip.io import load, save
from symlip.network import DenseLayer, Network
from symlip.norms import frobenius_norm, norm_1, norm_inf, spectral_norm
from symlip.result import BoundResult


__all__ = [
    "__version__",
    "BoundResult",
    "CertificateError",
    "DenseLayer",
    "Derivation",
    "Enclosure",
    "Formula",
    "InputError",
    "ModelFileError",
    "Network",
    "NotSmoothError",
    "Step",
    "SymlipError",
    "Truth",
    "UnknownActivationError",
    "activation_names",
    "compare",
    "frobenius_norm",
    "get_activation",
    "input_lipschitz",
    "load",
    "local_input_lipschitz",
    "make_certificate",
    "norm_1",
    "norm_inf",
    "save",
    "spectral_norm",
    "verify_certificate",
]
