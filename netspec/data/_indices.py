"""Integer data: one class label per step for an output [T, classes], and integer
indices for an integer model input (and only there), checked with messages that say
what was found and what was expected (part of :func:`netspec.data.load_dataset`)."""

from __future__ import annotations

import numpy as np

from netspec.data import _checks as checks
from netspec.data._raw import Raw
from netspec.errors import NetspecError

STEP_LOSS = (
    "data {source} gives one class label per step, targets {steps}, which needs "
    "softmax_cross_entropy, but the loss is {loss}\n"
    "  help: use loss softmax_cross_entropy with a model output [steps, classes]"
)

STEP_ONE_HOT = (
    "data {source}: one_hot = true needs class labels, one per sample, but the targets are "
    "labels per step, which softmax_cross_entropy takes as they are\n"
    "  help: remove one_hot = true"
)

STEP_OUTPUT = (
    "data {source} gives one class label per step, targets {steps}, so the model's output "
    "must be [steps, classes] with those steps; found {found}\n"
    "  help: end the model with an output of {wanted} (scores per step and class)"
)

STEP_CLASSES = (
    "data {source}: {split} targets hold label {label} (sample {sample}, step {step}), but "
    "the model has {classes} outputs per step; the data has a {what}\n"
    "  help: give the model's last axis {fix} classes"
)

INDICES_NEED_INTEGER_INPUT = (
    "data {source} gives integer indices, samples {sample}, but the model's input is "
    "{dtype} {shape}\n"
    "  help: declare the input as indices, {name}: int64{shape}, and embed them: "
    "embedding(num, dim)"
)

INTEGER_INPUT_NEEDS_INDICES = (
    "data {source} gives {found} samples, but the model's input {name} is {dtype} {shape}, "
    "which takes integer indices\n"
    "  help: use a source of indices (text, or an npz file of integer arrays), or declare "
    "the input as floating point: {name}: {shape}"
)


def step_targets(
    y: np.ndarray,
    raw: Raw,
    *,
    source: str,
    split: str,
    loss_kind: str,
    output_shape: tuple[int, ...],
    one_hot: bool,
    dtype: np.dtype,
) -> np.ndarray:
    """Integer targets [N, T]: one class label per step, for softmax_cross_entropy on an
    output [T, classes]. Integer rows of the output's shape [N, K] (one-hot or multi-hot
    written as integers) stay class targets, as float ones are."""
    steps = tuple(int(d) for d in y.shape[1:])
    if (
        raw.vocabulary is None
        and steps == output_shape
        and loss_kind in checks.CLASSIFICATION_LOSSES
    ):
        return y.astype(dtype)
    if one_hot:
        raise NetspecError(STEP_ONE_HOT.format(source=source))
    if loss_kind != "softmax_cross_entropy":
        raise NetspecError(STEP_LOSS.format(source=source, steps=steps, loss=loss_kind))
    if output_shape[:-1] != steps:
        raise NetspecError(
            STEP_OUTPUT.format(
                source=source,
                steps=checks.shape_text(steps),
                found=checks.shape_text(output_shape),
                wanted=checks.spec_shape((*steps, raw.num_classes or 1)),
            )
        )
    classes = output_shape[-1]
    outside = (y < 0) | (y >= classes)
    if outside.any():
        where = np.argwhere(outside)[0]
        what = (
            f"vocabulary of {raw.num_classes} characters"
            if raw.vocabulary is not None
            else f"labels up to {int(y.max())}"
        )
        raise NetspecError(
            STEP_CLASSES.format(
                source=source,
                split=split,
                label=int(y[tuple(where)]),
                sample=int(where[0]),
                step=int(where[1]) if len(where) > 1 else 0,
                classes=classes,
                what=what,
                fix=raw.num_classes or int(y.max()) + 1,
            )
        )
    return y.astype(np.int64)


def check_indices_input(
    raw: Raw, *, source: str, indices: bool, dtype: str, shape: tuple[int, ...], name: str
) -> None:
    """Indices go to an integer input and only there (see load_dataset)."""
    sample = checks.shape_text(tuple(int(d) for d in raw.x.shape[1:]))
    if raw.indices and not indices:
        raise NetspecError(
            INDICES_NEED_INTEGER_INPUT.format(
                source=source, sample=sample, dtype=dtype, shape=checks.spec_shape(shape),
                name=name,
            )
        )  # fmt: skip
    if indices and not raw.indices:
        raise NetspecError(
            INTEGER_INPUT_NEEDS_INDICES.format(
                source=source, dtype=dtype,
                # Pixels become floating point once split (Raw.pixels).
                found="floating-point" if raw.pixels is not None else f"{raw.x.dtype}",
                shape=checks.spec_shape(shape), name=name,
            )
        )  # fmt: skip
