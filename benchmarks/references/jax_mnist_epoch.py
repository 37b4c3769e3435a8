"""One epoch of the MNIST MLP (specs/mlp.net) written by hand with JAX, as a script.

The JAX twin of :mod:`benchmarks.references.torch_mnist_epoch`: the same MNIST files,
10% held out for validation, batches of 128 shuffled every epoch (the last one short),
SGD with momentum 0.9 at lr 0.1 in a jitted update, the test set evaluated at the end
and the weights saved (``np.savez``). Parameters are a dictionary of arrays, the update
a ``jax.value_and_grad`` inside ``jax.jit``, as a user without an optimizer library
would write it.

Run as its own process by the ``process`` benchmark group::

    python benchmarks/references/jax_mnist_epoch.py DATA_DIR OUT_DIR
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

BATCH = 128
VALIDATION = 0.1
LR, MOMENTUM = 0.1, 0.9


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as uint8: images [N, 28, 28] or labels [N]."""
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(folder / f"{name}-images-idx3-ubyte.gz")
    labels = read_idx(folder / f"{name}-labels-idx1-ubyte.gz")
    return images.reshape(len(images), -1).astype(np.float32) / 255, labels.astype(np.int32)


def init(key: jax.Array) -> dict[str, jax.Array]:
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (784, 256)) * jnp.sqrt(2 / 784),
        "b1": jnp.zeros(256),
        "w2": jax.random.normal(k2, (256, 10)) * jnp.sqrt(1 / 256),
        "b2": jnp.zeros(10),
    }


def forward(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    return jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def loss_fn(p: dict[str, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    logits = forward(p, x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))


@jax.jit
def update(p, velocity, x, y):  # type: ignore[no-untyped-def]
    loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
    velocity = jax.tree.map(lambda v, g: MOMENTUM * v + g, velocity, grads)
    p = jax.tree.map(lambda w, v: w - LR * v, p, velocity)
    return p, velocity, loss


@jax.jit
def evaluate(p, x, y):  # type: ignore[no-untyped-def]
    logits = forward(p, x)
    return loss_fn(p, x, y), jnp.mean(jnp.argmax(logits, 1) == y)


def main(data_dir: str, out_dir: str) -> None:
    rng = np.random.default_rng(0)
    folder = Path(data_dir) / "mnist"
    x, y = load(folder, "train")
    x_test, y_test = load(folder, "t10k")
    order = rng.permutation(len(x))
    held = int(len(x) * VALIDATION)
    x_train, y_train = x[order[held:]], y[order[held:]]

    params = init(jax.random.key(0))
    velocity = jax.tree.map(jnp.zeros_like, params)
    shuffled = rng.permutation(len(x_train))
    for start in range(0, len(x_train), BATCH):
        batch = shuffled[start : start + BATCH]
        params, velocity, _ = update(params, velocity, x_train[batch], y_train[batch])

    test_loss, accuracy = evaluate(params, x_test, y_test)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "weights.npz", **{k: np.asarray(v) for k, v in params.items()})
    print(f"test loss {float(test_loss):.4f}, accuracy {float(accuracy):.2%}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
