"""What every backend's compiled model does alike, written once and free of frameworks.

:class:`ModelBase` implements the public methods of :class:`netspec.backend.CompiledModel`
around a few primitives each backend supplies (run the nodes, compute gradients, read and
write arrays, reseed, build a train step). Everything that comes in passes the checks of
:mod:`netspec._contract` and :func:`netspec.weights.validate_weights` here, so one bad
input gets one error on every backend. :class:`ModelBackend` is the ``BACKEND`` object of
a backend: its ``compile`` builds the backend's model class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import numpy as np

from netspec._contract import (
    bind_inputs,
    check_inputs,
    check_loss,
    check_optimizer,
    check_targets,
)
from netspec._validate import check_seed
from netspec.errors import NetspecError
from netspec.initializers import initial_params
from netspec.ir import CheckedModel
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec
from netspec.precision import check_precision
from netspec.weights import validate_weights

DTypeName = Literal["float32", "float64"]
# A batch as callers give it: the array of a model's one input, or arrays by input name.
Batch = np.ndarray | Mapping[str, np.ndarray]
# A batch after the checks: every input's array by name, in the model's order.
Inputs = dict[str, np.ndarray]
DTYPES: tuple[DTypeName, ...] = ("float32", "float64")

NOT_CHECKED = "a backend compiles a CheckedModel, got {got}"
NOT_CHECKED_HELP = "pass program.model() (or program.model(name)) from netspec.load(...)"
UNKNOWN_DTYPE = "unknown dtype {asked!r}: expected 'float32' or 'float64'"
UNKNOWN_DTYPE_HELP = "pass dtype='float32' (the default) or dtype='float64' for exact comparisons"


def starting_weights(
    model: CheckedModel,
    dtype: DTypeName,
    seed: int,
    params: Mapping[str, object] | None,
) -> dict[str, np.ndarray]:
    """Every parameter and state array a compiled model starts from, as fresh arrays:
    those of ``params`` (checked; any subset of the model's names), the rest drawn
    by :func:`netspec.initializers.initial_params` with ``seed``. The draw order is fixed
    by the IR, so a partial ``params`` does not change the others; when every parameter
    is given nothing is drawn (seconds for a large net) and missing state starts at its
    fill."""
    given = {} if params is None else validate_weights(model, params, dtype=dtype, require="none")
    if any(spec.name not in given for spec in model.params):
        return {**initial_params(model, seed, dtype), **given}
    fills = {spec.name: np.full(spec.shape, spec.fill, dtype=dtype) for spec in model.state}
    return {**fills, **given}


def batch_size(batch: Inputs) -> int:
    """The number of samples of a checked batch (every input has as many)."""
    return len(next(iter(batch.values())))


class ModelBase:
    """The shared half of a compiled model; see :class:`netspec.backend.CompiledModel`."""

    device: str
    # The backend's name, as errors shared by every backend name it.
    backend: str

    def __init__(self, ir: CheckedModel, dtype: str) -> None:
        if not isinstance(ir, CheckedModel):
            raise NetspecError(NOT_CHECKED.format(got=type(ir).__name__), help=NOT_CHECKED_HELP)
        if dtype not in DTYPES:
            raise NetspecError(UNKNOWN_DTYPE.format(asked=dtype), help=UNKNOWN_DTYPE_HELP)
        self.ir = ir
        self.dtype: DTypeName = dtype  # type: ignore[assignment]
        self._np_dtype = np.dtype(dtype)

    def forward(
        self, x: Batch | None = None, /, *, train: bool = False, **inputs: np.ndarray
    ) -> np.ndarray:
        """Run a batch [N, *input shape]: the one input's array, or every input's by name
        (``forward(image=x, extra=e)``, or a dict of them); ``train`` enables dropout and
        batch statistics (batchnorm running statistics move, as in PyTorch)."""
        batch = self._batch(self._given(x, inputs), train)
        return self._outputs(batch, train, keep=False)[self.ir.output]

    def trace(
        self, x: Batch | None = None, /, *, train: bool = False, **inputs: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Every node's output by node name, in node order; otherwise as :meth:`forward`."""
        values = self._outputs(self._batch(self._given(x, inputs), train), train, keep=True)
        return {node.name: values[node.name] for node in self.ir.nodes}

    def loss_and_grads(
        self,
        x: Batch,
        y: np.ndarray,
        loss: LossSpec,
        *,
        train: bool = True,
        input_grad: bool = False,
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Data loss plus declared l1 / l2 penalties, and its gradient for every parameter
        (and for each floating-point input under its name, with ``input_grad``; integer
        inputs hold indices, which have no gradient, and are left out one by one).
        ``loss`` is an IR loss or its name (``"softmax_cross_entropy"``, ``"mse"``...)."""
        loss = check_loss(loss)
        batch = self._batch(x, train)
        targets = check_targets(self.ir, y, loss, batch_size(batch), self._np_dtype)
        return self._loss_and_grads(batch, targets, loss, train, input_grad)

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the learnable arrays, keyed by parameter name, in IR order."""
        return self._copies([spec.name for spec in self.ir.params])

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the non-learnable arrays (running statistics), in IR order."""
        return self._copies([spec.name for spec in self.ir.state])

    def set_parameters(self, values: Mapping[str, np.ndarray]) -> None:
        """Replace parameters and state by name; every array is checked by
        :func:`netspec.weights.validate_weights` before any is written."""
        self._write(validate_weights(self.ir, values, dtype=self._np_dtype, require="none"))

    def seed(self, seed: int) -> None:
        """Restart the model's own random stream (dropout masks) from ``seed``."""
        self._reseed(check_seed(seed))

    def train_step(
        self,
        loss: LossSpec,
        optimizer: OptimizerSpec,
        clip: ClipSpec | None = None,
        *,
        precision: str = "fp32",
    ) -> Any:
        """A fused training step on this model (docs/training.md gives the math);
        ``precision`` bf16 or fp16 computes its forward and backward in that format with
        float32 master weights (docs/training.md, "Precision")."""
        precision = check_precision(precision, self.backend, self.dtype)
        return self._train_step(check_loss(loss), check_optimizer(optimizer), clip, precision)

    def _given(self, x: Batch | None, inputs: Mapping[str, np.ndarray]) -> Batch:
        """A call's batch: ``x`` as given, or the inputs given by keyword."""
        args = () if x is None else (x,)
        if x is not None and not inputs:
            return x
        return bind_inputs(self.ir.name, self.ir.input_names, args, inputs)  # type: ignore[return-value]

    def _batch(self, x: object, train: bool) -> Inputs:
        return check_inputs(self.ir, x, self._np_dtype, train=train)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ir.name!r}, dtype={self.dtype}, device={self.device})"

    # -- what each backend supplies --------------------------------------------------

    def _outputs(self, batch: Inputs, train: bool, keep: bool) -> Mapping[str, np.ndarray]:
        """The output (every node's, with ``keep``) by node name, for a checked batch."""
        raise NotImplementedError

    def _loss_and_grads(
        self, batch: Inputs, targets: np.ndarray, loss: LossSpec, train: bool, input_grad: bool
    ) -> tuple[float, dict[str, np.ndarray]]:
        raise NotImplementedError

    def _copies(self, names: list[str]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _reseed(self, seed: int) -> None:
        raise NotImplementedError

    def _train_step(
        self, loss: LossSpec, optimizer: OptimizerSpec, clip: ClipSpec | None, precision: str
    ) -> Any:
        raise NotImplementedError


Model = TypeVar("Model")


@dataclass(frozen=True)
class ModelBackend(Generic[Model]):
    """A backend's ``BACKEND``: ``compile`` builds ``model_class`` from its arguments."""

    name: Literal["numpy", "torch", "jax"]
    model_class: Callable[..., Model]

    def compile(
        self,
        model: CheckedModel,
        *,
        dtype: DTypeName = "float32",
        device: str = "cpu",
        seed: int = 0,
        params: dict[str, np.ndarray] | None = None,
        **options: Any,
    ) -> Model:
        """Compile ``model``; initial weights come from ``params`` or are drawn by
        :func:`netspec.initializers.initial_params` with ``seed``, which also seeds the
        dropout stream. ``options`` are the backend's own (torch: ``allow_tf32``)."""
        return self.model_class(
            model, dtype=dtype, device=device, seed=seed, params=params, **options
        )
