"""Convolutional networks and convolution norms: ``python benchmarks/bench_conv.py [--quick]``.

1. An MNIST-size CNN (Conv(1,16,4,s2,p1) - ReLU - Conv(16,32,4,s2,p1) - ReLU - Linear(1568,
   100) - ReLU - Linear(100, 10), 166k parameters) trained for a few epochs on
   scikit-learn's digits upsampled to 28x28 (pixels in [0, 1]), read through
   ``symlip.from_torch`` (the ONNX round trip).  Certified global input bound (with its
   certified lower end) and local input bounds on balls of radius 0.01 and 0.1 around
   test images (against the largest float Jacobian norm at the centres, a lower
   estimate), and the parameter bound in the kernel view (kernels and biases are the
   parameters) at r = 1e-3 and 1e-2 with its certified lower end, with times.
   The global bound's certified lower end is also timed with the previous witness step
   1e-6 |x| (exact 113-bit interval passes; the default now tries 1e-3 |x| and 1e-4 |x|
   with float64 interval passes first): before/after in one table.
2. The gradient (smoothness) bound in the kernel view (docs/theory-conv.md, Lemma C3) on
   a small tanh CNN trained on the 8x8 digits (Conv(1,8,3,p1) - tanh - Conv(8,8,3,s2,p1)
   - tanh - Linear(128, 10)), cross-entropy over 16 training images, with its certified
   lower end (a gradient difference quotient in the kernel ball).
3. The certified operator norm of a 64-channel 3x3 convolution on 32x32 inputs against
   100 float power iterations with the convolution and its transpose (the same im2col
   code): circular padding (the Fourier bound is exact there) and zero padding (the
   bound of the padded torus against the lower end; the lower end was the certified
   ratio of the 100-power-iteration vector, now of the top Ritz vector of 60 Lanczos
   steps: both are shown, with scipy's eigsh as a float reference of the norm).

``--quick``: fewer epochs and balls, a 16-channel norm.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def digits_28(seed: int = 0):
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    x = torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear",
                                        align_corners=False).clamp(0, 1)
    y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    return x[perm[:1400]], y[perm[:1400]], x[perm[1400:]], y[perm[1400:]]


def train_cnn(epochs: int, seed: int = 0):
    import torch

    nn = torch.nn
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ReLU(),
                      nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                      nn.Linear(32 * 7 * 7, 100), nn.ReLU(), nn.Linear(100, 10))
    xtr, ytr, xte, yte = digits_28(seed)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(epochs):
        perm = torch.randperm(len(ytr))
        for i in range(0, len(ytr), 50):
            idx = perm[i:i + 50]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(m(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
    m.eval()
    with torch.no_grad():
        acc = float((m(xte).argmax(1) == yte).float().mean())
    return m, xte.numpy(), acc


def cnn_table(epochs: int, balls: int) -> None:
    import symlip
    from symlip.bounds.input import input_lipschitz, local_input_lipschitz

    t = time.perf_counter()
    m, xte, acc = train_cnn(epochs)
    t_train = time.perf_counter() - t
    n_params = sum(p.numel() for p in m.parameters())
    t = time.perf_counter()
    net = symlip.from_torch(m, (1, 28, 28))
    t_load = time.perf_counter() - t
    print(f"MNIST-size CNN: {n_params} parameters, trained {epochs} epochs on digits 28x28 "
          f"({t_train:.1f} s), test accuracy {acc:.3f}; from_torch {t_load:.1f} s; "
          f"widths {net.widths}")
    print()
    print("| bound | certified upper | lower | upper/lower | time (s) |")
    print("| --- | --- | --- | --- | --- |")
    t = time.perf_counter()
    gu = input_lipschitz(net, lower=False)
    t_u = time.perf_counter() - t
    x = xte[:balls].reshape(balls, -1).astype(float)
    t = time.perf_counter()
    g = input_lipschitz(net, x)
    t_g = time.perf_counter() - t
    from symlip.bounds.input import certify_input_lower

    xw = np.asarray(g.witness["x"])
    t = time.perf_counter()
    old, _ = certify_input_lower(net, xw, np.asarray(g.witness["x_prime"]) - xw,
                                 step=1e-6 * max(1.0, float(np.linalg.norm(xw))))
    t_old = time.perf_counter() - t
    print(f"| global input (product of norms), upper only | {gu.upper:.5g} | | | {t_u:.1f} |")
    print(f"| global input, with the certified lower end (ascent from {balls} test images) | "
          f"{g.upper:.5g} | {g.lower:.8g} (certified) | {g.upper / g.lower:.3g} | {t_g:.1f} |")
    print(f"| the same lower end with the previous step 1e-6 abs(x) (exact passes) | | "
          f"{old.lower_float:.8g} | | {t_old:.1f} (witness only) |")
    jn = float(np.max(np.linalg.norm(net.input_jacobian(x), ord=2, axis=(1, 2))))
    for eps in (0.1, 0.01):
        worst, t_sum = 0.0, 0.0
        for i in range(balls):
            t = time.perf_counter()
            loc = local_input_lipschitz(net, x[i], eps).enclosure
            t_sum += time.perf_counter() - t
            worst = max(worst, loc.upper_float)
        print(f"| local input, eps = {eps}, max over {balls} balls | {worst:.5g} | {jn:.5g} "
              f"(max float ||J(x_i)||) | {worst / jn:.3g} | {t_sum / balls:.1f} per ball |")
    from symlip.bounds.param import param_lipschitz

    for r in (1e-3, 1e-2):
        t = time.perf_counter()
        p = param_lipschitz(net, x, r)
        t_p = time.perf_counter() - t
        print(f"| parameters (kernel view, {p.extra['parameters']} parameters), r = {r}, "
              f"{balls} test images | {p.upper:.5g} | {p.lower:.5g} (certified) | "
              f"{p.upper / p.lower:.3g} | {t_p:.1f} |")


def grad_table(epochs: int) -> None:
    import torch
    from sklearn.datasets import load_digits

    import symlip
    from symlip.bounds.conv_grad import conv_grad_lipschitz

    nn = torch.nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.Tanh(),
                      nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.Tanh(), nn.Flatten(),
                      nn.Linear(8 * 4 * 4, 10))
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(d.target)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(epochs):
        for i in range(0, 1400, 50):
            opt.zero_grad()
            nn.functional.cross_entropy(m(x[i:i + 50]), y[i:i + 50]).backward()
            opt.step()
    with torch.no_grad():
        acc = float((m(x[1400:]).argmax(1) == y[1400:]).float().mean())
    net = symlip.from_torch(m.eval(), (1, 8, 8))
    X, Y = x[:16].reshape(16, -1).numpy().astype(float), y[:16].numpy()
    print()
    n_par = sum(p.numel() for p in m.parameters())
    print(f"Gradient bound, kernel view: tanh CNN on 8x8 digits ({n_par} parameters, test "
          f"accuracy {acc:.3f}), cross-entropy over 16 training images (the budget of the "
          "centre Jacobians)")
    print()
    print("| r | certified upper | certified lower | upper/lower | time (s) |")
    print("| --- | --- | --- | --- | --- |")
    for r in (1e-3, 1e-2):
        t = time.perf_counter()
        res = conv_grad_lipschitz(net, X, Y, "cross-entropy", r)
        print(f"| {r} | {res.upper:.5g} | {res.lower:.5g} | {res.upper / res.lower:.3g} | "
              f"{time.perf_counter() - t:.1f} |")


def norm_table(channels: int, size: int, iters: int = 100) -> None:
    from symlip.models.conv import (
        ConvGeometry,
        certified_ratio,
        conv_norm_info,
        power_iteration,
    )

    rng = np.random.default_rng(0)
    print()
    print(f"Certified norm of a {channels}-channel 3x3 convolution on {size}x{size} inputs "
          f"(kernel N(0, 1/(9 C)))")
    print()
    print(f"| padding | float power ({iters} it.) | certified [lower, upper] | rel. width | "
          "before: lower from the power vector, rel. width | eigsh (float reference) | "
          "time power (s) | time certified (s) | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for circular in (True, False):
        geom = ConvGeometry((channels, size, size), channels, (3, 3), pads=(1, 1, 1, 1),
                            circular=circular)
        k = rng.standard_normal(geom.kernel_array_shape) / np.sqrt(9 * channels)
        t = time.perf_counter()
        est, v_pow = power_iteration(k, geom, iters)
        t_pow = time.perf_counter() - t
        t = time.perf_counter()
        enc, info = conv_norm_info(k, geom, method="fourier")
        t_cert = time.perf_counter() - t
        lo, hi = float(enc.lower), float(enc.upper)
        lo_old = max(float(certified_ratio(k, geom, v_pow)), lo if circular else 0.0)
        ref = _eigsh_norm(k, geom)
        print(f"| {'circular' if circular else 'zeros'} | {est:.10g} | [{lo:.10g}, {hi:.10g}] "
              f"| {(hi - lo) / hi:.2e} | {lo_old:.10g}, {(hi - lo_old) / hi:.2e} | {ref:.10g} "
              f"| {t_pow:.2f} | {t_cert:.2f} | {t_cert / t_pow:.2f} |")


def _eigsh_norm(k, geom) -> float:
    """scipy's Lanczos (ARPACK) to tolerance 1e-10: a float reference of the norm."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    from symlip.models.conv import conv_apply, conv_transpose_apply

    n = geom.n_in
    op = LinearOperator((n, n), dtype=float, matvec=lambda v: conv_transpose_apply(
        k, geom, conv_apply(k, geom, v[None]))[0])
    w = eigsh(op, k=2, which="LA", tol=1e-10, return_eigenvectors=False,
              v0=np.random.default_rng(0).standard_normal(n))
    return float(np.sqrt(np.max(w)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    cnn_table(epochs=2 if args.quick else 8, balls=2 if args.quick else 5)
    grad_table(epochs=3 if args.quick else 15)
    norm_table(16 if args.quick else 64, 16 if args.quick else 32)


if __name__ == "__main__":
    main()
