"""Lemma 12 (docs/theory-param.md section 10): the third-order constant T of the SymPy
program bounds the change of the parameter Hessian of every output on the ball, with no
slack, checked against exact Hessians from torch (the minimum with Lemma 11's G h_p in
the final line could otherwise hide a wrong T); the program's shape and its derivation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symlip.arith.array import IntervalArray
from symlip.bounds.curvature import hidden_hessian_norms, output_second_order_norms
from symlip.bounds.curvature_program import (
    T3,
    HSsym,
    LDcsym,
    LDisym,
    hsisym,
    local_curv_derivation,
    local_curv_loss_program,
)
from symlip.bounds.param_core import add_local_inputs
from symlip.bounds.sensitivity import run_partial, third_derivative
from symlip.bounds.smooth import _loss_inputs, curvature_applies, local_curv_grad_program
from symlip.symbolic.formula import _to_interval_array

torch = pytest.importorskip("torch")

from .torchnet import forward, random_net  # noqa: E402  (needs torch)


def _hessians(net, act, x, theta):
    """The parameter Hessian of every output at one point (float64, torch)."""
    widths = net.widths
    fwd = forward(net, act)

    def f(th):
        return fwd(th, x)

    t = torch.tensor(theta)
    out = []
    for o in range(widths[-1]):
        out.append(torch.autograd.functional.hessian(lambda th, o=o: f(th)[o], t).numpy())
    return np.array(out)


def _random_case(seed, depth, width, act, scale, log_r):
    """A random net of the given hidden width (1-2 outputs), two points, MSE targets."""
    rng = np.random.default_rng(seed)
    n_out = int(rng.integers(1, 3))
    net = random_net(rng, [int(rng.integers(1, 4))] + [width] * (depth - 1) + [n_out], act,
                     scale)
    X = rng.standard_normal((2, net.widths[0]))
    y = rng.standard_normal((2, n_out))
    return rng, net, X, y, 10.0 ** log_r, n_out


def _program_values(net, X, y, r, ldcent=False, hscent=False):
    """The program's values per point, from the certified inputs (CV is not needed;
    ``ldcent``: with Lemma 12d, the centre chain derivatives LDc_j; ``hscent``: with
    Lemma 12e, the centre sigma'' parts HS_k)."""
    ci = _loss_inputs(net, X, y, "mse", r)
    hscent = hscent and net.depth >= 3
    formula = local_curv_grad_program(net.depth, "mse", ci.bounded, ci.centre, ci.jac,
                                      hcent=ldcent, ldcent=ldcent, hscent=hscent)
    assert add_local_inputs(net, X, r, ci, formula)
    env = {}
    if ldcent:
        hc, ldc = output_second_order_norms(net, X)
        for j in range(1, net.depth):
            env[LDcsym(j)] = IntervalArray(np.zeros(len(X)), ldc[:, j - 1].copy())
    if hscent:
        hs = hidden_hessian_norms(net, X)
        for k in range(2, net.depth):
            env[HSsym(k)] = IntervalArray(np.zeros(len(X)), hs[:, k - 1].copy())
    for s in formula.inputs:
        name = str(s)
        if name in ci.per_point:
            env[s] = ci.per_point[name]
        elif name in ci.scalars:
            env[s] = _to_interval_array(ci.scalars[name])
    run_partial(formula, env)
    return env


def _third_order_T(net, X, y, r, ldcent=False, hscent=False):
    """The program's T_3 per point."""
    env = _program_values(net, X, y, r, ldcent, hscent)
    return np.broadcast_to(np.asarray(env[T3].hi, dtype=np.float64), (X.shape[0],))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.sampled_from([2, 3, 4, 6]), width=st.integers(1, 4),
       act=st.sampled_from(["tanh", "gelu", "sigmoid", "softplus"]),
       log_r=st.floats(-2, 0), scale=st.sampled_from([1.0, 2.0]),
       seed=st.integers(0, 2**31 - 1), ldcent=st.booleans(), hscent=st.booleans())
