"""The fused training step: loss, gradients, clipping, update and max_norm in one jit.

docs/training.md gives the mathematics. One call of :meth:`JaxTrainStep.step` queues one
XLA program; nothing is read back, so the host never waits for the device. The
statistics (summed loss, hits, finiteness) stay as device scalars until :meth:`drain`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Sharding

from netspec import _contract
from netspec._model_base import Batch, batch_size
from netspec.backends.jax._graph import Lowered
from netspec.backends.jax._losses import check_targets, loss_function, penalty_function
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


class JaxTrainStep:
    """A :class:`netspec.backend.TrainStep` updating the params of a :class:`JaxModel`.

    The model's params and running statistics are replaced after every step, so the
    model's ``forward``, ``parameters()`` and ``set_parameters`` see and steer training.
    """

    def __init__(
        self, model: JaxModel, loss: LossSpec, fused: Callable[..., Any], rule: Optimizer
    ) -> None:
        self._model = model
        self._loss = loss
        self._fused = fused
        self._rule = rule
        self._steps = 0
        with precision_scope(model.dtype):
            self._buffers = {name: rule.init(param) for name, param in model._params.items()}
        self._pending: list[Array] = []
        self._samples = 0

    def step(self, x: Batch, y: np.ndarray, lr: float) -> None:
        """Queue one update on a batch; statistics stay on the device until drain()."""
        model = self._model
        batch = model._batch(x, True)
        size = batch_size(batch)
        output_shape = (size, *model.ir.output_type.shape)
        y = _contract.check_targets(model.ir, y, self._loss, size, model.dtype)
        targets = check_targets(self._loss, y, output_shape, model.dtype)
        self._steps += 1
        scalars = np.asarray(lr, dtype=model.dtype), np.asarray(self._steps, dtype=model.dtype)
        with precision_scope(model.dtype):
            params, state, buffers, stats = self._fused(
                model._params,
                model._state,
                self._buffers,
                model._place_batch(batch),
                model._place_targets(targets),
                *model._rng(True),
                *scalars,
            )
        model._params, model._state, self._buffers = params, state, buffers
        self._pending.append(stats)
        self._samples += size

    def drain(self) -> Stats:
        """Wait for the queued steps; return and reset what they accumulated."""
        # One small array per step, [summed loss, hits, finite]: one transfer each.
        values = jax.device_get(self._pending)
        finite = [bool(ok) for _, _, ok in values]
        stats = Stats(
            loss_sum=float(sum(float(loss) for loss, _, _ in values)),
            samples=self._samples,
            correct=int(sum(int(hits) for _, hits, _ in values)),
            first_nonfinite=finite.index(False) if False in finite else -1,
        )
        self._pending, self._samples = [], 0
        return stats

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """Buffers as ``<param>.<buffer>``, plus ``step`` (netspec.optimizers)."""
        buffers = self._buffers if self._steps else {}
        return pack_state(self._steps, jax.tree.map(np.array, buffers))

    def load_optimizer_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore buffers saved by :meth:`optimizer_state`, checked by check_optimizer_state."""
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
) -> tuple[Callable[..., Any], Optimizer]:
    """The jitted fused step and its optimizer rule (see docs/training.md, "One step");
    ``out``, when given, is the sharding of every result (replicated, on a data mesh);
    ``precision`` bf16 / fp16 computes forward and backward in it (_precision.py)."""
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
    ) -> Any:
        rng = jax.random.fold_in(key, call) if lowered.random else None
        (value, (data, z, new_state)), grads = grad_fn(params, state, x, y, rng)
        # g * 0 is 0 where g is finite and NaN where it is not, so the sum is NaN exactly
        # when some gradient entry is not finite (zeros cannot overflow). XLA fuses the
        # product into the reduction, one read of each gradient, where all(isfinite(g))
        # wrote a boolean array and reduced it in a second pass.
        poison = sum((jnp.sum(g * 0) for g in grads.values()), jnp.zeros((), value.dtype))
        finite = jnp.isfinite(value) & jnp.isfinite(poison)
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
    return jax.jit(fused, donate_argnums=(0, 2) if donate else (), **where), rule


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
