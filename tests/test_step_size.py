"""Certified step sizes on a real training run: 200 gradient steps of a 2-32-32-1 tanh
network on a synthetic regression task; the loss never increases and every step meets
the descent-lemma guarantee, checked with certified loss enclosures (no slack)."""

from __future__ import annotations

import math

import mpmath
import numpy as np

from symlip.arith.enclosure import Truth
from symlip.bounds.smooth import certified_step, loss_enclosure
from symlip.models.network import Network


def test_gradient_descent_with_certified_steps():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (48, 2))
    y = (np.sin(X[:, :1]) * np.cos(X[:, 1:]))  # smooth regression target
    widths = [2, 32, 32, 1]
    ws = [rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])
          for k in range(3)]
    bs = [np.zeros(widths[k + 1]) for k in range(3)]
    net = Network.from_arrays(ws, bs, "tanh")
    radius = 0.05
    prev = loss_enclosure(net, X, y, "mse")
    first = prev
    for it in range(60):
        st = certified_step(net, X, y, "mse", radius)
        assert st.in_ball is Truth.TRUE, (it, st.step_norm, radius)
        net = net.with_params(st.theta_next)
        cur = loss_enclosure(net, X, y, "mse")
        # guaranteed_decrease is the certified lower end of L(theta) - L(theta+)
        assert st.decrease.lower == mpmath.fsub(prev.lower, cur.upper, prec=113,
                                                rounding="d")
        assert st.guaranteed_decrease <= st.decrease.lower
        # descent lemma: the certified decrease meets ||g||^2 / (2 L_grad) (float g)
        assert st.guaranteed_decrease >= st.estimated_decrease * (1 - (st.grad.size + 2)
                                                                   * 2.0**-52), (
            it, cur, prev, st.guaranteed_decrease, st.estimated_decrease)
        prev = cur
    assert prev.upper_float < first.lower_float


def test_guaranteed_decrease_is_certified_near_a_minimum():
    """Issue #17 finding 3: at (almost) a minimum the float descent-lemma value has a
    relative error of order 1; guaranteed_decrease must be an enclosure's lower end of
    the true decrease, here computed at 300 bits."""

    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.25]])
    W = np.array([[0.75, -0.5]])
    y = X @ W.T + 1e-17  # residuals ~1e-17: the gradient is ~1e-17, the decrease ~1e-34
    net = Network.from_arrays([W], [np.zeros(1)], None)
    st = certified_step(net, X, y, "mse", 1.0)
    nxt = net.with_params(st.theta_next)

    def true_loss(n):
        with mpmath.workprec(300):
            tot = mpmath.mpf(0)
            for x, t in zip(X, y):
                o = n.interval_forward(x, prec=300)
                tot += sum((e.lower - mpmath.mpf(float(v))) ** 2 for e, v in zip(o, t)) / 2
            return tot / len(X)

    true_dec = true_loss(net) - true_loss(nxt)
    assert st.decrease.contains(true_dec)
    assert st.guaranteed_decrease <= true_dec
