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

Which computation a certificate belongs to is named by its ``quantity``; each bound
module registers a :class:`QuantitySpec` that knows how to rebuild its formula and
inputs and how to check its lower-bound witness.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symlip._version import __version__
from symlip.errors import CertificateError
from symlip.formula import Formula, read_srepr
from symlip.intervals import Enclosure, Truth, compare, parse_decimal_enclosure
from symlip.io import sha256_file
from symlip.result import BoundResult

__all__ = [
    "CERTIFICATE_FORMAT",
    "Context",
    "QuantitySpec",
    "Verdict",
    "make_certificate",
    "register_quantity",
    "verify_certificate",
    "load_certificate",
]

CERTIFICATE_FORMAT = "symlip-certificate/1"


@dataclass
class Context:
    """What a bound is computed from: the model and its files, data, options."""

    model: Any
    model_path: str | None = None
    data: Any = None
    data_path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # role -> path (targets, control)
    extra: dict[str, Any] = field(default_factory=dict)  # loaded arrays by role


@dataclass(frozen=True)
class QuantitySpec:
    """How to re-check a certificate of one quantity.

    Attributes:
        name: the quantity (``"input_lipschitz"``...).
        rebuild: ``rebuild(ctx) -> (formula, inputs)``: the formula and fresh certified
            input enclosures, computed from the model (no sampling, no lower bound).
        check_lower: ``check_lower(ctx, witness) -> Enclosure`` whose lower end is a
            certified lower bound, recomputed from the witness; ``None`` if the quantity
            records no lower bound.
        rebuild_pointwise: for quantities certified as an aggregate of per-data-point
            values of the formula (``result["aggregate"]`` is ``"mean"``):
            ``rebuild_pointwise(ctx) -> (formula, inputs)`` with per-point inputs
            (:class:`~symlip.intervals.IntervalArray`) for ``formula.enclose_array``.
    """

    name: str
    rebuild: Callable[[Context], tuple[Formula, dict[str, Enclosure]]]
    check_lower: Callable[[Context, Mapping[str, Any]], Enclosure] | None = None
    rebuild_pointwise: Callable[[Context], tuple[Formula, dict[str, Any]]] | None = None
    #: ``rebuild_local(ctx) -> Enclosure``: the local bound recomputed (its upper end is
    #: what ``result["local_upper"]`` must be at least); ``None``: no local bound
    rebuild_local: Callable[[Context], Enclosure] | None = None


_SPECS: dict[str, QuantitySpec] = {}

#: quantity -> the module that registers its spec on import
QUANTITY_MODULES: dict[str, str] = {
    "input_lipschitz": "symlip.bounds.input",
    "param_lipschitz": "symlip.bounds.param",
    "param_lipschitz_spline": "symlip.bounds.spline_param",
    "grad_lipschitz": "symlip.bounds.smooth",
    "cde_param_lipschitz": "symlip.cde",
    "cde_grad_lipschitz": "symlip.cde",
    "param_lipschitz_conv": "symlip.models.conv_param",
}


def register_quantity(spec: QuantitySpec) -> QuantitySpec:
    """Register how certificates of ``spec.name`` are verified."""
    _SPECS[spec.name] = spec
    return spec


def _spec(name: str) -> QuantitySpec:
    if name not in _SPECS and name in QUANTITY_MODULES:
        import importlib

        importlib.import_module(QUANTITY_MODULES[name])  # registers on import
    if name not in _SPECS:
        raise CertificateError(
            f"certificate quantity {name!r} is unknown; expected one of {sorted(_SPECS)}"
        )
    return _SPECS[name]


def make_certificate(result: BoundResult, ctx: Context) -> dict[str, Any]:
    """The certificate of a computed result, as a JSON-ready dict."""
    files = {}
    if ctx.model_path:
        files["model"] = {"path": str(ctx.model_path), "sha256": sha256_file(ctx.model_path)}
    if ctx.data_path:
        files["data"] = {"path": str(ctx.data_path), "sha256": sha256_file(ctx.data_path)}
    for role, p in ctx.files.items():
        files[role] = {"path": str(p), "sha256": sha256_file(p)}
    return {
        "format": CERTIFICATE_FORMAT,
        "symlip_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "quantity": result.quantity,
        "norm": result.norm,
        "files": files,
        "options": _jsonable(ctx.options),
        "formula": {
            "name": result.formula.name,
            "srepr": result.formula.srepr(),
            "latex": result.formula.latex(),
            "inputs": [str(s) for s in result.formula.inputs],
        },
        "inputs": {k: v.to_dict(exact=True) for k, v in result.inputs.items()},
        "result": {
            # "formula": the formula on the recorded inputs; "mean" / "max": the mean / max
            # over the data points of the formula on each point's inputs (the recorded
            # inputs are then their hull, for reading; verify recomputes the per-point values)
            "aggregate": result.extra.get("aggregate", "formula"),
            "upper": result.enclosure.upper_str(),
            "lower": None if result.lower_enclosure is None
            else result.lower_enclosure.lower_str(),
            **({"local_upper": result.extra["local_upper"]}
               if result.extra.get("local_upper") is not None else {}),
        },
        "witness": _jsonable(result.witness),
    }


