"""The sequence ops in NumPy, forward and backward: multi_head_attention and
positional_embedding, on batches [N, T, D].

Part of :mod:`netspec.backends.numpy.nn` (whose calling convention they follow and whose
``LOWERINGS`` takes :data:`ATTENTION` in). Like every backend function they are copied as
they are into generated NumPy modules, so they read only ``np``, ``math`` and each other.

Attention is torch.nn.MultiheadAttention's with query, key and value all the input:
``q, k, v = split(x W_in^T + b_in)``, per head ``a = softmax(q k^T / sqrt(D / heads))``
(later steps masked out when causal), ``a`` dropped out in training, ``o = a v``, and the
heads joined and projected: ``y = o W_out^T + b_out``. The backward runs the same steps
in reverse; the softmax's is ``ds = a * (da - sum(da * a))`` over each row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netspec.ir import CheckedNode
from netspec.lowering import Lowering, no_static


def split_heads(z: np.ndarray, heads: int) -> np.ndarray:
    """[N, T, D] -> [N, heads, T, D / heads]."""
    n, t, d = z.shape
    return z.reshape(n, t, heads, d // heads).transpose(0, 2, 1, 3)


def join_heads(z: np.ndarray) -> np.ndarray:
    """[N, heads, T, D / heads] -> [N, T, D]."""
    n, heads, t, dh = z.shape
    return z.transpose(0, 2, 1, 3).reshape(n, t, heads * dh)


def multi_head_attention(
    x: np.ndarray,
    in_proj_weight: np.ndarray,
    in_proj_bias: np.ndarray | None = None,
    out_proj_weight: np.ndarray | None = None,
    out_proj_bias: np.ndarray | None = None,
    *,
    heads: int,
    causal: bool,
    p: float,
    train: bool,
    rng: Any,
) -> tuple[np.ndarray, Any]:
    """Self-attention of each [T, D] sequence of the batch ``x`` [N, T, D]. Dropout keeps
    an attention weight when a float32 uniform draw u in [0, 1) has u >= ``p``
    (the dropout op's rule), from the model's generator, in training only."""
    assert out_proj_weight is not None
    width = x.shape[-1]
    qkv = x @ in_proj_weight.T
    if in_proj_bias is not None:
        qkv += in_proj_bias
    q, k, v = (split_heads(part, heads) for part in np.split(qkv, 3, axis=-1))
    scale = 1.0 / math.sqrt(width // heads)
    scores = (q @ k.transpose(0, 1, 3, 2)) * scale
    if causal:
        steps = x.shape[1]
        scores = np.where(np.triu(np.ones((steps, steps), dtype=bool), 1), -np.inf, scores)
    scores -= scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    keep = None
    used = weights
    if train and p > 0.0:
        keep = rng.random(weights.shape, dtype=np.float32) >= np.float32(p)
        keep = keep.astype(x.dtype) * (1.0 / (1.0 - p))
        used = weights * keep
    joined = join_heads(used @ v)
    y = joined @ out_proj_weight.T
    if out_proj_bias is not None:
        y += out_proj_bias
    return y, (x, q, k, v, weights, keep, joined, heads, scale)


def multi_head_attention_backward(
    dy: np.ndarray,
    cache: Any,
    in_proj_weight: np.ndarray,
    in_proj_bias: np.ndarray | None = None,
    out_proj_weight: np.ndarray | None = None,
    out_proj_bias: np.ndarray | None = None,
    need_dx: bool = True,
) -> tuple:
    """(dx, d in_proj_weight[, d in_proj_bias], d out_proj_weight[, d out_proj_bias]);
    dx None unless ``need_dx``."""
    assert out_proj_weight is not None
    x, q, k, v, weights, keep, joined, heads, scale = cache
    width = x.shape[-1]
    rows = dy.reshape(-1, width)
    d_out_weight = rows.T @ joined.reshape(-1, width)
    d_out_bias = rows.sum(axis=0) if out_proj_bias is not None else None
    d_heads = split_heads(dy @ out_proj_weight, heads)
    used = weights if keep is None else weights * keep
    dv = used.transpose(0, 1, 3, 2) @ d_heads
    d_used = d_heads @ v.transpose(0, 1, 3, 2)
    d_weights = d_used if keep is None else d_used * keep
    # Masked scores have weight 0, so their gradient is 0 too.
    d_scores = weights * (d_weights - np.sum(d_weights * weights, axis=-1, keepdims=True))
    d_scores *= scale
    dq = d_scores @ k
    dk = d_scores.transpose(0, 1, 3, 2) @ q
    d_qkv = np.concatenate([join_heads(dq), join_heads(dk), join_heads(dv)], axis=-1)
    flat = d_qkv.reshape(-1, 3 * width)
    d_in_weight = flat.T @ x.reshape(-1, width)
    dx = d_qkv @ in_proj_weight if need_dx else None
    d_in_bias = () if in_proj_bias is None else (flat.sum(axis=0),)
    d_out = (d_out_weight,) if d_out_bias is None else (d_out_weight, d_out_bias)
    return (dx, d_in_weight, *d_in_bias, *d_out)


def positional_embedding(x: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, Any]:
    """x + weight: the [T, D] table added to every sample."""
    return x + weight, None


def positional_embedding_backward(
    dy: np.ndarray, cache: Any, weight: np.ndarray, need_dx: bool = True
) -> tuple:
    """(dx, dweight): dy itself, and dy summed over the batch."""
    return (dy if need_dx else None), dy.sum(axis=0)


# -- the table --------------------------------------------------------------------------------


def _attention(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    # The probability goes as ``p``, the dropout op's word: a parameter named ``dropout``
    # would read as a call of that function where generated code carries functions.
    return {"heads": op.heads, "causal": op.causal, "p": op.dropout}


ATTENTION: dict[str, Lowering] = {
    "multi_head_attention": Lowering(
        fn=multi_head_attention, static=_attention, backward=multi_head_attention_backward
    ),
    "positional_embedding": Lowering(
        fn=positional_embedding, static=no_static, backward=positional_embedding_backward
    ),
}
