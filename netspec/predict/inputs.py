"""Inputs for prediction: arrays, .npy/.npz files, CSV rows, images and literal values,
each turned into a batch of every model input, with a label per sample saying where
it came from (``digit.png``, ``rows.csv:3``, ``batch.npy[2]``)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netspec.data._checks import spec_shape as shape_text
from netspec.errors import NetspecError
from netspec.ir import CheckedModel
from netspec.ir.graph import Input
from netspec.predict.images import IMAGE_SUFFIXES, read_image
from netspec.predict.tabular import read_csv
from netspec.runs import Preprocessing

KINDS = ".npy, .npz, .csv, .txt, " + ", ".join(IMAGE_SUFFIXES)


@dataclass(frozen=True)
class LiteralValues:
    """Values written on the command line (``--input 3,4``): one sample, comma-separated;
    ``name=1,2;other=3`` for a model of several inputs."""

    text: str


@dataclass(frozen=True)
class Text:
    """Text for a character language model (``--text``): its characters, through the
    run's vocabulary, fill the start of the input window (the last window of a longer
    text), and the answer is the character that follows."""

    text: str


@dataclass
class Samples:
    """A batch of every input by name, where each sample came from and, for text, the
    step whose scores answer (the last character's; None: the last step)."""

    inputs: dict[str, np.ndarray]
    labels: list[str]
    steps: list[int | None] | None = None

    def step_list(self) -> list[int | None]:
        """The answering step of every sample (None: the model's last step)."""
        return self.steps if self.steps is not None else [None] * len(self.labels)


def _from_text(model: CheckedModel, text: str, label: str, preprocessing: Preprocessing) -> Samples:
    from netspec.sampling import NO_VOCABULARY, _check_language_model, _encode_prompt

    vocabulary = preprocessing.vocabulary
    if vocabulary is None:
        raise NetspecError(
            f"{label}: " + NO_VOCABULARY.format(run="of these weights", file="vocab.json")
        )
    _check_language_model(model, len(vocabulary))
    if not text:
        raise NetspecError(f"{label}: the text is empty; expected at least one character")
    codes = _encode_prompt(text, vocabulary)
    spec = model.inputs[0]
    recent = codes[-spec.shape[0] :]
    window = np.zeros((1, spec.shape[0]), dtype=spec.dtype)
    window[0, : len(recent)] = recent
    return Samples({spec.name: window}, [label], [len(recent) - 1])


def _cast(array: np.ndarray, spec: Input, dtype: str, where: str) -> np.ndarray:
    """``array`` in the input's dtype (integer inputs) or the run's float type; values
    that are not finite numbers, or not whole numbers for an integer input, are errors."""
    try:
        values = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):
        raise NetspecError(
            f"{where}: expected numbers for input '{spec.name}', found an array of "
            f"{np.asarray(array).dtype}"
        ) from None
    bad = ~np.isfinite(values)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NetspecError(
            f"{where}: expected finite numbers for input '{spec.name}', found "
            f"{values[at]} at index {list(at)}"
        )
    if np.dtype(spec.dtype).kind in "iu":
        if not np.array_equal(values, np.round(values)):
            raise NetspecError(
                f"{where}: input '{spec.name}' takes whole numbers ({spec.dtype}), found fractions"
            )
        return values.astype(spec.dtype)
    return values.astype(dtype)


def fit_batch(array: np.ndarray, spec: Input, where: str) -> np.ndarray:
    """One sample of the input's shape becomes a batch of one; a batch stays a batch;
    anything else is an error naming both shapes."""
    shape = tuple(spec.shape)
    if array.shape == shape:
        return array[None]
    if array.ndim == len(shape) + 1 and array.shape[1:] == shape and len(array):
        return array
    size = math.prod(shape)
    hint = ""
    if array.size == size:
        hint = (
            f"\n  help: it has the {size} values of one sample; reshape it to {shape_text(shape)}"
        )
    elif array.ndim >= 1 and math.prod(array.shape[1:]) == size and len(array):
        hint = (
            f"\n  help: its rows have the {size} values of a sample; reshape it to "
            f"[{len(array)}, {', '.join(map(str, shape))}]"
        )
    raise NetspecError(
        f"{where}: input '{spec.name}' takes one sample of shape {shape_text(shape)} or a "
        f"batch {shape_text(('N', *shape))}, found shape {shape_text(array.shape)}{hint}"
    )


