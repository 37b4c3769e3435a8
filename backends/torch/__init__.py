"""The PyTorch backend: a checked IR as a ``torch.nn.Module`` and a NumPy-facing wrapper.

``BACKEND.compile(model, dtype=..., device=..., seed=..., params=...)`` returns a
:class:`TorchModel` (the :class:`netspec.backend.CompiledModel` contract); its
``.module`` is a plain :class:`NetspecModule` whose ``state_dict()`` keys are the IR's
parameter and state names, ready for a user's own optimizer or ``torch.compile``.

The names below load torch on first use, so that the code generator can read the
torch-free ``lowerings`` table of this package without importing torch.
"""

from __future__ import annotations

from netspec._lazy import lazy_exports

_EXPORTS = {
    "BACKEND": "_compiled",
    "NetspecModule": "_module",
    "Step": "_module",
    "TorchModel": "_compiled",
    "TorchTrainStep": "_train",
    "ieee_float32": "_device",
    "resolve_device": "_device",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
