"""Tightness of the residual-network bounds (``python benchmarks/bench_residual.py``).

Random untied ResNets (linear read-in, equal steps h, linear read-out; 16 data points):
certified upper bound / sampled lower estimate for the parameter bound (r = 1e-3, 1e-1;
at r = 1e-3 also the first-order recursion alone, without the centre Jacobian option)
and the input bound; the gradient bound (Lemma 9, MSE, r = 1e-3; with and without the
centre Jacobian options) against the sampled Hessian norm, over the depth (8 blocks and
more included); a ResNet trained on scikit-learn's digits (torch); then the untied ResNet with
the weights of a neural ODE's Euler scheme against the weight-tied Euler bound of
``symlip.cde`` (logarithmic norm off / on).
"""

from __future__ import annotations

import math

import numpy as np

from symlip.bounds.input import input_lipschitz
from symlip.bounds.param import param_lipschitz
from symlip.models.network import Network

CASES = [(4, 2, 0.5, "tanh"), (4, 4, 0.25, "tanh"), (8, 3, 0.5, "sigmoid"),
         (8, 4, 1.0, "tanh"), (8, 4, 0.1, "gelu")]


def random_resnet(width: int, blocks: int, h: float, act: str, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    n0 = 2
    ws = ([rng.standard_normal((width, n0)) / math.sqrt(n0)]
          + [rng.standard_normal((width, width)) / math.sqrt(width) for _ in range(blocks)]
          + [rng.standard_normal((1, width)) / math.sqrt(width)])
    bs = [0.1 * rng.standard_normal(width) for _ in range(blocks + 1)] + [np.zeros(1)]
    return Network.from_arrays(ws, bs, ["identity"] + [act] * blocks,
                               steps=[None] + [h] * blocks + [None])


def _grad_recursion(net: Network, X: np.ndarray, y: np.ndarray, r: float,
                    loss: str = "mse") -> float:
    """Lemma 9 without the centre Jacobian options, certified (mean of the per-point
    bounds)."""
    from symlip.bounds.param_core import _args
    from symlip.bounds.residual import layer_kinds, lognorm_layers
    from symlip.bounds.residual_smooth import residual_grad_program
    from symlip.bounds.smooth import _residual_inputs

    ci = _residual_inputs(net, X, y, loss, r)
    f = residual_grad_program(layer_kinds(net), loss, ci.bounded, ci.centre,
                              lognorm_layers(net))
    return f.enclose_array(_args(f, ci, hull=False)).mean().upper_float


def tightness() -> None:
    from symlip.bounds.residual import residual_param_lipschitz

    print("| net | param r=1e-3 (recursion only) | param r=1e-3 | param r=1e-1 | input |")
    print("|---|---|---|---|---|")
    for width, blocks, h, act in CASES:
        net = random_resnet(width, blocks, h, act, width * 100 + blocks)
        X = np.random.default_rng(1).standard_normal((16, 2))
        old = residual_param_lipschitz(net, X, 1e-3, jac=False, lower=False).upper
        cells = [f"{old:.4g} / {param_lipschitz(net, X, 1e-3).estimate:.4g}"]
        for r in (1e-3, 1e-1):
            res = param_lipschitz(net, X, r)
            cells.append(f"{res.enclosure.upper_float:.4g} / {res.estimate:.4g} = "
                         f"{res.enclosure.upper_float / res.estimate:.3g}")
        ri = input_lipschitz(net, X)
        cells.append(f"{ri.enclosure.upper_float:.4g} / {ri.estimate:.4g} = "
                     f"{ri.enclosure.upper_float / ri.estimate:.3g}")
        print(f"| n={width}, {blocks} {act} blocks, h={h} | " + " | ".join(cells) + " |")


def gradient_tightness() -> None:
    from symlip.bounds.smooth import grad_lipschitz

    print("\n| net (MSE, r = 1e-3, 16 points) | gradient upper (recursion only) | gradient upper "
          "| sampled Hessian norm | ratio (recursion only) | ratio "
          "| certified lower (Lemma 10 or the full quotient) |")
    print("|---|---|---|---|---|---|---|")
    cases = CASES + [(8, 8, 0.25, "tanh"), (8, 16, 0.125, "tanh"), (8, 8, 0.25, "gelu")]
    for width, blocks, h, act in cases:
        net = random_resnet(width, blocks, h, act, width * 100 + blocks)
        rng = np.random.default_rng(1)
        X, y = rng.standard_normal((16, 2)), rng.standard_normal((16, 1))
        g = grad_lipschitz(net, X, y, "mse", 1e-3)
        old = _grad_recursion(net, X, y, 1e-3)
        print(f"| n={width}, {blocks} {act} blocks, h={h} | {old:.4g} | {g.upper:.4g} | "
              f"{g.estimate:.4g} | {old / g.estimate:.3g} | {g.upper / g.estimate:.3g} | "
              f"{g.lower if g.lower is None else f'{g.lower:.4g}'} |")


def untied_vs_tied() -> None:
    from symlip.bounds.residual import residual_param_lipschitz
    from symlip.cde import ControlledODE, time_grid
    from symlip.cde import param_lipschitz as cde_param

    print("\n| neural ODE n=4 tanh, steps N | untied (no lognorm) | tied Euler (no lognorm) "
          "| untied (lognorm) | tied Euler (lognorm) | untied default (+ centre Jacobians) "
          "| untied lower |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(4)
    n0, n = 2, 4
    A, a = rng.standard_normal((n, n0)), 0.1 * rng.standard_normal(n)
    W, b = rng.standard_normal((n, n)) / math.sqrt(n), 0.1 * rng.standard_normal(n)
    C, c = rng.standard_normal((1, n)), np.zeros(1)
    X = rng.standard_normal((4, n0))
    for N in (1, 4, 16, 64):
        U = time_grid(1.0, N)
        h = float(U[1, 0] - U[0, 0])
        model = ControlledODE(A, a, [W], [b], C, c, "tanh")
        t0 = cde_param(model, X, U, 0.01, lognorm=False, lower=False)
        t1 = cde_param(model, X, U, 0.01, lognorm=True, lower=False)
        net = Network.from_arrays([A] + [W] * N + [C], [a] + [b] * N + [c],
                                  ["identity"] + ["tanh"] * N, steps=[None] + [h] * N + [None])
        u0 = residual_param_lipschitz(net, X, 0.01, lognorm=False, jac=False, lower=False)
        u1 = residual_param_lipschitz(net, X, 0.01, jac=False, lower=False)
        u = param_lipschitz(net, X, 0.01)
        print(f"| {N} | {u0.enclosure.upper_float:.5g} | {t0.enclosure.upper_float:.5g} | "
              f"{u1.enclosure.upper_float:.5g} | {t1.enclosure.upper_float:.5g} | "
              f"{u.enclosure.upper_float:.5g} | {u.lower_enclosure.lower_float:.5g} |")


def trained_digits(epochs: int = 30) -> None:
    """A ResNet trained on scikit-learn's digits (torch, Adam, cross-entropy): linear
    read-in 64 -> 16, four tanh blocks with h = 0.5, linear read-out; bounds over 16 test
    images (upper / certified lower, upper / sampled estimate), the recursion alone and
    the default side by side, r = 1e-3."""
    import torch
    from sklearn.datasets import load_digits

    from symlip.bounds.residual import residual_param_lipschitz
    from symlip.bounds.smooth import grad_lipschitz

    nn = torch.nn
    torch.manual_seed(0)
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float64)
    y = torch.tensor(d.target)
    width, blocks, h = 16, 4, 0.5
    lin = [nn.Linear(64, width).double()] + [nn.Linear(width, width).double()
                                              for _ in range(blocks)]
    out = nn.Linear(width, 10).double()
    params = [p for m in lin + [out] for p in m.parameters()]

    def forward(xb: torch.Tensor) -> torch.Tensor:
        a = lin[0](xb)
        for m in lin[1:]:
            a = a + h * torch.tanh(m(a))
        return out(a)

    opt = torch.optim.Adam(params, lr=3e-3)
    for _ in range(epochs):
        for i in range(0, 1400, 50):
            opt.zero_grad()
            nn.functional.cross_entropy(forward(x[i:i + 50]), y[i:i + 50]).backward()
            opt.step()
    with torch.no_grad():
        acc = float((forward(x[1400:]).argmax(1) == y[1400:]).double().mean())
    ws = [m.weight.detach().numpy() for m in lin + [out]]
    bs = [m.bias.detach().numpy() for m in lin + [out]]
    net = Network.from_arrays(ws, bs, ["identity"] + ["tanh"] * blocks,
                              steps=[None] + [h] * blocks + [None])
    X, Y = d.data[1400:1416] / 16.0, d.target[1400:1416]
    r = 1e-3
    print(f"\nResNet on digits (64-16, {blocks} tanh blocks h={h}, 16-10; test accuracy "
          f"{acc:.3f}), 16 test images, r = {r}")
    print("\n| bound | recursion only | default | certified lower | estimate "
          "| default / lower |")
    print("|---|---|---|---|---|---|")
    p_old = residual_param_lipschitz(net, X, r, jac=False, lower=False).upper
    p = param_lipschitz(net, X, r)
    print(f"| parameters | {p_old:.4g} | {p.upper:.4g} | {p.lower:.4g} | {p.estimate:.4g} | "
          f"{p.upper / p.lower:.3g} |")
    g_old = _grad_recursion(net, X, Y, r, "cross-entropy")
    g = grad_lipschitz(net, X, Y, "cross-entropy", r)
    low = g.lower if g.lower else float("nan")
    print(f"| gradient (cross-entropy) | {g_old:.4g} | {g.upper:.4g} | {low:.4g} | "
          f"{g.estimate:.4g} | {g.upper / low:.3g} |")
    print("\nThe gradient's curvature term option by option (upper / certified lower):")
    for label, opts in _gradient_options(net, X, Y, r, "cross-entropy"):
        print(f"  {label:<52} {opts:.4g} / {low:.4g} = {opts / low:.3g}")


def _gradient_options(net: Network, X: np.ndarray, y: np.ndarray, r: float, loss: str
                      ) -> list[tuple[str, float]]:
    """The gradient bound with the options of Lemma 9 switched on one after the other
    (the same certified inputs; certified means of the per-point bounds)."""
    from symlip.bounds.param_core import _args
    from symlip.bounds.residual import layer_kinds, lognorm_layers
    from symlip.bounds.residual_smooth import program_options, residual_grad_program
    from symlip.bounds.smooth import _residual_inputs

    ci = _residual_inputs(net, X, y, loss, r)
    full = program_options(ci)
    steps = [("centre Jacobians, state chains, Lemma 11 (G h_N)",
              {"jac": True, "gn": full["gn"]}),
             ("+ the loss gradient's own chains (directional)",
              {"jac": True, "gn": full["gn"], "direc": True}),
             ("+ per-neuron sigma'' weights (the default)", full)]
    out = []
    for label, opts in steps:
        f = residual_grad_program(layer_kinds(net), loss, ci.bounded, ci.centre,
                                  lognorm_layers(net), **opts)
        out.append((label, f.enclose_array(_args(f, ci, hull=False)).mean().upper_float))
    return out


if __name__ == "__main__":
    tightness()
    gradient_tightness()
    trained_digits()
    untied_vs_tied()
