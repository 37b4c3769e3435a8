"""CSV rows as model inputs, encoded as the model's training data was.

A run trained on a csv source saved its encoding (feature columns in order, the one-hot
categories of each categorical column, class names); the rows of a new file are
encoded with it, and the model's standardize node applies the training statistics. A
file for prediction needs the feature columns only: a target column, or any other
column the model was not trained on, is left out.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from netspec.data._checks import spec_shape
from netspec.data._encoding import CsvEncoding
from netspec.data._tabular import UNSEEN, _numeric_column, _read_rows
from netspec.errors import NetspecError
from netspec.ir import CheckedModel
from netspec.ir.train import CsvData
from netspec.runs import Preprocessing

MISSING_COLUMNS = (
    "{path}:1: the header has no column {missing}\n"
    "  expected: the columns {what}: {needed}\n"
    "  found: {found}"
)


def _groups(
    model: CheckedModel, header: list[str], preprocessing: Preprocessing
) -> tuple[dict[str, tuple[str, ...]], str]:
    """The columns of each model input, and a phrase saying where they come from."""
    train = preprocessing.train
    data = train.data if train is not None else None
    csv_data = data if isinstance(data, CsvData) else None
    if csv_data is not None and csv_data.inputs:
        return {g.name: g.columns for g in csv_data.inputs}, "of the train section's input groups"
    encoding = preprocessing.encoding
    if len(model.inputs) != 1:
        names = ", ".join(spec.name for spec in model.inputs)
        raise NetspecError(
            f"model '{model.name}' has {len(model.inputs)} inputs ({names}), and its train "
            "section gives no csv column groups to say which columns feed which\n"
            "  help: use an .npz file with one array per input, named after it"
        )
    name = model.inputs[0].name
    if encoding is not None:
        return {name: encoding.features}, "the model was trained on"
    if csv_data is not None:
        columns = tuple(column for column in header if column != csv_data.target)
        return {name: columns}, f"of the file but the target {csv_data.target!r}"
    return {name: tuple(header)}, "of the file"


def _encode(
    path: Path,
    columns: tuple[str, ...],
    by_name: dict[str, tuple[str, ...]],
    lines: list[int],
    encoding: CsvEncoding | None,
) -> np.ndarray:
    """The rows' features in order: numbers as they are, categories one-hot."""
    categories = encoding.categories if encoding is not None else {}
    parts = []
    for column in columns:
        values = by_name[column]
        if column not in categories:
            parts.append(_numeric_column(path, column, values, lines)[:, None])
            continue
        known = categories[column]
        lookup = {category: i for i, category in enumerate(known)}
        onehot = np.zeros((len(values), len(known)))
        for row, value in enumerate(values):
            if value not in lookup:
                raise NetspecError(
                    UNSEEN.format(
                        path=path,
                        line=lines[row],
                        what="category",
                        name=column,
                        value=value,
                        known=", ".join(map(repr, known)),
                    )
                )
            onehot[row, lookup[value]] = 1.0
        parts.append(onehot)
    if not parts:
        return np.zeros((len(lines), 0))
    return np.concatenate(parts, axis=1)


def read_csv(
    model: CheckedModel, path: Path, preprocessing: Preprocessing
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each input's rows (float64, in the input's shape) and a ``file:line`` label per
    row; a missing column, a value that is not a number or an unseen category is an
    error naming the file, line and column."""
    header, rows, lines = _read_rows(path)
    if not rows:
        raise NetspecError(f"{path}: the file has a header but no rows; expected a row per sample")
    groups, what = _groups(model, header, preprocessing)
    needed = [column for columns in groups.values() for column in columns]
    missing = [column for column in needed if column not in header]
    if missing:
        raise NetspecError(
            MISSING_COLUMNS.format(
                path=path,
                missing=", ".join(map(repr, missing)),
                what=what,
                needed=", ".join(needed),
                found=", ".join(header),
            )
        )
    cells = list(zip(*rows, strict=True))
    by_name = dict(zip(header, cells, strict=True))
    batches: dict[str, np.ndarray] = {}
    for spec in model.inputs:
        features = _encode(path, groups[spec.name], by_name, lines, preprocessing.encoding)
        size = math.prod(spec.shape)
        if features.shape[1] != size:
            raise NetspecError(
                f"{path}: the columns give {features.shape[1]} values per row, but input "
                f"'{spec.name}' is {spec_shape(tuple(spec.shape))} ({size} values)\n"
                f"  note: the columns read are {', '.join(groups[spec.name]) or 'none'}"
            )
        batches[spec.name] = features.reshape(len(rows), *spec.shape)
    return batches, [f"{path}:{line}" for line in lines]
