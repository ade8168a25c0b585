"""Extreme magnitudes (issue #17, finding 2): weights and data from 1e-300 to 1e300,
subnormals and -0.0 through every bound.  Each call either returns a sound result (its
certified lower bound, and an interval difference quotient at the data evaluated
independently, are <= the certified upper bound, compared exactly, no slack) or raises a
clean :class:`~symlip.errors.SymlipError`; no raw Python/NumPy exception and no warning
(``warnings.simplefilter("error")``) escapes."""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.arith.enclosure import Enclosure, Truth, compare
from symlip.errors import SymlipError
from symlip.models.network import Network, _exact_sum

MAGNITUDES = [5e-324, 1e-310, 1e-300, 1e-150, 1e-10, 1.0, 1e10, 1e100, 1e150, 1e300]
SETTINGS = settings(max_examples=5, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@st.composite
def extreme_case(draw, acts=("tanh", "relu")):
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    w_scale = draw(st.sampled_from(MAGNITUDES))
    x_scale = draw(st.sampled_from(MAGNITUDES))
    act = draw(st.sampled_from(acts))
    widths = [2, draw(st.integers(1, 3)), 1]
    ws = [w_scale * rng.standard_normal((m, n)) for n, m in zip(widths, widths[1:])]
    bs = [w_scale * rng.standard_normal(m) for m in widths[1:]]
    if draw(st.booleans()):
        ws[0][0, 0] = -0.0
        bs[0][0] = -0.0
    X = x_scale * rng.standard_normal((3, 2))
    X[0, 0] = -0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # building the arrays may underflow: not symlip
        ws = [np.nan_to_num(w) for w in ws]
    return Network.from_arrays(ws, bs, act), X, act


def _pair_quotient_lower(net, x, xp):
    """Certified lower end of ||f(x) - f(x')|| / ||x - x'|| (113-bit interval passes)."""
    from symlip.bounds.input import input_quotient_from_witness

    return input_quotient_from_witness(net, {"x": list(map(float, x)),
                                             "x_prime": list(map(float, xp))})


def _sound_or_clean(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return fn()
        except SymlipError:
            return None


def _le(a, b):
    return compare(a, "<=", b) is Truth.TRUE


@SETTINGS
@given(extreme_case())
def test_input_bound_extreme(case):
    net, X, _ = case
    res = _sound_or_clean(lambda: _input(net, X))
    if res is None:
        return
    if res.lower_enclosure is not None:
        assert _le(res.lower_enclosure.lower, res.enclosure.upper)
    q = _sound_or_clean(lambda: _pair_quotient_lower(net, X[1], X[2]))
    if q is not None and not np.array_equal(X[1], X[2]):
        assert _le(q.lower, res.enclosure.upper)


def _input(net, X):
    from symlip.bounds.input import input_lipschitz

    return input_lipschitz(net, X)


@SETTINGS
@given(extreme_case(), st.sampled_from([0.0, 1e-300, 1e-3, 1e300]))
def test_local_input_bound_extreme(case, eps):
    from symlip.bounds.input import local_input_lipschitz

    net, X, _ = case
    out = _sound_or_clean(lambda: local_input_lipschitz(net, X[0], eps))
    if out is None:
        return
    enc = out.enclosure
    # x' in the ball: a certified quotient inside the ball is <= the local bound
    d = np.zeros(2)
    d[1] = eps / 2
    xp = X[0] + d
    with np.errstate(all="ignore"):  # the test's own float check
        inside = eps > 0 and not np.array_equal(xp, X[0]) and np.linalg.norm(xp - X[0]) <= eps
    if inside:
        q = _sound_or_clean(lambda: _pair_quotient_lower(net, X[0], xp))
        if q is not None:
            assert _le(q.lower, enc.upper)


@SETTINGS
@given(extreme_case(), st.sampled_from([0.0, 1e-300, 1e-2, 1e300]))
def test_param_bound_extreme(case, r):
    from symlip.bounds.param import param_lipschitz

    net, X, _ = case
    res = _sound_or_clean(lambda: param_lipschitz(net, X, r))
    if res is None:
        return
    if res.lower_enclosure is not None:
        assert _le(res.lower_enclosure.lower, res.enclosure.upper)


@SETTINGS
@given(extreme_case(acts=("tanh",)), st.sampled_from([1e-300, 1e-2, 1e300]))
def test_grad_bound_extreme(case, r):
    from symlip.bounds.smooth import grad_lipschitz

    net, X, _ = case
    y = np.ones((X.shape[0], 1))
    res = _sound_or_clean(lambda: grad_lipschitz(net, X, y, "mse", r))
    if res is None:
        return
    if res.lower_enclosure is not None:
        assert _le(res.lower_enclosure.lower, res.enclosure.upper)


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([1e-300, 1.0, 1e300]), st.sampled_from([1e-300, 1e100, 1e300]))
def test_spline_param_bound_extreme(w_scale, x_scale):
    from symlip.activations.spline import spline_network
    from symlip.bounds.spline_param import spline_param_lipschitz

    rng = np.random.default_rng(0)
    W = [w_scale * rng.standard_normal((2, 2)), w_scale * rng.standard_normal((1, 2))]
    b = [np.zeros(2), np.zeros(1)]
    net = _sound_or_clean(lambda: spline_network(W, b, [rng.standard_normal((2, 4))], 1.0))
    if net is None:
        return
    X = x_scale * rng.standard_normal((2, 2))
    res = _sound_or_clean(lambda: spline_param_lipschitz(net, X, 1e-2))
    if res is not None and res.lower_enclosure is not None:
        assert _le(res.lower_enclosure.lower, res.enclosure.upper)


def test_cde_param_bound_extreme_data():
    from symlip.cde import ControlledODE, param_lipschitz
    from tests.test_cde import make_control

    model = ControlledODE.random(2, 3, 2, 1, seed=1)
    U = make_control("walk", 4, 2, np.random.default_rng(0))
    for scale in (1e-300, 1e300):
        X = scale * np.random.default_rng(1).standard_normal((2, 2))
        res = _sound_or_clean(lambda: param_lipschitz(model, X, U, 1e-2))
        if res is not None and res.lower_enclosure is not None:
            assert _le(res.lower_enclosure.lower, res.enclosure.upper)


# the exact sums of the rigorous forward pass ---------------------------------------


def test_exact_sum_with_an_astronomical_exponent_gap_is_bounded_and_directed():
    from mpmath.libmp import round_ceiling, round_floor

    big, tiny = (3, 0), (1, -10**100)  # 3 + 2^(-10^100): exact integer sum impossible
    up = _exact_sum([big, tiny], 113, round_ceiling)
    dn = _exact_sum([big, tiny], 113, round_floor)
    assert dn == 3 and up > 3 and up - 3 < mpmath.mpf(2) ** -100
    up = _exact_sum([big, (-1, -10**100)], 113, round_ceiling)
    dn = _exact_sum([big, (-1, -10**100)], 113, round_floor)
    assert up == 3 and dn < 3
    # small gaps: still exact, rounded once
    assert _exact_sum([(1, 0), (1, -60)], 53, round_ceiling) == 1 + mpmath.mpf(2) ** -52


@pytest.mark.parametrize("act", ["sigmoid", "silu"])
def test_input_bound_on_data_near_1e100_has_no_raw_error(act):
    rng = np.random.default_rng(0)
    net = Network.from_arrays([rng.standard_normal((3, 2)), rng.standard_normal((1, 3))],
                              [np.zeros(3), np.zeros(1)], act)
    X = 1e100 * rng.standard_normal((4, 2))
    res = _sound_or_clean(lambda: _input(net, X))
    assert res is not None
    assert _le(res.lower_enclosure.lower, res.enclosure.upper)
    assert isinstance(res.enclosure, Enclosure)
