"""The fused training step: gradients, clipping, optimizer update, max_norm, statistics.

docs/training.md gives the mathematics; it is PyTorch's, so the update is done by
``torch.optim`` itself, clipping by ``clip_grad_norm_`` / ``clip_grad_value_`` and
max_norm by ``torch.renorm``. The statistics stay as tensors on the model's device until
:meth:`TorchTrainStep.drain`, so a step never waits for the GPU. Optimizer buffers are
saved under torch.optim's own names (``exp_avg``, ``momentum_buffer``, ...), the names
every netspec backend uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from netspec._contract import check_targets
from netspec.backends.torch._losses import data_loss, penalty
from netspec.errors import NetspecError, ShapeError
from netspec.ir.train import (
    Adagrad,
    Adam,
    AdamW,
    BinaryCrossEntropy,
    ClipSpec,
    LossSpec,
    OptimizerSpec,
    Rmsprop,
    Sgd,
    SoftmaxCrossEntropy,
)
from netspec.train_stats import Stats

if TYPE_CHECKING:
    from netspec.backends.torch._compiled import TorchModel

UNKNOWN_OPTIMIZER = (
    "the torch backend has no optimizer {kind!r}\n  help: use sgd, adagrad, rmsprop, adam or adamw"
)
BAD_BUFFER = (
    "optimizer state {key!r} does not belong to this {kind} optimizer of model {model!r}\n"
    "  help: its buffers are <parameter>.<buffer> with buffer one of: {allowed}"
)
MISSING_BUFFERS = (
    "optimizer state for {param!r} lacks {missing} (step {step})\n"
    "  help: load a state saved by optimizer_state() of the same optimizer settings"
)
BAD_BUFFER_SHAPE = "optimizer state {key!r} has shape {got}, expected {expected}"


def make_optimizer(spec: OptimizerSpec, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """The torch.optim optimizer a spec describes (its lr is reset every step)."""
    if isinstance(spec, Sgd):
        return torch.optim.SGD(
            params,
            lr=spec.lr,
            momentum=spec.momentum,
            dampening=spec.dampening,
            nesterov=spec.nesterov,
        )
    if isinstance(spec, Adagrad):
        return torch.optim.Adagrad(
            params,
            lr=spec.lr,
            lr_decay=spec.lr_decay,
            initial_accumulator_value=spec.initial_accumulator_value,
            eps=spec.eps,
        )
    if isinstance(spec, Rmsprop):
        return torch.optim.RMSprop(
            params,
            lr=spec.lr,
            alpha=spec.alpha,
            eps=spec.eps,
            momentum=spec.momentum,
            centered=spec.centered,
        )
    if isinstance(spec, AdamW):
        return torch.optim.AdamW(
            params,
            lr=spec.lr,
            betas=(spec.beta1, spec.beta2),
            eps=spec.eps,
            weight_decay=spec.weight_decay,
            amsgrad=spec.amsgrad,
        )
    if isinstance(spec, Adam):
        return torch.optim.Adam(
            params, lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps, amsgrad=spec.amsgrad
        )
    raise NetspecError(UNKNOWN_OPTIMIZER.format(kind=getattr(spec, "kind", spec)))


def buffer_names(spec: OptimizerSpec) -> tuple[str, ...]:
    """The per-parameter buffers torch.optim keeps for these settings (besides step)."""
    if isinstance(spec, Sgd):
        return ("momentum_buffer",) if spec.momentum != 0 else ()
    if isinstance(spec, Adagrad):
        return ("sum",)
    if isinstance(spec, Rmsprop):
        return (
            ("square_avg",)
            + (("momentum_buffer",) if spec.momentum > 0 else ())
            + (("grad_avg",) if spec.centered else ())
        )
    return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if spec.amsgrad else ())


class TorchTrainStep:
    """:class:`netspec.backend.TrainStep` for a :class:`TorchModel`, updating in place.

    The model's parameters are the optimizer's: ``forward``, ``parameters()`` and
    ``set_parameters`` on the model see and steer training.
    """

    def __init__(
        self,
        model: TorchModel,
        loss: LossSpec,
        optimizer: OptimizerSpec,
        clip: ClipSpec | None = None,
    ) -> None:
        self._model = model
        self._loss = loss
        self._spec = optimizer
        self._clip = clip
        self._names = [name for name, _ in model._params]
        self._tensors = [tensor for _, tensor in model._params]
        self._optimizer = make_optimizer(optimizer, self._tensors)
        self._max_norms = [
            (tensor, spec.regularize.max_norm)
            for spec, (_, tensor) in zip(model.ir.params, model._params, strict=True)
            if spec.regularize.max_norm is not None
        ]
        self._t = 0
        self._reset_stats()

    def _reset_stats(self) -> None:
        # Per step since the last drain, kept on the device and combined only by drain()
        # (each small op per step is a measurable share of a small net's step): the loss
        # with the minimum and maximum of every gradient, the per-sample top-1 hits, and
        # on the host the batch size.
        self._values: list[torch.Tensor] = []
        self._hit_flags: list[torch.Tensor] = []
        self._batches: list[int] = []

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        """One update: gradients (penalties included), clipping, the optimizer, then
        max_norm. Nothing is read back from the device."""
        model = self._model
        batch = model._batch(x, True)
        targets = check_targets(model.ir, y, self._loss, batch.shape[0], model._np_dtype)
        with model._precision(), torch.enable_grad():
            model._set_mode(True)
            target = model._tensor(targets)
            output = model.module(model._tensor(batch))
            data = data_loss(output, target, self._loss)
            extra = penalty(model._penalties)
            total = data if extra is None else data + extra
            for tensor in self._tensors:
                tensor.grad = None
            if total.requires_grad:
                total.backward()
            grads = []
            for tensor in self._tensors:
                # A parameter the loss does not reach still takes its (zero) update, as
                # in the other backends; torch.optim would skip a None gradient.
                if tensor.grad is None:
                    tensor.grad = torch.zeros_like(tensor)
                grads.append(tensor.grad)
            self._record(data.detach(), output.detach(), target, grads, batch.shape[0])
            if self._clip is not None and grads:
                if self._clip.by == "norm":
                    torch.nn.utils.clip_grad_norm_(self._tensors, self._clip.threshold)
                else:
                    torch.nn.utils.clip_grad_value_(self._tensors, self._clip.threshold)
            for group in self._optimizer.param_groups:
                group["lr"] = lr
            self._t += 1
            if self._tensors:
                self._optimizer.step()
            with torch.no_grad():
                for tensor, bound in self._max_norms:
                    tensor.copy_(torch.renorm(tensor, 2, 0, bound))

    def _record(
        self,
        data: torch.Tensor,
        output: torch.Tensor,
        target: torch.Tensor,
        grads: list[torch.Tensor],
        batch: int,
    ) -> None:
        # A tensor is finite exactly when its minimum and maximum are (NaN propagates
        # through both): one pass per gradient, where torch.isfinite(grad).all() makes
        # four (abs, eq, ne, and) with full-size temporaries, a fifth of the MLP step.
        values = [data]
        for grad in grads:
            if grad.numel():
                values.extend(torch.aminmax(grad))
        self._values.append(torch.stack(values))
        flags = _hit_flags(output, target, self._loss)
        if flags is not None:
            self._hit_flags.append(flags)
        self._batches.append(batch)

    def drain(self) -> Stats:
        """Wait for the device; return (then reset) the statistics since the last drain."""
        if not self._batches:
            return Stats(loss_sum=0.0, samples=0, correct=0, first_nonfinite=-1)
        values = torch.stack(self._values)  # [steps, loss and gradient extremes]
        finite = torch.isfinite(values).all(dim=1).cpu().tolist()
        losses = values[:, 0].to(torch.float64).cpu().tolist()
        correct = int(torch.cat(self._hit_flags).sum().item()) if self._hit_flags else 0
        loss_sum = 0.0
        for value, batch in zip(losses, self._batches, strict=True):
            loss_sum += value * batch  # float64, in step order, as a running total would
        stats = Stats(
            loss_sum=loss_sum,
            samples=sum(self._batches),
            correct=correct,
            first_nonfinite=finite.index(False) if False in finite else -1,
        )
        self._reset_stats()
        return stats

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """Every buffer as ``<param>.<buffer>``, plus ``step`` (the update count)."""
        saved: dict[str, np.ndarray] = {}
        for name, tensor in zip(self._names, self._tensors, strict=True):
            for key, value in self._optimizer.state.get(tensor, {}).items():
                if key != "step" and isinstance(value, torch.Tensor):
                    saved[f"{name}.{key}"] = value.detach().cpu().numpy().copy()
        saved["step"] = np.array(self._t, dtype=np.int64)
        return saved

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`optimizer_state` saved; names and shapes are checked."""
        if "step" not in state:
            raise NetspecError("optimizer state has no 'step' entry")
        step = int(np.asarray(state["step"]))
        allowed = buffer_names(self._spec)
        tensors = dict(zip(self._names, self._tensors, strict=True))
        found: dict[str, dict[str, torch.Tensor]] = {name: {} for name in self._names}
        for key, value in state.items():
            if key == "step":
                continue
            name, _, buffer = key.rpartition(".")
            if name not in tensors or buffer not in allowed:
                raise NetspecError(
                    BAD_BUFFER.format(
                        key=key,
                        kind=self._spec.kind,
                        model=self._model.ir.name,
                        allowed=", ".join(allowed) or "none",
                    )
                )
            tensor = tensors[name]
            array = np.asarray(value)
            if array.shape != tuple(tensor.shape):
                raise ShapeError(
                    BAD_BUFFER_SHAPE.format(key=key, got=array.shape, expected=tuple(tensor.shape))
                )
            found[name][buffer] = torch.from_numpy(np.array(array)).to(
                device=tensor.device, dtype=tensor.dtype
            )
        for name, tensor in tensors.items():
            buffers = found[name]
            if not buffers and step == 0:
                # Before the first update torch.optim makes its buffers itself, except
                # Adagrad, which fills its sums when it is built.
                if isinstance(self._spec, Adagrad):
                    value = self._spec.initial_accumulator_value
                    buffers = {"sum": torch.full_like(tensor, value)}
                else:
                    self._optimizer.state[tensor] = {}
                    continue
            missing = [buffer for buffer in allowed if buffer not in buffers]
            if missing:
                raise NetspecError(
                    MISSING_BUFFERS.format(param=name, missing=", ".join(missing), step=step)
                )
            entry: dict[str, torch.Tensor] = dict(buffers)
            if not isinstance(self._spec, Sgd):
                # torch.optim counts steps per parameter, in a float tensor.
                entry["step"] = torch.tensor(float(step), dtype=_step_dtype())
            self._optimizer.state[tensor] = entry
        self._t = step


def _step_dtype() -> torch.dtype:
    # What torch.optim itself uses for its step counters.
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _hit_flags(output: torch.Tensor, target: torch.Tensor, loss: LossSpec) -> torch.Tensor | None:
    """Per-sample top-1 hits of a batch (bool) for classification losses; None otherwise."""
    if isinstance(loss, SoftmaxCrossEntropy):
        labels = target if target.dim() == output.dim() - 1 else target.argmax(dim=1)
        return output.argmax(dim=1) == labels
    if isinstance(loss, BinaryCrossEntropy):
        # A sample is a hit when every output's sign agrees with its 0 / 1 target.
        agree = (output > 0) == (target >= 0.5)
        return agree.reshape(output.shape[0], -1).all(dim=1)
    return None
