r"""Model files: PyTorch ``nn.Sequential`` state dicts in ``.npz`` or ``.safetensors``.

A file holds, for each Linear module at index ``i`` of the Sequential, the tensors
``<i>.weight`` (shape out x in) and ``<i>.bias`` (shape out).  A third tensor
``<i>.residual`` holding ``[h]`` (shape ``(1,)``) makes module ``i`` a residual block
$a \mapsto a + h\sigma(Wa + b)$ (square weight; :class:`~symlip.models.network.ResidualLayer`).
Layers are ordered by the integer ``i``; gaps are allowed (activation modules take
indices but have no tensors).
A common dotted prefix shared by every key (``net.0.weight``, ``net.2.weight``...) is
stripped.  float16, float32 and float64 tensors are read and converted *exactly* to
float64; every other dtype (bfloat16, integers, complex, bool) is refused.

The activation is not part of a state dict.  Pass it to :func:`load`, or record it in
the file's metadata: in ``.safetensors`` the ``__metadata__`` header (string -> string),
in ``.npz`` an entry ``__metadata__`` holding a JSON object as a 0-d string array.
Recognised metadata keys: ``"activation"`` (a registry name) and
``"activation_param"`` (its parameter as an exact decimal string), or
``"activations"`` (a JSON list of ``{"name": ..., "param": ...}``, one per hidden
layer).  Other metadata keys (``"format": "pt"`` written by PyTorch) are kept and
ignored.  The full format is in ``docs/model-files.md``.

Every malformed file raises one :class:`~symlip.errors.ModelFileError` whose message
names the file and the offending tensor or layers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from symlip._files import atomic_target
from symlip.activations.registry import AbstractActivation, Activation, get_activation
from symlip.errors import InputError, ModelFileError, SymlipError
from symlip.models.network import DenseLayer, Network, ResidualLayer, check_chain, check_real_array

__all__ = [
    "ModelFile",
    "load",
    "load_array",
    "load_layers",
    "load_model",
    "read_model",
    "save",
    "sha256_file",
    "MODEL_SUFFIXES",
]

#: File extensions symlip reads and writes.
MODEL_SUFFIXES = (".npz", ".safetensors")

#: Tensor-name suffixes per module kind: ``kind -> (required, optional)``.  A module
#: (one integer index of the Sequential) is of the kind whose suffixes it holds.
#: Linear-spline activation modules will add e.g. ``"spline": ({"coefficients",
#: "grid"}, set())`` here, with a builder in :func:`_build_modules`.
MODULE_KINDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # "<i>.residual" = [h] marks a residual block a -> a + h sigma(W a + b)
    "linear": (frozenset({"weight", "bias"}), frozenset({"residual"})),
    # linear-spline activation modules (symlip.activations.spline, docs/splines.md)
    "spline": (frozenset({"coefficients", "grid"}), frozenset()),
}

_SAFETENSORS_DTYPES = {"F16": "float16", "F32": "float32", "F64": "float64"}
_KEY_RE = re.compile(r"^(?P<prefix>(?:[^.]+\.)*?)(?P<index>\d+)\.(?P<suffix>[A-Za-z_]\w*)$")
_METADATA_KEY = "__metadata__"


@dataclass(frozen=True)
class ModelFile:
    """The contents of a model file.

    Attributes:
        layers: the layers in Sequential order (:class:`~symlip.models.network.DenseLayer` or,
            with a ``<i>.residual`` tensor, :class:`~symlip.models.network.ResidualLayer`),
            named by their index (``"0"``...).
        metadata: the file's string metadata (may be empty).
        path: the file read.
        format: ``"npz"`` or ``"safetensors"``.
    """

    layers: tuple[DenseLayer | ResidualLayer, ...]
    metadata: dict[str, str] = field(default_factory=dict)
    path: str = ""
    format: str = ""
    splines: dict[int, Any] = field(default_factory=dict)  # spline modules by index

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [layer.shape for layer in self.layers]


# ----------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 digest of a file's bytes (certificates record it).

    Raises:
        ModelFileError: the file does not exist or cannot be read.
    """
    p = _existing(path)
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _existing(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"model file not found: {str(p)!r}")
    if p.is_dir():
        raise ModelFileError(f"model file {str(p)!r} is a directory, not a file")
    return p


