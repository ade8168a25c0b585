"""Models: the feed-forward :class:`~symlip.models.network.Network` and its interval
forward pass (:mod:`.network`), controlled ODEs (:mod:`.cde`), 1-Lipschitz linear layers
(:mod:`.lipschitz_layers`), model files (:mod:`.io`: ``.npz``/``.safetensors``;
:mod:`.onnx`), convolutions as linear operators (:mod:`.conv`) and PyTorch conversion
(:mod:`.torch`)."""
