"""Files written atomically (certificates, reports, model files): never half-way."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_target", "write_atomic"]


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_target(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` to write a file to; renamed onto ``path`` when the
    block ends without an error, removed otherwise: the file is never half-way.

    The file gets the mode a plain ``open(path, "w")`` would give it
    (``0o666 & ~umask``, so 0644 under the usual umask 022), not the 0600 of
    ``mkstemp``.
    """
    p = Path(path)
    if p.is_dir():  # else the rename fails naming the temporary file
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(p))
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as exc:  # name the user's path, not the temporary file's
        raise type(exc)(exc.errno, exc.strerror, str(p)) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename
    (:func:`atomic_target`): never half-way."""
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
