"""``symlip reproduce NAME [--quick] --out DIR [--json] [--force]``: re-run a seed paper's
experiment (the names are :data:`symlip.app.REPRODUCTIONS`), write its tables, plots and
certificates to ``DIR`` and print a summary (or, with ``--json``, the summary as JSON).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from symlip.app import REPRODUCTIONS
from symlip.errors import InputError

__all__ = ["register", "run"]

#: top-level packages of the 'train' extra the reproductions import
_TRAIN_EXTRA = ("torch", "sklearn", "tqdm")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="re-run an experiment of the seed papers (training included)",
        description="Re-run an experiment of the seed papers: train the networks, "
        "certify them, write tables and plots to DIR. Needs the 'train' extra "
        "(PyTorch and scikit-learn).",
    )
    p.add_argument("name", choices=sorted(REPRODUCTIONS), metavar="NAME",
                   help="one of: " + ", ".join(sorted(REPRODUCTIONS)))
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--quick", action="store_true", help="the small, fast configuration")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty folder")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from symlip.app import check_out_dir
    from symlip.cli._common import print_json

    out = check_out_dir(Path(args.out), args.force)  # refuse before any work
    t0 = time.perf_counter()
    try:
        mod = importlib.import_module(f"symlip.app.{REPRODUCTIONS[args.name]}")
        result = mod.run(out, quick=args.quick, progress=sys.stderr.isatty())
    except ModuleNotFoundError as exc:
        if exc.name not in _TRAIN_EXTRA:
            raise
        raise InputError(f"reproduce {args.name} needs the 'train' extra (PyTorch and "
                         f"scikit-learn; {exc.name} is missing): pip install "
                         "'symlip[train]'") from None
    if args.json:
        print_json(result)
    else:
        print(mod.summary_text(result))
        print(f"files: {out}/  [{time.perf_counter() - t0:.1f} s]")
    return 0
