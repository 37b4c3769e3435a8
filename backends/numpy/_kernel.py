"""The shape of one compiled op: a forward that returns a cache, a backward beside it.

Every op of the IR lowers to one :class:`Kernel`. The graph runner in ``_model.py`` calls
``forward`` in topological order and ``backward`` in reverse; kernels never see the
graph, only their own inputs, parameters and state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netspec.ir import CheckedNode

Params = dict[str, np.ndarray]


@dataclass
class Context:
    """What one pass through the graph shares with every kernel."""

    train: bool
    rng: np.random.Generator
    # State arrays by name: batchnorm running statistics (updated in place in training)
    # and standardize statistics (read only).
    state: Params = field(default_factory=dict)


class Kernel(ABC):
    """Forward and backward of one node.

    ``in_shapes`` are the per-sample input shapes and ``out_shape`` the per-sample output
    shape, all from the checked IR; ``names`` maps an attribute (``weight``, ``bias``,
    ``running_mean``, ...) to the full parameter or state name of this node.
    """

    def __init__(
        self,
        node: CheckedNode,
        in_shapes: tuple[tuple[int, ...], ...],
        names: dict[str, str],
    ) -> None:
        self.node = node
        self.in_shapes = in_shapes
        self.out_shape = node.output.shape
        self.names = names

    @abstractmethod
    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        """The node's output for a batch, and what ``backward`` needs (the cache)."""

    @abstractmethod
    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        """Gradients for the inputs (None where ``need`` is False); parameter
        gradients are written into ``grads`` under their full names."""


def batch_axis(axis: int) -> int:
    """A per-sample axis (0 = channels / features, negative from the end) on a batch."""
    return axis + 1 if axis >= 0 else axis


def channel_shape(rank: int) -> tuple[int, ...]:
    """Broadcast shape of a per-channel vector against a batch of per-sample ``rank``."""
    return (1, -1) + (1,) * (rank - 1)
