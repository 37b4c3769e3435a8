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

from netspec._contract import check_batch, check_loss, check_optimizer, check_targets
from netspec._validate import check_seed
from netspec.backend import resolve_loss
from netspec.backends.torch._device import device_name, ieee_float32, resolve_device, resolve_dtype
from netspec.backends.torch._inputs import check_values
from netspec.backends.torch._losses import data_loss, penalty
from netspec.backends.torch._module import NetspecModule
from netspec.backends.torch._train import TorchTrainStep
from netspec.errors import NetspecError
from netspec.initializers import initial_params
from netspec.ir import CheckedModel
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec

NOT_CHECKED = (
    "the torch backend compiles a CheckedModel, got {got}\n"
    "  help: pass program.model() (or program.model(name)) from netspec.load(...)"
)


class TorchModel:
    """A checked model compiled to PyTorch; see :class:`netspec.backend.CompiledModel`.

    ``module`` is the underlying :class:`NetspecModule`. Each call puts the module into
    training or eval mode as asked and leaves it so. On CUDA, TF32 is off for the
    duration of each call unless the model was compiled with ``allow_tf32=True``.
    The wrapper holds the module's tensors on the device it was compiled for: to run
    elsewhere, compile again (with ``params=model.parameters()``) rather than moving
    ``.module``.
    """

    def __init__(
        self,
        ir: CheckedModel,
        module: NetspecModule,
        dtype: Literal["float32", "float64"],
        device: torch.device,
        *,
        allow_tf32: bool = False,
    ) -> None:
        self.ir = ir
        self.dtype: Literal["float32", "float64"] = dtype
        self.device = device_name(device)
        self.module = module
        self._device = device
        self._np_dtype = np.dtype(dtype)
        self._precision: Callable[[], AbstractContextManager[None]] = (
            ieee_float32 if device.type == "cuda" and not allow_tf32 else contextlib.nullcontext
        )
        tensors = module.state_dict(keep_vars=True)
        self._params = [(spec.name, tensors[spec.name]) for spec in ir.params]
        self._penalties = [
            (tensors[spec.name], spec.regularize.l2, spec.regularize.l1)
            for spec in ir.params
            if spec.regularize.l2 or spec.regularize.l1
        ]

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        """The output for a batch [N, *input shape]."""
        batch = self._batch(x, train)
        with self._precision(), torch.no_grad():
            self._set_mode(train)
            return _numpy(self.module(self._tensor(batch)))

    def trace(self, x: np.ndarray, *, train: bool = False) -> dict[str, np.ndarray]:
        """Every node's output, by node name in node order."""
        batch = self._batch(x, train)
        with self._precision(), torch.no_grad():
            self._set_mode(train)
            live = self.module.trace(self._tensor(batch))
            return {node.name: _numpy(live[node.name]) for node in self.ir.nodes}

    def loss_and_grads(
        self,
        x: np.ndarray,
        y: np.ndarray,
        loss: LossSpec,
        *,
        train: bool = True,
        input_grad: bool = False,
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Data loss plus declared penalties, and its gradient for every parameter.

        With ``input_grad`` the gradient for the input is included under the input's
        name. The gradients are computed with ``torch.autograd.grad``, so the module's
        ``.grad`` fields are left alone.
        """
        loss = resolve_loss(loss)
        batch = self._batch(x, train)
        targets = check_targets(self.ir, y, loss, batch.shape[0], self._np_dtype)
        with self._precision(), torch.enable_grad():
            self._set_mode(train)
            inputs = self._tensor(batch)
            if input_grad:
                inputs.requires_grad_(True)
            total = data_loss(self.module(inputs), self._tensor(targets), loss)
            extra = penalty(self._penalties)
            if extra is not None:
                total = total + extra
            wrt = [tensor for _, tensor in self._params]
            names = [name for name, _ in self._params]
            if input_grad:
                wrt.append(inputs)
                names.append(self.ir.input.name)
            grads = _gradients(total, wrt)
            return float(total.detach()), _gradient_arrays(names, grads)

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the learnable arrays, by IR name in IR order."""
        tensors = self.module.state_dict()
        return {spec.name: _numpy(tensors[spec.name]) for spec in self.ir.params}

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the batchnorm running statistics, by IR name in IR order."""
        tensors = self.module.state_dict()
        return {spec.name: _numpy(tensors[spec.name]) for spec in self.ir.state}

    def set_parameters(self, values: dict[str, np.ndarray]) -> None:
        """Overwrite parameters and state in place (an optimizer holding them keeps
        working); every array is checked before any is written."""
        checked = check_values(self.ir, values, self._np_dtype, complete=False)
        tensors = self.module.state_dict(keep_vars=True)
        with torch.no_grad():
            for name, array in checked.items():
                tensors[name].copy_(torch.from_numpy(array))

    def seed(self, seed: int) -> None:
        """Restart the dropout stream from ``seed``."""
        self.module.seed_dropout(check_seed(seed))

    def train_step(
        self, loss: LossSpec, optimizer: OptimizerSpec, clip: ClipSpec | None = None
    ) -> TorchTrainStep:
        """A fused training step on this model (docs/training.md gives the math)."""
        return TorchTrainStep(self, check_loss(loss), check_optimizer(optimizer), clip)

    def _batch(self, x: object, train: bool) -> np.ndarray:
        return check_batch(self.ir, x, self._np_dtype, train=train)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(self._device)

    def _set_mode(self, train: bool) -> None:
        if self.module.training != train:
            self.module.train(train)

    def __repr__(self) -> str:
        return f"TorchModel({self.ir.name!r}, dtype={self.dtype}, device={self.device})"


class TorchBackend:
    """``netspec.backends.torch.BACKEND``: compiles checked models to PyTorch."""

    name: Literal["torch"] = "torch"

    def compile(
        self,
        model: CheckedModel,
        *,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
        seed: int = 0,
        params: dict[str, np.ndarray] | None = None,
        allow_tf32: bool = False,
    ) -> TorchModel:
        """Build the module on ``device`` ("cpu", "cuda", "cuda:N" or "auto").

        Initial values are ``params`` (every parameter; state defaults to its fill) or
        drawn by :func:`netspec.initializers.initial_params` with ``seed``, which also
        seeds dropout. ``allow_tf32`` lets float32 matmuls and convolutions on CUDA use
        TF32 (faster on Ampere and later, about 1e-3 relative error).
        """
        if not isinstance(model, CheckedModel):
            raise NetspecError(NOT_CHECKED.format(got=type(model).__name__))
        seed = check_seed(seed)
        torch_dtype = resolve_dtype(dtype)
        target = resolve_device(device)
        np_dtype = np.dtype(dtype)
        if params is None:
            values = initial_params(model, seed, dtype)
        else:
            values = check_values(model, params, np_dtype, complete=True)
            for state in model.state:
                values.setdefault(state.name, np.full(state.shape, state.fill, dtype=np_dtype))
        module = NetspecModule(model, values, dtype=torch_dtype, seed=seed).to(target)
        module.seed_dropout(seed)  # the generator moves to the module's device
        return TorchModel(model, module, dtype, target, allow_tf32=allow_tf32)


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


BACKEND = TorchBackend()
