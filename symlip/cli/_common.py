"""Helpers shared by the CLI verbs: output files written atomically, JSON printing."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

__all__ = ["write_atomic", "print_json", "stage", "check_writable"]


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-way.

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
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: str | os.PathLike[str], flag: str) -> None:
    """Before any computation: ``path`` can be written by :func:`write_atomic` (not a
    directory; the nearest existing ancestor folder is a writable directory, the missing
    ones are created).  Raises :class:`~symlip.errors.InputError` naming ``flag`` and the
    path."""
    from symlip.errors import InputError

    p = Path(path)
    if p.is_dir():
        raise InputError(f"{flag}: is a directory: {path} (expected a file name)")
    parent = p.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{flag} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: the folder {parent} is not writable")
    if p.exists() and not os.access(p, os.W_OK) and not os.access(p.parent, os.W_OK):
        raise InputError(f"{flag} {path} is not writable")


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=False))


@contextlib.contextmanager
def stage(label: str, stream: TextIO | None = None, *, enabled: bool | None = None,
          after: float = 1.0, every: float = 0.5) -> Iterator[None]:
    """Show ``label`` and the elapsed seconds on ``stream`` (default stderr) while the
    block runs, like the demo's progress bar: only on a terminal (``enabled=None``), only
    once the block has run ``after`` seconds, redrawn every ``every`` seconds by a daemon
    thread, and closed by a ``done in X s`` line.  Nothing is written otherwise, so
    piped output and ``--json`` stay clean."""
    out = stream if stream is not None else sys.stderr
    if enabled is None:
        enabled = bool(getattr(out, "isatty", lambda: False)())
    if not enabled:
        yield
        return
    t0 = time.perf_counter()
    stop = threading.Event()
    shown = False

    def tick() -> None:
        nonlocal shown
        while not stop.wait(every if shown else after):
            shown = True
            out.write("\r" + f"  {label} ... {time.perf_counter() - t0:.0f} s".ljust(78))
            out.flush()

    th = threading.Thread(target=tick, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()
        if shown:
            out.write("\r" + f"  {label} done in {time.perf_counter() - t0:.1f} s".ljust(78)
                      + "\n")
            out.flush()
