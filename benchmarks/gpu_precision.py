"""The gpu group's mixed-precision rows: netspec's bf16 / fp16 step against torch.autocast.

netspec's side is ``compiled.train_step(loss, sgd, None, precision=P)`` on CUDA (float32
master weights, the step computing in bf16 or fp16; docs/training.md, "Precision"). The
hand-written side is the train-step group's PyTorch network from netspec's initial
weights, its forward and loss under ``torch.autocast("cuda", dtype)``, and for fp16 a
``torch.amp.GradScaler`` around backward and the SGD step, as PyTorch's AMP recipe says.
Both take the same NumPy batch on every call and are alternated in rotating blocks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

import netspec
from benchmarks import train_step
from benchmarks._timing import alternate
from netspec.backend import get_backend
from netspec.ir.train import Sgd, SoftmaxCrossEntropy

PRECISIONS = ("bf16", "fp16")
AUTOCAST = {"bf16": "bfloat16", "fp16": "float16"}


def label(precision: str, device: str = "cuda") -> str:
    return f"{'CUDA' if device == 'cuda' else device}, {precision} (autocast)"


def support() -> str | None:
    """None when netspec's torch step takes ``precision=``, else why its rows are skipped."""
    from netspec.backends.torch._compiled import TorchModel

    if "precision" not in inspect.signature(TorchModel.train_step).parameters:
        return (
            "netspec's torch train_step takes no precision= option (mixed precision is "
            "not in this netspec)"
        )
    return None


def _reference(
    net: str, params: dict[str, np.ndarray], precision: str, device: str
) -> tuple[Callable[[np.ndarray, np.ndarray], None], Callable[[], object]]:
    """(step(x, y), sync()) of the hand-written network under autocast."""
    import torch
    import torch.nn.functional as F

    from benchmarks.references import torch_nets

    module = torch_nets.BUILDERS[net]()
    torch_nets.load_netspec_params(module, params)
    trainer = torch_nets.TrainStep(module, train_step.LR, device)
    dtype = getattr(torch, AUTOCAST[precision])
    kind = trainer.device.type
    scaler = torch.amp.GradScaler(kind) if precision == "fp16" else None
    last: list[Any] = [None]

    def step(x: np.ndarray, y: np.ndarray) -> None:
        xt = torch.from_numpy(x).to(trainer.device)
        yt = torch.from_numpy(y).to(trainer.device)
        trainer.optimizer.zero_grad()
        with torch.autocast(kind, dtype=dtype):
            loss = F.cross_entropy(trainer.module(xt), yt)
        if scaler is None:
            loss.backward()
            trainer.optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(trainer.optimizer)
            scaler.update()
        last[0] = loss

    def sync() -> object:
        if kind == "cuda":
            torch.cuda.synchronize()
        return None if last[0] is None else float(last[0].detach())

    return step, sync


def run_case(
    net: str,
    precision: str,
    *,
    rounds: int = 31,
    block_s: float = 0.02,
    calls: int | None = None,
    device: str = "cuda",
) -> train_step.CaseResult:
    """One row: netspec's step in ``precision`` against the autocast step, on ``device``
    (the group runs it on CUDA)."""
    model = netspec.load(train_step.SPECS[net]).model()
    compiled = get_backend("torch").compile(model, seed=0, dtype="float32", device=device)
    step = compiled.train_step(  # type: ignore[call-arg]
        SoftmaxCrossEntropy(), Sgd(lr=train_step.LR), None, precision=precision
    )
    ref_step, ref_sync = _reference(net, compiled.parameters(), precision, device)
    batch = train_step.BATCHES[net]
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (batch, *tuple(model.inputs[0].shape))).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    # The same network: float32 outputs agree before any step (evaluation stays in the
    # model's dtype on both sides), with TF32 off as netspec's default on CUDA.
    from benchmarks.references import torch_nets

    module = torch_nets.BUILDERS[net]()
    torch_nets.load_netspec_params(module, compiled.parameters())
    with train_step._torch_tf32(False):
        theirs_out = torch_nets.predict(module.to(device), x, device)
        diff = float(np.max(np.abs(compiled.forward(x) - theirs_out)))
    if not diff < 1e-3:
        raise AssertionError(f"torch {net} {precision}: netspec and the reference differ by {diff}")

    def ours(n: int) -> None:
        for _ in range(n):
            step.step(x, y, train_step.LR)
        step.drain()

    def theirs(n: int) -> None:
        for _ in range(n):
            ref_step(x, y)
        ref_sync()

    # TF32 off for what stays float32 on both sides, netspec's default on CUDA.
    with train_step._torch_tf32(False):
        pair = alternate(ours, theirs, rounds=rounds, block_s=block_s, calls=calls)
    return train_step.CaseResult(
        "torch", net, batch, device, label(precision, device), pair, None, 0, diff
    )
