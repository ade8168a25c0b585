"""Certified matrix norms: every enclosure is checked against an exact or 300-bit truth.

The spectral-norm check is exact and slack-free: with G = W^T W in integer arithmetic,
``hi >= ||W||_2`` iff ``hi^2 I - G`` is positive semidefinite (we test positive
definiteness, by fraction-free Gaussian elimination on integers), and
``lo <= ||W||_2`` iff ``lo^2 I - G`` is *not* positive definite.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symlip.arith.norms as norms
from symlip.arith.enclosure import Enclosure, mpf_to_fraction
from symlip.arith.norms import frobenius_norm, norm_1, norm_inf, spectral_norm, spectral_norm_upper
from symlip.errors import InputError

# ----------------------------------------------------------------------------------
# exact references
# ----------------------------------------------------------------------------------


def _int_matrix(W: np.ndarray) -> tuple[list[list[int]], int]:
    """W = Z * 2**E exactly, Z integer (Python ints)."""
    W = np.asarray(W, dtype=np.float64)
    fr = [[Fraction(float(x)) for x in row] for row in W]
    nz = [q for row in fr for q in row if q]
    if not nz:
        return [[0] * W.shape[1] for _ in range(W.shape[0])], 0
    # q = odd * 2**(v2(numerator) - log2(denominator)); E = the smallest such exponent
    E = min(
        (abs(q.numerator) & -abs(q.numerator)).bit_length() - q.denominator.bit_length() for q in nz
    )
    Z = [[int(q * Fraction(2) ** (-E)) for q in row] for row in fr]
    assert all(
        Fraction(z) * Fraction(2) ** E == q
        for zr, qr in zip(Z, fr, strict=True)
        for z, q in zip(zr, qr, strict=True)
    )
    return Z, E


def _gram(W: np.ndarray) -> tuple[list[list[int]], int]:
    """G = W^T W (smaller side) = Gi * 2**(2E) exactly."""
    W = np.asarray(W, dtype=np.float64)
    if W.shape[0] < W.shape[1]:
        W = W.T
    Z, E = _int_matrix(W)
    p = W.shape[1]
    cols = [[Z[i][j] for i in range(len(Z))] for j in range(p)]
    G = [
        [sum(a * b for a, b in zip(cols[i], cols[j], strict=True)) for j in range(p)]
        for i in range(p)
    ]
    return G, 2 * E


def _is_pd(H: list[list[int]]) -> bool:
    """Positive definiteness of a symmetric integer matrix (Bareiss: pivots = minors)."""
    n = len(H)
    A = [list(r) for r in H]
    prev = 1
    for k in range(n):
        akk = A[k][k]
        if akk <= 0:
            return False
        Ak = A[k]
        for i in range(k + 1, n):
            Ai = A[i]
            aik = Ai[k]
            for j in range(k + 1, n):
                Ai[j] = (Ai[j] * akk - aik * Ak[j]) // prev
        prev = akk
    return True


def _shifted(G: list[list[int]], gexp: int, c: Fraction) -> list[list[int]]:
    """An integer matrix with the same inertia as c*I - G*2**gexp (c a dyadic rational)."""
    num, den = c.numerator, c.denominator
    assert den & (den - 1) == 0  # dyadic
    cexp = -(den.bit_length() - 1)
    t = min(cexp, gexp)
    cs, gs = num << (cexp - t), gexp - t
    p = len(G)
    return [[(cs if i == j else 0) - (G[i][j] << gs) for j in range(p)] for i in range(p)]


def assert_spectral_encloses(W: np.ndarray, e: Enclosure) -> None:
    lo, hi = mpf_to_fraction(e.lower), mpf_to_fraction(e.upper)
    G, gexp = _gram(W)
    assert 0 <= lo <= hi
    # hi >= ||W||_2  <=>  hi^2 I - G >= 0.  PD is sufficient; a diagonal H (1x1, a single
    # nonzero entry, where the enclosure may be an exact point) is checked as PSD.
    H = _shifted(G, gexp, hi * hi)
    diagonal = all(H[i][j] == 0 for i in range(len(H)) for j in range(len(H)) if i != j)
    ok = min(H[i][i] for i in range(len(H))) >= 0 if diagonal else _is_pd(H)
    assert ok, "upper end below the spectral norm"
    if lo > 0:
        assert not _is_pd(_shifted(G, gexp, lo * lo)), "lower end above the spectral norm"


def _rel_gap(e: Enclosure) -> float:
    return 0.0 if e.upper == 0 else float((e.upper - e.lower) / e.upper)


def _mp_sigma_max(W: np.ndarray, prec: int = 400) -> mpmath.mpf:
    with mpmath.workprec(prec):
        A = mpmath.matrix([[mpmath.mpf(float(x)) for x in row] for row in np.asarray(W, float)])
        return max(mpmath.svd_r(A, compute_uv=False))


def _fracs(e: Enclosure) -> tuple[Fraction, Fraction]:
    return mpf_to_fraction(e.lower), mpf_to_fraction(e.upper)


# ----------------------------------------------------------------------------------
# the table of small matrices the issue asks for
# ----------------------------------------------------------------------------------

_rng = np.random.default_rng(20240611)
_Q, _ = np.linalg.qr(_rng.standard_normal((6, 6)))
_mixed = _rng.standard_normal((4, 3))
_mixed[0, 0] *= 1e300
_mixed[2, 1] *= 1e-300
_mixed[3, 2] = 5e-324

CASES = {
    "random 5x3": _rng.standard_normal((5, 3)),
    "random 3x5": _rng.standard_normal((3, 5)),
    "random 12x12": _rng.standard_normal((12, 12)),
    "rank 1 outer product": np.outer(_rng.standard_normal(6), _rng.standard_normal(4)),
    "rank 2 of 7x5": _rng.standard_normal((7, 2)) @ _rng.standard_normal((2, 5)),
    "duplicate columns": np.repeat(_rng.standard_normal((5, 1)), 3, axis=1),
    "orthogonal (all sigma = 1)": _Q,
    "scaled identity 3*I": 3.0 * np.eye(5),
    "diag(2, 2, 1)": np.diag([2.0, 2.0, 1.0]),
    "all ones 4x6": np.ones((4, 6)),
    "entries near 1e300": _rng.standard_normal((4, 4)) * 1e300,
    "entries near 1e-300": _rng.standard_normal((4, 4)) * 1e-300,
    "subnormal entries": _rng.standard_normal((3, 3)) * 5e-320,
    "mixed 1e300 / 1e-300 / subnormal": _mixed,
    "near overflow 1.7e308": np.array([[1.7e308, -1.7e308], [1.7e308, 1.7e308]]),
    "float32 input": _rng.standard_normal((5, 4)).astype(np.float32),
    "float16 input": _rng.standard_normal((4, 5)).astype(np.float16),
    "integer input": np.arange(12).reshape(3, 4) - 5,
    "column vector": _rng.standard_normal((7, 1)),
    "row vector": _rng.standard_normal((1, 7)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_spectral_encloses_exact_truth(name):
    W = CASES[name]
    e = spectral_norm(W)
    assert_spectral_encloses(np.asarray(W, dtype=np.float64), e)
    assert _rel_gap(e) <= 1e-10, (name, e)


@pytest.mark.parametrize("name", list(CASES))
def test_spectral_against_mpmath_svd(name):
    """300-bit SVD reference: lo <= sigma_max <= hi, with the reference's own error
    (< 2^-300 relative) counted against us, never for us."""
    W = np.asarray(CASES[name], dtype=np.float64)
    e = spectral_norm(W)
    ref = _mp_sigma_max(W)
    with mpmath.workprec(400):
        tol = mpmath.mpf(2) ** -300
        assert ref * (1 + tol) <= e.upper
        if not e.lower <= ref * (1 - tol):
            # the lower end may be sharp only through ||W||_2 >= max|W_ij| (e.g. 3*I)
            assert e.lower == np.max(np.abs(W)) and abs(e.lower - ref) <= tol * ref


def test_exact_cases():
    assert spectral_norm(np.zeros((3, 2))) == Enclosure.point(0)
    assert spectral_norm(np.zeros((0, 4))) == Enclosure.point(0)
    assert spectral_norm(np.zeros((4, 0))) == Enclosure.point(0)
    assert spectral_norm(np.array([[-2.5]])) == Enclosure.point(2.5)
    assert spectral_norm(np.array([[0.0, 0.0], [0.0, -7.0]])) == Enclosure.point(7.0)
    for f in (frobenius_norm, norm_1, norm_inf):
        assert f(np.zeros((2, 3))) == Enclosure.point(0)
        assert f(np.zeros((0, 3))) == Enclosure.point(0)
        assert f(np.array([[-3.0]])).contains(3.0)


def test_float16_and_float32_are_converted_exactly():
    W16 = CASES["float16 input"]
    assert spectral_norm(W16) == spectral_norm(W16.astype(np.float64))
    W32 = CASES["float32 input"]
    assert frobenius_norm(W32) == frobenius_norm(W32.astype(np.float64))


def test_rectangular_uses_the_smaller_gram():
    W = _rng.standard_normal((300, 40))
    e1, i1 = norms._spectral_norm_info(W)
    e2, i2 = norms._spectral_norm_info(W.T)
    assert i1.gram_size == i2.gram_size == 40
    assert i1.method == i2.method == "gram-cholesky"
    s = np.linalg.svd(W, compute_uv=False)[0]
    for e in (e1, e2):
        assert e.lower <= s * (1 + 1e-14) and s * (1 - 1e-14) <= e.upper
        assert _rel_gap(e) <= 1e-10


def test_larger_matrix_is_tight_and_consistent_with_svd():
    W = _rng.standard_normal((200, 150))
    e = spectral_norm(W, rel_tol=1e-12)
    s = np.linalg.svd(W, compute_uv=False)[0]
    assert e.lower <= s * (1 + 1e-14) and s * (1 - 1e-14) <= e.upper
    assert _rel_gap(e) <= 1e-11
    assert spectral_norm_upper(W) >= e.lower_float


@pytest.mark.parametrize("factor", [1 - 1e-6, 0.5, 1e-3])
def test_failed_cholesky_raises_the_shift(monkeypatch, factor):
    """An eigenvalue estimate that is too low still gives a rigorous enclosure; a mildly
    wrong one (relative 1e-6) is recovered from and still gives a tight one."""
    W = CASES["random 12x12"]
    real = np.linalg.eigvalsh
    monkeypatch.setattr(np.linalg, "eigvalsh", lambda M: real(M) * factor)
    e, info = norms._spectral_norm_info(W)
    assert not info.attempts[0][1] and any(ok for _, ok in info.attempts)
    assert_spectral_encloses(W, e)
    if factor > 0.9:
        assert _rel_gap(e) <= 1e-10 and info.method == "gram-cholesky"


def test_cholesky_never_succeeding_gives_the_trivial_bound(monkeypatch):
    def fail(_):
        raise np.linalg.LinAlgError("forced")

    monkeypatch.setattr(np.linalg, "cholesky", fail)
    W = CASES["random 5x3"]
    e, info = norms._spectral_norm_info(W)
    assert info.method == "trivial"
    assert_spectral_encloses(W, e)


# ----------------------------------------------------------------------------------
# hypothesis: random shapes 1..40 and random binary scales
# ----------------------------------------------------------------------------------


@st.composite
def matrices(draw, max_side: int = 40):
    m = draw(st.integers(1, max_side))
    n = draw(st.integers(1, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["gauss", "rank", "orth", "uniform", "sparse"]))
    if kind == "gauss":
        W = rng.standard_normal((m, n))
    elif kind == "rank":
        r = draw(st.integers(1, max(1, min(m, n) - 1)))
        W = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    elif kind == "orth":
        q, _ = np.linalg.qr(rng.standard_normal((max(m, n), max(m, n))))
        W = q[:m, :n]
    elif kind == "uniform":
        W = rng.uniform(-1, 1, (m, n))
    else:
        W = rng.standard_normal((m, n)) * (rng.random((m, n)) < 0.2)
    s = draw(st.integers(-1000, 1000))
    return np.ldexp(W, s)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrices())
def test_spectral_property(W):
    e = spectral_norm(W)
    assert_spectral_encloses(W, e)
    assert _rel_gap(e) <= 1e-10


@settings(max_examples=25, deadline=None)
@given(matrices(max_side=6), st.lists(st.integers(-2000, 0), min_size=1, max_size=6))
def test_spectral_property_mixed_scales(W, shifts):
    """Entries spread over ~600 decades (some become subnormal or zero)."""
    W = W.copy()
    flat = W.reshape(-1)
    for k, s in enumerate(shifts):
        flat[k % flat.size] = math.ldexp(flat[k % flat.size], s)
    e = spectral_norm(W)
    assert_spectral_encloses(W, e)
    assert _rel_gap(e) <= 1e-10


def _exact_sq_sum(W):
    return sum((Fraction(float(x)) ** 2 for x in np.asarray(W, float).reshape(-1)), Fraction(0))


def _exact_abs_sums(W, axis):
    W = np.asarray(W, float)
    if axis == 1:
        W = W.T
    return [sum((abs(Fraction(float(x))) for x in W[:, j]), Fraction(0)) for j in range(W.shape[1])]


@settings(max_examples=60, deadline=None)
@given(matrices())
def test_frobenius_l1_linf_contain_exact_values(W):
    lo, hi = _fracs(frobenius_norm(W))
    exact2 = _exact_sq_sum(W)
    assert lo * lo <= exact2 <= hi * hi
    assert hi - lo <= hi * Fraction(1, 10**12)
    for f, axis in ((norm_1, 0), (norm_inf, 1)):
        lo, hi = _fracs(f(W))
        exact = max(_exact_abs_sums(W, axis))
        assert lo <= exact <= hi
        assert hi - lo <= hi * Fraction(1, 10**12)


def test_l1_linf_overflowing_sums_and_many_ties():
    W = np.full((3, 2), 1.5e308)
    lo, hi = _fracs(norm_1(W))
    assert lo <= 3 * Fraction(1.5e308) <= hi
    assert math.isinf(norm_1(W).upper_float)
    lo, hi = _fracs(norm_inf(W))
    assert lo <= 2 * Fraction(1.5e308) <= hi
    # all columns tie: exact re-summation of every candidate would exceed the budget
    W = np.ones((3000, 2000))
    for f, v in ((norm_1, 3000), (norm_inf, 2000)):
        e = f(W)
        assert e.contains(v) and _rel_gap(e) < 1e-12


def test_l1_is_not_mpmath_mnorm_trap():
    W = np.array([[1.0, -5.0], [2.0, 0.5], [-3.0, 1.0]])
    assert norm_1(W).contains(6.5) and norm_inf(W).contains(6.0)
    assert _rel_gap(norm_1(W)) < 1e-15


# ----------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("W", "fragment"),
    [
        (np.array([[1.0, np.nan]]), "W[0, 1] = nan"),
        (np.array([[1.0], [-np.inf]]), "W[1, 0] = -inf"),
        (np.ones(3), "2-D matrix, got shape (3,)"),
        (np.ones((2, 2, 2)), "2-D matrix, got shape (2, 2, 2)"),
        (np.ones((2, 2), dtype=complex), "dtype complex128"),
        (np.ones((2, 2), dtype=bool), "dtype bool"),
        (np.array([["a"]]), "dtype <U1"),
        (np.array([[2**60 + 1]], dtype=np.int64), "cannot hold exactly"),
    ],
)
@pytest.mark.parametrize("fn", [spectral_norm, frobenius_norm, norm_1, norm_inf])
def test_bad_input_names_the_problem(fn, W, fragment):
    with pytest.raises(InputError, match=None) as exc:
        fn(W)
    assert fragment in str(exc.value)


@pytest.mark.parametrize("tol", [0, -1e-3, float("nan"), float("inf"), "1e-8"])
def test_bad_rel_tol(tol):
    with pytest.raises(InputError, match="rel_tol"):
        spectral_norm(np.eye(2), rel_tol=tol)
