"""Validation of the arguments every bound shares (one place, one message)."""

from __future__ import annotations

import math
from typing import Any

from symlip.errors import InputError

__all__ = ["check_radius"]


def check_radius(radius: Any) -> float:
    """The radius of a parameter ball as a float; :class:`~symlip.errors.InputError`
    naming the value unless it is a finite number >= 0."""
    try:
        r = float(radius)
    except (TypeError, ValueError):
        raise InputError(f"{radius=} must be a number >= 0") from None
    if not math.isfinite(r) or r < 0:
        raise InputError(f"{radius=} must be a finite number >= 0")
    return r
