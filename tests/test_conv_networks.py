"""Conv networks through the bounds: soundness with no slack, and PyTorch round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symlip.arith.enclosure import Truth, compare
from symlip.bounds.input import input_lipschitz, local_input_lipschitz
from symlip.errors import InputError
from symlip.models.conv import ConvGeometry, ConvLayer
from symlip.models.network import DenseLayer, Network
from tests.soundness import assert_input_quotients_below


def conv_net(rng, act):
    """Conv (random geometry) -> act -> conv -> act -> dense read-out."""
    c0 = int(rng.integers(1, 3))
    h, w = int(rng.integers(4, 7)), int(rng.integers(4, 7))
    g1 = ConvGeometry((c0, h, w), int(rng.integers(1, 4)), (int(rng.integers(1, 4)), 2),
                      (int(rng.integers(1, 3)), 1), tuple(int(v) for v in rng.integers(0, 2, 4)),
                      (1, int(rng.integers(1, 3))), 1, bool(rng.integers(0, 2)))
    g2 = ConvGeometry(g1.out_shape, 2, (2, 2), (1, 1), (1, 1, 0, 0))
    scale = float(rng.uniform(0.5, 2))
    l1 = ConvLayer.from_kernel(scale * rng.standard_normal(g1.kernel_array_shape),
                               rng.standard_normal(g1.out_channels), g1, "0")
    l2 = ConvLayer.from_kernel(scale * rng.standard_normal(g2.kernel_array_shape),
                               rng.standard_normal(2), g2, "2")
    l3 = DenseLayer(rng.standard_normal((2, l2.shape[0])) / np.sqrt(l2.shape[0]),
                    rng.standard_normal(2), "4")
    return Network([l1, l2, l3], act)


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["relu", "tanh", "gelu", "leaky_relu"]),
       st.sampled_from([1e-2, 0.3, 3.0]))
def test_conv_network_input_bounds_are_sound(seed, act, eps):
    """Sampled quotients and Jacobian norms <= certified local <= certified global (no
    slack; the quotients are checked in exact arithmetic by the shared helper)."""
    if act == "leaky_relu":
        from symlip.activations.registry import get_activation

        act = get_activation("leaky_relu", "0.1")
    rng = np.random.default_rng(seed)
    net = conv_net(rng, act)
    n0 = net.widths[0]
    glob = input_lipschitz(net)
    assert glob.lower is not None and glob.lower <= glob.upper
    x0 = rng.standard_normal(n0)
    loc = local_input_lipschitz(net, x0, eps).enclosure
    assert compare(loc.upper, "<=", glob.enclosure.upper) is Truth.TRUE
    d = rng.standard_normal((60, n0))
    d *= (eps * rng.random((60, 1)) ** (1 / 4)) / np.linalg.norm(d, axis=1, keepdims=True)
    e = rng.standard_normal((60, n0))
    e *= (eps * rng.random((60, 1)) ** (1 / 4)) / np.linalg.norm(e, axis=1, keepdims=True)
    assert_input_quotients_below(net, x0 + d, x0 + e, loc)
    assert_input_quotients_below(net, rng.standard_normal((30, n0)) * 3,
                                 rng.standard_normal((30, n0)) * 3, glob.enclosure)
    jn = np.linalg.norm(net.input_jacobian(x0 + d[:10])[:, :, :], ord=2, axis=(1, 2))
    assert np.all(jn <= loc.upper_float)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["relu", "tanh", "softplus"]),
       st.sampled_from([1e-3, 0.1]))
def test_conv_param_bound_is_sound(seed, act, r):
    """Kernel-view quotients ||f(x; a) - f(x; b)|| / ||a - b|| for pairs in the ball,
    and kernel Jacobian norms at the centre, <= the certified bound (no slack: close
    pairs re-checked with interval forward passes); certified lower <= upper."""
    from symlip.bounds.conv_param import (
        _quotient,
        kernel_jacobian,
        kernel_params,
        with_kernel_params,
    )
    from symlip.bounds.param import param_lipschitz
    from tests.soundness import ball_pairs

    rng = np.random.default_rng(seed)
    net = conv_net(rng, act)
    X = rng.standard_normal((3, net.widths[0]))
    res = param_lipschitz(net, X, r)
    assert res.quantity == "param_lipschitz_conv"
    assert res.lower is not None and res.lower <= res.upper
    theta0 = kernel_params(net)
    assert res.extra["parameters"] == theta0.size
    for x in X:
        assert np.linalg.norm(kernel_jacobian(net, x), 2) <= res.upper
    for a, b in ball_pairs(rng, theta0, r, 12):
        x = X[int(rng.integers(0, len(X)))]
        fa = with_kernel_params(net, a).forward(x)
        fb = with_kernel_params(net, b).forward(x)
        q = np.linalg.norm(fa - fb) / np.linalg.norm(a - b)
        if q > res.upper * (1 - 1e-6):  # re-check rigorously, centred at a
            enc = _quotient(with_kernel_params(net, a), x, b, 2 * r)
            assert compare(enc.lower, "<=", res.enclosure.upper) is Truth.TRUE


def test_kernel_jacobian_matches_finite_differences():
    from symlip.bounds.conv_param import kernel_jacobian, kernel_params, with_kernel_params

    rng = np.random.default_rng(5)
    net = conv_net(rng, "tanh")
    x = rng.standard_normal(net.widths[0])
    theta = kernel_params(net)
    v = rng.standard_normal(theta.size)
    h = 1e-6
    fd = (with_kernel_params(net, theta + h * v).forward(x)
          - with_kernel_params(net, theta - h * v).forward(x)) / (2 * h)
    np.testing.assert_allclose(kernel_jacobian(net, x) @ v, fd, atol=1e-7)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["tanh", "softplus", "gelu"]),
       st.sampled_from(["mse", "cross-entropy"]), st.sampled_from([1e-3, 0.1]))
def test_conv_gradient_bound_is_sound(seed, act, loss, r):
    """Kernel-view gradient quotients ||grad L(a) - grad L(b)|| / ||a - b|| for pairs in
    the ball (and along the top Hessian direction) <= the certified bound, with no slack
    (close pairs re-checked with the certified quotient); certified lower <= upper."""
    from symlip.bounds.conv_grad import (
        conv_grad_lipschitz,
        conv_grad_quotient,
        kernel_loss_gradient,
    )
    from symlip.bounds.conv_param import kernel_params, with_kernel_params
    from tests.soundness import ball_pairs

    rng = np.random.default_rng(seed)
    net = conv_net(rng, act)
    X = rng.standard_normal((3, net.widths[0]))
    y = rng.standard_normal((3, 2)) if loss == "mse" else rng.integers(0, 2, 3)
    res = conv_grad_lipschitz(net, X, y, loss, r)
    assert res.quantity == "grad_lipschitz_conv"
    assert res.extra["centre_jacobians"]  # small: the kernel-view centre Jacobians apply
    assert res.lower is not None and compare(res.lower_enclosure.lower, "<=",
                                             res.enclosure.upper) is Truth.TRUE
    theta0 = kernel_params(net)
    pairs = list(ball_pairs(rng, theta0, r, 10))
    off = np.asarray(res.witness["offset_plus"]) + theta0
    pairs.append((off, np.asarray(res.witness["offset_minus"]) + theta0))
    for a, b in pairs:
        ga = kernel_loss_gradient(with_kernel_params(net, a), X, y, loss)
        gb = kernel_loss_gradient(with_kernel_params(net, b), X, y, loss)
        q = np.linalg.norm(ga - gb) / np.linalg.norm(a - b)
        if q > res.upper * (1 - 1e-6):  # re-check rigorously, centred at a
            wit = {"indices": list(range(a.size)), "offset_plus": [0.0] * a.size,
                   "offset_minus": (b - a).tolist()}
            enc = conv_grad_quotient(with_kernel_params(net, a), X, y, loss, wit, 2 * r)
            assert compare(enc.lower, "<=", res.enclosure.upper) is Truth.TRUE


def test_kernel_centre_jacobians_enclose_the_kernel_jacobian():
    """J^z_N >= ||D_theta f(x)|| in the kernel view (float Jacobian, no slack needed:
    the certified bound must be at least the float norm up to its own rounding, here
    compared with a 1e-12 relative margin for the float SVD)."""
    from symlip.bounds.conv_grad import kernel_centre_jacobians
    from symlip.bounds.conv_param import kernel_jacobian

    for seed in range(4):
        rng = np.random.default_rng(seed)
        net = conv_net(rng, "tanh")
        X = rng.standard_normal((2, net.widths[0]))
        jz = kernel_centre_jacobians(net, X)[f"Jz_{net.depth}"].hi
        for i, x in enumerate(X):
            assert np.linalg.norm(kernel_jacobian(net, x), 2) <= jz[i] * (1 + 1e-12)


def test_kernel_loss_gradient_matches_finite_differences():
    from symlip.bounds.conv_grad import kernel_loss_gradient
    from symlip.bounds.conv_param import kernel_params, with_kernel_params
    from symlip.bounds.smooth import loss_value

    rng = np.random.default_rng(3)
    net = conv_net(rng, "tanh")
    X, y = rng.standard_normal((2, net.widths[0])), rng.standard_normal((2, 2))
    theta = kernel_params(net)
    v = rng.standard_normal(theta.size)
    h = 1e-6
    fd = (loss_value(with_kernel_params(net, theta + h * v), X, y, "mse")
          - loss_value(with_kernel_params(net, theta - h * v), X, y, "mse")) / (2 * h)
    assert abs(kernel_loss_gradient(net, X, y, "mse") @ v - fd) <= 1e-6 * max(1, abs(fd))


def test_conv_gradient_refusals():
    """ReLU: no gradient bound (witness); a bad radius; and the dense-view grad_lipschitz
    names the kernel-view function instead of treating matrix entries as parameters."""
    from symlip.bounds.conv_grad import conv_grad_lipschitz
    from symlip.bounds.smooth import grad_lipschitz
    from symlip.errors import NotSmoothError

    net = conv_net(np.random.default_rng(0), "relu")
    x0, y0 = np.zeros((1, net.widths[0])), np.zeros((1, 2))
    with pytest.raises(NotSmoothError, match="relu"):
        conv_grad_lipschitz(net, x0, y0, "mse", 0.1)
    net = conv_net(np.random.default_rng(0), "tanh")
    with pytest.raises(InputError, match="radius"):
        conv_grad_lipschitz(net, x0, y0, "mse", -1.0)
    with pytest.raises(InputError, match="conv_grad_lipschitz"):
        grad_lipschitz(net, x0, y0, "mse", 0.1)


def test_cli_conv_gradient_certificate(tmp_path, capsys):
    """--wrt gradient on an ONNX CNN: certificate written and verified; the derivation
    cites Lemma C3."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from symlip.cli import main
    from symlip.models.torch import export_onnx

    nn = torch.nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=1), nn.Tanh(), nn.Flatten(),
                      nn.Linear(3 * 4 * 4, 2))
    export_onnx(m, (1, 8, 8), tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.random((3, 1, 8, 8)))
    np.save(tmp_path / "y.npy", rng.random((3, 2)))
    cert = tmp_path / "c.json"
    args = ["--data", str(tmp_path / "x.npy"), "--targets", str(tmp_path / "y.npy")]
    assert main(["certify", str(tmp_path / "m.onnx"), "--wrt", "gradient", "--radius",
                 "0.01", "--certificate", str(cert), *args]) == 0
    out = capsys.readouterr().out
    assert "grad_lipschitz_conv" in out and "parameters" in out
    assert main(["certify", str(tmp_path / "m.onnx"), "--wrt", "gradient", "--radius",
                 "0.01", "--latex", *args]) == 0
    assert "Lemma C3" in capsys.readouterr().out
    assert main(["verify", str(cert), "--model", str(tmp_path / "m.onnx"), *args]) == 0
    assert "holds" in capsys.readouterr().out


