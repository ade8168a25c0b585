"""The one interval forward pass (:meth:`Network.interval_trace`) and the one enclosure
of an activation on a box (:func:`sigma_box`): exact values inside, no slack."""

from __future__ import annotations

import gc
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symlip.activations.registry import get_activation
from symlip.activations.spline import LinearSpline
from symlip.arith.array import IntervalArray
from symlip.errors import InputError
from symlip.models.network import Network, dsigma_box, sigma_box

ACTS = ["tanh", "sigmoid", "relu", "gelu", "softplus", "elu"]


def _net(rng: np.random.Generator, act: str, residual: bool) -> Network:
    n0, w = 3, 5
    ws = [rng.standard_normal((w, n0)), rng.standard_normal((w, w)) / 2,
          rng.standard_normal((2, w))]
    bs = [rng.standard_normal(w) / 4, rng.standard_normal(w) / 4, np.zeros(2)]
    if residual:
        return Network.from_arrays(ws, bs, ["identity", act], steps=[None, 0.5, None])
    return Network.from_arrays(ws, bs, act)


def _exact_forward(net: Network, x: np.ndarray) -> list[list[mpmath.mpf]]:
    """The states a_1, ..., f at x with 120-bit arithmetic (far inside any float box)."""
    out = []
    with mpmath.workprec(120):
        a = [mpmath.mpf(float(v)) for v in x]
        for k, layer in enumerate(net.layers):
            z = [mpmath.fsum(mpmath.mpf(float(w)) * v for w, v in zip(row, a, strict=True))
                 + mpmath.mpf(float(b)) for row, b in zip(layer.weight, layer.bias, strict=True)]
            if k == net.depth - 1:
                out.append(z)
                break
            act = net.activations[k]
            s = [_mp_sigma(act.name, v) for v in z]
            step = getattr(layer, "step", None)
            a = [u + mpmath.mpf(float(step)) * v for u, v in zip(a, s, strict=True)] \
                if step is not None else s
            out.append(a)
    return out


def _inside(lo: float, v: mpmath.mpf, hi: float) -> bool:
    return mpmath.mpf(float(lo)) <= v <= mpmath.mpf(float(hi))  # doubles enter exactly


def _mp_sigma(name: str, v: mpmath.mpf) -> mpmath.mpf:
    return {"tanh": mpmath.tanh, "sigmoid": lambda t: 1 / (1 + mpmath.exp(-t)),
            "relu": lambda t: max(t, 0), "identity": lambda t: t,
            "gelu": lambda t: t * (1 + mpmath.erf(t / mpmath.sqrt(2))) / 2,
            "softplus": lambda t: mpmath.log1p(mpmath.exp(t)),
            "elu": lambda t: t if t > 0 else mpmath.expm1(t)}[name](v)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), act=st.sampled_from(ACTS), residual=st.booleans())
def test_interval_trace_encloses_exact_states(seed, act, residual):
    rng = np.random.default_rng(seed)
    net = _net(rng, act, residual)
    X = rng.standard_normal((3, 3))
    tr = net.interval_trace(X, dsigma=True)
    assert len(tr.states) == net.depth and len(tr.dsigma) == net.depth - 1
    for p in range(3):
        for box, exact in zip(tr.states, _exact_forward(net, X[p]), strict=True):
            for i, v in enumerate(exact):
                assert _inside(box.lo[p, i], v, box.hi[p, i])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), act=st.sampled_from(ACTS))
def test_interval_trace_on_boxes_encloses_points(seed, act):
    """Boxes of inputs: the exact outputs at sampled points of each box lie in its box,
    and interval_forward (the same pass on one box) agrees with the trace up to the
    summation order BLAS picks for one row against a batch."""
    rng = np.random.default_rng(seed)
    net = _net(rng, act, False)
    lo = rng.standard_normal((2, 3))
    hi = lo + np.abs(rng.standard_normal((2, 3))) * 0.1
    out = net.interval_trace(IntervalArray(lo, hi)).output
    for p in range(2):
        for _ in range(4):
            x = lo[p] + (hi[p] - lo[p]) * rng.uniform(size=3)
            for i, v in enumerate(_exact_forward(net, x)[-1]):
                assert _inside(out.lo[p, i], v, out.hi[p, i])
    enc = net.interval_forward(IntervalArray(lo[0], hi[0]))
    # (absolute slack for ends near 0, where a different summation order's rounding is
    # large relative to the value: 2.6e-17 against 2.8e-17 was seen)
    scale = 1e-14 * max(1.0, float(np.max(np.abs(out.hi[0]))))
    assert np.allclose([e.lower_float for e in enc], out.lo[0], rtol=1e-12, atol=scale)
    assert np.allclose([e.upper_float for e in enc], out.hi[0], rtol=1e-12, atol=scale)


def test_sigma_box_spline_batch_uses_the_neuron_of_each_column():
    """A per-neuron spline on a (batch, n) array: column i is neuron i in every row."""
    rng = np.random.default_rng(4)
    s = LinearSpline(rng.standard_normal((3, 6)), 1.0)
    z = rng.uniform(-2, 2, (4, 3))
    box = sigma_box(s, IntervalArray(z))
    for b in range(4):
        for n in range(3):
            q = s.value_exact(float(z[b, n]), n)
            assert Fraction(float(box.lo[b, n])) <= q <= Fraction(float(box.hi[b, n]))


@pytest.mark.parametrize("name", ["tanh", "gelu", "relu"])
def test_sigma_box_precise_is_tighter_and_both_enclose(name):
    act = get_activation(name)
    z = IntervalArray(np.array([[-1.5, 0.3, 2.0]]))
    fast, precise = sigma_box(act, z), sigma_box(act, z, precise=True)
    assert np.all(precise.hi - precise.lo <= fast.hi - fast.lo)
    with mpmath.workprec(120):
        for i, t in enumerate(z.lo[0]):
            v = _mp_sigma(name, mpmath.mpf(float(t)))
            for box in (fast, precise):
                assert _inside(box.lo[0, i], v, box.hi[0, i])
    d = dsigma_box(act, z)
    assert d.lo.shape == z.lo.shape


def test_compiled_activations_are_not_keyed_on_object_identity():
    """Activations that are dropped and replaced (their id() may be reused) never pick up
    another activation's compiled enclosure."""
    z = IntervalArray(np.array([-1.0, 2.0]))
    for i in range(30):
        name = ["tanh", "relu", "identity"][i % 3]
        act = get_activation(name)
        r = sigma_box(act, z)
        expect = {"tanh": np.tanh([-1.0, 2.0]), "relu": [0.0, 2.0],
                  "identity": [-1.0, 2.0]}[name]
        assert np.all(r.lo <= expect) and np.all(expect <= r.hi)
        assert np.all(r.hi - r.lo < 1e-12)
        del act
        gc.collect()


def test_interval_trace_overflow_names_the_layer():
    net = Network.from_arrays([np.array([[1e300]]), np.array([[1e300]])],
                              [np.zeros(1), np.zeros(1)], "identity")
    with pytest.raises(InputError, match="overflowed float64 in layer"):
        net.interval_trace(np.array([[1e10]]))
