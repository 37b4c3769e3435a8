"""What a csv source learns from its training split, kept with a trained model.

The feature statistics go into the model itself (its standardize node's state); the
rest, which is not arithmetic (feature columns, one-hot categories, class names), is
this record. A training run saves it in run.json and in its weight file's metadata;
``netspec eval`` reads it back and encodes new files exactly as training did.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netspec.errors import NetspecError

# The key of the record in a weight file's safetensors metadata.
METADATA_KEY = "netspec.csv_encoding"


@dataclass(frozen=True, eq=False)
class CsvEncoding:
    """The csv encoding fitted on a training split.

    ``features`` are the feature columns in file order; ``categories`` the one-hot
    categories of each categorical column, in one-hot order; ``class_names`` the class
    of each label 0..K-1 (None for regression). ``mean`` and ``std`` are the statistics
    of each encoded feature (0 and 1 for one-hot columns), or None without
    ``standardize``: the model applies them, the data pipeline does not.
    """

    features: tuple[str, ...]
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    class_names: tuple[str, ...] | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data (statistics excluded: they live in the weights)."""
        return {
            "features": list(self.features),
            "categories": {name: list(cats) for name, cats in self.categories.items()},
            "class_names": None if self.class_names is None else list(self.class_names),
        }

    @classmethod
    def from_json(cls, data: Any, *, source: str) -> CsvEncoding:
        """The record written by :meth:`to_json`; anything else is a NetspecError."""
        try:
            features = tuple(str(name) for name in data["features"])
            categories = {
                str(name): tuple(str(c) for c in cats) for name, cats in data["categories"].items()
            }
            names = data["class_names"]
            class_names = None if names is None else tuple(str(n) for n in names)
        except (KeyError, TypeError, AttributeError) as error:
            raise NetspecError(
                f"{source}: the csv encoding record is malformed ({error!r}); expected "
                "features, categories and class_names as netspec train writes them"
            ) from None
        return cls(features=features, categories=categories, class_names=class_names)


def read_encoding(weights: str | os.PathLike[str]) -> CsvEncoding | None:
    """The csv encoding saved with a weight file: in its metadata, else in the run.json
    of its run directory (beside it, or one up for checkpoints); None when neither has
    one (a model not trained on a csv source)."""
    path = Path(weights)
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError):
        metadata = {}  # an unreadable file is reported by the weight loader
    if METADATA_KEY in metadata:
        try:
            data = json.loads(metadata[METADATA_KEY])
        except json.JSONDecodeError as error:
            raise NetspecError(
                f"{path}: the csv encoding in the metadata is not JSON: {error}"
            ) from None
        return CsvEncoding.from_json(data, source=str(path))
    for run in (path.parent / "run.json", path.parent.parent / "run.json"):
        if run.is_file():
            try:
                record = json.loads(run.read_text(encoding="utf-8")).get("csv_encoding")
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                return None
            return None if record is None else CsvEncoding.from_json(record, source=str(run))
    return None
