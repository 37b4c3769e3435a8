"""Checks on the values a csv or npz file holds, made where the file's own coordinates
(csv line and column, npz array index) are still known, before any cast or scaling."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from netspec.errors import NetspecError

BAD_CELL = (
    "{path}:{line}: column {name!r} has the value {text!r}, {problem}\n"
    "  note: {count} cell{s} of the numeric columns {are} not finite or out of {dtype} "
    "range; this is the first\n"
    "  expected: {expected}\n"
    "  help: {fix}"
)

BAD_ARRAY_VALUE = (
    "{path}: {name}[{index}] = {value} is {problem}\n"
    "  note: {count} value{s} of {name} {are} not finite or out of {dtype} range; this is "
    "the first\n"
    "  expected: {expected}\n"
    "  help: {fix}"
)

MISSING_LABEL = (
    "{path}:{line}: the target column {name!r} has {what}, a missing class label\n"
    "  note: {count} row{s} {have} a missing label; this is the first\n"
    "  expected: a class label in every row\n"
    "  help: fill in or remove the rows without a label"
)

NON_FINITE_FIX = "fill in or remove the missing values (NaN) and infinities in the data"


def _range_fix(dtype: np.dtype) -> str:
    fix = "rescale the values (for example divide them by a power of ten)"
    return fix + (", or train in float64 (--dtype float64)" if dtype != np.float64 else "")


def _plural(count: int) -> dict[str, str]:
    return {"s": "" if count == 1 else "s", "are": "is" if count == 1 else "are"}


def _bad(values: np.ndarray, limit: float) -> np.ndarray:
    """Mask of values that are not finite or beyond ``limit`` in magnitude (no warnings:
    comparisons with NaN are quietly False)."""
    return ~np.isfinite(values) | (np.abs(values) > limit)


def check_csv_numbers(
    path: Path,
    columns: Mapping[str, np.ndarray],
    texts: Mapping[str, Sequence[str]],
    lines: Sequence[int],
    dtype: np.dtype,
) -> None:
    """Every cell of the numeric ``columns`` (in file order) is finite and fits ``dtype``.

    Otherwise the first bad cell in file order is reported with its line, column and
    text, and the count of bad cells. A value such as 1e300 is finite in float64 but
    not in a float32 run: that is said as such, not as "non-finite".
    """
    limit = float(np.finfo(dtype).max)
    first: tuple[int, str] | None = None
    count = 0
    for name, values in columns.items():
        bad = _bad(values, limit)
        found = int(np.count_nonzero(bad))
        if not found:
            continue
        count += found
        row = int(np.argmax(bad))
        if first is None or row < first[0]:
            first = (row, name)
    if first is None:
        return
    row, name = first
    value = float(columns[name][row])
    if math.isfinite(value):
        problem = f"out of {dtype} range (largest finite {limit:.7g})"
        expected, fix = f"numbers of magnitude at most {limit:.7g}", _range_fix(dtype)
    else:
        literal = texts[name][row].lower().lstrip("+-") in ("nan", "inf", "infinity")
        problem = "which is not a finite number" + ("" if literal else " (beyond float64 range)")
        expected, fix = "finite numbers in every numeric column", NON_FINITE_FIX
    raise NetspecError(
        BAD_CELL.format(
            path=path,
            line=lines[row],
            name=name,
            text=texts[name][row],
            problem=problem,
            count=count,
            dtype=dtype,
            expected=expected,
            fix=fix,
            **_plural(count),
        )
    )


def check_csv_labels(
    path: Path,
    name: str,
    values: Sequence[str],
    lines: Sequence[int],
    is_number: Mapping[str, bool],
) -> None:
    """No class label is missing: empty, or NaN / inf among labels that are numbers.

    ``is_number`` says, per distinct non-empty label, whether it parses as a finite
    number. A text label "nan" among text labels is a class like any other.
    """
    present = [v for v in is_number if v]
    numeric = bool(present) and all(
        is_number[v] or v.lower().lstrip("+-") in ("nan", "inf", "infinity") for v in present
    )
    missing = [i for i, v in enumerate(values) if not v or (numeric and not is_number[v])]
    if not missing:
        return
    first = missing[0]
    text = values[first]
    count = len(missing)
    raise NetspecError(
        MISSING_LABEL.format(
            path=path,
            line=lines[first],
            name=name,
            what=f"the label {text!r}" if text else "no value",
            count=count,
            s="" if count == 1 else "s",
            have="has" if count == 1 else "have",
        )
    )


def check_array_values(path: Path, name: str, array: np.ndarray, dtype: np.dtype) -> None:
    """A float array of an npz file is finite and fits ``dtype``; otherwise name the
    first bad value by its index in the file's array, and the count."""
    if array.dtype.kind != "f":
        return
    limit = float(np.finfo(dtype).max)
    bad = _bad(array, limit)
    if not bad.any():
        return
    count = int(np.count_nonzero(bad))
    index = np.unravel_index(int(np.argmax(bad.reshape(-1))), array.shape)
    value = array[index].item()
    if math.isfinite(value):
        problem = f"out of {dtype} range (largest finite {limit:.7g})"
        expected, fix = f"numbers of magnitude at most {limit:.7g}", _range_fix(dtype)
    else:
        problem = "not finite (NaN or infinity)"
        expected, fix = "finite numbers", NON_FINITE_FIX
    raise NetspecError(
        BAD_ARRAY_VALUE.format(
            path=path,
            name=name,
            index=", ".join(str(int(i)) for i in index),
            value=value,
            problem=problem,
            count=count,
            dtype=dtype,
            expected=expected,
            fix=fix,
            **_plural(count),
        )
    )