def _sniff(p: Path) -> str:
    """``"npz"``, ``"safetensors"``, or an error naming what the file looks like."""
    try:
        with p.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {str(p)!r}: {exc.strerror}") from None
    ext = p.suffix.lower()
    if ext == ".npz":
        if head.startswith(b"\x93NUMPY"):
            raise ModelFileError(
                f"{str(p)!r} is a single .npy array, not an .npz archive of a state dict "
                "(save with numpy.savez(path, **state_dict))"
            )
        if not head.startswith(b"PK"):
            raise ModelFileError(f"{str(p)!r} is not an .npz archive (no zip signature)")
        return "npz"
    if ext == ".safetensors":
        return "safetensors"
    if head.startswith(b"PK"):
        return "npz"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    raise ModelFileError(
        f"{str(p)!r} is not a model file symlip reads: expected a .npz or .safetensors "
        "state dict"
    )


def _read_safetensors(p: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(p), framework="numpy") as f:
            meta = dict(f.metadata() or {})
            tensors: dict[str, np.ndarray] = {}
            for key in f.keys():
                dtype = f.get_slice(key).get_dtype()
                if dtype not in _SAFETENSORS_DTYPES:
                    hint = (" (convert it exactly with tensor.float() before saving)"
                            if dtype == "BF16" else "")
                    raise ModelFileError(
                        f"{str(p)!r}: tensor {key!r} has unsupported dtype {dtype}; expected "
                        f"F16, F32 or F64{hint}"
                    )
                tensors[key] = f.get_tensor(key)
    except SymlipError:
        raise
    except Exception as exc:  # SafetensorError and friends: not a readable file
        raise ModelFileError(
            f"{str(p)!r} is not a readable safetensors model file ({_one_line(exc)})"
        ) from None
    return tensors, meta


