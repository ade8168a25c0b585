"""Convolutional networks and convolution norms: ``python benchmarks/bench_conv.py [--quick]``.

1. An MNIST-size CNN (Conv(1,16,4,s2,p1) - ReLU - Conv(16,32,4,s2,p1) - ReLU - Linear(1568,
   100) - ReLU - Linear(100, 10), 166k parameters) trained for a few epochs on
   scikit-learn's digits upsampled to 28x28 (pixels in [0, 1]), read through
   ``symlip.from_torch`` (the ONNX round trip).  Certified global input bound (with its
   certified lower end) and local input bounds on balls of radius 0.01 and 0.1 around
   test images (against the largest float Jacobian norm at the centres, a lower
   estimate), and the parameter bound in the kernel view (kernels and biases are the
   parameters) at r = 1e-3 and 1e-2 with its certified lower end, with times.
2. The certified operator norm of a 64-channel 3x3 convolution on 32x32 inputs against
   100 float power iterations with the convolution and its transpose (the same im2col
   code): circular padding (the Fourier bound is exact there) and zero padding (the
   bound of the padded torus; its width is the gap to the power-iteration lower end).

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
    print(f"| global input (product of norms), upper only | {gu.upper:.5g} | | | {t_u:.1f} |")
    print(f"| global input, with the certified lower end (ascent from {balls} test images) | "
          f"{g.upper:.5g} | {g.lower:.5g} (certified) | {g.upper / g.lower:.3g} | {t_g:.1f} |")
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


def norm_table(channels: int, size: int, iters: int = 100) -> None:
    from symlip.models.conv import ConvGeometry, conv_norm_info, power_iteration

    rng = np.random.default_rng(0)
    print()
    print(f"Certified norm of a {channels}-channel 3x3 convolution on {size}x{size} inputs "
          f"(kernel N(0, 1/(9 C)))")
    print()
    print("| padding | float power ({} it.) | certified [lower, upper] | rel. width | "
          "time power (s) | time certified (s) | ratio |".format(iters))
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for circular in (True, False):
        geom = ConvGeometry((channels, size, size), channels, (3, 3), pads=(1, 1, 1, 1),
                            circular=circular)
        k = rng.standard_normal(geom.kernel_array_shape) / np.sqrt(9 * channels)
        t = time.perf_counter()
        est, _ = power_iteration(k, geom, iters)
        t_pow = time.perf_counter() - t
        t = time.perf_counter()
        enc, info = conv_norm_info(k, geom, method="fourier", power_iters=iters)
        t_cert = time.perf_counter() - t
        lo, hi = float(enc.lower), float(enc.upper)
        print(f"| {'circular' if circular else 'zeros'} | {est:.10g} | [{lo:.10g}, {hi:.10g}] "
              f"| {(hi - lo) / hi:.2e} | {t_pow:.2f} | {t_cert:.2f} | {t_cert / t_pow:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    cnn_table(epochs=2 if args.quick else 8, balls=2 if args.quick else 5)
    norm_table(16 if args.quick else 64, 16 if args.quick else 32)


if __name__ == "__main__":
    main()
