"""Exceptions symlip raises for bad input: each names the value and what was expected."""

from __future__ import annotations

__all__ = [
    "SymlipError",
    "ModelFileError",
    "UnknownActivationError",
    "NotSmoothError",
    "InputError",
    "CertificateError",
    "InternalError",
    "WitnessOutsideError",
]


class SymlipError(ValueError):
    """Base class of symlip's user-facing errors (the CLI prints them as one line)."""


class InputError(SymlipError):
    """A bad argument: negative radius, NaN data, mismatched shapes..."""


class ModelFileError(SymlipError):
    """A model file that cannot be read as a network (missing bias, shape mismatch...)."""


class UnknownActivationError(SymlipError):
    """An activation name that is not in the registry."""


class NotSmoothError(SymlipError):
    """A second-order (gradient) bound asked of an activation whose derivative jumps.

    Attributes:
        witness: optional data showing that no finite bound exists.
    """

    def __init__(self, message: str, witness: object | None = None) -> None:
        super().__init__(message)
        self.witness = witness


class CertificateError(SymlipError):
    """A certificate file that is malformed (not one that fails verification)."""


class InternalError(RuntimeError):
    """symlip's own run-time consistency check failed (e.g. the float evaluation of a
    bound's expression lies outside its interval enclosure): the result is refused.
    Not a user error: the CLI prints it as one line and exits with code 3."""
class WitnessOutsideError(InputError):
    """A lower-bound witness whose points leave the set the bound is stated over (the
    parameter ball): a well-formed certificate that does not hold (``verify`` exits 1)."""
