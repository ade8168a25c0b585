"""Convolutions as linear operators: explicit matrix, adjoint, certified operator norms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symlip.errors import InputError
from symlip.models.conv import (
    ConvGeometry,
    ConvLayer,
    certified_ratio,
    conv_apply,
    conv_matrix,
    conv_norm,
    conv_norm_info,
    conv_transpose_apply,
    fourier_upper,
    patch_count,
)


@st.composite
def geometries(draw, circular=None):
    g = draw(st.sampled_from([1, 2]))
    cin = g * draw(st.integers(1, 2))
    cout = g * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    circ = draw(st.booleans()) if circular is None else circular
    h = draw(st.integers((kh - 1) * dh + 1, 7))
    w = draw(st.integers((kw - 1) * dw + 1, 7))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if circ:
        pads = tuple(min(p, h if i % 2 == 0 else w) for i, p in enumerate(pads))
    return ConvGeometry((cin, h, w), cout, (kh, kw), strides, pads, (dh, dw), g, circ)


@settings(max_examples=40, deadline=None)
@given(geometries(), st.integers(0, 2**31))
def test_matrix_matches_apply_and_adjoint(geom, seed):
    rng = np.random.default_rng(seed)
    k = rng.standard_normal(geom.kernel_array_shape)
    m = conv_matrix(k, geom)
    x = rng.standard_normal((2, geom.n_in))
    y = rng.standard_normal((2, geom.n_out))
    np.testing.assert_allclose(conv_apply(k, geom, x), x @ m.T, atol=1e-12)
    np.testing.assert_allclose(conv_transpose_apply(k, geom, y), y @ m, atol=1e-12)
    # every nonzero matrix entry is a kernel entry, copied exactly
    assert set(np.unique(m[m != 0])) <= set(k.ravel())
    # the patch count bounds the operator norm of any kernel perturbation (the lemma)
    assert np.linalg.norm(m, 2) <= np.sqrt(patch_count(geom)) * np.linalg.norm(k) * (1 + 1e-12)


def test_matches_torch_conv2d():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    geom = ConvGeometry((4, 9, 8), 6, (3, 2), (2, 1), (1, 0, 1, 0), (1, 2), 2)
    k = rng.standard_normal(geom.kernel_array_shape)
    x = rng.standard_normal((2, *geom.in_shape))
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(k), stride=(2, 1),
                                     padding=(1, 0), dilation=(1, 2), groups=2).numpy()
    assert ref.shape[1:] == geom.out_shape
    np.testing.assert_allclose(conv_apply(k, geom, x), ref.reshape(2, -1), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(geometries(), st.integers(0, 2**31))
def test_fourier_bounds_enclose_exact_norm(geom, seed):
    """Both methods enclose the norm of the explicit matrix; circular + stride 1 + same
    size is exact within 1e-6 relative; the explicit method within 1e-6 always."""
    k = np.random.default_rng(seed).standard_normal(geom.kernel_array_shape)
    exact = np.linalg.norm(conv_matrix(k, geom), 2)
    for method in ("explicit", "fourier"):
        e, info = conv_norm_info(k, geom, method=method)
        assert float(e.lower) <= exact * (1 + 1e-13) and exact <= float(e.upper) * (1 + 1e-13)
        if method == "explicit" or info.get("exact_fourier"):
            assert float(e.upper) - float(e.lower) <= 1e-6 * exact, (method, info)


def test_circular_fourier_exact_example():
    geom = ConvGeometry((3, 8, 8), 5, (3, 3), pads=(1, 1, 1, 1), circular=True)
    k = np.random.default_rng(1).standard_normal(geom.kernel_array_shape)
    exact = np.linalg.norm(conv_matrix(k, geom), 2)
    e, info = conv_norm_info(k, geom, method="fourier")
    assert info["exact_fourier"] and info["method"] == "fourier"
    assert float(e.lower) <= exact <= float(e.upper)
    assert (float(e.upper) - float(e.lower)) / exact <= 1e-6


def test_certified_ratio_is_below_norm():
    geom = ConvGeometry((2, 6, 5), 3, (2, 2), pads=(1, 0, 0, 1))
    rng = np.random.default_rng(2)
    k = rng.standard_normal(geom.kernel_array_shape)
    m = conv_matrix(k, geom)
    for _ in range(5):
        x = rng.standard_normal(geom.n_in)
        r = float(certified_ratio(k, geom, x))
        assert r <= np.linalg.norm(m @ x) / np.linalg.norm(x)
        assert r >= np.linalg.norm(m @ x) / np.linalg.norm(x) * (1 - 1e-12)
    hi, _ = fourier_upper(k, geom)
    assert float(hi) >= np.linalg.norm(m, 2)


def test_zero_kernel_and_layer():
    geom = ConvGeometry((1, 4, 4), 2, (3, 3))
    e = conv_norm(np.zeros(geom.kernel_array_shape), geom, method="fourier")
    assert float(e.upper) == 0
    layer = ConvLayer.from_kernel(np.ones((2, 1, 3, 3)), [1.0, 2.0], geom, "0")
    assert layer.shape == (8, 16) and layer.bias.tolist() == [1.0] * 4 + [2.0] * 4
    assert layer.renamed("c").geometry == geom and layer.n_kernel_params == 20


@pytest.mark.parametrize("kwargs, match", [
    (dict(in_shape=(1, 2, 2), out_channels=1, kernel_shape=(3, 3)), "empty output"),
    (dict(in_shape=(3, 5, 5), out_channels=2, kernel_shape=(1, 1), groups=2), "multiples"),
    (dict(in_shape=(1, 5, 5), out_channels=1, kernel_shape=(1, 1), strides=(0, 1)), ">= 1"),
    (dict(in_shape=(1, 2, 2), out_channels=1, kernel_shape=(3, 3), pads=(1, 1, 1, 1),
          circular=True), "circular"),
])
def test_bad_geometry(kwargs, match):
    with pytest.raises(InputError, match=match):
        ConvGeometry(**kwargs)


def test_bad_kernel_shape():
    geom = ConvGeometry((1, 4, 4), 2, (3, 3))
    with pytest.raises(InputError, match=r"expected \(2, 1, 3, 3\)"):
        conv_matrix(np.ones((2, 2, 3, 3)), geom)
