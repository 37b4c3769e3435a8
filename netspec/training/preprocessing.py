"""What a run learns from its data besides the weights, put where the model keeps it.

Feature statistics of a standardised csv source go into the model's standardize node
(state arrays, saved in every checkpoint and weight file); the csv encoding record
(feature columns, categories, class names) goes into run.json and the final weight
file's metadata, where ``netspec eval`` finds it.
"""

from __future__ import annotations

import json
from typing import Any

from netspec.backend import CompiledModel
from netspec.check.standardize import standardize_node
from netspec.data import Dataset
from netspec.data._encoding import METADATA_KEY
from netspec.errors import NetspecError
from netspec.ir import CheckedModel

NO_PLACE_FOR_STATISTICS = (
    "data {source} standardises its features, but model '{model}' has no standardize "
    "node to keep their statistics in: its train section does not read a standardised "
    "csv source, and --data cannot add one\n"
    "  help: put the csv source in the spec's train section, or add standardize = false "
    "to --data"
)


def set_input_statistics(model: CheckedModel, compiled: CompiledModel, dataset: Dataset) -> None:
    """Fill the model's standardize node from the training split's statistics.

    A model without the node must not be fed data that expects one; a node whose data is
    not standardised (``--data`` with ``standardize = false``) stays the identity.
    """
    node = standardize_node(model)
    encoding = dataset.encoding
    if encoding is None or encoding.mean is None or encoding.std is None:
        return
    if node is None:
        raise NetspecError(NO_PLACE_FOR_STATISTICS.format(source=dataset.source, model=model.name))
    shape = tuple(model.input.shape)
    names = {spec.attr: spec.name for spec in model.state if spec.node == node.name}
    compiled.set_parameters(
        {
            names["mean"]: encoding.mean.reshape(shape),
            names["std"]: encoding.std.reshape(shape),
        }
    )


def run_record(dataset: Dataset) -> dict[str, Any]:
    """The run.json entries for what the data taught (none for non-csv sources)."""
    if dataset.encoding is None:
        return {}
    return {"csv_encoding": dataset.encoding.to_json()}


def weights_metadata(dataset: Dataset) -> dict[str, str]:
    """Weight file metadata carrying the csv encoding record, if there is one."""
    if dataset.encoding is None:
        return {}
    return {METADATA_KEY: json.dumps(dataset.encoding.to_json())}
