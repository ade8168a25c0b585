"""Exact soundness checks shared by the property tests.

An empirical difference quotient computed in floating point carries rounding error, so
comparing it with a certified bound can fail by an ulp on tight cases (a linear layer),
and adding a slack factor would hide real failures.  Instead: screen in floats, and
re-evaluate every pair that comes within 1e-6 of the bound rigorously (interval forward
passes); the certified *lower* end of such a quotient must not exceed the certified
upper bound.  No slack anywhere.
"""

from __future__ import annotations

import numpy as np

from symlip.arith.enclosure import Enclosure, Truth, compare
from symlip.bounds.input import input_quotient_from_witness
from symlip.bounds.param_core import param_quotient_from_witness


def assert_input_quotients_below(net, xs: np.ndarray, ys: np.ndarray, upper: Enclosure) -> None:
    """Assert ||f(x)-f(y)|| / ||x-y|| <= upper for every row pair (exactly)."""
    q = np.linalg.norm(net.forward(xs) - net.forward(ys), axis=1) / np.linalg.norm(
        xs - ys, axis=1)
    close = np.nonzero(q > upper.upper_float * (1 - 1e-6))[0]
    for i in close:
        enc = input_quotient_from_witness(net, {"x": xs[i].tolist(), "x_prime": ys[i].tolist()})
        assert compare(enc.lower, "<=", upper.upper) is Truth.TRUE, (
            f"pair {i}: certified quotient >= {enc.lower_str(12)} exceeds bound "
            f"{upper.upper_str(12)}")


def ball_pairs(rng: np.random.Generator, theta0: np.ndarray, r: float, n: int):
    """``n`` pairs ``(a, b)`` of distinct parameter vectors in the closed ball
    ``B_r(theta0)``: ``a`` uniform in radius along a random direction, ``b`` a random
    step from ``a`` of length ``r * 10^U(-3, 0)`` (often small: local quotients), pulled
    back into the ball if it left it."""
    P = theta0.size
    for _ in range(n):
        u = rng.standard_normal(P)
        a = theta0 + r * rng.uniform(0, 1) * u / np.linalg.norm(u)
        v = rng.standard_normal(P)
        b = a + r * 10.0 ** rng.uniform(-3, 0) * v / np.linalg.norm(v)
        off = b - theta0
        if np.linalg.norm(off) > r:
            b = theta0 + off * (r / np.linalg.norm(off)) * (1 - 1e-9)
        if not np.array_equal(a, b):
            yield a, b


def assert_grad_quotients_below(rng: np.random.Generator, net, X, y, loss: str, r: float,
                                upper: float, n_pairs: int = 5) -> None:
    """Float gradient difference quotients of the mean loss between pairs of
    :func:`ball_pairs` stay below the certified upper bound ``upper`` (no slack: float
    gradients err by ~1e-15 relative, the bounds are never that close here)."""
    from symlip.bounds.smooth import loss_gradient

    theta0 = net.params()
    for a, b in ball_pairs(rng, theta0, r, n_pairs):
        ga = loss_gradient(net.with_params(a), X, y, loss)
        gb = loss_gradient(net.with_params(b), X, y, loss)
        q = np.linalg.norm(ga - gb) / np.linalg.norm(a - b)
        assert q <= upper, (q, upper)


def assert_param_quotients_below(net, x, theta_a, theta_b, upper: Enclosure) -> None:
    """||f(x;a) - f(x;b)|| / ||a - b|| <= upper; close cases re-checked rigorously
    (the witness centred at ``theta_a``, whose own ball contains ``theta_b``)."""
    fa = net.with_params(theta_a).forward(x)
    fb = net.with_params(theta_b).forward(x)
    q = np.linalg.norm(fa - fb) / np.linalg.norm(theta_a - theta_b)
    if q <= upper.upper_float * (1 - 1e-6):
        return
    d = theta_b - theta_a
    keep = np.nonzero(d)[0]
    wit = {"x": list(map(float, x)), "indices": keep.tolist(),
           "step": (theta_b[keep] - theta_a[keep]).tolist()}
    enc = param_quotient_from_witness(net.with_params(theta_a), wit,
                                      float(np.linalg.norm(d)) * 2 + 1e-300)
    assert compare(enc.lower, "<=", upper.upper) is Truth.TRUE, (q, upper)


def _shrunk(entry: dict) -> dict:
    """A certificate input entry (an enclosure) with its upper end halved."""
    hi = float.fromhex(entry["upper_exact"]) * 0.5
    return {**entry, "upper_exact": hi.hex(), "upper": repr(hi)}


def assert_shrunk_inputs_rejected(cert, prefixes, verify_args, capsys) -> None:
    """For each name prefix, a copy of the certificate ``cert`` (a path) with the last
    recorded input of that prefix halved fails ``symlip verify`` (``verify_args``: the
    files after the certificate)."""
    import json

    from symlip.cli import main

    doc = json.loads(cert.read_text())
    bad = cert.with_name("shrunk-" + cert.name)
    for prefix in prefixes:
        names = [k for k in doc["inputs"] if k.startswith(prefix)]
        assert names, prefix
        entry = doc["inputs"][names[-1]]
        bad.write_text(json.dumps(doc).replace(json.dumps(entry), json.dumps(_shrunk(entry)),
                                               1))
        capsys.readouterr()
        assert main(["verify", str(bad), *verify_args]) != 0, prefix
    capsys.readouterr()
