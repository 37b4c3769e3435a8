"""Several training steps per compiled call: the fused step k times in one XLA program.

One call of the fused step costs, besides its arithmetic, a dispatch from Python (the
arguments' pytrees flattened, the batch moved to the device, the program launched):
tens of microseconds, a measurable share of a small network's step. The k-step program
takes k batches, with their k learning rates, step counters and dropout calls, and runs
the same fused step k times inside one XLA program, so that the dispatch is paid once
per k steps (Keras' ``steps_per_execution``, chosen here automatically). Each step's
statistics row comes back ``[k, 3]``, so the first non-finite step is still named
exactly.

The k steps are unrolled, not a ``lax.scan``: XLA on the CPU ran LeNet-5's convolutions
inside the scan's while loop about three times slower than the same step alone
(docs/benchmarks.md); unrolled, each step compiles as the one-step program does, at the
price of k times its compile time, paid once per run.

How k is chosen (:func:`steps_per_call`): the largest power of two that is at most
:data:`MAX_STEPS_PER_CALL` and at most the number of steps between two reads of the
statistics (the loop then makes that interval a multiple of k), halved while k stacked
batches would hold more than :data:`STACK_BYTES`; 1 for a network with convolutions on
the CPU, whose k-step program XLA ran about 15 % slower per step than the one-step
program (LeNet-5, docs/benchmarks.md). Fewer than k queued steps (the end of
an epoch, a read of the weights) run one by one through the one-step program, so no
length other than k is ever compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

# At most this many steps per call: the dispatch saved is 1 - 1/k of it per step (75 %
# at 4), while compile time and the batches held grow with k.
MAX_STEPS_PER_CALL = 4
# The most host memory k queued batches (inputs and targets) may take.
STACK_BYTES = 64 << 20


def steps_per_call(steps_between_drains: int, *, convolutions_on_cpu: bool = False) -> int:
    """k for a run whose statistics are read every ``steps_between_drains`` steps: the
    largest power of two <= both that and :data:`MAX_STEPS_PER_CALL` (1 when < 2, and
    for a network with convolutions on the CPU)."""
    if convolutions_on_cpu:
        return 1
    k = 1
    while k * 2 <= min(steps_between_drains, MAX_STEPS_PER_CALL):
        k *= 2
    return k


def fit_stack(k: int, batch_bytes: int) -> int:
    """``k`` halved (so that it still divides the drain interval) until k batches of
    ``batch_bytes`` fit in :data:`STACK_BYTES`."""
    while k > 1 and k * batch_bytes > STACK_BYTES:
        k //= 2
    return k


def make_multistep(
    fused: Callable[..., Any], *, deferred: bool, donate: bool
) -> Callable[..., Any]:
    """The jitted k-step program of the (unjitted) fused step ``fused``.

    ``multistep(params, state, buffers, xs, ys, key, calls, lrs, ts)`` takes what the
    fused step takes, with ``xs`` and ``ys`` tuples of k batches and ``calls``, ``lrs``
    and ``ts`` arrays of k. It returns the params, state and buffers after the k steps,
    the statistics ``[k, 3]`` (one row per step) and whether every weight is finite
    after the k steps: with ``deferred`` the steps check only their loss, and a gradient
    that was not finite shows as a weight that is not (see docs/training.md, "Several
    steps per call"). One program per k.
    """

    def multistep(
        params: Any,
        state: Any,
        buffers: Any,
        xs: Any,
        ys: Any,
        key: Any,
        calls: Any,
        lrs: Any,
        ts: Any,
    ) -> Any:
        carry = (params, state, buffers)
        rows = []
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            *carry, stats = fused(*carry, x, y, key, calls[i], lrs[i], ts[i])
            rows.append(stats)
        ok = jnp.array(True)
        if deferred:
            leaves = jax.tree.leaves(carry[0])
            ok = jnp.isfinite(sum((jnp.sum(p * 0) for p in leaves), jnp.zeros((), rows[0].dtype)))
        return (*carry, jnp.stack(rows), ok)

    return jax.jit(multistep, donate_argnums=(0, 2) if donate else ())
