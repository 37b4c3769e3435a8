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

The names below load JAX on first use, so that the code generator can read the JAX-free
``lowerings`` table of this package without importing JAX.
"""

from __future__ import annotations

from netspec._lazy import lazy_exports

_EXPORTS = {
    "BACKEND": "_model",
    "ApplyFn": "_graph",
    "JaxModel": "_model",
    "JaxTrainStep": "_train",
    "TraceFn": "_graph",
    "build_apply": "_graph",
    "build_trace": "_graph",
    "check_targets": "_losses",
    "loss_function": "_losses",
    "penalty_function": "_losses",
    "precision_scope": "_runtime",
    "resolve_device": "_runtime",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
