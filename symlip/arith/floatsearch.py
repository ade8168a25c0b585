"""The float (uncertified) searches behind the sampled estimates and the lower-bound
witnesses: at extreme magnitudes (weights or data near 1e300) their float arithmetic
overflows, which is expected there and handled (non-finite candidates lose, every
certified number is recomputed in interval arithmetic).  :func:`float_search` keeps
NumPy's overflow/underflow/invalid warnings of such a search from reaching the user."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["float_search"]


def float_search(fn: F) -> F:
    """Run ``fn`` under ``np.errstate(all="ignore")``: for float searches only, never
    for a certified computation (those check finiteness explicitly)."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
