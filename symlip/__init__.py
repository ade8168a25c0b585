"""symlip: verified symbolic derivation of Lipschitz constants of neural networks.

Every bound is one SymPy expression (a :class:`Formula`): lambdified to NumPy for fast
*estimates*, evaluated in outward-rounded interval arithmetic for *certified* numbers,
and rendered step by step (a :class:`Derivation`) as LaTeX, Markdown or text.
"""

from symlip import cde
from symlip._version import __version__
from symlip.activations import activation_names, get_activation
from symlip.bounds.input import input_lipschitz, local_input_lipschitz
from symlip.bounds.noglobal import no_global_bound
from symlip.bounds.param import param_lipschitz
from symlip.bounds.smooth import (
    StepResult,
    certified_step,
    grad_lipschitz,
    param_and_grad_lipschitz,
)
from symlip.bounds.spline_param import spline_param_lipschitz
from symlip.cde.model import ControlledODE
from symlip.certificate import make_certificate, verify_certificate
from symlip.demo import load_demo, run_demo
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
from symlip.io import load, load_layers, read_model, save, sha256_file
from symlip.lipschitz_layers import (
    bjorck_orthonormalize,
    certified_spectral_normalize,
    certify_lipschitz_network,
    layer_epsilon,
    spectral_normalize,
    tight_spectral_norm,
)
from symlip.network import DenseLayer, Network, ResidualLayer
from symlip.norms import frobenius_norm, norm_1, norm_inf, spectral_norm, spectral_norm_upper
from symlip.result import BoundResult
from symlip.spline import (
    LinearSpline,
    certify_max_slope,
    clip_slopes,
    project_slopes,
    spline_network,
)

__all__ = [
    "__version__",
    "BoundResult",
    "CertificateError",
    "ControlledODE",
    "DenseLayer",
    "Derivation",
    "Enclosure",
    "Formula",
    "InputError",
    "LinearSpline",
    "ModelFileError",
    "Network",
    "NotSmoothError",
    "ResidualLayer",
    "Step",
    "StepResult",
    "SymlipError",
    "Truth",
    "UnknownActivationError",
    "activation_names",
    "bjorck_orthonormalize",
    "cde",
    "certified_spectral_normalize",
    "certified_step",
    "certify_lipschitz_network",
    "certify_max_slope",
    "clip_slopes",
    "compare",
    "frobenius_norm",
    "get_activation",
    "grad_lipschitz",
    "input_lipschitz",
    "layer_epsilon",
    "load",
    "load_layers",
    "local_input_lipschitz",
    "load_demo",
    "make_certificate",
    "no_global_bound",
    "norm_1",
    "norm_inf",
    "param_and_grad_lipschitz",
    "param_lipschitz",
    "project_slopes",
    "read_model",
    "run_demo",
    "save",
    "sha256_file",
    "spectral_norm",
    "spectral_norm_upper",
    "spectral_normalize",
    "spline_network",
    "spline_param_lipschitz",
    "tight_spectral_norm",
    "verify_certificate",
]
