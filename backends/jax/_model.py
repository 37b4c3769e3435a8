"""The compiled JAX model: jitted functions over params and state the model holds.

Arrays cross the public boundary as NumPy. Every batch and every weight is checked on
the host before JAX sees it, so a wrong shape is a ShapeError naming expected and
received, never an XLA traceback. Every JAX call runs inside the model's precision scope
(see :mod:`netspec.backends.jax._runtime`), so float64 works without switching JAX's
process-wide x64 flag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import jax
import numpy as np

from netspec._model_base import Inputs, ModelBackend, ModelBase, batch_size, starting_weights
from netspec._validate import check_int, check_seed
from netspec.backends.jax._losses import check_targets
from netspec.backends.jax._mesh import data_mesh
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

    ``devices`` > 1 runs data-parallel over the first ``devices`` devices of that kind
    (in every process, when JAX runs as several): parameters replicated, each batch split
    along its batch axis (:mod:`netspec.backends.jax._mesh`). Results are those of one
    device up to the order of floating-point sums.
    """

    backend = "jax"

    def __init__(
        self,
        model: CheckedModel,
        *,
        dtype: DTypeName = "float32",
        device: str = "cpu",
        seed: int = 0,
        params: Mapping[str, np.ndarray] | None = None,
        devices: int = 1,
    ) -> None:
        super().__init__(model, dtype)
        self._device = resolve_device(device)
        self.device = device_label(self._device)
        self._mesh = data_mesh(check_int(devices, "devices"), self._device, device)
        # Where every program leaves its results: replicated on a mesh (so that each
        # process reads them whole), wherever JAX likes on one device.
        self._out = None if self._mesh is None else self._mesh.replicated
        self._programs = programs_for(model)
        self._shapes = {spec.name: spec.shape for spec in model.params}
        self._flush: Callable[[], None] | None = None  # see _queue_reader
        self._params: dict[str, Array] = {}
        self._state: dict[str, Array] = {}
        self._reseed(check_seed(seed))
        self._write(starting_weights(model, self.dtype, seed, params))

    # -- the primitives of ModelBase -----------------------------------------------

    def _outputs(self, batch: Inputs, train: bool, keep: bool) -> dict[str, np.ndarray]:
        self._settle()
        fn = self._programs.forward(train, keep=keep, out=self._out)
        with precision_scope(self.dtype):
            placed = self._place_batch(batch)
            outputs, state = fn(self._params, self._state, placed, *self._rng(train))
        if train:
            self._state = state
        return {name: np.array(value) for name, value in outputs.items()}

    def _loss_and_grads(
        self, batch: Inputs, targets: np.ndarray, loss: LossSpec, train: bool, input_grad: bool
    ) -> tuple[float, dict[str, np.ndarray]]:
        output_shape = (batch_size(batch), *self.ir.output_type.shape)
        targets = check_targets(loss, targets, output_shape, self.dtype)
        fn = self._programs.step(loss, train, input_grad, out=self._out)
        self._settle()
        with precision_scope(self.dtype):
            placed, targets = self._place_batch(batch), self._place_targets(targets)
            value, grads, state = fn(self._params, self._state, placed, targets, *self._rng(train))
        if train:
            self._state = state
        param_grads, input_grads = grads
        result = {spec.name: np.array(param_grads[spec.name]) for spec in self.ir.params}
        if input_grad:
            result.update({name: np.array(grad) for name, grad in input_grads.items()})
        return float(value), result

    def _copies(self, names: list[str]) -> dict[str, np.ndarray]:
        self._settle()
        arrays = {**self._params, **self._state}
        return {name: np.array(arrays[name]) for name in names}

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        self._settle()
        with precision_scope(self.dtype):
            placed = self._place_params(arrays)
        params, state = dict(self._params), dict(self._state)
        for name, array in placed.items():
            (params if name in self._shapes else state)[name] = array
        self._params, self._state = params, state

    def _reseed(self, seed: int) -> None:
        self._settle()  # queued steps draw from the old key
        # Built with 64-bit ints on so that seeds past 2**32 keep all their bits; the key
        # itself is two uint32 words, the same in either precision.
        with jax.enable_x64(True):
            key = jax.random.key(int(seed))
            self._key = (
                jax.device_put(key, self._device) if self._mesh is None else self._mesh.key(key)
            )
        self._calls = 0

    def _train_step(
        self, loss: LossSpec, optimizer: OptimizerSpec, clip: ClipSpec | None, precision: str
    ) -> JaxTrainStep:
        # Steps for the same (loss, optimizer, clip, precision) share one compiled program.
        programs = self._programs.fused(
            loss,
            optimizer,
            clip,
            donate=self._device.platform != "cpu",
            out=self._out,
            precision=precision,
        )
        return JaxTrainStep(self, loss, programs)

    def _queue_reader(self, flush: Callable[[], None]) -> None:
        """A train step holding queued steps (several steps per call) registers its
        flush here; every read or write of the weights, state or dropout key runs it
        first, so that nothing sees the weights of before the queued steps."""
        if self._flush is not None and self._flush != flush:
            self._flush()
        self._flush = flush

    def _settle(self) -> None:
        flush, self._flush = self._flush, None
        if flush is not None:
            flush()

    def _place_batch(self, batch: Inputs) -> Inputs | dict[str, Array]:
        """A checked batch as a program takes it: as it is on one device (jit moves it),
        split over the devices of a mesh (called inside the precision scope)."""
        return batch if self._mesh is None else self._mesh.batch(batch)

    def _place_targets(self, targets: np.ndarray) -> np.ndarray | Array:
        """Targets placed as their batch is (see :meth:`_place_batch`)."""
        return targets if self._mesh is None else self._mesh.batch_array(targets)

    def _place_params(self, arrays: Mapping[str, np.ndarray]) -> dict[str, Array]:
        """Host arrays on the model's device, or replicated over its mesh."""
        if self._mesh is None:
            return jax.device_put(dict(arrays), self._device)  # type: ignore[no-any-return]
        return self._mesh.replicate(arrays)

    def _rng(self, train: bool) -> tuple[Array, np.uint32]:
        # Advanced on every training call so that a seed fixes the whole mask sequence.
        call = np.uint32(self._calls % 2**32)
        if train:
            self._calls += 1
        return self._key, call


BACKEND = ModelBackend("jax", JaxModel)
