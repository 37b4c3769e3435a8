"""Data parallelism with jax.sharding: one "data" axis over several devices.

A :class:`DataMesh` holds a :class:`jax.sharding.Mesh` of N devices (every process's
devices, when JAX runs as several processes) with one axis, ``"data"``. Parameters,
running statistics, optimizer buffers and the dropout key are replicated on every device
(``P()``); a batch is split along its batch axis (``P("data")``). The programs stay the
ones a single device runs: under ``jit`` a sharded array means the same global array, so
XLA inserts the all-reduces (of the gradients, of batchnorm's statistics, of the loss)
and the result is the single-device one up to the order of the floating-point sums
inside those reductions. Every program returns its results replicated, so each process
can read parameters, outputs and statistics whole.

A batch whose size does not divide by N (the last one of an epoch, an evaluation batch)
runs replicated instead: every device computes the whole batch, which is exactly the
single-device computation. Padding it with zero-weight samples would also keep the
global mean, but batchnorm would count the padding in its batch statistics, and the
loss, hit and statistics code would all need weights; one replicated step per epoch
costs less than that.

Every process holds the whole dataset and draws the same batches (the shuffle depends on
the seed and epoch only), so each array is built with ``jax.make_array_from_callback``:
each process copies to its own devices just the rows they hold.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from netspec.errors import NetspecError

Array = jax.Array

AXIS = "data"

TOO_MANY = (
    "--devices {asked} asks for {asked} {kind} devices, but JAX sees {count} in this "
    "process ({labels})"
)
TOO_MANY_HELP = "use --devices {count} or fewer"
# JAX makes one CPU device unless told before it starts how many to make.
CPU_HELP = "on CPU set XLA_FLAGS=--xla_force_host_platform_device_count={asked} before starting"
ONE_DEVICE_NAMED = (
    "--device {device} names one device, but --devices {asked} asks for several: give "
    "the kind alone (--device {kind}) and the first {asked} are used"
)


class DataMesh:
    """N devices along one "data" axis; places arrays replicated or split by batch."""

    def __init__(self, devices: list[jax.Device]) -> None:
        self.devices = devices
        self.mesh = Mesh(np.array(devices), (AXIS,))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.split = NamedSharding(self.mesh, PartitionSpec(AXIS))

    @property
    def size(self) -> int:
        """How many devices share each batch."""
        return len(self.devices)

    def replicate(self, arrays: Mapping[str, np.ndarray]) -> dict[str, Array]:
        """Host arrays as the same array on every device (parameters, state, buffers)."""
        return {name: _place(np.asarray(array), self.replicated) for name, array in arrays.items()}

    def batch(self, arrays: Mapping[str, np.ndarray]) -> dict[str, Array]:
        """A batch split along its first axis, or replicated when it does not divide."""
        return {name: self.batch_array(array) for name, array in arrays.items()}

    def batch_array(self, array: np.ndarray) -> Array:
        """One array of a batch (an input, the targets), placed as :meth:`batch` says."""
        array = np.asarray(array)
        divides = array.ndim > 0 and len(array) % self.size == 0
        return _place(array, self.split if divides else self.replicated)

    def key(self, key: Array) -> Array:
        """A typed PRNG key, replicated. A committed jax array cannot be device_put onto
        devices of other processes, so the key travels as its raw words and is rewrapped."""
        data = np.asarray(jax.random.key_data(key))
        return jax.random.wrap_key_data(_place(data, self.replicated))


def _place(array: np.ndarray, sharding: NamedSharding) -> Array:
    # Each process fills only the shards of its own devices (see the module docstring).
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def data_mesh(devices: int, first: jax.Device, asked: str) -> DataMesh | None:
    """The mesh of ``devices`` devices per process of ``first``'s platform, or None for
    one device in one process (the plain single-device path, ``first`` itself).
    ``asked`` is the device string, which must not name one device when there are several."""
    processes = jax.process_count()
    if devices == 1 and processes == 1:
        return None
    if devices > 1 and ":" in asked:
        raise NetspecError(
            ONE_DEVICE_NAMED.format(device=asked, asked=devices, kind=asked.split(":")[0])
        )
    local = jax.local_devices(backend=first.platform)
    if len(local) < devices:
        labels = ", ".join(f"{d.platform}:{d.id}" for d in local)
        raise NetspecError(
            TOO_MANY.format(asked=devices, kind=first.platform, count=len(local), labels=labels),
            help=[
                TOO_MANY_HELP.format(count=len(local)),
                *([CPU_HELP.format(asked=devices)] if first.platform == "cpu" else []),
            ],
        )
    # The first ``devices`` devices of every process, in process order, so that every
    # process builds the same mesh.
    everywhere = jax.devices(first.platform)
    chosen = [
        device
        for process in range(processes)
        for device in [d for d in everywhere if d.process_index == process][:devices]
    ]
    return DataMesh(chosen)
