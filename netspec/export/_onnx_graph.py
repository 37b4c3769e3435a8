"""The graph an ONNX export builds: nodes, initializers and names, made with onnx.helper.

A lowering (``netspec.export._onnx_ops``) sees a :class:`GraphBuilder` and adds the
nodes of one IR node through it. The builder gives every helper tensor and node a name
derived from the IR node's (``conv2d_1/pads``), stamps each node with the spec line of
the IR node being lowered (its ``doc_string``), and turns constants into initializers of
the model's dtype, so that no lowering handles names, dtypes or source lines itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from netspec.ir import CheckedNode

ONNX_DTYPES = {
    "float32": onnx.TensorProto.FLOAT,
    "float64": onnx.TensorProto.DOUBLE,
    "int32": onnx.TensorProto.INT32,
    "int64": onnx.TensorProto.INT64,
}


class GraphBuilder:
    """The nodes and initializers of one ONNX graph, in a fixed float ``dtype`` at a fixed
    ``opset``. ``tensor(name)`` is the ONNX tensor that holds the IR tensor ``name``."""

    def __init__(self, dtype: str, opset: int) -> None:
        self.dtype = np.dtype(dtype)
        self.onnx_dtype = ONNX_DTYPES[dtype]
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        # IR names whose value is another tensor (dropout and identity add no node).
        self._aliases: dict[str, str] = {}
        self._scope = ""
        self._doc = ""

    # -- names and the IR node being lowered -------------------------------------------------

    def reserve(self, name: str) -> str:
        """Claim ``name`` (an IR name: the input, a node, a parameter) for one tensor."""
        self._names.add(name)
        return name

    def fresh(self, hint: str) -> str:
        """A new tensor or node name, ``<ir node>/<hint>``, never one used before."""
        base = f"{self._scope}/{hint}" if self._scope else hint
        name, count = base, 1
        while name in self._names:
            count += 1
            name = f"{base}_{count}"
        self._names.add(name)
        return name

    def enter(self, node: CheckedNode, doc: str) -> None:
        """Lower ``node`` next: helper names start with its name, nodes carry ``doc``."""
        self._scope = node.name
        self._doc = doc
        self._names.add(node.name)

    def alias(self, name: str, tensor: str) -> None:
        """The IR tensor ``name`` is ``tensor`` (an op that is the identity at inference)."""
        self._aliases[name] = tensor

    def tensor(self, name: str) -> str:
        """The ONNX tensor holding the IR tensor ``name``."""
        return self._aliases.get(name, name)

    # -- nodes and constants -----------------------------------------------------------------

    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        output: str | None = None,
        **attributes: Any,
    ) -> str:
        """Add one node of ``op_type``; its output is ``output`` (an IR node's name, for the
        node that gives the IR node's value) or a fresh helper name. Returns the output."""
        if output is None:
            output = self.fresh(op_type.lower())
            name = output
        else:
            name = output
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), [output], name=name, doc_string=self._doc, **attributes
            )
        )
        return output

    def node(
        self, op_type: str, inputs: Sequence[str], outputs: Sequence[str], **attributes: Any
    ) -> None:
        """Add one node of several outputs (named by the caller, with :meth:`fresh`)."""
        self.nodes.append(
            helper.make_node(
                op_type,
                list(inputs),
                list(outputs),
                name=self.fresh(op_type.lower()),
                doc_string=self._doc,
                **attributes,
            )
        )

    def const(self, hint: str, value: Any, dtype: Any = None) -> str:
        """A constant as an initializer: floats in the model's dtype unless ``dtype``
        says otherwise (``np.int64`` for shapes, axes and pads)."""
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(array, name=name))
        return name

    def scalar(self, hint: str, value: float) -> str:
        """A 0-d float constant of the model's dtype."""
        return self.const(hint, np.asarray(value, dtype=self.dtype))

    def ints(self, hint: str, values: Sequence[int]) -> str:
        """A 1-d int64 constant (shapes, axes, pads, slice bounds)."""
        return self.const(hint, np.asarray(list(values), dtype=np.int64), np.int64)

    def weight(self, name: str, array: np.ndarray) -> str:
        """A parameter or state array as an initializer under its IR name."""
        self.initializers.append(
            numpy_helper.from_array(np.ascontiguousarray(array, dtype=self.dtype), name=name)
        )
        return self.reserve(name)

    def exact_attribute(self, value: float) -> bool:
        """Whether a float attribute (ONNX stores them as float32) holds ``value`` exactly
        in the model's dtype: always in float32, in float64 only for float32 values."""
        return self.dtype == np.float32 or float(np.float32(value)) == value

    def reduce_mean(self, x: str, axes: Sequence[int], *, keepdims: bool) -> str:
        """ReduceMean over ``axes``: an input from opset 18, an attribute before."""
        if self.opset >= 18:
            return self.op("ReduceMean", [x, self.ints("axes", axes)], keepdims=int(keepdims))
        return self.op("ReduceMean", [x], axes=list(axes), keepdims=int(keepdims))