def test_third_order_constant_bounds_the_hessian_change(depth, width, act, log_r, scale,
                                                        seed, ldcent, hscent):
    """||sum_o w_o (D^2 f_o(theta) - D^2 f_o(theta-bar))||_2 <= T ||theta - theta-bar||
    for unit w, points theta in the ball (random directions, on the sphere and inside);
    ``ldcent``: T with Lemma 12d's L^D; ``hscent``: with Lemma 12e's h^s."""
    rng, net, X, y, r, n_out = _random_case(seed, depth, width, act, scale, log_r)
    T = _third_order_T(net, X, y, r, ldcent, hscent)
    theta0 = net.params()
    for i, x in enumerate(X):
        H0 = _hessians(net, act, x, theta0)
        for t in (1.0, 0.5, 1.0):
            d = rng.standard_normal(theta0.size)
            d *= t * r / np.linalg.norm(d)
            H = _hessians(net, act, x, theta0 + d)
            for w in list(np.eye(n_out)) + [rng.standard_normal(n_out)]:
                w = w / np.linalg.norm(w)
                diff = np.tensordot(w, H - H0, axes=1)
                q = np.linalg.norm(diff, 2) / np.linalg.norm(d)
                assert q <= T[i], (q, T[i])


def test_program_shape_and_inputs():
    """Lemma 12 adds CV, E and K_3^(k) to Lemma 11's inputs; the last line keeps G h_p
    as one option of the minimum."""
    defs, inputs = local_curv_loss_program(4, "cross-entropy")
    names = [str(s) for s in inputs]
    for n in ("CV", "E", "GN_c", "K_3^(1)", "K_3^(2)", "K_3^(3)"):
        assert n in names
    last = defs[-1]
    assert str(last.symbol) == "B"
    assert {"GN_c", "dGN", "R_cv", "G", "h_p"} <= {str(s) for s in last.expr.free_symbols}
    text = local_curv_derivation(4, "mse").to_markdown()
    assert "Lemma 12" in text and "T_{3}" in text


def test_applies_only_with_a_third_derivative():
    """Piecewise activations (elu: sigma'' jumps) keep Lemma 11; smooth ones use Lemma 12."""
    from symlip.activations.registry import get_activation

    assert third_derivative(get_activation("elu")) is None
    assert third_derivative(get_activation("relu")) is None
    for name in ("tanh", "gelu", "sigmoid", "softplus", "swish"):
        assert third_derivative(get_activation(name)) is not None
    rng = np.random.default_rng(0)
    assert curvature_applies(random_net(rng, [2, 3, 1], "tanh"))
    assert not curvature_applies(random_net(rng, [2, 1], "tanh"))



def test_centre_hessian_option_shape():
    """Lemma 12c: HC is an input, h_b replaces h_p in the curvature options and the
    change of the Gauss-Newton term keeps Lemma 11's as one option."""
    defs, inputs = local_curv_loss_program(3, "cross-entropy", hcent=True)
    assert "HC" in [str(s) for s in inputs]
    byname = {str(d.symbol): d for d in defs}
    assert {"h_b", "h_j", "dGN_c"} <= set(byname)
    last = {str(s) for s in byname["B"].expr.free_symbols}
    assert {"dGN_c", "h_b", "R_cv"} <= last and "h_p" not in last
    assert "dGN" in {str(s) for s in byname["dGN_c"].expr.free_symbols}
    assert "h_b" in {str(s) for s in byname["R_cv"].expr.free_symbols}



def _bias_rows(net, act, x, theta):
    """Per output o the rows of the parameter Hessian of f_o at the bias b_j, per hidden
    layer j: ``rows[j][o]`` (the derivative of D_{N,j}^T e_o, the bias gradient)."""
    H = _hessians(net, act, x, theta)
    w, out, i = net.widths, {}, 0
    for k in range(net.depth):
        i += w[k + 1] * w[k]
        out[k + 1] = H[:, i:i + w[k + 1], :]
        i += w[k + 1]
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.sampled_from([2, 3, 4, 6, 8]), width=st.integers(1, 4),
       act=st.sampled_from(["tanh", "gelu", "sigmoid", "softplus"]),
       log_r=st.floats(-2.5, 0), scale=st.sampled_from([1.0, 2.0]),
       seed=st.integers(0, 2**31 - 1))
