"""``symlip verify CERT.json --model MODEL [--data X.npy] ...``: re-check a certificate.

Exit code 0 if the certificate holds, 1 if it does not (with a one-line reason),
2 if the certificate or an input file is malformed.
"""

from __future__ import annotations

import argparse
import sys

from symlip.bounds.registry import load_context

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="re-check a certificate against the model and data",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("certificate", help="certificate file written by `symlip certify`")
    p.add_argument("--model", required=True, help="the model file the certificate is about")
    p.add_argument("--data", help="the data file (if the certificate used one)")
    p.add_argument("--targets", help="the targets file (gradient bounds)")
    p.add_argument("--control", help="the control path (controlled ODE models)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from symlip.certificate import load_certificate, verify_certificate

    cert = load_certificate(args.certificate)
    files = {}
    if args.targets:
        files["targets"] = args.targets
    if args.control:
        files["control"] = args.control
    ctx = load_context(args.model, dict(cert["options"]), args.data, files)
    verdict = verify_certificate(cert, ctx)
    stream = sys.stdout if verdict.holds else sys.stderr
    print(("verified: " if verdict.holds else "NOT verified: ") + verdict.reason, file=stream)
    return 0 if verdict.holds else 1
