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

from collections.abc import Callable
from dataclasses import dataclass
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
