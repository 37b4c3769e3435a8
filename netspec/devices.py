"""Device strings, read the same way by every backend.

``"cpu"``, ``"cuda"`` / ``"gpu"`` (the current or first GPU), ``"cuda:N"`` / ``"gpu:N"``
(GPU N), ``"cpu:N"`` (CPU device N, where a framework has several) and ``"auto"`` (a GPU
when one is present, else the CPU), in any letter case. Each backend then maps the kind
and index onto its framework's devices; the errors below are the same on every backend,
with the framework's own facts in the help.
"""

from __future__ import annotations

from typing import Literal

from netspec._validate import check_int, found
from netspec.errors import NetspecError

DeviceKind = Literal["cpu", "gpu", "auto"]

_KINDS: dict[str, DeviceKind] = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "auto": "auto"}

UNKNOWN_DEVICE = (
    "unknown device {asked}: expected 'cpu', 'cuda' (or 'gpu'), 'cuda:N' (N a device "
    "index) or 'auto'"
)
NO_GPU = "device {asked!r} asks for a GPU, but the {backend} backend sees none"
NO_GPU_HELP = "use device='cpu', or device='auto' to take a GPU only when one is present{detail}"
NO_SUCH_DEVICE = (
    "device {asked!r} names {kind} {index}, but the {backend} backend sees {count} "
    "(numbered from 0)"
)


def parse_device(asked: object) -> tuple[DeviceKind, int | None]:
    """The kind and index (None where none was written) of a device string."""
    name, colon, index = str(asked).strip().lower().partition(":")
    kind = _KINDS.get(name) if isinstance(asked, str) else None
    if kind is None or (colon and (kind == "auto" or not index.isdigit())):
        raise NetspecError(
            UNKNOWN_DEVICE.format(asked=repr(asked) if isinstance(asked, str) else found(asked)),
            help="use device='cpu' to run on the processor",
        )
    return kind, int(index) if colon else None


def no_gpu(asked: str, backend: str, detail: str = "") -> NetspecError:
    """The error for a GPU request where the backend has none; ``detail`` says why."""
    return NetspecError(
        NO_GPU.format(asked=asked, backend=backend),
        help=NO_GPU_HELP.format(detail=f" ({detail})" if detail else ""),
    )


def check_index(asked: str, backend: str, kind: DeviceKind, index: int, count: int) -> int:
    """``index`` when the backend has that many devices of ``kind``; an error otherwise."""
    if index < count:
        return index
    what = "GPU" if kind == "gpu" else "CPU device"
    devices = f"{count} {what}{'s' if count != 1 else ''}"
    raise NetspecError(
        NO_SUCH_DEVICE.format(asked=asked, kind=what, index=index, backend=backend, count=devices),
        help="use the device without an index for the current one",
    )


NOT_DATA_PARALLEL = (
    "--devices {devices} asks for one process training on {devices} devices, which only "
    "the jax backend does; the {backend} backend trains on one device per process"
)
NOT_DATA_PARALLEL_HELP = {
    "numpy": "leave out --devices, or use --backend jax --devices {devices}",
    "torch": "for several processes with torch.distributed use --nproc {devices}; "
    "or --backend jax --devices {devices}",
}


def check_devices(backend: str, devices: object) -> int:
    """``devices`` (how many devices one process trains on, data-parallel) when
    ``backend`` can use that many; only the jax backend takes more than one."""
    count = check_int(devices, "devices")
    if count > 1 and backend != "jax":
        raise NetspecError(
            NOT_DATA_PARALLEL.format(devices=count, backend=backend),
            help=NOT_DATA_PARALLEL_HELP.get(backend, "use --backend jax").format(devices=count),
        )
    return count


def check_compile(backend: str, compile: object) -> None:
    """``compile`` (torch.compile of the training step) is asked for on the torch backend
    only: the jax backend's steps are XLA programs already, NumPy has no compiler."""
    if not isinstance(compile, bool):
        raise NetspecError(f"compile must be True or False, found {compile!r}")
    if compile and backend != "torch":
        why = "its steps are XLA programs already" if backend == "jax" else "it has no compiler"
        raise NetspecError(
            f"--compile compiles the training step with torch.compile, so it needs the torch "
            f"backend; the {backend} backend was asked for, and {why}: use --backend torch, "
            "or leave --compile out"
        )
