"""The forward and data loss of a torch training step, optionally compiled.

``netspec train --compile`` (``fit(compile=True)``) compiles them with
``torch.compile`` (TorchInductor; on the CPU it generates C++ and needs a C++ compiler):
AOTAutograd compiles the backward with them, so the step's elementwise work (bias,
activations, the loss and their gradients) runs fused. The first steps compile (tens of
seconds for a small network on a loaded CPU; docs/benchmarks.md), a batch of another
size (the smaller last one) once more. Results agree with the eager step to round-off,
not bit for bit: fused kernels sum in another order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from netspec.backends.torch._losses import data_loss
from netspec.ir.train import LossSpec

# The torch.compile backend of --compile (tests swap in "aot_eager", which generates no C++).
BACKEND = "inductor"

Forward = Callable[[dict[str, torch.Tensor], torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def forward_and_loss(module: torch.nn.Module, loss: LossSpec, *, compile: bool) -> Forward:
    """``(inputs, target) -> (output, data loss)`` of ``module``, compiled when asked."""

    def run(inputs: dict[str, torch.Tensor], target: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output = module(inputs)
        return output, data_loss(output, target, loss)

    return torch.compile(run, backend=BACKEND) if compile else run  # type: ignore[return-value]
