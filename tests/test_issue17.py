"""Regression tests of issue #17 "Certificates that cannot lie", one per finding (the
tamper tests of every certificate kind are in test_certificate_tamper.py, the extreme
magnitudes in test_extreme_magnitudes.py, the certified step in test_step_size.py)."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

from symlip.cli import main
from symlip.models.io import save
from symlip.models.network import Network


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("i17")
    rng = np.random.default_rng(3)
    W = [rng.standard_normal((4, 2)), rng.standard_normal((1, 4))]
    b = [0.1 * rng.standard_normal(4), 0.1 * rng.standard_normal(1)]
    save(Network.from_arrays(W, b, "tanh"), d / "m.npz")
    save(Network.from_arrays(W, b, "relu"), d / "relu.npz")
    np.save(d / "X.npy", rng.standard_normal((5, 2)))
    return d


def _certify(d, capsys, *args, name="c.json"):
    out = d / name
    assert main(["certify", str(d / "m.npz"), "--data", str(d / "X.npy"), *args,
                 "--certificate", str(out)]) == 0
    capsys.readouterr()
    return json.loads(out.read_text())


def _verify(d, capsys, cert, model="m.npz"):
    p = d / "t.json"
    p.write_text(json.dumps(cert))
    code = main(["verify", str(p), "--model", str(d / model), "--data", str(d / "X.npy")])
    cap = capsys.readouterr()
    return code, cap.out + cap.err


# finding 1 ---------------------------------------------------------------------------


def test_params_witness_off_the_data_with_lower_above_upper_is_not_verified(files, capsys):
    cert = _certify(files, capsys, "--wrt", "params", "--radius", "0.01")
    assert cert["witness"]["row"] in range(5)
    X = np.load(files / "X.npy")
    assert cert["witness"]["x"] == X[cert["witness"]["row"]].tolist()
    up = float(cert["result"]["upper"])
    for factor in (30.0, 30000.0):
        bad = json.loads(json.dumps(cert))
        bad["witness"]["x"] = [7.0, -3.0]  # not a row of the data
        bad["result"]["lower"] = repr(up * factor)
        code, msg = _verify(files, capsys, bad)
        assert code == 1 and "NOT verified" in msg
        only_lower = json.loads(json.dumps(cert))
        only_lower["result"]["lower"] = repr(up * factor)
        code, msg = _verify(files, capsys, only_lower)
        assert code == 1 and "NOT verified" in msg
    moved = json.loads(json.dumps(cert))
    moved["witness"]["x"] = [7.0, -3.0]
    code, msg = _verify(files, capsys, moved)
    assert code == 1 and "data row" in msg


def test_verdict_lists_every_relation_checked(files, capsys):
    from symlip.bounds.registry import load_context
    from symlip.certificate import COMMON_RELATIONS, Context, verify_certificate

    cert = _certify(files, capsys, "--wrt", "params", "--radius", "0.01")
    ctx = load_context(str(files / "m.npz"), dict(cert["options"]),
                       str(files / "X.npy"), {})
    v = verify_certificate(cert, ctx)
    assert v.holds, v.reason
    assert len(v.checked) == len(COMMON_RELATIONS) + 1
    assert "witness.x = data[witness.row]" in v.checked
    assert isinstance(ctx, Context)


def test_witness_outside_the_ball_is_not_verified(files, capsys):
    cert = _certify(files, capsys, "--wrt", "params", "--radius", "0.01")
    from symlip.models.io import load

    bad = json.loads(json.dumps(cert))
    th = load(files / "m.npz").params()[bad["witness"]["indices"]]
    big = np.asarray(bad["witness"]["step"]) * 1e4
    bad["witness"]["step"] = ((th + big) - th).tolist()  # written canonically
    code, msg = _verify(files, capsys, bad)
    # well-formed but false: exit 1, not "malformed"
    assert code == 1 and "NOT verified" in msg and "ball" in msg


# finding 4 and 6 -----------------------------------------------------------------------


def test_radius_1e300_prints_no_warning(files, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(["certify", str(files / "m.npz"), "--data", str(files / "X.npy"),
                     "--wrt", "params", "--radius", "1e300"])
    cap = capsys.readouterr()
    assert code == 0 and cap.err == "", cap.err
    assert "upper (certified)" in cap.out


@pytest.mark.parametrize("flag", ["--radius", "--input-radius"])
def test_radius_beyond_the_doubles_is_a_clean_exit_2(files, capsys, flag):
    with pytest.raises(SystemExit) as exc:  # argparse's usage error: exit 2
        main(["certify", str(files / "m.npz"), "--data", str(files / "X.npy"),
              "--wrt", "params" if flag == "--radius" else "input", flag, "1e400"])
    code = exc.value.code
    cap = capsys.readouterr()
    assert code == 2 and cap.out == ""
    assert flag in cap.err and "1e400" in cap.err and "Traceback" not in cap.err
    assert len(cap.err.strip().splitlines()) == 1


def test_deeply_nested_srepr_is_malformed_not_a_crash(files, capsys):
    cert = _certify(files, capsys, "--wrt", "input")
    cert["formula"]["srepr"] = "-" * 200_000 + "Integer(1)"
    code, msg = _verify(files, capsys, cert)
    assert code == 2 and "nests deeper" in msg and "Traceback" not in msg


# finding 7 ---------------------------------------------------------------------------


def _run_cert(files, capsys, target):
    code = main(["certify", str(files / "m.npz"), "--data", str(files / "X.npy"),
                 "--wrt", "params", "--radius", "0.01", "--certificate", str(target)])
    return code, capsys.readouterr()


def test_certificate_path_that_is_a_directory_fails_before_computing(files, capsys,
                                                                     monkeypatch):
    import symlip.bounds.param as P

    def boom(*a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("computed before checking the output path")

    monkeypatch.setattr(P, "certify_context", boom)
    (files / "adir").mkdir(exist_ok=True)
    code, cap = _run_cert(files, capsys, files / "adir")
    assert code == 2 and cap.out == "" and "is a directory" in cap.err
    assert ".tmp" not in cap.err
    blocker = files / "afile"
    blocker.write_text("x")
    code, cap = _run_cert(files, capsys, blocker / "sub" / "c.json")
    assert code == 2 and cap.out == "" and "not a directory" in cap.err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_certificate_in_an_unwritable_folder_fails_before_computing(files, capsys):
    ro = files / "ro"
    ro.mkdir(exist_ok=True)
    ro.chmod(0o500)
    try:
        code, cap = _run_cert(files, capsys, ro / "c.json")
    finally:
        ro.chmod(0o700)
    assert code == 2 and cap.out == "" and "not writable" in cap.err
    assert ".tmp" not in cap.err


def test_certificate_in_a_missing_folder_is_created(files, capsys):
    code, cap = _run_cert(files, capsys, files / "new" / "deeper" / "c.json")
    assert code == 0 and (files / "new" / "deeper" / "c.json").exists()


def test_write_error_names_the_path_not_the_temporary_file(tmp_path, monkeypatch):
    import tempfile

    from symlip._files import write_atomic

    def deny(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".c.json.xyz.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", deny)
    with pytest.raises(PermissionError) as exc:
        write_atomic(tmp_path / "c.json", "{}")
    assert exc.value.filename == str(tmp_path / "c.json")


def test_certify_help_names_an_existing_command(capsys):
    with pytest.raises(SystemExit):
        main(["certify", "--help"])
    out = capsys.readouterr().out
    assert "--list" not in out and "symlip activation --help" in " ".join(out.split())


def test_ratio_line_does_not_divide_by_the_estimate_when_lower_is_zero(files, capsys):
    from symlip.bounds.input import input_lipschitz
    from symlip.cli.certify import _summary

    net = Network.from_arrays([np.eye(2), np.zeros((1, 2))], [np.zeros(2), np.zeros(1)],
                              "tanh")
    res = input_lipschitz(net, np.ones((3, 2)))
    assert res.lower_enclosure is not None and res.lower_enclosure.lower_float == 0
    line = [x for x in _summary(res).splitlines() if "upper / lower" in x][0]
    assert "undefined" in line and "lower bound 0" in line
    net2 = Network.from_arrays([np.eye(2) * 2, np.ones((1, 2))], [np.zeros(2), np.zeros(1)],
                               "tanh")
    res2 = input_lipschitz(net2, np.ones((3, 2)))
    line2 = [x for x in _summary(res2).splitlines() if "upper / lower" in x][0]
    want = res2.enclosure.upper_float / res2.lower_enclosure.lower_float
    assert float(line2.split()[-1]) == pytest.approx(want, rel=1e-3)
