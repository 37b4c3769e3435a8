"""The entry of an ONNX lowering table and the opsets the exporter writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Every lowering writes valid ONNX from opset 13 (Split, Squeeze and ReduceSum took their
# axes as inputs there; Softmax became per-axis); some ops need a newer one.
MIN_OPSET = 13
# The default: new enough for LayerNormalization (17) and Mish (18), and the newest
# opset at which onnxruntime (1.32) still runs the activations in float64 (their
# opset-22 versions are float-only there).
DEFAULT_OPSET = 18


@dataclass(frozen=True)
class OnnxLowering:
    """How one op kind becomes ONNX nodes: ``fn(g, node, inputs, shapes, params)`` (see
    ``netspec.export._onnx_ops``), valid from opset ``minimum``."""

    fn: Callable[..., Any]
    minimum: int = MIN_OPSET