def test_chain_derivative_bounds_hold_on_the_ball(depth, width, act, log_r, scale, seed):
    """Lemma 12d: sup_u ||d_u D_{N,j}(theta)||_2 <= L^D_j (the new one) at points theta
    of the ball, no slack: the derivative's rows per output are rows of the exact
    Hessians (torch); ||d_u D||_2 >= the largest per-output norm and >= the norm of any
    unit combination of the outputs."""
    rng, net, X, y, r, n_out = _random_case(seed, depth, width, act, scale, log_r)
    env = _program_values(net, X, y, r, ldcent=True)
    theta0 = net.params()
    for i, x in enumerate(X):
        for t in (0.0, 1.0, 0.5):
            d = rng.standard_normal(theta0.size)
            d *= t * r / np.linalg.norm(d)
            rows = _bias_rows(net, act, x, theta0 + d)
            for j in range(1, net.depth):
                bound = float(np.broadcast_to(env[LDisym(j)].hi, (len(X),))[i])
                R = rows[j]  # (n_out, n_j, P)
                ws = list(np.eye(n_out)) + [rng.standard_normal(n_out)]
                for w_ in ws:
                    w_ = w_ / np.linalg.norm(w_)
                    q = np.linalg.norm(np.tensordot(w_, R, axes=1), 2)
                    assert q <= bound, (j, t, q, bound)


@pytest.mark.parametrize("act", ["tanh", "gelu"])
@pytest.mark.parametrize("n_out", [1, 3])
def test_centre_chain_derivatives_against_exact(act, n_out):
    """LDc_j >= (sum_o ||d(D_{N,j}^T e_o)/d theta||^2)^(1/2) at the centre, tight to 1e-6
    (one output: exactly sup_u ||d_u D_{N,j}||_2)."""
    rng = np.random.default_rng([3, n_out, len(act)])
    net = random_net(rng, [3, 5, 4, 6, n_out], act)
    X = rng.standard_normal((3, 3))
    hc, ldc = output_second_order_norms(net, X)
    assert ldc.shape == (3, net.depth - 1)
    for i, x in enumerate(X):
        rows = _bias_rows(net, act, x, net.params())
        for j in range(1, net.depth):
            ex = np.sqrt(sum(np.linalg.norm(rows[j][o], 2) ** 2 for o in range(n_out)))
            assert ex <= ldc[i, j - 1] <= ex * (1 + 1e-6) + 1e-9, (j, ex, ldc[i, j - 1])


def test_chain_derivative_option_shape():
    """Lemma 12d: LDc_j are inputs, h (Lemma 8) and T use the new L^D, which keeps
    Lemma 8's as one option of its minimum."""
    defs, inputs = local_curv_loss_program(4, "mse", hcent=True, ldcent=True)
    names = [str(s) for s in inputs]
    assert {"LDc_1", "LDc_2", "LDc_3"} <= set(names)
    byname = {str(d.symbol): d for d in defs}
    assert {"LD_2", "LDc_2", "Rd_2"} <= {str(s) for s in byname["LDi_2"].expr.free_symbols}
    used = {str(s) for s in byname["h_loc"].expr.free_symbols}
    assert "LDi_1" in used and "LD_1" not in used
    assert "LDi_3" in {str(s) for s in byname["ta_3"].expr.free_symbols}
    # the remainder of j uses the new L^D of the layers above
    assert "LDi_3" in {str(s) for s in byname["Rd_2"].expr.free_symbols}
    order = [str(d.symbol) for d in defs]
    assert order.index("hs_3") < order.index("Rd_1") < order.index("h_loc")
    old_defs, old_inputs = local_curv_loss_program(4, "mse", hcent=True)
    assert not any(str(s).startswith("LDc") for s in old_inputs)


def _hidden_hessians(net, act, x, theta, k):
    """The parameter Hessian of every coordinate of the hidden pre-activation z_k at one
    point (float64, torch), over all the network's parameters."""
    zk = forward(net, act, k)
    t = torch.tensor(theta)
    return np.array([torch.autograd.functional.hessian(lambda th, c=c: zk(th, x)[c], t).numpy()
                     for c in range(net.widths[k])])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.sampled_from([3, 4, 6, 8]), width=st.integers(1, 4),
       act=st.sampled_from(["tanh", "gelu", "sigmoid", "softplus"]),
       log_r=st.floats(-2.5, 0), scale=st.sampled_from([1.0, 2.0]),
       seed=st.integers(0, 2**31 - 1))
