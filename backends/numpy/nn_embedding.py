"""Embedding in NumPy, forward and backward: rows of a table picked by integer indices.

Part of :mod:`netspec.backends.numpy.nn` (whose calling convention it follows and whose
``LOWERINGS`` takes :data:`EMBEDDINGS` in). As torch.nn.Embedding: ``weight [num, dim]``,
an index array of any shape gains a last axis of ``dim``, and the ``padding_idx`` row gets
no gradient. Indices arrive checked (netspec._contract: every index in [0, num)). Copied
as it is into generated NumPy modules, so it reads only ``np``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netspec.ir import CheckedNode
from netspec.lowering import Lowering


def embedding(
    x: np.ndarray, weight: np.ndarray, *, padding_idx: int | None = None
) -> tuple[np.ndarray, Any]:
    """``weight[x]``: one row of the table per index."""
    return weight[x], x


def embedding_backward(
    dy: np.ndarray, x: np.ndarray, weight: np.ndarray, *, padding_idx: int | None = None
) -> tuple[None, np.ndarray]:
    """(None, dweight): indices have no gradient; each row of the table sums the gradients
    of the places that picked it (a scatter-add), and the padding row gets none."""
    dim = weight.shape[1]
    dweight = np.zeros_like(weight)
    np.add.at(dweight, x.reshape(-1), dy.reshape(-1, dim))
    if padding_idx is not None:
        dweight[padding_idx] = 0.0
    return None, dweight


def _padding(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {"padding_idx": op.padding_idx}


EMBEDDINGS: dict[str, Lowering] = {
    "embedding": Lowering(fn=embedding, static=_padding, backward=embedding_backward),
}
