"""The certified float64 products of :mod:`symlip.arith.linalg` (Lemmas A.1, A.2 of
docs/intervals.md): exact rational images of points of the boxes lie inside, no slack."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symlip.arith.array import IntervalArray
from symlip.arith.linalg import affine_box, from_midrad, midrad_matmul, to_midrad
from symlip.errors import InputError


def _exact_row(W: np.ndarray, v: np.ndarray, b: np.ndarray | None, i: int) -> Fraction:
    s = sum(Fraction(float(W[i, j])) * Fraction(float(v[j])) for j in range(W.shape[1]))
    return s + (Fraction(float(b[i])) if b is not None else 0)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 6), seed=st.integers(0, 2**31 - 1),
       log_scale=st.floats(-30, 30), bias=st.booleans(), point=st.booleans(),
       zeros=st.booleans())
def test_affine_box_encloses_exact_images(m, n, seed, log_scale, bias, point, zeros):
    """Corners and random points of each box (a batch of 3), exact rationals; with
    ``zeros`` some coordinates are fixed at exactly 0 (image pixels), which take no
    rounding term."""
    rng = np.random.default_rng(seed)
    s = 2.0 ** log_scale
    W = rng.standard_normal((m, n)) * s
    b = rng.standard_normal(m) * s if bias else None
    lo = rng.standard_normal((3, n)) / s
    hi = lo if point else lo + np.abs(rng.standard_normal((3, n))) * 10.0 ** rng.uniform(-12, 0) / s
    if zeros:
        fixed = rng.uniform(size=(3, n)) < 0.5
        lo, hi = np.where(fixed, 0.0, lo), np.where(fixed, 0.0, hi)
    box = affine_box(W, b, IntervalArray(lo, hi))
    assert box.lo.shape == (3, m)
    for p in range(3):
        pts = [lo[p], hi[p]] + [lo[p] + (hi[p] - lo[p]) * rng.uniform(size=n) for _ in range(3)]
        for v in pts:
            v = np.clip(v, lo[p], hi[p])
            for i in range(m):
                exact = _exact_row(W, v, b, i)
                assert Fraction(float(box.lo[p, i])) <= exact <= Fraction(float(box.hi[p, i]))


def test_affine_box_subnormal_and_single_box():
    """Products in the subnormal range (underflow terms of the lemma) and a 1-D box."""
    W = np.array([[3e-160, -7e-161], [1.0, 1e-300]])
    b = np.array([5e-324, 0.0])
    v = np.array([2e-160, 3e-160])
    box = affine_box(W, b, IntervalArray(v))
    assert box.lo.shape == (2,)
    for i in range(2):
        exact = _exact_row(W, v, b, i)
        assert Fraction(float(box.lo[i])) <= exact <= Fraction(float(box.hi[i]))


def test_affine_box_point_width_is_the_rounding_error():
    """For a point the width is the a priori rounding-error term, ~2 gamma_k |W||x|."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((50, 200))
    x = rng.standard_normal(200)
    box = affine_box(W, np.zeros(50), IntervalArray(x))
    scale = np.abs(W) @ np.abs(x)
    assert np.all(box.hi - box.lo <= 2.2 * 201 * 2.0**-53 * scale)


def test_affine_box_rejects_overflow_and_unbounded_boxes():
    with pytest.raises(InputError, match="overflowed"):
        affine_box(np.array([[1e300, 1e300]]), None, IntervalArray(np.array([1e10, 1e10])))
    with pytest.raises(InputError, match="unbounded"):
        affine_box(np.eye(1), None, IntervalArray(np.array([-np.inf]), np.array([0.0])))


@settings(max_examples=40, deadline=None)
@given(p=st.integers(1, 4), k=st.integers(1, 5), q=st.integers(1, 4),
       seed=st.integers(0, 2**31 - 1), log_scale=st.floats(-20, 20))
def test_midrad_matmul_encloses_exact_products(p, k, q, seed, log_scale):
    """Lemma A.2: A B for A, B at corners of interval matrices lies in (C, R)."""
    rng = np.random.default_rng(seed)
    s = 2.0 ** log_scale
    Alo = rng.standard_normal((p, k)) * s
    Ahi = Alo + np.abs(rng.standard_normal((p, k))) * s * 1e-3
    Blo = rng.standard_normal((k, q)) / s
    Bhi = Blo + np.abs(rng.standard_normal((k, q))) / s * 1e-3
    am, ar = to_midrad(IntervalArray(Alo, Ahi))
    bm, br = to_midrad(IntervalArray(Blo, Bhi))
    enc = from_midrad(*midrad_matmul(am, ar, bm, br))
    for _ in range(4):
        A = np.where(rng.uniform(size=(p, k)) < 0.5, Alo, Ahi)
        B = np.where(rng.uniform(size=(k, q)) < 0.5, Blo, Bhi)
        for i in range(p):
            for j in range(q):
                exact = sum(Fraction(float(A[i, t])) * Fraction(float(B[t, j]))
                            for t in range(k))
                assert Fraction(float(enc.lo[i, j])) <= exact <= Fraction(float(enc.hi[i, j]))
