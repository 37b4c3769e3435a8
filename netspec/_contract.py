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
from netspec.ir import CheckedModel, Input
from netspec.ir.graph import INDEX_DTYPES
from netspec.ir.ops import CheckedBatchNorm, CheckedEmbedding
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
BAD_INDEX_DTYPE = "batch for input {name!r} has dtype {got}, expected integer indices ({dtype})"
BAD_INDEX = (
    "input {name!r} holds index {index} at sample {sample}, but embedding {node!r} takes 0..{top}"
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
NOT_BY_NAME = (
    "model {model!r} has {count} inputs ({names}): pass a batch for each by input name, "
    "not one array"
)
MISSING_INPUT = "model {model!r} takes inputs {names}; missing: {missing}"
TOO_MANY_BATCHES = (
    "model {model!r} takes one batch per input ({names}), given either by name or, for a "
    "model of one input, as its one positional argument"
)
UNEQUAL_BATCHES = "the inputs of a batch must have one batch size, found: {sizes}"


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
    would estimate a variance from a single value. For a model of one input."""
    return check_inputs(model, x, dtype, train=train)[model.input.name]


def check_inputs(
    model: CheckedModel, x: object, dtype: np.dtype | str, *, train: bool = False
) -> dict[str, np.ndarray]:
    """The batch of every input by name, in the model's order, each checked as
    :func:`check_batch` checks one. ``x`` is a mapping from input name to array, or, for
    a model of one input, the array itself. A missing or unknown name, or inputs of
    different batch sizes, are errors naming the inputs."""
    given = bind_inputs(model.name, model.input_names, (x,), {})
    arrays = {spec.name: _one_input(model, spec, given[spec.name], dtype) for spec in model.inputs}
    sizes = {name: len(array) for name, array in arrays.items()}
    check_batch_sizes(sizes)
    if train and next(iter(sizes.values())) == 1:
        single = single_value_batchnorms(model)
        if single:
            shape = _input_shape_of(model, single[0])
            raise ShapeError(
                BATCHNORM_ONE.format(node=single[0], shape=shape), help=BATCHNORM_ONE_HELP
            )
    return arrays


def bind_inputs(
    model: str, names: Sequence[str], args: tuple[object, ...], kwargs: Mapping[str, object]
) -> dict[str, object]:
    """The batch of each input by name, from a call's arguments: one positional batch for
    a model of one input, a mapping by input name, or keyword arguments by input name.
    Framework-free, so that every entry point (backends, ``netspec.compile``'s models)
    names a missing or unknown input with the same message."""
    if len(args) > 1 or (args and kwargs):
        raise ShapeError(
            TOO_MANY_BATCHES.format(model=model, names=", ".join(names)),
            help=_by_name_example(names),
        )
    given: Mapping[str, object]
    if kwargs:
        given = kwargs
    elif not args:
        given = {}
    elif isinstance(args[0], Mapping):
        given = args[0]
    elif len(names) == 1:
        given = {names[0]: args[0]}
    else:
        raise ShapeError(
            NOT_BY_NAME.format(model=model, count=len(names), names=", ".join(names)),
            help=_by_name_example(names),
        )
    unknown = [key for key in given if key not in names]
    if unknown:
        raise unknown_name("input", unknown[0], names)
    missing = [name for name in names if name not in given]
    if missing:
        raise ShapeError(
            MISSING_INPUT.format(model=model, names=", ".join(names), missing=", ".join(missing)),
            help=_by_name_example(names),
        )
    return {name: given[name] for name in names}


def check_batch_sizes(sizes: Mapping[str, int]) -> None:
    """Every input's batch has one size; otherwise a ShapeError listing them."""
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{name} has {size}" for name, size in sizes.items())
        raise ShapeError(UNEQUAL_BATCHES.format(sizes=shown))


def _by_name_example(names: Sequence[str]) -> str:
    shown = ", ".join(f"{name}=..." for name in names)
    return f"pass one batch per input, by name: model({shown})"


def _input_shape_of(model: CheckedModel, node: str) -> tuple[int, ...]:
    """The shape of the single input of a model: what BATCHNORM_ONE has always shown;
    for a model of several, the shape of the batchnorm's own input."""
    if len(model.inputs) == 1:
        return tuple(model.inputs[0].shape)
    source = model.node(node).inputs[0]
    for spec in model.inputs:
        if spec.name == source:
            return tuple(spec.shape)
    return tuple(model.node(source).output.shape)


def _one_input(model: CheckedModel, spec: Input, x: object, dtype: np.dtype | str) -> np.ndarray:
    array = _as_array(x, f"batch for input {spec.name!r}")
    if spec.dtype in INDEX_DTYPES:
        return _owned(_index_batch(model, spec, array), np.dtype(spec.dtype))
    if array.dtype.kind not in _REAL_KINDS:
        raise ShapeError(
            BAD_BATCH_DTYPE.format(name=spec.name, got=array.dtype, dtype=np.dtype(dtype)),
            help=f"convert it first, e.g. x.astype(np.{np.dtype(dtype)})",
        )
    shape = tuple(spec.shape)
    got = tuple(array.shape)
    if got[1:] != shape or array.ndim != len(shape) + 1:
        raise bad_shape(spec.name, got, shape)
    if got[0] == 0:
        expected = ", ".join(map(str, shape))
        raise ShapeError(EMPTY_BATCH.format(name=spec.name, got=got, expected=expected))
    return _owned(array, np.dtype(dtype))


def _index_batch(model: CheckedModel, spec: Input, array: np.ndarray) -> np.ndarray:
    """A batch for an integer input: whole numbers of the declared integer dtype, each a
    valid row of every embedding the input reaches. Checked here, once, so that an index
    out of range is the same error on every backend (torch would raise its own, JAX would
    clamp it silently, NumPy would wrap a negative one)."""
    shape = tuple(spec.shape)
    if array.dtype.kind not in "iu":
        raise ShapeError(
            BAD_INDEX_DTYPE.format(name=spec.name, got=array.dtype, dtype=spec.dtype),
            help=f"convert it first, e.g. x.astype(np.{spec.dtype})",
        )
    got = tuple(array.shape)
    if got[1:] != shape or array.ndim != len(shape) + 1:
        raise bad_shape(spec.name, got, shape)
    if got[0] == 0:
        expected = ", ".join(map(str, shape))
        raise ShapeError(EMPTY_BATCH.format(name=spec.name, got=got, expected=expected))
    check_indices(model, array, name=spec.name)
    return array


def check_indices(
    model: CheckedModel, array: np.ndarray, split: str = "", *, name: str | None = None
) -> None:
    """Every index of ``array`` (samples of the integer input ``name``, the model's only
    input by default) is a row of every embedding it reaches, or a ShapeError naming the
    input, the first bad index, its sample (of the ``split`` named, when the array is a
    whole split) and the range."""
    name = model.input.name if name is None else name
    for node, num in index_ranges(model, name):
        outside = (array < 0) | (array >= num)
        if outside.any():
            where = np.argwhere(outside)[0]
            raise ShapeError(
                BAD_INDEX.format(
                    name=name,
                    index=int(array[tuple(where)]),
                    sample=f"{int(where[0])} of the {split} split" if split else int(where[0]),
                    node=node,
                    top=num - 1,
                ),
                help=f"indices count rows of the table from 0; {node} has {num} rows",
            )


def gradient_inputs(model: CheckedModel) -> list[str]:
    """The inputs that have a gradient, in the model's order: the floating-point ones
    (an integer input holds indices, which have none; it is skipped, not the others)."""
    return [spec.name for spec in model.inputs if spec.dtype not in INDEX_DTYPES]


def index_ranges(model: CheckedModel, name: str | None = None) -> list[tuple[str, int]]:
    """(embedding, rows) for every embedding the input ``name`` (the model's only input by
    default) reaches, directly or through ops that only move values: each index of the
    input must be below ``rows``."""
    reached = {model.input.name if name is None else name}
    found: list[tuple[str, int]] = []
    for node in model.nodes:
        if not reached.intersection(node.inputs):
            continue
        if isinstance(node.op, CheckedEmbedding):
            found.append((node.name, node.op.num))
        elif node.output.dtype in INDEX_DTYPES:
            reached.add(node.name)
    return found


def single_value_batchnorms(model: CheckedModel) -> list[str]:
    """Batchnorms whose input has one value per feature per sample: a batch of one
    sample leaves them a single value to estimate a variance from."""
    shapes = {spec.name: tuple(spec.shape) for spec in model.inputs}
    for node in model.nodes:
        shapes[node.name] = tuple(node.output.shape)
    return [
        node.name
        for node in model.nodes
        if isinstance(node.op, CheckedBatchNorm) and math.prod(shapes[node.inputs[0]][1:]) == 1
    ]


def bad_shape(name: str, got: tuple[int, ...], shape: tuple[int, ...]) -> ShapeError:
    """The error for a batch of input ``name`` of shape ``got`` where the model takes
    samples of ``shape``: raised alike by the backends and by ``netspec.compile``'s
    torch module and JAX ``apply``, which see framework arrays."""
    return ShapeError(
        BAD_BATCH_SHAPE.format(name=name, got=got, expected=", ".join(map(str, shape))),
        help=_batch_help(got, shape),
    )


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

    softmax_cross_entropy reads the classes on the output's last axis and takes class
    indices [N, *output shape[:-1]] (whole numbers, returned as int64: one label per
    position, e.g. per time step of an output [T, V]) or probabilities / one-hot rows
    [N, *output shape]; the other losses take [N, *output shape] (or [N] for an output of
    one), returned as ``dtype``.
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
    classes = output_shape[-1]
    if loss.class_weights is not None and len(loss.class_weights) != classes:
        raise ShapeError(
            BAD_CLASS_WEIGHTS.format(count=len(loss.class_weights), classes=classes),
            help="give class_weights as many entries as the output has classes",
        )
    labels_shape = (batch, *output_shape[:-1])
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
            help="pass integer labels, one per sample, or one-hot rows"
            if len(output_shape) == 1
            else "pass integer labels, one per position of the output's leading axes (one "
            "per step of a sequence output [T, classes]), or one-hot rows",
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
