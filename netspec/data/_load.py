"""load_dataset: a train section's data source, split, shaped and checked for a model."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np

from netspec.data import _checks as checks
from netspec.data._arrays import ArrayData
from netspec.data._encoding import CsvEncoding
from netspec.data._images import load_digits_source, load_idx_source
from netspec.data._indices import check_indices_input, step_targets
from netspec.data._npz import load_npz
from netspec.data._raw import Raw, final_inputs
from netspec.data._sequences import adding, copy_memory, sine
from netspec.data._several import load_several, shape_inputs
from netspec.data._split import (
    TEST_SPLIT,
    VALIDATION_SPLIT,
    check_fold,
    fold_split,
    holdout,
    holdout_count,
    rng_for,
)
from netspec.data._synthetic import linear, polynomial, spirals, xor
from netspec.data._tabular import load_csv
from netspec.data._text import load_text
from netspec.data._types import Dataset, Split
from netspec.errors import NetspecError
from netspec.ir.train import (
    AddingData,
    CopyData,
    CsvData,
    DataSpec,
    DigitsData,
    FashionMnistData,
    LinearData,
    MnistData,
    NpzData,
    PolynomialData,
    SineData,
    SpiralsData,
    TextData,
    XorData,
)

DTYPES = ("float32", "float64")
CLASSIFICATION_LOSSES = checks.CLASSIFICATION_LOSSES
REGRESSION_LOSSES = checks.REGRESSION_LOSSES

TARGETS = ("data", "input")

INPUT_TARGET_LOSS = (
    "data {source}: target input trains the model to reproduce its input, which needs a "
    "regression loss, but the loss is {loss}\n"
    "  help: use mse, half_sse or l1"
)

INPUT_TARGET_SHAPE = (
    "data {source}: target input makes each sample its own target, {sample} ({size} "
    "values), but the model's output is {found}\n"
    "  help: end the model with an output of the input's shape, e.g. {fix}"
)

UNKNOWN_LOSS = "unknown loss {loss!r}\n  expected one of: {known}"

REGRESSION_SOURCE = (
    "data {source} makes regression targets, but {loss} needs class labels\n"
    "  help: use a regression loss (mse, half_sse or l1), or a classification source"
)

LABELS_NEED_ONE_HOT = (
    "data {source}: {loss} on class labels needs one target per output, but the model "
    "has {width} outputs and each sample has one label\n"
    "  help: add one_hot = true to the data line (labels become [N, {width}] one-hot "
    "targets), or use softmax_cross_entropy"
)

ONE_HOT_NEEDS_LABELS = (
    "data {source}: one_hot = true needs class labels, but the targets are {what}\n"
    "  help: remove one_hot = true"
)

BAD_OUTPUT = (
    "data {source}: {loss} needs a model output of one value per class, shape (K,); the "
    "model's output is {found}\n"
    "  help: end the model with flatten and dense(K)"
)

PER_STEP_SOFTMAX = (
    "data {source}: softmax_cross_entropy takes one class distribution per sample, but the "
    "targets are one-hot rows of shape {found}, one per step\n"
    "  help: use binary_cross_entropy (one sigmoid per symbol and step) or mse"
)

BINARY_WIDTH = (
    "data {source}: binary_cross_entropy on labels needs 1 output (or one_hot = true with "
    "{width} outputs); the model has {width} outputs\n"
    "  help: end the model with dense(1) for a two-class problem, or use "
    "softmax_cross_entropy"
)


def _source(
    spec: DataSpec,
    *,
    classification: bool,
    seed: int,
    data_dir: str | None,
    base_dir: str | os.PathLike[str] | None,
    dtype: np.dtype,
    encoding: CsvEncoding | None,
    indices: bool,
) -> Raw:
    if isinstance(spec, MnistData | FashionMnistData):
        return load_idx_source(spec, data_dir=data_dir)
    if isinstance(spec, DigitsData):
        return load_digits_source(spec, dtype=dtype)
    if isinstance(spec, LinearData):
        return linear(spec, seed=seed, dtype=dtype)
    if isinstance(spec, PolynomialData):
        return polynomial(spec, seed=seed, dtype=dtype)
    if isinstance(spec, XorData):
        return xor(spec, seed=seed, dtype=dtype)
    if isinstance(spec, SpiralsData):
        return spirals(spec, seed=seed, dtype=dtype)
    if isinstance(spec, SineData):
        return sine(spec, seed=seed, dtype=dtype)
    if isinstance(spec, AddingData):
        return adding(spec, seed=seed, dtype=dtype)
    if isinstance(spec, CopyData):
        return copy_memory(spec, seed=seed, dtype=dtype)
    if isinstance(spec, CsvData):
        return load_csv(
            spec,
            classification=classification,
            base_dir=base_dir,
            data_dir=data_dir,
            dtype=dtype,
            encoding=encoding,
        )
    if isinstance(spec, NpzData):
        return load_npz(
            spec,
            classification=classification,
            base_dir=base_dir,
            data_dir=data_dir,
            dtype=dtype,
            indices=indices,
        )
    if isinstance(spec, TextData):
        return load_text(spec, base_dir=base_dir, data_dir=data_dir)
    raise NetspecError(f"unknown data source {getattr(spec, 'source', spec)!r}")


def _targets(
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
    """The targets in the form the loss takes, after checking them against the output."""
    if raw.kind == "steps":
        return step_targets(
            y, raw, source=source, split=split, loss_kind=loss_kind, output_shape=output_shape,
            one_hot=one_hot, dtype=dtype,
        )  # fmt: skip
    if raw.kind != "labels":
        if one_hot:
            what = "class probabilities" if raw.kind == "soft" else "real numbers"
            raise NetspecError(ONE_HOT_NEEDS_LABELS.format(source=source, what=what))
        if loss_kind == "softmax_cross_entropy" and y.ndim > 2:
            raise NetspecError(
                PER_STEP_SOFTMAX.format(source=source, found=checks.shape_text(y.shape[1:]))
            )
        checks.check_target_shape(source, tuple(y.shape[1:]), output_shape, loss_kind)
        checks.check_finite(source, split, "targets", "y", y)
        return y
    if len(output_shape) != 1:
        raise NetspecError(
            BAD_OUTPUT.format(source=source, loss=loss_kind, found=checks.shape_text(output_shape))
        )
    width = output_shape[0]
    binary = loss_kind == "binary_cross_entropy"
    if binary or one_hot or loss_kind == "softmax_cross_entropy":
        checks.check_label_range(
            source,
            split,
            y,
            width,
            raw.num_classes,
            binary=binary,
            describe=raw.label_text,
            continuous=checks.continuous_note(raw.y, raw.class_names),
        )
    if loss_kind == "softmax_cross_entropy" or (binary and width == 1 and not one_hot):
        return np.eye(width, dtype=dtype)[y] if one_hot else y
    if binary and width == 1:
        return y[:, None].astype(dtype)
    if one_hot:
        return np.eye(width, dtype=dtype)[y]
    if binary:
        raise NetspecError(BINARY_WIDTH.format(source=source, width=width))
    if width == 1:
        return y[:, None].astype(dtype)
    raise NetspecError(LABELS_NEED_ONE_HOT.format(source=source, loss=loss_kind, width=width))


def _input_targets(
    x: np.ndarray, *, source: str, output_shape: tuple[int, ...], input_shape: tuple[int, ...]
) -> np.ndarray:
    """``target = input``: each sample (as the model takes it) is its own target, in the
    output's shape: the same shape, or a vector of as many values."""
    sample = tuple(int(d) for d in x.shape[1:])
    size = math.prod(sample)
    if output_shape != sample and output_shape != (size,):
        raise NetspecError(
            INPUT_TARGET_SHAPE.format(
                source=source,
                found=checks.shape_text(output_shape),
                sample=checks.shape_text(sample),
                size=size,
                fix=f"dense({size})"
                if len(input_shape) == 1
                else f"dense({size}) -> reshape({checks.spec_shape(input_shape)})",
            )
        )
    return x.reshape(len(x), *output_shape).copy()


