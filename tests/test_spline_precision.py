"""The spline enclosures built in ``mpmath.iv`` use the precision they ask for.

``mpmath.workprec`` sets ``mp.prec`` only; ``iv`` arithmetic inside it ran at ``iv.prec``
(53 bits by default), so the "113-bit" enclosures were 53-bit ones: sound, but looser
than intended.  ``symlip.arith.enclosure.working_precision`` sets ``iv.prec``."""

from __future__ import annotations

import mpmath
import numpy as np

from symlip.activations.spline import LinearSpline, spline_network
from symlip.arith.enclosure import Enclosure
from symlip.bounds.spline_param import spline_inputs

REL = mpmath.mpf(2) ** -100


def _rel_width(e: Enclosure) -> mpmath.mpf:
    return (e.upper - e.lower) / abs(e.upper)


def test_ball_slope_bound_is_a_tight_enclosure():
    # K = 4 knots on [-1, 1]: T = 2/3 (not dyadic), slopes 3/2 * c differences
    s = LinearSpline(np.array([0.0, 0.5, 0.25, 1.0]), 1.0)
    e = s.ball_slope_bound(0.1)
    assert e.lower > 0 and _rel_width(e) < REL
    # sound: K1 + sqrt(2) r / T with T = 2/3
    with mpmath.workprec(300):
        true = mpmath.mpf(9) / 8 + mpmath.sqrt(2) * mpmath.mpf(0.1) * 3 / 2
    assert e.lower <= true <= e.upper


def test_spline_inputs_are_tight_enclosures():
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((3, 2)), rng.standard_normal((1, 3))]
    b = [0.1 * rng.standard_normal(3), 0.1 * rng.standard_normal(1)]
    net = spline_network(W, b, [rng.standard_normal(5)], 1.5)  # shared: q = sqrt(3)
    ci = spline_inputs(net, rng.standard_normal((4, 2)), 0.1)
    q = ci.scalars["chi_1"]  # the coefficient multiplicity chi_1
    with mpmath.workprec(300):
        assert q.lower <= mpmath.sqrt(3) <= q.upper
    assert _rel_width(q) < REL
    s0 = ci.scalars["s_0^(1)"]
    assert s0.upper == 0 or _rel_width(s0) < REL


def test_k2_message_of_a_tiny_grid_does_not_overflow():
    """Slopes beyond the double range (R = 1e-320) are printed, not float()-ed."""
    s = LinearSpline(np.array([0.0, 0.5, 1.0, 0.5, 0.0]), 1e-320)
    reason = s.constants.K2.reason
    assert "jumps from" in reason and "e+320" in reason
