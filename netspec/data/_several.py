"""Data for a model of several inputs: one array per input, by the input's name.

Two sources can supply it: an npz file with one array per input, named after it (and
``<input>_test`` arrays for a fixed test set), and a csv file whose ``inputs`` give each
input its columns. Either becomes a :class:`Raw` whose ``x`` holds row ids and whose
``inputs`` hold every row of each input, so that the common steps (test split, limit,
validation) choose rows once for all the inputs; :func:`shape_inputs` then takes each
split's rows of every input and fits them to the input's shape.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np

from netspec.data import _checks as checks
from netspec.data._indices import INTEGER_INPUT_NEEDS_INDICES
from netspec.data._locate import did_you_mean, resolve_path
from netspec.data._npz import MISSING_ARRAY, _array, _labels, open_npz
from netspec.data._raw import Raw, class_count, regression_targets
from netspec.data._tabular import UNKNOWN_COLUMN, _csv_labels, _numeric_column, _read_rows
from netspec.data._values import check_array_values, check_csv_numbers
from netspec.errors import NetspecError
from netspec.ir.train import CsvData, DataSpec, NpzData

ONE_ARRAY_SOURCE = (
    "data {source} makes one input array per sample, but model '{model}' has {count} inputs "
    "({names})\n"
    '  help: use an npz file with one array per input, named after it (npz("data.npz") with '
    'arrays {names} and y_train), or a csv file with a column group per input (csv("data.csv", '
    'target = "y", standardize = false, inputs = [{groups}]))'
)
SAMPLE_MISMATCH = (
    "data {source}: input {name!r} gets samples of shape {found}, but the model's input "
    "{name!r} is {expected}\n"
    "  note: {hint}\n"
    "  help: give {name!r} {size} values per sample, or declare it as {name}: {spec}"
)
UNGROUPED = (
    "{path}: column {column!r} is in no input group and is not the target\n"
    "  expected: every column but the target in one of the groups {groups}\n"
    "  help: add it to a group, or remove it from the file"
)


def load_several(
    spec: DataSpec,
    inputs: Mapping[str, tuple[int, ...]],
    model: str,
    *,
    classification: bool,
    base_dir: str | os.PathLike[str] | None,
    data_dir: str | None,
    dtype: np.dtype,
    input_dtypes: Mapping[str, str] | None = None,
) -> Raw:
    """The rows of every input of a model of several inputs, from an npz or csv source.
    An input whose ``input_dtypes`` entry is an integer dtype takes integer arrays, kept
    as int64 indices; floating-point data for it is an error naming the input."""
    integer = {
        name: checked
        for name, checked in (input_dtypes or {}).items()
        if checked in ("int32", "int64")
    }
    if isinstance(spec, NpzData):
        return _npz(spec, list(inputs), classification, base_dir, data_dir, dtype, integer, inputs)
    if isinstance(spec, CsvData) and spec.inputs:
        if integer:
            name, declared = next(iter(integer.items()))
            raise _not_indices("csv", "floating-point", name, declared, inputs[name])
        return _csv(spec, list(inputs), classification, base_dir, data_dir, dtype)
    names = ", ".join(inputs)
    raise NetspecError(
        ONE_ARRAY_SOURCE.format(
            source=spec.source if not isinstance(spec, CsvData) else "csv without inputs",
            model=model,
            count=len(inputs),
            names=names,
            groups=", ".join(f'{name}("...")' for name in inputs),
        )
    )


def _npz(
    spec: NpzData,
    names: Sequence[str],
    classification: bool,
    base_dir: str | os.PathLike[str] | None,
    data_dir: str | None,
    dtype: np.dtype,
    integer: Mapping[str, str],
    shapes: Mapping[str, tuple[int, ...]],
) -> Raw:
    path = resolve_path(spec.path, "npz", base_dir=base_dir, data_dir=data_dir)
    with open_npz(path) as archive:
        keys = list(archive.files)
        wanted = [*((name, f"input {name}") for name in names), (spec.y, "y")]
        for name, option in wanted:
            if name not in keys:
                raise NetspecError(
                    MISSING_ARRAY.format(
                        path=path,
                        name=name,
                        option=option,
                        keys=", ".join(keys) or "nothing",
                        suggest=did_you_mean(name, keys),
                    ).replace(f'(option {option} = "{name}")', f"({option})")
                )
        test_names = [f"{name}_test" for name in names] + [spec.y_test]
        present = [name for name in test_names if name in keys]
        if present and len(present) != len(test_names):
            missing = [name for name in test_names if name not in keys]
            raise NetspecError(
                f"{path}: has {', '.join(map(repr, present))} but not "
                f"{', '.join(map(repr, missing))}\n"
                "  expected: a test array for every input and the targets, or none (then "
                "`test` splits the data)"
            )
        splits = [(list(names), spec.y)] + ([(test_names[:-1], spec.y_test)] if present else [])
        loaded = [
            (
                [(name, array_name, _array(archive, path, array_name))
                 for name, array_name in zip(names, xs, strict=True)],
                _array(archive, path, y_name),
                y_name,
            )
            for xs, y_name in splits
        ]  # fmt: skip
    columns: dict[str, list[np.ndarray]] = {name: [] for name in names}
    ys: list[np.ndarray] = []
    counts: list[int] = []
    kind = "targets"
    for arrays, y, y_name in loaded:
        for name, array_name, x in arrays:
            if x.shape[0] != y.shape[0]:
                raise NetspecError(
                    f"{path}: {array_name} has {x.shape[0]} samples but {y_name} has "
                    f"{y.shape[0]}\n  expected: one target per sample, in every input array"
                )
            if name in integer:
                # Indices stay integer, as the one input of a model keeps them.
                if x.dtype.kind not in "iu":
                    raise _not_indices(spec.source, str(x.dtype), name, integer[name], shapes[name])
                columns[name].append(x.astype(np.int64))
                continue
            # Checked before the cast, which would turn 1e300 into inf in float32.
            check_array_values(path, array_name, x, dtype)
            scaled = x.astype(dtype)
            if spec.normalize and x.dtype == np.uint8:
                scaled /= 255.0
            columns[name].append(scaled)
        counts.append(int(y.shape[0]))
        if classification and y.ndim == 1:
            kind = "labels"
            ys.append(_labels(path, y_name, y))
            continue
        check_array_values(path, y_name, y, dtype)
        if classification:
            kind = "soft"
            ys.append(y.astype(dtype))
        else:
            ys.append(regression_targets(y, dtype))
    hints = {
        name: f"the array {name!r} of {path} has samples of shape "
        f"{tuple(columns[name][0].shape[1:])}"
        for name in names
    }
    return _rows(columns, ys, counts, kind, spec.test, hints)


def _not_indices(
    source: str, found: str, name: str, declared: str, shape: tuple[int, ...]
) -> NetspecError:
    """The error for data of floats given to the integer input ``name``."""
    return NetspecError(
        INTEGER_INPUT_NEEDS_INDICES.format(
            source=source, found=found, name=name, dtype=declared, shape=checks.spec_shape(shape)
        )
    )


def _csv(
    spec: CsvData,
    names: Sequence[str],
    classification: bool,
    base_dir: str | os.PathLike[str] | None,
    data_dir: str | None,
    dtype: np.dtype,
) -> Raw:
    for option, given in (
        ("standardize = true", spec.standardize),
        ("categorical", spec.categorical),
    ):
        if given:
            raise NetspecError(
                f"data csv: column groups take numeric columns as they are in the file; "
                f"{option} is not supported with them\n"
                "  help: add standardize = false and leave out categorical; scale and one-hot "
                "encode in the file"
            )
    path = resolve_path(spec.path, "csv", base_dir=base_dir, data_dir=data_dir)
    header, rows, lines = _read_rows(path)
    listed = ", ".join(header)
    groups = {group.name: group.columns for group in spec.inputs}
    for name in [spec.target, *(c for columns in groups.values() for c in columns)]:
        if name not in header:
            what = "target" if name == spec.target else "input column"
            raise NetspecError(
                UNKNOWN_COLUMN.format(
                    path=path,
                    what=what,
                    name=name,
                    columns=listed,
                    suggest=did_you_mean(name, header),
                )
            )
    grouped = {column for columns in groups.values() for column in columns}
    for column in header:
        if column != spec.target and column not in grouped:
            raise NetspecError(UNGROUPED.format(path=path, column=column, groups=", ".join(groups)))
    cells = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    by_name = dict(zip(header, cells, strict=True))
    numeric = {name: _numeric_column(path, name, by_name[name], lines) for name in grouped}
    if classification:
        y, class_names = _csv_labels(path, spec.target, by_name[spec.target], lines)
        kind = "labels"
    else:
        numeric[spec.target] = _numeric_column(path, spec.target, by_name[spec.target], lines)
        class_names = None
        kind = "targets"
    # Checked before the cast, while the file's lines are known.
    ordered = {name: numeric[name] for name in header if name in numeric}
    check_csv_numbers(path, ordered, by_name, lines, dtype)
    if not classification:
        y = numeric[spec.target][:, None].astype(dtype)
    columns = {
        name: [np.stack([numeric[c] for c in groups[name]], axis=1).astype(dtype)] for name in names
    }
    hints = {
        name: f"the column group {name!r} of {path} has {len(groups[name])} columns"
        for name in names
    }
    raw = _rows(columns, [y], [len(rows)], kind, spec.test, hints)
    raw.class_names = class_names
    return raw


def _rows(
    columns: dict[str, list[np.ndarray]],
    ys: list[np.ndarray],
    counts: list[int],
    kind: str,
    test: float,
    hints: dict[str, str],
) -> Raw:
    """A Raw of row ids over every input's rows: the pool first, then a fixed test set."""
    pool = counts[0]
    fixed = len(counts) > 1
    inputs = {name: np.concatenate(parts) if fixed else parts[0] for name, parts in columns.items()}
    return Raw(
        x=np.arange(pool),
        y=ys[0],
        x_test=np.arange(pool, pool + counts[1]) if fixed else None,
        y_test=ys[1] if fixed else None,
        kind=kind,  # type: ignore[arg-type]
        test_fraction=0.0 if fixed else test,
        num_classes=class_count(kind, ys),  # type: ignore[arg-type]
        inputs=inputs,
        input_hints=hints,
    )


