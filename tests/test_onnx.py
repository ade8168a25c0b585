"""ONNX import: graphs built with onnx.helper, outputs compared with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import symlip  # noqa: E402
from symlip.cli import main  # noqa: E402
from symlip.errors import ModelFileError  # noqa: E402
from symlip.models.conv import ConvLayer  # noqa: E402
from symlip.models.onnx import load_onnx  # noqa: E402

RNG = np.random.default_rng(0)


def _init(name, arr, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(arr, dtype=dtype), name)


def _save(tmp_path, nodes, inits, in_shape, out_dim, name="m.onnx", batch="N", opset=20,
          elem=TensorProto.FLOAT):
    x = helper.make_tensor_value_info("x", elem, [batch, *in_shape])
    y = helper.make_tensor_value_info(nodes[-1].output[0], elem, [batch, out_dim])
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path = tmp_path / name
    onnx.save(model, str(path))
    return str(path)


def _compare(path, in_shape, n=6, rtol=2e-5, dtype=np.float32):
    net = symlip.load(path)
    x = RNG.standard_normal((n, *in_shape)).astype(dtype)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"x": x})[0].astype(float)
    out = net.forward(x.reshape(n, -1).astype(float))
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(out, ref, rtol=0, atol=rtol * scale)
    return net


def _cnn(tmp_path, *, view=True, name="cnn.onnx"):
    """Normalisation, Conv+BN+Relu, BN after an activation, grouped strided dilated Conv,
    Gelu, AveragePool with pads, the x.view(x.size(0), -1) subgraph, Gemm, LeakyRelu,
    MatMul + Add."""
    c1 = RNG.standard_normal((4, 2, 3, 3)) * 0.4
    c2 = RNG.standard_normal((6, 2, 2, 3)) * 0.4
    inits = [
        _init("mean", [[[0.5]], [[-0.25]]]), _init("std", [[[2.0]], [[0.5]]]),
        _init("c1", c1), _init("c1b", RNG.standard_normal(4)),
        _init("bn_s", RNG.uniform(0.5, 2, 4)), _init("bn_b", RNG.standard_normal(4)),
        _init("bn_m", RNG.standard_normal(4)), _init("bn_v", RNG.uniform(0.5, 2, 4)),
        _init("bn2_s", RNG.uniform(0.5, 2, 4)), _init("bn2_b", RNG.standard_normal(4)),
        _init("bn2_m", RNG.standard_normal(4)), _init("bn2_v", RNG.uniform(0.5, 2, 4)),
        _init("c2", c2), _init("c2b", RNG.standard_normal(6)),
        _init("minus1", [-1], np.int64), _init("zero", 0, np.int64),
    ]
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["s0"]),
        helper.make_node("Div", ["s0", "std"], ["s1"]),
        helper.make_node("Conv", ["s1", "c1", "c1b"], ["h1"], pads=[1, 1, 1, 1],
                         strides=[1, 1]),
        helper.make_node("BatchNormalization", ["h1", "bn_s", "bn_b", "bn_m", "bn_v"],
                         ["h2"], epsilon=1e-3),
        helper.make_node("Relu", ["h2"], ["h3"]),
        helper.make_node("BatchNormalization", ["h3", "bn2_s", "bn2_b", "bn2_m", "bn2_v"],
                         ["h4"]),
        helper.make_node("Conv", ["h4", "c2", "c2b"], ["h5"], pads=[0, 1, 1, 0],
                         strides=[2, 1], dilations=[1, 2], group=2),
        helper.make_node("Gelu", ["h5"], ["h6"]),
        helper.make_node("AveragePool", ["h6"], ["h7"], kernel_shape=[2, 2], strides=[1, 2],
                         pads=[1, 0, 0, 1]),
    ]
    # conv2 on (4, 7, 6) gives (6, 4, 3); the pool gives (6, 4, 2)
    flat = 6 * 4 * 2
    if view:
        nodes += [
            helper.make_node("Shape", ["h7"], ["sh"]),
            helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
            helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
            helper.make_node("Concat", ["n1", "minus1"], ["tgt"], axis=0),
            helper.make_node("Reshape", ["h7", "tgt"], ["f"]),
        ]
        inits.append(_init("ax0", [0], np.int64))
    else:
        nodes.append(helper.make_node("Flatten", ["h7"], ["f"], axis=1))
    inits += [_init("w1", RNG.standard_normal((8, flat)) * 0.3),
              _init("b1", RNG.standard_normal(8)),
              _init("w2", RNG.standard_normal((8, 3)) * 0.3), _init("b2", RNG.standard_normal(3))]
    nodes += [
        helper.make_node("Gemm", ["f", "w1", "b1"], ["g1"], transB=1),
        helper.make_node("LeakyRelu", ["g1"], ["g2"], alpha=0.1),
        helper.make_node("MatMul", ["g2", "w2"], ["g3"]),
        helper.make_node("Add", ["g3", "b2"], ["out"]),
    ]
    return _save(tmp_path, nodes, inits, (2, 7, 6), 3, name=name)


@pytest.mark.parametrize("view", [True, False])
def test_cnn_matches_onnxruntime(tmp_path, view):
    path = _cnn(tmp_path, view=view)
    net = _compare(path, (2, 7, 6))
    assert net.input_shape == (2, 7, 6)
    # the normalisation (a shift) and the BN after the Relu (a shift) meet zero padding:
    # their folded biases vary near the border, so both convolutions become dense
    # matrices; the pool with count_include_pad=0 and pads too
    assert [type(lay).__name__ for lay in net.layers] == ["DenseLayer"] * 5
    assert [a.name for a in net.activations] == ["relu", "gelu", "identity", "leaky_relu"]


def test_conv_bn_stays_a_convolution(tmp_path):
    """BN after a Conv folds into its kernel (per channel): a ConvLayer; a pure scale
    before a Conv folds into the kernel too."""
    inits = [_init("s", [[[0.5]], [[2.0]]]), _init("c1", RNG.standard_normal((3, 2, 3, 3))),
             _init("bn_s", RNG.uniform(0.5, 2, 3)), _init("bn_b", RNG.standard_normal(3)),
             _init("bn_m", RNG.standard_normal(3)), _init("bn_v", RNG.uniform(0.5, 2, 3)),
             _init("w", RNG.standard_normal((48, 2)))]
    nodes = [helper.make_node("Mul", ["x", "s"], ["x1"]),
             helper.make_node("Conv", ["x1", "c1"], ["h"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("BatchNormalization", ["h", "bn_s", "bn_b", "bn_m", "bn_v"],
                              ["h2"]),
             helper.make_node("Softplus", ["h2"], ["a"]),
             helper.make_node("Flatten", ["a"], ["f"]),
             helper.make_node("MatMul", ["f", "w"], ["y"])]
    net = _compare(_save(tmp_path, nodes, inits, (2, 8, 8), 2), (2, 8, 8))
    assert isinstance(net.layers[0], ConvLayer)
    assert net.layers[0].geometry.out_shape == (3, 4, 4)
    assert net.layers[0].kernel_bias.shape == (3,)


@pytest.mark.parametrize("op, attrs, name", [
    ("Tanh", {}, "tanh"), ("Sigmoid", {}, "sigmoid"), ("Softplus", {}, "softplus"),
    ("Elu", {"alpha": 0.5}, "elu"), ("Relu", {}, "relu"),
])
def test_activations_and_gemm(tmp_path, op, attrs, name):
    inits = [_init("w1", RNG.standard_normal((5, 4))), _init("b1", RNG.standard_normal(5)),
             _init("w2", RNG.standard_normal((2, 5))), _init("b2", RNG.standard_normal(2)),
             _init("k", [2.0, 0.5, 1.0, 4.0])]
    nodes = [helper.make_node("Mul", ["x", "k"], ["x1"]),
             helper.make_node("Gemm", ["x1", "w1", "b1"], ["h"], transB=1),
             helper.make_node(op, ["h"], ["a"], **attrs),
             helper.make_node("Gemm", ["a", "w2", "b2"], ["y"], transB=1)]
    path = _save(tmp_path, nodes, inits, (4,), 2)
    net = _compare(path, (4,))
    assert net.activations[0].name == name and net.widths == [4, 5, 2]


def test_constant_scale_after_gemm_folds(tmp_path):
    inits = [_init("w1", RNG.standard_normal((3, 4))), _init("b1", RNG.standard_normal(3)),
             _init("s", [0.5, 2.0, 1.5]), _init("w2", RNG.standard_normal((1, 3))),
             _init("b2", [0.0])]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Mul", ["h", "s"], ["h2"]),
             helper.make_node("Sub", ["h2", "s"], ["h3"]),
             helper.make_node("Tanh", ["h3"], ["a"]),
             helper.make_node("Gemm", ["a", "w2", "b2"], ["y"], transB=1)]
    net = _compare(_save(tmp_path, nodes, inits, (4,), 1), (4,))
    assert net.depth == 2


def _unsupported(tmp_path):
    inits = [_init("w1", RNG.standard_normal((3, 4))), _init("b1", RNG.standard_normal(3))]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Softmax", ["h"], ["y"], name="probs")]
    return _save(tmp_path, nodes, inits, (4,), 3, name="soft.onnx")


def test_unsupported_op_refused(tmp_path):
    with pytest.raises(ModelFileError, match=r"node 'probs' \(op Softmax\): unsupported"):
        load_onnx(_unsupported(tmp_path))


def test_unsupported_op_cli_exit_2(tmp_path, capsys):
    path = _unsupported(tmp_path)
    assert main(["certify", path, "--wrt", "input"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Softmax" in err and "probs" in err


def test_branching_and_trailing_activation_refused(tmp_path):
    inits = [_init("w1", RNG.standard_normal((4, 4))), _init("b1", RNG.standard_normal(4))]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["a"]),
             helper.make_node("Add", ["a", "x"], ["y"], name="skip")]
    with pytest.raises(ModelFileError, match="skip.*not only the running data"):
        load_onnx(_save(tmp_path, nodes, inits, (4,), 4, name="b.onnx"))
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["y"])]
    with pytest.raises(ModelFileError, match="ends with an activation"):
        load_onnx(_save(tmp_path, nodes, inits, (4,), 4, name="t.onnx"))


def test_not_onnx_file(tmp_path, capsys):
    p = tmp_path / "junk.onnx"
    p.write_bytes(b"not a protobuf at all \x00\xff")
    with pytest.raises(ModelFileError, match="junk.onnx"):
        load_onnx(p)
    assert main(["norms", str(tmp_path / "missing.onnx")]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_certify_and_norms(tmp_path, capsys):
    path = _cnn(tmp_path)
    x = RNG.standard_normal((3, 2, 7, 6))
    np.save(tmp_path / "x.npy", x)
    assert main(["norms", path]) == 0
    out = capsys.readouterr().out
    assert "spectral norm" in out and "168 x 84" in out
    # the global bound alone (the product formula; LipSDP runs in the certified call below)
    assert main(["certify", path, "--wrt", "input", "--method", "product", "--json"]) == 0
    capsys.readouterr()
    cert = tmp_path / "c.json"
    assert main(["certify", path, "--wrt", "input", "--data", str(tmp_path / "x.npy"),
                 "--input-radius", "0.1", "--certificate", str(cert)]) == 0
    capsys.readouterr()
    assert main(["verify", str(cert), "--model", path, "--data",
                 str(tmp_path / "x.npy")]) == 0
    np.save(tmp_path / "bad.npy", RNG.standard_normal((3, 2, 6, 7)))
    assert main(["certify", path, "--wrt", "input", "--data", str(tmp_path / "bad.npy"),
                 "--input-radius", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "(n, 2, 7, 6)" in err
    assert main(["certify", path, "--wrt", "params", "--data", str(tmp_path / "x.npy"),
                 "--radius", "0.01"]) == 2
    assert "not independent parameters" in capsys.readouterr().err
