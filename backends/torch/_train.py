"""The fused training step: gradients, clipping, optimizer update, max_norm, statistics.

docs/training.md gives the mathematics; it is PyTorch's, so the update is done by
``torch.optim`` itself, clipping by ``clip_grad_norm_`` / ``clip_grad_value_`` and
max_norm by ``torch.renorm``. The statistics stay as tensors on the model's device until
:meth:`TorchTrainStep.drain`, so a step never waits for the GPU. Optimizer buffers are
saved under torch.optim's own names (``exp_avg``, ``momentum_buffer``, ...), the names
every netspec backend uses.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from netspec._contract import check_targets
from netspec._model_base import Batch, batch_size
from netspec.backends.torch._compile_step import forward_and_loss
from netspec.backends.torch._device import DTYPES
from netspec.backends.torch._distributed import synced_batchnorm
from netspec.backends.torch._losses import penalty
from netspec.backends.torch._precision import Precision
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec
from netspec.optimizers import buffer_names, check_optimizer_state, pack_state
from netspec.train_stats import Stats
from netspec.training.distributed import share

if TYPE_CHECKING:
    from netspec.backends.torch._compiled import TorchModel
    from netspec.backends.torch._distributed import TorchWorld

Params = list[torch.Tensor]

# The environment variable of the test hook that kills one rank (see distribute()).
KILL_HOOK = "NETSPEC_TEST_KILL_RANK_AT_STEP"

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
        *,
        precision: str = "fp32",
    ) -> None:
        self._model = model
        self._loss = loss
        self._spec = optimizer
        self._clip = clip
        self._names = [name for name, _ in model._params]
        self._tensors = [tensor for _, tensor in model._params]
        self._optimizer = make_optimizer(optimizer, self._tensors)
        self._amp = Precision(precision, model._device)  # autocast and loss scaling
        self._max_norms = [
            (tensor, spec.regularize.max_norm)
            for spec, (_, tensor) in zip(model.ir.params, model._params, strict=True)
            if spec.regularize.max_norm is not None
        ]
        self._t = 0
        # The forward and the data loss, compiled by torch.compile when the model asks.
        self._forward = forward_and_loss(
            model.module,
            loss,
            compile=model._compile,
            device=model._device,
            precision=self._amp if self._amp.dtype is not None else None,
            dtype=DTYPES[model.dtype],
        )
        self._world: TorchWorld | None = None
        self._sync_batchnorm = False
        self._reset_stats()

    def distribute(self, world: TorchWorld, *, sync_batchnorm: bool = False) -> None:
        """Train data-parallel in ``world``: each :meth:`step` is given the global batch,
        takes this rank's share, and sums the gradients over ranks so that every rank
        makes the update of the whole batch (docs/distributed.md)."""
        self._world = world
        self._sync_batchnorm = sync_batchnorm
        # Test hook: "RANK:STEP" makes that rank kill itself (SIGKILL) before that step
        # (1-based, counted over the run), to exercise the loss of a process.
        target = os.environ.get(KILL_HOOK, "")
        rank, _, step = target.partition(":")
        self._kill_at = int(step) if target and int(rank) == world.rank else None

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
        world = self._world
        batch = model._batch(x, True)
        size = batch_size(batch)
        targets = check_targets(model.ir, y, self._loss, size, model._np_dtype)
        # One process: the whole batch with weight 1. Data-parallel: this rank's share,
        # its mean loss weighted by its part of the batch's loss denominator (the sum of
        # the gradients over ranks is then the batch's mean gradient), the penalties on
        # rank 0 only (counted once).
        weight, penalised = 1.0, True
        if world is not None:
            if self._kill_at is not None and self._t + 1 == self._kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            part = share(size, world.rank, world.size)
            weight = self._share_weight(targets, part)
            batch = {name: array[part] for name, array in batch.items()}
            targets = targets[part]
            size, penalised = len(targets), world.rank == 0
        with model._precision(), torch.enable_grad():
            model._set_mode(True)
            target = model._tensor(targets)
            output: torch.Tensor | None = None
            data = torch.zeros((), dtype=DTYPES[model.dtype], device=model._device)
            # An empty share runs the forward only when synchronised batch norms need
            # its (empty) part of their collectives.
            if size:
                with self._synced():
                    output, data = self._forward(model._tensors(batch), target)
            elif self._sync_batchnorm:
                with self._synced(), self._amp.autocast():
                    output = model.module(model._tensors(batch))
                output = self._amp.output(output, DTYPES[model.dtype])
                # An empty share's zero loss still runs the backward, whose batch-norm
                # collectives the other ranks' backward waits for.
                data = output.sum() * 0
            extra = penalty(model._penalties) if penalised else None
            total = data * weight if weight != 1.0 else data
            total = total if extra is None else total + extra
            for tensor in self._tensors:
                tensor.grad = None
            if total.requires_grad:
                self._amp.backward(total)
            grads = []
            for tensor in self._tensors:
                # A parameter the loss does not reach still takes its (zero) update, as
                # in the other backends; torch.optim would skip a None gradient.
                if tensor.grad is None:
                    tensor.grad = torch.zeros_like(tensor)
                grads.append(tensor.grad)
            if world is not None:
                world.all_reduce_(grads)
            if self._tensors:
                self._amp.unscale(self._optimizer)
            self._record(data.detach(), output, target, self._amp.checked(grads), size)
            if self._clip is not None and grads:
                if self._clip.by == "norm":
                    torch.nn.utils.clip_grad_norm_(self._tensors, self._clip.threshold)
                else:
                    torch.nn.utils.clip_grad_value_(self._tensors, self._clip.threshold)
            for group in self._optimizer.param_groups:
                group["lr"] = lr
            self._t += 1
            if self._tensors:
                self._amp.step(self._optimizer)
            with torch.no_grad():
                for tensor, bound in self._max_norms:
                    tensor.copy_(torch.renorm(tensor, 2, 0, bound))

    def share_state(self) -> None:
        """Rank 0's buffers (batch-norm running statistics) on every rank, as DDP's
        ``broadcast_buffers`` keeps them, so that evaluation and checkpoints agree."""
        if self._world is not None:
            with torch.no_grad():
                self._world.broadcast_(list(self._model.module.buffers()))

    def _synced(self) -> contextlib.AbstractContextManager[None]:
        if not self._sync_batchnorm or self._world is None:
            return contextlib.nullcontext()
        return synced_batchnorm(self._model.module, self._world.group)

    def _share_weight(self, targets: np.ndarray, part: slice) -> float:
        """This share's part of the batch loss's denominator: its count of samples, or
        for cross-entropy with class weights and class-index targets (which torch
        divides by the labels' weights) its part of the labels' weights."""
        loss = self._loss
        whole = len(targets)
        if not whole:
            return 0.0
        if (
            loss.kind == "softmax_cross_entropy"
            and getattr(loss, "class_weights", None) is not None
            and np.issubdtype(targets.dtype, np.integer)
        ):
            weights = np.asarray(loss.class_weights, dtype=np.float64)
            return float(weights[targets[part]].sum() / weights[targets].sum())
        return (part.stop - part.start) / whole

    def _record(
        self,
        data: torch.Tensor,
        output: torch.Tensor | None,
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
        if hits is not None and output is not None:
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
        updates = self._t - self._amp.skipped()  # a step the loss scaler skipped made none
        buffers = (
            {
                name: {
                    b: self._optimizer.state[tensor][b].detach().cpu().numpy().copy() for b in names
                }
                for name, tensor in zip(self._names, self._tensors, strict=True)
            }
            if updates
            else {}
        )
        return {**pack_state(updates, buffers), **self._amp.state()}

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`optimizer_state` saved, checked by check_optimizer_state."""
        tensors = dict(zip(self._names, self._tensors, strict=True))
        shapes = {name: tuple(tensor.shape) for name, tensor in tensors.items()}
        state = self._amp.load(dict(state))  # the loss scaler's entries, when it has one
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
