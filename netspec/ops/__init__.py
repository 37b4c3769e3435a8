"""The framework-free facts of every op, in one registry (:mod:`netspec.ops.table`).

``OPS[kind]`` is an :class:`OpFacts`: the IR class, the signature of the language's
call, the shape rule, FLOPs, parameters and state, and the summary text of that op
kind. The tables of names (``KINDS``, ``LAYER_NAMES``, ``MERGE_KINDS``, ...) are derived
from the entries, and the entries from the IR's union of op types. Nothing here imports
a framework.
"""

from __future__ import annotations

from netspec.ops.table import (
    ACTIVATION_KINDS,
    AFFINE_KINDS,
    KEEPS_AFFINE_KINDS,
    KINDS,
    LAYER_NAMES,
    MERGE_KINDS,
    OPS,
    SIGNATURES,
    OpFacts,
    ir_kinds,
)

__all__ = [
    "ACTIVATION_KINDS",
    "AFFINE_KINDS",
    "KEEPS_AFFINE_KINDS",
    "KINDS",
    "LAYER_NAMES",
    "MERGE_KINDS",
    "OPS",
    "SIGNATURES",
    "OpFacts",
    "ir_kinds",
]
