"""The fused training step: gradients, clipping, optimizer update, max_norm, statistics.

docs/training.md gives the mathematics; it is PyTorch's, so the update is done by
``torch.optim`` itself, clipping by ``clip_grad_norm_`` / ``clip_grad_value_`` and
max_norm by ``torch.renorm``. The statistics stay as tensors on the model's device until
:meth:`TorchTrainStep.drain`, so a step never waits for the GPU. Optimizer buffers are
saved under torch.optim's own names (``exp_avg``, ``momentum_buffer``, ...), the names
every netspec backend uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from netspec._contract import check_targets
from netspec._model_base import Batch, batch_size
from netspec.backends.torch._losses import data_loss, penalty
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec
from netspec.optimizers import buffer_names, check_optimizer_state, pack_state
from netspec.train_stats import Stats

if TYPE_CHECKING:
    from netspec.backends.torch._compiled import TorchModel

Params = list[torch.Tensor]

# The torch.optim optimizer each kind is, built from the spec's settings (its lr is reset
# every step).
OPTIMIZERS: dict[str, Callable[[Any, Params], torch.optim.Optimizer]] = {
    "sgd": lambda s, p: torch.optim.SGD(
        p, lr=s.lr, momentum=s.momentum, dampening=s.dampening, nesterov=s.nesterov
    ),
    "adagrad": lambda s, p: torch.optim.Adagrad(
        p,
        lr=s.lr,
        lr_decay=s.lr_decay,
        initial_accumulator_value=s.initial_accumulator_value,
        eps=s.eps,
    ),
    "rmsprop": lambda s, p: torch.optim.RMSprop(
        p, lr=s.lr, alpha=s.alpha, eps=s.eps, momentum=s.momentum, centered=s.centered
    ),
    "adam": lambda s, p: torch.optim.Adam(
        p, lr=s.lr, betas=(s.beta1, s.beta2), eps=s.eps, amsgrad=s.amsgrad
    ),
    "adamw": lambda s, p: torch.optim.AdamW(
        p,
        lr=s.lr,
        betas=(s.beta1, s.beta2),
        eps=s.eps,
        weight_decay=s.weight_decay,
        amsgrad=s.amsgrad,
    ),
}


def make_optimizer(spec: OptimizerSpec, params: Params) -> torch.optim.Optimizer:
    """The torch.optim optimizer a spec describes (its lr is reset every step)."""
    return OPTIMIZERS[spec.kind](spec, params)


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

    def step(self, x: Batch, y: np.ndarray, lr: float) -> None:
        """One update: gradients (penalties included), clipping, the optimizer, then
        max_norm. Nothing is read back from the device."""
        model = self._model
        batch = model._batch(x, True)
        size = batch_size(batch)
        targets = check_targets(model.ir, y, self._loss, size, model._np_dtype)
        with model._precision(), torch.enable_grad():
            model._set_mode(True)
            target = model._tensor(targets)
            output = model.module(model._tensors(batch))
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
            self._record(data.detach(), output.detach(), target, grads, size)
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
        hits = HITS[self._loss.kind]
        if hits is not None:
            self._hit_flags.append(hits(output, target))
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
        """Every buffer as ``<param>.<buffer>``, plus ``step`` (netspec.optimizers)."""
        names = buffer_names(self._spec)
        buffers = (
            {
                name: {
                    b: self._optimizer.state[tensor][b].detach().cpu().numpy().copy() for b in names
                }
                for name, tensor in zip(self._names, self._tensors, strict=True)
            }
            if self._t
            else {}
        )
        return pack_state(self._t, buffers)

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`optimizer_state` saved, checked by check_optimizer_state."""
        tensors = dict(zip(self._names, self._tensors, strict=True))
        shapes = {name: tuple(tensor.shape) for name, tensor in tensors.items()}
        step, found = check_optimizer_state(state, self._spec, shapes, self._model.ir.name)
        # A fresh optimizer is the state of step 0 (Adagrad fills its sums when built).
        self._optimizer = make_optimizer(self._spec, self._tensors)
        for name, tensor in tensors.items() if step else ():
            entry = {
                buffer: torch.from_numpy(np.array(array)).to(
                    device=tensor.device, dtype=tensor.dtype
                )
                for buffer, array in found[name].items()
            }
            # torch.optim counts steps per parameter, in a float tensor (sgd ignores it).
            entry["step"] = torch.tensor(float(step), dtype=_step_dtype())
            self._optimizer.state[tensor] = entry
        self._t = step


def _step_dtype() -> torch.dtype:
    # What torch.optim itself uses for its step counters.
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _class_hits(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # Classes on the last axis; one flag per position (per step of an output [T, V]).
    labels = target if target.dim() == output.dim() - 1 else target.argmax(dim=-1)
    return output.argmax(dim=-1) == labels


def _binary_hits(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # A sample is a hit when every output's sign agrees with its 0 / 1 target.
    agree = (output > 0) == (target >= 0.5)
    return agree.reshape(output.shape[0], -1).all(dim=1)


# Per-sample top-1 hits (bool) by loss kind; None for regression losses, which count none.
HITS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None] = {
    "softmax_cross_entropy": _class_hits,
    "binary_cross_entropy": _binary_hits,
    "mse": None,
    "half_sse": None,
    "l1": None,
}
