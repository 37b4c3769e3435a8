"""The torch backend's :class:`netspec.backend.CompiledModel`: NumPy in, NumPy out.

It wraps a :class:`NetspecModule` (kept as ``.module`` for use in a user's own
PyTorch code), checks every array before torch sees it, and moves data to and from
the chosen device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Literal

import numpy as np
import torch

from netspec._contract import gradient_inputs
from netspec._model_base import Inputs, ModelBackend, ModelBase, starting_weights
from netspec._validate import check_seed
from netspec.backends.torch._device import DTYPES, device_name, ieee_float32, resolve_device
from netspec.backends.torch._losses import data_loss, penalty
from netspec.backends.torch._module import NetspecModule
from netspec.backends.torch._train import TorchTrainStep
from netspec.ir import CheckedModel
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec


class TorchModel(ModelBase):
    """A checked model compiled to PyTorch; see :class:`netspec.backend.CompiledModel`.

    ``module`` is the underlying :class:`NetspecModule`. Each call puts the module into
    training or eval mode as asked and leaves it so. On CUDA, TF32 is off for the
    duration of each call unless the model was compiled with ``allow_tf32=True``.
    The wrapper holds the module's tensors on the device it was compiled for ("cpu",
    "cuda", "cuda:N" or "auto"): to run elsewhere, compile again (with
    ``params=model.parameters()``) rather than moving ``.module``. ``params`` holds every
    parameter (state starts at its fill where left out). ``allow_tf32`` lets float32
    matmuls and convolutions on CUDA use TF32 (faster on Ampere and later, about 1e-3
    relative error). ``compile`` compiles the training step's forward, loss and backward
    with ``torch.compile`` (:mod:`netspec.backends.torch._compile_step`); inference stays
    eager.
    """

    backend = "torch"

    def __init__(
        self,
        ir: CheckedModel,
        *,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
        seed: int = 0,
        params: dict[str, np.ndarray] | None = None,
        allow_tf32: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__(ir, dtype)
        seed = check_seed(seed)
        target = resolve_device(device)
        values = starting_weights(ir, self.dtype, seed, params)
        module = NetspecModule(ir, values, dtype=DTYPES[dtype], seed=seed).to(target)
        module.seed_dropout(seed)  # the generator moves to the module's device
        self.device = device_name(target)
        self.module = module
        self._device = target
        self._compile = compile
        self._precision: Callable[[], AbstractContextManager[None]] = (
            ieee_float32 if target.type == "cuda" and not allow_tf32 else contextlib.nullcontext
        )
        tensors = module.state_dict(keep_vars=True)
        self._params = [(spec.name, tensors[spec.name]) for spec in ir.params]
        self._penalties = [
            (tensors[spec.name], spec.regularize.l2, spec.regularize.l1)
            for spec in ir.params
            if spec.regularize.l2 or spec.regularize.l1
        ]

    def _outputs(self, batch: Inputs, train: bool, keep: bool) -> dict[str, np.ndarray]:
        with self._precision(), torch.no_grad():
            self._set_mode(train)
            if not keep:
                return {self.ir.output: _numpy(self.module(self._tensors(batch)))}
            live = self.module.trace(self._tensors(batch))
            return {node.name: _numpy(live[node.name]) for node in self.ir.nodes}

    def _loss_and_grads(
        self, batch: Inputs, targets: np.ndarray, loss: LossSpec, train: bool, input_grad: bool
    ) -> tuple[float, dict[str, np.ndarray]]:
        # torch.autograd.grad, so that the module's ``.grad`` fields are left alone.
        with self._precision(), torch.enable_grad():
            self._set_mode(train)
            inputs = self._tensors(batch)
            # Integer inputs hold indices, which have no gradient: only the others get one.
            differentiated = gradient_inputs(self.ir) if input_grad else []
            for name in differentiated:
                inputs[name].requires_grad_(True)
            total = data_loss(self.module(inputs), self._tensor(targets), loss)
            extra = penalty(self._penalties)
            if extra is not None:
                total = total + extra
            wrt = [tensor for _, tensor in self._params]
            names = [name for name, _ in self._params]
            wrt.extend(inputs[name] for name in differentiated)
            names.extend(differentiated)
            grads = _gradients(total, wrt)
            return float(total.detach()), _gradient_arrays(names, grads)

    def _copies(self, names: list[str]) -> dict[str, np.ndarray]:
        tensors = self.module.state_dict()
        return {name: _numpy(tensors[name]) for name in names}

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        # In place, so that an optimizer holding the tensors keeps working.
        tensors = self.module.state_dict(keep_vars=True)
        with torch.no_grad():
            for name, array in arrays.items():
                tensors[name].copy_(torch.from_numpy(array))

    def _reseed(self, seed: int) -> None:
        self.module.seed_dropout(seed)

    def _train_step(
        self, loss: LossSpec, optimizer: OptimizerSpec, clip: ClipSpec | None, precision: str
    ) -> TorchTrainStep:
        return TorchTrainStep(self, loss, optimizer, clip, precision=precision)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self._device.type == "cuda":
            # Through page-locked memory the copy to the GPU is asynchronous: the host goes
            # on to the next batch while it runs (the staging copy is made here, so the
            # array may change once this returns; torch frees it after the copy is done).
            return tensor.pin_memory().to(self._device, non_blocking=True)
        return tensor.to(self._device)  # the CPU: the array's own memory, no copy

    def _tensors(self, batch: Inputs) -> dict[str, torch.Tensor]:
        return {name: self._tensor(array) for name, array in batch.items()}

    def _set_mode(self, train: bool) -> None:
        if self.module.training != train:
            self.module.train(train)


def _gradients(total: torch.Tensor, wrt: list[torch.Tensor]) -> list[torch.Tensor]:
    # Tensors the loss does not reach (a step function cuts the path, a frozen
    # parameter) get zero gradients rather than an autograd error.
    live = [index for index, tensor in enumerate(wrt) if tensor.requires_grad]
    found: tuple[torch.Tensor, ...] = ()
    if live and total.requires_grad:
        found = torch.autograd.grad(total, [wrt[index] for index in live], materialize_grads=True)
    grads = dict(zip(live, found, strict=False))
    return [grads[index] if index in grads else torch.zeros_like(t) for index, t in enumerate(wrt)]


def _gradient_arrays(names: list[str], grads: list[torch.Tensor]) -> dict[str, np.ndarray]:
    # autograd's results are fresh tensors, so their memory can go to the caller as it
    # is; only a tensor shared by two results, or a strided view, is copied.
    arrays: dict[str, np.ndarray] = {}
    seen: set[int] = set()
    for name, grad in zip(names, grads, strict=True):
        array = grad.detach().cpu().numpy()
        pointer = grad.untyped_storage().data_ptr()
        if pointer in seen or not grad.is_contiguous():
            array = array.copy()
        seen.add(pointer)
        arrays[name] = array
    return arrays


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    array = tensor.detach().cpu().numpy()
    # On the CPU .numpy() shares memory with the tensor (a parameter, or the caller's
    # own batch through an identity node): hand back a copy the caller may keep.
    return array.copy() if tensor.device.type == "cpu" else array


BACKEND = ModelBackend("torch", TorchModel)
