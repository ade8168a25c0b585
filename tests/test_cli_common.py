"""write_atomic: atomic, and the same file mode as a plain open()."""

from __future__ import annotations

import os
import stat

import pytest

from symlip.cli._common import write_atomic


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
