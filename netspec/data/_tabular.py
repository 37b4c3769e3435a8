"""Tabular sources: a CSV file (csv module, no pandas) and arrays in an .npz file."""

from __future__ import annotations

import csv
import difflib
import math
import os
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from netspec.data._encoding import CsvEncoding
from netspec.data._locate import search_roots
from netspec.data._raw import Raw
from netspec.data._values import check_array_values, check_csv_labels, check_csv_numbers
from netspec.errors import NetspecError
from netspec.ir.train import CsvData, NpzData

NOT_FOUND = (
    "data {source}: file {path!r} not found\n"
    "  searched:\n{searched}\n"
    "  help: give an absolute path, or a path relative to the spec file, the working "
    "directory or the data directory"
)

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

MISSING_ARRAY = (
    '{path}: no array {name!r} (option {option} = "{name}")\n  the file has: {keys}{suggest}'
)


def resolve_path(
    path: str, source: str, *, base_dir: str | os.PathLike[str] | None, data_dir: str | None
) -> Path:
    """An absolute path as is; a relative one against the spec's directory (base_dir),
    the working directory, then the data directories, first existing wins."""
    given = Path(path).expanduser()
    if given.is_absolute():
        candidates = [given]
    else:
        bases = [Path(base_dir)] if base_dir else []
        bases.append(Path.cwd())
        bases.extend(root for root in search_roots(data_dir) if root not in bases)
        candidates = [base / given for base in bases]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise NetspecError(
        NOT_FOUND.format(
            source=source,
            path=path,
            searched="\n".join(f"    {c}" for c in candidates),
        )
    )


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"\n  help: did you mean {close[0]!r}?" if close else ""


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
                suggest=_suggest(spec.target, names),
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
                    suggest=_suggest(name, names),
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


