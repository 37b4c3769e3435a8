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

from netspec._model_base import Inputs, ModelBackend, ModelBase, batch_size, starting_weights
from netspec._validate import check_seed
from netspec.backends.jax._losses import check_targets
from netspec.backends.jax._programs import programs_for
from netspec.backends.jax._runtime import device_label, precision_scope, resolve_device
from netspec.backends.jax._train import JaxTrainStep
from netspec.ir import CheckedModel
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec

Array = jax.Array
DTypeName = Literal["float32", "float64"]


class JaxModel(ModelBase):
    """A :class:`netspec.backend.CompiledModel` running on JAX.

    Dropout masks come from the model's own stream: the k-th training call (forward,
    trace or loss_and_grads with ``train=True``) uses key ``fold_in(key(seed), k)``, and
    each dropout node folds in its position, so the same seed replays the same masks.
    ``device`` is 'cpu', 'cuda', 'gpu', 'auto' or 'kind:index'; asking for a GPU when JAX
    has none raises NetspecError.
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
        super().__init__(model, dtype)
        self._device = resolve_device(device)
        self.device = device_label(self._device)
        self._programs = programs_for(model)
        self._shapes = {spec.name: spec.shape for spec in model.params}
        self._params: dict[str, Array] = {}
        self._state: dict[str, Array] = {}
        self._reseed(check_seed(seed))
        self._write(starting_weights(model, self.dtype, seed, params))

    # -- the primitives of ModelBase -----------------------------------------------

    def _outputs(self, batch: Inputs, train: bool, keep: bool) -> dict[str, np.ndarray]:
        fn = self._programs.forward(train, keep=keep)
        with precision_scope(self.dtype):
            outputs, state = fn(self._params, self._state, batch, *self._rng(train))
        if train:
            self._state = state
        return {name: np.array(value) for name, value in outputs.items()}

    def _loss_and_grads(
        self, batch: Inputs, targets: np.ndarray, loss: LossSpec, train: bool, input_grad: bool
    ) -> tuple[float, dict[str, np.ndarray]]:
        output_shape = (batch_size(batch), *self.ir.output_type.shape)
        targets = check_targets(loss, targets, output_shape, self.dtype)
        fn = self._programs.step(loss, train, input_grad)
        with precision_scope(self.dtype):
            value, grads, state = fn(self._params, self._state, batch, targets, *self._rng(train))
        if train:
            self._state = state
        param_grads, input_grads = grads
        result = {spec.name: np.array(param_grads[spec.name]) for spec in self.ir.params}
        if input_grad:
            result.update({name: np.array(grad) for name, grad in input_grads.items()})
        return float(value), result

    def _copies(self, names: list[str]) -> dict[str, np.ndarray]:
        arrays = {**self._params, **self._state}
        return {name: np.array(arrays[name]) for name in names}

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        with precision_scope(self.dtype):
            placed = jax.device_put(arrays, self._device)
        params, state = dict(self._params), dict(self._state)
        for name, array in placed.items():
            (params if name in self._shapes else state)[name] = array
        self._params, self._state = params, state

    def _reseed(self, seed: int) -> None:
        # Built with 64-bit ints on so that seeds past 2**32 keep all their bits; the key
        # itself is two uint32 words, the same in either precision.
        with jax.enable_x64(True):
            self._key = jax.device_put(jax.random.key(int(seed)), self._device)
        self._calls = 0

    def _train_step(
        self, loss: LossSpec, optimizer: OptimizerSpec, clip: ClipSpec | None
    ) -> JaxTrainStep:
        # Steps for the same (loss, optimizer, clip) share one compiled program.
        fused, rule = self._programs.fused(
            loss, optimizer, clip, donate=self._device.platform != "cpu"
        )
        return JaxTrainStep(self, loss, fused, rule)

    def _rng(self, train: bool) -> tuple[Array, np.uint32]:
        # Advanced on every training call so that a seed fixes the whole mask sequence.
        call = np.uint32(self._calls % 2**32)
        if train:
            self._calls += 1
        return self._key, call


BACKEND = ModelBackend("jax", JaxModel)
