r"""The one list of bounds: every quantity symlip certifies, and what serves it.

:data:`BOUNDS` is the only place a bound is listed. ``symlip certify`` (its ``--wrt``
choices and the handler it calls), ``symlip derive`` (its ``--model-type`` / ``--wrt``
choices and the derivation it prints), ``symlip verify`` and
:mod:`symlip.certificate` (how a certificate of each quantity is re-checked) all read
it; nothing else names a bound module. Every reference is a ``"module:attribute"``
string, imported on first use, so ``import symlip`` and the ``symlip --help`` parser
import no bound module.

A :class:`Bound` entry holds

* ``quantity`` — the certificate kind (``BoundResult.quantity``), or ``None`` for a
  route that only refuses (no gradient bound for linear-spline networks);
* ``model_type`` and ``wrt`` — the ``--model-type`` and ``--wrt`` it serves;
* ``certify`` — ``"module:function"``, ``function(ctx: Context) -> BoundResult``, or
  ``None`` for a quantity another entry's handler produces (convolutional networks:
  :func:`~symlip.bounds.param.param_lipschitz` dispatches them);
* ``when`` — ``"module:function"``, ``function(model) -> bool``: this entry serves
  only the models it accepts (checked in table order, before the entry without one);
* ``spec`` — ``"module:NAME"`` of a :class:`QuantitySpec`: how ``verify`` rebuilds the
  formula and its certified inputs from the files and checks the lower-bound witness;
* ``derive`` — ``"module:function"``, ``function(options: dict) -> Derivation``: the
  derivation without weights (``symlip derive``).

Adding a bound is one new module (its bound function, ``certify_context(ctx)``, a
``QuantitySpec``) and one line in :data:`BOUNDS`; see ``docs/architecture-registry.md``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from symlip.errors import InputError

__all__ = [
    "BOUNDS",
    "Bound",
    "Context",
    "QuantitySpec",
    "certify",
    "derive",
    "load_context",
    "model_types",
    "quantities",
    "resolve",
    "route",
    "serves",
    "spec_of",
    "wrt_choices",
]


def resolve(ref: str) -> Any:
    """The attribute named by ``"module:attribute"`` (the module imported now)."""
    mod, _, name = ref.partition(":")
    return getattr(importlib.import_module(mod), name)


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
    """How to re-check a certificate of one quantity (the bound module's half; the
    relations themselves are :mod:`symlip.certificate`'s).

    Attributes:
        rebuild: ``rebuild(ctx) -> (formula, inputs)``: the formula and fresh certified
            input enclosures, computed from the model (no sampling, no lower bound).
        check_lower: ``check_lower(ctx, witness) -> Enclosure`` whose lower end is a
            certified lower bound, recomputed from the witness; ``None`` if the quantity
            records no lower bound.
        rebuild_pointwise: for quantities certified as an aggregate of per-data-point
            values of the formula (``result["aggregate"]`` is ``"mean"`` or ``"max"``):
            ``rebuild_pointwise(ctx) -> (formula, inputs)`` with per-point inputs
            (:class:`~symlip.arith.array.IntervalArray`) for ``formula.enclose_array``.
        rebuild_local: ``rebuild_local(ctx) -> Enclosure``: the local bound recomputed
            (its upper end is what ``result["local_upper"]`` must be); ``None``: no local
            bound.
        witness_row: ``(point, index)`` when the witness point ``witness[point]`` must be
            the data row ``witness[index]`` (the relation
            :func:`symlip.certificate.witness_data_row`); ``None`` otherwise.
        relations: further :class:`symlip.certificate.Relation` s of this kind, checked
            after the common ones (before ``lower = witness``).
        norm: the norm the quantity is stated in.
        aggregate: ``result["aggregate"]`` of this kind (``"formula"``, ``"mean"`` or
            ``"max"``), or a tuple of those a method may choose (each gives a different
            recomputed value, which the ``upper`` relation compares exactly).
        witness_kind: ``witness["kind"]`` of this kind's lower-bound witness.
        witness_offsets: witness fields that are offsets from the model's parameter vector
            at ``witness["indices"]``: written canonically (``fl(theta + v) - theta ==
            v``), so that one parameter point has one encoding.
        base_params: ``base_params(model) -> ndarray``: the parameter vector the offsets
            refer to.
        name: the quantity; ``fixed_options``: option -> the values a certificate of this
            kind may record. Both are filled from the :data:`BOUNDS` entry by
            :func:`spec_of` (a bound module leaves them out).
    """

    rebuild: Callable[[Context], tuple[Any, dict[str, Any]]]
    check_lower: Callable[[Context, Mapping[str, Any]], Any] | None = None
    rebuild_pointwise: Callable[[Context], tuple[Any, dict[str, Any]]] | None = None
    rebuild_local: Callable[[Context], Any] | None = None
    witness_row: tuple[str, str] | None = None
    relations: tuple[Any, ...] = ()
    norm: str = "l2"
    aggregate: str | tuple[str, ...] = "formula"
    witness_kind: str = "difference_quotient"
    witness_offsets: tuple[str, ...] = ()
    base_params: Callable[[Any], Any] | None = None
    name: str = ""
    fixed_options: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Bound:
    """One entry of :data:`BOUNDS` (see the module docstring for the fields)."""

    quantity: str | None
    model_type: str
    wrt: str
    certify: str | None
    spec: str | None = None
    derive: str | None = None
    when: str | None = None

    def accepts(self, model: Any) -> bool:
        """``True`` if this entry serves ``model`` (always, without ``when``)."""
        return self.when is None or bool(resolve(self.when)(model))


#: every bound, one line each; within one (model type, --wrt), the entries with a
#: ``when`` come first and are tried in order, the one without is the default
BOUNDS: tuple[Bound, ...] = (
    Bound("input_lipschitz", "feedforward", "input",
          certify="symlip.bounds.lipsdp:certify_context",
          spec="symlip.bounds.input:SPEC"),
    Bound("param_lipschitz_spline", "feedforward", "params",
          when="symlip.bounds.spline_param:has_splines",
          certify="symlip.bounds.spline_param:certify_context",
          spec="symlip.bounds.spline_param:SPEC"),
    # convolutional networks: param_lipschitz dispatches them to conv_param (no route)
    Bound("param_lipschitz_conv", "feedforward", "params", certify=None,
          spec="symlip.bounds.conv_param:SPEC"),
    Bound("param_lipschitz", "feedforward", "params",
          certify="symlip.bounds.param:certify_context",
          spec="symlip.bounds.param:SPEC",
          derive="symlip.bounds.derive:derive_params"),
    Bound(None, "feedforward", "gradient",  # K2 = infinity: refused with the reason
          when="symlip.bounds.spline_param:has_splines",
          certify="symlip.bounds.spline_param:refuse_gradient_context"),
    Bound("grad_lipschitz_conv", "feedforward", "gradient",  # kernels are the parameters
          when="symlip.bounds.conv_param:uses_kernel_view",
          certify="symlip.bounds.conv_grad:certify_context",
          spec="symlip.bounds.conv_grad:SPEC"),
    Bound("grad_lipschitz", "feedforward", "gradient",
          certify="symlip.bounds.smooth:certify_context",
          spec="symlip.bounds.smooth:SPEC",
          derive="symlip.bounds.derive:derive_gradient"),
    Bound("cde_param_lipschitz", "cde", "params",
          certify="symlip.cde:certify_params_context",
          spec="symlip.cde:PARAM_SPEC",
          derive="symlip.cde:derive_params"),
    Bound("cde_grad_lipschitz", "cde", "gradient",
          certify="symlip.cde:certify_gradient_context",
          spec="symlip.cde:GRAD_SPEC",
          derive="symlip.cde:derive_gradient"),
)


def _unique(values: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def model_types(*, derive: bool = False) -> tuple[str, ...]:
    """The model types with a bound (with a derivation, if ``derive``), in table order."""
    return _unique(b.model_type for b in BOUNDS if not derive or b.derive)


def wrt_choices(*, derive: bool = False) -> tuple[str, ...]:
    """The ``--wrt`` values with a bound (with a derivation, if ``derive``)."""
    return _unique(b.wrt for b in BOUNDS if not derive or b.derive)


def quantities() -> tuple[str, ...]:
    """Every certificate kind (quantity) in the table."""
    return _unique(b.quantity for b in BOUNDS if b.quantity is not None)


def serves(model_type: str, wrt: str) -> bool:
    """``True`` if some entry certifies (model type, wrt)."""
    return any(b.model_type == model_type and b.wrt == wrt and b.certify is not None
               for b in BOUNDS)


def route(model_type: str, wrt: str, model: Any = None) -> Bound:
    """The entry that certifies ``wrt`` for ``model`` of ``model_type``: the first whose
    ``when`` accepts the model, else the default. With ``model=None``, the default.

    Raises:
        InputError: no entry serves (model type, wrt).
    """
    entries = [b for b in BOUNDS if b.model_type == model_type and b.wrt == wrt
               and b.certify is not None]
    if not entries:
        raise InputError(f"--wrt {wrt} is not available for --model-type {model_type}")
    if model is not None:
        for b in entries:
            if b.when is not None and b.accepts(model):
                return b
    return next(b for b in entries if b.when is None)


def _by_quantity(quantity: str) -> Bound | None:
    return next((b for b in BOUNDS if b.quantity == quantity), None)


def spec_of(quantity: str) -> QuantitySpec | None:
    """The :class:`QuantitySpec` of ``quantity`` with its name and fixed options (the
    entry's ``wrt`` and ``model_type``), or ``None`` for an unknown quantity."""
    b = _by_quantity(quantity)
    if b is None or b.spec is None:
        return None
    return replace(resolve(b.spec), name=quantity,
                   fixed_options={"wrt": (b.wrt,), "model_type": (b.model_type,)})


def load_context(model_path: str, options: dict[str, Any], data_path: str | None = None,
                 files: Mapping[str, str] | None = None) -> Context:
    """Load the model (of ``options["model_type"]``, default feed-forward), the data and
    the arrays of ``files`` (role -> ``.npy`` path: ``targets``, ``control``) into a
    :class:`Context`."""
    from symlip.models.io import load_array, load_model

    files = dict(files or {})
    model = load_model(model_path, options.get("model_type", "feedforward"),
                       options.get("activation"), options.get("param"))
    data = load_array(data_path, "data") if data_path else None
    if data is not None and getattr(model, "input_shape", None) is not None:
        from symlip.models.onnx import flatten_data  # (n, C, H, W) data of ONNX models

        data = flatten_data(model, data)
    extra = {role: load_array(p, role) for role, p in files.items()}
    return Context(model=model, model_path=model_path, data=data, data_path=data_path,
                   options=options, files=files, extra=extra)


def certify(ctx: Context) -> Any:
    """The certified bound ``ctx.options["wrt"]`` (default ``"input"``) of ``ctx.model``,
    by the handler :func:`route` picks; with ``options["target"]`` the verdict
    (certified / refuted / undecided) is added to ``result.extra``.

    Returns:
        :class:`~symlip.bounds.result.BoundResult`.
    """
    opts = ctx.options
    b = route(opts.get("model_type", "feedforward"), opts.get("wrt", "input"), ctx.model)
    try:
        handler = resolve(b.certify)
    except (ImportError, AttributeError):
        raise InputError(f"--wrt {b.wrt} for --model-type {b.model_type} is not "
                         "implemented in this version") from None
    result = handler(ctx)
    target = opts.get("target")
    if target is not None:
        # every quantity: certified upper <= target, or certified lower > target
        from symlip.arith.verdict import lipschitz_verdict

        result.extra.update(lipschitz_verdict(result, target))
    return result


def derive(options: Mapping[str, Any]) -> Any:
    """The derivation without weights for ``options["model_type"]`` and
    ``options["wrt"]`` (a :class:`~symlip.symbolic.derivation.Derivation`)."""
    mt, wrt = options.get("model_type", "feedforward"), options.get("wrt", "params")
    b = next((b for b in BOUNDS if b.model_type == mt and b.wrt == wrt and b.derive), None)
    if b is None:
        raise InputError(f"--wrt {wrt} is not available for --model-type {mt}")
    try:
        func = resolve(b.derive)
    except (ImportError, AttributeError):
        raise InputError(f"symlip derive for --model-type {mt} is not "
                         "implemented in this version") from None
    return func(dict(options))
