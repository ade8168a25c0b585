"""The shipped activation constants (``symlip/data/activation_constants.json``) are what
the derivation gives: same exact values, same certified enclosures, bit for bit; a cold
process reads them without deriving; the proofs stay available (derived lazily)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from symlip.activations.constants import (
    _shipped,
    constants_record,
    derive_constants,
    shipped_constants,
    table_key,
)
from symlip.activations.registry import activation_names, get_activation

NAMES = [n for n in activation_names() if hasattr(get_activation(n), "expr")]


@pytest.mark.parametrize("name", NAMES)
def test_shipped_table_equals_the_derivation(name):
    act = get_activation(name)
    assert table_key(act) in _shipped(), f"{name} missing from the shipped table"
    assert _shipped()[table_key(act)] == constants_record(derive_constants(act))
    got = shipped_constants(act)
    ref = derive_constants(act)
    for key in ("S0", "K1", "K2", "sigma0"):
        a, b = getattr(got, key), getattr(ref, key)
        assert a.enclosure.lower == b.enclosure.lower and a.enclosure.upper == b.enclosure.upper
        assert a.exact == b.exact


def test_other_parameters_are_derived():
    act = get_activation("leaky_relu", "0.2")
    assert shipped_constants(act) is None
    assert float(act.constants.K1.upper) == 1.0


def test_lazy_derivation_renders():
    c = get_activation("tanh").constants
    assert "K_1" in c.derivation.to_markdown() or "K1" in c.derivation.to_markdown()
    assert c.K2.derivation is not None and c.K2.derivation.title


def test_cold_process_does_not_derive():
    code = ("import time; from symlip.activations.registry import get_activation;"
            "import symlip.activations.constants as ac; t = time.perf_counter();"
            "c = get_activation('gelu').constants; k = c.K1.enclosure;"
            "assert not ac._CACHE, 'derived'; print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 2.0
