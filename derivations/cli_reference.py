"""The CLI reference page (``docs/cli.md``), generated from the argparse parser itself.

Rendered from the parser's actions (not from ``format_help``), so the page does not
depend on the terminal width or the Python version's help layout.
"""

from __future__ import annotations

import argparse

PATH = "cli.md"

#: example command lines per verb (run from a `symlip demo` report folder)
EXAMPLES = {
    "demo": ["symlip demo", "symlip demo --out my-report --force"],
    "activation": ["symlip activation gelu", "symlip activation tanh --json",
                   "symlip activation leaky_relu --param 0.01 --latex",
                   "symlip activation spline --coefficients C.npy --range 3"],
    "norms": ["symlip norms demo_model.npz", "symlip norms demo_model.npz --json"],
    "certify": [
        "symlip certify demo_model.npz --wrt input --data demo_x.npy --input-radius 0.05",
        "symlip certify demo_model.npz --wrt params --data demo_x.npy --radius 0.001 "
        "--certificate params.json",
        "symlip certify demo_model.npz --wrt gradient --data demo_x.npy "
        "--targets demo_y.npy --loss mse --radius 0.001 --json",
        "symlip certify model.npz --model-type cde --control U.npy --wrt params "
        "--data X.npy --radius 0.01",
        "symlip certify spline_model.npz --wrt input --json --target 1",
        "symlip certify spline_model.npz --wrt params --data X.npy --radius 0.01 "
        "--certificate spline_params.json",
    ],
    "verify": ["symlip verify params.json --model demo_model.npz --data demo_x.npy"],
    "derive": ["symlip derive --wrt params --depth 3 --uniform --format markdown",
               "symlip derive --wrt gradient --depth 2 --loss cross-entropy",
               "symlip derive --wrt params --depth 3 --no-global",
               "symlip derive --model-type cde --wrt params"],
}


def _flag(a: argparse.Action) -> str:
    if not a.option_strings:
        return f"`{(a.metavar or a.dest).upper()}`"
    name = ", ".join(a.option_strings)
    if a.nargs == 0:
        return f"`{name}`"
    if a.choices:
        return f"`{name} {{{','.join(map(str, a.choices))}}}`"
    return f"`{name} {a.metavar or a.dest.upper()}`"


def build_markdown() -> str:
    from symlip.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    out = ["# CLI reference", "",
           "*Generated from the argument parser by `derivations/cli_reference.py` "
           "(`python -m derivations`); do not edit by hand.*", "",
           "`symlip VERB [options]`; `symlip --version`; `symlip VERB --help`. "
           "Exit codes: 0 success, 1 a certificate that does not hold (`verify`), 2 bad "
           "input (one line on stderr naming the bad value, no traceback). Output files "
           "are written atomically (never half-way).", ""]
    out.append("| verb | what it does |")
    out.append("|---|---|")
    for name in sub.choices:
        out.append(f"| [`{name}`](#{name}) | {(helps.get(name) or '').replace('|', '/')} |")
    out.append("")
    for name, p in sub.choices.items():
        out += [f"## {name}", ""]
        if p.description:
            out += [" ".join(p.description.split()), ""]
        fmt = argparse.HelpFormatter(prog=p.prog, width=88)  # fixed width: deterministic
        fmt.add_usage(p.usage, p._actions, p._mutually_exclusive_groups)
        out += ["```", fmt.format_help().strip(), "```", ""]
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            line = f"- {_flag(a)}"
            if a.required and a.option_strings:
                line += " (required)"
            if a.default not in (None, False, argparse.SUPPRESS) and a.nargs != 0:
                line += f" (default `{a.default}`)"
            if a.help:
                line += f": {' '.join(a.help.split())}"
            out.append(line)
        ex = EXAMPLES.get(name)
        if ex:
            out += ["", "Examples:", "", "```bash", *ex, "```"]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
