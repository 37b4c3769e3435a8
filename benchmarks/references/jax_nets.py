"""LeNet-5, the MLP 784-256-10 and a one-layer attention net written by hand in JAX:
pure functions over a parameter dictionary (netspec's names and layouts, so netspec's
initial weights load as they are), ``jax.value_and_grad`` and a jitted SGD update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Params = dict[str, jax.Array]


def lenet5(p: Params, x: jax.Array) -> jax.Array:
    def conv(x: jax.Array, w: jax.Array, b: jax.Array, pad: int) -> jax.Array:
        y = lax.conv_general_dilated(
            x, w, (1, 1), [(pad, pad), (pad, pad)], dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        return y + b[None, :, None, None]

    def pool(x: jax.Array) -> jax.Array:
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    h = pool(jax.nn.relu(conv(x, p["conv2d_1.weight"], p["conv2d_1.bias"], 2)))
    h = pool(jax.nn.relu(conv(h, p["conv2d_2.weight"], p["conv2d_2.bias"], 0)))
    h = h.reshape(h.shape[0], -1)
    h = jax.nn.relu(h @ p["dense_1.weight"].T + p["dense_1.bias"])
    h = jax.nn.relu(h @ p["dense_2.weight"].T + p["dense_2.bias"])
    return h @ p["dense_3.weight"].T + p["dense_3.bias"]


def mlp(p: Params, x: jax.Array) -> jax.Array:
    h = jax.nn.relu(x @ p["dense_1.weight"].T + p["dense_1.bias"])
    return h @ p["dense_2.weight"].T + p["dense_2.bias"]


def _layer_norm(p: Params, name: str, x: jax.Array) -> jax.Array:
    centred = x - x.mean(axis=-1, keepdims=True)
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred * lax.rsqrt(var + 1e-5) * p[f"{name}.weight"] + p[f"{name}.bias"]


def attention(p: Params, x: jax.Array, heads: int = 4) -> jax.Array:
    """benchmarks/attention.net: embedding, learned positions, one pre-norm encoder
    layer (self-attention written out: projections, softmax(q k^T / sqrt(d)) v), the
    mean over the steps, a linear head."""
    layer = "encoder_layer_1"
    attn = f"{layer}.multi_head_attention_1"
    h = x @ p["dense_1.weight"].T + p["dense_1.bias"] + p["positional_embedding_1.weight"]
    n, steps, width = h.shape
    normed = _layer_norm(p, f"{layer}.layer_norm_1", h)
    qkv = normed @ p[f"{attn}.in_proj_weight"].T + p[f"{attn}.in_proj_bias"]
    q, k, v = (
        part.reshape(n, steps, heads, width // heads).transpose(0, 2, 1, 3)
        for part in jnp.split(qkv, 3, axis=-1)
    )
    weights = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(width // heads), axis=-1)
    joined = (weights @ v).transpose(0, 2, 1, 3).reshape(n, steps, width)
    h = h + joined @ p[f"{attn}.out_proj.weight"].T + p[f"{attn}.out_proj.bias"]
    f = _layer_norm(p, f"{layer}.layer_norm_2", h)
    f = jax.nn.gelu(f @ p[f"{layer}.dense_1.weight"].T + p[f"{layer}.dense_1.bias"], False)
    h = h + f @ p[f"{layer}.dense_2.weight"].T + p[f"{layer}.dense_2.bias"]
    return h.mean(axis=1) @ p["dense_2.weight"].T + p["dense_2.bias"]


BUILDERS: dict[str, Callable[[Params, jax.Array], jax.Array]] = {
    "lenet5": lenet5,
    "mlp": mlp,
    "attention": attention,
}


def make_train_step(net: Callable[[Params, jax.Array], jax.Array]) -> Callable[..., Any]:
    """``step(params, x, y, lr) -> (new params, loss)``, one jitted program."""

    def loss_fn(p: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        logp = jax.nn.log_softmax(net(p, x), axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def step(p: Params, x: jax.Array, y: jax.Array, lr: float) -> tuple[Params, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        return jax.tree.map(lambda w, g: w - lr * g, p, grads), loss

    return step


class TrainStep:
    """Holds the parameters between steps; NumPy batches go straight into the jitted step."""

    def __init__(self, name: str, params: dict[str, np.ndarray], device: Any = None) -> None:
        self.device = device or jax.devices("cpu")[0]
        self.params = jax.device_put({k: jnp.asarray(v) for k, v in params.items()}, self.device)
        self._step = make_train_step(BUILDERS[name])
        self.loss: jax.Array | None = None

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        self.params, self.loss = self._step(self.params, x, y.astype(np.int32, copy=False), lr)

    def sync(self) -> None:
        jax.block_until_ready((self.params, self.loss))


def make_predict(name: str) -> Callable[[Params, Any], jax.Array]:
    return jax.jit(BUILDERS[name])
