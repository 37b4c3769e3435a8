"""Choosing a torch device from the strings netspec uses, and TF32 control.

TF32 (Ampere and later GPUs) runs float32 matmuls and convolutions with a 10-bit
mantissa: about 1e-3 relative error, far from what the NumPy oracle computes. The
compiled model therefore turns TF32 off around each of its own calls on CUDA (unless
compiled with ``allow_tf32=True``) and puts the user's settings back afterwards, so
nothing global stays changed. A ``NetspecModule`` used directly in a user's own loop runs
under whatever TF32 settings the user has chosen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from netspec.devices import check_index, no_gpu, parse_device

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(name: str) -> torch.device:
    """The torch device for a device string (:mod:`netspec.devices`). ``"cuda"`` and
    ``"auto"`` resolve to the current CUDA device with its index, so that the compiled
    model's ``device`` string says exactly where the tensors live."""
    kind, index = parse_device(name)
    if kind == "cpu":
        check_index(name, "torch", kind, index or 0, 1)
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if kind == "auto":
            return torch.device("cpu")
        raise no_gpu(
            name, "torch", f"torch {torch.__version__}, torch.cuda.is_available() is False"
        )
    if index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cuda", check_index(name, "torch", kind, index, torch.cuda.device_count()))


def device_name(device: torch.device) -> str:
    """``"cpu"`` or ``"cuda:N"``: the form the compiled model reports."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index}"
    return device.type


@contextlib.contextmanager
def ieee_float32() -> Iterator[None]:
    """Run the block with TF32 off for cuBLAS matmuls and cuDNN convolutions.

    The previous settings are restored on exit. PyTorch has two APIs for these flags
    (``allow_tf32`` and the newer ``fp32_precision``) and refuses to read the old one
    once the two disagree, so we use the old API while it is consistent (its setters
    keep both views in step) and fall back to the new one when the user has mixed them.
    """
    matmul = torch.backends.cuda.matmul
    cudnn = torch.backends.cudnn
    try:
        saved = (matmul.allow_tf32, cudnn.allow_tf32)
    except RuntimeError:
        yield from _ieee_float32_new_api()
        return
    if not any(saved):
        yield
        return
    matmul.allow_tf32 = False
    cudnn.allow_tf32 = False
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def _ieee_float32_new_api() -> Iterator[None]:
    matmul = torch.backends.cuda.matmul
    conv = torch.backends.cudnn.conv
    saved = (matmul.fp32_precision, conv.fp32_precision)
    matmul.fp32_precision = "ieee"
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        matmul.fp32_precision, conv.fp32_precision = saved
