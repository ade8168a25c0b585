"""Bound modules: each registers its certificate quantity on import.

* :mod:`symlip.bounds.input` — Lipschitz constants w.r.t. the input.
* :mod:`symlip.bounds.param` — w.r.t. the parameters, on a ball (first order).
* :mod:`symlip.bounds.smooth` — of the loss gradient w.r.t. the parameters (second
  order), certified step sizes.
* :mod:`symlip.bounds.noglobal` — why no global parameter bound exists.
* :mod:`symlip.bounds.recursion` — the symbolic recursions behind param and smooth.
"""

from symlip.bounds import input as _input  # noqa: F401
from symlip.bounds import (
    param,  # noqa: F401
    recursion,  # noqa: F401  (first: param/smooth build on it)
    smooth,  # noqa: F401
)
