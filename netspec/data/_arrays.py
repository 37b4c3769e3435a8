"""NumPy arrays given to ``netspec.train(data=...)`` as a source, like an npz file's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from netspec.data._raw import Raw, class_count, regression_targets
from netspec.errors import NetspecError

ACCEPTED = (
    'data= takes a data source (e.g. "digits" or "mnist(flatten = true)"), a tuple '
    '(x, y) of NumPy arrays, or a dict {{"train": (x, y), "test": (x, y)}} ("test" '
    "optional); found {found}"
)
SPLITS = ("train", "test")


def _pair(value: object, split: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise NetspecError(
            f"data[{split!r}] must be a pair (x, y) of arrays, found {type(value).__name__}"
        )
    arrays = []
    for name, item in zip("xy", value, strict=True):
        try:
            array = np.asarray(item)
        except (ValueError, TypeError) as error:
            raise NetspecError(f"data {split} {name} is not an array: {error}") from None
        if array.dtype.kind not in "biuf":
            raise NetspecError(
                f"data {split} {name} has dtype {array.dtype}; expected numbers "
                "(bool, int or float)"
            )
        if array.ndim == 0:
            raise NetspecError(f"data {split} {name} is a scalar; expected one row per sample")
        arrays.append(array)
    x, y = arrays
    if x.shape[0] != y.shape[0]:
        raise NetspecError(
            f"data {split}: x has {x.shape[0]} samples but y has {y.shape[0]}\n"
            "  expected: one target per sample"
        )
    return x, y


@dataclass(frozen=True, eq=False)
class ArrayData:
    """Training samples (x, y) and, optionally, a fixed test set, in memory."""

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def parse(cls, data: object) -> ArrayData:
        """``(x, y)`` or ``{"train": (x, y), "test": (x, y)}``; anything else is an error
        that says what ``data=`` takes."""
        if isinstance(data, tuple):
            return cls(_pair(data, "train"))
        if isinstance(data, Mapping):
            unknown = [key for key in data if key not in SPLITS]
            if unknown or "train" not in data:
                problem = (
                    f"unknown split(s) {', '.join(map(repr, unknown))}" if unknown
                    else "no 'train' split"
                )  # fmt: skip
                raise NetspecError(
                    f"data= dict has {problem}; expected keys 'train' and optionally 'test' "
                    "(a validation split is held out of 'train' by the train section's "
                    "`validation` fraction)"
                )
            test = _pair(data["test"], "test") if "test" in data else None
            return cls(_pair(data["train"], "train"), test)
        raise NetspecError(ACCEPTED.format(found=type(data).__name__))

    def raw(self, *, classification: bool, dtype: np.dtype, indices: bool = False) -> Raw:
        """The arrays as a source's data: labels for a classification loss (whole
        numbers [N], integer labels per step [N, T], or class probabilities [N, K]), float
        targets for a regression one. With ``indices`` (an integer model input) integer
        samples stay integer."""
        pairs = [("train", self.train)] + ([("test", self.test)] if self.test else [])
        xs, ys = [], []
        kind = "targets"
        whole = all(x.dtype.kind in "iu" for _, (x, _) in pairs)
        for split, (x, y) in pairs:
            xs.append(x.astype(np.int64) if indices and whole else x.astype(dtype))
            if classification and y.ndim >= 2 and y.dtype.kind in "iu":
                kind = "steps"
                ys.append(y.astype(np.int64))
            elif classification and y.ndim == 1:
                kind = "labels"
                ys.append(_labels(split, y))
            elif classification:
                kind = "soft"
                ys.append(y.astype(dtype))
            else:
                ys.append(regression_targets(y, dtype))
        num_classes = class_count(kind, ys)
        return Raw(
            x=xs[0],
            y=ys[0],
            x_test=xs[1] if self.test else None,
            y_test=ys[1] if self.test else None,
            kind=kind,  # type: ignore[arg-type]
            num_classes=num_classes,
            feature_hint=f"the arrays given have samples of shape {tuple(xs[0].shape[1:])}",
            indices=indices and whole,
        )


def _labels(split: str, y: np.ndarray) -> np.ndarray:
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    whole = np.isfinite(y) & (y == np.round(y))
    if not whole.all():
        bad = int(np.flatnonzero(~whole)[0])
        raise NetspecError(
            f"data {split} y[{bad}] = {y[bad].item()!r} is not a class label\n"
            "  expected: whole numbers 0..K-1 for a classification loss\n"
            "  help: use a regression loss (mse, half_sse, l1) for real-valued targets"
        )
    return y.astype(np.int64)
