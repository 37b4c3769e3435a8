"""A model's answers: class probabilities for classifiers, values for regressors, and
their table, JSON and .npy forms."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from netspec.errors import NetspecError
from netspec.ir import CheckedModel

if TYPE_CHECKING:
    from netspec.backend import CompiledModel
    from netspec.predict.inputs import Samples
    from netspec.runs import Preprocessing

# Samples per forward pass: bounds the memory a long list of inputs takes.
CHUNK = 256


@dataclass(frozen=True)
class Prediction:
    """The model's output for each sample (``outputs``, as the model computes them),
    a label saying where each sample came from and, for a classifier, the probability
    of each class (``probabilities``, [N, K]) and their names where the data has them."""

    outputs: np.ndarray
    labels: tuple[str, ...]
    probabilities: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None

    @property
    def is_classifier(self) -> bool:
        """Whether the model's outputs are class scores."""
        return self.probabilities is not None

    def class_name(self, index: int) -> str:
        """The name of class ``index``, or its number where the data names none."""
        names = self.class_names
        return names[index] if names is not None and index < len(names) else str(index)

    def top_k(self, k: int = 5) -> list[list[tuple[int, str, float]]]:
        """Per sample, the ``k`` most probable classes as (index, name, probability)."""
        if self.probabilities is None:
            raise NetspecError("top_k: the model is not a classifier; read .outputs instead")
        if k < 1:
            raise NetspecError(f"top_k: k must be at least 1, found {k}")
        order = np.argsort(-self.probabilities, axis=1, kind="stable")[:, :k]
        return [
            [(int(i), self.class_name(int(i)), float(row[i])) for i in picks]
            for row, picks in zip(self.probabilities, order, strict=True)
        ]

    def array(self) -> np.ndarray:
        """The probabilities of a classifier, else the outputs."""
        return self.probabilities if self.probabilities is not None else self.outputs

    def to_json(self, k: int = 5) -> list[dict[str, Any]]:
        """One record per sample: its label and top-k classes, or its output values."""
        if self.probabilities is not None:
            return [
                {
                    "input": label,
                    "classes": [
                        {"class": index, "name": name, "probability": probability}
                        for index, name, probability in picks
                    ],
                }
                for label, picks in zip(self.labels, self.top_k(k), strict=True)
            ]
        return [
            {"input": label, "output": row.tolist()}
            for label, row in zip(self.labels, self.outputs.astype(np.float64), strict=True)
        ]

    def table(self, k: int = 5) -> str:
        """A text table: per sample its top-k classes with probabilities, or its values."""
        if self.probabilities is not None:
            rows = [("input", "class", "probability")]
            for label, picks in zip(self.labels, self.top_k(k), strict=True):
                for rank, (_, name, probability) in enumerate(picks):
                    rows.append((label if rank == 0 else "", name, f"{probability:.4f}"))
        else:
            rows = [("input", "output")]
            for label, row in zip(self.labels, self.outputs, strict=True):
                rows.append((label, _values(row)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(line.rstrip() for line in lines) + "\n"

    def render(self, form: str, k: int = 5) -> bytes:
        """The prediction as ``table``, ``json`` or ``npy`` bytes."""
        if form == "table":
            return self.table(k).encode("utf-8")
        if form == "json":
            return (json.dumps(self.to_json(k), indent=2) + "\n").encode("utf-8")
        if form == "npy":
            buffer = io.BytesIO()
            np.save(buffer, self.array(), allow_pickle=False)
            return buffer.getvalue()
        raise NetspecError(f"unknown output format {form!r}; expected table, json or npy")


def _values(row: np.ndarray, limit: int = 12) -> str:
    flat = [f"{value:.6g}" for value in np.asarray(row, dtype=np.float64).ravel()]
    if len(flat) <= limit:
        return ", ".join(flat)
    shape = "[" + ", ".join(map(str, row.shape)) + "]"
    return ", ".join(flat[:limit]) + f", ... ({len(flat)} values, shape {shape})"


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def class_probabilities(
    outputs: np.ndarray,
    model: CheckedModel,
    preprocessing: Preprocessing,
    steps: list[int | None] | None = None,
) -> np.ndarray | None:
    """[N, K] class probabilities when the model is a classifier, else None.

    A model trained with softmax_cross_entropy on a vector output gives logits (the
    softmax is in the loss): their softmax; one trained with binary_cross_entropy on a
    single output gives the logit of class 1: [1 - p, p] with p its sigmoid. A
    character language model (a run with a vocabulary, output [T, V]) gives the next
    character's probabilities at each sample's step (``steps``; None: the last).
    """
    train = preprocessing.train
    kind = train.loss.kind if train is not None else None
    shape = tuple(model.output_type.shape)
    vocabulary = preprocessing.vocabulary
    if kind == "softmax_cross_entropy" and vocabulary is not None and len(shape) == 2:
        # A language model: the scores of the step each sample answers at, over the
        # vocabulary's characters (a larger table's extra classes never occur).
        rows = np.arange(len(outputs))
        at = [shape[0] - 1 if step is None else step for step in steps or [None] * len(rows)]
        return _softmax(outputs[rows, at, : len(vocabulary)])
    if kind == "softmax_cross_entropy" and len(shape) == 1:
        return _softmax(outputs)
    if kind == "binary_cross_entropy" and shape == (1,):
        p = 1 / (1 + np.exp(-outputs.astype(np.float64)[:, 0]))
        return np.stack([1 - p, p], axis=1)
    return None


def predict_batch(
    compiled: CompiledModel, model: CheckedModel, samples: Samples, preprocessing: Preprocessing
) -> Prediction:
    """The model run in evaluation mode on every sample, in chunks of CHUNK."""
    total = len(samples.labels)
    outputs = []
    for start in range(0, total, CHUNK):
        chunk = {name: batch[start : start + CHUNK] for name, batch in samples.inputs.items()}
        outputs.append(np.asarray(compiled.forward(chunk)))
    result = np.concatenate(outputs)
    return Prediction(
        outputs=result,
        labels=tuple(samples.labels),
        probabilities=class_probabilities(result, model, preprocessing, samples.step_list()),
        class_names=preprocessing.class_names,
    )
