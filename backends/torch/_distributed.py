"""PyTorch's side of data-parallel training: the process group and its collectives.

A worker joins the group that ``torch.distributed.run`` (torchrun) or netspec's own
launch through torch's elastic agent describes in its environment: ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. Gradients travel
over NCCL between GPUs (one per process: ``cuda:LOCAL_RANK``) or gloo on the CPU; host
statistics and small objects always over gloo, so that they never wait on a GPU stream.

Synchronised batch normalisation (:func:`synced_batchnorm`) uses the statistics of the
whole global batch, as ``torch.nn.SyncBatchNorm`` does; it is computed here in two
passes (the mean, then the mean squared deviation) so that it matches a one-process
batch norm to rounding.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from netspec.backends.torch import nn
from netspec.devices import parse_device
from netspec.errors import NetspecError

T = TypeVar("T")

# How long a collective waits for the slowest rank before the run fails: long enough for
# rank 0 to write a large checkpoint while the others wait at a barrier, short enough
# that a rank lost without a trace (a machine gone) does not hold the others forever.
COLLECTIVE_TIMEOUT = timedelta(minutes=10)
ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched_size() -> int:
    """WORLD_SIZE as the environment gives it (1 outside a launcher)."""
    text = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(text)
    except ValueError:
        raise NetspecError(f"WORLD_SIZE must be an integer, found {text!r}") from None


class TorchWorld:
    """:class:`netspec.training.distributed.World` over ``torch.distributed``.

    ``device`` is the device string the run was asked for: ``cpu`` trains over gloo;
    ``cuda``, ``gpu`` or ``auto`` (with a GPU) give each process ``cuda:LOCAL_RANK`` and
    NCCL. ``device`` (after construction) is the torch device string this process uses.
    """

    def __init__(self, device: str) -> None:
        values = {}
        for name in ENVIRONMENT:
            if name not in os.environ:
                raise NetspecError(
                    f"WORLD_SIZE is {os.environ.get('WORLD_SIZE')} but {name} is not set: start "
                    "the processes with torchrun (or `netspec train --nproc N`), which sets "
                    f"{', '.join(ENVIRONMENT)}"
                )
            values[name] = os.environ[name]
        self.rank = int(values["RANK"])
        self.size = int(values["WORLD_SIZE"])
        self.local_rank = int(values["LOCAL_RANK"])
        kind, index = parse_device(device)
        cuda = kind in ("cuda", "gpu") or (kind == "auto" and torch.cuda.is_available())
        if cuda and index is not None:
            raise NetspecError(
                f"--device {device} names one GPU, but each of the {self.size} processes takes "
                "its own (cuda:LOCAL_RANK): pass --device cuda"
            )
        if cuda and not torch.cuda.is_available():
            raise NetspecError(f"--device {device} asks for a GPU, but torch sees none")
        if cuda:
            count = torch.cuda.device_count()
            if self.local_rank >= count:
                raise NetspecError(
                    f"process {self.rank} has LOCAL_RANK {self.local_rank}, but this machine "
                    f"has {count} GPU(s): start at most {count} processes per machine"
                )
            torch.cuda.set_device(self.local_rank)
        self.device = f"cuda:{self.local_rank}" if cuda else "cpu"
        dist.init_process_group(
            "nccl" if cuda else "gloo",
            timeout=COLLECTIVE_TIMEOUT,
            rank=self.rank,
            world_size=self.size,
            **({"device_id": torch.device(self.device)} if cuda else {}),
        )
        self.group: Any = dist.group.WORLD
        # Host values over gloo even when gradients go over NCCL.
        self.host: Any = (
            dist.new_group(backend="gloo", timeout=COLLECTIVE_TIMEOUT) if cuda else None
        )

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        dist.barrier(group=self.host)

    def sum(self, values: Sequence[float]) -> list[float]:
        tensor = torch.tensor([float(v) for v in values], dtype=torch.float64)
        dist.all_reduce(tensor, group=self.host)
        return [float(v) for v in tensor.tolist()]

    def broadcast(self, value: T) -> T:
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.host)
        return box[0]  # type: ignore[return-value]

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def all_reduce_(self, tensors: list[torch.Tensor]) -> None:
        """Sum each tensor over ranks, in place, as one flat message."""
        if not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat, group=self.group)
        offset = 0
        for tensor in tensors:
            count = tensor.numel()
            tensor.copy_(flat[offset : offset + count].view_as(tensor))
            offset += count

    def broadcast_(self, tensors: list[torch.Tensor]) -> None:
        """Rank 0's values of ``tensors`` on every rank, in place."""
        for tensor in tensors:
            dist.broadcast(tensor, src=0, group=self.group)


@contextlib.contextmanager
def synced_batchnorm(module: Any, group: Any) -> Iterator[None]:
    """Inside this block the batch norms of ``module`` (a NetspecModule) normalise in
    training mode with the statistics of every rank's batch (every rank must run the
    same forward: the statistics are collectives). As torch's
    ``SyncBatchNorm.convert_sync_batchnorm`` swaps modules, this swaps the batch-norm
    steps of the module's walk, so that ``nn.batchnorm`` itself, whose source generated
    files carry, stays free of the process group."""
    steps = module.steps
    module.steps = tuple(
        step._replace(fn=functools.partial(_batchnorm_of_group, group=group, **step.fn.keywords))
        if isinstance(step.fn, functools.partial) and step.fn.func is nn.batchnorm
        else step
        for step in steps
    )
    try:
        yield
    finally:
        module.steps = steps


def _batchnorm_of_group(
    x: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    *,
    training: bool,
    momentum: float,
    eps: float,
    group: Any,
) -> torch.Tensor:
    # nn.batchnorm's signature, with the statistics of the group's batch in training.
    if not training:
        return nn.batchnorm(
            x, running_mean, running_var, weight, bias,
            training=False, momentum=momentum, eps=eps,
        )  # fmt: skip
    return synced_batch_norm(
        x, running_mean, running_var, weight, bias, momentum=momentum, eps=eps, group=group
    )


def synced_batch_norm(
    x: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    *,
    momentum: float,
    eps: float,
    group: Any,
) -> torch.Tensor:
    """Training-mode batch norm over axis 1 with the statistics of every rank's batch
    (``torch.nn.SyncBatchNorm``'s). The sums are all-reduced with autograd
    (:class:`_Summed`), so each rank's gradient takes the others' samples into
    account; a rank with no samples contributes nothing but still takes part."""
    axes = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    count = torch.tensor(
        float(x.numel() // max(x.shape[1], 1)), dtype=x.dtype, device=x.device
    ).reshape(1)
    first = _Summed.apply(torch.cat([x.sum(dim=axes), count]), group)
    total = first[-1]
    mean = first[:-1] / total
    centred = x - mean.reshape(shape)
    var = _Summed.apply((centred * centred).sum(dim=axes), group) / total
    with torch.no_grad():
        unbiased = var * (total / (total - 1)) if total > 1 else var
        running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
        running_var.mul_(1 - momentum).add_(momentum * unbiased.detach())
    y = centred * torch.rsqrt(var + eps).reshape(shape)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


class _Summed(torch.autograd.Function):
    """The sum over ranks of a tensor, differentiable: the gradient of each rank's input
    is the sum over ranks of the gradients of the result (every rank's loss uses it)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        result = tensor.clone()
        dist.all_reduce(result, group=group)
        return result

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        result = grad.contiguous().clone()
        dist.all_reduce(result, group=ctx.group)
        return result, None
