"""The fused training step: loss, gradients, clipping, update and max_norm in one jit.

docs/training.md gives the mathematics. A call of :meth:`JaxTrainStep.step` queues the
step; nothing is read back, so the host never waits for the device. With k steps per
call (:meth:`JaxTrainStep.steps_per_call`, :mod:`netspec.backends.jax._multistep`) a step
waits on the host until k are queued, then the k run as one XLA program; otherwise each
runs at once. The statistics (summed loss, hits, finiteness) stay as device arrays,
one row per step, until :meth:`JaxTrainStep.drain`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Sharding

from netspec import _contract
from netspec._model_base import Batch, batch_size
from netspec.backends.jax._graph import Lowered
from netspec.backends.jax._losses import check_targets, loss_function, penalty_function
from netspec.backends.jax._multistep import fit_stack, make_multistep, steps_per_call
from netspec.backends.jax._optim import Optimizer, optimizer
from netspec.backends.jax._precision import Casts
from netspec.backends.jax._runtime import precision_scope
from netspec.ir import CheckedModel
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec
from netspec.optimizers import check_optimizer_state, pack_state
from netspec.train_stats import Stats

if TYPE_CHECKING:
    from netspec.backends.jax._model import JaxModel

Array = jax.Array
Tree = dict[str, Array]


class FusedPrograms(NamedTuple):
    """The jitted programs of one (loss, optimizer, clip): one step, k steps (None where
    the batch is split over a mesh), and the optimizer rule."""

    one: Callable[..., Any]
    many: Callable[..., Any] | None
    rule: Optimizer
    deferred: bool = False  # ``many`` checks gradients through the weights (_multistep.py)


class _Queued(NamedTuple):
    """A checked step waiting for its call: batch and targets on the host, its dropout
    call, learning rate and step counter."""

    batch: Any
    targets: np.ndarray
    call: np.uint32
    lr: float
    t: int


class JaxTrainStep:
    """A :class:`netspec.backend.TrainStep` updating the params of a :class:`JaxModel`.

    The model's params and running statistics are replaced after every step, so the
    model's ``forward``, ``parameters()`` and ``set_parameters`` see and steer training.
    """

    def __init__(self, model: JaxModel, loss: LossSpec, programs: FusedPrograms) -> None:
        self._model = model
        self._loss = loss
        self._programs = programs
        self._rule = programs.rule
        self._steps = 0
        with precision_scope(model.dtype):
            self._buffers = {
                name: programs.rule.init(param) for name, param in model._params.items()
            }
        self._pending: list[Array] = []
        self._samples = 0
        self._k = 1  # steps per call; see steps_per_call()
        self._stack_checked = False
        self._queue: list[_Queued] = []
        # Per k-step call with a deferred check, by its place in _pending: (whether its
        # weights came out finite, the weights before it, its steps).
        self._replays: dict[int, tuple[Array, tuple[Any, Any, Any], list[_Queued]]] = {}

    def steps_per_call(self, steps_between_drains: int) -> int:
        """Run up to k steps per compiled call when :meth:`drain` comes every
        ``steps_between_drains`` steps; returns k (a power of two, so the caller can make
        its drain interval a multiple of it). The rule is :mod:`netspec.backends.jax._multistep`'s;
        k is 1 where the batch is split over several devices, and for a network with
        convolutions on the CPU."""
        self.flush()
        model = self._model
        convolutions = any("conv" in node.op.kind for node in model.ir.nodes)
        on_cpu = convolutions and model._device.platform == "cpu"
        many = self._programs.many is not None
        self._k = steps_per_call(steps_between_drains, convolutions_on_cpu=on_cpu) if many else 1
        self._stack_checked = False
        return self._k

    def step(self, x: Batch, y: np.ndarray, lr: float) -> None:
        """Queue one update on a batch; statistics stay on the device until drain()."""
        model = self._model
        batch = model._batch(x, True)
        size = batch_size(batch)
        output_shape = (size, *model.ir.output_type.shape)
        y = _contract.check_targets(model.ir, y, self._loss, size, model.dtype)
        targets = check_targets(self._loss, y, output_shape, model.dtype)
        self._steps += 1
        self._samples += size
        queued = _Queued(batch, targets, model._rng(True)[1], lr, self._steps)
        if self._k == 1:
            self._run_one(queued)
            return
        if not self._stack_checked:  # the first batch sizes k against the memory budget
            self._k = fit_stack(self._k, _nbytes(batch) + targets.nbytes)
            self._stack_checked = True
        # A batch of another shape (the smaller last one) cannot join the stack.
        if self._queue and not _same_shapes(self._queue[0], queued):
            self.flush()
        self._queue.append(queued)
        model._queue_reader(self.flush)
        if len(self._queue) == self._k:
            self.flush()

    def flush(self) -> None:
        """Run the queued steps: k as one call, fewer one by one (never another length)."""
        queue, self._queue = self._queue, []
        if len(queue) > 1 and len(queue) == self._k and self._programs.many is not None:
            self._run_many(queue)
        else:
            for queued in queue:
                self._run_one(queued)

    def _run_one(self, queued: _Queued) -> None:
        model = self._model
        scalars = np.asarray(queued.lr, dtype=model.dtype), np.asarray(queued.t, model.dtype)
        with precision_scope(model.dtype):
            params, state, buffers, stats = self._programs.one(
                model._params,
                model._state,
                self._buffers,
                model._place_batch(queued.batch),
                model._place_targets(queued.targets),
                model._key,
                queued.call,
                *scalars,
            )
        model._params, model._state, self._buffers = params, state, buffers
        self._pending.append(stats)

    def _run_many(self, queue: list[_Queued]) -> None:
        model = self._model
        assert self._programs.many is not None, "k > 1 only with a k-step program"
        calls = np.asarray([q.call for q in queue], dtype=np.uint32)
        lrs = np.asarray([q.lr for q in queue], dtype=model.dtype)
        ts = np.asarray([q.t for q in queue], dtype=model.dtype)
        before = model._params, model._state, self._buffers
        with precision_scope(model.dtype):
            params, state, buffers, stats, ok = self._programs.many(
                *before,
                tuple(q.batch for q in queue),
                tuple(q.targets for q in queue),
                model._key,
                calls,
                lrs,
                ts,
            )
        model._params, model._state, self._buffers = params, state, buffers
        if self._programs.deferred:
            # Kept until drain(): the weights before the call (nothing is donated) and
            # its batches, to replay it if a weight came out not finite.
            self._replays[len(self._pending)] = (ok, before, queue)
        self._pending.append(stats)

    def _replay(self, before: tuple[Any, Any, Any], queue: list[_Queued]) -> list[bool]:
        """The exact finiteness of each step of a k-step call, by running its steps again
        one by one (with the per-gradient check) from the weights before it; the
        model's weights are left as they are."""
        model = self._model
        params, state, buffers = before
        finite = []
        with precision_scope(model.dtype):
            for q in queue:
                scalars = np.asarray(q.lr, dtype=model.dtype), np.asarray(q.t, model.dtype)
                params, state, buffers, stats = self._programs.one(
                    params, state, buffers, q.batch, q.targets, model._key, q.call, *scalars
                )
                finite.append(bool(np.asarray(stats)[2]))
        return finite

    def drain(self) -> Stats:
        """Wait for the queued steps; return and reset what they accumulated."""
        self.flush()
        # One small array per call, [summed loss, hits, finite] per step: one transfer
        # per call.
        values = [np.reshape(v, (-1, 3)) for v in jax.device_get(self._pending)]
        finite: list[bool] = []
        for index, rows in enumerate(values):
            flags = [bool(ok) for ok in rows[:, 2]]
            replay = self._replays.get(index)
            if replay is not None and not bool(replay[0]):
                flags = [a and b for a, b in zip(flags, self._replay(*replay[1:]), strict=True)]
            finite.extend(flags)
            if False in flags:
                break  # only the first non-finite step is reported
        rows = np.concatenate(values) if values else np.zeros((0, 3))
        stats = Stats(
            loss_sum=float(sum(float(loss) for loss in rows[:, 0])),
            samples=self._samples,
            correct=int(sum(int(hits) for hits in rows[:, 1])),
            first_nonfinite=finite.index(False) if False in finite else -1,
        )
        self._pending, self._samples, self._replays = [], 0, {}
        return stats

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """Buffers as ``<param>.<buffer>``, plus ``step`` (netspec.optimizers)."""
        self.flush()
        buffers = self._buffers if self._steps else {}
        return pack_state(self._steps, jax.tree.map(np.array, buffers))

    def load_optimizer_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore buffers saved by :meth:`optimizer_state`, checked by check_optimizer_state."""
        self.flush()
        model, rule = self._model, self._rule
        shapes = {spec.name: tuple(spec.shape) for spec in model.ir.params}
        step, found = check_optimizer_state(state, rule.spec, shapes, model.ir.name)
        with precision_scope(model.dtype):
            self._buffers = {
                name: model._place_params(
                    {b: np.asarray(found[name][b], model.dtype) for b in rule.buffers}
                )
                if step
                else rule.init(param)  # step 0: the buffers' starting fill
                for name, param in model._params.items()
            }
        self._steps = step


def make_fused_step(
    model: CheckedModel,
    lowered: Lowered,
    loss: LossSpec,
    optimizer_spec: OptimizerSpec,
    clip: ClipSpec | None,
    *,
    donate: bool,
    out: Sharding | None = None,
    precision: str = "fp32",
) -> FusedPrograms:
    """The jitted fused step, its k-step program and its optimizer rule (see
    docs/training.md, "One step"); ``out``, when given, is the sharding of every result
    (replicated, on a data mesh, where there is no k-step program); ``precision`` bf16 /
    fp16 computes forward and backward in it (_precision.py)."""
    data_loss = loss_function(loss)
    penalty = penalty_function(model)
    rule = optimizer(optimizer_spec)
    max_norms = {
        s.name: s.regularize.max_norm for s in model.params if s.regularize.max_norm is not None
    }
    hits_of = HITS[loss.kind]
    casts = Casts(precision)

    def total(params: Tree, state: Tree, x: Array, y: Array, rng: Array | None) -> Any:
        run = lowered.run(casts.inputs(params), state, casts.inputs(x), train=True, rng=rng)
        outputs, new_state = run[0], casts.state(run[1], state)
        z = casts.output(outputs[lowered.output])
        data = data_loss(z, y)
        value = data + penalty(params) if penalty is not None else data
        return value, (data, z, new_state)

    grad_fn = jax.value_and_grad(total, has_aux=True)

    def fused(
        params: Tree,
        state: Tree,
        buffers: dict[str, Tree],
        x: Array,
        y: Array,
        key: Array,
        call: Array,
        lr: Array,
        t: Array,
        exact: bool = True,
    ) -> Any:
        rng = jax.random.fold_in(key, call) if lowered.random else None
        (value, (data, z, new_state)), grads = grad_fn(params, state, x, y, rng)
        finite = jnp.isfinite(value)
        if exact:
            # g * 0 is 0 where g is finite and NaN where it is not, so the sum is NaN
            # exactly when some gradient entry is not finite (zeros cannot overflow).
            # XLA fuses the product into the reduction, one read of each gradient, where
            # all(isfinite(g)) wrote a boolean array and reduced it in a second pass.
            # Without ``exact`` (the k-step program on the CPU) the gradients are
            # checked through the weights after k steps instead (_multistep.py).
            finite &= jnp.isfinite(_poison(grads.values(), value.dtype))
        grads = _clip(grads, clip)
        new_params: Tree = {}
        new_buffers: dict[str, Tree] = {}
        for name, param in params.items():
            new_params[name], new_buffers[name] = rule.update(
                param, grads[name], buffers[name], lr, t
            )
            if name in max_norms:
                new_params[name] = _renorm(new_params[name], max_norms[name])
        hits = hits_of(z, y)
        # The statistics travel as one array of the loss's dtype (hits are exact in
        # float32 up to 2**24 per batch), so that drain() makes one transfer per step.
        stats = jnp.stack([data * z.shape[0], hits.astype(data.dtype), finite.astype(data.dtype)])
        return new_params, new_state, new_buffers, stats

    # Donating params and buffers lets XLA update them in place; the CPU client ignores
    # donation (with a warning), so it is asked for on accelerators only.
    where = {} if out is None else {"out_shardings": out}
    one = jax.jit(fused, donate_argnums=(0, 2) if donate else (), **where)
    # jit compiles on first call: a run that never queues k steps never builds the k-step program.
    # Its gradients are checked through the weights (docs/training.md) where nothing is
    # donated (the weights before a call are kept for a replay) and no value clipping
    # can turn an infinite gradient into a finite update.
    deferred = not donate and not (clip is not None and clip.by == "value")
    many = (
        make_multistep(
            functools.partial(fused, exact=not deferred), deferred=deferred, donate=donate
        )
        if out is None
        else None
    )
    return FusedPrograms(one, many, rule, deferred)


def _poison(arrays: Iterable[Array], dtype: Any) -> Array:
    """NaN when some entry of ``arrays`` is not finite, else 0 (one read of each)."""
    return sum((jnp.sum(a * 0) for a in arrays), jnp.zeros((), dtype))


def _nbytes(batch: Any) -> int:
    return sum(int(np.asarray(a).nbytes) for a in jax.tree.leaves(batch))


def _same_shapes(a: _Queued, b: _Queued) -> bool:
    shapes = [np.shape(v) for v in jax.tree.leaves(a.batch)], a.targets.shape
    return shapes == ([np.shape(v) for v in jax.tree.leaves(b.batch)], b.targets.shape)


def _clip(grads: Tree, clip: ClipSpec | None) -> Tree:
    if clip is None:
        return grads
    if clip.by == "value":
        return {k: jnp.clip(g, -clip.threshold, clip.threshold) for k, g in grads.items()}
    # PyTorch's clip_grad_norm_: one global L2 norm, scaled down only, 1e-6 in the divisor.
    norm = jnp.sqrt(sum((jnp.sum(g * g) for g in grads.values()), jnp.zeros(())))
    scale = jnp.minimum(1.0, clip.threshold / (norm + 1e-6))
    return {k: g * scale for k, g in grads.items()}


def _renorm(w: Array, limit: float) -> Array:
    # torch.renorm(w, 2, 0, limit): each output unit's incoming weights to norm <= limit.
    axes = tuple(range(1, w.ndim))
    norms = jnp.sqrt(jnp.sum(w * w, axis=axes, keepdims=True))
    return jnp.where(norms > limit, w * (limit / (norms + 1e-7)), w)


def _class_hits(z: Array, y: Array) -> Array:
    # Classes on the last axis; one hit per position (per step of an output [T, V]).
    labels = y if jnp.issubdtype(y.dtype, jnp.integer) else jnp.argmax(y, axis=-1)
    return jnp.sum(jnp.argmax(z, axis=-1) == labels).astype(jnp.int32)


def _binary_hits(z: Array, y: Array) -> Array:
    # A sample is a hit when every one of its outputs is on the target's side.
    right = (z > 0) == (y > 0.5)
    return jnp.sum(jnp.all(right.reshape(right.shape[0], -1), axis=1)).astype(jnp.int32)


def _no_hits(z: Array, y: Array) -> Array:
    return jnp.zeros((), jnp.int32)  # regression: no top-1 to count


# Top-1 hits of a batch, traced into the fused step, by loss kind.
HITS: dict[str, Callable[[Array, Array], Array]] = {
    "softmax_cross_entropy": _class_hits,
    "binary_cross_entropy": _binary_hits,
    "mse": _no_hits,
    "half_sse": _no_hits,
    "l1": _no_hits,
}
