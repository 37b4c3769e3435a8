"""The checks every backend makes the same way, so that one condition gives one error.

Each backend calls these at its entry points (``forward``, ``trace``, ``loss_and_grads``,
``train_step`` and the step's ``step``) before any framework sees the input: a bad batch,
bad targets, an unknown loss or optimizer, or an op kind a backend has no lowering for
raise the same type with the same message on numpy, torch and jax. Framework-free: only
NumPy and the IR are imported here.
"""

from __future__ import annotations

import difflib
import math
import typing
from collections.abc import Mapping, Sequence

import numpy as np

from netspec._validate import found
from netspec.errors import ShapeError, UnknownNameError, UnsupportedOpError
from netspec.ir import CheckedModel
from netspec.ir.ops import CheckedBatchNorm
from netspec.ir.train import LossSpec, OptimizerSpec, SoftmaxCrossEntropy

Entry = typing.TypeVar("Entry")


def _kinds(union: object) -> dict[str, type]:
    """``kind`` -> class for the members of an annotated IR union (LossSpec...)."""
    members = typing.get_args(typing.get_args(union)[0])
    return {member.model_fields["kind"].default: member for member in members}


LOSS_NAMES: dict[str, type] = _kinds(LossSpec)
OPTIMIZER_NAMES: dict[str, type] = _kinds(OptimizerSpec)

# Integer and float arrays are accepted and cast to the model's dtype; booleans,
# complex numbers, strings and objects are not numbers a network can take.
_REAL_KINDS = "iuf"

BAD_BATCH_SHAPE = "batch for input {name!r} has shape {got}, expected (N, {expected})"
BAD_BATCH_DTYPE = (
    "batch for input {name!r} has dtype {got}, expected real numbers (cast to {dtype})"
)
EMPTY_BATCH = (
    "batch for input {name!r} is empty (shape {got}), expected (N, {expected}) with N >= 1"
)
BATCHNORM_ONE = (
    "batchnorm {node!r} in training mode needs more than one value per feature, "
    "got a batch of 1 sample of shape {shape}"
)
BATCHNORM_ONE_HELP = (
    "use a batch of at least 2 samples, or train=False to use the running statistics"
)
BAD_TARGET_SHAPE = "targets for {loss} have shape {got}, expected {expected}"
BAD_TARGET_DTYPE = "targets for {loss} have dtype {got}, expected {expected}"
BAD_LABELS = (
    "class labels for softmax_cross_entropy must be whole numbers in [0, {classes}), got {bad}"
)
BAD_CLASS_WEIGHTS = (
    "softmax_cross_entropy has {count} class_weights, expected one per class ({classes})"
)
NO_LOWERING = "the {target} has no lowering for op kind {kind!r}"


def unknown_name(
    what: str,
    name: object,
    choices: Sequence[str],
    *,
    also: str = "",
    help: Sequence[str] | str = (),
) -> UnknownNameError:
    """The error for a ``what`` (loss, optimizer, backend...) that is none of ``choices``;
    ``also`` names other accepted forms. A near miss gets a did-you-mean as help, before
    the caller's own ``help``."""
    shown = repr(name) if isinstance(name, str) else found(name)
    expected = ", ".join(choices) + (f", {also}" if also else "")
    lines = []
    if isinstance(name, str):
        close = difflib.get_close_matches(name.lower(), list(choices), n=1, cutoff=0.6)
        if close:
            lines.append(f"did you mean {close[0]!r}?")
    lines += [help] if isinstance(help, str) else list(help)
    message = f"unknown {what} {shown}: expected one of {expected}"
    return UnknownNameError(message, name=name, choices=choices, help=lines)


def unsupported_op(target: str, kind: str) -> UnsupportedOpError:
    """The error for an op kind that ``target`` ("numpy backend", "jax generator"...)
    cannot lower: a gap in that target's lowering table."""
    return UnsupportedOpError(
        NO_LOWERING.format(target=target, kind=kind), target=target, kind=kind
    )


def lowering_of(table: Mapping[str, Entry], kind: str, target: str) -> Entry:
    """``table[kind]``: the entry of ``target``'s lowering table for an op kind, or the
    error of :func:`unsupported_op` when it has none."""
    if kind not in table:
        raise unsupported_op(target, kind)
    return table[kind]


def check_loss(loss: object) -> LossSpec:
    """An IR loss object as it is, or a spec's loss name (default arguments)."""
    if isinstance(loss, tuple(LOSS_NAMES.values())):
        return loss  # type: ignore[return-value]
    if isinstance(loss, str) and loss in LOSS_NAMES:
        return LOSS_NAMES[loss]()  # type: ignore[no-any-return]
    also = "or a loss object of netspec.ir.train such as SoftmaxCrossEntropy()"
    raise unknown_name("loss", loss, list(LOSS_NAMES), also=also)


