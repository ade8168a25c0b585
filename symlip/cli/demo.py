"""``symlip demo [--out DIR] [--force]``: certify the shipped demo network, write a report.

Writes ``report.md``, ``report.tex``, three PNG plots, the model and data, a
``summary.json`` and re-checked certificates to ``DIR`` (default ``symlip-report`` in
the current folder), and prints a summary table.  A non-empty ``DIR`` is refused
(exit 2) unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="certify the shipped demo network and write a report folder",
        description="Certify the small tanh network shipped with symlip (input-, "
        "parameter- and gradient-Lipschitz bounds, certified step sizes) and write a "
        "report folder: report.md, report.tex, PNG plots, certificates.",
    )
    p.add_argument("--out", default="symlip-report", metavar="DIR",
                   help="report folder (default: ./symlip-report)")
    p.add_argument("--force", action="store_true",
                   help="overwrite the report files in a non-empty folder")
    p.add_argument("--no-certificates", action="store_true",
                   help="skip writing and verifying the certificate files")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from symlip.app.demo import _check_out, run_demo

    _check_out(Path(args.out), args.force)  # refuse before any work
    t0 = time.perf_counter()
    print("symlip demo: certifying the shipped 2-16-16-1 tanh network on 256 data points",
          file=sys.stderr)
    res = run_demo(args.out, force=args.force, certificates=not args.no_certificates)
    dt = time.perf_counter() - t0
    print(res.summary_text())
    print()
    bad = {k: v for k, v in res.certificates.items() if not v.startswith("verified")}
    if res.certificates:
        print(f"certificates: {len(res.certificates) - len(bad)} of "
              f"{len(res.certificates)} verified by `symlip verify`")
        for k, v in bad.items():
            print(f"  {k}: {v}")
    pngs = [f for f in res.files if f.endswith(".png")]
    print(f"report: {res.out}/report.md, report.tex, {len(pngs)} plots "
          f"({', '.join(pngs)})  [{dt:.1f} s]")
    return 0