def shape_inputs(
    rows: np.ndarray,
    raw: Raw,
    shapes: Mapping[str, tuple[int, ...]],
    *,
    source: str,
    split: str,
    dtype: np.dtype,
    integer: frozenset[str] = frozenset(),
) -> dict[str, np.ndarray]:
    """A split's samples of every input, by name: its ``rows`` of each, in the input's
    shape (a sample of as many values is reshaped), finite, contiguous and of ``dtype``
    (int64 indices for the ``integer`` inputs)."""
    assert raw.inputs is not None
    result: dict[str, np.ndarray] = {}
    for name, wanted in shapes.items():
        array = raw.inputs[name][rows]
        sample = tuple(int(d) for d in array.shape[1:])
        size = math.prod(wanted)
        if sample != wanted:
            if math.prod(sample) != size:
                raise NetspecError(
                    SAMPLE_MISMATCH.format(
                        source=source,
                        name=name,
                        found=checks.shape_text(sample),
                        expected=checks.shape_text(wanted),
                        hint=raw.input_hints.get(name, ""),
                        size=size,
                        spec=checks.spec_shape(sample),
                    )
                )
            array = array.reshape(len(array), *wanted)
        array = np.ascontiguousarray(array, dtype=np.int64 if name in integer else dtype)
        checks.check_finite(source, split, f"input {name!r}", name, array)
        result[name] = array
    return result
