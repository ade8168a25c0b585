"""``symlip derive --wrt params|gradient --depth N --activation NAME``: the symbolic
derivation of a parameter bound alone (no weights needed).

The derivation of each (model type, ``--wrt``) is the ``derive`` entry of
:data:`symlip.bounds.registry.BOUNDS` (a function of the options returning a
:class:`~symlip.symbolic.derivation.Derivation`); the choices of ``--model-type`` and
``--wrt`` are read from it.
"""

from __future__ import annotations

import argparse

from symlip.bounds import registry
from symlip.errors import InputError

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "derive",
        help="print the symbolic derivation of a parameter / gradient bound",
        description="Print the step-by-step derivation of the Lipschitz bound w.r.t. the "
        "parameters (--wrt params) or of the loss gradient (--wrt gradient) for a network "
        "of the given depth, in per-layer symbols. No weights are needed.",
    )
    p.add_argument("--wrt", choices=list(registry.wrt_choices(derive=True)), default="params")
    p.add_argument("--depth", type=int, help="number of dense layers N >= 1 (required for "
                   "--model-type feedforward)")
    p.add_argument("--layers", metavar="KINDS", help="kinds of the hidden layers, "
                   "comma-separated: dense, linear (identity activation), residual "
                   "(a -> a + h sigma(W a + b)); e.g. linear,residual,residual (the linear "
                   "read-out is added; sets the depth; --wrt params or gradient)")
    p.add_argument("--activation", default="tanh", help="hidden activation (default tanh)")
    p.add_argument("--param", help="activation parameter (leaky slope, elu alpha, sin w)")
    p.add_argument("--model-type", choices=list(registry.model_types(derive=True)),
                   default="feedforward")
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


def run(args: argparse.Namespace) -> int:
    fmt = args.format or ("latex" if getattr(args, "standalone", False) else "text")
    if getattr(args, "standalone", False) and fmt != "latex":
        raise InputError(f"--standalone is a LaTeX document; it cannot be --format {fmt}")
    d = registry.derive({"model_type": args.model_type, "wrt": args.wrt,
                         "depth": args.depth, "layers": args.layers,
                         "activation": args.activation, "param": args.param,
                         "loss": args.loss, "uniform": args.uniform,
                         "no_global": args.no_global})
    print(d.to_latex(standalone=True) if getattr(args, "standalone", False)
          else d.render(fmt))
    return 0
