"""The NumPy backend: hand-written forward and backward functions, float32 or float64, CPU.

``BACKEND.compile(model)`` turns a checked IR into a :class:`NumpyModel`, which implements
:class:`netspec.backend.CompiledModel`; its ``train_step`` is a :class:`NumpyTrainStep`.
"""

from __future__ import annotations

from netspec._model_base import ModelBackend
from netspec.backends.numpy._erf import erf
from netspec.backends.numpy._losses import loss_and_grad
from netspec.backends.numpy._model import NumpyModel
from netspec.backends.numpy._train import NumpyTrainStep, hits
from netspec.backends.numpy.nn import LOWERINGS

BACKEND = ModelBackend("numpy", NumpyModel)

__all__ = [
    "BACKEND",
    "LOWERINGS",
    "NumpyModel",
    "NumpyTrainStep",
    "erf",
    "hits",
    "loss_and_grad",
]