def _array(archive: np.lib.npyio.NpzFile, path: Path, name: str) -> np.ndarray:
    member = f"{name}.npy" if f"{name}.npy" in archive.zip.namelist() else name
    try:
        array = archive[name]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise NetspecError(
                f"{path}: member {member!r} is not a readable .npy array: {exc}\n"
                "  help: write the file again with numpy.savez"
            ) from exc
        raise NetspecError(
            f"{path}: array {name!r} holds Python objects, which netspec does not load "
            "(allow_pickle is off)\n  help: save numeric arrays"
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise NetspecError(
            f"{path}: member {member!r} cannot be read: {exc}\n"
            "  help: the archive is damaged; write it again with numpy.savez"
        ) from exc
    if not isinstance(array, np.ndarray):
        # NumPy hands back the raw bytes of a member without the .npy magic.
        raise NetspecError(
            f"{path}: member {member!r} is not a .npy array ({len(array)} bytes of other "
            "data)\n  expected: arrays written by numpy.savez or numpy.savez_compressed"
        )
    if array.dtype.kind not in "biuf":
        raise NetspecError(f"{path}: array {name!r} has dtype {array.dtype}; expected numbers")
    if array.ndim == 0:
        raise NetspecError(f"{path}: array {name!r} is a scalar; expected one row per sample")
    return array


# The largest label an int64 holds; larger ones (uint64, big floats) would wrap around.
_MAX_LABEL = int(np.iinfo(np.int64).max)


def _labels(path: Path, name: str, y: np.ndarray) -> np.ndarray:
    if y.dtype.kind in "biu":
        if y.dtype.kind == "u" and y.size and int(y.max()) > _MAX_LABEL:
            bad = int(np.argmax(y > _MAX_LABEL))
            raise NetspecError(_LABEL_TOO_LARGE.format(path=path, name=name, bad=bad, value=y[bad]))
        return y.astype(np.int64)
    whole = np.isfinite(y) & (y == np.round(y))
    if not whole.all():
        bad = int(np.flatnonzero(~whole)[0])
        raise NetspecError(
            f"{path}: {name}[{bad}] = {y[bad].item()!r} is not a class label\n"
            "  expected: whole numbers 0..K-1 for a classification loss "
            "(softmax_cross_entropy, binary_cross_entropy)\n"
            "  help: use a regression loss (mse, half_sse, l1) for real-valued targets"
        )
    big = np.abs(y) > _MAX_LABEL
    if big.any():
        bad = int(np.argmax(big))
        raise NetspecError(
            _LABEL_TOO_LARGE.format(path=path, name=name, bad=bad, value=repr(y[bad].item()))
        )
    return y.astype(np.int64)


_LABEL_TOO_LARGE = (
    "{path}: {name}[{bad}] = {value} is too large to be a class label\n"
    "  expected: whole numbers 0..K-1, one per output of the model\n"
    "  help: check the labels (were they written with the wrong dtype?)"
)


def load_npz(
    spec: NpzData,
    *,
    classification: bool,
    base_dir: str | os.PathLike[str] | None,
    data_dir: str | None,
    dtype: np.dtype,
) -> Raw:
    """Arrays ``x``/``y`` (the training pool) and, if present, ``x_test``/``y_test``.

    Without a test pair the pool is split by ``test``. ``normalize`` divides uint8
    inputs (images) by 255 and leaves other inputs as they are. For a classification
    loss ``y`` holds whole-number labels [N], or class probabilities [N, K]; for a
    regression loss, any float targets.
    """
    path = resolve_path(spec.path, "npz", base_dir=base_dir, data_dir=data_dir)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise NetspecError(f"{path}: not a readable .npz file: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise NetspecError(f"{path}: a single .npy array, expected an .npz archive of arrays")
    with archive:
        keys = list(archive.files)
        for option, name in (("x", spec.x), ("y", spec.y)):
            if name not in keys:
                raise NetspecError(
                    MISSING_ARRAY.format(
                        path=path,
                        name=name,
                        option=option,
                        keys=", ".join(keys) or "nothing",
                        suggest=_suggest(name, keys),
                    )
                )
        has_x_test, has_y_test = spec.x_test in keys, spec.y_test in keys
        if has_x_test != has_y_test:
            there, missing = (
                (spec.x_test, spec.y_test) if has_x_test else (spec.y_test, spec.x_test)
            )
            raise NetspecError(
                f"{path}: has {there!r} but not {missing!r}\n"
                "  expected: both test arrays, or neither (then `test` splits the data)"
            )
        pairs = [(spec.x, spec.y)] + ([(spec.x_test, spec.y_test)] if has_x_test else [])
        loaded = []
        for x_name, y_name in pairs:
            x, y = _array(archive, path, x_name), _array(archive, path, y_name)
            if x.shape[0] != y.shape[0]:
                raise NetspecError(
                    f"{path}: {x_name} has {x.shape[0]} samples but {y_name} has "
                    f"{y.shape[0]}\n  expected: one target per sample"
                )
            loaded.append((x, y, x_name, y_name))
    xs, ys = [], []
    kind = "targets"
    for x, y, x_name, y_name in loaded:
        # Checked before the cast, which would turn 1e300 into inf in float32, and while
        # an index still points into the file's array.
        check_array_values(path, x_name, x, dtype)
        scaled = x.astype(dtype)
        if spec.normalize and x.dtype == np.uint8:
            scaled /= 255.0
        xs.append(scaled)
        if classification and y.ndim == 1:
            kind = "labels"
            ys.append(_labels(path, y_name, y))
            continue
        check_array_values(path, y_name, y, dtype)
        if classification:
            kind = "soft"
            ys.append(y.astype(dtype))
        else:
            ys.append(y.astype(dtype)[:, None] if y.ndim == 1 else y.astype(dtype))
    num_classes = None
    if kind == "labels":
        num_classes = max(int(y.max()) + 1 if y.size else 0 for y in ys)
    elif kind == "soft":
        num_classes = int(ys[0].shape[1]) if ys[0].ndim == 2 else None
    test = len(xs) > 1
    return Raw(
        x=xs[0],
        y=ys[0],
        x_test=xs[1] if test else None,
        y_test=ys[1] if test else None,
        kind=kind,
        test_fraction=0.0 if test else spec.test,
        num_classes=num_classes,
        feature_hint=f"the npz array {spec.x!r} has samples of shape {tuple(xs[0].shape[1:])}",
    )
