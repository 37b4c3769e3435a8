"""The JAX backend: a checked model as jit-compiled pure functions.

Two levels of use:

- ``BACKEND.compile(model, ...)`` gives a :class:`JaxModel`, the
  :class:`netspec.backend.CompiledModel` that the trainer and the CLI use (NumPy in and
  out, params and state held by the model); its ``train_step`` is the fused
  forward-backward-update of docs/training.md as one XLA program (:class:`JaxTrainStep`).
- :func:`build_apply` / :func:`build_trace` give the pure functions underneath,
  ``apply(params, state, x, *, train, rng) -> (output, new_state)`` over flat dicts named
  as in the IR, for use inside one's own JAX code (``jax.grad``, ``jax.vmap``, ...).

float64 models run each call inside ``jax.enable_x64(True)`` (thread-local, restored on
exit) rather than switching on 64-bit types for the whole process; see
:mod:`netspec.backends.jax._runtime`. Users of the pure functions do the same:
``with precision_scope("float64"): apply(...)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from netspec.backends.jax._graph import ApplyFn, TraceFn, build_apply, build_trace
from netspec.backends.jax._losses import check_targets, loss_function, penalty_function
from netspec.backends.jax._model import JaxModel
from netspec.backends.jax._runtime import precision_scope, resolve_device
from netspec.backends.jax._train import JaxTrainStep
from netspec.ir import CheckedModel


class JaxBackend:
    """:class:`netspec.backend.Backend` for JAX."""

    name: Literal["jax"] = "jax"

    def compile(
        self,
        model: CheckedModel,
        *,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
        seed: int = 0,
        params: dict[str, np.ndarray] | None = None,
    ) -> JaxModel:
        """Compile ``model`` for ``device`` ('cpu', 'cuda', 'gpu', 'auto' or 'kind:index').

        Initial weights come from ``params`` or are drawn by
        :func:`netspec.initializers.initial_params` with ``seed``, which also seeds the
        dropout stream. Asking for a GPU when JAX has none raises NetspecError.
        """
        return JaxModel(model, dtype=dtype, device=device, seed=seed, params=params)


BACKEND = JaxBackend()

__all__ = [
    "BACKEND",
    "ApplyFn",
    "JaxBackend",
    "JaxModel",
    "JaxTrainStep",
    "TraceFn",
    "build_apply",
    "build_trace",
    "check_targets",
    "loss_function",
    "penalty_function",
    "precision_scope",
    "resolve_device",
]
