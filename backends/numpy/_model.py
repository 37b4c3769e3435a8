"""The compiled NumPy model: interprets the lowering table over the DAG, forward and reverse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from netspec._contract import check_targets, gradient_inputs, lowering_of
from netspec._model_base import Batch, Inputs, ModelBase, batch_size, starting_weights
from netspec._validate import check_seed
from netspec.backends.numpy._losses import loss_and_grad
from netspec.backends.numpy._train import NumpyTrainStep
from netspec.backends.numpy.nn import LOWERINGS, arguments
from netspec.devices import check_index, no_gpu, parse_device
from netspec.errors import NetspecError, ShapeError
from netspec.ir import CheckedModel, CheckedNode, ParamSpec
from netspec.ir.graph import INDEX_DTYPES
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec
from netspec.lowering import Lowering

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


def _step(node: CheckedNode, lowering: Lowering, names: dict[str, tuple[str, bool]]) -> _Step:
    """``names`` maps the node's attributes to (full name, is state)."""
    assert lowering.backward is not None
    static = lowering.static(node)
    marks = {"train": True, "rng": True, "workspace": True, "need_dx": True}
    arrays = {attr: name for attr, name in names.items()}
    fwd = arguments(lowering.fn, {**static, **arrays, **marks}, arrays)
    back = arguments(lowering.backward, {**static, **arrays, **marks}, arrays)
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


class NumpyModel(ModelBase):
    """A checked model run by the NumPy lowerings; see :class:`netspec.backend.CompiledModel`.

    Runs on the CPU only. Not thread-safe: each node's workspace keeps its im2col and
    padding buffers between calls.
    """

    backend = "numpy"

    def __init__(
        self,
        ir: CheckedModel,
        *,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
        seed: int = 0,
        params: dict[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__(ir, dtype)
        kind, index = parse_device(device)
        if kind == "gpu":
            raise no_gpu(
                device, "numpy", "it runs on the CPU only; backends torch and jax use GPUs"
            )
        check_index(device, "numpy", "cpu", index or 0, 1)
        self.device = "cpu"
        self._rng = _rng(check_seed(seed))
        self._inputs = ir.input_names
        # The inputs with a gradient; indices (an integer input, shape ops on it) have none.
        self._grad_inputs = gradient_inputs(ir)
        self._indices = {i.name for i in ir.inputs if i.name not in self._grad_inputs}
        self._indices |= {n.name for n in ir.nodes if n.output.dtype in INDEX_DTYPES}
        self._param_specs = {spec.name: spec for spec in ir.params}
        self._steps = self._build_steps()
        # A node needs a gradient when it, or anything upstream of it, has parameters.
        self._has_params: dict[str, bool] = {}
        for node in ir.nodes:
            self._has_params[node.name] = bool(node.params) or any(
                self._has_params.get(name, False) for name in node.inputs
            )
        start = starting_weights(ir, self.dtype, seed, params)
        self._params: Params = {spec.name: start[spec.name] for spec in ir.params}
        self._state: Params = {spec.name: start[spec.name] for spec in ir.state}

    def _build_steps(self) -> list[_Step]:
        seen = set(self._inputs)
        steps: list[_Step] = []
        for node in self.ir.nodes:
            lowering = lowering_of(LOWERINGS, node.op.kind, "numpy backend")
            missing = [name for name in node.inputs if name not in seen]
            if missing:
                raise NetspecError(
                    f"node {node.name!r} reads {', '.join(map(repr, missing))}, which no "
                    "earlier node produces; the IR must be checked and in topological order"
                )
            names = {s.attr: (s.name, False) for s in self.ir.params if s.node == node.name}
            names |= {s.attr: (s.name, True) for s in self.ir.state if s.node == node.name}
            steps.append(_step(node, lowering, names))
            seen.add(node.name)
        return steps

    # -- running the graph -------------------------------------------------------------

    def _run(self, x: Inputs, train: bool) -> tuple[dict[str, np.ndarray], list[Any]]:
        values: dict[str, np.ndarray] = dict(x)
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

    def _outputs(self, batch: Inputs, train: bool, keep: bool) -> dict[str, np.ndarray]:
        return self._run(batch, train)[0]

    def _loss_and_grads(
        self, batch: Inputs, targets: np.ndarray, loss: LossSpec, train: bool, input_grad: bool
    ) -> tuple[float, dict[str, np.ndarray]]:
        pass_ = self._backprop(batch, targets, loss, train, input_grad)
        return pass_.data_loss + pass_.penalty, pass_.grads

    def backprop(
        self, x: Batch, y: np.ndarray, loss: LossSpec, *, train: bool, input_grad: bool
    ) -> Backprop:
        """One forward and backward pass of a raw batch; what the training step uses.
        Gradients include the penalties' gradients."""
        xb = self._batch(x, train)
        y = check_targets(self.ir, y, loss, batch_size(xb), self._np_dtype)
        return self._backprop(xb, y, loss, train, input_grad)

    def _backprop(
        self, xb: Inputs, y: np.ndarray, loss: LossSpec, train: bool, input_grad: bool
    ) -> Backprop:
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
            need = tuple(
                (input_grad and name not in self._indices) or self._has_params.get(name, False)
                for name in node.inputs
            )
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
            value, result[spec.name] = self._penalised(spec.name, g)
            penalty += value
        if input_grad:
            for name in self._grad_inputs:
                dx = pending.get(name)
                result[name] = np.zeros_like(xb[name]) if dx is None else np.ascontiguousarray(dx)
        return Backprop(data_loss, penalty, result, out)

    def _penalised(self, name: str, grad: np.ndarray) -> tuple[float, np.ndarray]:
        """The parameter's l2 / l1 penalty, and ``grad`` with the penalty's gradient."""
        reg = self._param_specs[name].regularize
        w = self._params[name]
        penalty = 0.0
        if reg.l2:
            penalty += 0.5 * reg.l2 * float(np.sum(w * w))
            grad = grad + reg.l2 * w
        if reg.l1:
            penalty += reg.l1 * float(np.sum(np.abs(w)))
            grad = grad + reg.l1 * np.sign(w)
        return penalty, np.ascontiguousarray(grad, dtype=self._np_dtype)

    # -- parameters ----------------------------------------------------------------------

    def _copies(self, names: list[str]) -> dict[str, np.ndarray]:
        return {name: self._array(name).copy() for name in names}

    def _array(self, name: str) -> np.ndarray:
        return self._params[name] if name in self._params else self._state[name]

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        for name, array in arrays.items():
            np.copyto(self._array(name), array)

    def param_arrays(self) -> Params:
        """The live parameter arrays (not copies), for the training step to update."""
        return self._params

    def ir_param(self, name: str) -> ParamSpec:
        """The IR's description of parameter ``name``."""
        return self._param_specs[name]

    def _train_step(
        self, loss: LossSpec, optimizer: OptimizerSpec, clip: ClipSpec | None, precision: str
    ) -> NumpyTrainStep:
        # Only fp32 gets here: ModelBase.train_step refuses the others for NumPy.
        return NumpyTrainStep(self, loss, optimizer, clip)

    def _reseed(self, seed: int) -> None:
        self._rng = _rng(seed)
