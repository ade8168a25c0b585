"""Tightness over depth: the local-sensitivity parameter bound (method="local", Lemma 7)
side by side with the previous layer recursion (method="recursion"); the gradient bound
six ways: the recursion, Lemma 8 alone, Lemma 11 (stacked centre Gauss-Newton norm +
per-point remainders), Lemma 12 with 12c (Lemma 11 with the curvature term from its
certified centre value plus a third-order remainder), with 12d too (the previous
default: the output chains' derivatives from their certified centre values plus a
remainder, in Lemma 8's h_p and in the third-order constant) and the default, which
adds Lemma 12e (the hidden layers' second derivatives h^s_k from a certified centre
value plus a remainder, in the third-order constant and in Lemma 12d).

    python benchmarks/bench_depth.py [--quick]

1. 8-32xK-1 tanh networks (K hidden layers of width 32), 1/sqrt(fan_in) weights,
   r = 1e-3, 16 data points: certified upper / certified lower for K = 2, 4, 8, 16, 32
   (``--quick``: up to 16), with the time of each method (the first call at a depth
   includes compiling the program's interval functions).
2. 8-64-64-64-4 gelu, same setting.
3. A network trained on scikit-learn's digits (MLPClassifier, tanh, 6 hidden layers of
   32, inputs scaled to [0, 1]), 16 test points, r = 1e-3.

Gradient columns: the recursion, Lemma 8 alone, Lemma 11, Lemma 12 + 12c, + 12d (the
previous default) and the default (Lemmas 12, 12c, 12d and 12e where they apply), each
certified, over the certified lower bound.

"local" is the result (max over the points of the per-point bound), "hull/low" the
formula on the hull of the per-point inputs.  "Lower" is the certified lower bound (interval difference quotient along the top
direction); "est" the sampled estimate of sup ||J|| on the ball (not certified).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_param import random_net  # noqa: E402  (the sibling benchmark's generator)

from symlip.bounds.param import param_lipschitz
from symlip.bounds.smooth import grad_lipschitz
from symlip.models.network import Network


def row(name: str, net: Network, X: np.ndarray, r: float) -> None:
    t = time.perf_counter()
    loc = param_lipschitz(net, X, r, method="local")
    tl = time.perf_counter() - t
    t = time.perf_counter()
    old = param_lipschitz(net, X, r, method="recursion", lower=False)
    to = time.perf_counter() - t
    low = loc.lower if loc.lower else float("nan")
    print(f"  {name:<22}{old.upper:>12.4g}{loc.upper:>10.4g}{low:>9.4g}{loc.estimate:>9.4g}"
          f"{old.upper / low:>12.4g}{loc.upper / low:>9.3g}"
          f"{float(loc.extra.get('upper_hull', loc.upper)) / low:>9.3g}{to:>8.2f}{tl:>8.2f}")


def _previous(net: Network, X: np.ndarray, y: np.ndarray, loss: str, r: float,
              gauss_newton: bool, curvature: bool = False, chains: bool = False) -> float:
    """An earlier local default, certified (the mean of the per-point bounds): Lemma 8
    alone (``gauss_newton=False``), Lemma 11 without Lemma 12's centre curvature,
    (``curvature``) Lemma 12 with 12c but without Lemma 12d's centre chain derivatives,
    or (``chains`` too) with 12d but without Lemma 12e's hidden centre values."""
    from symlip.bounds.param_core import _args
    from symlip.bounds.smooth import _loss_inputs, grad_formula

    ci = _loss_inputs(net, X, y, loss, r)
    f, _ = grad_formula(net, X, r, loss, ci, "local", y, gauss_newton=gauss_newton,
                        curvature=curvature, chain_derivatives=chains,
                        hidden_hessians=False)
    return float(f.enclose_array(_args(f, ci, hull=False)).mean().upper_float)