def test_cli_conv_params_certificate(tmp_path, capsys):
    """--wrt params on an ONNX CNN (from torch): certificate written and verified."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from symlip.cli import main
    from symlip.models.torch import export_onnx

    nn = torch.nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=1), nn.Tanh(), nn.Flatten(),
                      nn.Linear(3 * 4 * 4, 2))
    export_onnx(m, (1, 8, 8), tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((3, 1, 8, 8)))
    cert = tmp_path / "c.json"
    args = ["--data", str(tmp_path / "x.npy")]
    assert main(["certify", str(tmp_path / "m.onnx"), "--wrt", "params", "--radius", "0.01",
                 "--certificate", str(cert), *args]) == 0
    out = capsys.readouterr().out
    assert "param_lipschitz_conv" in out and "parameters" in out
    assert main(["verify", str(cert), "--model", str(tmp_path / "m.onnx"), *args]) == 0
    assert "holds" in capsys.readouterr().out


# ----------------------------------------------------------------------------------
# PyTorch round trip (torch + onnx extras; CI installs both)
# ----------------------------------------------------------------------------------


def _torch_cnn(torch):
    nn = torch.nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.ELU(0.5), nn.AvgPool2d(2),
                      nn.Flatten(), nn.Linear(4 * 3 * 3, 10), nn.Softplus(), nn.Linear(10, 3))
    with torch.no_grad():
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
    return m.eval()


def test_from_torch_matches_module():
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import symlip

    m = _torch_cnn(torch)
    net = symlip.from_torch(m, (1, 12, 12))
    assert net.input_shape == (1, 12, 12)
    assert [a.name for a in net.activations] == ["relu", "elu", "identity", "softplus"]
    x = np.random.default_rng(1).standard_normal((5, 1, 12, 12))
    with torch.no_grad():
        ref = m.double()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(net.forward(x.reshape(5, -1)), ref, rtol=0, atol=1e-5)
    # a float64 module is exported in float64: agreement to rounding
    net64 = symlip.from_torch(m.double(), (1, 12, 12))
    np.testing.assert_allclose(net64.forward(x.reshape(5, -1)), ref, rtol=0, atol=1e-12)


def test_from_torch_view_and_gelu_and_errors():
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import symlip
    from symlip.errors import ModelFileError

    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(2, 3, 2)
            self.f = nn.Linear(3 * 3 * 3, 2)

        def forward(self, x):
            h = nn.functional.gelu(self.c(x))
            return self.f(h.view(h.size(0), -1))

    m = Net().double().eval()
    net = symlip.from_torch(m, (2, 4, 4))
    x = np.random.default_rng(2).standard_normal((3, 2, 4, 4))
    with torch.no_grad():
        ref = m(torch.tensor(x)).numpy()
    np.testing.assert_allclose(net.forward(x.reshape(3, -1)), ref, atol=1e-12)
    with pytest.raises(ModelFileError, match="MaxPool"):
        symlip.from_torch(nn.Sequential(nn.Conv2d(1, 1, 2), nn.MaxPool2d(2), nn.Flatten(),
                                        nn.Linear(4, 1)), (1, 5, 5))
    with pytest.raises(InputError, match="input_shape"):
        symlip.from_torch(m, (0, 4))
    with pytest.raises(InputError, match="torch.nn.Module"):
        symlip.from_torch("not a module", (1,))
