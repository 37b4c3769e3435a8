"""Mixed precision for the fused step: bfloat16 / float16 compute, float32 master weights.

Inside the differentiated loss the parameters and the floating-point inputs are cast to
the compute format, so the forward and backward run in it; the output is cast back to
float32 before the loss, which (like torch.autocast's float32 list: log_softmax,
cross-entropy, mse) is computed in float32. The casts sit inside ``value_and_grad``, so
the gradients arrive in float32 (the transpose of a cast is the cast back) and the
optimizer updates float32 weights. Running statistics stay float32: batch norm mixes the
float32 running averages with bfloat16 batch statistics by JAX's promotion, and the new
state is cast back to each array's own dtype. Integer inputs (indices) are left alone.

No loss scaling: float16 gradients that underflow are lost (docs/training.md says when
to prefer bf16, which has float32's exponent range).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

COMPUTE = {"bf16": jnp.bfloat16, "fp16": jnp.float16}


class Casts:
    """The casts of one precision; fp32 makes every one the identity."""

    def __init__(self, precision: str) -> None:
        self.dtype = COMPUTE.get(precision)

    def inputs(self, tree: Any) -> Any:
        """Parameters or inputs in the compute format (integer arrays unchanged)."""
        if self.dtype is None:
            return tree
        return jax.tree.map(self._down, tree)

    def output(self, value: jax.Array) -> jax.Array:
        """The model's output back in float32 (the master weights' dtype), for the loss."""
        return value if self.dtype is None else value.astype(jnp.float32)

    def state(self, new: Any, old: Any) -> Any:
        """Updated running statistics in the dtypes they had before the step."""
        if self.dtype is None:
            return new
        return jax.tree.map(lambda n, o: n.astype(o.dtype), new, old)

    def _down(self, array: jax.Array) -> jax.Array:
        if jnp.issubdtype(array.dtype, jnp.floating):
            return array.astype(self.dtype)
        return array
