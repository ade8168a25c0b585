r"""ONNX import: a chain of affine maps and activations as a :class:`~symlip.models.network.Network`.

``load_onnx(path)`` reads the graph with the ``onnx`` package (``pip install
'symlip[onnx]'``) and walks it in order, keeping one *data* tensor (the network's
running activation) and constants.  Supported operators:

* affine: ``Gemm``, ``MatMul`` (+ ``Add``), ``Conv`` (pads, strides, dilations, groups,
  ``auto_pad``), ``AveragePool`` (a depthwise convolution; ``count_include_pad=0``
  with pads divides by the true counts);
* activations: ``Relu``, ``LeakyRelu``, ``Tanh``, ``Sigmoid``, ``Softplus``, ``Elu``,
  ``Gelu`` (exact erf form);
* shapes: ``Flatten``, ``Reshape`` (with the ``Shape``, ``Gather``, ``Unsqueeze``,
  ``Concat`` subgraph PyTorch exports for ``x.view(x.size(0), -1)``), ``Identity``,
  ``Dropout`` (inference: identity), ``Constant``, ``Cast`` of constants;
* elementwise ``Sub``, ``Div``, ``Mul``, ``Add`` with a constant: a diagonal affine map
  folded into the neighbouring affine layer (the previous one when no activation lies
  between, else the next one), and ``BatchNormalization`` (inference form) likewise.

Folding multiplies and adds doubles: the analysed network holds the folded weights and
biases as float64 (each entry within a few roundings of the exact value computed from
the file's numbers, ~1e-16 relative, far below the float32 arithmetic the model runs
in); ``Gemm`` with
``alpha = beta = 1``, ``MatMul``, ``Conv``, bias ``Add`` and every activation enter
exactly.  Two affine operators in a row become two layers joined by the identity
activation (no product is formed).  Convolutions become
:class:`~symlip.models.conv.ConvLayer` s (the explicit matrix on the traced input shape).

Anything else is refused with one :class:`~symlip.errors.ModelFileError` naming the
node and its op type.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symlip.errors import InputError, ModelFileError
from symlip.models.network import DenseLayer, Network

__all__ = ["load_onnx", "read_onnx", "SUPPORTED_OPS", "flatten_data"]

_ACTIVATIONS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus",
                "LeakyRelu": "leaky_relu", "Elu": "elu", "Gelu": "gelu"}
_SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Concat", "Constant", "Cast", "Squeeze",
              "Identity", "Dropout"}
#: operator types the importer understands
SUPPORTED_OPS = tuple(sorted({"Gemm", "MatMul", "Conv", "AveragePool", "Flatten", "Reshape",
                              "Sub", "Div", "Mul", "Add", "BatchNormalization",
                              *_ACTIVATIONS, *_SHAPE_OPS}))


@dataclass
class _Affine:
    """A pending affine layer ``z = W a + b`` (explicit), with its convolution view."""

    weight: np.ndarray
    bias: np.ndarray
    conv: Any = None  # (kernel, kernel_bias, geometry) while it is still a convolution
    node: str = ""
    derived: str = ""  # why the entries of weight are not the file's parameters

    def layer(self, name: str) -> DenseLayer:
        if self.conv is not None:
            from symlip.models.conv import ConvLayer

            k, kb, geom = self.conv
            return ConvLayer.from_kernel(k, kb, geom, name)
        return DenseLayer(self.weight, self.bias, name)


class _Importer:
    def __init__(self, path: str, model: Any) -> None:
        from onnx import numpy_helper

        self.path = path
        self.graph = model.graph
        self.const: dict[str, np.ndarray] = {}
        for init in self.graph.initializer:
            self.const[init.name] = numpy_helper.to_array(init)
        self.numpy_helper = numpy_helper
        inputs = [i for i in self.graph.input if i.name not in self.const]
        if len(inputs) != 1:
            raise ModelFileError(f"{path!r}: expected one graph input, found "
                                 f"{[i.name for i in inputs]}")
        dims = inputs[0].type.tensor_type.shape.dim
        shape = []
        for k, d in enumerate(dims):
            if d.HasField("dim_value"):
                shape.append(int(d.dim_value))
            elif k == 0:
                shape.append(1)  # a symbolic batch dimension
            else:
                raise ModelFileError(f"{path!r}: input {inputs[0].name!r} has a symbolic "
                                     f"dimension {d.dim_param!r} at axis {k}; symlip needs "
                                     "the input shape (export with a fixed shape)")
        if len(shape) < 2:
            raise ModelFileError(f"{path!r}: input {inputs[0].name!r} has shape {shape}; "
                                 "expected (batch, features...) ")
        self.input_name = inputs[0].name
        self.input_shape = tuple(shape[1:])
        self.data = inputs[0].name
        self.shape: tuple[int, ...] = self.input_shape
        self.done: list[tuple[DenseLayer, Any]] = []  # (layer, activation after it)
        self.pending: _Affine | None = None
        self.pre: tuple[np.ndarray, np.ndarray] | None = None  # x -> a * x + c on the data
        self.n_layers = 0
        self.derived: dict[str, str] = {}  # layer name -> why it is not plain weights

    # -- helpers ---------------------------------------------------------------------
    def fail(self, node: Any, why: str) -> ModelFileError:
        return ModelFileError(f"{self.path!r}: node {node.name or '(unnamed)'!r} "
                              f"(op {node.op_type}): {why}")

    def attrs(self, node: Any) -> dict[str, Any]:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def size(self) -> int:
        return int(np.prod(self.shape))

    def name(self) -> str:
        n = str(self.n_layers)
        self.n_layers += 1
        return n

    def close(self, activation: Any) -> None:
        """Finish the pending affine layer with ``activation`` after it."""
        assert self.pending is not None
        name = self.name()
        self.done.append((self.pending.layer(name), activation))
        if self.pending.derived:
            self.derived[name] = f"{self.pending.derived} (node {self.pending.node!r})"
        self.pending = None

    def start_affine(self, node: Any, weight: np.ndarray, bias: np.ndarray,
                     conv: Any = None, derived: str = "") -> None:
        """A new affine layer on the data; folds a pending input map ``a x + c``."""
        from symlip.activations.registry import get_activation

        if self.pending is not None:  # two affine maps in a row: identity between
            self.close(get_activation("identity"))
        if self.pre is not None:
            a, c = self.pre
            shift = weight @ c
            if conv is not None:
                k, kb, geom = conv
                per_channel = a.reshape(geom.in_shape).reshape(geom.in_shape[0], -1)
                if np.all(per_channel == per_channel[:, :1]) and not np.any(c):
                    scale = per_channel[:, 0]
                    cg = geom.in_shape[0] // geom.groups
                    og = geom.out_channels // geom.groups
                    ch = (np.arange(geom.out_channels)[:, None] // og) * cg + np.arange(cg)
                    k = k * scale[ch][:, :, None, None]
                    conv = (k, kb, geom)
                    from symlip.models.conv import conv_matrix

                    weight = conv_matrix(k, geom)
                else:
                    conv = None
                    weight = weight * a[None, :]
            else:
                weight = weight * a[None, :]
            bias = bias + shift
            if np.any(a != 1.0):
                derived = derived or "weights scaled by a folded constant"
            self.pre = None
        if conv is not None:
            derived = derived or "a convolution (its matrix repeats kernel entries)"
        self.pending = _Affine(np.asarray(weight, float), np.asarray(bias, float), conv,
                               node.name or node.op_type, derived)

    def elementwise(self, node: Any, a: np.ndarray, c: np.ndarray) -> None:
        """The data becomes ``a * data + c`` (a, c broadcast to the data's shape)."""
        a = np.broadcast_to(np.asarray(a, float), self.shape).reshape(-1).copy()
        c = np.broadcast_to(np.asarray(c, float), self.shape).reshape(-1).copy()
        if self.pending is not None:  # fold into the previous affine layer
            p = self.pending
            if p.conv is not None:
                k, kb, geom = p.conv
                oc = geom.out_channels
                ar, cr = a.reshape(oc, -1), c.reshape(oc, -1)
                if np.all(ar == ar[:, :1]) and np.all(cr == cr[:, :1]):
                    k2 = k * ar[:, 0][:, None, None, None]
                    kb2 = kb * ar[:, 0] + cr[:, 0]
                    from symlip.models.conv import ConvLayer

                    lay = ConvLayer.from_kernel(k2, kb2, geom)
                    self.pending = _Affine(lay.weight, lay.bias, (k2, kb2, geom), p.node,
                                           p.derived)
                    return
            why = p.derived or ("weights scaled by a folded constant" if np.any(a != 1.0)
                                else "")
            self.pending = _Affine(p.weight * a[:, None], p.bias * a + c, None, p.node, why)
            return
        if self.pre is None:
            self.pre = (a, c)
        else:
            a0, c0 = self.pre
            self.pre = (a0 * a, c0 * a + c)

    # -- the walk --------------------------------------------------------------------
    def run(self) -> tuple[list[DenseLayer], list[Any]]:
        for node in self.graph.node:
            self.visit(node)
        outs = [o.name for o in self.graph.output]
        if outs != [self.data]:
            raise ModelFileError(f"{self.path!r}: the graph output {outs} is not the end of "
                                 "the chain of supported operators")
        if self.pre is not None:
            raise ModelFileError(f"{self.path!r}: the graph ends with an elementwise affine "
                                 "map after an activation; symlip needs a linear read-out")
        if self.pending is None:
            raise ModelFileError(f"{self.path!r}: the graph ends with an activation; symlip "
                                 "analyses networks with a linear read-out (drop the last "
                                 "activation)")
        self.close(None)
        layers = [lay for lay, _ in self.done]
        acts = [a for _, a in self.done[:-1]]
        return layers, acts

    def value(self, node: Any, name: str) -> np.ndarray:
        if name not in self.const:
            raise self.fail(node, f"input {name!r} is not a constant")
        return self.const[name]

    def data_inputs(self, node: Any) -> list[str]:
        return [i for i in node.input if i and i not in self.const]

    def visit(self, node: Any) -> None:
        op = node.op_type
        ins = self.data_inputs(node)
        if op == "Constant":
            at = node.attribute[0]
            from onnx import helper

            v = helper.get_attribute_value(at)
            self.const[node.output[0]] = (self.numpy_helper.to_array(v)
                                          if hasattr(v, "dims") else np.asarray(v))
            return
        if not ins:  # constant folding of the shape subgraph
            self.fold_constant(node)
            return
        if ins != [self.data] or len(set(node.input) & {self.data}) != 1:
            others = [i for i in ins if i != self.data]
            raise self.fail(node, f"reads {others or ins}, not only the running data tensor "
                            f"{self.data!r} (symlip imports chains, not branching graphs)")
        if op == "Shape":
            self.const[node.output[0]] = np.array((1, *self.shape), dtype=np.int64)
            return
        handler = getattr(self, f"op_{op}", None)
        if handler is None and op in _ACTIVATIONS:
            handler = self.op_activation
        if handler is None:
            raise self.fail(node, "unsupported operator; symlip imports "
                            + ", ".join(SUPPORTED_OPS))
        handler(node)
        self.data = node.output[0]

    def fold_constant(self, node: Any) -> None:
        op, at = node.op_type, self.attrs(node)
        vals = [self.const[i] if i else None for i in node.input]
        if op == "Gather":
            out = np.take(vals[0], vals[1], axis=at.get("axis", 0))
        elif op == "Unsqueeze":
            axes = at.get("axes", None)
            if axes is None:
                axes = vals[1].tolist()
            out = vals[0]
            for ax in sorted(int(a) for a in np.atleast_1d(axes)):
                out = np.expand_dims(out, ax if ax >= 0 else ax + out.ndim + 1)
        elif op == "Squeeze":
            axes = at.get("axes", vals[1].tolist() if len(vals) > 1 and vals[1] is not None
                          else None)
            out = np.squeeze(vals[0], axis=None if axes is None else tuple(axes))
        elif op == "Concat":
            out = np.concatenate([np.atleast_1d(v) for v in vals], axis=at.get("axis", 0))
        elif op == "Cast":
            out = vals[0]
        elif op in ("Identity", "Dropout"):
            out = vals[0]
        elif op in ("Mul", "Add", "Sub", "Div"):
            f = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract}.get(op)
            out = f(vals[0], vals[1]) if f else (
                vals[0] // vals[1] if vals[0].dtype.kind in "iu" else vals[0] / vals[1])
        else:
            raise self.fail(node, "unsupported operator on constants; symlip imports "
                            + ", ".join(SUPPORTED_OPS))
        self.const[node.output[0]] = np.asarray(out)
        for extra in node.output[1:]:
            self.const[extra] = np.asarray(out)

    # -- operators on the data -------------------------------------------------------
    def op_Identity(self, node: Any) -> None:  # noqa: N802 - ONNX names
        pass

    op_Dropout = op_Identity  # noqa: N815 - inference mode

    def op_Flatten(self, node: Any) -> None:  # noqa: N802
        axis = self.attrs(node).get("axis", 1)
        if axis != 1:
            raise self.fail(node, f"axis={axis}; only axis=1 (keep the batch) is supported")
        self.shape = (self.size(),)

    def op_Reshape(self, node: Any) -> None:  # noqa: N802
        target = [int(v) for v in self.value(node, node.input[1]).ravel()]
        if not target or target[0] not in (1, 0, -1):
            raise self.fail(node, f"target shape {target} changes the batch dimension")
        rest = [self.shape[k - 1] if v == 0 else v for k, v in enumerate(target) if k > 0]
        if rest.count(-1) > 1:
            raise self.fail(node, f"target shape {target} has two -1 entries")
        if -1 in rest:
            known = int(np.prod([v for v in rest if v != -1]))
            if known == 0 or self.size() % known:
                raise self.fail(node, f"cannot reshape {self.shape} to {target}")
            rest[rest.index(-1)] = self.size() // known
        if int(np.prod(rest)) != self.size():
            raise self.fail(node, f"cannot reshape data of shape {self.shape} to {target}")
        self.shape = tuple(rest)

    def op_Gemm(self, node: Any) -> None:  # noqa: N802
        at = self.attrs(node)
        if at.get("transA", 0):
            raise self.fail(node, "transA=1 (the data as the transposed operand)")
        if node.input[0] != self.data:
            raise self.fail(node, "the data must be the first operand")
        b = np.asarray(self.value(node, node.input[1]), float)
        w = b if at.get("transB", 0) else b.T
        alpha, beta = float(at.get("alpha", 1.0)), float(at.get("beta", 1.0))
        derived = ""
        if alpha != 1.0:
            w = alpha * w
            derived = f"weights scaled by alpha={alpha}"
        if len(self.shape) != 1 or w.ndim != 2 or w.shape[1] != self.size():
            raise self.fail(node, f"weight of shape {b.shape} does not fit data of shape "
                            f"{self.shape}")
        bias = np.zeros(w.shape[0])
        if len(node.input) > 2 and node.input[2]:
            c = np.asarray(self.value(node, node.input[2]), float)
            if beta != 1.0:
                derived = derived or f"a bias scaled by beta={beta}"
            try:
                bias = np.broadcast_to(beta * c if beta != 1.0 else c, (1, w.shape[0]))[0]
            except ValueError:
                raise self.fail(node, f"bias of shape {c.shape} does not fit {w.shape[0]} "
                                "outputs") from None
        self.start_affine(node, w, bias.copy(), derived=derived)
        self.shape = (w.shape[0],)

    def op_MatMul(self, node: Any) -> None:  # noqa: N802
        if node.input[0] != self.data:
            raise self.fail(node, "the data must be the first operand (x @ W)")
        b = np.asarray(self.value(node, node.input[1]), float)
        if len(self.shape) != 1 or b.ndim != 2 or b.shape[0] != self.size():
            raise self.fail(node, f"weight of shape {b.shape} does not fit data of shape "
                            f"{self.shape}")
        self.start_affine(node, b.T, np.zeros(b.shape[1]))
        self.shape = (b.shape[1],)

    def _geometry(self, node: Any, at: dict[str, Any], kernel: tuple[int, int],
                  out_channels: int, groups: int) -> Any:
        from symlip.models.conv import ConvGeometry

        if len(self.shape) != 3:
            raise self.fail(node, f"expects data of shape (C, H, W), got {self.shape}")
        strides = tuple(at.get("strides", (1, 1)))
        dil = tuple(at.get("dilations", (1, 1)))
        pads = tuple(at.get("pads", (0, 0, 0, 0)))
        auto = at.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            p = []
            for ax in (0, 1):
                n = self.shape[1 + ax]
                out = -(-n // strides[ax])
                tot = max(0, (out - 1) * strides[ax] + (kernel[ax] - 1) * dil[ax] + 1 - n)
                p.append((tot // 2, tot - tot // 2) if auto == "SAME_UPPER"
                         else (tot - tot // 2, tot // 2))
            pads = (p[0][0], p[1][0], p[0][1], p[1][1])
        elif auto == "VALID":
            pads = (0, 0, 0, 0)
        elif auto != "NOTSET":
            raise self.fail(node, f"auto_pad={auto!r} is not supported")
        if len(pads) != 4 or len(strides) != 2 or len(dil) != 2:
            raise self.fail(node, "only 2-D convolutions and pools are supported")
        try:
            return ConvGeometry(self.shape, out_channels, kernel, strides, pads, dil, groups)
        except InputError as exc:
            raise self.fail(node, str(exc)) from None

    def op_Conv(self, node: Any) -> None:  # noqa: N802
        at = self.attrs(node)
        k = np.asarray(self.value(node, node.input[1]), float)
        if k.ndim != 4:
            raise self.fail(node, f"kernel of shape {k.shape}; only 2-D convolutions")
        geom = self._geometry(node, at, k.shape[2:], k.shape[0], int(at.get("group", 1)))
        if k.shape != geom.kernel_array_shape:
            raise self.fail(node, f"kernel of shape {k.shape} does not fit data of shape "
                            f"{self.shape} (expected {geom.kernel_array_shape})")
        kb = (np.asarray(self.value(node, node.input[2]), float).reshape(-1)
              if len(node.input) > 2 and node.input[2] else np.zeros(k.shape[0]))
        from symlip.models.conv import conv_matrix

        oh, ow = geom.out_hw
        self.start_affine(node, conv_matrix(k, geom), np.repeat(kb, oh * ow), (k, kb, geom))
        self.shape = geom.out_shape

    def op_AveragePool(self, node: Any) -> None:  # noqa: N802
        at = self.attrs(node)
        if at.get("ceil_mode", 0):
            raise self.fail(node, "ceil_mode=1 is not supported")
        kernel = tuple(at["kernel_shape"])
        c = self.shape[0] if len(self.shape) == 3 else 0
        at = dict(at)
        at.setdefault("strides", kernel)  # ONNX default stride is 1; torch exports it
        geom = self._geometry(node, at, kernel, c, c)
        from symlip.models.conv import conv_matrix

        count = float(kernel[0] * kernel[1])
        k = np.full((c, 1, *kernel), 1.0 / count)
        w = conv_matrix(k, geom)
        conv = (k, np.zeros(c), geom)
        if any(geom.pads) and not at.get("count_include_pad", 0):
            ones = conv_matrix(np.ones((c, 1, *kernel)), geom)
            w = ones / ones.sum(axis=1, keepdims=True)
            conv = None
        self.start_affine(node, w, np.zeros(w.shape[0]), conv,
                          derived="an average pool (fixed weights, not parameters)")
        self.shape = geom.out_shape

    def op_activation(self, node: Any) -> None:
        from symlip.activations.registry import get_activation

        op, at = node.op_type, self.attrs(node)
        name = _ACTIVATIONS[op]
        param = None
        if op == "LeakyRelu":
            param = float(np.float32(at.get("alpha", 0.01)))
        elif op == "Elu":
            param = float(np.float32(at.get("alpha", 1.0)))
        elif op == "Gelu":
            approx = at.get("approximate", b"none")
            approx = approx.decode() if isinstance(approx, bytes) else str(approx)
            if approx != "none":
                raise self.fail(node, f"approximate={approx!r}; symlip certifies the exact "
                                "erf form (approximate='none')")
        if self.pending is None:
            raise self.fail(node, "an activation must follow an affine operator (Gemm, "
                            "MatMul, Conv, AveragePool)")
        self.close(get_activation(name, param))

    def _elementwise_const(self, node: Any) -> tuple[np.ndarray, bool]:
        """The constant operand, and whether the data is the first operand."""
        first = node.input[0] == self.data
        c = np.asarray(self.value(node, node.input[1 if first else 0]), float)
        try:
            np.broadcast_to(c, (1, *self.shape))
        except ValueError:
            raise self.fail(node, f"constant of shape {c.shape} does not broadcast to the "
                            f"data shape {(1, *self.shape)}") from None
        if c.ndim > len(self.shape):
            c = c.reshape(c.shape[c.ndim - len(self.shape):]) if c.shape[0] == 1 else c
            if c.ndim > len(self.shape):
                raise self.fail(node, f"constant of shape {c.shape} broadcasts over the batch")
        return c, first

    def op_Add(self, node: Any) -> None:  # noqa: N802
        c, _ = self._elementwise_const(node)
        self.elementwise(node, 1.0, c)

    def op_Sub(self, node: Any) -> None:  # noqa: N802
        c, first = self._elementwise_const(node)
        self.elementwise(node, 1.0, -c) if first else self.elementwise(node, -1.0, c)

    def op_Mul(self, node: Any) -> None:  # noqa: N802
        c, _ = self._elementwise_const(node)
        self.elementwise(node, c, 0.0)

    def op_Div(self, node: Any) -> None:  # noqa: N802
        c, first = self._elementwise_const(node)
        if not first:
            raise self.fail(node, "a constant divided by the data is not affine")
        if np.any(c == 0):
            raise self.fail(node, "division by a constant with zero entries")
        self.elementwise(node, 1.0 / c, 0.0)

    def op_BatchNormalization(self, node: Any) -> None:  # noqa: N802
        at = self.attrs(node)
        if at.get("training_mode", 0) or len(node.output) > 1 and any(node.output[1:]):
            raise self.fail(node, "training mode; export the model in eval() mode")
        scale, b, mean, var = (np.asarray(self.value(node, n), float) for n in node.input[1:5])
        eps = float(np.float32(at.get("epsilon", 1e-5)))
        s = scale / np.sqrt(var + eps)
        shape = (-1,) + (1,) * (len(self.shape) - 1)
        self.elementwise(node, s.reshape(shape), (b - mean * s).reshape(shape))


def _read(path: str | os.PathLike[str]) -> Any:
    try:
        import onnx
    except ImportError:  # pragma: no cover - the extra is installed in CI
        raise InputError("reading .onnx files needs the onnx package: pip install "
                         "'symlip[onnx]'") from None
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"model file not found: {str(p)!r}")
    if p.is_dir():
        raise ModelFileError(f"model file {str(p)!r} is a directory, not a file")
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types
        msg = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ModelFileError(f"{str(p)!r} is not a readable ONNX model ({msg})") from None
    if not len(model.graph.node):
        raise ModelFileError(f"{str(p)!r} is not an ONNX model with a graph (no nodes)")
    return model


def read_onnx(path: str | os.PathLike[str]) -> tuple[list[DenseLayer], list[Any],
                                                     tuple[int, ...], dict[str, str]]:
    """``(layers, activations, input_shape, derived)`` of an ONNX file (see the module
    docstring); ``derived`` maps the names of layers whose weight entries are not the
    file's parameters (convolutions, pools, folded scales) to the reason.

    Raises:
        ModelFileError: unreadable file, unsupported operator (node and op type named),
            branching graph, shapes that do not fit.
    """
    model = _read(path)
    imp = _Importer(str(path), model)
    layers, acts = imp.run()
    return layers, acts, imp.input_shape, imp.derived


def load_onnx(path: str | os.PathLike[str]) -> Network:
    """The :class:`~symlip.models.network.Network` of an ONNX file; ``network.input_shape`` is
    the model's input shape without the batch axis (data may come in that shape or
    flattened, see :func:`flatten_data`).

    Raises:
        ModelFileError: see :func:`read_onnx`.
    """
    layers, acts, shape, derived = read_onnx(path)
    net = Network(layers, acts or None)
    net.input_shape = shape  # type: ignore[attr-defined]
    net.derived_layers = derived  # type: ignore[attr-defined]
    return net


def flatten_data(model: Any, data: np.ndarray | None, what: str = "data") -> Any:
    """Data given in the model's input shape ``(n, *input_shape)`` flattened to
    ``(n, prod(input_shape))`` (channel-major, as the model flattens); other shapes are
    returned unchanged (a single point ``input_shape`` becomes ``(1, n0)``).

    Raises:
        InputError: a multi-dimensional array whose trailing shape is not the model's.
    """
    shape = getattr(model, "input_shape", None)
    if data is None or shape is None or data.ndim <= 2 and len(shape) == 1:
        return data
    if tuple(data.shape[1:]) == tuple(shape):
        return data.reshape(data.shape[0], -1)
    if tuple(data.shape) == tuple(shape) and len(shape) > 1:
        return data.reshape(1, -1)
    if data.ndim > 2:
        dims = ", ".join(map(str, shape))
        raise InputError(f"{what} has shape {data.shape}; expected (n, {dims}) (the model's "
                         f"input shape) or (n, {int(np.prod(shape))})")
    return data
