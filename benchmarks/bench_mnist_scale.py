"""MNIST-scale timing of the parameter and gradient bounds (issue #12), one command:

    python benchmarks/bench_mnist_scale.py [--points 10000] [--previous] [--digits]
                                           [--methods] [--local-points LIST]
                                           [--full-lower]

A 784-1024-1024-10 tanh MLP (1/sqrt(fan_in) weights, the setting of bench_param.py),
10,000 data points, r = 1e-3, the API defaults (lower bounds included):
``param_lipschitz``, ``grad_lipschitz`` with cross-entropy and with MSE, one after the
other in one process, and the total.  ``--previous`` also times the previous path
(every call recomputes the spectral norms and the centre forward pass, the gradient
lower bound is the full interval gradient quotient, the parameter search direction
forms the Jacobian); ``--local-points auto,0,1000``: the gradient bound with the local
line on that many points (the points with the largest recursion lines; the others keep
the recursion, :mod:`symlip.bounds.mixed`); ``--digits``: also a net of the same shape trained on
scikit-learn's digits upsampled to 28 x 28 (10,000 shifted copies); ``--methods``:
the default next to ``method="recursion"`` on the same points, upper / certified lower
and time (the local method applies up to about 1,500 points on this shape, e.g.
``--points 1000 --methods``; beyond, the default is the recursion).  The machine load
(1-minute load average) is printed with every run, and the process's CPU time next to
the wall time (with one BLAS thread, close to the wall time on an idle machine).  The
first run pays the one-time costs of a fresh process; the second is the same calls
again.  BLAS threads: whatever the
environment says (OPENBLAS_NUM_THREADS=1 is steadier on a shared machine).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from contextlib import contextmanager

import numpy as np

from symlip.bounds.param import param_lipschitz
from symlip.bounds.smooth import grad_lipschitz
from symlip.models.network import Network


def random_net(rng: np.random.Generator, widths: list[int], act: str = "tanh",
               bias: float = 0.01) -> Network:
    ws = [rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])
          for k in range(len(widths) - 1)]
    bs = [bias * rng.standard_normal(widths[k + 1]) for k in range(len(widths) - 1)]
    return Network.from_arrays(ws, bs, act)


def digits_net(n_points: int, epochs: int = 8) -> tuple[Network, np.ndarray, np.ndarray]:
    """784-1024-1024-10 tanh trained (torch, Adam) on digits upsampled to 28 x 28."""
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    img = d.images / 16.0
    big = np.kron(img, np.ones((3, 3)))[:, :, :]  # 24 x 24
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))  # 28 x 28
    rng = np.random.default_rng(0)
    reps = int(math.ceil(n_points / len(big)))
    xs, ys = [], []
    for _ in range(reps):
        sh = rng.integers(-2, 3, size=2)
        xs.append(np.roll(big, tuple(sh), axis=(1, 2)).reshape(len(big), -1))
        ys.append(d.target)
    X = np.concatenate(xs)[:n_points]
    y = np.concatenate(ys)[:n_points]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.Tanh(),
                                torch.nn.Linear(1024, 1024), torch.nn.Tanh(),
                                torch.nn.Linear(1024, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    for _ in range(epochs):
        perm = torch.randperm(len(Xt))
        for s in range(0, len(Xt), 256):
            idx = perm[s:s + 256]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = float((model(Xt).argmax(1) == yt).float().mean())
    lin = [m for m in model if isinstance(m, torch.nn.Linear)]
    net = Network.from_arrays([m.weight.detach().double().numpy() for m in lin],
                              [m.bias.detach().double().numpy() for m in lin], "tanh")
    print(f"[digits] trained 784-1024-1024-10 tanh, accuracy {acc:.3f} on its "
          f"{n_points} training points")
    return net, X, y


@contextmanager
def previous_path():
    """The path before this change: no shared results, the full interval gradient
    quotient for the lower bound, the Jacobian-forming search direction."""
    import symlip.bounds.centre as centre
    import symlip.bounds.param as param
    import symlip.bounds.readout_lower as rl

    size, budget, top = centre._CONTENT_CACHE_SIZE, rl.READOUT_LOWER_BUDGET, \
        param._top_direction_gram

    def jac_direction(net, x):
        J = np.asarray(net.param_jacobian(x))
        _, U = np.linalg.eigh(J @ J.T)
        return param._unit(J.T @ U[:, -1])

    centre._CONTENT_CACHE.clear()
    centre._CONTENT_CACHE_SIZE = 0
    rl.READOUT_LOWER_BUDGET = 10**30
    param._top_direction_gram = jac_direction
    try:
        yield
    finally:
        centre._CONTENT_CACHE_SIZE, rl.READOUT_LOWER_BUDGET = size, budget
        param._top_direction_gram = top


def run(net: Network, X: np.ndarray, y: np.ndarray, r: float, label: str) -> dict:
    import symlip.bounds.centre as centre

    centre._CONTENT_CACHE.clear()
    out = {}
    c0 = time.process_time()
    t0 = time.perf_counter()
    p = param_lipschitz(net, X, r)
    out["param"] = (time.perf_counter() - t0, p)
    for loss, yy in (("cross-entropy", y), ("mse", np.eye(10)[y])):
        t = time.perf_counter()
        g = grad_lipschitz(net, X, yy, loss, r)
        out[loss] = (time.perf_counter() - t, g)
    out["total"] = time.perf_counter() - t0
    out["cpu"] = time.process_time() - c0
    print(f"  {label}: total {out['total']:.2f} s wall, {out['cpu']:.2f} s CPU of this "
          f"process, load average {os.getloadavg()[0]:.2f}")
    return out


def methods(net: Network, X: np.ndarray, y: np.ndarray, r: float) -> None:
    """The default and the recursion side by side (the centre quantities cached)."""
    print("| bound | default: upper / lower | method | time | recursion: upper / lower | "
          "time |")
    print("|---|---|---|---|---|---|")
    for key in ("param", "cross-entropy", "mse"):
        cells = []
        for m in ("local", "recursion"):
            t = time.perf_counter()
            if key == "param":
                res = param_lipschitz(net, X, r, method=m)
            else:
                res = grad_lipschitz(net, X, y if key == "cross-entropy" else np.eye(10)[y],
                                     key, r, method=m)
            ratio = f"{res.upper / res.lower:.3g}" if res.lower else "-"
            cells.append((f"{res.upper:.5g} / {res.lower or 0:.5g} = {ratio}",
                          res.extra.get("method"), time.perf_counter() - t))
        (d, dm, dt), (rr, _, rt) = cells
        print(f"| {key} | {d} | {dm} | {dt:.2f} s | {rr} | {rt:.2f} s |")


def mixing(net: Network, X: np.ndarray, y: np.ndarray, r: float, counts: list[str],
           full_lower: bool = False) -> None:
    """The gradient bound with the local line on more or fewer points (``local_points``:
    the default ``auto``, counts, 0 = the recursion everywhere); the lower bound is
    computed once per loss (it does not depend on the choice; ``full_lower``: with
    ``lower="full"``, its time in the first row)."""
    print("| loss | local_points | points with the local line | upper | upper / lower | "
          "time |")
    print("|---|---|---|---|---|---|")
    for loss in ("cross-entropy", "mse"):
        yy = y if loss == "cross-entropy" else np.eye(10)[y]
        low = None
        for c in counts:
            lp = c if c == "auto" else int(c)
            t = time.perf_counter()
            want = ("full" if full_lower else True) if low is None else False
            res = grad_lipschitz(net, X, yy, loss, r, local_points=lp, lower=want)
            dt = time.perf_counter() - t
            low = low if low is not None else res.lower
            pts = res.extra.get("local_points")
            k = len(pts) if pts is not None else (len(X) if res.extra["method"] == "local"
                                                  else 0)
            ratio = f"{res.upper / low:.3g}" if low else "-"
            print(f"| {loss} | {c} | {k} | {res.upper:.5g} | {ratio} | {dt:.2f} s |")


def table(rows: list[tuple[str, dict]]) -> None:
    head = "| bound | " + " | ".join(f"{n} time" for n, _ in rows) + " | upper | lower " \
           "(certified) | upper/lower | method |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for key in ("param", "cross-entropy", "mse"):
        res = rows[0][1][key][1]
        lo = res.lower
        cells = " | ".join(f"{d[key][0]:.2f} s" for _, d in rows)
        ratio = f"{res.upper / lo:.3g}" if lo else "-"
        print(f"| {key} | {cells} | {res.upper:.5g} | {lo if lo is None else f'{lo:.5g}'} | "
              f"{ratio} | {res.extra.get('method')} |")
    print("| total | " + " | ".join(f"**{d['total']:.2f} s**" for _, d in rows) + " | | | | |")
    print("| CPU time | " + " | ".join(f"{d['cpu']:.2f} s" for _, d in rows) + " | | | | |")
    for n, d in rows:
        for key in ("param", "cross-entropy", "mse"):
            tm = d[key][1].extra.get("timings", {})
            parts = ", ".join(f"{k} {v:.2f}" for k, v in tm.items() if v >= 0.05)
            print(f"    {n} {key}: {parts}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--radius", type=float, default=1e-3)
    ap.add_argument("--previous", action="store_true", help="also time the previous path")
    ap.add_argument("--digits", action="store_true", help="also a digits-trained net")
    ap.add_argument("--methods", action="store_true",
                    help="also the default next to the recursion on the same points")
    ap.add_argument("--local-points", default=None, metavar="LIST",
                    help="also the gradient bound with local_points set to each of these "
                    "(comma-separated: auto, counts), e.g. auto,0,500,1000,1500")
    ap.add_argument("--full-lower", action="store_true",
                    help="with --local-points: the lower bound with lower='full'")
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    from symlip.activations.registry import get_activation

    _ = get_activation("tanh").constants  # shipped constants: read once per process
    nets = []
    rng = np.random.default_rng(0)
    nets.append(("random 1/sqrt(fan_in)", random_net(rng, [784, 1024, 1024, 10]),
                 rng.random((a.points, 784)), rng.integers(0, 10, a.points)))
    if a.digits:
        nets.append(("digits-trained", *digits_net(a.points)))
    for name, net, X, y in nets:
        print(f"\n784-1024-1024-10 tanh, {name}, {a.points} points, r = {a.radius:g}")
        rows = [("cold", run(net, X, y, a.radius, "first calls in this process (kernel "
                             "tables, derivations and compiled programs built on the way)")),
                ("warm", run(net, X, y, a.radius, "same calls again (one-time costs paid)"))]
        if a.previous:
            with previous_path():
                rows.append(("previous", run(net, X, y, a.radius, "previous")))
        table(rows)
        if a.methods:
            methods(net, X, y, a.radius)
        if a.local_points:
            mixing(net, X, y, a.radius, a.local_points.split(","), a.full_lower)
    print(f"\nload average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
