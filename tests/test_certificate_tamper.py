"""Tampered certificates are never accepted (issue #17).

For every certificate kind ``symlip certify`` writes, a real certificate is made on a
small network, then every field is altered in turn (numbers by one ulp up and down and by
large factors, hex mantissas by one, witness rows moved to other rows and off the data,
indices out of range, options switched, radii changed, lower raised above upper, entries
deleted) and ``symlip verify`` (in-process, ``symlip.cli.main``) must answer exit 1
"NOT verified" or exit 2 (malformed) - never 0, never a traceback. The number of variants
tried per kind is recorded in ``COUNTS`` and printed (``pytest -s``).

Informational fields (``created``, ``symlip_version``, the files' ``path``) are not
claims and are not altered.
"""

from __future__ import annotations

import copy
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from symlip.bounds.registry import quantities
from symlip.cli import main
from symlip.models.io import save
from symlip.models.network import Network

#: kind -> number of tampered variants tried (all rejected)
COUNTS: dict[str, int] = {}

INFORMATIONAL = {("created",), ("symlip_version",)}

OPTION_SWITCHES = {
    "wrt": ["input", "params", "gradient", "weights"],
    "model_type": ["feedforward", "cde", "spline"],
    "activation": ["relu", "tanh", "sigmoid", "softplus", None],
    "param": ["0.5", "2"],
    "loss": ["mse", "cross-entropy"],
    "scheme": ["euler", "flow", "math"],
    "aggregate": ["formula", "mean", "max"],
    "norm": ["l2", "linf", "l1"],
    "quantity": ["input_lipschitz", "param_lipschitz", "param_lipschitz_conv", "grad_lipschitz",
                 "grad_lipschitz_conv",
                 "param_lipschitz_spline", "cde_param_lipschitz", "cde_grad_lipschitz", "x"],
    "kind": ["difference_quotient", "gradient_difference_quotient", "other"],
    "parameters": ["weights", "all"],
    "verdict": ["undecided", "refuted", "certified-1-lipschitz"],
    "format": ["symlip-certificate/1", "symlip-certificate/3"],
}


def _net(rng, widths, act):
    ws = [rng.standard_normal((m, n)) / math.sqrt(n) for n, m in zip(widths, widths[1:])]
    bs = [0.2 * rng.standard_normal(m) for m in widths[1:]]
    return Network.from_arrays(ws, bs, act)


def _resnet():
    from tests.test_residual import random_resnet

    rng = np.random.default_rng(7)
    while True:
        net = random_resnet(rng, 2, 3, "sigmoid")
        if net.widths[0] == 3:
            return net


def _spline_net(rng):
    from symlip.activations.spline import spline_network

    W = [rng.standard_normal((3, 2)), rng.standard_normal((1, 3))]
    b = [0.1 * rng.standard_normal(3), 0.1 * rng.standard_normal(1)]
    return spline_network(W, b, [rng.standard_normal((3, 5))], 1.5)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tamper")
    rng = np.random.default_rng(17)
    save(_net(rng, [3, 4, 2], "tanh"), d / "tanh.safetensors")
    save(_net(rng, [3, 4, 2], "relu"), d / "relu.safetensors")
    res = _resnet()
    save(res, d / "res.safetensors")
    np.save(d / "Yr.npy", rng.standard_normal((4, res.widths[-1])))
    save(_spline_net(rng), d / "spline.safetensors")
    np.save(d / "X.npy", rng.standard_normal((4, 3)))
    np.save(d / "Y.npy", rng.standard_normal((4, 2)))
    np.save(d / "Y1.npy", rng.standard_normal((3, 1)))
    np.save(d / "X2.npy", rng.standard_normal((3, 2)))
    from symlip.cde import ControlledODE
    from tests.test_cde import make_control

    ControlledODE.random(2, 3, 2, 1, seed=10).save(d / "cde.safetensors")
    np.save(d / "U.npy", make_control("walk", 6, 2, np.random.default_rng(1)))
    # a small CNN as an ONNX file (the kernel-view parameter kind); data in its input shape
    torch = pytest.importorskip("torch")
    from symlip.models.torch import export_onnx

    torch.manual_seed(0)
    nn = torch.nn
    export_onnx(nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.Tanh(),
                              nn.Flatten(), nn.Linear(2 * 3 * 3, 2)), (1, 6, 6), d / "conv.onnx")
    np.save(d / "Xc.npy", rng.standard_normal((3, 1, 6, 6)))
    np.save(d / "Yc.npy", rng.standard_normal((3, 2)))
    return d


def _model(d, model):
    """The model file of a kind: the ONNX file if there is one, else safetensors."""
    onnx = d / f"{model}.onnx"
    return onnx if onnx.exists() else d / f"{model}.safetensors"


