"""netspec: a compiler for neural networks.

Write a network as a .net spec, check it, and compile it to NumPy, PyTorch or JAX::

    import netspec
    program = netspec.load("specs/lenet5.net")   # the checked IR
    model = program.model()                       # a CheckedModel
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from netspec.diagnostics import Diagnostic
from netspec.errors import NetspecError, ShapeError
from netspec.frontend import Analysis, analyze, load
from netspec.ir import CheckedModel, Program


def train(spec: str | os.PathLike[str] | Program, **options: object) -> TrainResult:
    """Train a spec's model as its train section says; returns history and trained model.

    ``spec`` is a path, spec text or a loaded Program. Options: ``backend`` ("numpy",
    "torch", "jax"), ``device``, ``dtype``, ``epochs``, ``batch_size``, ``lr``, ``seed``,
    ``data`` (e.g. "digits"), ``data_dir``, ``out`` (run directory), ``resume``,
    ``progress`` and ``model`` (which model of the file).
    """
    from netspec.training import fit

    path = None
    if isinstance(spec, Program):
        program = spec
    else:
        program = load(spec)
        text_or_path = str(spec)
        if "\n" not in text_or_path and text_or_path.endswith(".net"):
            path = text_or_path
    return fit(program, spec_path=path, **options)  # type: ignore[arg-type]


if TYPE_CHECKING:
    from netspec.training import TrainResult

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "CheckedModel",
    "Diagnostic",
    "NetspecError",
    "Program",
    "ShapeError",
    "__version__",
    "analyze",
    "load",
    "train",
]
