"""Verified LipSDP: soundness on random networks (no slack), the proof, certificates."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytest.importorskip("clarabel")
pytest.importorskip("scipy")

from symlip.bounds import lipsdp as L  # noqa: E402
from symlip.bounds.input import input_lipschitz  # noqa: E402
from symlip.cli import main  # noqa: E402
from symlip.models.io import save  # noqa: E402
from symlip.models.network import Network  # noqa: E402

from .soundness import assert_input_quotients_below  # noqa: E402

ACTS = ["relu", "tanh", "sigmoid", "leaky_relu", "gelu"]


def random_net(rng, widths, act, scale=1.0):
    Ws = [scale * rng.standard_normal((m, n)) / np.sqrt(n) for n, m in zip(widths, widths[1:])]
    bs = [0.3 * rng.standard_normal(m) for m in widths[1:]]
    return Network.from_arrays(Ws, bs, act)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), hidden=st.integers(1, 3), width=st.integers(1, 6),
       act=st.sampled_from(ACTS))
# a width-1 ReLU chain where the SDP optimum equals the product: the solver's point is
# 2.6e-6 relative above it
@example(seed=720931, hidden=2, width=1, act="relu")
def test_lipsdp_is_sound_and_between_float_and_product(seed, hidden, width, act):
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, 5))] + [width] * hidden + [int(rng.integers(1, 4))]
    net = random_net(rng, widths, act, scale=float(rng.uniform(0.5, 2.0)))
    res = L.lipsdp_lipschitz(net, variant="neuron", lower=False)
    up = res.enclosure
    # empirical difference quotients (exact re-check of close pairs, no slack)
    xs = rng.standard_normal((300, widths[0])) * 2
    ys = xs + rng.standard_normal(xs.shape) * 10.0 ** rng.uniform(-4, 0, (300, 1))
    assert_input_quotients_below(net, xs, ys, up)
    # Jacobian norms at random points (float; the bound exceeds them with room)
    J = np.linalg.norm(net.input_jacobian(xs), ord=2, axis=(1, 2))
    assert J.max() <= up.upper_float * (1 - 1e-9) or J.max() <= up.upper_float
    # certified >= the float SDP value (the proof only inflates), and <= the product
    flt = res.extra["lipsdp_float"]
    assert up.upper_float >= flt / (1 + 1e-9)
    assert up.upper_float <= flt * (1 + 1e-3)
    prod = input_lipschitz(net, lower=False).upper
    # the SDP optimum is <= the product (the product gives a feasible point); the float
    # value is the solver's feasible point, within its accuracy of the optimum (2.6e-6 and,
    # on a width-1 sigmoid chain (seed 828), 3.2e-4 relative above), and the certified
    # value within the proof's inflation of that
    assert flt <= prod * (1 + 1e-3)
    assert up.upper_float <= prod * (1 + 1e-3)


def test_schur_variant_matches_neuron_and_is_proved():
    rng = np.random.default_rng(3)
    net = random_net(rng, [3, 6, 6, 2], "tanh")
    a = L.lipsdp_lipschitz(net, variant="neuron", lower=False)
    b = L.lipsdp_lipschitz(net, variant="schur", lower=False)
    assert b.extra["lipsdp_variant"] == "schur"
    assert a.upper <= b.upper <= 1.01 * a.upper
    c = L.lipsdp_lipschitz(net, variant="layer", lower=False)
    assert a.upper <= c.upper * (1 + 1e-6)


def test_a_failed_proof_is_reported_never_a_number():
    rng = np.random.default_rng(1)
    net = random_net(rng, [3, 5, 2], "relu")
    run = L.run_lipsdp(net, "neuron")
    ch = L.chain_of(net)
    assert L.prove_lipsdp(ch, run.rho, run.t).holds
    assert not L.prove_lipsdp(ch, run.rho * 0.9, run.t).holds
    assert not L.prove_lipsdp(ch, run.rho, run.t * 0.5).holds
    with pytest.raises(L.LipSDPError):
        L.verify_multipliers(ch, run.rho * 1e-6, np.zeros_like(run.t))
    # changed weights: the recorded multipliers no longer prove the LMI
    W2 = [w.copy() for w in ch.Ws]
    W2[-1] *= 1.01
    assert not L.prove_lipsdp(L.Chain(W2, ch.alpha, ch.beta), run.rho, run.t).holds


def test_slope_bounds_from_the_certified_constants():
    from symlip.activations.registry import get_activation

    s = L.slope_bounds(get_activation("leaky_relu", "0.1"))
    assert (s.alpha, s.beta) == (0.1, 1.0)
    s = L.slope_bounds(get_activation("sigmoid"))
    assert (s.alpha, s.beta) == (0.0, 0.25)
    s = L.slope_bounds(get_activation("gelu"))
    assert -0.12891 < s.alpha < -0.12890 and 1.12890 < s.beta < 1.12891


def test_residual_networks_are_refused_with_a_message():
    from symlip.errors import SymlipError

    rng = np.random.default_rng(0)
    net = Network.from_arrays([rng.standard_normal((3, 3)), rng.standard_normal((1, 3))],
                              [np.zeros(3), np.zeros(1)], "relu", steps=[0.5, None])
    with pytest.raises(SymlipError, match="residual"):
        L.lipsdp_lipschitz(net, lower=False)
    r = L.certified_input_lipschitz(net, lower=False)  # auto: the product, with a note
    assert r.extra["method"] == "product" and "lipsdp" in r.extra["notes"][0]


def test_derivation_shows_the_quadratic_constraint_and_the_s_procedure():
    text = L.lipsdp_derivation(3).to_text()
    assert "Lemma 1" in text and "S-procedure" in text and "certify_psd" in text


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("sdp")
    rng = np.random.default_rng(0)
    net = random_net(rng, [3, 8, 8, 2], "relu", scale=1.5)
    path = d / "model.safetensors"
    save(net, path)
    np.save(d / "X.npy", rng.standard_normal((20, 3)))
    return d, path, d / "X.npy"


def _certify(capsys, *argv):
    assert main(["certify", *map(str, argv)]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_methods_and_certificate_tampering(model, capsys, tmp_path):
    d, path, data = model
    cert = tmp_path / "c.json"
    out = _certify(capsys, path, "--wrt", "input", "--data", data, "--json",
                   "--certificate", cert)
    m = out["methods"]
    assert set(m) == {"product", "lipsdp"} and out["method"] == "lipsdp"
    assert out["upper"] == m["lipsdp"]["upper"]
    assert float(m["lipsdp"]["upper"]) < float(m["product"]["upper"])
    assert float(out["lower"]) <= float(out["upper"])
    only = _certify(capsys, path, "--wrt", "input", "--method", "product", "--json")
    assert set(only["methods"]) == {"product"} and only["upper"] == m["product"]["upper"]

    def verify(c):
        p = tmp_path / "t.json"
        p.write_text(json.dumps(c))
        code = main(["verify", str(p), "--model", str(path), "--data", str(data)])
        capsys.readouterr()
        return code

    c = json.loads(cert.read_text())
    assert verify(c) == 0
    rec = c["options"]["lipsdp"]
    rho = float.fromhex(rec["rho"])
    for bad_rho in (rho * 0.5, rho * 0.99):
        assert verify(dict(c, options=dict(c["options"], lipsdp=dict(rec, rho=bad_rho.hex())))) \
            == 1
    t = [float.fromhex(x) for x in rec["t"]]
    t2 = [x * 0.5 for x in t]
    assert verify(dict(c, options=dict(c["options"], lipsdp=dict(rec, t=[
        x.hex() for x in t2])))) == 1
    t3 = list(t)
    t3[0] = 0.0
    assert verify(dict(c, options=dict(c["options"], lipsdp=dict(rec, t=[
        x.hex() for x in t3])))) == 1
    # one ulp less rho: rejected either way (not proved, or proved but then the recorded
    # upper is no longer the recomputed sqrt(rho): verify's "upper = recomputed" relation)
    ulp = math.nextafter(rho, 0.0)
    code = verify(dict(c, options=dict(c["options"], lipsdp=dict(rec, rho=ulp.hex()))))
    assert code == 1
    # the recorded upper bound lowered (by a factor, and just below sqrt(rho))
    for up in (float(out["upper"]) * 0.999, math.nextafter(math.sqrt(rho), 0.0) * (1 - 1e-15)):
        assert verify(dict(c, result=dict(c["result"], upper=repr(up)))) == 1
    # the multipliers missing
    opts = dict(c["options"])
    del opts["lipsdp"]
    assert verify(dict(c, options=opts)) == 1


def _arrays(path):
    from symlip.models.io import load

    net = load(str(path), activation="relu")
    return [w for w in net.weights], [b for b in net.biases]


def test_changed_weights_are_caught(model, capsys, tmp_path):
    d, path, data = model
    cert = tmp_path / "c.json"
    _certify(capsys, path, "--wrt", "input", "--json", "--certificate", cert)
    Ws, bs = _arrays(path)
    Ws[0] = Ws[0] * 1.5
    other = tmp_path / "other.safetensors"
    save(Network.from_arrays(Ws, bs, "relu"), other)
    assert main(["verify", str(cert), "--model", str(other)]) == 1
    assert "changed" in capsys.readouterr().err


def test_auto_falls_back_to_the_product_without_scipy(monkeypatch):
    """A core install without scipy/clarabel (or a broken one): `auto` gives the product
    bound with a note, `lipsdp` alone is one clear error (no ModuleNotFoundError)."""
    import sys

    from symlip.errors import SymlipError

    rng = np.random.default_rng(3)
    net = random_net(rng, [3, 5, 2], "tanh", 1.0)
    monkeypatch.setitem(sys.modules, "scipy", None)  # import scipy raises ImportError
    res = L.certified_input_lipschitz(net, lower=False)
    assert res.extra["method"] == "product"
    assert any("scipy" in n for n in res.extra["notes"])
    with pytest.raises(SymlipError, match="scipy"):
        L.certified_input_lipschitz(net, method="lipsdp", lower=False)
