"""Local input-Lipschitz bound on balls: interval boxes (old) against linear relaxation
(new), ``python benchmarks/bench_local.py [--quick]``.

Networks trained here on real data (scikit-learn's digits, 8x8 images scaled to [0, 1],
and diabetes, standardised): a 6-hidden-layer width-50 ReLU classifier, a tanh and a
logistic one (``sklearn.neural_network.MLPClassifier``), a GELU one (a few hundred
full-batch Adam steps in torch on the CPU), a ReLU regressor; and random networks (the
784-128-64-10 timing target, an 8-64-64-64-4 GELU one).  For each, balls of radius
``eps`` in {0.01, 0.1} around test points; columns:

* ``old`` / ``new``: the largest certified local bound over the balls with
  ``preact="interval"`` (interval / mean-value boxes) and ``preact="linear"``
  (linear-relaxation boxes and the vertex split of the interval-Jacobian norm);
* ``max ||J(x_i)||``: the largest float Jacobian norm at the centres (a lower estimate of
  the local constant on the union of the balls), and ``new / J``, ``old / J``;
* ``lower``: a certified lower bound of that local constant (interval difference quotient
  at the centre with the largest Jacobian norm, a step of 1e-6 along its top singular
  vector: both points lie in that ball), and ``new / lower``;
* per ball: the median and the largest of (new bound of ball i) / ||J(x_i)||;
* ``ms/ball``: CPU time per ball (``time.process_time``; the machine is shared, wall
  time is noisier), after a warm-up ball.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from bench_input import random_net  # noqa: E402  (the sibling benchmark's generator)

from symlip.bounds.input import (
    _global_inputs,
    certify_input_lower,
    jacobian_norms,
    local_input_lipschitz,
)
from symlip.models.network import Network

EPS = (0.01, 0.1)


def from_sklearn(model, act: str) -> Network:
    return Network.from_arrays([w.T for w in model.coefs_], list(model.intercepts_), act)


def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def train_mlp(hidden: tuple[int, ...], act: str, seed: int = 0):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    Xtr, Xte, ytr, yte = digits()
    m = MLPClassifier(hidden_layer_sizes=hidden, activation=act, max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m.fit(Xtr, ytr)
    name = {"logistic": "sigmoid"}.get(act, act)
    return from_sklearn(m, name), Xte, m.score(Xte, yte)


def train_gelu(seed: int = 0):
    import torch

    torch.manual_seed(seed)
    Xtr, Xte, ytr, yte = digits()
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.GELU(),
                              torch.nn.Linear(64, 64), torch.nn.GELU(),
                              torch.nn.Linear(64, 10)).double()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    X, y = torch.tensor(Xtr), torch.tensor(ytr)
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(X), y)
        loss.backward()
        opt.step()
    acc = float((net(torch.tensor(Xte)).argmax(1) == torch.tensor(yte)).double().mean())
    return Network.from_torch(net), Xte, acc


def train_regressor(seed: int = 0):
    from sklearn.datasets import load_diabetes
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    m = MLPRegressor(hidden_layer_sizes=(64, 64), activation="relu", alpha=10.0, max_iter=2000,
                     random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m.fit(Xtr, ytr)
    return from_sklearn(m, "relu"), Xte, m.score(Xte, yte)


def run(net: Network, centres: np.ndarray, eps: float, preact: str,
        glob) -> tuple[np.ndarray, float]:
    """(certified local bound of each ball, CPU ms per ball)."""
    local_input_lipschitz(net, centres[0], eps, preact=preact, global_inputs=glob)
    t = time.process_time()
    vals = np.array([local_input_lipschitz(net, c, eps, preact=preact,
                                           global_inputs=glob).upper
                     for c in centres])
    return vals, 1e3 * (time.process_time() - t) / len(centres)


def table(cases) -> None:
    print("| network | data | balls | eps | old | new | max ‖J(x_i)‖ | old / J | new / J "
          "| certified lower | new / lower | per ball new / ‖J(x_i)‖ median, max "
          "| old ms/ball | new ms/ball |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, data, net, centres in cases:
        glob = _global_inputs(net)
        jn, vs = jacobian_norms(net, centres)
        i = int(np.argmax(jn))
        lower = certify_input_lower(net, centres[i], vs[i])[0].lower_float
        for eps in EPS:
            olds, t_old = run(net, centres, eps, "interval", glob)
            news, t_new = run(net, centres, eps, "linear", glob)
            old, new, J = float(olds.max()), float(news.max()), float(jn[i])
            per = news / jn
            print(f"| {name} | {data} | {len(centres)} | {eps:g} | {old:.4g} | {new:.4g} | "
                  f"{J:.4g} | {old / J:.3g} | {new / J:.3g} | {lower:.4g} | "
                  f"{new / lower:.3g} | {np.median(per):.3g}, {per.max():.3g} | "
                  f"{t_old:.0f} | {t_new:.0f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 balls per network (else 32)")
    args = ap.parse_args()
    n = 8 if args.quick else 32
    rng = np.random.default_rng(0)
    cases = []
    for hidden, act, label in (((50,) * 6, "relu", "64-50x6-10 relu"),
                               ((64, 64), "tanh", "64-64-64-10 tanh"),
                               ((64, 64), "logistic", "64-64-64-10 sigmoid")):
        net, Xte, acc = train_mlp(hidden, act)
        cases.append((f"digits {label} (test acc {acc:.3f})", "digits test", net, Xte[:n]))
    net, Xte, acc = train_gelu()
    cases.append((f"digits 64-64-64-10 gelu (test acc {acc:.3f})", "digits test", net,
                  Xte[:n]))
    net, Xte, r2 = train_regressor()
    cases.append((f"diabetes 10-64-64-1 relu (test R² {r2:.2f})", "diabetes test", net,
                  Xte[:n]))
    for widths, act, seed in (([8, 64, 64, 64, 4], "gelu", 2), ([784, 128, 64, 10], "relu", 5),
                              ([784, 128, 64, 10], "tanh", 5)):
        balls = n if widths[0] < 100 else max(4, n // 4)
        cases.append((f"random {'-'.join(map(str, widths))} {act}", "N(0, I)",
                      random_net(widths, act, seed), rng.standard_normal((balls, widths[0]))))
    table(cases)


if __name__ == "__main__":
    main()