def _read_npz(p: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    tensors: dict[str, np.ndarray] = {}
    meta: dict[str, str] = {}
    try:
        # our own file handle: np.load leaves its own open when the archive is broken
        with open(p, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            for key in z.files:
                try:
                    arr = z[key]
                except ValueError as exc:
                    if "allow_pickle" in str(exc):
                        raise ModelFileError(
                            f"{str(p)!r}: entry {key!r} is a pickled object array; symlip "
                            "reads numeric arrays only"
                        ) from None
                    raise
                if key == _METADATA_KEY:
                    meta = _parse_npz_metadata(p, arr)
                else:
                    tensors[key] = arr
    except SymlipError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise ModelFileError(
            f"{str(p)!r} is not a readable .npz model file ({_one_line(exc)})"
        ) from None
    return tensors, meta


def _parse_npz_metadata(p: Path, arr: np.ndarray) -> dict[str, str]:
    if arr.dtype.kind != "U" or arr.ndim != 0:
        raise ModelFileError(f"{str(p)!r}: {_METADATA_KEY!r} must be a 0-d string array "
                             "holding a JSON object")
    try:
        meta = json.loads(str(arr))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{str(p)!r}: {_METADATA_KEY!r} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ModelFileError(f"{str(p)!r}: {_METADATA_KEY!r} must be a JSON object of strings")
    return meta


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _group(p: Path, tensors: Mapping[str, np.ndarray]) -> list[tuple[int, dict[str, str]]]:
    """Group keys by Sequential index: ``[(index, {suffix: key})]`` sorted by index."""
    parsed: dict[str, tuple[str, int, str]] = {}
    bad = []
    for key in tensors:
        m = _KEY_RE.match(key)
        if m is None:
            bad.append(key)
        else:
            parsed[key] = (m["prefix"], int(m["index"]), m["suffix"])
    if not tensors or (bad and not parsed):
        shown = ", ".join(repr(k) for k in list(tensors)[:5]) or "none"
        raise ModelFileError(
            f"{str(p)!r} is not a model: it holds no '<i>.weight' / '<i>.bias' tensors of an "
            f"nn.Sequential state dict (keys: {shown})"
        )
    known = {s for req, opt in MODULE_KINDS.values() for s in req | opt}
    bad += [k for k, (_, _, s) in parsed.items() if s not in known]
    if bad:
        shown = ", ".join(repr(k) for k in sorted(bad)[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ModelFileError(
            f"{str(p)!r}: unknown key(s) {shown}{more}; expected only '<i>.weight' and "
            "'<i>.bias' of Linear modules (known suffixes: "
            f"{', '.join(sorted(known))})"
        )
    prefixes = sorted({pre for pre, _, _ in parsed.values()})
    if len(prefixes) > 1:
        raise ModelFileError(
            f"{str(p)!r}: keys have different prefixes {prefixes}; expected one nn.Sequential"
        )
    groups: dict[int, dict[str, str]] = {}
    for key, (_, idx, suffix) in parsed.items():
        groups.setdefault(idx, {})[suffix] = key
    return sorted(groups.items())


def _kind(p: Path, idx: int, group: Mapping[str, str]) -> str:
    have = set(group)
    for kind, (req, opt) in MODULE_KINDS.items():
        if have & req and have <= req | opt:
            missing = req - have
            if missing:
                first = sorted(group.values())[0]
                need = ", ".join(f"'{idx}.{s}'" for s in sorted(missing))
                what = ("a Linear layer with a bias is required (save a bias-free layer with "
                        "a zero bias)" if missing == {"bias"} else "the module is incomplete")
                raise ModelFileError(
                    f"{str(p)!r}: module {idx} has {first!r} but no {need}; {what}"
                )
            return kind
    raise ModelFileError(  # pragma: no cover - unknown suffixes are caught before
        f"{str(p)!r}: module {idx} has an unrecognised set of tensors {sorted(group)}"
    )


def _tensor(p: Path, key: str, arr: np.ndarray, ndim: int) -> np.ndarray:
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if not (kind == "f" and size in (2, 4, 8)):
        raise ModelFileError(
            f"{str(p)!r}: tensor {key!r} has unsupported dtype {arr.dtype}; expected "
            "float16, float32 or float64"
        )
    out = check_real_array(arr, f"{str(p)!r}: tensor {key!r}", ModelFileError)
    if out.ndim != ndim or 0 in out.shape:
        what = "a 2-D (out x in) matrix" if ndim == 2 else "a 1-D vector"
        raise ModelFileError(
            f"{str(p)!r}: tensor {key!r} has shape {tuple(out.shape)}; expected {what}"
        )
    return out


def _build_modules(p: Path, tensors: Mapping[str, np.ndarray],
                   groups: Sequence[tuple[int, dict[str, str]]]) -> list[DenseLayer]:
    layers: list[DenseLayer] = []
    for idx, group in groups:
        kind = _kind(p, idx, group)
        if kind == "linear":
            wk, bk = group["weight"], group["bias"]
            w = _tensor(p, wk, tensors[wk], 2)
            b = _tensor(p, bk, tensors[bk], 1)
            if b.shape != (w.shape[0],):
                raise ModelFileError(
                    f"{str(p)!r}: tensor {bk!r} has shape {tuple(b.shape)}, but {wk!r} has "
                    f"shape {tuple(w.shape)} (expected a bias of shape ({w.shape[0]},))"
                )
            if "residual" in group:
                layers.append(_residual_layer(p, idx, w, b, group["residual"],
                                              tensors[group["residual"]], wk))
            else:
                layers.append(DenseLayer(w, b, str(idx)))
    return layers


def _residual_layer(p: Path, idx: int, w: np.ndarray, b: np.ndarray, hk: str,
                    harr: np.ndarray, wk: str) -> ResidualLayer:
    """The residual block of module ``idx`` (its ``<i>.residual`` tensor is ``[h]``)."""
    kind, size = harr.dtype.kind, harr.dtype.itemsize
    if not (kind == "f" and size in (2, 4, 8)):
        raise ModelFileError(
            f"{str(p)!r}: tensor {hk!r} has unsupported dtype {harr.dtype}; expected the "
            "step [h] as float16, float32 or float64"
        )
    h = check_real_array(harr, f"{str(p)!r}: tensor {hk!r} (the residual step h)",
                         ModelFileError)
    if h.shape not in ((1,), ()):
        raise ModelFileError(
            f"{str(p)!r}: tensor {hk!r} has shape {tuple(h.shape)}; expected shape (1,) "
            "holding the residual step [h]"
        )
    if w.shape[0] != w.shape[1]:
        raise ModelFileError(
            f"{str(p)!r}: tensor {wk!r} of residual block {idx} has shape {tuple(w.shape)}; "
            "a residual block a -> a + h sigma(W a + b) needs a square weight (n, n)"
        )
    return ResidualLayer(w, b, str(idx), float(h.reshape(-1)[0]))


def read_model(path: str | os.PathLike[str]) -> ModelFile:
    """Read the layers and metadata of a model file (no activation needed).

    Args:
        path: a ``.npz`` or ``.safetensors`` file (other extensions are sniffed).

    Returns:
        A :class:`ModelFile`.

    Raises:
        ModelFileError: missing file, not a model, unknown keys, missing bias, bad
            shapes or shape chain (both layers named), unsupported dtype, NaN/Inf
            (tensor named), unreadable or truncated file.
    """
    p = _existing(path)
    if p.suffix.lower() == ".onnx":  # an ONNX graph (symlip.models.onnx)
        from symlip.models.onnx import read_onnx

        return ModelFile(tuple(read_onnx(p)[0]), {}, str(p), "onnx")
    fmt = _sniff(p)
    tensors, meta = _read_safetensors(p) if fmt == "safetensors" else _read_npz(p)
    groups = _group(p, tensors)
    layers = _build_modules(p, tensors, groups)
    from symlip.activations.spline import read_spline_modules

    splines = read_spline_modules(str(p), tensors, groups)
    if not layers:
        raise ModelFileError(f"{str(p)!r} is not a model: it holds no Linear layers")
    if isinstance(layers[-1], ResidualLayer):
        raise ModelFileError(
            f"{str(p)!r}: the last module {layers[-1].name} is a residual block "
            f"('{layers[-1].name}.residual'); expected a linear read-out (a Linear module "
            "without '.residual') last"
        )
    if splines and any(isinstance(layer, ResidualLayer) for layer in layers):
        raise ModelFileError(
            f"{str(p)!r}: spline activation modules in a network with residual blocks are "
            "not supported"
        )
    try:
        check_chain(layers, ModelFileError)
    except ModelFileError as exc:
        raise ModelFileError(f"{str(p)!r}: {exc}") from None
    return ModelFile(tuple(layers), meta, str(p), fmt, splines)


def load_layers(path: str | os.PathLike[str]) -> list[DenseLayer]:
    """The dense layers of a model file, in order (see :func:`read_model`)."""
    return list(read_model(path).layers)


def _recorded_activations(mf: ModelFile) -> Any:
    meta = mf.metadata
    try:
        if "activations" in meta:
            items = json.loads(meta["activations"])
            return [get_activation(d["name"], d.get("param")) for d in items]
        if "activation" in meta:
            return get_activation(meta["activation"], meta.get("activation_param"))
    except SymlipError as exc:
        raise ModelFileError(f"{mf.path!r}: bad activation in the metadata: {exc}") from None
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise ModelFileError(
            f"{mf.path!r}: metadata 'activations' must be a JSON list of "
            f"{{\"name\": ..., \"param\": ...}} ({_one_line(exc)})"
        ) from None
    return None


def load(
    path: str | os.PathLike[str],
    activation: str | AbstractActivation | Sequence[str | AbstractActivation] | None = None,
    param: Any = None,
) -> Network:
    """Load a network from a ``.npz`` / ``.safetensors`` state dict, or an ``.onnx`` graph
    (:func:`symlip.models.onnx.load_onnx`).

    Args:
        path: the model file.
        activation: the hidden-layer activation (registry name or object, or one per
            hidden layer).  If ``None``, the activation recorded in the file's metadata
            is used; an explicit argument overrides the metadata.
        param: parameter of a parametrised activation (e.g. ``"0.01"`` for leaky ReLU).

    Returns:
        The :class:`~symlip.models.network.Network`; layers are named by their Sequential index.

    Raises:
        ModelFileError: a malformed file (see :func:`read_model`).
        InputError: no activation given and none recorded, for a network with hidden
            layers.
        UnknownActivationError: an unknown activation name.

    Examples:
        >>> import tempfile, os
        >>> net = Network.from_arrays([np.ones((3, 2)), np.ones((1, 3))],
        ...                           [np.zeros(3), np.zeros(1)], "tanh")
        >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        >>> save(net, path)
        >>> load(path).widths
        [2, 3, 1]
    """
    if Path(path).suffix.lower() == ".onnx":  # activations come from the graph
        if activation is not None or param is not None:
            raise InputError(f"{str(path)!r} is an ONNX graph with its own activations; do "
                             f"not pass an activation (got {activation!r})")
        from symlip.models.onnx import load_onnx

        return load_onnx(path)
    mf = read_model(path)
    depth = len(mf.layers)
    if mf.splines:  # the activations are spline modules of the file (symlip.activations.spline)
        if activation is not None or param is not None:
            raise InputError(f"{mf.path!r} defines its spline activations; do not pass an "
                             f"activation (got {activation!r})")
        from symlip.activations.spline import splines_for_layers

        activation = splines_for_layers(mf.path, mf.layers, mf.splines)
    elif activation is None:
        if param is not None:
            raise InputError(f"param={param!r} given without an activation")
        activation = _recorded_activations(mf)
        if activation is None and depth > 1:
            raise InputError(
                f"{mf.path!r} does not record its activation; pass one (e.g. "
                "activation='tanh', or --activation tanh on the command line)"
            )
    elif param is not None and not isinstance(activation, (str, AbstractActivation)):
        raise InputError("param applies to a single activation name, not a list")
    elif param is not None:
        activation = get_activation(activation, param)
    if depth == 1:
        activation = None
    return Network(mf.layers, activation)


def load_model(path: str | os.PathLike[str], model_type: str = "feedforward",
               activation: Any = None, param: Any = None) -> Any:
    """Load a model file of ``model_type`` (a key of :data:`symlip.models.MODEL_LOADERS`).

    Raises:
        InputError: an unknown model type.
    """
    import importlib

    from symlip.models import MODEL_LOADERS

    if model_type not in MODEL_LOADERS:
        raise InputError(f"model type {model_type!r} is unknown; expected one of "
                         f"{sorted(MODEL_LOADERS)}")
    mod, _, name = MODEL_LOADERS[model_type].partition(":")
    return getattr(importlib.import_module(mod), name)(path, activation, param)


def load_array(path: str | os.PathLike[str], what: str) -> np.ndarray:
    """Read a .npy array (data, targets, a control path, spline coefficients) as float64,
    with a clear error (naming ``what`` and the file) for non-arrays, empty files, empty
    arrays, non-real dtypes and non-finite values."""
    try:
        a = np.load(path, allow_pickle=False)
    except EOFError:  # a zero-byte file (np.load reads no magic string)
        raise InputError(f"{what} file {path} is empty (0 bytes); expected a .npy "
                         "array") from None
    except ValueError as exc:
        raise InputError(f"{what} file {path} is not a .npy array ({exc})") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise InputError(f"{what} file {path} cannot be read as .npy ({exc})") from None
    if not isinstance(a, np.ndarray):
        raise InputError(f"{what} file {path} holds several arrays; expected one .npy array")
    if a.dtype.kind not in "fiu":
        raise InputError(f"{what} file {path} has dtype {a.dtype}; expected real numbers")
    if a.size == 0:
        raise InputError(f"{what} file {path} holds an empty array of shape {a.shape}; "
                         "expected at least one value")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise InputError(f"{what} file {path} has a non-finite value {a[idx]} at index {idx}")
    return a


# ----------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------


def _param_str(p: Any) -> str | None:
    if p is None:
        return None
    if isinstance(p, float):
        return format(Decimal(p), "f")  # the exact value of the double
    return str(p)


def _activation_metadata(net: Network) -> dict[str, str]:
    acts = net.activations
    if not acts:
        return {}
    for a in acts:
        if not isinstance(a, Activation):
            raise InputError(
                f"cannot record activation {a!r} in a model file: only registry "
                "activations are supported"
            )
    try:
        common = net.activation
    except InputError:
        common = None
    if common is not None:
        md = {"activation": common.name}
        ps = _param_str(getattr(common, "param", None))
        if ps is not None:
            md["activation_param"] = ps
        return md
    return {"activations": json.dumps(
        [{"name": a.name, "param": _param_str(getattr(a, "param", None))} for a in acts]
    )}


def _state_keys(net: Network) -> list[str]:
    names = net.layer_names
    if all(n.isdigit() for n in names) and all(
        int(a) < int(b) for a, b in zip(names, names[1:], strict=False)
    ):
        return names
    return [str(2 * k) for k in range(net.depth)]


def save(
    network: Network,
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``network`` as a PyTorch-style state dict (``.npz`` or ``.safetensors``).

    Keys are ``<i>.weight`` / ``<i>.bias`` with ``i`` the layer names when they are
    increasing integers, else ``0, 2, 4, ...`` (a Sequential of Linear and activation
    modules), and ``<i>.residual`` = ``[h]`` for a residual block.  Tensors are float64.
    The activation is recorded in the metadata (see the module docstring) together with
    ``metadata``.  The file is written to a
    temporary name and renamed: never half-written.

    Raises:
        InputError: unknown extension, non-string metadata, an activation that cannot
            be recorded.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in MODEL_SUFFIXES:
        raise InputError(f"model file name {str(p)!r} must end in .npz or .safetensors")
    md = dict(metadata or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in md.items()):
        raise InputError("metadata must map strings to strings")
    from symlip.activations.spline import spline_state

    keys = _state_keys(network)
    spl = spline_state(network, keys)  # spline activations are stored as tensors
    tensors: dict[str, np.ndarray] = {}
    if spl is None:
        md.update(_activation_metadata(network))
    else:
        keys, tensors = spl
    for key, layer in zip(keys, network.layers, strict=False):
        tensors[f"{key}.weight"] = np.ascontiguousarray(layer.weight, dtype=np.float64)
        tensors[f"{key}.bias"] = np.ascontiguousarray(layer.bias, dtype=np.float64)
        if isinstance(layer, ResidualLayer):
            tensors[f"{key}.residual"] = np.array([layer.step], dtype=np.float64)
    with atomic_target(p) as tmp:
        if ext == ".safetensors":
            from safetensors.numpy import save_file

            save_file(tensors, str(tmp), metadata=md or None)
        else:
            extra = {_METADATA_KEY: np.array(json.dumps(md))} if md else {}
            with open(tmp, "wb") as fh:
                np.savez(fh, **tensors, **extra)
