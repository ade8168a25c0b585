"""write_atomic: atomic, and the same file mode as a plain open()."""

from __future__ import annotations

import os
import stat

import pytest

from symlip._files import write_atomic


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_write_atomic_mode_respects_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        out = tmp_path / "sub" / "cert.json"
        write_atomic(out, "{}\n")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert out.read_text() == "{}\n"
    mode = stat.S_IMODE(out.stat().st_mode)
    assert mode == 0o666 & ~mask
    assert mode == stat.S_IMODE(plain.stat().st_mode)


def test_write_atomic_leaves_no_temporary(tmp_path):
    out = tmp_path / "a.txt"
    write_atomic(out, "one")
    write_atomic(out, "two")
    assert out.read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_write_atomic_failure_leaves_nothing(tmp_path):
    out = tmp_path / "a.txt"
    with pytest.raises(TypeError):
        write_atomic(out, 123)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_are_one_line_with_exit_2(capsys):
    from symlip.cli import main

    for argv in (["certify", "m.npz", "--radius", "abc"], ["certify"], ["nope"],
                 ["certify", "m.npz", "--wrt", "foo"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and "--help" in err, err


def test_radius_is_rounded_up_to_a_double_that_contains_the_decimal():
    from fractions import Fraction

    from symlip.cli.certify import radius_up

    for text in ("0.3", "0.1", "1e-3", "2.5", "0", "1e-320", "123456789.123456789"):
        x = radius_up(text)
        assert Fraction(x) >= Fraction(text)
        # and it is the smallest such double
        import math

        assert Fraction(math.nextafter(x, -math.inf)) < Fraction(text) or x == 0
    assert radius_up("0.5") == 0.5  # exact decimals stay as they are


def test_derive_depth_is_capped(capsys):
    from symlip.bounds.derive import MAX_DEPTH
    from symlip.cli import main

    assert main(["derive", "--depth", str(MAX_DEPTH + 1)]) == 2
    assert "--depth" in capsys.readouterr().err


def test_empty_certificate_name_is_an_error(capsys):
    from symlip.cli import main

    assert main(["certify", "m.npz", "--certificate", ""]) == 2
    assert "--certificate" in capsys.readouterr().err
