"""Models: the feed-forward :class:`~symlip.models.network.Network` and its interval
forward pass (:mod:`.network`), controlled ODEs (:mod:`.cde`), 1-Lipschitz linear layers
(:mod:`.lipschitz_layers`), model files (:mod:`.io`: ``.npz``/``.safetensors``;
:mod:`.onnx`), convolutions as linear operators (:mod:`.conv`) and PyTorch conversion
(:mod:`.torch`)."""

#: model type (``--model-type``) -> ``"module:function(path, activation, param)"`` that
#: loads it (read by :func:`symlip.models.io.load_model`); feed-forward files (``.npz``,
#: ``.safetensors``, ``.onnx``; dense, residual, convolutional and linear-spline layers)
#: all load with :func:`symlip.models.io.load`
MODEL_LOADERS: dict[str, str] = {
    "feedforward": "symlip.models.io:load",
    "cde": "symlip.models.cde:load_cde",
}
