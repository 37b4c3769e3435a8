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

from netspec.errors import NetspecError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}

NO_CUDA = (
    "device {asked!r} asks for CUDA, but no CUDA device is present "
    "(torch {version}, torch.cuda.is_available() is False)\n"
    "  help: use device='cpu', or device='auto' to take CUDA only when it is present"
)
NO_SUCH_GPU = (
    "device {asked!r} names GPU {index}, but only {count} CUDA device(s) are present "
    "(cuda:0 .. cuda:{last})\n"
    "  help: use device='cuda' for the current GPU, or device='cpu'"
)
UNKNOWN_DEVICE = (
    "unknown device {asked!r}: expected 'cpu', 'cuda', 'cuda:N' (N a GPU index) or 'auto'\n"
    "  help: use device='cpu' to run on the processor"
)


def resolve_device(name: str) -> torch.device:
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` into a concrete device.

    ``"auto"`` takes the current CUDA device when one is present, else the CPU.
    ``"cuda"`` resolves to the current CUDA device with its index, so that the
    compiled model's ``device`` string says exactly where the tensors live.
    """
    if not isinstance(name, str):
        raise NetspecError(UNKNOWN_DEVICE.format(asked=name))
    text = name.strip().lower()
    if text == "cpu":
        return torch.device("cpu")
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        index_text = text[len("cuda:") :] if ":" in text else None
        if index_text is not None and not index_text.isdigit():
            raise NetspecError(UNKNOWN_DEVICE.format(asked=name))
        if not torch.cuda.is_available():
            raise NetspecError(NO_CUDA.format(asked=name, version=torch.__version__))
        count = torch.cuda.device_count()
        index = torch.cuda.current_device() if index_text is None else int(index_text)
        if index >= count:
            raise NetspecError(
                NO_SUCH_GPU.format(asked=name, index=index, count=count, last=count - 1)
            )
        return torch.device("cuda", index)
    raise NetspecError(UNKNOWN_DEVICE.format(asked=name))


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
