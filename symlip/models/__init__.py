"""Model import: convolutions as linear operators, ONNX files, PyTorch modules.

* :mod:`symlip.models.conv` — 2-D convolutions (pads, strides, dilations, groups) on a
  given input shape as :class:`~symlip.models.conv.ConvLayer` (a
  :class:`~symlip.network.DenseLayer` holding the explicit matrix, so every bound works
  unchanged) and their certified operator norms.
* :mod:`symlip.models.conv_param` — the parameter bound of conv networks in the kernel
  view (kernels and biases are the parameters).
* :mod:`symlip.models.onnx` — ``symlip.load("model.onnx")`` (needs the ``onnx`` extra).
* :mod:`symlip.models.torch` — ``symlip.from_torch(module, input_shape)`` (``torch``).
"""
