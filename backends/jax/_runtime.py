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

from netspec.devices import check_index, no_gpu, parse_device


def precision_scope(dtype: Literal["float32", "float64"]) -> AbstractContextManager[None]:
    """The context every JAX call of a model of ``dtype`` runs in (see module docstring)."""
    return jax.enable_x64(dtype == "float64")  # type: ignore[no-any-return]


def resolve_device(asked: str) -> jax.Device:
    """The JAX device for a device string (:mod:`netspec.devices`)."""
    kind, index = parse_device(asked)
    devices = _gpus() if kind != "cpu" else []
    if not devices:
        if kind == "gpu":
            present = ", ".join(sorted({device.platform for device in jax.devices()}))
            raise no_gpu(asked, "jax", f"platforms present: {present}; a GPU needs jaxlib for CUDA")
        kind, devices = "cpu", jax.devices("cpu")
    return devices[check_index(asked, "jax", kind, index or 0, len(devices))]


def device_label(device: jax.Device) -> str:
    """How a compiled model names its device: ``cpu`` or ``<platform>:<id>``."""
    return "cpu" if device.platform == "cpu" else f"{device.platform}:{device.id}"


def _gpus() -> list[jax.Device]:
    # jax raises RuntimeError when no backend of the kind is present.
    try:
        return list(jax.devices("gpu"))
    except RuntimeError:
        return []