def _one_input(model: CheckedModel, where: str, how: str) -> Input:
    if len(model.inputs) != 1:
        names = ", ".join(spec.name for spec in model.inputs)
        raise NetspecError(
            f"{where}: model '{model.name}' has {len(model.inputs)} inputs ({names}); {how}"
        )
    return model.inputs[0]


def _labelled(where: str, count: int) -> list[str]:
    return [where] if count == 1 else [f"{where}[{i}]" for i in range(count)]


def _from_array(model: CheckedModel, value: object, where: str, dtype: str) -> Samples:
    spec = _one_input(model, where, "give a dict of arrays by input name, or an .npz file")
    batch = fit_batch(_cast(np.asarray(value), spec, dtype, where), spec, where)
    return Samples({spec.name: batch}, _labelled(where, len(batch)))


def _load_npy(path: Path) -> np.ndarray | Mapping[str, np.ndarray]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        kind = "an .npz archive" if path.suffix.lower() == ".npz" else "a .npy array"
        raise NetspecError(f"{path}: cannot read it as {kind} ({error})") from None
    return loaded


def _from_npz(
    model: CheckedModel, path: Path, loaded: Mapping[str, np.ndarray], dtype: str
) -> Samples:
    with loaded as archive:  # type: ignore[attr-defined]
        names = list(archive.files)
        batches: dict[str, np.ndarray] = {}
        for spec in model.inputs:
            if spec.name in names:
                key = spec.name
            elif len(model.inputs) == 1 and len(names) == 1:
                key = names[0]  # one array for a model of one input, whatever its name
            else:
                raise NetspecError(
                    f"{path}: no array named '{spec.name}' for input '{spec.name}'\n"
                    f"  expected: one array per input, named after it "
                    f"({', '.join(s.name for s in model.inputs)})\n"
                    f"  found: {', '.join(names) or 'no arrays'}"
                )
            where = f"{path}:{key}"
            batches[spec.name] = fit_batch(_cast(archive[key], spec, dtype, where), spec, where)
    sizes = {name: len(batch) for name, batch in batches.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"'{name}' {size}" for name, size in sizes.items())
        raise NetspecError(f"{path}: the inputs have different numbers of samples ({listed})")
    return Samples(batches, _labelled(str(path), next(iter(sizes.values()))))


