"""``symlip norms MODEL [--json]``: certified per-layer norms of a model file.

For each dense layer: its shape, an enclosure of the spectral norm $\\|W\\|_2$ and of
the Frobenius norm $\\|W\\|_F$ (:mod:`symlip.arith.norms`; lower ends rounded down, upper
ends rounded up).  No activation is needed: only the weight matrices are read.

JSON (``--json``)::

    {"model": {"path": ..., "sha256": ...},
     "layers": [{"name": "0", "shape": [m, n],
                 "spectral": {"lower": s, "upper": s},
                 "frobenius": {"lower": s, "upper": s}}, ...]}

with outward-rounded decimal strings.
"""

from __future__ import annotations

import argparse
from typing import Any

from symlip.cli._common import print_json
from symlip.errors import InputError

__all__ = ["register", "run", "layer_norms"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "norms",
        help="certified spectral and Frobenius norms of every layer of a model file",
        description="Certified enclosures [lower, upper] of the spectral norm ||W||_2 and "
        "the Frobenius norm ||W||_F of every weight matrix of a model file (.npz or "
        ".safetensors state dict). Upper ends are rounded up, lower ends down.",
    )
    p.add_argument("model", help="model file (.npz or .safetensors)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--digits", type=int, default=17,
                   help="significant digits of the printed endpoints (default 17)")
    p.set_defaults(run=run)


def layer_norms(path: str, digits: int = 17) -> dict[str, Any]:
    """The ``--json`` document of ``symlip norms`` for the model file ``path``."""
    from symlip.models.io import read_model, sha256_file

    mf = read_model(path)  # file errors first
    from symlip.arith.norms import frobenius_norm, spectral_norm

    layers = []
    for layer in mf.layers:
        layers.append({
            "name": layer.name,
            "shape": list(layer.shape),
            "spectral": spectral_norm(layer.weight).to_dict(digits),
            "frobenius": frobenius_norm(layer.weight).to_dict(digits),
        })
    return {"model": {"path": str(path), "sha256": sha256_file(path)}, "layers": layers}


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.digits <= 40:
        raise InputError(f"--digits {args.digits} must be between 1 and 40")
    doc = layer_norms(args.model, args.digits)
    if args.json:
        print_json(doc)
        return 0
    rows = [("layer", "shape", "spectral norm [lower, upper]", "Frobenius norm [lower, upper]")]
    for d in doc["layers"]:
        m, n = d["shape"]
        rows.append((d["name"], f"{m} x {n}",
                     f"[{d['spectral']['lower']}, {d['spectral']['upper']}]",
                     f"[{d['frobenius']['lower']}, {d['frobenius']['upper']}]"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"model: {doc['model']['path']} (sha256 {doc['model']['sha256'][:16]}...)")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
    print("certified: upper ends rounded up, lower ends rounded down")
    return 0
