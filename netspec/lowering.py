"""The lowering contract shared by every framework: how an op kind becomes a function call.

Each framework folder (``backends/numpy``, ``backends/torch``, ``backends/jax``) has a
module ``nn.py`` holding the only place each op's arithmetic is written for that framework,
as plain top-level functions, and a table ``LOWERINGS: dict[str, Lowering]`` keyed by the
IR op kind (``op.kind``). Two readers use the same table:

- the in-memory backend interprets it, node by node (the model is torch.fx's Interpreter):
  ``fn(*inputs, **params_of_node, **static(node))``, plus whatever the framework's calling
  convention adds (state, a training flag, a random key), documented in that ``nn.py``;
- the code generator prints the same call as one line of the generated file,
  ``y = fn(x, weight=p["conv.weight"], stride=(1, 1))``, with ``repr`` of each static
  value, and either carries the source of ``fn`` (``inspect.getsource``; the function must
  be self-contained, using only imports the generated file also has) or, when
  ``framework_name`` is set, names the framework's own callable instead.

So adding an op means one entry per framework table, and neither the backends' runtime nor
the code generators hold a per-op branch. This module imports no framework, so ``check``
and ``summary`` stay free of torch and jax.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netspec.ir.graph import CheckedNode


@dataclass(frozen=True)
class Lowering:
    """How one op kind runs on one framework.

    ``fn`` is the forward function (the only place the op's arithmetic is written for that
    framework). ``static`` maps a checked node to the keyword arguments fixed by the spec:
    ints, floats, bools, strings and tuples of them, all of which ``repr`` back to Python
    source, so the code generator can print them. ``backward`` is the gradient function,
    for frameworks without automatic differentiation (NumPy). ``framework_name`` is the
    dotted name of ``fn`` in the framework (``"torch.nn.functional.relu"``) when ``fn`` is
    the framework's own callable: generated code then names it rather than carrying source.
    """

    fn: Callable[..., Any]
    static: Callable[[CheckedNode], dict[str, Any]]
    backward: Callable[..., Any] | None = None
    framework_name: str | None = None


def no_static(node: CheckedNode) -> dict[str, Any]:
    """The ``static`` of an op that takes no keyword arguments from its node."""
    return {}


@dataclass(frozen=True)
class Definition:
    """A top-level function or class of a framework's ``nn.py``, as its source says: the
    text, the other top-level definitions it names, its parameters, the defaults of its
    keyword-only ones and its line."""

    source: str
    uses: tuple[str, ...]
    parameters: frozenset[str]
    defaults: dict[str, Any]
    line: int


@functools.cache
def definitions(*paths: Path) -> dict[str, Definition]:
    """Every top-level definition of the files ``paths`` (a framework's ``nn.py`` and the
    modules it takes functions from), read without importing them (so the code generators
    import no framework). A definition's ``uses`` may name one of another of the files;
    its ``line`` is its line in its own file."""
    top: dict[str, tuple[str, ast.FunctionDef | ast.ClassDef]] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for node in ast.parse(text).body:
            if not isinstance(node, ast.FunctionDef | ast.ClassDef):
                continue
            if node.name in top:
                # A generated module carries definitions by name: two of one name clash.
                raise ValueError(f"{node.name} is defined twice among {[p.name for p in paths]}")
            top[node.name] = (text, node)
    found: dict[str, Definition] = {}
    for name, (text, node) in top.items():
        uses = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in top} - {name}
        parameters: frozenset[str] = frozenset()
        defaults: dict[str, Any] = {}
        if isinstance(node, ast.FunctionDef):
            args = node.args
            parameters = frozenset(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))
            defaults = {
                a.arg: ast.literal_eval(d)
                for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                if d is not None
            }
        source = ast.get_source_segment(text, node) or ""
        found[name] = Definition(source, tuple(sorted(uses)), parameters, defaults, node.lineno)
    return found


def batch_axis(keyword: str) -> Callable[[CheckedNode], dict[str, Any]]:
    """The ``static`` of an op with a per-sample axis (softmax, log_softmax, concat): that
    axis of the batched tensor, under the framework's ``keyword`` (``axis``, ``dim``).

    A checked axis counts from 0 per sample, so the batch axis in front adds one.
    """

    def static(node: CheckedNode) -> dict[str, Any]:
        return {keyword: node.op.axis + 1}  # type: ignore[union-attr]

    return static


def last_axes(node: CheckedNode, count: int) -> tuple[int, ...]:
    """The batch axes of the last ``count`` per-sample axes of the node's output (whose
    shape its normalising input shares): layer_norm's axes, batch axis first."""
    rank = len(node.output.shape)
    return tuple(range(rank - count + 1, rank + 1))


def recurrent_static(node: CheckedNode) -> dict[str, Any]:
    """The static arguments of a recurrent layer (rnn, lstm, gru) on every framework:
    torch's mode (``rnn_tanh``, ``rnn_relu``, ``lstm``, ``gru``) and the layer's settings;
    the hidden size and the bias are read off the weights."""
    op: Any = node.op
    return {
        "mode": f"rnn_{op.nonlinearity}" if op.kind == "rnn" else op.kind,
        "layers": op.layers,
        "bidirectional": op.bidirectional,
        # Not "dropout": the frameworks' nn.py files have a function of that name.
        "layer_dropout": op.dropout,
        "return_sequences": op.return_sequences,
    }
