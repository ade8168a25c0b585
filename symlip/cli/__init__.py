"""The ``symlip`` command line: one module per verb, each with ``register`` and ``run``.

Errors from bad input (:class:`~symlip.errors.SymlipError`, missing files, bad numbers)
are printed as one line on stderr and exit with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from symlip._version import __version__

__all__ = ["main", "build_parser"]

#: verb -> module under symlip.cli
VERBS: dict[str, str] = {
    "activation": "activation",
    "norms": "norms",
    "certify": "certify",
    "verify": "verify",
    "derive": "derive",
    "demo": "demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symlip",
        description="Verified symbolic Lipschitz bounds of neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"symlip {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, modname in VERBS.items():
        try:
            mod = importlib.import_module(f"symlip.cli.{modname}")
        except ModuleNotFoundError as exc:
            if exc.name != f"symlip.cli.{modname}":
                raise
            continue  # verb not built yet
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symlip`` console script; returns the exit code."""
    from symlip.errors import SymlipError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (SymlipError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        msg = str(exc) if not isinstance(exc, OSError) else _os_message(exc)
        print(f"symlip {args.verb}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("symlip: interrupted", file=sys.stderr)
        return 130


def _os_message(exc: OSError) -> str:
    what = {FileNotFoundError: "no such file", IsADirectoryError: "is a directory",
            PermissionError: "permission denied"}.get(type(exc), exc.strerror or str(exc))
    return f"{what}: {exc.filename}" if exc.filename else str(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
