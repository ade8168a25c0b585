"""The bound registry is the only list of bounds: every entry resolves, the CLI and the
certificate reader read it, and library code does not reach into the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from symlip.bounds import registry
from symlip.bounds.registry import BOUNDS, QuantitySpec
from symlip.errors import InputError

ROOT = Path(__file__).resolve().parents[1] / "symlip"


def test_every_entry_resolves():
    for b in BOUNDS:
        for ref in (b.certify, b.derive, b.when):
            if ref is not None:
                assert callable(registry.resolve(ref)), ref
        if b.spec is not None:
            spec = registry.spec_of(b.quantity)
            assert isinstance(spec, QuantitySpec)
            assert spec.name == b.quantity
            assert dict(spec.fixed_options) == {"wrt": (b.wrt,), "model_type": (b.model_type,)}
        else:
            assert b.quantity is None  # only a refusing route has no certificate


def test_quantities_are_unique_and_each_route_has_one_default():
    qs = [b.quantity for b in BOUNDS if b.quantity is not None]
    assert len(qs) == len(set(qs))
    for mt in registry.model_types():
        for wrt in registry.wrt_choices():
            routed = [b for b in BOUNDS if (b.model_type, b.wrt) == (mt, wrt) and b.certify]
            assert registry.serves(mt, wrt) == bool(routed)
            if routed:
                assert sum(b.when is None for b in routed) == 1, (mt, wrt)


def test_cli_choices_come_from_the_registry():
    assert registry.wrt_choices() == ("input", "params", "gradient")
    assert registry.wrt_choices(derive=True) == ("params", "gradient")
    assert registry.model_types(derive=True) == ("feedforward", "cde")
    with pytest.raises(InputError, match="--wrt input is not available for --model-type cde"):
        registry.route("cde", "input")


def test_route_picks_the_spline_entry_for_spline_networks():
    from symlip.activations.spline import spline_network
    from symlip.models.network import Network

    rng = np.random.default_rng(0)
    W = [rng.standard_normal((3, 2)), rng.standard_normal((1, 3))]
    b = [np.zeros(3), np.zeros(1)]
    spl = spline_network(W, b, [rng.standard_normal(4)], 1.0)
    net = Network.from_arrays(W, b, "tanh")
    assert registry.route("feedforward", "params", spl).quantity == "param_lipschitz_spline"
    assert registry.route("feedforward", "gradient", spl).quantity is None
    assert registry.route("feedforward", "params", net).quantity == "param_lipschitz"


def test_every_model_loader_resolves():
    from symlip.models import MODEL_LOADERS

    assert set(registry.model_types()) <= set(MODEL_LOADERS)
    for ref in MODEL_LOADERS.values():
        assert callable(registry.resolve(ref)), ref


def test_unknown_model_type_is_named():
    from symlip.models.io import load_model

    with pytest.raises(InputError, match="model type 'rnn' is unknown"):
        load_model("m.npz", "rnn")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_library_code_neither_imports_the_cli_nor_argparse():
    bad = []
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT).as_posix()
        if rel.startswith("cli/") or rel == "__main__.py":
            continue
        mods = _imports(p)
        if any(m == "symlip.cli" or m.startswith("symlip.cli.") for m in mods) \
                or "argparse" in mods:
            bad.append(rel)
    assert not bad, f"library modules importing the CLI or argparse: {bad}"


def test_bound_modules_do_not_import_the_certificate_reader():
    bad = [p.name for p in sorted((ROOT / "bounds").glob("*.py"))
           if "symlip.certificate" in _imports(p)]
    assert not bad, bad
