"""Model files: round trips, PyTorch-style state dicts, one clear error per bad file."""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from fractions import Fraction

import numpy as np
import pytest
from safetensors.numpy import save_file

from symlip.errors import InputError, ModelFileError
from symlip.models.io import load, load_layers, read_model, save, sha256_file
from symlip.models.network import Network


def state_dict(rng, widths, dtype=np.float32, stride=2):
    """What ``nn.Sequential(Linear, Act, Linear, ...).state_dict()`` holds."""
    sd = {}
    for k, (i, o) in enumerate(zip(widths, widths[1:], strict=False)):
        sd[f"{stride * k}.weight"] = rng.normal(size=(o, i)).astype(dtype)
        sd[f"{stride * k}.bias"] = rng.normal(size=o).astype(dtype)
    return sd


def write(path, sd, metadata=None):
    if str(path).endswith(".safetensors"):
        save_file(sd, str(path), metadata=metadata)
    else:
        extra = {"__metadata__": np.array(json.dumps(metadata))} if metadata else {}
        np.savez(path, **sd, **extra)
    return path


def _param(act):
    p = act.param
    return None if p is None else Fraction(p) if isinstance(p, float) else Fraction(str(p))


@pytest.fixture(params=["npz", "safetensors"])
def ext(request):
    return request.param


# ----------------------------------------------------------------------------------
# good files
# ----------------------------------------------------------------------------------


def test_pytorch_style_state_dict_loads(tmp_path, ext):
    rng = np.random.default_rng(0)
    sd = state_dict(rng, [3, 5, 4, 2])
    path = write(tmp_path / f"m.{ext}", sd)
    net = load(path, activation="tanh")
    assert net.widths == [3, 5, 4, 2]
    assert net.layer_names == ["0", "2", "4"]
    for layer in net.layers:
        assert layer.weight.dtype == np.float64
        np.testing.assert_array_equal(layer.weight, sd[f"{layer.name}.weight"])  # exact
        np.testing.assert_array_equal(layer.bias, sd[f"{layer.name}.bias"])
    x = rng.normal(size=3)
    a = x
    for k in (0, 2):
        a = np.tanh(sd[f"{k}.weight"].astype(float) @ a + sd[f"{k}.bias"])
    ref = sd["4.weight"].astype(float) @ a + sd["4.bias"]
    np.testing.assert_allclose(net.forward(x), ref, rtol=1e-13)


@pytest.mark.parametrize("act, param", [("tanh", None), ("leaky_relu", "0.2"),
                                        ("elu", 0.3), ("gelu", None)])
def test_round_trip(tmp_path, ext, act, param):
    rng = np.random.default_rng(1)
    ws = [rng.normal(size=(4, 2)), rng.normal(size=(3, 4)), rng.normal(size=(1, 3))]
    bs = [rng.normal(size=4), rng.normal(size=3), rng.normal(size=1)]
    net = Network.from_arrays(ws, bs, act, param)
    path = tmp_path / f"model.{ext}"
    save(net, path)
    back = load(path)  # activation from the metadata
    assert back.layer_names == net.layer_names
    np.testing.assert_array_equal(back.params(), net.params())
    assert back.activation.name == act
    assert _param(back.activation) == _param(net.activation)  # exact parameter kept
    x = rng.normal(size=(5, 2))
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    mf = read_model(path)
    assert mf.format == ext and mf.shapes == [(4, 2), (3, 4), (1, 3)]
    assert mf.metadata["activation"] == act


