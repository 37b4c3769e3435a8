"""The recurrent layers (rnn, lstm, gru) as ONNX's RNN, LSTM and GRU ops, one layer each.

ONNX stacks a layer's directions in one tensor (``W [D, G H, in]``, ``R [D, G H, H]``,
``B [D, 2 G H]``) and orders the gates differently from PyTorch: LSTM i, o, f, c where
PyTorch has i, f, g, o; GRU z, r, h where PyTorch has r, z, n (with
``linear_before_reset = 1``, PyTorch's n gate). The initializers keep the IR's names
and PyTorch's layouts (``lstm_1.weight_ih_l0``...); the ONNX tensors are built from
them by Slice, Concat and Unsqueeze nodes, which runtimes fold once. The sequence runs
time-major (ONNX's default layout, which every runtime has) between two transposes.
"""

from __future__ import annotations

from typing import Any

from netspec.export._onnx_graph import GraphBuilder
from netspec.ir import CheckedNode

Shape = tuple[int, ...]
Params = dict[str, str]

# PyTorch's gate blocks in the order ONNX stacks them.
GATE_ORDER = {"rnn": (0,), "lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}
ONNX_OP = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def _gates(g: GraphBuilder, array: str, kind: str, hidden: int) -> str:
    """A PyTorch-ordered ``[G H, ...]`` array with its gate blocks in ONNX's order."""
    order = GATE_ORDER[kind]
    if order == tuple(range(len(order))):
        return array
    blocks = [
        g.op(
            "Slice",
            [
                array,
                g.ints("start", [i * hidden]),
                g.ints("stop", [(i + 1) * hidden]),
                g.ints("axes", [0]),
            ],
        )
        for i in order
    ]
    return g.op("Concat", blocks, axis=0)


def _stacked(g: GraphBuilder, arrays: list[str]) -> str:
    """``[D, ...]``: one array per direction, stacked on a new first axis."""
    expanded = [g.op("Unsqueeze", [a, g.ints("axes", [0])]) for a in arrays]
    return expanded[0] if len(expanded) == 1 else g.op("Concat", expanded, axis=0)


def recurrent(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    kind, hidden = op.kind, op.hidden
    directions = ("", "_reverse") if op.bidirectional else ("",)
    attributes: dict[str, Any] = {
        "hidden_size": hidden,
        "direction": "bidirectional" if op.bidirectional else "forward",
    }
    if kind == "gru":
        attributes["linear_before_reset"] = 1
    if kind == "rnn":
        attributes["activations"] = [op.nonlinearity.capitalize()] * len(directions)
    # [N, T, F] -> [T, N, F]: ONNX's time-major layout.
    sequence = g.op("Transpose", [x[0]], perm=[1, 0, 2])
    final = ""
    for layer in range(op.layers):
        at = [f"l{layer}{suffix}" for suffix in directions]
        w = _stacked(g, [_gates(g, p[f"weight_ih_{a}"], kind, hidden) for a in at])
        r = _stacked(g, [_gates(g, p[f"weight_hh_{a}"], kind, hidden) for a in at])
        inputs = [sequence, w, r]
        if op.bias:
            both = [
                g.op(
                    "Concat",
                    [
                        _gates(g, p[f"bias_ih_{a}"], kind, hidden),
                        _gates(g, p[f"bias_hh_{a}"], kind, hidden),
                    ],
                    axis=0,
                )
                for a in at
            ]
            inputs.append(_stacked(g, both))
        y = g.fresh(f"{kind}_l{layer}_y")
        y_h = g.fresh(f"{kind}_l{layer}_y_h")
        g.node(ONNX_OP[kind], inputs, [y, y_h], **attributes)
        # Y [T, D, N, H] -> [T, N, D H]: each step's directions side by side.
        steps = g.op("Transpose", [y], perm=[0, 2, 1, 3])
        sequence = g.op("Reshape", [steps, g.ints("shape", [0, 0, hidden * len(directions)])])
        final = y_h
    if op.return_sequences:
        g.op("Transpose", [sequence], node.name, perm=[1, 0, 2])
        return
    # Y_h [D, N, H] -> [N, D H]: the forward direction's last step, then the backward's.
    last = g.op("Transpose", [final], perm=[1, 0, 2])
    g.op("Reshape", [last, g.ints("shape", [0, hidden * len(directions)])], node.name)
