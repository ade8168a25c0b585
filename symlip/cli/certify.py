"""``symlip certify MODEL --wrt input|params|gradient ...``: certified bounds of a model file.

Which bound serves a (model type, ``--wrt``) and a loaded model is read from
:data:`symlip.bounds.registry.BOUNDS` (:func:`symlip.bounds.registry.certify`); model
types are loaded by :func:`symlip.models.io.load_model`.  This module only turns the
arguments into options and prints the result.
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction
from typing import Any

from symlip.bounds import registry
from symlip.cli._common import print_json, stage
from symlip.errors import InputError
from symlip.models import MODEL_LOADERS

__all__ = ["register", "run"]


#: --method values by --wrt (the first is the default)
INPUT_METHODS = ("auto", "product", "lipsdp", "all")
PARAM_METHODS = ("local", "recursion")


def _method(args: argparse.Namespace, allowed: tuple[str, ...]) -> str:
    m = getattr(args, "method", None)
    if m is None:
        return allowed[0]
    if m not in allowed:
        raise InputError(f"--method {m} does not apply to --wrt {args.wrt}; expected one of "
                         f"{', '.join(allowed)}")
    return m


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "certify",
        help="certified Lipschitz bound of a model file",
        description="Certified Lipschitz bound of a model file (w.r.t. its input, its "
        "parameters, or of the loss gradient w.r.t. the parameters).",
    )
    p.add_argument("model", help="model file (.npz or .safetensors)")
    p.add_argument("--wrt", choices=list(registry.wrt_choices()), default="input",
                   help="what the Lipschitz constant is taken with respect to")
    p.add_argument("--model-type", choices=sorted(MODEL_LOADERS), default="feedforward")
    p.add_argument("--activation", help="activation name (the known names are listed by "
                   "`symlip activation --help`); "
                   "optional when the file records it")
    p.add_argument("--param", help="activation parameter (leaky_relu slope, elu alpha, sin w)")
    p.add_argument("--data", help="data points, .npy array of shape (n_samples, n_inputs)")
    p.add_argument("--targets", help="targets for --wrt gradient, .npy array")
    p.add_argument("--loss", choices=["mse", "cross-entropy"], default="mse")
    p.add_argument("--radius", type=radius_up, help="radius r of the parameter ball "
                   "(a decimal; rounded up to a double, so the certified ball contains it)")
    p.add_argument("--input-radius", type=radius_up,
                   help="radius of input balls (local bound; rounded up like --radius)")
    p.add_argument("--local-preact", choices=["linear", "interval"], default="linear",
                   help="pre-activation boxes of the local bound (--input-radius): linear "
                   "relaxation back-substituted to the ball (default) or plain interval / "
                   "mean-value boxes (the previous method)")
    p.add_argument("--control", help="control path U for --model-type cde, .npy (steps+1, d)")
    p.add_argument("--target", type=float, help="Lipschitz target: adds a verdict "
                   "(certified / refuted / undecided)")
    p.add_argument("--seed", type=int, default=0, help="seed of the lower-bound search")
    p.add_argument("--method", choices=[*INPUT_METHODS, *PARAM_METHODS], default=None,
                   help="--wrt input: the global bound method(s): auto (default) = LipSDP "
                   "and the product, the tighter is `upper` (the product alone where LipSDP "
                   "does not apply), product, lipsdp, all; --wrt params/gradient: local "
                   "sensitivities over the ball (local, default) or the layer recursion "
                   "alone (recursion)")
    p.add_argument("--local-points", type=_local_points, default=None, metavar="M",
                   help="--wrt gradient with the local method: give the local bound to the "
                   "M points with the largest recursion bounds and keep the recursion on "
                   "the others (default auto: all points when the local method fits its "
                   "budget, else as many as a small budget allows where they carry the "
                   "mean; 0: none; more points than one local run takes are computed in "
                   "chunks, so the time grows with M)")
    p.add_argument("--lower", choices=["auto", "full"], default=None,
                   help="--wrt gradient: the certified lower bound's methods: within their "
                   "budgets (auto, default) or all of them whatever the size (full: the "
                   "loss's second difference also beyond its budget, slower on many "
                   "points)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--latex", action="store_true",
                   help="print the derivation with the certified numbers substituted")
    p.add_argument("--standalone", action="store_true",
                   help="with --latex: a complete LaTeX document (preamble: amsmath, amssymb, "
                   "mathtools) instead of fragments; implies --latex")
    p.add_argument("--certificate", metavar="OUT.json", help="write a certificate file")
    p.set_defaults(run=run)


def _local_points(text: str) -> int | str:
    if text.strip() == "auto":
        return "auto"
    try:
        m = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of points") from None
    if m < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of points >= 0")
    return m


def radius_up(text: str) -> float:
    """The smallest double >= the decimal ``text`` (e.g. ``"0.3"`` -> 0.30000000000000004,
    since the double nearest 0.3 lies below it). Every bound is nondecreasing in the
    radius, so a bound certified for this double holds on the ball the user wrote.
    Non-finite input is passed through as a float for :func:`options_from_args` to reject
    with a message naming the flag."""
    try:
        q = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        try:
            return float(text)  # nan, inf: rejected with the flag's name below
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    try:
        x = float(q)
        if Fraction(x) < q:
            x = math.nextafter(x, math.inf)
    except OverflowError:
        x = math.inf
    if math.isinf(x):
        raise argparse.ArgumentTypeError(
            f"{text!r} is beyond the largest double (about 1.8e308)")
    return x


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "wrt": args.wrt,
        "model_type": args.model_type,
        "activation": args.activation,
        "param": args.param,
    }
    if args.radius is not None:
        if not math.isfinite(args.radius) or args.radius < 0:
            raise InputError(f"--radius {args.radius} must be a finite number >= 0")
        opts["radius"] = args.radius
    if args.input_radius is not None:
        if not math.isfinite(args.input_radius) or args.input_radius < 0:
            raise InputError(f"--input-radius {args.input_radius} must be a finite number >= 0")
        opts["input_radius"] = args.input_radius
        opts["local_preact"] = getattr(args, "local_preact", "linear")
    if args.wrt == "gradient":
        opts["loss"] = args.loss
    if args.wrt in ("params", "gradient"):
        opts["method"] = _method(args, PARAM_METHODS)
    if getattr(args, "lower", None) is not None:
        if args.wrt != "gradient":
            raise InputError("--lower applies to --wrt gradient")
        opts["lower"] = args.lower
    if getattr(args, "local_points", None) is not None:
        if args.wrt != "gradient" or opts.get("method") != "local":
            raise InputError("--local-points applies to --wrt gradient with --method local")
        if args.local_points != "auto":
            opts["local_points"] = args.local_points
    if args.target is not None:
        if not math.isfinite(args.target):
            raise InputError(f"--target {args.target} must be a finite number")
        opts["target"] = args.target
    opts["seed"] = args.seed
    if args.wrt == "input" and _method(args, INPUT_METHODS) != "auto":
        opts["method"] = args.method
    return opts


def run(args: argparse.Namespace) -> int:
    if args.certificate is not None and not args.certificate.strip():
        raise InputError("--certificate needs a file name (got an empty string)")
    if args.standalone and args.json:
        raise InputError("--standalone prints a LaTeX document: use it without --json")
    if args.certificate is not None:
        from symlip.cli._common import check_writable

        check_writable(args.certificate, "--certificate")  # before computing anything
    options = options_from_args(args)
    if not registry.serves(args.model_type, args.wrt):
        raise InputError(f"--wrt {args.wrt} is not available for --model-type "
                         f"{args.model_type}")
    files = {}
    if args.targets:
        files["targets"] = args.targets
    if args.control:
        files["control"] = args.control
    with stage("loading the model and the data"):
        ctx = registry.load_context(args.model, options, args.data, files)
    with stage(f"certifying the Lipschitz bound (--wrt {args.wrt})"):
        result = registry.certify(ctx)  # with options["target"]: and the verdict
    if args.certificate:  # before printing: a failing write prints no result
        from symlip.certificate import make_certificate, write_certificate

        with stage("building the certificate"):
            cert = make_certificate(result, ctx)
        write_certificate(args.certificate, cert)
    if args.json:
        print_json(result.to_dict())
    elif args.latex or args.standalone:
        text = _latex_output(result)
        if args.standalone:
            from symlip.symbolic.derivation import latex_document

            text = latex_document(text)
        print(text)
    else:
        print(_summary(result))
    return 0


def _latex_output(result: Any) -> str:
    """The derivation, the formula and the certified value as LaTeX fragments (they need
    :data:`symlip.symbolic.derivation.LATEX_PREAMBLE`; ``--standalone`` adds it)."""
    import sympy as sp

    subs = _upper_subs(result)
    name = _latex_name(result.formula.name)
    lines = [result.derivation.to_latex(), "", "\\begin{align*}",
             f"{name} &= {result.formula.latex()} \\\\",
             f"&\\le {result.enclosure.upper_str(12)} && \\text{{(certified, rounded up)}} "
             "\\\\",
             # the inputs' upper ends at 8 digits evaluated in SymPy floats: an illustration,
             # not a bound (it can exceed the certified value), so its own row, not a \le link
             f"{name}\\big|_{{\\text{{upper ends}}}} &\\approx "
             f"{sp.latex(result.formula.expr.subs(subs))} && "
             "\\text{(8-digit inputs, not certified)}",
             "\\end{align*}"]
    return "\n".join(lines)


def _latex_name(name: str) -> str:
    """``L_param_spline`` -> ``L_{\\mathrm{param,spline}}`` (as it is, LaTeX would set
    ``L_p aram_s pline``)."""
    head, *rest = name.split("_")
    if not rest:
        return head
    return f"{head}_{{\\mathrm{{{','.join(rest)}}}}}"


def _upper_subs(result: Any) -> dict[Any, Any]:
    import sympy as sp

    by_name = {str(s): s for s in result.formula.inputs}
    return {by_name[k]: sp.Float(v.upper_str(8), 8) for k, v in result.inputs.items()
            if k in by_name and v.is_finite}


def _ratio_text(result: Any) -> str:
    """The certified upper over the *certified* lower bound (never over the sampled
    estimate), or why there is no such ratio."""
    low = result.lower_enclosure
    if low is None:
        return "- (no certified lower bound)"
    lo, up = low.lower_float, result.enclosure.upper_float
    if not lo > 0:
        return "undefined (certified lower bound 0)"
    if not math.isfinite(up):
        return "undefined (upper bound infinite)"
    try:
        return f"{up / lo:.4g}"
    except OverflowError:
        return "> 1.8e308"


def _summary(result: Any) -> str:
    d = result.to_dict()
    lines = [f"{d['quantity']} ({d['norm']})"]
    lines.append(f"  upper (certified)    {d['upper']}")
    lines.append(f"  lower (certified)    {d['lower'] if d['lower'] is not None else '-'}")
    est = d.get("estimate")
    lines.append(f"  estimate (sampled)   {est:.10g}" if est is not None else
                 "  estimate (sampled)   -")
    lines.append(f"  upper / lower        {_ratio_text(result)}")
    for k in ("parameters", "radius", "input_radius", "local_upper", "local_preact", "verdict", "margin",
              "dominant_layer", "method", "lipsdp_variant"):
        if k in d and d[k] is not None:
            lines.append(f"  {k:<20} {d[k]}")
    pts = result.extra.get("local_points")
    if pts is not None:  # a mixed gradient bound: how many points have the local line
        lines.append(f"  {'local points':<20} {len(pts)} of {result.extra.get('n_points')} "
                     "(the others: the recursion)")
    for name, m in (d.get("methods") or {}).items():
        lines.append(f"  method {name:<13} <= {m['upper']}  ({m['seconds']:.2f} s)")
    for layer in d.get("per_layer", []):
        fac = layer.get("factor_upper")
        if fac is not None:
            lines.append(f"  layer {layer['name']:<6} factor <= {fac}")
    return "\n".join(lines)