#: kind -> (model, certify options, verify files)
KINDS = {
    "input (target)": ("tanh", ["--wrt", "input", "--data", "X", "--target", "1.5"], ["X"]),
    "input local": ("relu", ["--wrt", "input", "--data", "X", "--input-radius", "0.05"],
                    ["X"]),
    "params feed-forward": ("tanh", ["--wrt", "params", "--data", "X", "--radius", "0.01"],
                            ["X"]),
    "params residual": ("res", ["--wrt", "params", "--data", "X", "--radius", "0.01"],
                        ["X"]),
    "params spline": ("spline", ["--wrt", "params", "--data", "X2", "--radius", "0.01"],
                      ["X2"]),
    "gradient": ("tanh", ["--wrt", "gradient", "--data", "X", "--targets", "Y",
                          "--radius", "0.01"], ["X", "Y"]),
    "gradient residual": ("res", ["--wrt", "gradient", "--data", "X", "--targets", "Yr",
                                  "--radius", "0.01"], ["X", "Yr"]),
    "params conv": ("conv", ["--wrt", "params", "--data", "Xc", "--radius", "0.01"], ["Xc"]),
    "gradient conv": ("conv", ["--wrt", "gradient", "--data", "Xc", "--targets", "Yc",
                               "--radius", "0.01"], ["Xc", "Yc"]),
    "cde params": ("cde", ["--model-type", "cde", "--wrt", "params", "--data", "X2",
                           "--control", "U", "--radius", "0.01"], ["X2", "U"]),
    "cde gradient": ("cde", ["--model-type", "cde", "--wrt", "gradient", "--data", "X2",
                             "--control", "U", "--targets", "Y1", "--radius", "0.01"],
                     ["X2", "U", "Y1"]),
}

_FLAG = {"Xc": "--data", "Yc": "--targets", "X": "--data", "X2": "--data", "Y": "--targets",
         "Y1": "--targets", "Yr": "--targets", "U": "--control"}


def _path(d, token):
    return str(d / f"{token}.npy") if token in _FLAG else token


def _certify(d, kind, capsys):
    model, opts, _ = KINDS[kind]
    out = d / f"{kind.replace(' ', '_')}.json"
    argv = ["certify", str(_model(d, model)),
            *[_path(d, t) for t in opts], "--certificate", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    return json.loads(out.read_text())


_CONTEXTS: dict[str, object] = {}


def _verify(d, kind, cert, capsys, name="t.json"):
    """What ``symlip verify`` does (symlip.cli.verify.run), in-process: read the file,
    build the context from the certificate's options (cached per options: it only loads
    the files), verify; exit code 0 / 1 / 2 and the message."""
    from symlip.bounds.registry import load_context
    from symlip.certificate import load_certificate, verify_certificate
    from symlip.errors import SymlipError

    model, _, vfiles = KINDS[kind]
    p = d / name
    p.write_text(json.dumps(cert))
    files = {("targets" if t.startswith("Y") else "control"): _path(d, t)
             for t in vfiles if _FLAG[t] != "--data"}
    data = next((_path(d, t) for t in vfiles if _FLAG[t] == "--data"), None)
    try:
        c = load_certificate(p)
        key = json.dumps([kind, c["options"]], sort_keys=True, default=repr)
        if key not in _CONTEXTS:
            try:
                _CONTEXTS[key] = load_context(str(_model(d, model)),
                                              dict(c["options"]), data, files)
            except (SymlipError, OSError) as exc:
                _CONTEXTS[key] = exc
        ctx = _CONTEXTS[key]
        if isinstance(ctx, Exception):
            raise ctx
        v = verify_certificate(c, ctx)
    except (SymlipError, OSError) as exc:
        return 2, f"symlip verify: error: {exc}"
    return (0, "verified: " + v.reason) if v.holds else (1, "NOT verified: " + v.reason)


# ------------------------------------------------------------------------------------
# the variants
# ------------------------------------------------------------------------------------


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(obj, list) and obj and not isinstance(obj[0], (dict, list)):
        yield path + (0,), obj[0]  # the first entry of a list of numbers
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, path + (i,))
    else:
        yield path, obj


def _set(cert, path, value):
    c = copy.deepcopy(cert)
    node = c
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return c


def _delete(cert, path):
    c = copy.deepcopy(cert)
    node = c
    for k in path[:-1]:
        node = node[k]
    del node[path[-1]]
    return c


def _float_variants(x):
    out = [math.nextafter(x, math.inf), math.nextafter(x, -math.inf), x * 1000.0,
           -x if x else 1.0]
    return [v for v in out if v != x and math.isfinite(v)]


