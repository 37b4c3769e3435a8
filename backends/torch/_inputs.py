"""Checks on the NumPy arrays given to a compiled model, before torch sees them.

Every rejection is a :class:`netspec.errors.ShapeError` (or ``NetspecError`` for unknown
names) whose message names what was expected and what was received, so that a bad
batch never surfaces as a deep framework traceback.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from netspec.errors import NetspecError, ShapeError
from netspec.ir import CheckedModel, Input
from netspec.ir.train import LossSpec, SoftmaxCrossEntropy
from netspec.weights import validate_weights

# Integer and float arrays are accepted and cast to the model's dtype; booleans,
# complex numbers, strings and objects are not numbers a network can take.
_REAL_KINDS = "iuf"

BAD_BATCH_SHAPE = (
    "batch for input {name!r} has shape {got}, expected (N, {expected})\n  help: {help}"
)
BAD_BATCH_DTYPE = (
    "batch for input {name!r} has dtype {got}, expected real numbers (cast to {dtype})\n"
    "  help: convert it first, e.g. x.astype(np.{dtype})"
)
BAD_TARGET_SHAPE = "targets for {loss} have shape {got}, expected {expected}\n  help: {help}"
BAD_TARGET_DTYPE = "targets for {loss} have dtype {got}, expected {expected}"
BAD_LABELS = (
    "class labels for softmax_cross_entropy must be whole numbers in [0, {classes}), "
    "got {bad}\n"
    "  help: the model's output has {classes} classes; labels index them from 0"
)
BAD_CLASS_WEIGHTS = (
    "softmax_cross_entropy has {count} class_weights, expected one per class ({classes})\n"
    "  help: give class_weights as many entries as the output has classes"
)


def as_batch(x: object, spec: Input, dtype: np.dtype) -> np.ndarray:
    """``x`` as a contiguous array [N, *input shape] of ``dtype``, or a ShapeError."""
    array = _as_array(x, f"batch for input {spec.name!r}")
    if array.dtype.kind not in _REAL_KINDS:
        raise ShapeError(BAD_BATCH_DTYPE.format(name=spec.name, got=array.dtype, dtype=dtype))
    shape = tuple(spec.shape)
    if array.shape[1:] != shape or array.ndim != len(shape) + 1:
        raise ShapeError(
            BAD_BATCH_SHAPE.format(
                name=spec.name,
                got=tuple(array.shape),
                expected=", ".join(map(str, shape)),
                help=_batch_help(tuple(array.shape), shape),
            )
        )
    return _owned(array, dtype)


def _batch_help(got: tuple[int, ...], shape: tuple[int, ...]) -> str:
    if got == shape:
        return "this is one sample; add the batch axis with x[None]"
    if len(got) >= 1 and math.prod(got[1:]) == math.prod(shape):
        return f"reshape each sample: x.reshape({', '.join(map(str, (got[0], *shape)))})"
    return f"each sample must have shape {shape}"


def as_targets(
    y: object, loss: LossSpec, output_shape: tuple[int, ...], batch: int, dtype: np.dtype
) -> np.ndarray:
    """Targets checked against the loss and the model's output.

    softmax_cross_entropy takes class indices [N] (int64 out) or probabilities / one-hot
    rows [N, K]; the other losses take [N, *output shape] (or [N] for an output of one).
    """
    array = _as_array(y, f"targets for {loss.kind}")
    if isinstance(loss, SoftmaxCrossEntropy):
        return _classification_targets(array, loss, output_shape, batch, dtype)
    if array.dtype.kind not in _REAL_KINDS + "b":
        raise ShapeError(
            BAD_TARGET_DTYPE.format(loss=loss.kind, got=array.dtype, expected="real numbers")
        )
    full = (batch, *output_shape)
    if array.shape == full:
        return _owned(array, dtype)
    if output_shape == (1,) and array.shape == (batch,):
        return _owned(array.reshape(full), dtype)
    expected = f"{full} (the output's shape with the batch axis)"
    if output_shape == (1,):
        expected += f" or {(batch,)}"
    raise ShapeError(
        BAD_TARGET_SHAPE.format(
            loss=loss.kind,
            got=tuple(array.shape),
            expected=expected,
            help="one target per output value, batch axis first",
        )
    )


def _classification_targets(
    array: np.ndarray,
    loss: SoftmaxCrossEntropy,
    output_shape: tuple[int, ...],
    batch: int,
    dtype: np.dtype,
) -> np.ndarray:
    classes = output_shape[0]
    if loss.class_weights is not None and len(loss.class_weights) != classes:
        raise NetspecError(BAD_CLASS_WEIGHTS.format(count=len(loss.class_weights), classes=classes))
    labels_shape = (batch, *output_shape[1:])
    probs_shape = (batch, *output_shape)
    if array.dtype.kind not in _REAL_KINDS + "b":
        raise ShapeError(
            BAD_TARGET_DTYPE.format(
                loss=loss.kind, got=array.dtype, expected="integer labels or probabilities"
            )
        )
    if array.shape == probs_shape:
        return _owned(array, dtype)
    if array.shape != labels_shape:
        raise ShapeError(
            BAD_TARGET_SHAPE.format(
                loss=loss.kind,
                got=tuple(array.shape),
                expected=f"{labels_shape} (class indices) or {probs_shape} (probabilities)",
                help="pass integer labels, one per sample, or one-hot rows",
            )
        )
    if array.dtype.kind == "f":
        # Float labels (read from a CSV, say) are fine as long as they are whole numbers.
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            raise ShapeError(BAD_LABELS.format(classes=classes, bad=array[~whole].flat[0]))
    labels = array.astype(np.int64)
    outside = (labels < 0) | (labels >= classes)
    if outside.any():
        raise ShapeError(BAD_LABELS.format(classes=classes, bad=labels[outside].flat[0]))
    return labels


def check_values(
    model: CheckedModel,
    values: Mapping[str, object],
    dtype: np.dtype,
    *,
    complete: bool,
) -> dict[str, np.ndarray]:
    """Parameter and state arrays checked by :func:`netspec.weights.validate_weights`
    (names, float dtype, shape, finite values) and cast to ``dtype``.

    With ``complete`` every parameter must be present (state may be left out: it starts
    at its fill value); otherwise any subset of names may be given.
    """
    return validate_weights(model, values, dtype=dtype, require="params" if complete else "none")


def _owned(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Contiguous and writable, so that torch.from_numpy may share it without a copy."""
    result = np.ascontiguousarray(array, dtype=dtype)
    return result if result.flags.writeable else result.copy()


def _as_array(value: object, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ShapeError(f"{what} is not an array: {error}") from None
