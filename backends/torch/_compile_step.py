"""The forward and data loss of a torch training step, optionally compiled.

``netspec train --compile`` (``fit(compile=True)``) compiles them with
``torch.compile`` (TorchInductor; on the CPU it generates C++ and needs a C++ compiler):
AOTAutograd compiles the backward with them, so the step's elementwise work (bias,
activations, the loss and their gradients) runs fused. The first steps compile (tens of
seconds for a small network on a loaded CPU; docs/benchmarks.md), a batch of another
size (the smaller last one) once more. Results agree with the eager step to round-off,
not bit for bit: fused kernels sum in another order.

On CUDA the compiled forward and backward are also captured as CUDA graphs (mode
"reduce-overhead": TorchInductor's CUDA graph trees copy each batch into the graph's
static input and replay the kernels with one launch), which removes the per-kernel
launch cost that dominates a small network's step on a GPU. The step reads what it
keeps of the outputs (loss, hits) before the next replay overwrites them. Not on the
CPU, where there is nothing to capture.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from netspec.backends.torch._losses import data_loss
from netspec.backends.torch._precision import Precision
from netspec.ir.train import LossSpec

# The torch.compile backend of --compile (tests swap in "aot_eager", which generates no C++).
BACKEND = "inductor"

Forward = Callable[[dict[str, torch.Tensor], torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def forward_and_loss(
    module: torch.nn.Module,
    loss: LossSpec,
    *,
    compile: bool,
    device: torch.device,
    precision: Precision | None = None,
    dtype: torch.dtype = torch.float32,
) -> Forward:
    """``(inputs, target) -> (output, data loss)`` of ``module``, compiled when asked
    (with CUDA graphs on a CUDA ``device``). Under a mixed ``precision`` the forward runs
    in its autocast and its output comes back in ``dtype``, in which the loss is taken."""

    def run(inputs: dict[str, torch.Tensor], target: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if precision is None:
            output = module(inputs)
        else:
            with precision.autocast():
                output = module(inputs)
            output = precision.output(output, dtype)
        return output, data_loss(output, target, loss)

    if not compile:
        return run  # type: ignore[return-value]
    mode = "reduce-overhead" if device.type == "cuda" and BACKEND == "inductor" else None
    return torch.compile(run, backend=BACKEND, mode=mode)  # type: ignore[return-value]
