"""The csv data source: a CSV file read with the csv module (no pandas)."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from netspec.data._encoding import CsvEncoding
from netspec.data._locate import did_you_mean, resolve_path
from netspec.data._raw import Raw
from netspec.data._values import check_csv_labels, check_csv_numbers
from netspec.errors import NetspecError
from netspec.ir.train import CsvData

UNKNOWN_COLUMN = (
    "{path}: {what} {name!r} is not a column of the file\n  expected one of: {columns}{suggest}"
)

NOT_NUMERIC = (
    "{path}:{line}: column {name!r} has the value {value!r}, which is not a number\n"
    "  expected: numbers in every column not listed in `categorical`\n"
    '  help: add it to the categorical columns (categorical = ["{name}"]) to one-hot '
    "encode it, or fix the value"
)

UNSEEN = (
    "{path}:{line}: {what} {value!r} in column {name!r} is not one the model was trained on\n"
    "  expected one of: {known}\n"
    "  help: drop or relabel the row: a model knows only the values of its training data"
)


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows and the line each row starts on; blank lines are skipped."""
    reader = None
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                raise NetspecError(f"{path}: the file is empty; expected a header row")
            names = [name.strip() for name in header]
            if reader.line_num > 1:
                # Only a quoted value spans lines; a header has no reason to.
                opened = next((i for i, name in enumerate(names) if "\n" in name), 0)
                column = f"the header's column {opened + 1}"
                raise NetspecError(_unclosed_quote(path, column, 1, reader.line_num))
            rows: list[list[str]] = []
            lines: list[int] = []
            end = reader.line_num
            for row in reader:
                # A quoted value may span lines: the row starts after the last one.
                start, end = end + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(names):
                    raise NetspecError(_bad_row(path, names, row, start, end))
                rows.append([cell.strip() for cell in row])
                lines.append(start)
    except csv.Error as exc:
        line = f":{reader.line_num}" if reader is not None else ""
        raise NetspecError(f"{path}{line}: not a valid CSV file: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise NetspecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    seen: set[str] = set()
    for name in names:
        if not name:
            raise NetspecError(f"{path}:1: the header has an empty column name")
        if name in seen:
            raise NetspecError(f"{path}:1: the header names column {name!r} twice")
        seen.add(name)
    return names, rows, lines


def _unclosed_quote(path: Path, column: str, start: int, end: int) -> str:
    # An unclosed quote swallows the following lines into one value: the mistake is
    # where the quote opened, not where the reader stopped.
    return (
        f"{path}:{start}: the quote that opens {column} on this line is not closed on it; "
        f"the value runs on to line {end}\n"
        '  expected: a closing " on the same line (write "" for a quote inside a value)\n'
        "  help: close the quote, or remove it"
    )


def _bad_row(path: Path, names: list[str], row: list[str], start: int, end: int) -> str:
    """The message for a row with the wrong number of values, at the line it starts on."""
    opened = next((i for i, cell in enumerate(row) if "\n" in cell or "\r" in cell), None)
    if end > start and opened is not None:
        column = f"column {names[opened]!r}" if opened < len(names) else "a value"
        return _unclosed_quote(path, column, start, end)
    return f"{path}:{start}: {len(row)} values, expected {len(names)} (one per header column)"


def _numeric_column(
    path: Path, name: str, values: Sequence[str], lines: Sequence[int]
) -> np.ndarray:
    out = np.empty(len(values))
    for i, text in enumerate(values):
        number = _parse_float(text)
        if number is None:
            if "\n" in text:
                # A line break inside a number comes from a quote, almost always one
                # left open up to the end of the file.
                end = lines[i] + text.count("\n")
                raise NetspecError(_unclosed_quote(path, f"column {name!r}", lines[i], end))
            raise NetspecError(NOT_NUMERIC.format(path=path, line=lines[i], name=name, value=text))
        out[i] = number
    return out


def _csv_labels(
    path: Path, name: str, values: Sequence[str], lines: Sequence[int]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class labels 0..K-1 of the target column, after checking that none is missing."""
    for i, text in enumerate(values):
        if "\n" in text:
            end = lines[i] + text.count("\n")
            raise NetspecError(_unclosed_quote(path, f"column {name!r}", lines[i], end))
    numbers = {v: _parse_float(v) for v in set(values)}
    finite = {v: n is not None and math.isfinite(n) for v, n in numbers.items()}
    check_csv_labels(path, name, values, lines, finite)
    return _class_labels(values)


def _label_text(
    path: Path, class_names: tuple[str, ...], values: Sequence[str], lines: Sequence[int]
) -> Callable[[int], str]:
    """A class's text and the line it first appears on, for messages about labels."""
    first: dict[str, int] = {}
    for i, value in enumerate(values):
        first.setdefault(value, lines[i])

    def describe(label: int) -> str:
        name = class_names[label]
        return f"{name!r} (class {label}, first on {path}:{first[name]})"

    return describe


def _class_labels(values: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map label strings to 0..K-1: sorted numerically when all are numbers, else as text."""
    distinct = set(values)
    numbers = {v: _parse_float(v) for v in distinct}
    if all(n is not None and math.isfinite(n) for n in numbers.values()):
        names = sorted(distinct, key=lambda v: (numbers[v], v))
    else:
        names = sorted(distinct)
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[v] for v in values], dtype=np.int64), tuple(names)


def _saved_labels(
    path: Path, target: str, values: Sequence[str], lines: Sequence[int], names: tuple[str, ...]
) -> np.ndarray:
    """Labels mapped with the class names a model was trained with."""
    index = {name: i for i, name in enumerate(names)}
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        if value not in index:
            raise NetspecError(
                UNSEEN.format(
                    path=path,
                    line=lines[i],
                    what="class",
                    name=target,
                    value=value,
                    known=", ".join(map(repr, names)),
                )
            )
        out[i] = index[value]
    return out


def _check_columns(
    path: Path, features: list[str], categorical: set[str], saved: CsvEncoding
) -> None:
    """A file read with a saved encoding must have the columns the model was trained on."""
    if tuple(features) != saved.features:
        raise NetspecError(
            f"{path}: the feature columns are {', '.join(features) or 'none'}, but the model "
            f"was trained on {', '.join(saved.features) or 'none'}\n"
            "  expected: the same feature columns, in the same order"
        )
    if categorical != set(saved.categories):
        raise NetspecError(
            f"{path}: categorical = [{', '.join(sorted(categorical))}], but the model was "
            f"trained with categorical = [{', '.join(sorted(saved.categories))}]\n"
            "  help: read the file with the train section's categorical columns"
        )


def load_csv(
    spec: CsvData,
    *,
    classification: bool,
    base_dir: str | os.PathLike[str] | None,
    data_dir: str | None,
    dtype: np.dtype,
    encoding: CsvEncoding | None = None,
) -> Raw:
    """A CSV file with a header row; ``target`` names the column to predict.

    Every other column is a feature, in file order: numbers, as they are in the file, or,
    for the columns listed in ``categorical``, one-hot columns over the categories seen
    in the training split (sorted; an unseen category encodes as all zeros). With
    ``standardize`` the mean and standard deviation of each feature over the training
    split are measured and handed on (``CsvEncoding.mean``, ``.std``) for the model to
    apply: the features themselves stay raw. The target is a class label (mapped to
    0..K-1 in sorted order, numerically if all labels are numbers) when
    ``classification``, else a number.

    With a saved ``encoding`` (a trained model's), columns, categories and class names
    are those it records, and a category or class it does not know is an error.
    """
    path = resolve_path(spec.path, "csv", base_dir=base_dir, data_dir=data_dir)
    names, rows, lines = _read_rows(path)
    columns_text = ", ".join(names)
    if spec.target not in names:
        raise NetspecError(
            UNKNOWN_COLUMN.format(
                path=path,
                what="target",
                name=spec.target,
                columns=columns_text,
                suggest=did_you_mean(spec.target, names),
            )
        )
    for name in spec.categorical:
        if name not in names:
            raise NetspecError(
                UNKNOWN_COLUMN.format(
                    path=path,
                    what="categorical column",
                    name=name,
                    columns=columns_text,
                    suggest=did_you_mean(name, names),
                )
            )
    if spec.target in spec.categorical:
        raise NetspecError(
            f"{path}: the target {spec.target!r} is also listed as categorical\n"
            "  help: remove it from categorical; the loss decides whether the target is a "
            "class label (softmax/binary cross-entropy) or a number"
        )
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    by_name = dict(zip(names, columns, strict=True))
    features = [name for name in names if name != spec.target]
    categorical = set(spec.categorical)
    if encoding is not None:
        _check_columns(path, features, categorical, encoding)
    numeric = {
        name: _numeric_column(path, name, by_name[name], lines)
        for name in features
        if name not in categorical
    }
    text = {name: np.array(by_name[name], dtype=object) for name in features if name in categorical}
    target = by_name[spec.target]
    class_names: tuple[str, ...] | None = None
    label_text: Callable[[int], str] | None = None
    if classification:
        y, class_names = _csv_labels(path, spec.target, target, lines)
        if encoding is not None and encoding.class_names is not None:
            # The codes the model was trained with, not the ones this file alone gives.
            class_names = encoding.class_names
            y = _saved_labels(path, spec.target, target, lines, class_names)
        label_text = _label_text(path, class_names, target, lines)
        kind = "labels"
    else:
        numeric[spec.target] = _numeric_column(path, spec.target, target, lines)
        kind = "targets"
    # Checked before any cast or scaling, while the file's lines are known.
    check_csv_numbers(path, {n: numeric[n] for n in names if n in numeric}, by_name, lines, dtype)
    if not classification:
        y = numeric.pop(spec.target)[:, None].astype(dtype)
    row_lines = np.asarray(lines)

    def fit(train_rows: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], str, CsvEncoding]:
        if encoding is not None:
            categories = {name: list(encoding.categories[name]) for name in text}
        else:
            categories = {name: sorted(set(values[train_rows])) for name, values in text.items()}

        def transform(ids: np.ndarray) -> np.ndarray:
            parts = []
            for name in features:
                if name in numeric:
                    parts.append(numeric[name][ids][:, None])
                else:
                    cats = categories[name]
                    lookup = {c: i for i, c in enumerate(cats)}
                    onehot = np.zeros((ids.size, len(cats)))
                    for row, value in enumerate(text[name][ids]):
                        col = lookup.get(value)
                        if col is not None:
                            onehot[row, col] = 1.0
                        elif encoding is not None:
                            raise NetspecError(
                                UNSEEN.format(
                                    path=path,
                                    line=row_lines[ids[row]],
                                    what="category",
                                    name=name,
                                    value=value,
                                    known=", ".join(map(repr, cats)),
                                )
                            )
                    parts.append(onehot)
            if not parts:
                return np.zeros((ids.size, 0))
            return np.concatenate(parts, axis=1)

        mean = std = None
        if spec.standardize:
            # Measured in float64 on the raw training features; one-hot columns keep 0, 1.
            train = transform(train_rows)
            mean, std = np.zeros(train.shape[1]), np.ones(train.shape[1])
            at = 0
            for name in features:
                width = len(categories[name]) if name in text else 1
                if name in numeric and train_rows.size:
                    mean[at] = float(train[:, at].mean())
                    spread = float(train[:, at].std())
                    std[at] = spread if spread > 0 and math.isfinite(spread) else 1.0
                at += width
        fitted = CsvEncoding(
            features=tuple(features),
            categories={name: tuple(categories[name]) for name in text},
            class_names=class_names,
            mean=mean,
            std=std,
        )
        described = [f"{len(numeric)} numeric"] + [
            f"{len(categories[name])} one-hot for {name!r}" for name in text
        ]
        hint = f"the csv columns give {' + '.join(described)} features"
        return (lambda ids: transform(ids).astype(dtype)), hint, fitted

    return Raw(
        x=np.arange(len(rows)),
        y=y,
        kind=kind,
        test_fraction=spec.test,
        num_classes=len(class_names) if class_names is not None else None,
        class_names=class_names,
        encoder=fit,
        label_text=label_text,
    )
