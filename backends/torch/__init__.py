"""The PyTorch backend: a checked IR as a ``torch.nn.Module`` and a NumPy-facing wrapper.

``BACKEND.compile(model, dtype=..., device=..., seed=..., params=...)`` returns a
:class:`TorchModel` (the :class:`netspec.backend.CompiledModel` contract); its
``.module`` is a plain :class:`NetspecModule` whose ``state_dict()`` keys are the IR's
parameter and state names, ready for a user's own optimizer or ``torch.compile``.
"""

from netspec.backends.torch._compiled import TorchBackend, TorchModel
from netspec.backends.torch._device import ieee_float32, resolve_device
from netspec.backends.torch._module import NetspecModule, Step
from netspec.backends.torch._train import TorchTrainStep

BACKEND = TorchBackend()

__all__ = [
    "BACKEND",
    "NetspecModule",
    "Step",
    "TorchBackend",
    "TorchModel",
    "TorchTrainStep",
    "ieee_float32",
    "resolve_device",
]
