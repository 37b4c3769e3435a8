"""The contract every backend implements, and how a backend is found by name.

A backend compiles a checked model (:class:`netspec.ir.CheckedModel`) into a
:class:`CompiledModel`. Arrays cross this boundary as NumPy arrays so that callers never
depend on a framework; inside, each backend keeps its own arrays (torch tensors on the
chosen device, jax arrays, numpy arrays).
"""

from __future__ import annotations

import importlib
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from netspec._contract import LOSS_NAMES, check_loss, unknown_name
from netspec.ir import CheckedModel
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec

BackendName = Literal["numpy", "torch", "jax"]
BACKENDS: tuple[BackendName, ...] = ("numpy", "torch", "jax")

__all__ = [
    "BACKENDS",
    "LOSS_NAMES",
    "Backend",
    "BackendName",
    "CompiledModel",
    "StepStats",
    "TrainStep",
    "get_backend",
    "resolve_loss",
]


@runtime_checkable
class CompiledModel(Protocol):
    """A runnable model. Parameter and state names are those of the checked IR."""

    ir: CheckedModel
    dtype: Literal["float32", "float64"]
    device: str

    def forward(
        self, x: np.ndarray | None = None, /, *, train: bool = False, **inputs: np.ndarray
    ) -> np.ndarray:
        """Run a batch [N, *input shape]; ``train`` enables dropout and batch statistics.

        ``x`` is the one input's batch, or a dict of every input's batch by name; or give
        each input by keyword, ``forward(image=x, extra=e)``. In training mode batchnorm
        running statistics are updated, as in PyTorch.
        """
        ...

    def trace(
        self, x: np.ndarray | None = None, /, *, train: bool = False, **inputs: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Like :meth:`forward`, but return every node's output by node name."""
        ...

    def loss_and_grads(
        self,
        x: np.ndarray | dict[str, np.ndarray],
        y: np.ndarray,
        loss: LossSpec,
        *,
        train: bool = True,
        input_grad: bool = False,
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Mean loss of a batch and its gradient for every parameter (by name).

        ``loss`` is a loss of the IR (``SoftmaxCrossEntropy()``...) or its name as a
        spec writes it (``"softmax_cross_entropy"``, ``"mse"``...), see
        :func:`resolve_loss`.

        ``x`` is the one input's batch or a dict of every input's batch by name. With
        ``input_grad`` the result also holds the gradient for each input under the
        input's name, for every floating-point input (integer inputs hold indices, which
        have no gradient).
        """
        ...

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the learnable arrays, keyed by parameter name, in IR order."""
        ...

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the non-learnable arrays (batchnorm running statistics)."""
        ...

    def set_parameters(self, values: dict[str, np.ndarray]) -> None:
        """Replace parameters (and state, for state names); shapes are checked."""
        ...

    def seed(self, seed: int) -> None:
        """Reseed the model's own random stream (dropout masks)."""
        ...

    def train_step(
        self,
        loss: LossSpec,
        optimizer: OptimizerSpec,
        clip: ClipSpec | None = None,
        *,
        precision: str = "fp32",
    ) -> TrainStep:
        """A fused training step for this model (docs/training.md gives the exact math),
        computing in ``precision`` (fp32, bf16 or fp16; docs/training.md, "Precision")."""
        ...


class StepStats(Protocol):
    """What a :class:`TrainStep` accumulated since it was last drained."""

    loss_sum: float  # sum over samples of the per-sample data loss (penalties excluded)
    samples: int
    correct: int  # top-1 hits, counted when the loss is a classification loss
    first_nonfinite: int  # index (since the last drain) of the first step whose loss or
    # gradients were not finite; -1 when all were finite


@runtime_checkable
class TrainStep(Protocol):
    """Forward, backward and optimizer update as one call, with no host sync per step.

    Order within a step: gradients of the data loss plus the l2 / l1 penalties of each
    parameter; clipping (global norm or value); the optimizer update with learning rate
    ``lr``; the max_norm projection of each weight that has one.
    """

    def step(self, x: np.ndarray | dict[str, np.ndarray], y: np.ndarray, lr: float) -> None:
        """Queue one update on a batch (the one input's array, or every input's by name);
        statistics stay on the device until drain()."""
        ...

    def drain(self) -> StepStats:
        """Synchronise and return (then reset) the accumulated statistics."""
        ...

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's buffers as named arrays (``<param>.<buffer>``, plus ``step``)."""
        ...

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore buffers saved by :meth:`optimizer_state` (for resuming)."""
        ...


class Backend(Protocol):
    """What ``netspec.backends.<name>`` exposes."""

    name: BackendName

    def compile(
        self,
        model: CheckedModel,
        *,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
        seed: int = 0,
        params: dict[str, np.ndarray] | None = None,
    ) -> CompiledModel:
        """Compile ``model``; initial weights come from ``params`` or are drawn by
        :func:`netspec.initializers.initial_params` with ``seed``."""
        ...


def resolve_loss(loss: object) -> LossSpec:
    """A loss given to ``loss_and_grads``: an IR loss object as it is, or a spec's loss
    name (default arguments); anything else is an UnknownNameError listing the names."""
    return check_loss(loss)


def get_backend(name: str) -> Backend:
    """Import ``netspec.backends.<name>`` on demand; torch and jax load only here."""
    if name not in BACKENDS:
        raise unknown_name("backend", name, BACKENDS)
    module = importlib.import_module(f"netspec.backends.{name}")
    return module.BACKEND  # type: ignore[no-any-return]
