"""The NumPy backend: hand-written forward and backward functions, float32 or float64, CPU.

``BACKEND.compile(model)`` turns a checked IR into a :class:`NumpyModel`, which implements
:class:`netspec.backend.CompiledModel`; its ``train_step`` is a :class:`NumpyTrainStep`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from netspec.backend import BackendName
from netspec.backends.numpy._erf import erf
from netspec.backends.numpy._losses import loss_and_grad
from netspec.backends.numpy._model import NumpyModel
from netspec.backends.numpy._train import NumpyTrainStep, hits
from netspec.backends.numpy.nn import LOWERINGS
from netspec.errors import NetspecError
from netspec.ir import CheckedModel

_DTYPES = ("float32", "float64")


class NumpyBackend:
    """Compiles checked models to NumPy; runs on the CPU only."""

    name: BackendName = "numpy"

    def compile(
        self,
        model: CheckedModel,
        *,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
        seed: int = 0,
        params: dict[str, np.ndarray] | None = None,
    ) -> NumpyModel:
        """Compile ``model``; initial weights come from ``params`` (a full or partial dict
        of parameters and state) or are drawn by :func:`netspec.initializers.initial_params`
        with ``seed``, which also seeds the dropout stream."""
        if device != "cpu":
            raise NetspecError(
                f"the numpy backend runs on the CPU only: expected device 'cpu', got "
                f"{device!r}; use backend 'torch' or 'jax' for accelerators"
            )
        if dtype not in _DTYPES:
            raise NetspecError(
                f"the numpy backend computes in float32 or float64, got dtype {dtype!r}"
            )
        return NumpyModel(model, dtype, seed, params)


BACKEND = NumpyBackend()

__all__ = [
    "BACKEND",
    "LOWERINGS",
    "NumpyBackend",
    "NumpyModel",
    "NumpyTrainStep",
    "erf",
    "hits",
    "loss_and_grad",
]
