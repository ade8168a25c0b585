"""Helpers shared by the CLI verbs: output paths checked before any work, JSON printing,
progress lines."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

__all__ = ["print_json", "stage", "check_writable"]


def check_writable(path: str | os.PathLike[str], flag: str) -> None:
    """Before any computation: ``path`` can be written by
    :func:`symlip._files.write_atomic` (not a
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