def test_hidden_second_derivative_bounds_hold_on_the_ball(depth, width, act, log_r, scale,
                                                          seed):
    """Lemma 12e: ||D^2 z_k(theta)||, the norm of the vector-valued second derivative, is
    at most the new h^s_k at points theta of the ball, no slack: checked on the exact
    per-coordinate Hessians (torch) in every unit combination of the coordinates tried
    (each a lower bound of the norm)."""
    rng, net, X, y, r, n_out = _random_case(seed, depth, width, act, scale, log_r)
    env = _program_values(net, X, y, r, ldcent=True, hscent=True)
    theta0 = net.params()
    for i, x in enumerate(X):
        for t in (0.0, 1.0, 0.5):
            d = rng.standard_normal(theta0.size)
            d *= t * r / np.linalg.norm(d)
            for k in range(2, net.depth):
                bound = float(np.broadcast_to(env[hsisym(k)].hi, (len(X),))[i])
                H = _hidden_hessians(net, act, x, theta0 + d, k)
                ws = list(np.eye(H.shape[0])) + [rng.standard_normal(H.shape[0])]
                for w_ in ws:
                    w_ = w_ / np.linalg.norm(w_)
                    q = np.linalg.norm(np.tensordot(w_, H, axes=1), 2)
                    assert q <= bound, (k, t, q, bound)


@pytest.mark.parametrize("act", ["tanh", "gelu", "softplus"])
def test_hidden_sigma2_parts_against_exact(act):
    """HS_k >= the Frobenius norm of the sigma'' part sum_{i<k} J_i^T diag(Gamma_i[c])
    J_i of the Hessians of z_k (J_i the exact parameter Jacobian of z_i from torch,
    Gamma_i = D_{k,i+1} W_{i+1} diag(sigma''(z_i)) from the forward pass), tight to
    1e-6: another route than the Gram and Hadamard identity of the module."""
    from .torchnet import ACTS

    def s1(z):
        return torch.autograd.functional.jacobian(ACTS[act], torch.tensor(z)).numpy().diagonal()

    def s2(z):
        return torch.autograd.functional.hessian(lambda t: ACTS[act](t).sum(),
                                                 torch.tensor(z)).numpy().diagonal()

    rng = np.random.default_rng([5, len(act)])
    net = random_net(rng, [3, 5, 4, 6, 2], act)
    X = rng.standard_normal((3, 3))
    hs = hidden_hessian_norms(net, X)
    assert hs.shape == (3, net.depth - 1) and np.all(hs[:, 0] == 0)
    w, Ws, bs = net.widths, net.weights, net.biases
    theta = torch.tensor(net.params())
    for p, x in enumerate(X):
        zs, a = [], x
        for q in range(net.depth - 1):
            zs.append(Ws[q] @ a + bs[q])
            a = ACTS[act](torch.tensor(zs[-1])).numpy()

        Js = {i: torch.autograd.functional.jacobian(
            lambda th, i=i, x=x: forward(net, act, i)(th, x), theta).numpy()
              for i in range(1, net.depth)}
        for k in range(2, net.depth):
            tot = np.zeros((w[k], theta.numel(), theta.numel()))
            for i in range(1, k):
                Dk = np.eye(w[k])
                for q in range(k, i + 1, -1):  # D_{k,i+1} = W_k S_{k-1} ... W_{i+2} S_{i+1}
                    Dk = Dk @ Ws[q - 1] @ np.diag(s1(zs[q - 2]))
                G = Dk @ Ws[i] @ np.diag(s2(zs[i - 1]))
                tot += np.einsum("cl,la,lb->cab", G, Js[i], Js[i])
            ex = np.linalg.norm(tot)
            assert ex <= hs[p, k - 1] <= ex * (1 + 1e-6) + 1e-9, (k, ex, hs[p, k - 1])


def test_hidden_centre_option_shape():
    """Lemma 12e: HS_k are inputs; T and Lemma 12d's remainders use the new h^s, which
    keeps Lemma 8's as one option of its minimum, and each T^s_k uses the new h^s of
    the layers below."""
    defs, inputs = local_curv_loss_program(5, "mse", hcent=True, ldcent=True, hscent=True)
    assert {"HS_2", "HS_3", "HS_4"} <= {str(s) for s in inputs}
    byname = {str(d.symbol): d for d in defs}
    assert {"hs_3", "HS_3", "Ts_3", "hx_3"} <= {str(s) for s in byname["hsi_3"].expr.free_symbols}
    for name in ("ta_4", "tb_4", "Rd_1", "tas4_4", "tbs4_4"):  # tas4_k: T^s_4's terms
        used = {str(s) for s in byname[name].expr.free_symbols}
        assert "hsi_3" in used and "hs_3" not in used, name
    old_defs, old_inputs = local_curv_loss_program(5, "mse", hcent=True, ldcent=True)
    assert not any(str(s).startswith("HS") for s in old_inputs)
