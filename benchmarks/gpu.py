"""Group gpu: the train-step comparison of :mod:`benchmarks.train_step` on CUDA.

PyTorch and JAX only (the NumPy backend is CPU-only). Each row is run twice: with TF32
off for both sides (netspec's default on CUDA, the parity setting: torch's
``allow_tf32`` flags off and ``allow_tf32=False``; JAX under
``default_matmul_precision("highest")``), and with TF32 allowed (the speed setting:
torch flags on and ``allow_tf32=True``; JAX's default precision). Without a CUDA device
the group says that it skipped and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks import train_step
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


def run(
    *,
    rounds: int = 31,
    block_s: float = 0.02,
    nets: tuple[str, ...] = ("mlp", "lenet5"),
    calls: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> GpuResult:
    result = GpuResult()
    for framework, why in (("torch", torch_cuda()), ("jax", jax_gpu())):
        if why is not None:
            result.skipped.append(f"{framework}: {why}")
            continue
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
    return result


def render(result: GpuResult) -> str:
    out = []
    if result.steps.cases:
        out.append(train_step.render(result.steps, title="gpu"))
    if result.skipped:
        if not result.steps.cases:
            out.append("### gpu: training step on CUDA")
            out.append("")
        out += [f"skipped {line}" for line in result.skipped]
    return "\n".join(out)


def finite(result: GpuResult) -> bool:
    return train_step.finite(result.steps)
