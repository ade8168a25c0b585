"""The ``symlip`` command line: one module per verb, each with ``register`` and ``run``.

Errors from bad input (:class:`~symlip.errors.SymlipError`, any ``OSError`` on a path:
missing, a directory, not writable...; bad numbers) are printed as one line on stderr
and exit with code 2, without a traceback.  A closed output pipe ends the run quietly.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

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
    "reproduce": "reproduce",
}


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (``symlip VERB: error: ...``), exit code 2,
    like every other bad input; ``--help`` still prints the full usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="symlip",
        description="Verified symbolic Lipschitz bounds of neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"symlip {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_OneLineParser)
    for modname in VERBS.values():
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
    from symlip.errors import InternalError, SymlipError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # output piped into `head` & co.: stop quietly
        _silence_stdout()
        return 0
    except (SymlipError, OSError) as exc:
        # OSError: a path that is missing, a directory, not a directory, unwritable,
        # a full disk... (reading or writing); one line, no traceback
        msg = str(exc) if not isinstance(exc, OSError) else _os_message(exc)
        print(f"symlip {args.verb}: error: {msg}", file=sys.stderr)
        return 2
    except InternalError as exc:  # a refused result: never a silent number
        print(f"symlip {args.verb}: internal error (result refused): {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:  # pragma: no cover
        print("symlip: interrupted", file=sys.stderr)
        return 130


def _os_message(exc: OSError) -> str:
    what = {FileNotFoundError: "no such file", IsADirectoryError: "is a directory",
            PermissionError: "permission denied"}.get(type(exc), exc.strerror or str(exc))
    if exc.filename and exc.filename2:
        return f"{what}: {exc.filename} -> {exc.filename2}"
    return f"{what}: {exc.filename}" if exc.filename else str(exc)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
