#!/usr/bin/env python
"""Regenerate the demo model shipped with symlip (``symlip/data/``).

A 2-16-16-1 tanh MLP trained on a synthetic regression task with NumPy only:

* data: 256 points ``x`` uniform in ``[-1, 1]^2`` (seed 0), targets
  ``y = sin(pi x_1) cos(pi x_2 / 2) + 0.05 * noise``;
* initialisation: Glorot-uniform weights, zero biases (seed 1);
* training: full-batch Adam (lr 1e-2, betas 0.9/0.999) on the mean of
  ``1/2 (f(x) - y)^2`` for 3000 steps, closed-form backpropagation.

Everything is seeded and there is no timestamp in the output, so two runs on the same
machine write the same files (float64 BLAS results may differ in the last bits between
machines; the shipped files are the reference).

Usage::

    python scripts/train_demo_model.py            # writes symlip/data/demo_*.npy/.npz
    python scripts/train_demo_model.py --out DIR  # somewhere else
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

WIDTHS = (2, 16, 16, 1)
N_POINTS = 256
STEPS = 3000
LR = 1e-2
DATA_SEED = 0
INIT_SEED = 1


def make_data(n: int = N_POINTS, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic regression set: ``x`` (n, 2) and ``y`` (n, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1] / 2) + 0.05 * rng.standard_normal(n)
    return x, y[:, None]


def init_params(widths: tuple[int, ...] = WIDTHS, seed: int = INIT_SEED
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Glorot-uniform weights (out x in) and zero biases."""
    rng = np.random.default_rng(seed)
    Ws, bs = [], []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=False):
        lim = np.sqrt(6.0 / (n_in + n_out))
        Ws.append(rng.uniform(-lim, lim, size=(n_out, n_in)))
        bs.append(np.zeros(n_out))
    return Ws, bs


def forward(Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray
            ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Output and the layer inputs ``a_0 = x, a_1, ..., a_{N-1}`` (tanh hidden layers)."""
    acts = [x]
    a = x
    for k, (W, b) in enumerate(zip(Ws, bs, strict=False)):
        z = a @ W.T + b
        if k < len(Ws) - 1:
            a = np.tanh(z)
            acts.append(a)
        else:
            a = z
    return a, acts


def loss_and_grads(Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray,
                   y: np.ndarray) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """Mean of ``1/2 (f - y)^2`` and its gradients (closed-form backpropagation)."""
    out, acts = forward(Ws, bs, x)
    n = x.shape[0]
    r = out - y
    loss = 0.5 * float(np.mean(np.sum(r * r, axis=1)))
    delta = r / n  # d loss / d z_N
    gW: list[np.ndarray] = [np.empty(0)] * len(Ws)
    gb: list[np.ndarray] = [np.empty(0)] * len(Ws)
    for k in range(len(Ws) - 1, -1, -1):
        gW[k] = delta.T @ acts[k]
        gb[k] = delta.sum(axis=0)
        if k > 0:
            delta = (delta @ Ws[k]) * (1.0 - acts[k] ** 2)
    return loss, gW, gb


def train(steps: int = STEPS, lr: float = LR, verbose: bool = False
          ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray, list[float]]:
    """Train the demo network; returns weights, biases, data, targets and the loss curve."""
    x, y = make_data()
    Ws, bs = init_params()
    params = Ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    history = []
    for t in range(1, steps + 1):
        loss, gW, gb = loss_and_grads(Ws, bs, x, y)
        history.append(loss)
        grads = gW + gb
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mhat = m[i] / (1 - b1 ** t)
            vhat = v[i] / (1 - b2 ** t)
            params[i] -= lr * mhat / (np.sqrt(vhat) + eps)  # in place: Ws/bs share arrays
        if verbose and (t % 500 == 0 or t == 1):
            print(f"step {t:5d}  loss {loss:.6f}")
    loss, _, _ = loss_and_grads(Ws, bs, x, y)
    history.append(loss)
    return Ws, bs, x, y, history


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_out = Path(__file__).resolve().parents[1] / "symlip" / "data"
    ap.add_argument("--out", type=Path, default=default_out, help="output folder")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    Ws, bs, x, y, hist = train(verbose=not args.quiet)
    args.out.mkdir(parents=True, exist_ok=True)
    # written with numpy alone (the same PyTorch-style state-dict layout symlip.models.io.save
    # writes: keys "<i>.weight"/"<i>.bias", metadata as JSON in "__metadata__")
    tensors = {}
    for k, (W, b) in enumerate(zip(Ws, bs, strict=False)):
        tensors[f"{2 * k}.weight"] = W
        tensors[f"{2 * k}.bias"] = b
    meta = {"activation": "tanh",
            "description": "symlip demo: 2-16-16-1 tanh MLP, synthetic regression "
                           "y = sin(pi x1) cos(pi x2 / 2) + noise, trained by "
                           "scripts/train_demo_model.py",
            "final_mse_half": repr(hist[-1])}
    with open(args.out / "demo_model.npz", "wb") as fh:
        np.savez(fh, **tensors, __metadata__=np.array(json.dumps(meta, sort_keys=True)))
    np.save(args.out / "demo_x.npy", x)
    np.save(args.out / "demo_y.npy", y)
    if not args.quiet:
        print(f"final loss (mean 1/2 squared error): {hist[-1]:.6f}")
        print(f"wrote {args.out}/demo_model.npz, demo_x.npy, demo_y.npy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