def check_optimizer(optimizer: object) -> OptimizerSpec:
    """An IR optimizer object as it is, or a spec's optimizer name (default arguments)."""
    if isinstance(optimizer, tuple(OPTIMIZER_NAMES.values())):
        return optimizer  # type: ignore[return-value]
    if isinstance(optimizer, str) and optimizer in OPTIMIZER_NAMES:
        return OPTIMIZER_NAMES[optimizer]()  # type: ignore[no-any-return]
    also = "or an optimizer object of netspec.ir.train such as Adam(lr=0.001)"
    raise unknown_name("optimizer", optimizer, list(OPTIMIZER_NAMES), also=also)


def check_batch(
    model: CheckedModel, x: object, dtype: np.dtype | str, *, train: bool = False
) -> np.ndarray:
    """``x`` as a contiguous, writable array [N, *input shape] of ``dtype`` with N >= 1,
    or a ShapeError. In training mode a batch of one sample is refused where a batchnorm
    would estimate a variance from a single value."""
    spec = model.input
    array = _as_array(x, f"batch for input {spec.name!r}")
    if array.dtype.kind not in _REAL_KINDS:
        raise ShapeError(
            BAD_BATCH_DTYPE.format(name=spec.name, got=array.dtype, dtype=np.dtype(dtype)),
            help=f"convert it first, e.g. x.astype(np.{np.dtype(dtype)})",
        )
    shape = tuple(spec.shape)
    got = tuple(array.shape)
    if got[1:] != shape or array.ndim != len(shape) + 1:
        raise ShapeError(
            BAD_BATCH_SHAPE.format(name=spec.name, got=got, expected=", ".join(map(str, shape))),
            help=_batch_help(got, shape),
        )
    if got[0] == 0:
        expected = ", ".join(map(str, shape))
        raise ShapeError(EMPTY_BATCH.format(name=spec.name, got=got, expected=expected))
    if train and got[0] == 1:
        single = single_value_batchnorms(model)
        if single:
            raise ShapeError(
                BATCHNORM_ONE.format(node=single[0], shape=shape), help=BATCHNORM_ONE_HELP
            )
    return _owned(array, np.dtype(dtype))


def single_value_batchnorms(model: CheckedModel) -> list[str]:
    """Batchnorms whose input has one value per feature per sample: a batch of one
    sample leaves them a single value to estimate a variance from."""
    shapes = {model.input.name: tuple(model.input.shape)}
    for node in model.nodes:
        shapes[node.name] = tuple(node.output.shape)
    return [
        node.name
        for node in model.nodes
        if isinstance(node.op, CheckedBatchNorm) and math.prod(shapes[node.inputs[0]][1:]) == 1
    ]


def _batch_help(got: tuple[int, ...], shape: tuple[int, ...]) -> str:
    if got == shape:
        return "this is one sample; add the batch axis with x[None]"
    if len(got) >= 1 and math.prod(got[1:]) == math.prod(shape):
        return f"reshape each sample: x.reshape({', '.join(map(str, (got[0], *shape)))})"
    return f"each sample must have shape {shape}"


def check_targets(
    model: CheckedModel, y: object, loss: LossSpec, batch: int, dtype: np.dtype | str
) -> np.ndarray:
    """Targets checked against the loss and the model's output, for a batch of ``batch``.

    softmax_cross_entropy takes class indices [N, *output shape[1:]] (whole numbers,
    returned as int64) or probabilities / one-hot rows [N, *output shape]; the other
    losses take [N, *output shape] (or [N] for an output of one), returned as ``dtype``.
    """
    output_shape = tuple(model.output_type.shape)
    array = _as_array(y, f"targets for {loss.kind}")
    if isinstance(loss, SoftmaxCrossEntropy):
        return _classification_targets(array, loss, output_shape, batch, np.dtype(dtype))
    if array.dtype.kind not in _REAL_KINDS + "b":
        raise ShapeError(
            BAD_TARGET_DTYPE.format(loss=loss.kind, got=array.dtype, expected="real numbers")
        )
    full = (batch, *output_shape)
    if array.shape == full:
        return _owned(array, np.dtype(dtype))
    if output_shape == (1,) and array.shape == (batch,):
        return _owned(array.reshape(full), np.dtype(dtype))
    expected = f"{full} (the output's shape with the batch axis)"
    if output_shape == (1,):
        expected += f" or {(batch,)}"
    raise ShapeError(
        BAD_TARGET_SHAPE.format(loss=loss.kind, got=tuple(array.shape), expected=expected),
        help="one target per output value, batch axis first",
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
        raise ShapeError(
            BAD_CLASS_WEIGHTS.format(count=len(loss.class_weights), classes=classes),
            help="give class_weights as many entries as the output has classes",
        )
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
            ),
            help="pass integer labels, one per sample, or one-hot rows",
        )
    label_help = f"the model's output has {classes} classes; labels index them from 0"
    if array.dtype.kind == "f":
        # Float labels (read from a CSV, say) are fine as long as they are whole numbers.
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            bad = array[~whole].flat[0]
            raise ShapeError(BAD_LABELS.format(classes=classes, bad=bad), help=label_help)
    labels = array.astype(np.int64)
    outside = (labels < 0) | (labels >= classes)
    if outside.any():
        bad = labels[outside].flat[0]
        raise ShapeError(BAD_LABELS.format(classes=classes, bad=bad), help=label_help)
    return labels


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