def test_float_param_kept_exactly(tmp_path):
    net = Network.from_arrays([np.ones((2, 1)), np.ones((1, 2))], [np.zeros(2), [0.0]],
                              "leaky_relu", 0.1)  # the double 0.1, not 1/10
    save(net, tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    assert _param(back.activation) == _param(net.activation) == Fraction(0.1)
    md = read_model(tmp_path / "m.npz").metadata
    assert Fraction(md["activation_param"]) == Fraction(0.1)


def test_mixed_activations_round_trip(tmp_path, ext):
    rng = np.random.default_rng(2)
    net = Network.from_arrays([rng.normal(size=(2, 2))] * 3, [np.zeros(2)] * 3,
                              ["tanh", "relu"])
    save(net, tmp_path / f"m.{ext}")
    back = load(tmp_path / f"m.{ext}")
    assert [a.name for a in back.activations] == ["tanh", "relu"]


def test_explicit_activation_overrides_metadata(tmp_path):
    sd = state_dict(np.random.default_rng(3), [2, 3, 1])
    path = write(tmp_path / "m.safetensors", sd, {"activation": "tanh", "format": "pt"})
    assert load(path).activation.name == "tanh"
    assert load(path, "relu").activation.name == "relu"
    assert load(path, "leaky_relu", "0.1").activation.label == "leaky_relu(0.1)"


def test_gaps_prefix_and_order(tmp_path, ext):
    rng = np.random.default_rng(4)
    sd = {}
    # indices 0, 3, 10: numeric, not lexicographic, order
    shapes = {0: (5, 2), 3: (4, 5), 10: (1, 4)}
    for idx, (o, i) in shapes.items():
        sd[f"net.{idx}.weight"] = rng.normal(size=(o, i))
        sd[f"net.{idx}.bias"] = rng.normal(size=o)
    net = load(write(tmp_path / f"m.{ext}", sd), "relu")
    assert net.layer_names == ["0", "3", "10"] and net.widths == [2, 5, 4, 1]


def test_single_layer_needs_no_activation(tmp_path, ext):
    sd = state_dict(np.random.default_rng(5), [3, 2])
    net = load(write(tmp_path / f"m.{ext}", sd))
    assert net.depth == 1 and net.activation is None


def test_float16_and_float64(tmp_path):
    rng = np.random.default_rng(6)
    for dt in (np.float16, np.float64):
        sd = state_dict(rng, [2, 2, 1], dtype=dt)
        layers = load_layers(write(tmp_path / f"m{np.dtype(dt).name}.safetensors", sd))
        np.testing.assert_array_equal(layers[0].weight, sd["0.weight"].astype(float))


def test_sha256(tmp_path):
    path = write(tmp_path / "m.npz", state_dict(np.random.default_rng(7), [2, 1]))
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_save_is_atomic_and_checks_extension(tmp_path):
    net = Network.from_arrays([np.ones((1, 1))], [[0.0]], None)
    with pytest.raises(InputError, match=r"must end in \.npz or \.safetensors"):
        save(net, tmp_path / "m.pt")
    save(net, tmp_path / "sub" / "m.safetensors")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["m.safetensors"]


# ----------------------------------------------------------------------------------
# bad files: one clear ModelFileError each
# ----------------------------------------------------------------------------------


def _bf16_safetensors(path):
    """A safetensors file with a BF16 tensor (numpy cannot write one): header by hand."""
    header = {"0.weight": {"dtype": "BF16", "shape": [1, 1], "data_offsets": [0, 2]},
              "0.bias": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"\x80\x3f" + np.float32(0).tobytes())
    return path


def _bad_files(tmp_path, ext):
    rng = np.random.default_rng(8)
    good = state_dict(rng, [3, 4, 2])
    cases = {}

    sd = dict(good)
    del sd["2.bias"]
    cases["missing bias"] = (sd, r"module 2 has '2.weight' but no '2.bias'.*bias is required")
    sd = dict(good)
    sd["2.weight"] = rng.normal(size=(2, 5)).astype(np.float32)
    cases["chain"] = (sd, r"layer '2' weight has shape \(2, 5\).*previous layer '0'.*\(4, 3\)")
    sd = dict(good)
    sd["0.weight"] = good["0.weight"].copy()
    sd["0.weight"][1, 2] = np.nan
    cases["nan"] = (sd, r"tensor '0.weight'.*NaN at index \[1, 2\]")
    sd = dict(good)
    sd["2.bias"] = np.array([1.0, -np.inf], np.float32)
    cases["inf"] = (sd, r"tensor '2.bias'.*infinite")
    sd = dict(good)
    sd["1.running_mean"] = np.zeros(4, np.float32)
    cases["unknown key"] = (sd, r"unknown key\(s\) '1.running_mean'")
    sd = dict(good)
    sd["0.weight"] = good["0.weight"].astype(np.int32)
    cases["int dtype"] = (sd, r"tensor '0.weight' has unsupported dtype (int32|I32)")
    sd = dict(good)
    sd["0.bias"] = np.zeros(5, np.float32)
    cases["bias shape"] = (sd, r"'0.bias' has shape \(5,\), but '0.weight' has shape \(4, 3\)")
    sd = dict(good)
    sd["0.weight"] = np.zeros(4, np.float32)
    cases["1-D weight"] = (sd, r"tensor '0.weight' has shape \(4,\); expected a 2-D")
    cases["no layer keys"] = ({"x": np.zeros(3), "y": np.ones(2)}, r"is not a model.*'x'")
    sd = dict(good)
    sd["0.bias.extra"] = np.zeros(1)
    cases["bad key form"] = (sd, r"unknown key\(s\) '0.bias.extra'")
    if ext == "npz":
        sd = dict(good)
        sd["0.weight"] = good["0.weight"].astype(np.complex64)
        cases["complex"] = (sd, "unsupported dtype complex64")
    return cases


@pytest.mark.parametrize("case", ["missing bias", "chain", "nan", "inf", "unknown key",
                                  "int dtype", "bias shape", "1-D weight", "no layer keys",
                                  "bad key form", "complex"])
def test_bad_state_dicts(tmp_path, ext, case):
    cases = _bad_files(tmp_path, ext)
    if case not in cases:
        pytest.skip(f"{case} cannot be written as {ext}")
    sd, match = cases[case]
    path = write(tmp_path / f"bad.{ext}", sd)
    with pytest.raises(ModelFileError, match=match) as info:
        load(path, "tanh")
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found: .*nope.npz"):
        load(tmp_path / "nope.npz", "tanh")
    with pytest.raises(ModelFileError, match="is a directory"):
        load(tmp_path, "tanh")


def test_text_files(tmp_path):
    for name in ("m.npz", "m.safetensors", "m.txt"):
        p = tmp_path / name
        p.write_text("this is not a model, just some text in a file\n")
        with pytest.raises(ModelFileError, match="not a|is not"):
            load(p, "tanh")
    with pytest.raises(ModelFileError, match=r"not an \.npz archive"):
        load(tmp_path / "m.npz", "tanh")
    with pytest.raises(ModelFileError, match="not a readable safetensors"):
        load(tmp_path / "m.safetensors", "tanh")


def test_truncated_files(tmp_path, ext):
    path = write(tmp_path / f"m.{ext}", state_dict(np.random.default_rng(9), [3, 4, 2]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a readable"):
        load(path, "tanh")


def test_npy_and_pickled_npz(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    (tmp_path / "a.npy").rename(tmp_path / "a.npz")
    with pytest.raises(ModelFileError, match=r"single \.npy array"):
        load(tmp_path / "a.npz", "tanh")
    np.savez(tmp_path / "o.npz", **{"0.weight": np.array([[1.0]], dtype=object),
                                    "0.bias": np.zeros(1)})
    with pytest.raises(ModelFileError, match="'0.weight' is a pickled object array"):
        load(tmp_path / "o.npz", "tanh")


def test_bfloat16_is_refused_with_a_hint(tmp_path):
    path = _bf16_safetensors(tmp_path / "bf.safetensors")
    with pytest.raises(ModelFileError, match=r"'0.weight' has unsupported dtype BF16.*float\(\)"):
        load(path)


def test_activation_required_when_not_recorded(tmp_path, ext):
    path = write(tmp_path / f"m.{ext}", state_dict(np.random.default_rng(10), [2, 3, 1]))
    with pytest.raises(InputError, match="does not record its activation"):
        load(path)


def test_bad_metadata_activation(tmp_path):
    path = write(tmp_path / "m.safetensors", state_dict(np.random.default_rng(11), [2, 3, 1]),
                 {"activation": "swoosh"})
    with pytest.raises(ModelFileError, match="bad activation in the metadata.*swoosh"):
        load(path)
    np.savez(tmp_path / "m.npz", **state_dict(np.random.default_rng(11), [2, 3, 1]),
             __metadata__=np.array("{not json"))
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(tmp_path / "m.npz")


def test_zip_that_is_not_npz(tmp_path):
    p = tmp_path / "z.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ModelFileError):
        load(p, "tanh")


# ----------------------------------------------------------------------------------
# the `symlip norms` command
# ----------------------------------------------------------------------------------


def run_cli(*args):
    from tests.clirun import run_cli

    return run_cli(*args)


def test_cli_norms_json(tmp_path):
    pytest.importorskip("symlip.arith.norms")
    rng = np.random.default_rng(12)
    sd = state_dict(rng, [3, 6, 2])
    path = write(tmp_path / "m.safetensors", sd)
    res = run_cli("norms", path, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [d["name"] for d in doc["layers"]] == ["0", "2"]
    assert doc["model"]["sha256"] == sha256_file(path)
    for d in doc["layers"]:
        assert set(d) == {"name", "shape", "spectral", "frobenius"}
        w = sd[f"{d['name']}.weight"].astype(float)
        assert d["shape"] == list(w.shape)
        for key, ref in (("spectral", np.linalg.norm(w, 2)), ("frobenius", np.linalg.norm(w))):
            lo, hi = Fraction(d[key]["lower"]), Fraction(d[key]["upper"])
            assert lo <= hi
            assert float(lo) <= ref * (1 + 1e-12) and float(hi) >= ref * (1 - 1e-12)
    text = run_cli("norms", path)
    assert text.returncode == 0 and "spectral norm" in text.stdout
    assert "6 x 3" in text.stdout and "2 x 6" in text.stdout


@pytest.mark.parametrize("what", ["missing bias", "text", "missing"])
def test_cli_norms_bad_file(tmp_path, what):
    if what == "missing bias":
        sd = state_dict(np.random.default_rng(13), [2, 3, 1])
        del sd["0.bias"]
        path = write(tmp_path / "bad.npz", sd)
    elif what == "text":
        path = tmp_path / "bad.safetensors"
        path.write_text("hello\n")
    else:
        path = tmp_path / "missing.npz"
    res = run_cli("norms", path, "--json")
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symlip norms: error:")
    assert "Traceback" not in res.stderr and str(path) in res.stderr
