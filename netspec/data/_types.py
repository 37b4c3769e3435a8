"""The loaded data: a Split is inputs and targets, a Dataset is train/validation/test."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from netspec.data._encoding import CsvEncoding


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset.

    ``x`` is ``[N, *input_shape]`` in the requested float dtype (int64 indices for an
    integer input); for a model of several inputs, a dict of such arrays by input name.
    ``y`` is ``int64`` class labels ``[N]`` for classification (``[N, T]``, one per step,
    for a sequence output [T, classes]), floats ``[N, K]`` when ``one_hot`` is set, or
    float targets ``[N, *output_shape]`` for regression.
    """

    x: np.ndarray | dict[str, np.ndarray]
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def rows(
        self, index: slice | np.ndarray
    ) -> tuple[np.ndarray | dict[str, np.ndarray], np.ndarray]:
        """The samples at ``index`` (a slice gives views): inputs and targets."""
        return take(self.x, index), self.y[index]


def take(
    x: np.ndarray | dict[str, np.ndarray], index: slice | np.ndarray
) -> np.ndarray | dict[str, np.ndarray]:
    """The samples at ``index`` of one input's array, or of every input's by name."""
    if isinstance(x, dict):
        return {name: array[index] for name, array in x.items()}
    return x[index]


@dataclass(frozen=True, eq=False)
class Dataset:
    """The splits a train section asks for, ready for the training loop.

    ``validation`` is None unless the spec holds out a fraction; ``test`` is None when a
    source has no test set and ``test = 0``. ``num_classes`` is the number of classes in
    the data (None for regression). ``true_params`` holds the generating parameters of
    the synthetic regression sources (``w``, ``b``), for demos that compare them with
    the learned ones. ``encoding`` is what a csv source learnt from the training split
    (columns, categories, class names, feature statistics), to be kept with the model.
    """

    source: str
    train: Split
    validation: Split | None
    test: Split | None
    num_classes: int | None
    class_names: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()
    true_params: dict[str, np.ndarray] = field(default_factory=dict)
    encoding: CsvEncoding | None = None
    # The characters a text source's indices stand for, in index order.
    vocabulary: tuple[str, ...] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The per-sample shape of the one input (see :attr:`input_shapes`)."""
        x = self.train.x
        assert not isinstance(x, dict), "a dataset of several inputs: use input_shapes"
        return tuple(int(d) for d in x.shape[1:])

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """The per-sample shape of each input by name (``x`` for a single array)."""
        x = self.train.x
        arrays = x if isinstance(x, dict) else {"x": x}
        return {name: tuple(int(d) for d in a.shape[1:]) for name, a in arrays.items()}

    def splits(self) -> dict[str, Split]:
        """The splits that exist, by name, in the order train, validation, test."""
        named = {"train": self.train, "validation": self.validation, "test": self.test}
        return {name: split for name, split in named.items() if split is not None}

    def describe(self) -> str:
        """A short human-readable summary: source, shapes, dtypes and split sizes."""
        x, y = self.train.x, self.train.y
        if self.num_classes is None:
            task = f"regression targets {tuple(y.shape[1:])} {y.dtype}"
        elif y.ndim > 1 and y.dtype.kind in "iu":
            task = f"{self.num_classes} classes, {y.dtype} labels per step {tuple(y.shape[1:])}"
        elif y.ndim == 1:
            task = f"{self.num_classes} classes, {y.dtype} labels"
        else:
            task = f"{self.num_classes} classes, one-hot {tuple(y.shape[1:])} {y.dtype}"
        first = next(iter(x.values())) if isinstance(x, dict) else x
        shapes = self.input_shapes
        shown = (
            ", ".join(f"{name} {shape}" for name, shape in shapes.items())
            if isinstance(x, dict)
            else str(shapes["x"])
        )
        lines = [f"{self.source}: inputs {shown} {first.dtype}, {task}"]
        width = max(len(name) for name in self.splits())
        for name, split in self.splits().items():
            lines.append(f"  {name:<{width}}  {len(split):>7} samples")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)
