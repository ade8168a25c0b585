"""Gradient-Lipschitz bound of residual networks (Lemma 9, ``docs/theory-param.md`` section
8): soundness on random residual networks with no slack (including depth >= 8), the
backpropagation through blocks, the program's structure, certificates and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.arith.enclosure import Truth, compare
from symlip.bounds import recursion as rec
from symlip.bounds.residual import layer_kinds
from symlip.bounds.residual_smooth import (
    program_options,
    residual_grad_program,
    residual_loss_gradient,
    residual_second_order_program,
)
from symlip.bounds.smooth import grad_lipschitz, loss_gradient, loss_value
from symlip.cli import main
from symlip.models import io
from symlip.models.network import Network
from tests.soundness import assert_grad_quotients_below, assert_shrunk_inputs_rejected
from tests.test_residual import random_resnet

ACTS = ["tanh", "sigmoid", "gelu", "softplus"]


def _targets(rng, loss, n, n_out):
    return rng.standard_normal((n, n_out)) if loss == "mse" else rng.integers(0, n_out, n)


def _deep_resnet(rng, n_blocks, width, act, step):
    """Dense read-in, ``n_blocks`` residual blocks, linear read-out."""
    n0, n_out = int(rng.integers(1, 5)), int(rng.integers(2, 4))
    widths = [n0] + [width] * (n_blocks + 1) + [n_out]
    ws = [rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])
          for k in range(len(widths) - 1)]
    bs = [0.3 * rng.standard_normal(widths[k + 1]) for k in range(len(widths) - 1)]
    steps = [None] + [step] * n_blocks + [None]
    return Network.from_arrays(ws, bs, [act] * (n_blocks + 1), steps=steps)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_hidden=st.integers(1, 4), width=st.integers(1, 6), act=st.sampled_from(ACTS),
       loss=st.sampled_from(["mse", "cross-entropy"]), log_r=st.floats(-4, 0),
       seed=st.integers(0, 2**31 - 1))
def test_residual_grad_bound_is_sound(n_hidden, width, act, loss, log_r, seed):
    rng = np.random.default_rng(seed)
    net = random_resnet(rng, n_hidden, width, act)
    r = 10.0 ** log_r
    X = rng.standard_normal((3, net.widths[0]))
    y = _targets(rng, loss, 3, net.widths[-1])
    res = grad_lipschitz(net, X, y, loss, r, lower=seed % 3 == 0, seed=seed % 1000)
    assert res.extra["method"] == "residual"
    # the sampled Hessian norm (power iteration at the centre and at +-r v) is a real
    # gradient difference quotient in the limit: below the certified bound
    assert res.estimate is None or res.estimate <= res.upper
    if res.lower_enclosure is not None:  # Lemma 10, or the full interval quotient
        assert compare(res.lower_enclosure.lower, "<=", res.enclosure.upper) is Truth.TRUE
        assert res.witness.get("method", "full") in ("readout", "full")
    assert_grad_quotients_below(rng, net, X, y, loss, r, res.upper)
    assert float(res.extra["upper_pointwise_mean"]) <= res.upper * (1 + 1e-12)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_blocks=st.integers(8, 12), act=st.sampled_from(["tanh", "gelu", "sigmoid"]),
       loss=st.sampled_from(["mse", "cross-entropy"]), step=st.sampled_from([0.1, 0.5, -1.0]),
       seed=st.integers(0, 2**31 - 1))
def test_residual_grad_bound_is_sound_deep(n_blocks, act, loss, step, seed):
    """Depth >= 10 (a read-in, 8-12 blocks, the read-out), r = 1e-2."""
    rng = np.random.default_rng(seed)
    net = _deep_resnet(rng, n_blocks, 4, act, step)
    assert net.depth >= 10
    X = rng.standard_normal((3, net.widths[0]))
    y = _targets(rng, loss, 3, net.widths[-1])
    res = grad_lipschitz(net, X, y, loss, 1e-2, lower=True)
    assert res.estimate <= res.upper
    assert_grad_quotients_below(rng, net, X, y, loss, 1e-2, res.upper, n_pairs=3)


@pytest.mark.parametrize("loss", ["mse", "cross-entropy"])
def test_residual_loss_gradient_matches_finite_differences(loss):
    rng = np.random.default_rng(4)
    net = random_resnet(rng, 3, 4, "gelu")
    X = rng.standard_normal((5, net.widths[0]))
    y = _targets(rng, loss, 5, max(net.widths[-1], 2)) if net.widths[-1] > 1 else \
        rng.standard_normal((5, 1))
    loss = "mse" if net.widths[-1] == 1 else loss
    g = residual_loss_gradient(net, X, y, loss)
    assert np.array_equal(g, loss_gradient(net, X, y, loss))
    th = net.params()
    for _ in range(3):
        v = rng.standard_normal(th.size)
        e = 1e-6
        fd = (loss_value(net.with_params(th + e * v), X, y, loss)
              - loss_value(net.with_params(th - e * v), X, y, loss)) / (2 * e)
        assert abs(fd - g @ v) <= 1e-6 * max(1.0, abs(fd))


def test_program_one_definition_per_block_and_dense_kinds():
    """One ``h_k`` per block (Lemma 9); the dense kinds give the feed-forward values."""
    defs, _ = residual_second_order_program(("dense", "residual", "residual"), lognorm=(2,))
    hs = [d for d in defs if str(d.symbol).startswith("h_")]
    assert [str(d.symbol) for d in hs] == ["h_1", "h_2", "h_3", "h_4"]
    assert rec.q(2) in hs[1].expr.free_symbols and rec.tau(3) in hs[2].expr.free_symbols
    # all-dense kinds: the same value as the feed-forward second-order program
    rng = np.random.default_rng(0)
    vals = {}
    fr = residual_grad_program(("dense", "dense"), "mse", True, True)
    ff = rec.RecursiveFormula(*rec.loss_program(3, "mse", bounded=True, centre=True), "L")
    for s in set(fr.inputs) | set(ff.inputs):
        vals[str(s)] = float(rng.uniform(0.1, 2.0))
    assert fr.estimate(**{str(s): vals[str(s)] for s in fr.inputs}) == pytest.approx(
        ff.estimate(**{str(s): vals[str(s)] for s in ff.inputs}), rel=1e-12)


def test_bad_method_is_refused_for_residual_nets():
    """A bad method, and chosen points for the mixed bound (feed-forward only; the
    default ``local_points="auto"`` is Lemma 9 as before)."""
    from symlip.errors import InputError

    rng = np.random.default_rng(0)
    net = random_resnet(rng, 2, 3, "tanh")
    X = rng.standard_normal((3, net.widths[0]))
    y = rng.standard_normal((3, net.widths[-1]))
    with pytest.raises(InputError, match="method"):
        grad_lipschitz(net, X, y, "mse", 0.1, method="nope")
    with pytest.raises(InputError, match="residual"):
        grad_lipschitz(net, X, y, "mse", 0.1, local_points=2, lower=False)
    assert "local_points" not in grad_lipschitz(net, X, y, "mse", 0.1, lower=False).extra


def test_relu_residual_is_not_smooth():
    from symlip.errors import NotSmoothError

    rng = np.random.default_rng(0)
    net = random_resnet(rng, 2, 3, "relu")
    X = rng.standard_normal((3, net.widths[0]))
    y = rng.standard_normal((3, net.widths[-1]))
    with pytest.raises(NotSmoothError):
        grad_lipschitz(net, X, y, "mse", 0.1)


def test_cli_certify_verify_and_derive(tmp_path, capsys):
    rng = np.random.default_rng(7)
    net = random_resnet(rng, 3, 4, "sigmoid")
    m = tmp_path / "res.safetensors"
    io.save(net, m)
    np.save(tmp_path / "X.npy", rng.standard_normal((6, net.widths[0])))
    np.save(tmp_path / "Y.npy", rng.standard_normal((6, net.widths[-1])))
    cert = tmp_path / "g.json"
    assert main(["certify", str(m), "--wrt", "gradient", "--data", str(tmp_path / "X.npy"),
                 "--targets", str(tmp_path / "Y.npy"), "--radius", "0.01", "--json",
                 "--certificate", str(cert)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 < float(out["lower"]) <= float(out["upper"])  # read-out witness (Lemma 10)
    assert main(["verify", str(cert), "--model", str(m), "--data", str(tmp_path / "X.npy"),
                 "--targets", str(tmp_path / "Y.npy")]) == 0
    capsys.readouterr()
    # the certified centre Jacobian norms are recorded inputs: altering one is caught
    # (centre Jacobians; the loss gradient's chains)
    assert_shrunk_inputs_rejected(cert, ("Ja_", "Ba_", "Bs_"),
                                  ["--model", str(m), "--data", str(tmp_path / "X.npy"),
                                   "--targets", str(tmp_path / "Y.npy")], capsys)
    assert main(["derive", "--wrt", "gradient", "--layers", "dense,residual"]) == 0
    text = capsys.readouterr().out
    assert "Lemma 9" in text and "tau_2" in text and "h_2 :=" in text
    assert layer_kinds(net).count("residual") >= 1


def test_centre_jacobians_of_residual_nets_match_the_float_ones():
    """The batched chain form of the residual centre Jacobians
    (:mod:`symlip.bounds.residual_centre`) encloses the float parameter Jacobians of the
    output and of every hidden state, tightly (float references: the Gram form of the
    output Jacobian, central differences of the float states)."""
    from symlip.bounds.param_core import _residual_param_jacobian_norms
    from symlip.bounds.residual_centre import residual_centre_inputs

    rng = np.random.default_rng(3)
    for step in (0.25, -1.0):
        net = _deep_resnet(rng, 3, 4, "tanh", step)
        X = rng.standard_normal((4, net.widths[0]))
        R = residual_centre_inputs(net, X)
        ref = _residual_param_jacobian_norms(net, X)
        up = R[f"Jz_{net.depth}"].hi
        assert np.all(up >= ref) and np.all(up <= ref * (1 + 1e-9))
        theta, h = net.params(), 1e-6
        for k in range(1, net.depth):
            cols = []
            for q in range(theta.size):
                e = np.zeros_like(theta)
                e[q] = h
                sp_ = net.with_params(theta + e).forward_trace(X).layer_inputs[k]
                sm_ = net.with_params(theta - e).forward_trace(X).layer_inputs[k]
                cols.append((sp_ - sm_) / (2 * h))
            Jk = np.stack(cols, axis=-1)  # (points, n_k, P)
            ja = np.linalg.norm(Jk, 2, axis=(1, 2))
            assert np.all(np.abs(R[f"Ja_{k}"].hi - ja) <= 1e-6 * ja), k


def test_centre_jacobian_options_tighten_the_residual_bound():
    """``jac``: $l_k \\le J^a_k + h_kr$ (and $m_k$, $\\mu_k$) on top of Lemma 9; the
    program stays well ordered and the bound at r = 1e-3 falls by a large factor."""
    from symlip.bounds.smooth import _residual_inputs

    rng = np.random.default_rng(5)
    net = _deep_resnet(rng, 8, 8, "tanh", 0.25)
    X = rng.standard_normal((8, net.widths[0]))
    y = rng.standard_normal((8, net.widths[-1]))
    ci = _residual_inputs(net, X, y, "mse", 1e-3)
    assert ci.jac
    from symlip.bounds.param_core import _args
    from symlip.bounds.residual import lognorm_layers

    kinds = layer_kinds(net)
    gn = "GN_c" in ci.scalars  # Lemma 11's stacked centre Gauss-Newton norm
    assert gn
    opts = program_options(ci)
    assert opts == {"jac": True, "gn": True, "direc": True, "sig": True}
    on = residual_grad_program(kinds, "mse", ci.bounded, ci.centre, lognorm_layers(net), **opts)
    nodir = residual_grad_program(kinds, "mse", ci.bounded, ci.centre, lognorm_layers(net),
                                  True, gn)
    off = residual_grad_program(kinds, "mse", ci.bounded, ci.centre, lognorm_layers(net))
    b_on = on.enclose_array(_args(on, ci, hull=False)).mean().upper_float
    b_nodir = nodir.enclose_array(_args(nodir, ci, hull=False)).mean().upper_float
    b_off = off.enclose_array(_args(off, ci, hull=False)).mean().upper_float
    assert b_on <= b_nodir < b_off / 3
    res = grad_lipschitz(net, X, y, "mse", 1e-3)
    assert res.extra["centre_jacobians"] and res.upper == pytest.approx(b_on, rel=1e-12)
    assert res.extra["directional"]
    assert res.estimate <= res.upper
    assert_grad_quotients_below(rng, net, X, y, "mse", 1e-3, res.upper, n_pairs=3)
    assert "centre Jacobian" in res.derivation.to_markdown()
    assert "h_ch" in {str(d.symbol) for d in res.formula.definitions}  # the chain option
    # the certified lower bound: the full interval quotient through the blocks
    assert res.witness.get("method", "full") == "full"
    assert 0.5 * res.estimate <= res.lower <= res.upper


def test_centre_state_chains_enclose_the_float_products():
    """$C^a_{k,j}$ (products of $I + h\\Sigma W$, $\\Sigma W$ and the read-out) against
    the float products at the float forward pass: above, and tight."""
    from symlip.bounds.residual_centre import residual_centre_inputs

    rng = np.random.default_rng(9)
    net = _deep_resnet(rng, 4, 5, "tanh", 0.5)
    X = rng.standard_normal((3, net.widths[0]))
    C = residual_centre_inputs(net, X)
    N = net.depth
    assert {k for k in C if k.startswith("Ca_")} == {
        f"Ca_{k}_{j}" for k in range(2, N + 1) for j in range(1, k)}
    tr = net.forward_trace(X)
    for p in range(3):
        F = {}
        for k in range(1, N + 1):
            W = net.layers[k - 1].weight
            if k == N:
                F[k] = W
            else:
                s = np.asarray(net.activations[k - 1].dsigma(tr.preactivations[k - 1][p]))
                step = getattr(net.layers[k - 1], "step", None)
                F[k] = s[:, None] * W
                if step is not None:
                    F[k] = np.eye(W.shape[0]) + step * F[k]
        for j in range(1, N):
            P = np.eye(net.widths[j])
            for k in range(j + 1, N + 1):
                P = F[k] @ P
                ref = np.linalg.norm(P, 2)
                up = C[f"Ca_{k}_{j}"].hi[p]
                assert ref <= up <= ref * (1 + 1e-9) + 1e-12


@pytest.mark.parametrize("loss", ["mse", "cross-entropy"])
def test_loss_chains_enclose_the_float_ones(loss):
    r"""$B^a_j \ge \|\bar g^T\partial f/\partial a_j\|$ against the float product of the
    loss gradient with the layer factors at the float forward pass: above, and tight."""
    from symlip.bounds.residual_centre import residual_loss_chains

    rng = np.random.default_rng(13)
    net = _deep_resnet(rng, 4, 5, "tanh", 0.5)
    X = rng.standard_normal((4, net.widths[0]))
    y = _targets(rng, loss, 4, net.widths[-1])
    vectors: dict = {}
    Ba = residual_loss_chains(net, X, y, loss, vectors=vectors)
    N = net.depth
    assert set(Ba) == {f"Ba_{j}" for j in range(1, N)}
    tr = net.forward_trace(X)
    # the sigma''-weighted norms on the centre boxes (no widening): tight too
    from symlip.arith.linalg import affine_box
    from symlip.bounds.residual_centre import sigma2_weighted_norms

    itr = net.interval_trace(X)
    boxes = {j: affine_box(net.layers[j - 1].weight, net.layers[j - 1].bias, itr.inputs[j - 1])
             for j in range(1, N)}
    Bs = sigma2_weighted_norms(net, vectors, boxes)
    f = tr.preactivations[-1]
    for p in range(4):
        if loss == "mse":
            g = f[p] - y[p]
        else:
            e = np.exp(f[p] - f[p].max())
            g = e / e.sum()
            g[y[p]] -= 1.0
        v = g @ net.layers[N - 1].weight  # g^T df/da_{N-1}
        for j in range(N - 1, 0, -1):
            ref = np.linalg.norm(v)
            up = Ba[f"Ba_{j}"].hi[p]
            assert ref <= up <= ref * (1 + 1e-9) + 1e-12, (j, ref, up)
            s2 = np.abs(np.asarray(net.activations[j - 1].d2sigma(tr.preactivations[j - 1][p])))
            ref2 = np.linalg.norm(v * s2)
            up2 = Bs[f"Bs_{j}"].hi[p]
            assert ref2 <= up2 <= ref2 * (1 + 1e-6) + 1e-12, (j, ref2, up2)
            W = net.layers[j - 1].weight
            s = np.asarray(net.activations[j - 1].dsigma(tr.preactivations[j - 1][p]))
            step = getattr(net.layers[j - 1], "step", None)
            if j > 1:  # v <- v F_j
                v = v + step * ((v * s) @ W) if step is not None else (v * s) @ W


def test_directional_option_on_confident_cross_entropy():
    r"""A ResNet whose predictions are confident (read-out scaled up): the loss gradient's
    own chains give a smaller curvature term than $G\,h_N$ (on random weights by about
    10%; on the trained digits ResNet of ``benchmarks/bench_residual.py`` by 30%), the
    bound stays above the sampled Hessian norm and the gradient difference quotients,
    and the derivation shows the step."""
    rng = np.random.default_rng(21)
    net = _deep_resnet(rng, 4, 6, "tanh", 0.5)
    ws = [layer.weight for layer in net.layers]
    ws[-1] = 6.0 * ws[-1]
    net = Network.from_arrays(ws, [layer.bias for layer in net.layers],
                              [a.name for a in net.activations],
                              steps=[getattr(layer, "step", None) for layer in net.layers])
    X = rng.standard_normal((8, net.widths[0]))
    y = np.argmax(net.forward(X), axis=1)  # the predicted classes: confident and right
    res = grad_lipschitz(net, X, y, "cross-entropy", 1e-3)
    assert res.extra["directional"]
    from symlip.bounds.param_core import _args
    from symlip.bounds.residual import lognorm_layers
    from symlip.bounds.smooth import _residual_inputs

    ci = _residual_inputs(net, X, y, "cross-entropy", 1e-3)
    nodir = residual_grad_program(layer_kinds(net), "cross-entropy", ci.bounded, ci.centre,
                                  lognorm_layers(net), True, True)
    b_nodir = nodir.enclose_array(_args(nodir, ci, hull=False)).mean().upper_float
    assert res.upper < b_nodir
    assert res.extra["sigma2_weights"]
    nosig = residual_grad_program(layer_kinds(net), "cross-entropy", ci.bounded, ci.centre,
                                  lognorm_layers(net), True, True, True)
    assert res.upper <= nosig.enclose_array(_args(nosig, ci, hull=False)).mean().upper_float
    assert res.estimate <= res.upper
    assert_grad_quotients_below(rng, net, X, y, "cross-entropy", 1e-3, res.upper, n_pairs=4)
    assert "loss gradient's own chains" in res.derivation.to_markdown()


def test_residual_options_reach_beyond_sixteen_points():
    """The batched chains have a cost budget, not the feed-forward 16-point one: 200
    points of a small ResNet get both options; sound against sampled quotients."""
    rng = np.random.default_rng(13)
    net = _deep_resnet(rng, 4, 6, "tanh", 0.5)
    X = rng.standard_normal((200, net.widths[0]))
    y = rng.standard_normal((200, net.widths[-1]))
    res = grad_lipschitz(net, X, y, "mse", 1e-3, lower=False)
    assert res.extra["centre_jacobians"]
    assert_grad_quotients_below(rng, net, X, y, "mse", 1e-3, res.upper, n_pairs=3)


def test_residual_gauss_newton_norm_matches_the_jacobians():
    """Lemma 11's certified $\\mathrm{GN}_c$ for residual nets: for one point and MSE it is
    $\\|J\\|^2$ (tight, from the float Jacobian norm); for several points it lies between
    $\\max_i\\|J_i\\|^2/n$ and $\\frac1n\\sum_i\\|J_i\\|^2$."""
    from symlip.bounds.param_core import _residual_param_jacobian_norms
    from symlip.bounds.residual_centre import residual_gn_norm

    rng = np.random.default_rng(21)
    net = _deep_resnet(rng, 3, 5, "tanh", -0.5)
    X = rng.standard_normal((6, net.widths[0]))
    y = rng.standard_normal((6, net.widths[-1]))
    j = _residual_param_jacobian_norms(net, X)
    one = residual_gn_norm(net, X[:1], y[:1], "mse")
    assert j[0] ** 2 <= one <= j[0] ** 2 * (1 + 1e-9)
    gn = residual_gn_norm(net, X, y, "mse")
    assert np.max(j**2) / 6 <= gn <= np.mean(j**2) * (1 + 1e-9)
    ce = residual_gn_norm(net, X, rng.integers(0, net.widths[-1], 6), "cross-entropy")
    assert 0 < ce <= 0.5 * np.mean(j**2) * (1 + 1e-9)  # ||diag(p) - pp^T|| <= 1/2


def _confident_softplus_resnet():
    """The ResNet of a soundness sweep where $1 - p_y \\approx 2\\cdot10^{-13}$ (softplus,
    8 blocks of width 3, read-out scaled by 13.7), its 3 points, labels and radius."""
    rng = np.random.default_rng(1296605583)
    net = _deep_resnet(rng, int(rng.integers(2, 8)), int(rng.integers(2, 6)), "softplus",
                       float(rng.choice([0.1, 0.5, -1.0])))
    ws = [layer.weight for layer in net.layers]
    ws[-1] = float(10 ** rng.uniform(0, 1.2)) * ws[-1]
    net = Network.from_arrays(ws, [layer.bias for layer in net.layers],
                              [a.name for a in net.activations],
                              steps=[getattr(layer, "step", None) for layer in net.layers])
    r = 10.0 ** rng.uniform(-4, -1)
    X = rng.standard_normal((int(rng.integers(1, 20)), net.widths[0])) * rng.uniform(0.3, 3)
    return net, X, np.argmax(net.forward(X), axis=1), r


def test_confident_cross_entropy_gradient_keeps_its_digits():
    """At $1 - p_y \\approx 10^{-13}$ the float loss gradient (and with it the Hessian
    power iteration of the estimate) must not lose its digits to $p_y - 1$: every entry
    is relatively accurate, and the estimate stays below the certified bound (with
    $p_y - 1$ it was 11% above it: rounding noise; the exact Hessian norm, by automatic
    differentiation, is 1.774e-11 against the certified 2.23e-11)."""
    from symlip.bounds.centre import ce_output_gradient

    net, X, y, r = _confident_softplus_resnet()
    n = len(y)
    f = net.forward(X)
    e = np.exp(f - f.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    assert 1e-14 < np.max(1 - p.max(axis=1)) < 1e-11  # confident, not saturated
    g = ce_output_gradient(f, y)
    others = p.copy()
    others[np.arange(n), y] = 0.0
    assert np.array_equal(-g[np.arange(n), y], others.sum(axis=1))
    assert np.all(np.abs(g.sum(axis=1)) <= 1e-15 * np.abs(g).sum(axis=1))
    res = grad_lipschitz(net, X, y, "cross-entropy", r)
    assert res.estimate <= res.upper


def test_residual_gauss_newton_norm_in_chunks(monkeypatch):
    """Beyond the stacked norm's budgets every point gets its chunk's norm (the chains
    sliced per chunk equal those computed for the chunk alone); the mean bounds the
    stacked norm of all the data, and the gradient bound stays sound."""
    from symlip.bounds import gauss_newton as gnm
    from symlip.bounds.residual_centre import residual_gn_norm

    rng = np.random.default_rng(17)
    net = _deep_resnet(rng, 3, 4, "tanh", 0.5)
    X = rng.standard_normal((12, net.widths[0]))
    y = rng.integers(0, net.widths[-1], 12)
    full = residual_gn_norm(net, X, y, "cross-entropy")
    assert isinstance(full, float)
    monkeypatch.setattr(gnm, "GN_MAX_ROWS", 4 * net.widths[-1])  # 4 points per chunk
    vals = residual_gn_norm(net, X, y, "cross-entropy")
    assert isinstance(vals, np.ndarray) and vals.shape == (12,)
    for idx in gnm.gn_chunks(net, 12):
        assert len(idx) <= 4
        own = residual_gn_norm(net, X[idx], y[idx], "cross-entropy")
        assert np.allclose(vals[idx], own, rtol=1e-12, atol=0)
    assert full <= vals.mean()
    res = grad_lipschitz(net, X, y, "cross-entropy", 1e-3)
    assert res.extra["gauss_newton"] and res.estimate <= res.upper
    assert_grad_quotients_below(rng, net, X, y, "cross-entropy", 1e-3, res.upper, n_pairs=3)
