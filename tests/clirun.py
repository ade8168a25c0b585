"""Run the ``symlip`` command line in-process, as a subprocess would, but without paying
a fresh interpreter (and a fresh SymPy/NumPy/torch import) per call.

``run_cli(*args, cwd=None)`` calls :func:`symlip.cli.main` with ``args`` and returns a
:class:`subprocess.CompletedProcess` with the exit code and the text written on stdout
and stderr, so tests written against ``subprocess.run`` keep their assertions unchanged:

- the exit code is ``main``'s return value, or the code of a ``SystemExit`` (argparse's
  usage errors, ``--help``, ``--version``);
- an exception escaping ``main`` gives exit code 1 and its traceback on stderr, as the
  interpreter prints it (so "no traceback" assertions still catch it);
- warnings raised during the call are written to stderr under Python's default warning
  filters, as an interpreter started without ``-W`` shows them (so "no raw warning"
  assertions still catch them); ``warnings="ignore"`` is ``PYTHONWARNINGS=ignore``;
- ``cwd`` is the working directory during the call (restored afterwards), and the
  process-wide settings a verb may change (mpmath precision, torch threads) are restored.

A handful of real subprocess runs stay in ``tests/test_cli_smoke.py`` (one per verb): the
console script and ``python -m symlip`` themselves, and the closed-pipe behaviour.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
import warnings

__all__ = ["run_cli"]


def run_cli(*args, cwd=None, warnings_filter: str = "default", check: bool = False
            ) -> subprocess.CompletedProcess:
    from mpmath import iv, mp

    from symlip.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    old_cwd = os.getcwd()
    saved = (mp.prec, iv.prec, _torch_threads())
    code: int
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        if warnings_filter == "ignore":
            warnings.simplefilter("ignore")
        else:  # the interpreter's default filters (python -W default -m symlip minus __main__)
            warnings.simplefilter("default")
            for cat in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                        ResourceWarning):
                warnings.filterwarnings("ignore", category=cat)
        try:
            if cwd is not None:
                os.chdir(cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = int(main(argv) or 0)
                except SystemExit as exc:
                    if exc.code is None or isinstance(exc.code, int):
                        code = int(exc.code or 0)
                    else:  # sys.exit("message"): printed on stderr, exit code 1
                        print(exc.code, file=sys.stderr)
                        code = 1
                except Exception:  # noqa: BLE001 - what the interpreter would print
                    traceback.print_exc(file=sys.stderr)
                    code = 1
        finally:
            os.chdir(old_cwd)
            mp.prec, iv.prec = saved[0], saved[1]
            _set_torch_threads(saved[2])
    stderr = err.getvalue()
    for w in caught:
        stderr += warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line)
    result = subprocess.CompletedProcess(["symlip", *argv], code, out.getvalue(), stderr)
    if check:
        result.check_returncode()
    return result


def _torch_threads():
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def _set_torch_threads(n) -> None:
    torch = sys.modules.get("torch")
    if torch is not None and n is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
