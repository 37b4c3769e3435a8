"""Running a trained model on new inputs: ``netspec predict`` and ``Run.predict``.

``inputs`` reads arrays, .npy/.npz files, CSV rows (``tabular``), images (``images``)
and literal values into a batch per model input; ``output`` turns the model's outputs
into class probabilities or values and their table, JSON and .npy forms; ``command``
is the command line.
"""

from __future__ import annotations

from netspec.predict.inputs import LiteralValues, Samples, Text, read_inputs
from netspec.predict.output import Prediction

__all__ = ["LiteralValues", "Prediction", "Samples", "Text", "read_inputs"]