def write_certificate(path: str | Path, cert: Mapping[str, Any]) -> None:
    from symlip.cli._common import write_atomic

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
    return cert


@dataclass(frozen=True)
class Verdict:
    """Outcome of a verification: ``holds`` and a one-line ``reason``."""

    holds: bool
    reason: str
    recomputed_upper: Enclosure | None = None

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


def verify_certificate(cert: Mapping[str, Any], ctx: Context) -> Verdict:
    """Re-check a certificate against the model/data in ``ctx`` (see module docstring)."""
    paths = {"model": ctx.model_path, "data": ctx.data_path, **ctx.files}
    missing = [r for r in cert["files"] if paths.get(r) is None]
    if missing:
        return Verdict(False, f"certificate covers file(s) {', '.join(missing)} that were "
                              "not given to verify")
    bad = check_files(cert, paths)
    if bad is not None:
        return bad
    spec = _spec(cert["quantity"])
    lower = cert["result"].get("lower")
    try:
        rec_upper = parse_decimal_enclosure(cert["result"]["upper"], cert["result"]["upper"])
        rec_lower = None if lower is None else parse_decimal_enclosure(lower, lower)
        rec_inputs = {k: Enclosure.from_dict(v) for k, v in cert["inputs"].items()}
        read_srepr(cert["formula"]["srepr"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CertificateError(f"certificate entries are malformed: {exc}") from None

    formula, fresh = spec.rebuild(ctx)
    if formula.srepr() != cert["formula"]["srepr"]:
        return Verdict(False, "the recorded formula differs from the one derived for this model")
    if set(fresh) != set(rec_inputs):
        return Verdict(False, f"recorded inputs {sorted(rec_inputs)} differ from the formula's "
                              f"inputs {sorted(fresh)}")
    aggregate = cert["result"].get("aggregate", "formula")
    if aggregate == "formula":
        chosen: dict[str, Enclosure] = {}
        for name, f in fresh.items():
            rec = rec_inputs[name]
            chosen[name] = rec if (rec.contains(f.lower) and rec.contains(f.upper)) else f
        value = formula.enclose({k: v for k, v in chosen.items()})
    elif aggregate in ("mean", "max") and spec.rebuild_pointwise is not None:
        pformula, per_point = spec.rebuild_pointwise(ctx)
        if pformula.srepr() != formula.srepr():  # pragma: no cover - one derivation
            return Verdict(False, "the per-point formula differs from the derived one")
        arr = pformula.enclose_array(per_point)
        value = arr.mean() if aggregate == "mean" else arr.upper_max()
    else:
        raise CertificateError(f"result aggregate {aggregate!r} is not known for "
                               f"{cert['quantity']}; expected 'formula'"
                               + (" or 'mean', 'max'" if spec.rebuild_pointwise else ""))
    if compare(value.upper, "<=", rec_upper.lower) is not Truth.TRUE:
        return Verdict(False, f"recorded upper bound {cert['result']['upper']} is below the "
                              f"recomputed bound {value.upper_str(12)}", value)
    if rec_lower is not None:
        if spec.check_lower is None or not cert.get("witness"):
            return Verdict(False, "the certificate records a lower bound but no witness for it")
        try:
            got = spec.check_lower(ctx, cert["witness"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CertificateError(f"the certificate's witness is malformed: "
                                   f"{type(exc).__name__}: {exc}") from None
        if compare(got.lower, ">=", rec_lower.upper) is not Truth.TRUE:
            return Verdict(False, f"recorded lower bound {lower} is above what its witness "
                                  f"proves ({got.lower_str(12)})", value)
    local = cert["result"].get("local_upper")
    if local is not None:
        if spec.rebuild_local is None:
            return Verdict(False, f"the certificate records a local bound, which "
                                  f"{cert['quantity']} does not have")
        try:
            rec_local = parse_decimal_enclosure(local, local)
        except (TypeError, ValueError) as exc:
            raise CertificateError(f"certificate entry local_upper is malformed: {exc}") \
                from None
        got_local = spec.rebuild_local(ctx)
        if compare(got_local.upper, "<=", rec_local.lower) is not Truth.TRUE:
            return Verdict(False, f"recorded local bound {local} is below the recomputed "
                                  f"local bound {got_local.upper_str(12)}", value)
    return Verdict(True, f"certificate holds: {cert['quantity']} <= {cert['result']['upper']}"
                         + (f" and >= {lower}" if lower is not None else "")
                         + (f"; local bound <= {local}" if local is not None else ""), value)


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
