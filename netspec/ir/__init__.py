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
)
from netspec.ir.init import INIT_SCHEMES, Init, Regularize
from netspec.ir.ops import CheckedOp, Op
from netspec.ir.train import TrainSpec

__all__ = [
    "INIT_SCHEMES",
    "CheckedModel",
    "CheckedNode",
    "CheckedOp",
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
]