def _decimal_variants(s):
    x = float(s)
    out = [repr(v) for v in _float_variants(x)]
    q = Fraction(s)
    return [v for v in out if Fraction(v) != q]


def _hex_variants(s):
    if "." in s:  # Python's float.hex() form (the LipSDP multipliers): the doubles
        x = float.fromhex(s)  # one ulp either side and a factor 2**10
        return [v.hex() for v in (math.nextafter(x, math.inf), math.nextafter(x, -math.inf),
                                  x * 1024.0) if v != x]
    neg = s.startswith("-")
    body = s[1:] if neg else s
    man, exp = body[2:].split("p")
    m = int(man, 16)
    sign = "-" if neg else ""
    if m == 0:  # zero: the smallest numbers either side
        return ["0x1p-1074", "-0x1p-1074", "0x1p0"]
    return [f"{sign}0x{m + 1:x}p{exp}", f"{sign}0x{m - 1:x}p{exp}",
            f"{sign}0x{m:x}p{int(exp) + 10}"]


def _is_decimal(s):
    try:
        Fraction(s)
        return True
    except (ValueError, ZeroDivisionError):
        return False


def _still_a_proof(d, kind, bad, label, cert):
    """LipSDP multipliers are a proof, not a recomputed value: multipliers one ulp off
    that still prove the same rho make a true certificate (its numbers unchanged). Only
    those are let through, after proving the LMI again independently of verify."""
    if not label.startswith("options/lipsdp/t/"):
        return False
    if bad["result"] != cert["result"]:
        return False
    from symlip.bounds import lipsdp as L
    from symlip.models import io

    rec = bad["options"]["lipsdp"]
    t = np.array([float.fromhex(x) for x in rec["t"]])
    ch = L.chain_of(io.load(_model(d, KINDS[kind][0])))
    return L.prove_lipsdp(ch, float.fromhex(rec["rho"]), t).holds


def variants(cert, n_rows):
    """``(label, tampered certificate)`` pairs: every field altered in turn (of the
    input enclosures, every field of the first and the last input: they are all
    checked by the same relation)."""
    out = []
    names = list(cert["inputs"])
    keep = {names[0], names[-1]}
    for path, v in _leaves(cert):
        if path[0] == "inputs" and path[1] not in keep:
            continue
        if path in INFORMATIONAL or (path[0] == "files" and path[-1] == "path"):
            continue
        key = next((k for k in reversed(path) if isinstance(k, str)), "")
        lab = "/".join(map(str, path))
        alts = []
        if isinstance(v, bool):
            alts = [not v]
        elif isinstance(v, int):
            alts = [v + 1, v - 1, v + 10**6, float(v), True]
            if key == "row":
                alts += [n_rows, -1, 10**9, str(v)]
        elif isinstance(v, float):
            alts = _float_variants(v)
        elif v is None:
            alts = ["0", "1e300", 0.0]
        elif isinstance(v, str):
            if key in OPTION_SWITCHES:
                alts = [a for a in OPTION_SWITCHES[key] if a != v]
            elif key == "sha256":
                alts = [("0" if v[0] != "0" else "1") + v[1:]]
            elif v.startswith(("0x", "-0x")):
                alts = _hex_variants(v)
            elif _is_decimal(v):
                alts = _decimal_variants(v)
            elif key == "srepr":
                alts = [v.replace("Integer(1)", "Integer(2)", 1) if "Integer(1)" in v
                        else v + " ", v.replace("Symbol(", "Dummy(", 1), "-" * 50 + "x"]
            else:
                alts = [v + "x", ""]
        for a in alts:
            out.append((f"{lab}={a!r}", _set(cert, path, a)))
    # deletions: every entry of result, options, witness, and of the top level
    for section in ("result", "options", "witness", "formula"):
        if isinstance(cert.get(section), dict):
            for k in cert[section]:
                out.append((f"del {section}/{k}", _delete(cert, (section, k))))
    for k in cert:
        if (k,) not in INFORMATIONAL:
            out.append((f"del {k}", _delete(cert, (k,))))
    for role in cert["files"]:
        out.append((f"del files/{role}", _delete(cert, ("files", role))))
    # additions: a lower bound / local bound / seed / verdict the certificate lacks
    res = cert["result"]
    up = float(res["upper"])
    for factor in (30.0, 30000.0, 1.0 + 2**-30):
        out.append((f"lower = {factor} x upper",
                    _set(cert, ("result", "lower"), repr(up * factor))))
    out.append(("lower = upper", _set(cert, ("result", "lower"), res["upper"])))
    for k, v in (("local_upper", res["upper"]), ("verdict", "undecided"), ("seed", 0),
                 ("radius", 0.01), ("target", 1.5)):
        if k not in res:
            out.append((f"add result/{k}", _set(cert, ("result", k), v)))
    for k, v in (("input_radius", 0.05), ("radius", 0.01), ("seed", 0), ("target", 1.5),
                 ("loss", "mse"), ("scheme", "euler"), ("bogus", 1)):
        if k not in cert["options"]:
            out.append((f"add options/{k}", _set(cert, ("options", k), v)))
    # the radius changed together with its echo (a consistent, different claim)
    for k in ("radius", "input_radius"):
        if k in cert["options"]:
            for r in (cert["options"][k] * 100.0,):
                c = _set(cert, ("options", k), r)
                out.append((f"{k} and echo = {r}", _set(c, ("result", k), r)))
    # witness rows moved and points off the data
    w = cert.get("witness") or {}
    if "row" in w:
        X = np.load(cert["files"]["data"]["path"])
        for i in [j for j in range(n_rows) if j != w["row"]][:2]:
            if True:
                out.append((f"witness x moved to row {i}",
                            _set(cert, ("witness", "x"), X[i].tolist())))
                c = _set(cert, ("witness", "row"), i)
                out.append((f"witness row and x moved to row {i}",
                            _set(c, ("witness", "x"), X[i].tolist())))
        off = list(w["x"])
        off[0] = math.nextafter(off[0], math.inf)
        out.append(("witness x off the data by one ulp", _set(cert, ("witness", "x"), off)))
        out.append(("witness x = 0", _set(cert, ("witness", "x"), [0.0] * len(w["x"]))))
    for k in ("step", "offset_plus", "offset_minus", "theta_prime", "x_prime"):
        if k in w:
            scaled = [v * 1e4 for v in w[k]]  # far out of the ball (or a new point)
            out.append((f"witness {k} x 1e4", _set(cert, ("witness", k), scaled)))
    if "indices" in w:
        out.append(("witness index out of range",
                    _set(cert, ("witness", "indices"), [10**9] + w["indices"][1:])))
        out.append(("witness index negative",
                    _set(cert, ("witness", "indices"), [-1] + w["indices"][1:])))
    return out


