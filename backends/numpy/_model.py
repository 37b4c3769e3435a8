"""The compiled NumPy model: interprets the lowering table over the DAG, forward and reverse."""

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
from netspec.backends.numpy._losses import loss_and_grad
from netspec.backends.numpy._train import NumpyTrainStep
from netspec.backends.numpy.nn import LOWERINGS, arguments
from netspec.errors import NetspecError, ShapeError
from netspec.initializers import initial_params
from netspec.ir import CheckedModel, CheckedNode, ParamSpec
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec
from netspec.lowering import Lowering
from netspec.weights import validate_weights

Params = dict[str, np.ndarray]


@dataclass
class _Step:
    """One node ready to run: its lowering and the arguments fixed at compile time.

    ``params`` and ``state`` pair an argument name with the array's full name, looked up
    at each call (the training step updates the arrays); ``static`` holds the rest.
    """

    node: CheckedNode
    lowering: Lowering
    static: dict[str, Any]
    params: list[tuple[str, str]]
    state: list[tuple[str, str]]
    train: bool
    rng: bool
    workspace: dict[Any, np.ndarray] | None
    back_static: dict[str, Any]
    back_params: list[tuple[str, str]]
    need_dx: bool


def _step(node: CheckedNode, names: dict[str, tuple[str, bool]]) -> _Step:
    """``names`` maps the node's attributes to (full name, is state)."""
    lowering = LOWERINGS[node.op.kind]
    assert lowering.backward is not None
    try:
        static = lowering.static(node)
    except ValueError as error:  # unresolved padding: an unchecked IR
        raise NetspecError(f"node {node.name!r}: {error}") from error
    marks = {"train": True, "rng": True, "workspace": True, "need_dx": True}
    arrays = {attr: name for attr, name in names.items()}
    fwd = arguments(lowering.fn, {**static, **arrays, **marks})
    back = arguments(lowering.backward, {**static, **arrays, **marks})
    return _Step(
        node,
        lowering,
        static={k: v for k, v in fwd.items() if k in static},
        params=[(k, v[0]) for k, v in fwd.items() if k in arrays and not v[1]],
        state=[(k, v[0]) for k, v in fwd.items() if k in arrays and v[1]],
        train="train" in fwd,
        rng="rng" in fwd,
        workspace={} if "workspace" in fwd else None,
        back_static={k: v for k, v in back.items() if k in static},
        back_params=[(k, v[0]) for k, v in back.items() if k in arrays and not v[1]],
        need_dx="need_dx" in back,
    )


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
    """A checked model run by the NumPy lowerings; see :class:`netspec.backend.CompiledModel`.

    Not thread-safe: each node's workspace keeps its im2col and padding buffers between
    calls.
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
        self._steps = self._build_steps()
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

    def _build_steps(self) -> list[_Step]:
        seen = {self._input}
        steps: list[_Step] = []
        for node in self.ir.nodes:
            kind = node.op.kind
            if kind not in LOWERINGS:
                raise unsupported_op("numpy backend", kind)
            missing = [name for name in node.inputs if name not in seen]
            if missing:
                raise NetspecError(
                    f"node {node.name!r} reads {', '.join(map(repr, missing))}, which no "
                    "earlier node produces; the IR must be checked and in topological order"
                )
            names = {s.attr: (s.name, False) for s in self.ir.params if s.node == node.name}
            names |= {s.attr: (s.name, True) for s in self.ir.state if s.node == node.name}
            steps.append(_step(node, names))
            seen.add(node.name)
        return steps

    # -- running the graph -------------------------------------------------------------

    def _check_input(self, x: Any, train: bool) -> np.ndarray:
        return check_batch(self.ir, x, self._np_dtype, train=train)

    def _run(self, x: np.ndarray, train: bool) -> tuple[dict[str, np.ndarray], list[Any]]:
        values: dict[str, np.ndarray] = {self._input: x}
        caches: list[Any] = []
        for step in self._steps:
            node = step.node
            kwargs = dict(step.static)
            for attr, name in step.params:
                kwargs[attr] = self._params[name]
            for attr, name in step.state:
                kwargs[attr] = self._state[name]  # batchnorm moves these in place
            if step.train:
                kwargs["train"] = train
            if step.rng:
                kwargs["rng"] = self._rng
            if step.workspace is not None:
                kwargs["workspace"] = step.workspace
            try:
                y, cache = step.lowering.fn(*[values[name] for name in node.inputs], **kwargs)
            except ValueError as error:  # a batch the op cannot take
                raise ShapeError(f"{node.op.kind} {node.name!r}: {error}") from error
            values[node.name] = y
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
        for step, cache in zip(reversed(self._steps), reversed(caches), strict=True):
            node = step.node
            dy = pending.pop(node.name, None)
            if dy is None:
                continue  # the output does not depend on this node
            # Every node depends on the input, so with input_grad every edge is needed;
            # without it, only edges with parameters upstream.
            need = tuple(input_grad or self._has_params.get(name, False) for name in node.inputs)
            if not node.params and not any(need):
                continue
            kwargs = dict(step.back_static)
            for attr, name in step.back_params:
                kwargs[attr] = self._params[name]
            if step.need_dx:
                kwargs["need_dx"] = any(need)
            assert step.lowering.backward is not None
            back = step.lowering.backward(dy, cache, **kwargs)
            back = back if isinstance(back, tuple) else (back,)
            count = len(node.inputs)
            for (_, name), grad in zip(step.back_params, back[count:], strict=True):
                grads[name] = grad
            for name, dx, needed in zip(node.inputs, back[:count], need, strict=True):
                if dx is not None and needed:
                    # Not in place: a lowering may hand back its own dy unchanged.
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