def grad_row(name: str, net: Network, X: np.ndarray, y: np.ndarray, loss: str,
             r: float) -> None:
    t = time.perf_counter()
    loc = grad_lipschitz(net, X, y, loss, r, method="local", lower=False)
    tl = time.perf_counter() - t
    low_res = grad_lipschitz(net, X, y, loss, r, method="local")
    tlow = low_res.extra["timings"]["lower"]  # the search and the certified quotient
    t = time.perf_counter()
    old = grad_lipschitz(net, X, y, loss, r, method="recursion", lower=False)
    to = time.perf_counter() - t
    l8 = _previous(net, X, y, loss, r, gauss_newton=False)
    l11 = _previous(net, X, y, loss, r, gauss_newton=True)
    l12 = _previous(net, X, y, loss, r, gauss_newton=True, curvature=True)
    l12d = _previous(net, X, y, loss, r, gauss_newton=True, curvature=True, chains=True)
    low = low_res.lower if low_res.lower else float("nan")
    print(f"  {name:<22}{old.upper:>10.4g}{l8:>10.4g}{l11:>10.4g}{l12:>10.4g}{l12d:>10.4g}"
          f"{loc.upper:>10.4g}{low:>9.4g}{low_res.estimate:>9.4g}{old.upper / low:>10.4g}"
          f"{l8 / low:>8.3g}{l11 / low:>8.3g}{l12 / low:>8.3g}{l12d / low:>8.3g}"
          f"{loc.upper / low:>8.3g}"
          f"{to:>7.2f}{tl:>7.2f}{tlow:>7.2f}")


def grad_header() -> None:
    print(f"  {'network':<22}{'recursion':>10}{'Lemma 8':>10}{'Lemma 11':>10}"
          f"{'L12c':>10}{'L12d':>10}{'default':>10}{'lower':>9}{'est':>9}{'rec/low':>10}"
          f"{'L8/low':>8}{'L11/low':>8}{'12c/low':>8}{'12d/low':>8}{'def/low':>8}"
          f"{'t rec':>7}{'t def':>7}{'t low':>7}")


def header(last: str = "hull/low") -> None:
    print(f"  {'network':<22}{'recursion':>12}{'local':>10}{'lower':>9}{'est':>9}"
          f"{'rec/lower':>12}{'loc/lower':>9}{last:>9}{'t rec':>8}{'t loc':>8}")


def trained_digits(depth: int = 6, width: int = 32):
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    clf = MLPClassifier(hidden_layer_sizes=(width,) * depth, activation="tanh",
                        max_iter=300, random_state=0)
    clf.fit(X[:1500], y[:1500])
    acc = clf.score(X[1500:], y[1500:])
    net = Network.from_arrays([w.T for w in clf.coefs_], list(clf.intercepts_), "tanh")
    return net, X[1500:1516], acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="depths up to 16")
    ap.add_argument("--only", choices=["param", "grad"], help="one of the two tables")
    a = ap.parse_args()
    r = 1e-3
    dnet, dX, acc = trained_digits()
    if a.only != "grad":
        param_table(a, r, dnet, dX, acc)
    if a.only != "param":
        grad_table(a, r, dnet, dX)


def param_table(a: argparse.Namespace, r: float, dnet: Network, dX: np.ndarray,
                acc: float) -> None:
    print(f"[depth] parameter bound, r = {r:g}, 16 points; upper / certified lower")
    header()
    for K in (2, 4, 8, 16) if a.quick else (2, 4, 8, 16, 32):
        rng = np.random.default_rng(0)
        net = random_net(rng, [8] + [32] * K + [1])
        X = rng.standard_normal((16, 8))
        row(f"8-32x{K}-1 tanh", net, X, r)
    rng = np.random.default_rng(0)
    net = random_net(rng, [8, 64, 64, 64, 4], "gelu")
    row("8-64-64-64-4 gelu", net, rng.standard_normal((16, 8)), r)
    row("digits 64-32x6-10 tanh", dnet, dX, r)
    print(f"  (digits MLP test accuracy {acc:.3f}; trained with scikit-learn)")


def grad_table(a: argparse.Namespace, r: float, dnet: Network, dX: np.ndarray) -> None:
    print(f"[depth] gradient bound (MSE, targets N(0,1); digits: cross-entropy on its "
          f"labels), r = {r:g}, 16 points; upper / certified lower")
    grad_header()
    for K in (2, 4, 8) if a.quick else (2, 4, 8, 16, 32):
        rng = np.random.default_rng(0)
        net = random_net(rng, [8] + [32] * K + [1])
        X = rng.standard_normal((16, 8))
        grad_row(f"8-32x{K}-1 tanh", net, X, rng.standard_normal((16, 1)), "mse", r)
    rng = np.random.default_rng(0)
    net = random_net(rng, [8, 64, 64, 64, 4], "gelu")
    X = rng.standard_normal((16, 8))
    grad_row("8-64-64-64-4 gelu", net, X, rng.standard_normal((16, 4)), "mse", r)
    from sklearn.datasets import load_digits

    _, yd = load_digits(return_X_y=True)
    grad_row("digits 64-32x6-10 tanh", dnet, dX, yd[1500:1516], "cross-entropy", r)


if __name__ == "__main__":
    main()
