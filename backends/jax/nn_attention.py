"""The sequence ops in JAX, on [N, T, D]: multi_head_attention and positional_embedding.

Self-contained, as every function of :mod:`netspec.backends.jax.nn`, which takes
these in: each reads only ``math``, ``jax``, ``jnp``, ``lax`` and the other functions read
with it by ``netspec.backends.jax.lowerings.definitions``, so the generator copies its source.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax


def multi_head_attention(
    x: jax.Array,
    in_proj_weight: jax.Array,
    in_proj_bias: jax.Array | None = None,
    out_proj_weight: jax.Array | None = None,
    out_proj_bias: jax.Array | None = None,
    *,
    heads: int,
    causal: bool,
    p: float,
    train: bool,
    rng: jax.Array | None,
    index: int,
) -> jax.Array:
    """Self-attention of each [T, D] sequence of ``x``, as torch.nn.MultiheadAttention with
    batch_first=True and query, key and value all ``x``. Dropout (probability ``p``) on
    the attention weights in training follows the dropout op's rule (a float32 uniform
    u >= p is kept, the node's position folded into ``rng``). Matrix products at full
    precision, as dense's."""
    n, steps, width = x.shape
    high = lax.Precision.HIGHEST
    qkv = jnp.matmul(x, in_proj_weight.T, precision=high)
    if in_proj_bias is not None:
        qkv = qkv + in_proj_bias
    # Split, then each third to [N, heads, T, d]: XLA's CPU code for this is faster than
    # for one five-axis transpose of the whole projection.
    q, k, v = (
        part.reshape(n, steps, heads, width // heads).transpose(0, 2, 1, 3)
        for part in jnp.split(qkv, 3, axis=-1)
    )
    scores = jnp.matmul(q, k.transpose(0, 1, 3, 2), precision=high) / math.sqrt(width // heads)
    if causal:
        future = jnp.triu(jnp.ones((steps, steps), dtype=bool), 1)
        scores = jnp.where(future, -jnp.inf, scores)
    weights = jax.nn.softmax(scores, axis=-1)
    if train and p > 0.0:
        if rng is None:
            raise ValueError(
                "attention dropout in training mode needs a random key: "
                "apply(..., rng=jax.random.key(0))"
            )
        draw = jax.random.uniform(jax.random.fold_in(rng, index), weights.shape, jnp.float32)
        weights = weights * ((draw >= p).astype(x.dtype) / (1.0 - p))
    out = jnp.matmul(weights, v, precision=high)
    joined = out.transpose(0, 2, 1, 3).reshape(n, steps, width)
    y = jnp.matmul(joined, out_proj_weight.T, precision=high)  # type: ignore[union-attr]
    return y if out_proj_bias is None else y + out_proj_bias


def positional_embedding(x: jax.Array, weight: jax.Array) -> jax.Array:
    """``x`` plus the learned [T, D] table, for every sample."""
    return x + weight
