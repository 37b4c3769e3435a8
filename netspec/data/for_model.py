"""What load_dataset needs to know of a checked model and its train section: the one
place that reads the model's inputs and output and the section's loss, seed and target
into load_dataset's options."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netspec.ir import CheckedModel
    from netspec.ir.train import TrainSpec


def model_data_options(
    model: CheckedModel,
    section: TrainSpec,
    *,
    data_dir: str | None,
    dtype: str,
    spec_path: str | None = None,
) -> dict[str, Any]:
    """The options of ``load_dataset`` that split and shape data for ``model`` as
    ``section`` trains it; a relative path in the source is read beside ``spec_path``."""
    return {
        "input_shape": tuple(model.inputs[0].shape),
        "inputs": {spec.name: tuple(spec.shape) for spec in model.inputs},
        "model": model.name,
        "output_shape": model.output_type.shape,
        "loss_kind": section.loss.kind,
        "seed": section.seed,
        "data_dir": data_dir,
        "dtype": dtype,
        "base_dir": str(Path(spec_path).parent) if spec_path else None,
        "target": section.target,
        "input_dtype": model.inputs[0].dtype if len(model.inputs) == 1 else "float32",
        "input_name": model.inputs[0].name,
        "input_dtypes": {spec.name: spec.dtype for spec in model.inputs},
    }
