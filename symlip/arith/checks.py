"""Exact conversion of user arrays to float64, with a clear error for anything else."""

from __future__ import annotations

from typing import Any

import numpy as np

from symlip.errors import InputError, SymlipError

__all__ = ["check_real_array"]


def check_real_array(
    value: Any, what: str, error: type[SymlipError] = InputError
) -> np.ndarray:
    """Convert ``value`` to a float64 array *exactly*, or raise ``error`` naming ``what``.

    float16/float32/float64 arrays (and integers of magnitude <= 2**53) convert to
    float64 without rounding; anything else (complex, bool, long double, object,
    strings) is rejected, as are NaN and infinite entries.

    Args:
        value: array-like.
        what: how the error message names the value (``"tensor '0.weight'"``).
        error: the exception class to raise.

    Returns:
        A new float64 array.

    Raises:
        error: unsupported dtype or a non-finite entry.

    Examples:
        >>> check_real_array(np.float32([0.1]), "w").tolist() == [float(np.float32(0.1))]
        True
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise error(f"{what} is not a numeric array ({exc})") from None
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "f" and size in (2, 4, 8):
        out = arr.astype(np.float64)  # exact: every float16/32 value is a double
    elif kind in "iu":
        if arr.size and np.max(np.abs(arr.astype(object))) > 2**53:
            raise error(f"{what} has integers above 2**53 that float64 cannot hold exactly")
        out = arr.astype(np.float64)
    else:
        raise error(
            f"{what} has unsupported dtype {arr.dtype}; expected float16, float32 or float64"
        )
    bad = ~np.isfinite(out)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        kind_s = "NaN" if np.isnan(out[idx]) else "infinite"
        raise error(
            f"{what} has {int(bad.sum())} non-finite entr{'y' if bad.sum() == 1 else 'ies'} "
            f"(first: {kind_s} at index {list(idx)})"
        )
    return out
