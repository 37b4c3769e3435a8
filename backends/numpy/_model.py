"""The compiled NumPy model: runs the kernels over the DAG, forward and reverse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from netspec._contract import (
    check_batch,
    check_loss,
    check_optimizer,
    check_targets,
    unsupported_op,
)
from netspec._validate import check_seed
from netspec.backend import resolve_loss
from netspec.backends.numpy import _activations as act
from netspec.backends.numpy import _conv as conv
from netspec.backends.numpy import _layers as layers
from netspec.backends.numpy._kernel import Context, Kernel, Params
from netspec.backends.numpy._losses import loss_and_grad
from netspec.backends.numpy._train import NumpyTrainStep
from netspec.errors import NetspecError
from netspec.initializers import initial_params
from netspec.ir import CheckedModel, ParamSpec
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec
from netspec.weights import validate_weights

KERNELS: dict[str, type[Kernel]] = {
    "dense": layers.DenseKernel,
    "conv2d": conv.Conv2dKernel,
    "maxpool": conv.MaxPoolKernel,
    "avgpool": conv.AvgPoolKernel,
    "global_avgpool": conv.GlobalAvgPoolKernel,
    "batchnorm": layers.BatchNormKernel,
    "standardize": layers.StandardizeKernel,
    "dropout": layers.DropoutKernel,
    "flatten": layers.ReshapeKernel,
    "reshape": layers.ReshapeKernel,
    "add": layers.AddKernel,
    "multiply": layers.MultiplyKernel,
    "concat": layers.ConcatKernel,
    "identity": act.IdentityKernel,
    "step": act.StepKernel,
    "sigmoid": act.SigmoidKernel,
    "tanh": act.TanhKernel,
    "relu": act.ReluKernel,
    "leaky_relu": act.LeakyReluKernel,
    "prelu": act.PreluKernel,
    "elu": act.EluKernel,
    "gelu": act.GeluKernel,
    "softplus": act.SoftplusKernel,
    "softmax": act.SoftmaxKernel,
    "log_softmax": act.LogSoftmaxKernel,
}


@dataclass(frozen=True)
class Backprop:
    """The result of one forward and backward pass."""

    data_loss: float
    penalty: float
    grads: dict[str, np.ndarray]  # by parameter name, penalties included; plus the input's
    output: np.ndarray


# Tags the dropout stream so that it differs from the initialiser's stream of the same seed.
_DROPOUT_STREAM = 0x64726F70


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([seed, _DROPOUT_STREAM]))


class NumpyModel:
    """A checked model compiled to NumPy kernels; see :class:`netspec.backend.CompiledModel`.

    Not thread-safe: kernels reuse their im2col and padding buffers between calls.
    """

    def __init__(
        self,
        ir: CheckedModel,
        dtype: Literal["float32", "float64"],
        seed: int,
        params: dict[str, np.ndarray] | None,
    ) -> None:
        self.ir = ir
        self.dtype: Literal["float32", "float64"] = dtype
        self.device = "cpu"
        self._np_dtype = np.dtype(dtype)
        self._rng = _rng(check_seed(seed))
        if params is not None:
            params = validate_weights(ir, params, dtype=self._np_dtype, require="none")
        self._input = ir.input.name
        self._param_specs = {spec.name: spec for spec in ir.params}
        self._state_specs = {spec.name: spec for spec in ir.state}
        self._kernels = self._build_kernels()
        # A node needs a gradient when it, or anything upstream of it, has parameters.
        self._has_params: dict[str, bool] = {}
        for node in ir.nodes:
            self._has_params[node.name] = bool(node.params) or any(
                self._has_params.get(name, False) for name in node.inputs
            )
        names = set(self._param_specs) | set(self._state_specs)
        if params is not None and names <= set(params):
            # Everything is given: skip the draws (seconds for a large net); the arrays
            # are filled, and their shapes checked, by set_parameters below.
            start = {
                spec.name: np.empty(spec.shape, dtype=dtype) for spec in (*ir.params, *ir.state)
            }
        else:
            start = initial_params(ir, seed=seed, dtype=dtype)
        self._params: Params = {spec.name: start[spec.name] for spec in ir.params}
        self._state: Params = {spec.name: start[spec.name] for spec in ir.state}
        if params is not None:
            self.set_parameters(params)

    def _build_kernels(self) -> list[Kernel]:
        shapes: dict[str, tuple[int, ...]] = {self._input: self.ir.input.shape}
        kernels: list[Kernel] = []
        for node in self.ir.nodes:
            kind = node.op.kind
            if kind not in KERNELS:
                raise unsupported_op("numpy backend", kind)
            missing = [name for name in node.inputs if name not in shapes]
            if missing:
                raise NetspecError(
                    f"node {node.name!r} reads {', '.join(map(repr, missing))}, which no "
                    "earlier node produces; the IR must be checked and in topological order"
                )
            names = {
                spec.attr: spec.name
                for spec in (*self.ir.params, *self.ir.state)
                if spec.node == node.name
            }
            in_shapes = tuple(shapes[name] for name in node.inputs)
            try:
                kernels.append(KERNELS[kind](node, in_shapes, names))
            except ValueError as error:  # unresolved padding: an unchecked IR
                raise NetspecError(f"node {node.name!r}: {error}") from error
            shapes[node.name] = node.output.shape
        return kernels

    # -- running the graph -------------------------------------------------------------

    def _check_input(self, x: Any, train: bool) -> np.ndarray:
        return check_batch(self.ir, x, self._np_dtype, train=train)

    def _run(self, x: np.ndarray, train: bool) -> tuple[dict[str, np.ndarray], list[Any]]:
        ctx = Context(train=train, rng=self._rng, state=self._state)
        values: dict[str, np.ndarray] = {self._input: x}
        caches: list[Any] = []
        for kernel in self._kernels:
            y, cache = kernel.forward(
                [values[name] for name in kernel.node.inputs], self._params, ctx
            )
            values[kernel.node.name] = y
            caches.append(cache)
        return values, caches

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        """Run a batch [N, *input shape]; ``train`` enables dropout and batch statistics."""
        values, _ = self._run(self._check_input(x, train), train)
        return values[self.ir.output]

    def trace(self, x: np.ndarray, *, train: bool = False) -> dict[str, np.ndarray]:
        """Every node's output by node name."""
        values, _ = self._run(self._check_input(x, train), train)
        return {node.name: values[node.name] for node in self.ir.nodes}

    def loss_and_grads(
        self,
        x: np.ndarray,
        y: np.ndarray,
        loss: LossSpec,
        *,
        train: bool = True,
        input_grad: bool = False,
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Data loss plus declared l1 / l2 penalties, and its gradient for every
        parameter (and for the input under its name, with ``input_grad``). ``loss`` is an
        IR loss or its name (``"softmax_cross_entropy"``, ``"mse"``...)."""
        pass_ = self.backprop(x, y, resolve_loss(loss), train=train, input_grad=input_grad)
        return pass_.data_loss + pass_.penalty, pass_.grads

    def backprop(
        self, x: np.ndarray, y: np.ndarray, loss: LossSpec, *, train: bool, input_grad: bool
    ) -> Backprop:
        """One forward and backward pass; what ``loss_and_grads`` and the training step
        share. Gradients include the penalties' gradients."""
        xb = self._check_input(x, train)
        y = check_targets(self.ir, y, loss, len(xb), self._np_dtype)
        values, caches = self._run(xb, train)
        out = values[self.ir.output]
        data_loss, dout = loss_and_grad(out, y, loss)
        pending: dict[str, np.ndarray] = {self.ir.output: dout}
        grads: Params = {}
        for kernel, cache in zip(reversed(self._kernels), reversed(caches), strict=True):
            node = kernel.node
            dy = pending.pop(node.name, None)
            if dy is None:
                continue  # the output does not depend on this node
            # Every node depends on the input, so with input_grad every edge is needed;
            # without it, only edges with parameters upstream.
            need = tuple(input_grad or self._has_params.get(name, False) for name in node.inputs)
            if not node.params and not any(need):
                continue
            dxs = kernel.backward(dy, cache, self._params, need, grads)
            for name, dx in zip(node.inputs, dxs, strict=True):
                if dx is not None:
                    # Not in place: a kernel may hand back its own dy unchanged.
                    pending[name] = dx if name not in pending else pending[name] + dx
        result: dict[str, np.ndarray] = {}
        penalty = 0.0
        for spec in self.ir.params:
            g = grads.get(spec.name)
            g = np.zeros_like(self._params[spec.name]) if g is None else g
            penalty += self._penalty(spec.name)
            result[spec.name] = self._penalise(spec.name, g)
        if input_grad:
            dx = pending.get(self._input)
            result[self._input] = np.zeros_like(xb) if dx is None else np.ascontiguousarray(dx)
        return Backprop(data_loss, penalty, result, out)

    def _penalty(self, name: str) -> float:
        reg = self._param_specs[name].regularize
        w = self._params[name]
        total = 0.0
        if reg.l2:
            total += 0.5 * reg.l2 * float(np.sum(w * w))
        if reg.l1:
            total += reg.l1 * float(np.sum(np.abs(w)))
        return total

    def _penalise(self, name: str, grad: np.ndarray) -> np.ndarray:
        reg = self._param_specs[name].regularize
        w = self._params[name]
        if reg.l2:
            grad = grad + reg.l2 * w
        if reg.l1:
            grad = grad + reg.l1 * np.sign(w)
        return np.ascontiguousarray(grad, dtype=self._np_dtype)

    # -- parameters ----------------------------------------------------------------------

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the learnable arrays, keyed by parameter name, in IR order."""
        return {name: value.copy() for name, value in self._params.items()}

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the batchnorm running statistics, keyed by state name."""
        return {name: value.copy() for name, value in self._state.items()}

    def set_parameters(self, values: dict[str, np.ndarray]) -> None:
        """Replace parameters and state by name, checked by
        :func:`netspec.weights.validate_weights` (names, float dtype, shape, finite);
        values are copied, and a rejected dict changes nothing."""
        checked = validate_weights(self.ir, values, dtype=self._np_dtype, require="none")
        staged = [
            (self._params[name] if name in self._params else self._state[name], array)
            for name, array in checked.items()
        ]
        # Copy only after every value passed, so a bad dict leaves the model unchanged.
        for target, array in staged:
            np.copyto(target, array)

    def param_arrays(self) -> Params:
        """The live parameter arrays (not copies), for the training step to update."""
        return self._params

    def ir_param(self, name: str) -> ParamSpec:
        """The IR's description of parameter ``name``."""
        return self._param_specs[name]

    def train_step(
        self, loss: LossSpec, optimizer: OptimizerSpec, clip: ClipSpec | None = None
    ) -> NumpyTrainStep:
        """A fused training step on this model (docs/training.md)."""
        return NumpyTrainStep(self, check_loss(loss), check_optimizer(optimizer), clip)

    def seed(self, seed: int) -> None:
        """Restart the model's own random stream (dropout masks) from ``seed``."""
        self._rng = _rng(check_seed(seed))
