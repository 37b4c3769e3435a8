"""The row-reading LSTM classifier (``specs/lstm_row_mnist.net``: 28 steps of 28 features,
LSTM(128), dense(10)) written by hand three ways, each starting from netspec's weights:

- PyTorch: ``torch.nn.LSTM(batch_first=True)`` and ``nn.Linear``, ``torch.optim.SGD``;
- JAX: the cell as a ``lax.scan`` body over inputs projected in one product,
  ``jax.value_and_grad`` and a jitted SGD update;
- NumPy: the textbook's per-time-step LSTM (CS231n's ``lstm_step_forward`` /
  ``lstm_step_backward``: weights [in, 4H], one product of the step's input and one of
  the state per step, the weight gradients summed step by step), softmax with loss and
  SGD; in float64, NumPy's default and the textbook's (as the train-step group's
  textbook networks), or in float32 like the netspec model it is timed against.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STEPS, FEATURES, HIDDEN, CLASSES = 28, 28, 128, 10


# -- PyTorch -------------------------------------------------------------------------------


def torch_step(params: dict[str, np.ndarray], lr: float) -> tuple[Any, Any, Any]:
    """(step(x, y), sync(), predict(x)) of nn.LSTM + nn.Linear with netspec's weights."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(FEATURES, HIDDEN, batch_first=True)
            self.out = nn.Linear(HIDDEN, CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, (h_n, _) = self.lstm(x.reshape(x.shape[0], STEPS, FEATURES))
            return self.out(h_n[-1])

    net = Net()
    state = {"lstm." + k.partition(".")[2]: v for k, v in params.items() if k.startswith("lstm")}
    state |= {"out." + k.partition(".")[2]: v for k, v in params.items() if k.startswith("dense")}
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    last: list[Any] = [None]

    def step(x: np.ndarray, y: np.ndarray) -> None:
        optimizer.zero_grad()
        loss = F.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        last[0] = loss

    def sync() -> object:
        return None if last[0] is None else float(last[0].detach())

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()

    return step, sync, predict


# -- JAX -----------------------------------------------------------------------------------


def jax_step(params: dict[str, np.ndarray], lr: float) -> tuple[Any, Any, Any]:
    """(step(x, y), sync(), predict(x)) of a lax.scan LSTM with netspec's weights."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def net(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        seq = jnp.swapaxes(x.reshape(x.shape[0], STEPS, FEATURES), 0, 1)
        xp = seq @ p["lstm_1.weight_ih_l0"].T + p["lstm_1.bias_ih_l0"] + p["lstm_1.bias_hh_l0"]
        w_hh = p["lstm_1.weight_hh_l0"]

        def cell(carry: tuple, xp_t: jax.Array) -> tuple:
            h, c = carry
            g = xp_t + h @ w_hh.T
            i, f, gg, o = jnp.split(g, 4, axis=1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None

        zeros = jnp.zeros((x.shape[0], HIDDEN), x.dtype)
        (h, _), _ = lax.scan(cell, (zeros, zeros), xp)
        return h @ p["dense_1.weight"].T + p["dense_1.bias"]

    def loss_fn(p: dict[str, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
        logp = jax.nn.log_softmax(net(p, x), axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def update(p: dict[str, jax.Array], x: jax.Array, y: jax.Array) -> tuple:
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        return jax.tree.map(lambda w, g: w - lr * g, p, grads), loss

    held: dict[str, Any] = {"p": {k: jnp.asarray(v) for k, v in params.items()}, "loss": None}
    forward = jax.jit(net)

    def step(x: np.ndarray, y: np.ndarray) -> None:
        held["p"], held["loss"] = update(held["p"], x, y.astype(np.int32, copy=False))

    def sync() -> object:
        return jax.block_until_ready((held["p"], held["loss"]))

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(forward(held["p"], x))

    return step, sync, predict


# -- NumPy, as the textbook writes it ------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class TextbookLstm:
    """CS231n's LSTM: per-step forward and backward functions over [in, 4H] weights."""

    def __init__(self, params: dict[str, np.ndarray], dtype: str = "float64") -> None:
        self.dtype = np.dtype(dtype)
        self.wx = params["lstm_1.weight_ih_l0"].T.astype(dtype)  # [D, 4H]
        self.wh = params["lstm_1.weight_hh_l0"].T.astype(dtype)  # [H, 4H]
        self.b = (params["lstm_1.bias_ih_l0"] + params["lstm_1.bias_hh_l0"]).astype(dtype)
        self.w_out = params["dense_1.weight"].T.astype(dtype)  # [H, C]
        self.b_out = params["dense_1.bias"].astype(dtype)

    def step_forward(self, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple:
        hidden = h.shape[1]
        a = x @ self.wx + h @ self.wh + self.b
        i = _sigmoid(a[:, :hidden])
        f = _sigmoid(a[:, hidden : 2 * hidden])
        g = np.tanh(a[:, 2 * hidden : 3 * hidden])
        o = _sigmoid(a[:, 3 * hidden :])
        c_next = f * c + i * g
        h_next = o * np.tanh(c_next)
        return h_next, c_next, (x, h, c, i, f, g, o, c_next)

    def step_backward(self, dh: np.ndarray, dc: np.ndarray, cache: tuple) -> tuple:
        x, h, c, i, f, g, o, c_next = cache
        tc = np.tanh(c_next)
        do = dh * tc
        dc = dc + dh * o * (1 - tc * tc)
        df, di, dg, dc_prev = dc * c, dc * g, dc * i, dc * f
        da = np.hstack((di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)))
        return da @ self.wx.T, da @ self.wh.T, dc_prev, x.T @ da, h.T @ da, da.sum(axis=0)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list]:
        seq = x.reshape(x.shape[0], STEPS, FEATURES).astype(self.dtype)
        h = np.zeros((x.shape[0], HIDDEN), self.dtype)
        c = np.zeros_like(h)
        caches = []
        for t in range(STEPS):
            h, c, cache = self.step_forward(seq[:, t], h, c)
            caches.append(cache)
        return h, caches

    def predict(self, x: np.ndarray) -> np.ndarray:
        h, _ = self.forward(x)
        return h @ self.w_out + self.b_out

    def sgd_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        h, caches = self.forward(x)
        logits = h @ self.w_out + self.b_out
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
        n = x.shape[0]
        loss = -float(np.mean(np.log(probs[np.arange(n), y] + 1e-7)))
        dlogits = probs
        dlogits[np.arange(n), y] -= 1
        dlogits /= n
        dw_out, db_out = h.T @ dlogits, dlogits.sum(axis=0)
        dh = dlogits @ self.w_out.T
        dc = np.zeros_like(dh)
        dwx, dwh, db = np.zeros_like(self.wx), np.zeros_like(self.wh), np.zeros_like(self.b)
        for t in reversed(range(STEPS)):
            _, dh, dc, dwx_t, dwh_t, db_t = self.step_backward(dh, dc, caches[t])
            dwx += dwx_t
            dwh += dwh_t
            db += db_t
        for value, grad in ((self.wx, dwx), (self.wh, dwh), (self.b, db)):
            value -= lr * grad
        self.w_out -= lr * dw_out
        self.b_out -= lr * db_out
        return loss


def numpy_step(
    params: dict[str, np.ndarray], lr: float, dtype: str = "float64"
) -> tuple[Any, Any, Any]:
    """(step(x, y), sync(), predict(x)) of the textbook LSTM with netspec's weights."""
    book = TextbookLstm(params, dtype)

    def step(x: np.ndarray, y: np.ndarray) -> None:
        book.sgd_step(x, y, lr)

    return step, lambda: None, book.predict


def numpy32_step(params: dict[str, np.ndarray], lr: float) -> tuple[Any, Any, Any]:
    """The textbook LSTM in float32, netspec's dtype: the algorithms alone compared."""
    return numpy_step(params, lr, "float32")


BUILDERS = {
    "torch": torch_step,
    "jax": jax_step,
    "numpy": numpy_step,
    "numpy-float32": numpy32_step,
}
