"""The local-sensitivity parameter bound (Lemma 7, method="local"): soundness with no
slack on random networks up to depth 10 (smooth and ReLU), never above the recursion,
tight at depth, the CLI option and the certificate round trip with tampering."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.bounds.param import param_lipschitz
from symlip.bounds.sensitivity import batched_norm2_upper, local_first_order_program
from symlip.errors import InputError
from symlip.models.io import save
from symlip.models.network import Network

from .soundness import assert_param_quotients_below, ball_pairs


def random_net(rng, widths, act, scale=1.0):
    ws = [scale * rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])
          for k in range(len(widths) - 1)]
    bs = [0.3 * rng.standard_normal(widths[k + 1]) for k in range(len(widths) - 1)]
    return Network.from_arrays(ws, bs, act)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.sampled_from([2, 3, 9]), width=st.integers(1, 7),
       act=st.sampled_from(["tanh", "gelu", "relu"]),
       log_r=st.floats(-4, 0), scale=st.sampled_from([0.5, 1.0, 2.0]),
       seed=st.integers(0, 2**31 - 1))
def test_local_bound_is_sound(depth, width, act, log_r, scale, seed):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, 5))] + [width] * (depth - 1) + [int(rng.integers(1, 4))]
    net = random_net(rng, widths, act, scale)
    r = 10.0 ** log_r
    X = rng.standard_normal((3, widths[0]))
    res = param_lipschitz(net, X, r, lower=False, method="local")
    assert res.extra["method"] == "local"
    theta0 = net.params()
    for a, b in ball_pairs(rng, theta0, r, 6):
        assert_param_quotients_below(net, X[int(rng.integers(0, 3))], a, b, res.enclosure)
    # adversarial: along the top right singular vector of J at the centre, both ends
    # in the ball, and small steps (the local Jacobian norm itself)
    for i in range(3):
        J = net.param_jacobian(X[i])
        v = np.linalg.svd(J)[2][0]
        for t in (0.5 * r, 1e-3 * r):
            assert_param_quotients_below(net, X[i], theta0 - t * v, theta0 + t * v,
                                         res.enclosure)


@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_depth_8_sound_and_tight(act):
    rng = np.random.default_rng(1)
    net = random_net(rng, [4] + [12] * 7 + [2], act)
    X = rng.standard_normal((4, 4))
    r = 1e-3
    loc = param_lipschitz(net, X, r, method="local", seed=0)
    old = param_lipschitz(net, X, r, method="recursion", lower=False)
    assert loc.upper <= old.upper
    assert loc.lower is not None and loc.lower <= loc.upper
    assert loc.upper <= 3 * loc.lower  # the recursion is ~10-100x here
    theta0 = net.params()
    for a, b in ball_pairs(rng, theta0, r, 20):
        for i in range(4):
            assert_param_quotients_below(net, X[i], a, b, loc.enclosure)


def test_program_is_sympy_and_min_with_recursion():
    defs, inputs = local_first_order_program(3)
    names = [str(d.symbol) for d in defs]
    assert names[-1] == "L_p" and "L_loc" in names and "l_3" in names
    assert {"C_3_1", "C_3_2", "C_2_1", "Cr_2_1", "d_1", "ds_2"} <= {str(s) for s in inputs}


def test_method_recorded_and_checked():
    rng = np.random.default_rng(2)
    net = random_net(rng, [3, 5, 5, 2], "tanh")
    X = rng.standard_normal((2, 3))
    with pytest.raises(InputError, match="method"):
        param_lipschitz(net, X, 1e-2, method="global")
    assert param_lipschitz(net, X, 1e-2, lower=False,
                           method="recursion").extra["method"] == "recursion"
    one = Network.from_arrays([[[3.0, 4.0]]], [[0.0]], None)  # depth 1: exact recursion
    res = param_lipschitz(one, [[3.0, 4.0]], 0.1)
    assert res.extra["method"] == "recursion" and abs(res.upper - 26**0.5) < 1e-12


def test_batched_norm2_upper_is_an_upper_bound():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((50, 4, 9)) * 10.0 ** rng.integers(-5, 5, (50, 1, 1))
    up = batched_norm2_upper(M, None)
    exact = np.linalg.norm(M, 2, axis=(1, 2))
    assert np.all(up >= exact) and np.all(up <= exact * (1 + 1e-6) + 1e-300)
    rad = np.abs(rng.standard_normal(M.shape)) * 1e-3
    assert np.all(batched_norm2_upper(M, rad) >= exact)


def test_cli_method_and_certificate(tmp_path, capsys):
    from symlip.cli import main

    rng = np.random.default_rng(4)
    net = random_net(rng, [3, 6, 6, 6, 2], "tanh")
    path = tmp_path / "m.safetensors"
    save(net, path)
    np.save(tmp_path / "X.npy", rng.standard_normal((5, 3)))
    cert = tmp_path / "c.json"
    args = ["certify", str(path), "--activation", "tanh", "--wrt", "params", "--radius",
            "1e-3", "--data", str(tmp_path / "X.npy"), "--json"]
    assert main(args + ["--certificate", str(cert)]) == 0
    out = json.loads(capsys.readouterr().out)
    c = json.loads(cert.read_text())
    assert c["options"]["method"] == "local" and "C_4_1" in c["formula"]["inputs"]
    assert main(args + ["--method", "recursion"]) == 0
    rec_out = json.loads(capsys.readouterr().out)
    assert float(out["upper"]) < float(rec_out["upper"])
    vargs = ["verify", str(cert), "--model", str(path), "--data", str(tmp_path / "X.npy")]
    assert main(vargs) == 0
    capsys.readouterr()
    # tampered: an upper bound below the recomputed local bound is caught
    c["result"]["upper"] = repr(float(c["result"]["upper"]) * 0.9)
    cert.write_text(json.dumps(c))
    assert main(vargs) != 0
    # tampered: the method changed to the recursion (formula no longer matches)
    c = json.loads((tmp_path / "c.json").read_text())
    c["options"]["method"] = "recursion"
    cert.write_text(json.dumps(c))
    assert main(vargs) != 0


def _local_terms(net, X, y, loss, r):
    """Per point: the local bound alone, H Lambda^2 + G h_loc (not the min with the
    recursion), evaluated from the program on certified inputs."""
    from symlip.bounds.sensitivity import run_partial
    from symlip.bounds.smooth import _args, _loss_inputs, grad_formula
    from symlip.symbolic.formula import _to_interval_array

    ci = _loss_inputs(net, X, y, loss, r)
    f, used = grad_formula(net, X, r, loss, ci, "local")
    assert used == "local"
    args = _args(f, ci, hull=False)
    env = {s: _to_interval_array(args[str(s)]) for s in f.inputs}
    run_partial(f, env)
    val = {str(k): v for k, v in env.items()}
    H = val["H"].hi if "H" in val else 1.0
    return (H * val["L_loc"].hi ** 2 + val["G"].hi * val["h_loc"].hi), val


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.sampled_from([2, 8]), width=st.integers(1, 6),
       act=st.sampled_from(["tanh", "gelu"]),
       loss=st.sampled_from(["mse", "cross-entropy"]), log_r=st.floats(-4, 0),
       seed=st.integers(0, 2**31 - 1))
def test_local_gradient_bound_is_sound(depth, width, act, loss, log_r, seed):
    """Lemma 8 on its own (without the min with the recursion): gradient difference
    quotients of the mean loss never exceed the mean of the per-point local bounds."""
    from symlip.bounds.smooth import grad_lipschitz, loss_gradient

    rng = np.random.default_rng(seed)
    n_out = int(rng.integers(2, 4))
    net = random_net(rng, [int(rng.integers(1, 5))] + [width] * (depth - 1) + [n_out], act)
    r = 10.0 ** log_r
    X = rng.standard_normal((3, net.widths[0]))
    y = rng.standard_normal((3, n_out)) if loss == "mse" else rng.integers(0, n_out, 3)
    per_point, _ = _local_terms(net, X, y, loss, r)
    bound = float(np.mean(per_point))
    res = grad_lipschitz(net, X, y, loss, r, lower=False)
    # (the default is Lemma 9, which is not always below Lemma 8: both are checked)
    assert res.extra["method"] == "local"
    theta0 = net.params()
    for a, b in ball_pairs(rng, theta0, r, 6):
        ga = loss_gradient(net.with_params(a), X, y, loss)
        gb = loss_gradient(net.with_params(b), X, y, loss)
        q = np.linalg.norm(ga - gb) / np.linalg.norm(a - b)
        # float gradients err by ~1e-15 relative; the bounds are never that close here
        assert q <= bound and q <= res.upper, (q, bound, res.upper)


@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_hidden_chains_as_products_beyond_budget(monkeypatch, act):
    """Beyond LOCAL_COST_BUDGET the hidden chain norms are products of norms: the local
    method still applies while the output chains fit (as on MNIST-size networks with a
    thousand points), every quotient stays below the bound with no slack, and the bound
    lies between the exact-chain local bound and the recursion."""
    from symlip.bounds import sensitivity as sens
    from symlip.bounds.param_core import local_applies
    from symlip.bounds.smooth import grad_lipschitz, loss_gradient

    rng = np.random.default_rng(7)
    net = random_net(rng, [3, 16, 16, 16, 2], act)
    X = rng.standard_normal((6, 3))
    y = rng.standard_normal((6, 2))
    r = 1e-2
    exact = param_lipschitz(net, X, r, method="local", lower=False)
    hidden, output = sens.hidden_chain_cost(net, 6), sens.output_chain_cost(net, 6)
    assert output < hidden
    monkeypatch.setattr(sens, "LOCAL_COST_BUDGET", hidden - 1)
    assert local_applies(net, 6) and sens.local_cost(net, 6) == output
    li = sens.centre_chains(net, X, [float(np.linalg.norm(w.weight, 2)) * (1 + 1e-12)
                                     for w in net.layers])
    assert not li.full_chains
    prod = param_lipschitz(net, X, r, method="local", lower=False)
    rec = param_lipschitz(net, X, r, method="recursion", lower=False)
    assert prod.extra["method"] == "local"
    assert exact.upper <= prod.upper <= rec.upper
    g = grad_lipschitz(net, X, y, "mse", r, lower=False)
    assert g.extra["method"] == "local"
    theta0 = net.params()
    for a, b in ball_pairs(rng, theta0, r, 10):
        for i in range(6):
            assert_param_quotients_below(net, X[i], a, b, prod.enclosure)
        ga = loss_gradient(net.with_params(a), X, y, "mse")
        gb = loss_gradient(net.with_params(b), X, y, "mse")
        assert np.linalg.norm(ga - gb) / np.linalg.norm(a - b) <= g.upper


def test_local_applies_at_mnist_size():
    """784-1024-1024-10: the hidden chain (1024^3 per point) is a product of norms, so
    the local method runs on a thousand points; at 10,000 the output chains alone are
    over budget and the recursion is used (the 10 s benchmark)."""
    from symlip.bounds import sensitivity as sens
    from symlip.bounds.param_core import local_applies

    net = Network.from_arrays([np.zeros((1024, 784)), np.zeros((1024, 1024)),
                               np.zeros((10, 1024))], [np.zeros(1024), np.zeros(1024),
                                                       np.zeros(10)], "tanh")
    assert sens.hidden_chain_cost(net, 1000) > sens.LOCAL_COST_BUDGET
    assert local_applies(net, 1000) and not local_applies(net, 10_000)


@pytest.mark.parametrize("products", [False, True])
def test_hidden_column_norms_bound_the_reference_chains(monkeypatch, products):
    """``qs_k_i`` (Lemma 8's second option for the sub-networks of Lemma 12) is at least
    the largest column norm of the reference D_{k,i} W_i at every point: tight with
    the exact float chains, a product of norms beyond the budget."""
    from symlip.bounds import sensitivity as sens

    rng = np.random.default_rng(3)
    net = random_net(rng, [3, 9, 7, 8, 6, 2], "tanh")
    X = rng.standard_normal((4, 3))
    if products:
        monkeypatch.setattr(sens, "LOCAL_COST_BUDGET", 0)
    spec = [float(np.linalg.norm(w.weight, 2)) * (1 + 1e-12) for w in net.layers]
    li = sens._centre_chains(net, X, spec)
    assert li.full_chains is not products
    Ws = net.weights
    s = [1 - np.tanh(z) ** 2 for z in li.zhat]  # sigma' at the float centre pass
    N = net.depth
    for i in range(2, N - 1):
        for k in range(i + 1, N):
            for p in range(4):
                P = Ws[i - 1]
                for m in range(i, k):
                    P = Ws[m] @ (s[m - 1][p][:, None] * P)
                true = np.linalg.norm(P, axis=0).max()
                q = li.per_point[f"qs_{k}_{i}"].hi[p]
                assert true <= q
                if not products:
                    assert q <= true * (1 + 1e-9)
