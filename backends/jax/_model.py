"""The compiled JAX model: jitted functions over params and state the model holds.

Arrays cross the public boundary as NumPy. Every batch and every weight is checked on
the host before JAX sees it, so a wrong shape is a ShapeError naming expected and
received, never an XLA traceback. Every JAX call runs inside the model's precision scope
(see :mod:`netspec.backends.jax._runtime`), so float64 works without switching JAX's
process-wide x64 flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import jax
import numpy as np

from netspec import _contract
from netspec._validate import check_seed
from netspec.backend import resolve_loss
from netspec.backends.jax._graph import Lowered
from netspec.backends.jax._losses import check_targets
from netspec.backends.jax._programs import programs_for
from netspec.backends.jax._runtime import device_label, precision_scope, resolve_device
from netspec.backends.jax._train import JaxTrainStep
from netspec.errors import NetspecError
from netspec.initializers import initial_params
from netspec.ir import CheckedModel
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec
from netspec.weights import validate_weights

Array = jax.Array
DTypeName = Literal["float32", "float64"]


class JaxModel:
    """A :class:`netspec.backend.CompiledModel` running on JAX.

    Dropout masks come from the model's own stream: the k-th training call (forward,
    trace or loss_and_grads with ``train=True``) uses key ``fold_in(key(seed), k)``, and
    each dropout node folds in its position, so the same seed replays the same masks.
    """

    def __init__(
        self,
        model: CheckedModel,
        *,
        dtype: DTypeName = "float32",
        device: str = "cpu",
        seed: int = 0,
        params: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        if dtype not in ("float32", "float64"):
            raise NetspecError(f"unknown dtype {dtype!r}: expected 'float32' or 'float64'")
        self.ir = model
        self.dtype: DTypeName = dtype
        self._device = resolve_device(device)
        self.device = device_label(self._device)
        self._programs = programs_for(model)
        self._lowered: Lowered = self._programs.lowered
        self._shapes = {spec.name: spec.shape for spec in model.params}
        self._state_shapes = {spec.name: spec.shape for spec in model.state}
        self._params: dict[str, Array] = {}
        self._state: dict[str, Array] = {}
        self.seed(seed)
        missing = set(self._shapes) | set(self._state_shapes)
        if params is not None:
            params = validate_weights(model, params, dtype=dtype, require="none")
            missing -= set(params)
        # Drawn only when something is missing; the draw order is fixed by the IR, so a
        # partial ``params`` does not change the values of the others.
        start = initial_params(model, seed, dtype) if missing else {}
        self.set_parameters({**start, **(params or {})})

    # -- the CompiledModel protocol ---------------------------------------------------

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        """Run a batch; in training mode dropout draws and running statistics update."""
        batch = self._batch(x, train)
        fn = self._programs.forward(train, keep=False)
        with precision_scope(self.dtype):
            outputs, state = fn(self._params, self._state, batch, *self._rng(train))
        if train:
            self._state = state
        return np.array(outputs[self._lowered.output])

    def trace(self, x: np.ndarray, *, train: bool = False) -> dict[str, np.ndarray]:
        """Every node's output by node name; otherwise exactly as :meth:`forward`."""
        batch = self._batch(x, train)
        fn = self._programs.forward(train, keep=True)
        with precision_scope(self.dtype):
            outputs, state = fn(self._params, self._state, batch, *self._rng(train))
        if train:
            self._state = state
        return {node.name: np.array(outputs[node.name]) for node in self.ir.nodes}

    def loss_and_grads(
        self,
        x: np.ndarray,
        y: np.ndarray,
        loss: LossSpec,
        *,
        train: bool = True,
        input_grad: bool = False,
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Loss (data loss plus declared penalties) and its gradient for every param."""
        loss = resolve_loss(loss)
        batch = self._batch(x, train)
        output_shape = (batch.shape[0], *self.ir.output_type.shape)
        y = _contract.check_targets(self.ir, y, loss, len(batch), self.dtype)
        targets = check_targets(loss, y, output_shape, self.dtype)
        fn = self._programs.step(loss, train, input_grad)
        with precision_scope(self.dtype):
            value, grads, state = fn(self._params, self._state, batch, targets, *self._rng(train))
        if train:
            self._state = state
        param_grads, input_grads = grads
        result = {spec.name: np.array(param_grads[spec.name]) for spec in self.ir.params}
        if input_grad:
            result[self.ir.input.name] = np.array(input_grads)
        return float(value), result

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the learnable arrays, keyed by parameter name, in IR order."""
        return {spec.name: np.array(self._params[spec.name]) for spec in self.ir.params}

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the running statistics, keyed by state name, in IR order."""
        return {spec.name: np.array(self._state[spec.name]) for spec in self.ir.state}

    def set_parameters(self, values: Mapping[str, np.ndarray]) -> None:
        """Replace parameters and state by name, checked by
        :func:`netspec.weights.validate_weights` before any changes."""
        checked = validate_weights(self.ir, values, dtype=self.dtype, require="none")
        with precision_scope(self.dtype):
            placed = jax.device_put(checked, self._device)
        params, state = dict(self._params), dict(self._state)
        for name, array in placed.items():
            (params if name in self._shapes else state)[name] = array
        self._params, self._state = params, state

    def seed(self, seed: int) -> None:
        """Restart the dropout stream from ``seed``."""
        seed = check_seed(seed)
        # Built with 64-bit ints on so that seeds past 2**32 keep all their bits; the key
        # itself is two uint32 words, the same in either precision.
        with jax.enable_x64(True):
            self._key = jax.device_put(jax.random.key(int(seed)), self._device)
        self._calls = 0

    def train_step(
        self, loss: LossSpec, optimizer: OptimizerSpec, clip: ClipSpec | None = None
    ) -> JaxTrainStep:
        """A fused training step (docs/training.md) that updates this model's params.

        Steps for the same (loss, optimizer, clip) share one compiled program.
        """
        loss, optimizer = _contract.check_loss(loss), _contract.check_optimizer(optimizer)
        fused, rule = self._programs.fused(
            loss, optimizer, clip, donate=self._device.platform != "cpu"
        )
        return JaxTrainStep(self, loss, fused, rule)

    # -- internals ------------------------------------------------------------------

    def _batch(self, x: object, train: bool) -> np.ndarray:
        return _contract.check_batch(self.ir, x, self.dtype, train=train)

    def _rng(self, train: bool) -> tuple[Array, np.uint32]:
        # Advanced on every training call so that a seed fixes the whole mask sequence.
        call = np.uint32(self._calls % 2**32)
        if train:
            self._calls += 1
        return self._key, call
