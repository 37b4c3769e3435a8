"""Training precisions, checked the same way by every backend.

``fp32`` computes each step in the model's dtype. ``bf16`` and ``fp16`` compute the
forward and backward of a step in bfloat16 / float16 and keep the weights, the gradients
handed to the optimizer, the optimizer's buffers and the update in float32 (the "master
weights"); docs/training.md, "Precision", gives each backend's rules. The errors below
are the same on every backend.
"""

from __future__ import annotations

from typing import get_args

from netspec._validate import check_choice
from netspec.errors import NetspecError
from netspec.ir.train import Precision

PRECISIONS: tuple[str, ...] = get_args(Precision)

# What each reduced precision computes in, as the errors name it.
FORMATS = {"bf16": "bfloat16", "fp16": "float16"}

# The backends that train in a reduced precision (NumPy has no bfloat16 arithmetic, and
# its float16 is emulated per element: no faster and no closer to what a GPU does).
MIXED_BACKENDS = ("torch", "jax")

NOT_MIXED = (
    "precision {precision} asks for {format} arithmetic, which the {backend} backend does "
    "not do; it trains in its dtype only (precision fp32)"
)
NOT_MIXED_HELP = "leave out precision (or use precision fp32), or use --backend torch or jax"
NOT_FLOAT32 = (
    "precision {precision} computes in {format} with float32 master weights, so it expects "
    "dtype float32, found dtype {dtype}"
)
NOT_FLOAT32_HELP = "use --dtype float32, or precision fp32 to train in float64"


def check_precision(precision: object, backend: str, dtype: str) -> str:
    """``precision`` when ``backend`` can train a model of ``dtype`` in it; otherwise a
    NetspecError that says what was expected and what was found."""
    chosen = check_choice(precision, "precision", PRECISIONS)
    if chosen == "fp32":
        return chosen
    if backend not in MIXED_BACKENDS:
        raise NetspecError(
            NOT_MIXED.format(precision=chosen, format=FORMATS[chosen], backend=backend),
            help=NOT_MIXED_HELP,
        )
    if dtype != "float32":
        raise NetspecError(
            NOT_FLOAT32.format(precision=chosen, format=FORMATS[chosen], dtype=dtype),
            help=NOT_FLOAT32_HELP,
        )
    return chosen
