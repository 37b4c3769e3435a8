"""Where and in which precision a JAX model runs: device choice and the float64 scope.

JAX decides once per process whether 64-bit types exist (the ``jax_enable_x64`` flag);
with it off, a float64 array silently becomes float32. Switching it on globally would
change every other JAX user in the process, so a float64 model instead runs each of its
calls inside ``jax.enable_x64(True)``. In jax 0.10 ``jax.enable_x64`` is the config
option itself, and used as a context manager it sets the flag for the current thread
only and restores it on exit (``jax.experimental.enable_x64`` is gone). JIT caches are
keyed on the flag, so float32 and float64 traces never mix. A float32 model runs inside
``jax.enable_x64(False)`` for the same reason: its results then do not depend on what
the caller set globally.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal

import jax

from netspec.errors import NetspecError

DEVICE_NAMES = ("cpu", "cuda", "gpu", "auto")

NO_GPU = (
    "device {asked!r} asks for a GPU, but JAX sees none (platforms present: {present}). "
    "Pass device='cpu' to run on the CPU, or install a CUDA build of jaxlib."
)
UNKNOWN_DEVICE = (
    "unknown device {asked!r}: expected 'cpu', 'cuda', 'gpu' or 'auto' "
    "(optionally with an index, e.g. 'cuda:0')."
)


def precision_scope(dtype: Literal["float32", "float64"]) -> AbstractContextManager[None]:
    """The context every JAX call of a model of ``dtype`` runs in (see module docstring)."""
    return jax.enable_x64(dtype == "float64")  # type: ignore[no-any-return]


def resolve_device(asked: str) -> jax.Device:
    """The JAX device for a user's device string; no GPU for a GPU request is an error."""
    kind, _, index_text = asked.partition(":")
    if kind not in DEVICE_NAMES or (index_text and not index_text.isdigit()):
        raise NetspecError(UNKNOWN_DEVICE.format(asked=asked))
    index = int(index_text) if index_text else 0
    if kind == "cpu":
        return _pick(jax.devices("cpu"), index, asked)
    gpus = _gpus()
    if gpus:
        return _pick(gpus, index, asked)
    if kind == "auto":
        return _pick(jax.devices("cpu"), index, asked)
    present = ", ".join(sorted({device.platform for device in jax.devices()}))
    raise NetspecError(NO_GPU.format(asked=asked, present=present))


def device_label(device: jax.Device) -> str:
    """How a compiled model names its device: ``cpu`` or ``<platform>:<id>``."""
    return "cpu" if device.platform == "cpu" else f"{device.platform}:{device.id}"


def _gpus() -> list[jax.Device]:
    # jax raises RuntimeError when no backend of the kind is present.
    try:
        return list(jax.devices("gpu"))
    except RuntimeError:
        return []


def _pick(devices: list[jax.Device], index: int, asked: str) -> jax.Device:
    if index >= len(devices):
        raise NetspecError(
            f"device {asked!r} does not exist: JAX sees {len(devices)} device(s) of that "
            f"kind, numbered 0 to {len(devices) - 1}."
        )
    return devices[index]
