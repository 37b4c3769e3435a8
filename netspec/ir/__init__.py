"""The IR: the typed contract between the front end and every backend."""

from netspec.ir.graph import (
    CheckedModel,
    CheckedNode,
    DType,
    Input,
    Model,
    Node,
    ParamSpec,
    Program,
    Span,
    StateSpec,
    TensorType,
    explicit_pads,
)
from netspec.ir.init import INIT_SCHEMES, Init, Regularize
from netspec.ir.ops import ACTIVATION_KINDS, AFFINE_KINDS, MERGE_KINDS, Op
from netspec.ir.train import TrainSpec

__all__ = [
    "ACTIVATION_KINDS",
    "AFFINE_KINDS",
    "INIT_SCHEMES",
    "MERGE_KINDS",
    "CheckedModel",
    "CheckedNode",
    "DType",
    "Init",
    "Input",
    "Model",
    "Node",
    "Op",
    "ParamSpec",
    "Program",
    "Regularize",
    "Span",
    "StateSpec",
    "TensorType",
    "TrainSpec",
    "explicit_pads",
]