@pytest.fixture()
def memoized_specs(monkeypatch):
    """The recomputations verify makes (formula and inputs, per-point inputs, witness
    quotient, local bound) memoized by their arguments: they are deterministic, and
    hundreds of variants of one certificate would otherwise recompute them each time
    (every relation is still checked against the real recomputation)."""
    import dataclasses

    from symlip import certificate as C

    def key(ctx, *extra):
        return json.dumps([ctx.model_path, ctx.data_path, sorted(ctx.files.items()),
                           ctx.options, *extra], sort_keys=True, default=repr)

    def memo(fn):
        if fn is None:
            return None
        cache = {}

        def wrapped(ctx, *args):
            k = key(ctx, *args)
            if k not in cache:
                try:
                    cache[k] = (True, fn(ctx, *args))
                except Exception as exc:  # noqa: BLE001 - replayed below
                    cache[k] = (False, exc)
            ok, val = cache[k]
            if not ok:
                raise val
            return val

        return wrapped

    for name in quantities():
        spec = C._spec(name)
        monkeypatch.setitem(C._SPECS, name, dataclasses.replace(
            spec, rebuild=memo(spec.rebuild), check_lower=memo(spec.check_lower),
            rebuild_pointwise=memo(spec.rebuild_pointwise),
            rebuild_local=memo(spec.rebuild_local)))


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_tampered_variant_is_rejected(files, kind, capsys, memoized_specs):
    d = files
    cert = _certify(d, kind, capsys)
    code, msg = _verify(d, kind, cert, capsys, name="orig.json")
    assert code == 0, msg
    _, _, vfiles = KINDS[kind]
    n_rows = int(np.load(_path(d, vfiles[0])).shape[0])
    accepted = []
    tried = proofs = 0
    for label, bad in variants(cert, n_rows):
        tried += 1
        code, msg = _verify(d, kind, bad, capsys)
        if code == 0:
            if _still_a_proof(d, kind, bad, label, cert):
                proofs += 1
                continue
            accepted.append(label)
        else:
            assert code in (1, 2), (label, code, msg)
            assert ("NOT verified" in msg) if code == 1 else ("error" in msg), (label, msg)
            assert "Traceback" not in msg
    assert not accepted, f"{kind}: accepted tampered variants {accepted}"
    COUNTS[kind] = tried
    print(f"\n{kind}: {tried} tampered variants, all rejected"
          + (f" but {proofs} multiplier sets one ulp off that still prove the LMI"
             if proofs else ""))


def test_counts_recorded():
    """Runs last in this module: print the table for the closing note."""
    if COUNTS:
        print("\nkind | tampered variants tried (all rejected)")
        for k, n in COUNTS.items():
            print(f"{k} | {n}")
