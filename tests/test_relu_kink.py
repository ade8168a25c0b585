"""The derivative range of a kinked activation at the kink holds both one-sided
derivatives (issue #17 finding 5: SymPy's Heaviside(0) = 1/2 gave [0.5, 0.5] for ReLU,
Piecewise's first branch [1, 1] for leaky ReLU)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("name, left, right", [("relu", 0.0, 1.0),
                                                ("leaky_relu", 0.01, 1.0)])
def test_derivative_range_at_a_kink_holds_both_one_sided_derivatives(name, left, right):
    from symlip.activations.registry import get_activation
    from symlip.arith.array import IntervalArray
    from symlip.bounds.local_jacobian import derivative_ranges

    act = get_activation(name)
    z = IntervalArray(np.array([0.0, 0.0, -1.0]), np.array([0.0, 2.0, 0.0]))
    r = derivative_ranges(act, z, np.full(3, 2.0))
    assert np.all(r.lo <= left) and np.all(r.hi >= right), (r.lo, r.hi)
    # away from the kink the range stays a point
    away = derivative_ranges(act, IntervalArray(np.array([1.0]), np.array([2.0])),
                             np.full(1, 2.0))
    assert away.lo[0] == away.hi[0] == right
