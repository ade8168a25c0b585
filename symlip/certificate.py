r"""Certificates: a certified bound written down so that anyone can re-check it.

A certificate is a JSON document holding

* the SHA-256 of the model file (and of the data / targets / control files, if any),
* the options of the computation (radius, loss, ...),
* the formula (SymPy ``srepr`` and LaTeX) and the names of its inputs,
* a certified enclosure of every input (outward-rounded decimal strings),
* the result (certified upper bound; certified lower bound if any) and, for the lower
  bound, the witness it was computed from.

:func:`verify_certificate` re-checks it *independently of the recorded numbers*:

1. the files' hashes must match (a changed weight is caught here);
2. the formula is derived again from the model and must equal the recorded one;
3. every input enclosure is recomputed from the model; where the recomputed enclosure
   lies inside the recorded one the recorded one is proved valid and used, otherwise
   the recomputed one is used;
4. the formula is evaluated in interval arithmetic on those inputs; the certificate
   holds iff the upper end is <= the recorded upper bound (a tampered number fails);
5. the recorded lower bound is re-derived from its witness (e.g. an interval
   difference quotient) and must be >= the recorded value;
6. a recorded local bound (``result["local_upper"]``: the input bound on balls around
   the data, ``--input-radius``) is recomputed from the model, data and options and
   must be <= the recorded value.

Which computation a certificate belongs to is named by its ``quantity``; its entry in
:data:`symlip.bounds.registry.BOUNDS` names the bound module's :class:`QuantitySpec`,
which knows how to rebuild the formula and inputs and how to check the lower-bound
witness.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from symlip._files import write_atomic
from symlip._version import __version__
from symlip.arith.enclosure import Enclosure, exact_hex, parse_decimal_enclosure, parse_exact_hex
from symlip.bounds.registry import Context, QuantitySpec, quantities, spec_of
from symlip.bounds.result import BoundResult
from symlip.errors import CertificateError, WitnessOutsideError
from symlip.models.io import sha256_file
from symlip.symbolic.formula import Formula, check_srepr_syntax

__all__ = [
    "CERTIFICATE_FORMAT",
    "Context",
    "QuantitySpec",
    "Relation",
    "Checking",
    "Failed",
    "COMMON_RELATIONS",
    "relations_of",
    "witness_data_row",
    "Verdict",
    "make_certificate",
    "verify_certificate",
    "load_certificate",
]

CERTIFICATE_FORMAT = "symlip-certificate/2"
#: formats this version reads no more (they stated fewer relations)
_OLD_FORMATS = ("symlip-certificate/1",)


#: quantity -> its spec, resolved from the registry on first use
_SPECS: dict[str, QuantitySpec] = {}


def _spec(name: str) -> QuantitySpec:
    if not isinstance(name, str) or name not in _SPECS:
        spec = spec_of(name) if isinstance(name, str) else None
        if spec is None:
            raise CertificateError(
                f"certificate quantity {name!r} is unknown; expected one of "
                f"{sorted(quantities())}")
        _SPECS[name] = spec
    return _SPECS[name]


def make_certificate(result: BoundResult, ctx: Context) -> dict[str, Any]:
    """The certificate of a computed result, as a JSON-ready dict.

    Besides the numbers it records the relations :func:`verify_certificate` checks: the
    options that change the claim are repeated in ``result`` (see
    :data:`ECHOED_OPTIONS`), the search seed only when there is a witness it found, and
    with a ``target`` the verdict decided from the recorded (decimal) bounds."""
    files = {}
    if ctx.model_path:
        files["model"] = {"path": str(ctx.model_path), "sha256": sha256_file(ctx.model_path)}
    if ctx.data_path:
        files["data"] = {"path": str(ctx.data_path), "sha256": sha256_file(ctx.data_path)}
    for role, p in ctx.files.items():
        files[role] = {"path": str(p), "sha256": sha256_file(p)}
    options = _jsonable(ctx.options)
    spec = _spec(result.quantity)
    for key, allowed in spec.fixed_options.items():
        if key not in options and len(allowed) == 1:
            options[key] = allowed[0]  # the Python API's contexts leave them out
    for key in REQUIRED_OPTIONS:
        options.setdefault(key, None)
    for key in required_method_options(options):
        if key not in options and result.extra.get(key) is not None:
            options[key] = result.extra[key]  # the method the API call used
    witness = _jsonable(result.witness)
    if witness and spec.witness_offsets and spec.base_params is not None:
        witness = canonical_offsets(spec, ctx.model, witness)
    if not witness:
        witness = None
        options.pop("seed", None)  # no witness: the search found nothing recorded
    res: dict[str, Any] = {
        # "formula": the formula on the recorded inputs; "mean": the mean over the data
        # points of the formula on each point's inputs (the recorded inputs are then
        # their hull, for reading; verify recomputes the per-point values)
        "aggregate": result.extra.get("aggregate", "formula"),
        "upper": result.enclosure.upper_str(),
        "lower": None if result.lower_enclosure is None
        else result.lower_enclosure.lower_str(),
        # the binary endpoints exactly: what verify must reproduce bit for bit
        "upper_exact": exact_hex(result.enclosure.upper),
        "lower_exact": None if result.lower_enclosure is None
        else exact_hex(result.lower_enclosure.lower),
        **({"local_upper": result.extra["local_upper"]}
           if result.extra.get("local_upper") is not None else {}),
    }
    for key in ECHOED_OPTIONS:
        if key in options:
            res[key] = options[key]
    if witness is not None and "seed" in options:
        res["seed"] = options["seed"]
    if options.get("target") is not None:
        v = _recorded_verdict(res, options["target"])
        res["verdict"], res["margin"] = v["verdict"], v["margin"]
    return {
        "format": CERTIFICATE_FORMAT,
        "symlip_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "quantity": result.quantity,
        "norm": result.norm,
        "files": files,
        "options": options,
        "formula": {
            "name": result.formula.name,
            "srepr": result.formula.srepr(),
            "latex": result.formula.latex(),
            "inputs": [str(s) for s in result.formula.inputs],
        },
        "inputs": {k: v.to_dict(exact=True) for k, v in result.inputs.items()},
        "result": res,
        "witness": witness,
    }


def write_certificate(path: str | Path, cert: Mapping[str, Any]) -> None:
    write_atomic(path, json.dumps(cert, indent=2) + "\n")


def load_certificate(path: str | Path) -> dict[str, Any]:
    """Read a certificate file; malformed files raise :class:`CertificateError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CertificateError(f"{path} is not a text (JSON) certificate") from None
    try:
        cert = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CertificateError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") \
            from None
    if isinstance(cert, dict) and cert.get("format") in _OLD_FORMATS:
        raise CertificateError(
            f"{path} has format {cert['format']!r}, written by an older symlip that stated "
            f"fewer relations; certify again to get {CERTIFICATE_FORMAT!r}")
    if not isinstance(cert, dict) or cert.get("format") != CERTIFICATE_FORMAT:
        raise CertificateError(
            f"{path} is not a symlip certificate (expected format {CERTIFICATE_FORMAT!r})"
        )
    for key in ("quantity", "files", "options", "formula", "inputs", "result"):
        if key not in cert:
            raise CertificateError(f"certificate {path} has no {key!r} entry")
    for key in ("files", "options", "formula", "inputs", "result"):
        if not isinstance(cert[key], dict):
            raise CertificateError(f"certificate {path}: {key!r} must be a JSON object, got "
                                   f"{type(cert[key]).__name__}")
    bad = [role for role, rec in cert["files"].items() if not isinstance(rec, dict)]
    if bad:
        raise CertificateError(f"certificate {path}: files entries {bad} must be JSON objects")
    check_option_types(cert["options"])
    for key in ("formula", "result"):
        if key == "formula" and not isinstance(cert["formula"].get("srepr"), str):
            raise CertificateError(f"certificate {path}: formula.srepr must be a string")
    if cert.get("witness") is not None and not isinstance(cert["witness"], dict):
        raise CertificateError(f"certificate {path}: witness must be a JSON object or null")
    return cert


@dataclass(frozen=True)
class Verdict:
    """Outcome of a verification: ``holds``, a one-line ``reason`` and the names of the
    relations that were checked (in order; on failure the last one is the failing one)."""

    holds: bool
    reason: str
    recomputed_upper: Enclosure | None = None
    checked: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.holds


def check_files(cert: Mapping[str, Any], paths: Mapping[str, str | None]) -> Verdict | None:
    """Compare recorded file hashes with the given files; a failing Verdict or None."""
    for role, rec in cert["files"].items():
        p = paths.get(role)
        if p is None:
            continue
        got = sha256_file(p)
        if got != rec.get("sha256"):
            return Verdict(False, f"{role} file {p} changed since certification "
                                  f"(sha256 {got[:12]}... != recorded {str(rec.get('sha256'))[:12]}...)")
    return None


# ------------------------------------------------------------------------------------
# relations: what a certificate claims, each checked by verify
# ------------------------------------------------------------------------------------


class Failed(Exception):
    """Raised by a relation's check when the relation does not hold (NOT verified)."""


@dataclass(frozen=True)
class Relation:
    """One relation a certificate states and :func:`verify_certificate` checks.

    Attributes:
        name: short name, e.g. ``"witness.x = data[witness.row]"`` (printed by verify,
            listed in ``docs/certificates.md``).
        check: ``check(chk)`` with a :class:`Checking`; returns normally when the
            relation holds, raises :class:`Failed` (one-line reason: NOT verified) when
            it does not, and :class:`~symlip.errors.CertificateError` when the entries it
            reads are malformed.
        doc: one sentence saying what is compared (for the docs table).
    """

    name: str
    check: Callable[[Checking], None]
    doc: str = ""


class Checking:
    """What relations read: the certificate, the context, the spec, and recomputations
    shared between relations (computed once, on first use)."""

    def __init__(self, cert: Mapping[str, Any], ctx: Context, spec: QuantitySpec) -> None:
        self.cert, self.ctx, self.spec = cert, ctx, spec
        self.result: Mapping[str, Any] = cert["result"]
        self.options: Mapping[str, Any] = cert["options"]
        self.witness: Any = cert.get("witness")
        self._cache: dict[str, Any] = {}

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def rebuilt(self) -> tuple[Formula, dict[str, Enclosure]]:
        """The formula and fresh certified inputs, derived from the model and data."""
        return self.cached("rebuilt", lambda: self.spec.rebuild(self.ctx))

    @property
    def value(self) -> Enclosure:
        """The recomputed enclosure of the bound (formula on the recorded inputs, which
        the ``inputs`` relation has proved equal to fresh ones, or the per-point mean)."""
        def make() -> Enclosure:
            formula, fresh = self.rebuilt
            aggregate = self.result.get("aggregate", "formula")
            if aggregate in ("mean", "max"):
                pformula, per_point = self.spec.rebuild_pointwise(self.ctx)
                arr = pformula.enclose_array(per_point)
                return arr.mean() if aggregate == "mean" else arr.upper_max()
            return formula.enclose(dict(fresh))
        return self.cached("value", make)

    def witness_value(self) -> Enclosure:
        """The enclosure the witness proves (its lower end is the certified lower bound)."""
        def make() -> Enclosure:
            try:
                return self.spec.check_lower(self.ctx, self.witness)
            except WitnessOutsideError as exc:
                raise Failed(str(exc)) from None
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                raise CertificateError(f"the certificate's witness is malformed: "
                                       f"{type(exc).__name__}: {exc}") from None
        return self.cached("witness", make)


def exact_number(text: Any, what: str) -> Fraction | float:
    """A decimal string of a certificate as the exact rational it denotes (``inf`` as
    ``float('inf')``); anything else is malformed (:class:`CertificateError`)."""
    if not isinstance(text, str):
        raise CertificateError(f"certificate entry {what} = {text!r} must be a decimal "
                               "string")
    s = text.strip()
    if s in ("inf", "+inf", "Infinity"):
        return math.inf
    if s in ("-inf", "-Infinity"):
        return -math.inf
    try:
        parse_decimal_enclosure(s, s)  # shape and exponent checks (no billion digits)
    except ValueError as exc:
        raise CertificateError(f"certificate entry {what} is malformed: {exc}") from None
    return Fraction(s)


def _same_option(a: Any, b: Any) -> bool:
    """Exact equality that does not take ``True`` for ``1`` nor ``1`` for ``1.0``."""
    return type(a) is type(b) and a == b


#: options that change what a certificate claims; recorded again in ``result`` and
#: compared (the seed only when there is a witness: it names the search that found it)
ECHOED_OPTIONS = ("radius", "input_radius", "loss", "scheme", "target")
#: options every certificate records (``None`` when not given)
REQUIRED_OPTIONS = ("wrt", "model_type", "activation", "param")
#: every option a certificate may record
#: options that choose a method (recomputed by verify with the recorded choice)
METHOD_OPTIONS = {"local_preact": ("linear", "interval"), "lower": ("auto", "full"),
                  "method": ("local", "recursion", "product", "lipsdp", "all")}


def required_method_options(opts: Mapping[str, Any]) -> list[str]:
    """The method options a certificate with these options must state: the local bound's
    pre-activation boxes with an input radius, the parameter/gradient method."""
    need = ["local_preact"] if "input_radius" in opts else []
    if opts.get("wrt") in ("params", "gradient"):
        need.append("method")
    return need
#: options that carry a method's certificate data (the LipSDP multipliers, re-proved by
#: verify); their content is checked by the method itself
DATA_OPTIONS = ("lipsdp",)
#: the data rows with the local line of a mixed gradient bound (symlip.bounds.mixed)
INDEX_OPTIONS = ("local_points",)
KNOWN_OPTIONS = frozenset({"wrt", "model_type", "activation", "param", "seed",
                           *ECHOED_OPTIONS, *METHOD_OPTIONS, *DATA_OPTIONS,
                           *INDEX_OPTIONS})


def _r_files(chk: Checking) -> None:
    cert, ctx = chk.cert, chk.ctx
    paths = {"model": ctx.model_path, "data": ctx.data_path, **ctx.files}
    missing = [r for r in cert["files"] if paths.get(r) is None]
    if missing:
        raise Failed(f"certificate covers file(s) {', '.join(missing)} that were not given "
                     "to verify")
    extra = [r for r, p in paths.items() if p is not None and r not in cert["files"]]
    if extra:
        raise Failed(f"file(s) {', '.join(extra)} given to verify are not covered by the "
                     "certificate (no recorded sha256)")
    bad = check_files(cert, paths)
    if bad is not None:
        raise Failed(bad.reason)


def check_option_types(opts: Mapping[str, Any]) -> None:
    """Malformed options (unknown keys, wrong types, non-finite radii) raise
    :class:`CertificateError`; run before the options are used to load anything."""
    unknown = sorted(set(opts) - KNOWN_OPTIONS)
    if unknown:
        raise CertificateError(f"certificate options {unknown} are unknown; expected some "
                               f"of {sorted(KNOWN_OPTIONS)}")
    for key in ("wrt", "model_type", "activation", "loss", "scheme"):
        v = opts.get(key)
        if v is not None and not isinstance(v, str):
            raise CertificateError(f"certificate option {key}={v!r}; expected a string")
    v = opts.get("param")
    if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int, float))):
        raise CertificateError(f"certificate option param={v!r}; expected a number")
    for key in DATA_OPTIONS:
        if key in opts and not isinstance(opts[key], Mapping):
            raise CertificateError(f"certificate option {key}={opts[key]!r}; expected an object")
    for key in INDEX_OPTIONS:
        v = opts.get(key)
        if key in opts and (not isinstance(v, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)):
            raise CertificateError(f"certificate option {key}={v!r}; expected a list of "
                                   "data row indices (integers >= 0)")
    for key, allowed in METHOD_OPTIONS.items():
        v = opts.get(key)
        if v is not None and v not in allowed:
            raise CertificateError(f"certificate option {key}={v!r}; expected one of "
                                   f"{list(allowed)}")
    v = opts.get("seed")
    if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
        raise CertificateError(f"certificate option seed={v!r}; expected an integer")
    for key in ("radius", "input_radius", "target"):
        v = opts.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not math.isfinite(v) or (key != "target" and v < 0)):
            raise CertificateError(f"certificate option {key}={v!r}; expected a finite "
                                   "number" + (" >= 0" if key != "target" else ""))


def _r_options(chk: Checking) -> None:
    opts = chk.options
    check_option_types(opts)
    missing = [k for k in (*REQUIRED_OPTIONS, *required_method_options(opts))
               if k not in opts]
    if missing:
        raise Failed(f"the certificate does not state the options {missing}")
    for key, allowed in chk.spec.fixed_options.items():
        if opts.get(key) not in allowed:
            raise Failed(f"option {key}={opts[key]!r} does not belong to a "
                         f"{chk.cert['quantity']} certificate (expected one of {list(allowed)})")


def _r_echo(chk: Checking) -> None:
    res, opts = chk.result, chk.options
    for key in ECHOED_OPTIONS:
        if (key in opts) != (key in res) or (key in opts and not _same_option(opts[key],
                                                                                res[key])):
            raise Failed(f"options.{key}={opts.get(key)!r} differs from the result's "
                         f"{key}={res.get(key)!r}")
    has_wit = bool(chk.witness)
    if "seed" in opts and not has_wit:
        raise Failed("the certificate records a search seed but no witness it found")
    if ("seed" in opts) != ("seed" in res) or ("seed" in res and not _same_option(
            opts.get("seed"), res["seed"])):
        raise Failed(f"options.seed={opts.get('seed')!r} differs from the seed "
                     f"{res.get('seed')!r} of the search that found the witness")
    if chk.cert.get("norm") != chk.spec.norm:
        raise Failed(f"norm {chk.cert.get('norm')!r} is not the {chk.spec.norm!r} norm of "
                     f"{chk.cert['quantity']}")


def _r_formula(chk: Checking) -> None:
    rec = chk.cert["formula"]
    try:
        check_srepr_syntax(rec["srepr"])  # bounded: no SymPy object is built from it
    except (KeyError, TypeError, ValueError) as exc:
        raise CertificateError(f"certificate formula is malformed: {exc}") from None
    formula, fresh = chk.rebuilt
    if formula.srepr() != rec["srepr"]:
        raise Failed("the recorded formula differs from the one derived for this model "
                     f"(the certificate says it was written by symlip "
                     f"{chk.cert.get('symlip_version')!s} on {chk.cert.get('created')!s}; "
                     "an older symlip may have derived another formula: certify again)")
    if rec.get("name") != formula.name or rec.get("latex") != formula.latex() \
            or rec.get("inputs") != [str(s) for s in formula.inputs]:
        raise Failed("the recorded formula's name, LaTeX or input list differs from the "
                     "derived formula's")


def _r_inputs(chk: Checking) -> None:
    _, fresh = chk.rebuilt
    recs = chk.cert["inputs"]
    if set(fresh) != set(recs):
        raise Failed(f"recorded inputs {sorted(recs)} differ from the formula's inputs "
                     f"{sorted(fresh)}")
    for name, f in fresh.items():
        rec = recs[name]
        try:
            e = Enclosure.from_dict(rec)
        except (KeyError, TypeError, ValueError) as exc:
            raise CertificateError(f"certificate input {name} is malformed: {exc}") from None
        # the computation is deterministic: the recorded enclosure must be the recomputed
        # one, exactly (a wider one would be true but is not what was computed)
        if not (e.lower == f.lower and e.upper == f.upper
                and exact_number(rec["lower"], f"inputs.{name}.lower")
                == exact_number(f.lower_str(), name)
                and exact_number(rec["upper"], f"inputs.{name}.upper")
                == exact_number(f.upper_str(), name)):
            raise Failed(f"recorded input {name} [{rec.get('lower')}, {rec.get('upper')}] "
                         f"is not the recomputed enclosure {f!r}")


#: entries every certificate's result states (``null`` where there is none)
RESULT_KEYS = ("aggregate", "upper", "upper_exact", "lower", "lower_exact")


def _r_aggregate(chk: Checking) -> None:
    missing = [k for k in RESULT_KEYS if k not in chk.result]
    if "witness" not in chk.cert:
        missing.append("witness (null if none)")
    if missing:
        raise Failed(f"the certificate does not state {missing}")
    agg = chk.result["aggregate"]
    allowed = ("formula", "mean", "max") if chk.spec.rebuild_pointwise else ("formula",)
    if agg not in allowed:
        raise CertificateError(f"result aggregate {agg!r} is not known for "
                               f"{chk.cert['quantity']}; expected one of {list(allowed)}")
    kinds = (chk.spec.aggregate,) if isinstance(chk.spec.aggregate, str) else chk.spec.aggregate
    if agg not in kinds:
        raise Failed(f"result aggregate {agg!r} is not the {chk.spec.aggregate!r} "
                     f"{chk.cert['quantity']} is certified as")


def _same_upper(recorded: Any, got: Enclosure, what: str, field: str) -> None:
    """The recorded decimal upper end equals the recomputed one exactly; a recorded value
    below it is named as such (the dangerous direction), any other difference too."""
    rec = exact_number(recorded, field)
    val = exact_number(got.upper_str(), f"recomputed {what}")
    if rec < val:
        raise Failed(f"recorded {what} {recorded} is below the recomputed {what} "
                     f"{got.upper_str(12)}")
    if rec != val:
        raise Failed(f"recorded {what} {recorded} is not the recomputed {what} "
                     f"{got.upper_str()}")


def _r_upper(chk: Checking) -> None:
    _same_upper(chk.result.get("upper"), chk.value, "upper bound", "result.upper")
    _exact_end(chk.result.get("upper_exact"), chk.value.upper, "upper")


def _exact_end(text: Any, value: Any, what: str) -> None:
    """``result.<what>_exact`` must be the recomputed binary endpoint, bit for bit."""
    if not isinstance(text, str):
        raise Failed(f"result.{what}_exact={text!r} is not the recomputed endpoint "
                     f"{exact_hex(value)}")
    try:
        rec = parse_exact_hex(text)
    except ValueError as exc:
        raise CertificateError(f"certificate entry result.{what}_exact is malformed: "
                               f"{exc}") from None
    if rec != value:
        raise Failed(f"result.{what}_exact {text} is not the recomputed endpoint "
                     f"{exact_hex(value)}")


def _r_lower_le_upper(chk: Checking) -> None:
    if chk.result.get("lower") is None:
        if chk.result.get("lower_exact") is not None:
            raise Failed("result.lower_exact is given without a lower bound")
        return
    lo = exact_number(chk.result["lower"], "result.lower")
    up = exact_number(chk.result.get("upper"), "result.upper")
    if not lo <= up:
        raise Failed(f"recorded lower bound {chk.result['lower']} is above the recorded "
                     f"upper bound {chk.result['upper']}")


def _r_witness(chk: Checking) -> None:
    lower = chk.result.get("lower")
    if lower is None:
        if chk.witness:
            raise Failed("the certificate records a witness but no lower bound from it")
        return
    if chk.spec.check_lower is None:
        raise Failed(f"the certificate records a lower bound, which {chk.cert['quantity']} "
                     "does not have")
    if not chk.witness or not isinstance(chk.witness, Mapping):
        raise Failed("the certificate records a lower bound but no witness for it")
    rec = exact_number(lower, "result.lower")
    got = chk.witness_value()
    proved = exact_number(got.lower_str(), "recomputed lower")
    if rec > proved:
        raise Failed(f"recorded lower bound {lower} is above what its witness proves "
                     f"({got.lower_str(12)})")
    if rec != proved:
        raise Failed(f"recorded lower bound {lower} is not what its witness proves "
                     f"({got.lower_str()})")
    _exact_end(chk.result.get("lower_exact"), got.lower, "lower")


def _r_local(chk: Checking) -> None:
    local = chk.result.get("local_upper")
    eps = chk.options.get("input_radius")
    if local is None:
        if eps is not None and chk.spec.rebuild_local is not None:
            raise Failed("the certificate records an input_radius but no local bound")
        return
    if chk.spec.rebuild_local is None:
        raise Failed(f"the certificate records a local bound, which {chk.cert['quantity']} "
                     "does not have")
    _same_upper(local, chk.spec.rebuild_local(chk.ctx), "local bound", "result.local_upper")


def _recorded_verdict(result: Mapping[str, Any], target: Any) -> dict[str, Any]:
    from types import SimpleNamespace

    from symlip.arith.verdict import lipschitz_verdict

    up = parse_decimal_enclosure(result["upper"], result["upper"])
    lo = None if result.get("lower") is None else \
        parse_decimal_enclosure(result["lower"], result["lower"])
    return lipschitz_verdict(SimpleNamespace(enclosure=up, lower_enclosure=lo), target)


def _r_verdict(chk: Checking) -> None:
    target = chk.options.get("target")
    res = chk.result
    if target is None:
        if "verdict" in res or "margin" in res:
            raise Failed("the certificate records a verdict but no target")
        return
    if isinstance(target, bool) or not isinstance(target, (int, float)) \
            or not math.isfinite(target):
        raise CertificateError(f"certificate option target={target!r}; expected a finite "
                               "number")
    want = _recorded_verdict(res, target)
    if res.get("verdict") != want["verdict"] or res.get("margin") != want["margin"]:
        raise Failed(f"recorded verdict {res.get('verdict')!r} (margin {res.get('margin')!r}) "
                     f"is not {want['verdict']!r} (margin {want['margin']}), what the "
                     "recorded bounds give for the target")


def canonical_offsets(spec: QuantitySpec, model: Any, witness: dict[str, Any]
                      ) -> dict[str, Any]:
    """The witness with each offset ``v`` (fields ``spec.witness_offsets``) replaced by
    ``c = fl(fl(theta + v) - theta)`` when ``fl(theta + c) == fl(theta + v)`` (the same
    parameter point, so the same certified quotient): the canonical encoding that the
    relation ``witness offsets canonical`` requires."""
    import numpy as np

    if "indices" not in witness:  # e.g. a low-rank second-difference witness
        return witness
    theta = np.asarray(spec.base_params(model), dtype=np.float64)
    idx = np.asarray(witness["indices"], dtype=np.intp)
    out = dict(witness)
    for f in spec.witness_offsets:
        if f not in witness:
            continue
        v = np.asarray(witness[f], dtype=np.float64)
        t = theta[idx]
        point = t + v
        c = point - t
        if np.array_equal(t + c, point):
            out[f] = [float(a) for a in c]
    return out


def _r_offsets(chk: Checking) -> None:
    spec, w = chk.spec, chk.witness
    if not w or not spec.witness_offsets or spec.base_params is None:
        return
    if "indices" not in w and w.get("method") == "second_difference":
        return  # its points are rebuilt from factors and checked exact when recomputed
    import numpy as np

    theta = np.asarray(spec.base_params(chk.ctx.model), dtype=np.float64)
    try:
        idx = np.asarray(w["indices"], dtype=np.intp)
        t = theta[idx]
        for f in spec.witness_offsets:
            if f not in w:
                continue
            v = np.asarray(w[f], dtype=np.float64)
            with np.errstate(all="ignore"):
                canon = (t + v) - t
            if v.shape != t.shape:
                raise CertificateError(f"witness.{f} has {v.size} values for "
                                       f"{t.size} indices")
            if not np.array_equal(canon, v):
                raise Failed(f"witness.{f} is not written canonically (fl(theta + v) - "
                             "theta != v): not the step the certificate was made with")
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CertificateError(f"the certificate's witness is malformed: "
                               f"{type(exc).__name__}: {exc}") from None


def _r_witness_form(chk: Checking) -> None:
    w = chk.witness
    if not w:
        return
    if "kind" not in w:
        raise CertificateError("the certificate's witness does not state its kind")
    if w.get("kind") != chk.spec.witness_kind:
        raise Failed(f"witness.kind={w.get('kind')!r} is not the {chk.spec.witness_kind!r} "
                     f"witness of {chk.cert['quantity']}")
    for key in ("indices", "row"):
        if key not in w:
            continue
        vals = w[key] if isinstance(w[key], list) else [w[key]]
        bad = [v for v in vals if isinstance(v, bool) or not isinstance(v, int)]
        if bad:
            raise CertificateError(f"witness.{key} holds {bad[0]!r}; expected integers")
    if "indices" in w and len(set(w["indices"])) != len(w["indices"]):
        raise CertificateError("witness.indices must be distinct")


#: the relations of every certificate, checked in this order before the kind's own
COMMON_RELATIONS: tuple[Relation, ...] = (
    Relation("files", _r_files,
             "every recorded file was given and its SHA-256 matches; every file given is "
             "recorded"),
    Relation("options", _r_options,
             "only known options; wrt/model_type those of the kind; radii finite >= 0"),
    Relation("result echoes options", _r_echo,
             "result.radius/input_radius/loss/scheme/target equal the options (exactly); "
             "result.seed = options.seed iff there is a witness; norm is the kind's"),
    Relation("formula = derived", _r_formula,
             "srepr (read by the bounded, whitelisted reader), name, LaTeX and input list "
             "equal those of the formula derived again from the model"),
    Relation("inputs = recomputed", _r_inputs,
             "every input enclosure (decimal and exact endpoints) equals the one "
             "recomputed from the files"),
    Relation("result form", _r_aggregate,
             "result states aggregate, upper, upper_exact, lower, lower_exact (null if "
             "none) and the certificate a witness (null if none); aggregate is the kind's"),
    Relation("upper = recomputed", _r_upper,
             "result.upper equals (so is >=) the upper end of the formula's interval "
             "evaluation, compared as exact rationals"),
    Relation("lower <= upper", _r_lower_le_upper,
             "result.lower <= result.upper as exact rationals"),
    Relation("witness form", _r_witness_form,
             "witness.kind is the kind's; indices and row are integers, indices distinct"),
    Relation("witness offsets canonical", _r_offsets,
             "each offset v of the witness satisfies fl(theta + v) - theta = v (one "
             "encoding per parameter point)"),
    Relation("lower = witness", _r_witness,
             "a lower bound has a witness and vice versa; the witness's points lie in the "
             "ball; result.lower equals the lower end of its re-evaluated quotient"),
    Relation("local_upper = recomputed", _r_local,
             "with input_radius: result.local_upper equals the recomputed local bound"),
    Relation("verdict", _r_verdict,
             "with target: result.verdict and margin are what the recorded bounds give"),
)


def witness_data_row(point: str = "x", index: str = "row") -> Relation:
    """The relation "``witness[point]`` is row ``witness[index]`` of the data, exactly".

    A kind whose lower bound is stated over the data rows declares it with
    ``QuantitySpec(witness_row=("x", "row"))``."""

    def check(chk: Checking) -> None:
        w = chk.witness
        if not w:
            return
        if not isinstance(w, Mapping) or index not in w or point not in w:
            raise Failed(f"the witness does not name its data row (witness.{index})")
        i = w[index]
        if isinstance(i, bool) or not isinstance(i, int):
            raise CertificateError(f"witness.{index}={i!r}; expected an integer row index")
        import numpy as np

        if chk.ctx.data is None:
            raise Failed("the witness refers to a data row but no data was given")
        try:
            x = np.asarray(w[point], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise CertificateError(f"witness.{point} is malformed: {exc}") from None
        data = np.asarray(chk.ctx.data, dtype=np.float64)
        if data.ndim == 1:
            data = data.reshape(1, -1) if data.size == x.size else data.reshape(-1, 1)
        if not 0 <= i < data.shape[0]:
            raise Failed(f"witness.{index}={i} is not a row of the data (0..{data.shape[0] - 1})")
        if x.shape != data[i].shape or not np.array_equal(x, data[i]):
            raise Failed(f"witness.{point} is not data row {i}")

    return Relation(f"witness.{point} = data[witness.{index}]", check,
                    f"witness.{index} is a row index of the data file and witness.{point} "
                    "equals that row exactly")


def relations_of(spec: QuantitySpec) -> tuple[Relation, ...]:
    """Every relation verify checks for a kind, in order: the common ones, with the
    kind's own inserted before ``lower = witness`` (they are cheap checks of the
    witness's form: a witness off the data is named as such, before its quotient is
    re-evaluated)."""
    names = [r.name for r in COMMON_RELATIONS]
    i = names.index("lower = witness")
    own = tuple(spec.relations)
    if spec.witness_row is not None:
        own = (witness_data_row(*spec.witness_row), *own)
    return COMMON_RELATIONS[:i] + own + COMMON_RELATIONS[i:]


def verify_certificate(cert: Mapping[str, Any], ctx: Context) -> Verdict:
    """Re-check a certificate against the model/data in ``ctx``: every relation of
    :func:`relations_of` its kind, in order; the first that fails gives the reason."""
    spec = _spec(cert["quantity"])
    chk = Checking(cert, ctx, spec)
    done: list[str] = []
    for rel in relations_of(spec):
        done.append(rel.name)
        try:
            rel.check(chk)
        except Failed as exc:
            value = chk._cache.get("value")
            return Verdict(False, f"{exc} [relation: {rel.name}]", value, tuple(done))
    lower, local = cert["result"].get("lower"), cert["result"].get("local_upper")
    return Verdict(True, f"certificate holds: {cert['quantity']} <= {cert['result']['upper']}"
                         + (f" and >= {lower}" if lower is not None else "")
                         + (f"; local bound <= {local}" if local is not None else "")
                         + f" ({len(done)} relations checked)",
                   chk._cache.get("value"), tuple(done))


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Enclosure):
        return obj.to_dict()
    return str(obj)