def _several_dataset(
    named: dict[str, tuple[np.ndarray, np.ndarray]],
    raw: Raw,
    inputs: Mapping[str, tuple[int, ...]],
    source: str,
    loss_kind: str,
    output_shape: tuple[int, ...],
    spec: DataSpec,
    dtype: np.dtype,
    integer: frozenset[str],
) -> Dataset:
    """The splits of a model of several inputs: each split's rows of every input."""
    splits: dict[str, Split] = {}
    for name, (rows, ys) in named.items():
        xs = shape_inputs(
            rows, raw, inputs, source=source, split=name, dtype=dtype, integer=integer
        )
        ys = _targets(
            ys,
            raw,
            source=source,
            split=name,
            loss_kind=loss_kind,
            output_shape=output_shape,
            one_hot=spec.one_hot,
            dtype=dtype,
        )
        splits[name] = Split(xs, ys)
    return Dataset(
        source=source,
        train=splits["train"],
        validation=splits.get("validation"),
        test=splits.get("test"),
        num_classes=raw.num_classes if raw.kind != "targets" else None,
        class_names=raw.class_names,
    )


def load_dataset(
    spec: DataSpec,
    *,
    input_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
    loss_kind: str,
    seed: int,
    data_dir: str | None = None,
    dtype: str = "float32",
    base_dir: str | os.PathLike[str] | None = None,
    encoding: CsvEncoding | None = None,
    arrays: ArrayData | None = None,
    target: str = "data",
    inputs: Mapping[str, tuple[int, ...]] | None = None,
    model: str = "",
    input_dtype: str = "float32",
    input_name: str = "x",
    input_dtypes: Mapping[str, str] | None = None,
    fold: tuple[int, int] | None = None,
) -> Dataset:
    """Load the data a train section names, split and shaped for a model, and check it.

    Steps, in order: the source's data (a fixed test set for MNIST, Fashion-MNIST and
    npz files with test arrays; otherwise ``test`` splits the samples, stratified by
    class for classification); ``limit`` keeps the first N training samples;
    ``validation`` holds out that fraction of them (stratified, seeded); the csv
    encoding is fitted on the final training split (with ``encoding``, a trained
    model's saved one gives the columns, categories and class names instead; csv
    features stay raw, their statistics are in ``Dataset.encoding`` for the model's
    standardize node); samples are flattened when ``flatten`` is set or the model
    takes a vector of the sample's size; targets take the loss's form (int64 labels,
    one-hot floats with ``one_hot``, or float regression targets of the output's shape).
    Every split is then checked, and any problem is a NetspecError saying what was found
    and what was expected.

    The MNIST-style files are looked for in ``data_dir``, then $NETSPEC_DATA_DIR, then
    the cache ($XDG_CACHE_HOME or ~/.cache)/netspec/data, each as ``<dir>/<source>/``
    and ``<dir>/``; when absent everywhere they are downloaded into the cache. Relative
    csv and npz paths are looked up against ``base_dir`` (the spec file's directory),
    the working directory, then the data directories. Randomness comes from ``seed``
    alone, in separate streams for generation, the test split and the validation split.

    ``arrays`` (NumPy arrays given to ``netspec.train``) take the place of the spec's
    source; its options (``validation``, ``limit``, ``flatten``, ``one_hot``) still apply.

    ``input_dtype`` is the model's input dtype: for ``int64`` or ``int32`` (indices, for
    an embedding) the samples stay integer (the text source, integer npz arrays) and
    a source of floats is refused; a source of indices into a floating-point input is
    refused too. Integer targets [N, T] (text, npz) are one class label per step, for
    softmax_cross_entropy on an output [T, classes].

    ``target="input"`` (the train section's ``target input``, for autoencoders) makes
    each sample, as the model takes it, its own target: the model's output has the
    input's shape, or is a vector of as many values; the loss is a regression loss.

    ``inputs`` (every input's shape by name, for ``model`` of several inputs) asks for one
    array per input: from an npz file with one array per input, named after it, or a csv
    file with a column group per input (``netspec.data._several``). Each split's ``x`` is
    then a dict of arrays by input name, each sample in its input's shape.
    ``input_dtypes`` (every input's dtype by name) keeps an integer input's arrays as
    int64 indices, and refuses floating-point data for it, naming the input.

    ``fold=(k, K)`` (k in 1..K) is k-fold cross-validation: the training split (after
    ``test`` and ``limit``) is dealt into K folds from ``seed`` (``fold_of``: stratified by
    class for classification) and fold k becomes the validation split, in place of the
    ``validation`` fraction; every sample is held out in exactly one of the K folds.
    """
    if fold is not None:
        check_fold(fold)
    if dtype not in DTYPES:
        raise NetspecError(f"dtype {dtype!r} is not supported; expected one of {DTYPES}")
    dt = np.dtype(dtype)
    known = CLASSIFICATION_LOSSES + REGRESSION_LOSSES
    if loss_kind not in known:
        raise NetspecError(UNKNOWN_LOSS.format(loss=loss_kind, known=", ".join(known)))
    input_shape = tuple(int(d) for d in input_shape)
    output_shape = tuple(int(d) for d in output_shape)
    source = "arrays" if arrays is not None else spec.source
    if target not in TARGETS:
        raise NetspecError(f"target {target!r} is not supported; expected one of {TARGETS}")
    if target == "input" and loss_kind not in REGRESSION_LOSSES:
        raise NetspecError(INPUT_TARGET_LOSS.format(source=source, loss=loss_kind))
    if target == "input" and spec.one_hot:
        raise NetspecError(ONE_HOT_NEEDS_LABELS.format(source=source, what="the inputs"))
    if spec.limit < 0:
        raise NetspecError(
            f"data {source}: limit = {spec.limit}, expected 0 (all samples) or a positive "
            "number of training samples"
        )
    classification = loss_kind in CLASSIFICATION_LOSSES
    # By input name: a model of several inputs, or csv column groups of a model of one.
    several = inputs is not None and (
        len(inputs) > 1 or (isinstance(spec, CsvData) and bool(spec.inputs))
    )
    if several and (arrays is not None or target == "input"):
        if len(inputs or {}) == 1:
            raise NetspecError(
                f"data {source}: column groups feed the model's inputs by name, which "
                f"{'data= arrays replace' if arrays is not None else 'target input does not take'}"
                "\n  help: leave out inputs = [...]: every column but the target is the input"
            )
        what = "data= arrays" if arrays is not None else "target input"
        raise NetspecError(
            f"{what} feeds a model of one input, but model '{model}' has {len(inputs or {})} "
            f"inputs ({', '.join(inputs or {})})\n"
            "  help: read the data from an npz file with one array per input, named after it"
        )
    indices = input_dtype in ("int32", "int64")
    raw = (
        arrays.raw(classification=classification, dtype=dt, indices=indices)
        if arrays
        else load_several(
            spec,
            inputs or {},
            model,
            classification=classification,
            base_dir=base_dir,
            data_dir=data_dir,
            dtype=dt,
            input_dtypes=input_dtypes,
        )
        if several
        else _source(
            spec,
            classification=classification,
            seed=seed,
            data_dir=data_dir,
            base_dir=base_dir,
            dtype=dt,
            encoding=encoding,
            indices=indices,
        )
    )
    if not several:
        check_indices_input(
            raw, source=source, indices=indices, dtype=input_dtype, shape=input_shape,
            name=input_name,
        )  # fmt: skip
    if raw.kind == "targets" and classification:
        raise NetspecError(REGRESSION_SOURCE.format(source=source, loss=loss_kind))
    notes: list[str] = []

    x, y = raw.x, raw.y
    stratify = raw.kind == "labels"
    test: tuple[np.ndarray, np.ndarray] | None = None
    if raw.x_test is not None and raw.y_test is not None:
        test = (raw.x_test, raw.y_test)
    elif raw.test_fraction:
        count = holdout_count(raw.test_fraction, len(x), source=source, option="test")
        keep, held = holdout(len(x), count, rng_for(seed, TEST_SPLIT), y if stratify else None)
        test = (x[held], y[held])
        x, y = x[keep], y[keep]

    if spec.limit:
        if spec.limit > len(x):
            notes.append(f"limit = {spec.limit} exceeds the {len(x)} training samples")
        x, y = x[: spec.limit], y[: spec.limit]

    validation: tuple[np.ndarray, np.ndarray] | None = None
    if fold is not None:
        (x, y), validation = fold_split(x, y, fold, seed, stratify, source, spec.validation, notes)
    elif spec.validation:
        count = holdout_count(spec.validation, len(x), source=source, option="validation")
        keep, held = holdout(
            len(x), count, rng_for(seed, VALIDATION_SPLIT), y if stratify else None
        )
        validation = (x[held], y[held])
        x, y = x[keep], y[keep]

    named: dict[str, tuple[np.ndarray, np.ndarray]] = {"train": (x, y)}
    if validation is not None:
        named["validation"] = validation
    if test is not None:
        named["test"] = test
    for name, (xs, _) in named.items():
        checks.check_nonempty(
            source,
            name,
            len(xs),
            "check the data file" if name != "train" else "check the data and `limit`",
        )

    if several:
        integer = frozenset(
            name for name, kind in (input_dtypes or {}).items() if kind in ("int32", "int64")
        )
        return _several_dataset(
            named, raw, inputs or {}, source, loss_kind, output_shape, spec, dt, integer
        )

    hint = raw.feature_hint
    fitted: CsvEncoding | None = None
    if raw.encoder is not None:
        transform, hint, fitted = raw.encoder(x)
        named = {name: (transform(xs), ys) for name, (xs, ys) in named.items()}

    sample_shape = tuple(int(d) for d in named["train"][0].shape[1:])
    flatten, note = checks.layout(
        sample_shape, input_shape, flatten=spec.flatten, source=source, hint=hint
    )
    if note:
        notes.append(note)

    splits: dict[str, Split] = {}
    for name, (xs, ys) in named.items():
        xs = final_inputs(raw, xs, np.dtype(np.int64) if indices else dt)
        if flatten:
            xs = xs.reshape(len(xs), -1)
        if raw.pixels is None:  # pixels (bytes) make finite values
            checks.check_finite(source, name, "inputs", "x", xs)
        if target == "input":
            ys = _input_targets(
                xs, source=source, output_shape=output_shape, input_shape=input_shape
            )
            splits[name] = Split(xs, ys)
            continue
        ys = _targets(
            ys,
            raw,
            source=source,
            split=name,
            loss_kind=loss_kind,
            output_shape=output_shape,
            one_hot=spec.one_hot,
            dtype=dt,
        )
        splits[name] = Split(xs, ys)

    return Dataset(
        source=source,
        train=splits["train"],
        validation=splits.get("validation"),
        test=splits.get("test"),
        num_classes=raw.num_classes if raw.kind != "targets" and target == "data" else None,
        class_names=raw.class_names,
        notes=tuple(notes),
        true_params=raw.true_params,
        encoding=fitted,
        vocabulary=raw.vocabulary,
    )
