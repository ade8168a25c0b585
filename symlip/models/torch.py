r"""PyTorch modules to symlip networks, through ONNX (``pip install 'symlip[torch,onnx]'``).

``from_torch(module, input_shape)`` exports the module in ``eval()`` mode with
``torch.onnx.export`` (the TorchScript exporter, ``dynamo=False``, opset 20, so that
``GELU`` is one ``Gelu`` node) into an in-memory buffer and reads it back with
:func:`symlip.models.onnx.load_onnx`.  The round trip is what a user would do by hand
(``torch.onnx.export`` then ``symlip.load("model.onnx")``), so both routes give the
same network; the exporter folds ``BatchNorm`` into the preceding convolution itself.
Parameters are exported as float32 when the module is float32: the analysed network
has exactly those float32 weights (every float32 is a double); a float64 module is
exported in float64.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

from symlip.errors import InputError
from symlip.models.network import Network

__all__ = ["from_torch", "export_onnx"]


def export_onnx(module: Any, input_shape: Sequence[int], path: str | os.PathLike[str] | None
                = None) -> bytes:
    """The ONNX bytes of ``module`` on one input of shape ``(1, *input_shape)`` (also
    written to ``path`` when given).  The module is put in ``eval()`` mode.

    Raises:
        InputError: not a torch module, a bad shape, or an export failure (one line).
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - the extra is installed in CI
        raise InputError("from_torch needs PyTorch: pip install 'symlip[torch]'") from None
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise InputError(f"input_shape={input_shape!r} must be a tuple of positive "
                         "integers (without the batch axis)") from None
    if not shape or min(shape) < 1:
        raise InputError(f"input_shape={input_shape!r} must be a tuple of positive integers "
                         "(without the batch axis), e.g. (1, 28, 28)")
    module.eval()
    params = list(module.parameters())
    dtype = params[0].dtype if params else torch.float32
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.zeros((1, *shape), dtype=dtype),), buf,
                              dynamo=False, opset_version=20, input_names=["x"],
                              output_names=["y"])
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types
        msg = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise InputError(f"torch.onnx.export failed for {type(module).__name__} on input "
                         f"shape {shape}: {msg}") from None
    data = buf.getvalue()
    if path is not None:
        with open(path, "wb") as fh:
            fh.write(data)
    return data


def from_torch(module: Any, input_shape: Sequence[int]) -> Network:
    """The :class:`~symlip.models.network.Network` of a PyTorch module (a ``Sequential`` of
    ``Conv2d``, ``Linear``, ``BatchNorm``, ``AvgPool2d``, ``Flatten`` and the supported
    activations, or any module whose ONNX export uses only the operators of
    :mod:`symlip.models.onnx`), on inputs of shape ``input_shape`` (no batch axis).

    Raises:
        InputError: export failure, bad arguments.
        ModelFileError: an operator symlip does not import (node and op type named).

    Examples:
        >>> import torch  # doctest: +SKIP
        >>> net = from_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3),
        ...     torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8, 1)), (1, 4, 4))
        >>> net.widths  # doctest: +SKIP
        [16, 8, 1]
    """
    from symlip.models.onnx import load_onnx

    data = export_onnx(module, input_shape)
    fd, tmp = tempfile.mkstemp(suffix=".onnx")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return load_onnx(tmp)
    finally:
        os.unlink(tmp)
