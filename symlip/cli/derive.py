"""``symlip derive --wrt params|gradient --depth N --activation NAME``: the symbolic
derivation of a parameter bound alone (no weights needed).

Model types are dispatched through :data:`DERIVERS` (``"module:function"`` taking the
parsed arguments and returning a :class:`~symlip.symbolic.derivation.Derivation`), so another
model type (``--model-type cde``) plugs in with one entry.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from symlip.errors import InputError

__all__ = ["register", "run", "DERIVERS", "derive_feedforward"]

#: (model type, --wrt) -> "module:function(args) -> Derivation"
DERIVERS: dict[tuple[str, str], str] = {
    ("feedforward", "params"): "symlip.cli.derive:derive_feedforward",
    ("feedforward", "gradient"): "symlip.cli.derive:derive_feedforward",
    ("cde", "params"): "symlip.cde:derive_params_cli",
    ("cde", "gradient"): "symlip.cde:derive_gradient_cli",
}


#: the longest derivation printed layer by layer (depth 64 takes about a second)
MAX_DEPTH = 1000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "derive",
        help="print the symbolic derivation of a parameter / gradient bound",
        description="Print the step-by-step derivation of the Lipschitz bound w.r.t. the "
        "parameters (--wrt params) or of the loss gradient (--wrt gradient) for a network "
        "of the given depth, in per-layer symbols. No weights are needed.",
    )
    p.add_argument("--wrt", choices=["params", "gradient"], default="params")
    p.add_argument("--depth", type=int, help="number of dense layers N >= 1 (required for "
                   "--model-type feedforward)")
    p.add_argument("--layers", metavar="KINDS", help="kinds of the hidden layers, "
                   "comma-separated: dense, linear (identity activation), residual "
                   "(a -> a + h sigma(W a + b)); e.g. linear,residual,residual (the linear "
                   "read-out is added; sets the depth; --wrt params or gradient)")
    p.add_argument("--activation", default="tanh", help="hidden activation (default tanh)")
    p.add_argument("--param", help="activation parameter (leaky slope, elu alpha, sin w)")
    p.add_argument("--model-type", choices=["feedforward", "cde"], default="feedforward")
    p.add_argument("--loss", choices=["mse", "cross-entropy"], default="mse",
                   help="loss of --wrt gradient")
    p.add_argument("--uniform", action="store_true",
                   help="also solve the uniform-layer recursion in closed form (rsolve; "
                   "first order, and second order for --wrt gradient), with the K1 rho = 1 "
                   "branch and the leading growth in the depth N")
    p.add_argument("--no-global", action="store_true",
                   help="also derive that no global bound exists (growth in r)")
    p.add_argument("--format", choices=["latex", "markdown", "text"], default=None,
                   help="output format (default text; latex fragments need amsmath, amssymb "
                   "and mathtools)")
    p.add_argument("--standalone", action="store_true",
                   help="a complete LaTeX document (with its preamble); implies --format latex")
    p.set_defaults(run=run)


def _smooth_symbolically(act: Any) -> bool | None:
    """True if sigma is built from analytic functions only (K2 enters as a symbol)."""
    import sympy as sp

    expr = getattr(act, "expr", None)
    if expr is None:
        return None
    if expr.has(sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign):
        return None
    return True


def derive_feedforward(args: argparse.Namespace) -> Any:
    from symlip.activations.registry import get_activation
    from symlip.bounds import recursion as rec
    from symlip.symbolic.derivation import Derivation

    kinds = _layer_kinds(args)
    if kinds is not None:
        args.depth = len(kinds) + 1
    if args.depth is None:
        raise InputError("--depth N (the number of dense layers) is required")
    if args.depth < 1:
        raise InputError(f"--depth {args.depth} must be an integer >= 1")
    if args.depth > MAX_DEPTH:
        raise InputError(f"--depth {args.depth} is above {MAX_DEPTH}: a derivation that long "
                         "is not readable and takes minutes to build")
    act = get_activation(args.activation, args.param)
    root = Derivation(f"symlip derive --wrt {args.wrt}: depth {args.depth}, "
                      f"activation {getattr(act, 'label', act.name)}")
    if args.wrt == "gradient" and args.depth > 1 and not _smooth_symbolically(act):
        from symlip.bounds.smooth import _require_smooth

        class _Net:  # the smoothness check only looks at the activations
            activations = (act,)

        _require_smooth(_Net())
    if args.wrt == "params" and kinds is not None:
        root.section(rec.network_first_order_derivation(kinds))
    elif args.wrt == "params":
        root.section(rec.first_order_derivation(args.depth))
    elif kinds is not None:  # dense, linear and residual kinds (Lemma 9's program)
        from symlip.bounds.residual_smooth import residual_second_order_derivation

        root.section(rec.network_first_order_derivation(None))
        root.section(residual_second_order_derivation(tuple(kinds), args.loss or "mse"))
    else:
        root.section(rec.first_order_derivation(None))
        root.section(rec.second_order_derivation(args.depth, loss=args.loss))
    if args.uniform:
        # both orders for the gradient (its recursion uses the first-order one)
        root.section(rec.uniform_first_order()[2])
        if args.wrt == "gradient":
            root.section(rec.uniform_second_order()[1])
    if args.no_global:
        from symlip.bounds.noglobal import no_global_bound

        root.section(no_global_bound(max(2, min(args.depth, 6)), act.name)[0])
    return root


def _layer_kinds(args: argparse.Namespace) -> list[str] | None:
    """The ``--layers`` kinds (validated), or ``None``."""
    from symlip.bounds.recursion import LAYER_KINDS

    text = getattr(args, "layers", None)
    if text is None:
        return None
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in LAYER_KINDS]
    if bad or not kinds:
        raise InputError(f"--layers {text!r}: expected comma-separated kinds from "
                         f"{list(LAYER_KINDS)}, got {bad or 'none'}")
    if args.depth is not None and args.depth != len(kinds) + 1:
        raise InputError(f"--depth {args.depth} contradicts --layers {text!r} "
                         f"({len(kinds)} hidden layers + the read-out = {len(kinds) + 1})")
    return kinds


def run(args: argparse.Namespace) -> int:
    key = (args.model_type, args.wrt)
    spec = DERIVERS.get(key)
    if spec is None:
        raise InputError(f"--wrt {args.wrt} is not available for --model-type {args.model_type}")
    mod, fn = spec.split(":")
    try:
        func = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError):
        raise InputError(f"symlip derive for --model-type {args.model_type} is not "
                         "implemented in this version") from None
    fmt = args.format or ("latex" if getattr(args, "standalone", False) else "text")
    if getattr(args, "standalone", False) and fmt != "latex":
        raise InputError(f"--standalone is a LaTeX document; it cannot be --format {fmt}")
    d = func(args)
    print(d.to_latex(standalone=True) if getattr(args, "standalone", False)
          else d.render(fmt))
    return 0