def _from_literal(model: CheckedModel, text: str, dtype: str) -> Samples:
    where = f"--input {text}"
    if len(model.inputs) == 1 and "=" not in text:
        parts = {model.inputs[0].name: text}
    else:
        parts = {}
        for piece in text.split(";"):
            name, equals, values = piece.partition("=")
            if not equals:
                names = ", ".join(spec.name for spec in model.inputs)
                raise NetspecError(
                    f"{where}: model '{model.name}' has several inputs ({names}); "
                    f"expected NAME=VALUES for each, separated by ';'"
                )
            parts[name.strip()] = values
    batches: dict[str, np.ndarray] = {}
    for spec in model.inputs:
        if spec.name not in parts:
            raise NetspecError(f"{where}: no values for input '{spec.name}'")
        cells = [cell.strip() for cell in parts.pop(spec.name).split(",")]
        try:
            values = np.array([float(cell) for cell in cells])
        except ValueError:
            bad = next(cell for cell in cells if not _is_number(cell))
            raise NetspecError(
                f"{where}: {bad!r} is not a number; expected comma-separated numbers"
            ) from None
        size = math.prod(spec.shape)
        if values.size != size:
            raise NetspecError(
                f"{where}: {values.size} values, expected {size} (input '{spec.name}' is "
                f"{shape_text(tuple(spec.shape))})"
            )
        batches[spec.name] = _cast(values.reshape(spec.shape), spec, dtype, where)[None]
    if parts:
        raise NetspecError(f"{where}: the model has no input named {next(iter(parts))!r}")
    return Samples(batches, [text])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _from_path(
    model: CheckedModel, path: Path, preprocessing: Preprocessing, dtype: str
) -> Samples:
    if not path.is_file():
        what = "does not exist" if not path.exists() else "is not a file"
        raise NetspecError(f"input {path} {what}; expected a file ({KINDS})")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise NetspecError(f"{path}: cannot read it as UTF-8 text ({error})") from None
        return _from_text(model, text, str(path), preprocessing)
    if suffix in (".npy", ".npz"):
        # What the file holds decides, not its suffix: an archive of arrays by name, or
        # one array.
        loaded = _load_npy(path)
        if isinstance(loaded, Mapping):
            return _from_npz(model, path, loaded, dtype)
        return _from_array(model, loaded, str(path), dtype)
    if suffix == ".csv":
        batches, labels = read_csv(model, path, preprocessing)
        casted = {
            spec.name: _cast(batches[spec.name], spec, dtype, str(path)) for spec in model.inputs
        }
        return Samples(casted, labels)
    if suffix in IMAGE_SUFFIXES:
        spec = _one_input(model, str(path), "an image can feed only a model of one input")
        sample = read_image(path, spec, preprocessing.train)
        return Samples({spec.name: _cast(sample, spec, dtype, str(path))[None]}, [str(path)])
    raise NetspecError(
        f"input {path}: unknown kind of file {suffix or '(no suffix)'}; expected {KINDS}"
    )


def read_inputs(
    model: CheckedModel,
    inputs: Sequence[object],
    named: Mapping[str, object],
    preprocessing: Preprocessing,
    *,
    dtype: str,
) -> Samples:
    """Every input read and stacked into one batch per model input, in order.

    ``inputs`` holds paths (str or PathLike), :class:`LiteralValues`, arrays or lists
    of numbers (one sample or a batch), or dicts of arrays by input name; ``named``
    gives arrays by input name (one entry of the batch for each)."""
    parts: list[Samples] = []
    if named:
        parts.append(_from_named(model, dict(named), dtype))
    for index, value in enumerate(inputs):
        if isinstance(value, LiteralValues):
            parts.append(_from_literal(model, value.text, dtype))
        elif isinstance(value, Text):
            parts.append(_from_text(model, value.text, repr(value.text), preprocessing))
        elif isinstance(value, str | os.PathLike):
            parts.append(_from_path(model, Path(value), preprocessing, dtype))
        elif isinstance(value, Mapping):
            parts.append(_from_named(model, dict(value), dtype))
        else:
            parts.append(_from_array(model, value, f"input {index + 1}", dtype))
    if not parts:
        raise NetspecError(
            f"no inputs: expected files ({KINDS}), arrays or --input values for model "
            f"'{model.name}'"
        )
    return Samples(
        {
            spec.name: np.concatenate([part.inputs[spec.name] for part in parts])
            for spec in model.inputs
        },
        [label for part in parts for label in part.labels],
        [step for part in parts for step in part.step_list()],
    )


def _from_named(model: CheckedModel, values: dict[str, object], dtype: str) -> Samples:
    known = {spec.name for spec in model.inputs}
    unknown = [name for name in values if name not in known]
    missing = [name for name in known if name not in values]
    if unknown or missing:
        names = ", ".join(spec.name for spec in model.inputs)
        problem = f"no input named {unknown[0]!r}" if unknown else f"no array for {missing[0]!r}"
        raise NetspecError(f"inputs by name: {problem}; model '{model.name}' takes {names}")
    batches = {
        spec.name: fit_batch(
            _cast(np.asarray(values[spec.name]), spec, dtype, f"input '{spec.name}'"),
            spec,
            f"input '{spec.name}'",
        )
        for spec in model.inputs
    }
    sizes = {len(batch) for batch in batches.values()}
    if len(sizes) > 1:
        raise NetspecError("inputs by name: the inputs have different numbers of samples")
    return Samples(batches, _labelled("input", sizes.pop()))
