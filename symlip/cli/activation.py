"""``symlip activation NAME [--param VALUE] [--json] [--latex]``: certified constants.

Output contract (other tools read it):

* default: a table of $S_0, K_1, K_2, s_0$ with exact forms and enclosures;
* ``--latex``: the derivation of the constants (``align*`` blocks);
* ``--json``: ``{"name", "param", "S0", "K1", "K2", "sigma0"}``, each constant
  ``{"lower", "upper", "exact", "latex"}`` (decimal strings rounded outward; the upper
  end of an infinite constant is ``"inf"``; ``exact`` is a SymPy ``srepr`` or null).

An unknown name raises :class:`~symlip.errors.UnknownActivationError`; the dispatcher
prints it as one line on stderr and exits with code 2.

Special names (activations not in the SymPy registry, e.g. linear splines read from
files) plug in through :data:`SPECIAL_ACTIVATIONS`: a builder from the parsed arguments
to an :class:`~symlip.activations.registry.AbstractActivation`, plus :data:`EXTRA_ARGUMENTS`;
an activation's ``summary_fields()`` (if it has one) adds rows to the output.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import sympy as sp

from symlip.activations.registry import AbstractActivation, describe_registry, get_activation
from symlip.cli._common import print_json
from symlip.errors import InputError

__all__ = ["register", "run", "SPECIAL_ACTIVATIONS", "EXTRA_ARGUMENTS", "constants_json"]


def spline_from_args(args: argparse.Namespace) -> AbstractActivation:
    """The spline of ``symlip activation spline --coefficients C.npy --range R``
    (:class:`~symlip.activations.spline.LinearSpline`).

    Raises:
        InputError: missing options, an unreadable array, a bad range.
    """
    from symlip.activations.spline import LinearSpline, parse_grid
    from symlip.models.io import load_array

    path = getattr(args, "coefficients", None)
    rng = getattr(args, "spline_range", None)
    if path is None or rng is None:
        raise InputError("activation 'spline' needs --coefficients C.npy and --range R")
    if getattr(args, "param", None) is not None:
        raise InputError("activation 'spline' takes no --param (use --coefficients/--range)")
    try:
        vals = [float(v) for v in str(rng).split(",")]
    except ValueError:
        raise InputError(f"--range {rng!r} must be a number R or 'a,b'") from None
    try:
        grid = parse_grid(vals if len(vals) > 1 else vals[0])
    except InputError as exc:
        raise InputError(f"--range {rng!r}: {exc}") from None
    c = load_array(path, "coefficients")
    try:
        return LinearSpline(c, list(grid), name="spline")
    except InputError as exc:
        raise InputError(f"coefficients file {path}: {exc}") from None


#: name -> builder(args) for activations that are not SymPy registry entries
#: (``"spline"`` reading ``--coefficients`` and ``--range``).
SPECIAL_ACTIVATIONS: dict[str, Callable[[argparse.Namespace], AbstractActivation]] = {
    "spline": spline_from_args,
}

#: extra options for the special activations: (flags, argparse keyword arguments).
EXTRA_ARGUMENTS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--coefficients",), {"metavar": "C.npy", "help": "spline: .npy array of coefficients, "
                           "shape (neurons, K) or (K,)"}),
    (("--range",), {"metavar": "R", "dest": "spline_range", "help": "spline: the grid "
                    "[-R, R] (R > 0), or 'a,b' for [a, b]"}),
]

_KEYS = ("S0", "K1", "K2", "sigma0")
_LABELS = {"S0": "S0 = sup|sigma|", "K1": "K1 = Lip(sigma)", "K2": "K2 = Lip(sigma')",
           "sigma0": "s0 = |sigma(0)|"}


def register(subparsers: Any) -> None:
    names = "; ".join(f"{n}: {d}" for n, d in describe_registry())
    p = subparsers.add_parser(
        "activation",
        help="certified constants S0, K1, K2, s0 of an activation",
        description="Certified constants of an activation, derived from its SymPy "
                    f"expression. Known activations: {names}.",
    )
    p.add_argument("name", metavar="NAME", help="activation name (e.g. gelu, tanh, elu)")
    p.add_argument("--param", metavar="VALUE", default=None,
                   help="parameter of the family (leaky_relu slope, elu alpha, sin w); "
                        "read as an exact decimal")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable output")
    fmt.add_argument("--latex", action="store_true", help="the derivation in LaTeX")
    fmt.add_argument("--standalone", action="store_true",
                     help="the derivation as a complete LaTeX document (preamble: amsmath, "
                     "amssymb, mathtools); --latex prints fragments needing that preamble")
    for flags, kwargs in EXTRA_ARGUMENTS:
        p.add_argument(*flags, **kwargs)
    p.set_defaults(run=run)


def _resolve(args: argparse.Namespace) -> AbstractActivation:
    key = str(args.name).strip().lower()
    if key in SPECIAL_ACTIVATIONS:
        return SPECIAL_ACTIVATIONS[key](args)
    given = [flags[0] for flags, kw in EXTRA_ARGUMENTS
             if getattr(args, kw.get("dest", flags[0].lstrip("-").replace("-", "_")),
                        None) is not None]
    if given:
        names = ", ".join(repr(n) for n in sorted(SPECIAL_ACTIVATIONS))
        raise InputError(f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} "
                         f"only for activation {names}, not for {args.name!r}")
    return get_activation(args.name, args.param)


def constants_json(act: AbstractActivation) -> dict[str, Any]:
    """The ``--json`` document of an activation (see the module docstring)."""
    c = act.constants
    out: dict[str, Any] = {"name": act.name, "param": _param_str(act)}
    for k in _KEYS:
        out[k] = getattr(c, k).to_dict()
    extra = getattr(act, "summary_fields", None)  # e.g. a spline's grid and TV2
    if extra is not None:
        out.update(extra())
    return out


def _param_str(act: AbstractActivation) -> str | None:
    p = getattr(act, "param", None)
    return None if p is None else str(p)


def _table(act: AbstractActivation) -> str:
    c = act.constants
    label = getattr(act, "label", act.name)
    expr = getattr(act, "expr", None)
    head = f"activation {label}"
    if expr is not None:
        head += f":  sigma(x) = {sp.sstr(expr)}"
    rows = []
    for k in _KEYS:
        const = getattr(c, k)
        exact = "-" if const.exact is None else sp.sstr(const.exact)
        if const.is_finite:
            enc = f"[{const.enclosure.lower_str(17)}, {const.enclosure.upper_str(17)}]"
        else:
            enc = "inf"
        rows.append((_LABELS[k], exact, enc, const.reason))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len("exact"), *(len(r[1]) for r in rows))
    w2 = max(len("certified enclosure"), *(len(r[2]) for r in rows))
    lines = [head, "",
             f"{'constant':<{w0}}  {'exact':<{w1}}  {'certified enclosure':<{w2}}  where / why",
             f"{'-' * w0}  {'-' * w1}  {'-' * w2}  {'-' * 11}"]
    for r in rows:
        lines.append(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}")
    extra = getattr(act, "summary_fields", None)
    if extra is not None:
        for k, v in extra().items():
            if isinstance(v, list) and v and isinstance(v[0], dict):
                v = ", ".join(f"[{d['lower']}, {d['upper']}]" for d in v[:8]) + \
                    (f", ... ({len(v)} values)" if len(v) > 8 else "")
            lines.append(f"{k}: {v}")
    lines += ["", "Enclosures are rigorous (interval arithmetic, rounded outward); "
                  "use the upper end as the certified bound."]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    act = _resolve(args)
    if args.json:
        print_json(constants_json(act))
    elif args.latex:
        print(act.constants.derivation.to_latex())
    elif args.standalone:
        print(act.constants.derivation.to_latex(standalone=True))
    else:
        print(_table(act))
    return 0
