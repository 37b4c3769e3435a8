"""Checks before training: layout against the model's input, targets against its
output and loss, finite inputs, non-empty splits. Each failure says what was found,
what was expected and how to fix it."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from netspec.errors import NetspecError

CLASSIFICATION_LOSSES = ("softmax_cross_entropy", "binary_cross_entropy")
REGRESSION_LOSSES = ("mse", "half_sse", "l1")

INPUT_MISMATCH = (
    "data {source}: the inputs have shape {found} per sample, but the model's input is "
    "{expected}\n"
    "  note: {hint}\n"
    "  help: {fix}"
)

LABEL_OUT_OF_RANGE = (
    "data {source}: {split} label {label} is out of range for the "
    "model's {width} outputs\n"
    "  expected: labels 0..{top}, one output per class{classes}\n"
    "{note}"
    "  help: {fix}"
)

NOT_BINARY = (
    "data {source}: binary_cross_entropy needs labels 0 or 1, but {split} sample {index} "
    "has label {label}{classes}\n"
    "{note}"
    "  help: {fix}"
)

USE_REGRESSION = (
    "for continuous targets use a regression loss: `loss mse` (or half_sse, l1), with one "
    "output per target value (e.g. dense(1))"
)

# Labels with at least this many distinct values, more than one per two samples, look
# like measurements rather than classes.
MANY_VALUES = 20

NON_FINITE = (
    "data {source}: the {split} {what} contain {count} non-finite value{s} (NaN or inf); "
    "the first is {name}[{index}] = {value}\n"
    "  expected: finite numbers\n"
    "  help: remove or fill in the missing values in the data"
)

EMPTY_SPLIT = (
    "data {source}: the {split} split has no samples\n  expected: at least 1 sample\n  help: {fix}"
)

TARGET_MISMATCH = (
    "data {source}: the regression targets have shape {found} per sample, but the "
    "model's output is {expected}\n"
    "  expected: targets of the output's shape (with {loss})\n"
    "  help: {fix}"
)


def shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def spec_shape(shape: tuple[int, ...]) -> str:
    """A shape as the user writes it in a .net file: [1, 28, 28]."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def layout(
    sample_shape: tuple[int, ...],
    input_shape: tuple[int, ...],
    *,
    flatten: bool,
    source: str,
    hint: str,
) -> tuple[bool, str | None]:
    """Whether to flatten each sample, and a note when netspec decided it.

    ``flatten = true`` flattens; a model that takes a vector of the sample's size gets
    flattened samples without being asked (e.g. [784] from MNIST's (1, 28, 28)). Any
    other difference is an error.
    """
    size = math.prod(sample_shape)
    shape = (size,) if flatten else sample_shape
    if shape == input_shape:
        return flatten, None
    if len(input_shape) == 1 and size == input_shape[0]:
        return True, (
            f"inputs {shape_text(sample_shape)} flattened to {shape_text(input_shape)} "
            "to match the model's input"
        )
    if flatten and size == math.prod(input_shape):
        fix = f"remove flatten = true: the model takes {spec_shape(input_shape)}"
    elif len(sample_shape) > 1:
        fix = (
            f"declare the model's input as x: {spec_shape(sample_shape)} or x: [{size}] "
            "(flattened), or use data that matches"
        )
    else:
        fix = f"declare the model's input as x: {spec_shape(shape)}, or use data that matches"
    raise NetspecError(
        INPUT_MISMATCH.format(
            source=source,
            found=shape_text(shape),
            expected=shape_text(input_shape),
            hint=hint or f"{source} samples are {shape_text(sample_shape)}",
            fix=fix,
        )
    )


def check_nonempty(source: str, split: str, n: int, fix: str) -> None:
    if n == 0:
        raise NetspecError(EMPTY_SPLIT.format(source=source, split=split, fix=fix))


def check_finite(source: str, split: str, what: str, name: str, array: np.ndarray) -> None:
    """Every value finite; otherwise say how many are not and where the first is."""
    if not np.issubdtype(array.dtype, np.floating):
        return
    finite = np.isfinite(array)
    if finite.all():
        return
    bad = ~finite
    count = int(np.count_nonzero(bad))
    flat = int(np.argmax(bad.reshape(-1)))
    index = np.unravel_index(flat, array.shape)
    raise NetspecError(
        NON_FINITE.format(
            source=source,
            split=split,
            what=what,
            count=count,
            s="" if count == 1 else "s",
            name=name,
            index=", ".join(str(int(i)) for i in index),
            value=array[index],
        )
    )


