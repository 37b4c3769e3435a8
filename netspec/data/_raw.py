"""What a source hands to the pipeline: arrays before splitting, layout and checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from netspec.data._encoding import CsvEncoding

# labels: int64 class labels [N]; soft: float class targets [N, K] (npz, for the
# classification losses); targets: float regression targets [N, ...]; steps: int64 class
# labels [N, T], one per step (text, integer npz targets), for an output [T, classes].
TargetKind = Literal["labels", "soft", "targets", "steps"]

# Fitted on the final training split's row ids, it returns the transform to apply to
# every split, a description of the features it makes, and what it learnt (csv encoding).
Encoder = Callable[[np.ndarray], tuple[Callable[[np.ndarray], np.ndarray], str, CsvEncoding]]


@dataclass
class Raw:
    """A source's data before the common steps (test split, limit, validation, checks).

    ``x`` and ``y`` are the training pool; ``x_test``/``y_test`` a fixed test set, or
    None to split ``test_fraction`` off the pool. With an ``encoder``, ``x`` holds row
    ids and the encoder, fitted on the training rows, turns ids into features.
    """

    x: np.ndarray
    y: np.ndarray
    kind: TargetKind
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    test_fraction: float = 0.0
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    encoder: Encoder | None = None
    # How the features come about, for shape-mismatch messages.
    feature_hint: str = ""
    # A class label as the file writes it and where, for messages about labels (csv).
    label_text: Callable[[int], str] | None = None
    true_params: dict[str, np.ndarray] = field(default_factory=dict)
    # A model of several inputs: every row of each input by name (the pool, then a fixed
    # test set), which ``x`` and ``x_test`` index; how each input's samples come about.
    inputs: dict[str, np.ndarray] | None = None
    input_hints: dict[str, str] = field(default_factory=dict)
    # The characters the indices stand for (text), index order.
    vocabulary: tuple[str, ...] | None = None
    # ``x`` holds integer indices, for a model whose input is declared integer.
    indices: bool = False
    # ``x`` and ``x_test`` hold integer pixels, which become the run's dtype divided by
    # this (1.0: not scaled) only once the splits are taken (final_inputs): one pass over
    # each split's floats, where converting the whole source first and splitting it
    # after would be a conversion, a division and a copy.
    pixels: float | None = None


def final_inputs(raw: Raw, xs: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A split's samples, contiguous and in ``dtype``: integer pixels divided by
    ``raw.pixels`` in ``dtype``, the same values as ``astype(dtype)`` then ``/=``."""
    if raw.pixels is None or raw.pixels == 1.0:
        return np.ascontiguousarray(xs, dtype=dtype)
    return np.ascontiguousarray(np.divide(xs, dtype.type(raw.pixels), dtype=dtype))


def regression_targets(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float targets with a feature axis: [N] becomes [N, 1]."""
    targets = y.astype(dtype)
    return targets[:, None] if targets.ndim == 1 else targets


def class_count(kind: TargetKind, ys: list[np.ndarray]) -> int | None:
    """How many classes the targets of every split show: the largest label + 1, or the
    width of class-probability targets; None for regression targets."""
    if kind in ("labels", "steps"):
        return max(int(y.max()) + 1 if y.size else 0 for y in ys)
    if kind == "soft":
        return int(ys[0].shape[1]) if ys[0].ndim == 2 else None
    return None
