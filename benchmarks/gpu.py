"""Group gpu: netspec's training step and inference on CUDA against the same by hand.

PyTorch and JAX only (the NumPy backend is CPU-only). Rows:

- train step and inference (:mod:`benchmarks.train_step` on CUDA), each twice: with TF32
  off for both sides (netspec's default on CUDA, the parity setting: torch's
  ``allow_tf32`` flags off and ``allow_tf32=False``; JAX under
  ``default_matmul_precision("highest")``), and with TF32 allowed (the speed setting:
  torch flags on and ``allow_tf32=True``; JAX's default precision);
- mixed precision (PyTorch): netspec's ``precision="bf16"`` / ``"fp16"`` step against the
  hand-written step under ``torch.autocast`` (:mod:`benchmarks.gpu_precision`);
- compile (PyTorch): netspec's step compiled with ``torch.compile`` (the backend's
  ``compile=True``), the train-step group's ``variant="compile"`` row.

A row whose netspec option is missing, or whose framework sees no GPU, is listed as
skipped with the reason; the group then ends cleanly.

Time on one GPU: every step here is launch-bound, not arithmetic-bound (MLP 784-256-10
at batch 128 and LeNet-5 at batch 64 are each about 0.16 GFLOP per training step, some
3 us of an H100/H200's float32 throughput, against 20-40 kernel launches of 5-10 us), so a
row's time is set by its timing, not its size: rounds x sides x block_s plus warm-up.
With the full run's 41 rounds of 20 ms blocks: 8 train-step rows (2 frameworks x 2 nets
x 2 TF32 settings) of about 41 x 3 x 0.02 s (step, with the noise twin) + 14 x 2 x 0.02 s
(inference) + about 3 s of compilation and calibration, about 6 s each, 50 s in all; 4
mixed-precision rows (2 nets x bf16, fp16) of 41 x 2 x 0.02 s + 2 s, about 15 s; 2
compile rows whose torch.compile (inductor, forward, backward and optimizer) takes
30-60 s each on first call, at most 2 minutes. About 3 minutes in all, under the
5-minute budget; ``--quick`` (5 rounds of 5 ms) is dominated by the compilations.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks import gpu_precision, train_step
from benchmarks.train_step import GroupResult

SETTINGS = (("CUDA, TF32 off (parity)", False), ("CUDA, TF32 on (speed)", True))


@dataclass
class GpuResult:
    steps: GroupResult = field(default_factory=GroupResult)
    skipped: list[str] = field(default_factory=list)


def torch_cuda() -> str | None:
    """None when torch can use CUDA, else why not."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        return f"torch.cuda.is_available() is False (torch {torch.__version__}, {build})"
    return None


def jax_gpu() -> str | None:
    try:
        import jax
    except ImportError:
        return "jax is not installed"
    try:
        if jax.devices("gpu"):
            return None
    except RuntimeError:
        pass
    platforms = sorted({d.platform for d in jax.devices()})
    return f"jax sees no GPU (platforms: {', '.join(platforms)}; jaxlib without CUDA)"


def compile_support() -> str | None:
    """None when the train-step group can run netspec's torch.compile'd step, else why not."""
    from netspec.backends.torch import TorchModel

    # The backend's compile() hands its options to the model's constructor.
    if "compile" not in inspect.signature(TorchModel.__init__).parameters:
        return "netspec's torch backend takes no compile= option (torch.compile of the step)"
    return None


def run(
    *,
    rounds: int = 31,
    block_s: float = 0.02,
    nets: tuple[str, ...] = ("mlp", "lenet5"),
    calls: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> GpuResult:
    """Every row the devices and this netspec allow; the others listed as skipped."""
    result = GpuResult()
    for framework, why in (("torch", torch_cuda()), ("jax", jax_gpu())):
        if why is not None:
            result.skipped.append(f"{framework}: {why}")
            continue
        _settings_rows(result, framework, nets, rounds, block_s, calls, progress)
        if framework == "torch":
            _torch_rows(result, nets, rounds, block_s, calls, progress)
    return result


def _settings_rows(
    result: GpuResult,
    framework: str,
    nets: tuple[str, ...],
    rounds: int,
    block_s: float,
    calls: int | None,
    progress: Callable[[str], None] | None,
) -> None:
    """The train-step and inference rows, TF32 off and on."""
    for net in nets:
        for label, tf32 in SETTINGS:
            if progress:
                progress(f"gpu: {framework} {net} {label}")
            result.steps.cases.append(
                train_step.run_case(
                    framework,
                    net,
                    rounds=rounds,
                    block_s=block_s,
                    device="cuda",
                    label=label,
                    allow_tf32=tf32 if framework == "torch" else None,
                    calls=calls,
                )
            )


def _torch_rows(
    result: GpuResult,
    nets: tuple[str, ...],
    rounds: int,
    block_s: float,
    calls: int | None,
    progress: Callable[[str], None] | None,
) -> None:
    """The mixed-precision and compile rows (PyTorch), or why they are skipped."""
    why = gpu_precision.support()
    if why is not None:
        result.skipped.append(f"torch mixed precision: {why}")
    else:
        for net in nets:
            for precision in gpu_precision.PRECISIONS:
                if progress:
                    progress(f"gpu: torch {net} {precision}")
                result.steps.cases.append(
                    gpu_precision.run_case(
                        net, precision, rounds=rounds, block_s=block_s, calls=calls
                    )
                )
    why = compile_support()
    if why is not None:
        result.skipped.append(f"torch compile: {why}")
        return
    for net in nets:
        if progress:
            progress(f"gpu: torch {net} torch.compile")
        result.steps.cases.append(
            train_step.run_case(  # type: ignore[call-arg]
                "torch",
                net,
                rounds=rounds,
                block_s=block_s,
                device="cuda",
                calls=calls,
                variant="compile",
            )
        )


def render(result: GpuResult) -> str:
    out = []
    if result.steps.cases:
        out.append(train_step.render(result.steps, title="gpu"))
    if result.skipped:
        if not result.steps.cases:
            out.append(
                "### gpu: training step, inference, mixed precision and torch.compile on CUDA"
            )
            out.append("")
        out += [f"skipped {line}" for line in result.skipped]
    return "\n".join(out)


def finite(result: GpuResult) -> bool:
    return train_step.finite(result.steps)