def _first_outside(labels: np.ndarray, low: int, high: int) -> int | None:
    """Index of the first label outside low..high, or None."""
    outside = (labels < low) | (labels > high)
    return int(np.argmax(outside)) if outside.any() else None


def continuous_note(labels: np.ndarray, class_names: tuple[str, ...] | None) -> str | None:
    """A note when class labels look like continuous targets (a regression data set
    under a classification loss): fractional values, or many distinct values for the
    number of samples. None when they look like classes."""
    if class_names is not None:
        numbers = []
        for name in class_names:
            try:
                numbers.append(float(name))
            except ValueError:
                return None  # text labels are classes
        values = np.asarray(numbers)
    else:
        values = np.unique(labels).astype(np.float64)
    fractional = values[values != np.round(values)]
    distinct, rows = len(values), len(labels)
    if fractional.size:
        return (
            f"the targets take fractional values such as {fractional[0]:g}; they look "
            "like continuous targets, not class labels"
        )
    if distinct >= MANY_VALUES and 2 * distinct > rows:
        return (
            f"the targets take {distinct} distinct values in {rows} samples; they look "
            "like continuous targets, not class labels"
        )
    return None


def check_label_range(
    source: str,
    split: str,
    labels: np.ndarray,
    width: int,
    num_classes: int | None,
    *,
    binary: bool,
    describe: Callable[[int], str] | None = None,
    continuous: str | None = None,
) -> None:
    """Labels fit the output: 0..width-1 (softmax, one-hot), 0/1 (binary cross-entropy).

    ``describe`` gives a label's text and place in the file; ``continuous`` is a note from
    :func:`continuous_note`, which turns the advice towards a regression loss.
    """
    classes = f"; the data has {num_classes} classes" if num_classes else ""
    note = f"  note: {continuous}\n" if continuous else ""
    if binary:
        bad = _first_outside(labels, 0, 1)
        if bad is not None:
            label = int(labels[bad])
            raise NetspecError(
                NOT_BINARY.format(
                    source=source,
                    split=split,
                    index=bad,
                    label=describe(label) if describe and label >= 0 else label,
                    classes=f" (the data has {num_classes} classes)" if num_classes else "",
                    note=note,
                    fix=USE_REGRESSION
                    if continuous
                    else "use softmax_cross_entropy with one output per class for more than "
                    "two classes",
                )
            )
        return
    bad = _first_outside(labels, 0, width - 1)
    if bad is None:
        return
    label = int(labels[bad])
    if continuous:
        fix = USE_REGRESSION
    elif label < 0:
        fix = "class labels count from 0; shift the labels"
    else:
        fix = (
            f"give the last layer at least {max(label + 1, num_classes or 0)} outputs "
            f"(e.g. dense({max(label + 1, num_classes or 0)})), or check the labels"
        )
    raise NetspecError(
        LABEL_OUT_OF_RANGE.format(
            source=source,
            split=split,
            label=describe(label) if describe and label >= 0 else f"{label} (sample {bad})",
            width=width,
            top=width - 1,
            classes=classes,
            note=note,
            fix=fix,
        )
    )


def check_target_shape(
    source: str, found: tuple[int, ...], output_shape: tuple[int, ...], loss_kind: str
) -> None:
    if found == output_shape:
        return
    if len(found) == 1 and len(output_shape) == 1:
        fix = (
            f"give the last layer {found[0]} output{'s' if found[0] != 1 else ''} "
            f"(dense({found[0]})) to predict the {found[0]} target value"
            f"{'s' if found[0] != 1 else ''}"
        )
    else:
        fix = f"make the model's output {spec_shape(found)}"
    raise NetspecError(
        TARGET_MISMATCH.format(
            source=source,
            found=shape_text(found),
            expected=shape_text(output_shape),
            loss=loss_kind,
            fix=fix,
        )
    )
