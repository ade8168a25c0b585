"""Verified LipSDP against the product bound, side by side, on trained and random networks.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_lipsdp.py [--quick] [--no-big]

Networks trained here with scikit-learn (MLPClassifier / MLPRegressor expose coefs_ and
intercepts_): digits (64 inputs) with 6 hidden ReLU layers of width 50, a tanh network
on digits, a small regression net on diabetes; random ones; and a 784-256-256-10 ReLU
network (random weights scaled like trained ones, 1/sqrt(fan_in)).  For each: certified
product, certified LipSDP (neuron and layer via Clarabel where the cones are small
enough, the scalable variant always), the float LipSDP value, the certified lower bound
(symlip's data lower bound), upper/lower ratios, time and peak memory (tracemalloc, the
Python-side allocations; ru_maxrss of the process is printed at the end).
"""

from __future__ import annotations

import argparse
import math
import resource
import time
import tracemalloc
import warnings

import numpy as np

from symlip.bounds import lipsdp as L
from symlip.bounds.input import certify_input_lower, estimate_input_lower, input_lipschitz
from symlip.models.network import Network


def _sk_net(clf, act):
    return Network.from_arrays([w.T for w in clf.coefs_], list(clf.intercepts_), act)


def trained():
    from sklearn.datasets import load_diabetes, load_digits
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    warnings.filterwarnings("ignore")
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    out = []
    clf = MLPClassifier(hidden_layer_sizes=(50,) * 6, activation="relu", max_iter=300,
                        random_state=0).fit(X, y)
    out.append(("digits 64-50x6-10 relu", _sk_net(clf, "relu"), X, clf.score(X, y)))
    clf = MLPClassifier(hidden_layer_sizes=(32, 32), activation="tanh", max_iter=300,
                        random_state=0).fit(X, y)
    out.append(("digits 64-32-32-10 tanh", _sk_net(clf, "tanh"), X, clf.score(X, y)))
    Xd, yd = load_diabetes(return_X_y=True)
    Xd = (Xd - Xd.mean(0)) / Xd.std(0)
    reg = MLPRegressor(hidden_layer_sizes=(16, 16), activation="relu", max_iter=2000,
                       random_state=0).fit(
        Xd, (yd - yd.mean()) / yd.std())
    out.append(("diabetes 10-16-16-1 relu", _sk_net(reg, "relu"), Xd, reg.score(
        Xd, (yd - yd.mean()) / yd.std())))
    return out


def random_net(widths, act, seed=0):
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((m, n)) / math.sqrt(n) for n, m in zip(widths, widths[1:])]
    bs = [0.1 * rng.standard_normal(m) for m in widths[1:]]
    return Network.from_arrays(Ws, bs, act)


def measure(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001 - reported in the table
        out = exc
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, dt, peak


def row(name, net, X, score=None, variants=("neuron", "layer", "schur")):
    prod, tp, mp = measure(lambda: input_lipschitz(net, lower=False).upper)
    est, xb, vb = estimate_input_lower(net, X)
    low = certify_input_lower(net, xb, vb)[0].lower_float
    ch = L.chain_of(net)
    res = {}
    for v in variants:
        if v in ("neuron", "layer") and L.clarabel_cost(ch) > 4e6:
            res[v] = ("-", "-", "-", "-")
            continue
        r, dt, mem = measure(lambda v=v: L.run_lipsdp(net, v))
        if isinstance(r, Exception):
            res[v] = (f"failed: {r}"[:40], "-", f"{dt:.1f}", f"{mem:.0f}")
        else:
            res[v] = (math.sqrt(r.rho), math.sqrt(r.float_rho), f"{dt:.1f}", f"{mem:.0f}")
    fl = min(x[1] for x in res.values() if isinstance(x[1], float))
    best = min(x[0] for x in res.values() if isinstance(x[0], float))
    cells = [name + (f" (acc/R2 {score:.3f})" if score is not None else ""),
             f"{prod:.4g}", f"{low:.4g}", f"{prod / low:.3g}"]
    for v in variants:
        c, f, dt, mem = res[v]
        cells.append(f"{c:.5g} / {dt} s / {mem} MB" if isinstance(c, float) else str(c))
    cells += [f"{fl:.6g}", f"{best / fl:.7f}", f"{best / low:.3g}", f"{prod / best:.3g}"]
    print("| " + " | ".join(cells) + " |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the trained 6x50 network")
    ap.add_argument("--no-big", action="store_true", help="skip 784-256-256-10")
    ap.add_argument("--no-random", action="store_true", help="skip the small random networks")
    a = ap.parse_args()
    print("| network | product (cert.) | lower (cert.) | product/lower | LipSDP-neuron "
          "(cert./time/mem) | LipSDP-layer | scalable (schur) | float LipSDP | "
          "best cert./float | best/lower | product/best |")
    print("|" + "---|" * 11)
    for name, widths, act in [] if a.no_random else [
            ("random 4-16-16-16-2", [4, 16, 16, 16, 2], "relu"),
            ("random 8-20-20-3 gelu", [8, 20, 20, 3], "gelu"),
            ("random 64-50x6-10", [64] + [50] * 6 + [10], "relu")]:
        net = random_net(widths, act)
        row(name, net, np.random.default_rng(1).standard_normal((200, widths[0])))
    for name, net, X, score in trained():
        if a.quick and "50x6" in name:
            continue
        row(name, net, X, score)
    if not a.no_big:
        net = random_net([784, 256, 256, 10], "relu")
        row("random 784-256-256-10", net,
            np.random.default_rng(1).uniform(0, 1, (100, 784)), variants=("schur",))
    print(f"\nprocess peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
