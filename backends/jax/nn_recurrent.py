"""The recurrent layers in JAX (rnn, lstm, gru): torch.nn.RNN, LSTM and GRU with
batch_first, each layer and direction one ``lax.scan``.

Self-contained, as every function of :mod:`netspec.backends.jax.nn`, which takes
these in: each reads only ``math``, ``jax``, ``jnp``, ``lax`` and the other functions read
with it by ``netspec.backends.jax.lowerings.definitions``, so the generator copies its source.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def recurrent_step(
    carry: tuple, xp: jax.Array, *, mode: str, w_hh: jax.Array, b_hh: jax.Array | None
) -> tuple:
    """One step of torch's cell ``mode``, for ``lax.scan``: the state (``(h,)``, lstm's
    ``(h, c)``) and the projected input to the new state and the step's output. The
    projection holds both biases, except gru's b_hh, which goes inside
    r * (W_hn h + b_hn)."""
    hidden = w_hh.shape[1]
    h = carry[0]
    hh = jnp.matmul(h, w_hh.T, precision=lax.Precision.HIGHEST)
    if mode == "lstm":
        g = xp + hh
        i = jax.nn.sigmoid(g[:, :hidden])
        f = jax.nn.sigmoid(g[:, hidden : 2 * hidden])
        cell = jnp.tanh(g[:, 2 * hidden : 3 * hidden])
        o = jax.nn.sigmoid(g[:, 3 * hidden :])
        c = f * carry[1] + i * cell
        h = o * jnp.tanh(c)
        return (h, c), h
    if mode == "gru":
        hh = hh if b_hh is None else hh + b_hh
        r = jax.nn.sigmoid(xp[:, :hidden] + hh[:, :hidden])
        z = jax.nn.sigmoid(xp[:, hidden : 2 * hidden] + hh[:, hidden : 2 * hidden])
        n = jnp.tanh(xp[:, 2 * hidden :] + r * hh[:, 2 * hidden :])
        h = n + z * (h - n)
        return (h,), h
    # jax.nn.relu has torch's gradient 0 at 0.
    h = jnp.tanh(xp + hh) if mode == "rnn_tanh" else jax.nn.relu(xp + hh)
    return (h,), h


def recurrent(
    x: jax.Array,
    *,
    mode: str,
    layers: int,
    bidirectional: bool,
    layer_dropout: float,
    return_sequences: bool,
    train: bool,
    rng: jax.Array | None,
    index: int,
    **weights: jax.Array,
) -> jax.Array:
    """torch.nn.RNN, LSTM or GRU (``mode`` rnn_tanh, rnn_relu, lstm, gru) with batch_first
    on [N, T, F], from a zero state, each layer and direction one ``lax.scan`` over the
    inputs projected in one product. Every step [N, T, H D] with ``return_sequences``,
    else the final states [N, H D] (the backward direction's is its step 0). In
    training, ``layer_dropout`` drops outputs between layers as the dropout op does, from the
    node's key folded with the layer's number."""
    hidden = weights["weight_hh_l0"].shape[1]
    seq = jnp.swapaxes(x, 0, 1)  # time-major: scan runs over the leading axis
    for layer in range(layers):
        if layer > 0 and train and layer_dropout > 0.0:
            if layer_dropout >= 1.0:
                seq = jnp.zeros_like(seq)
            elif rng is None:
                raise ValueError(
                    "dropout in training mode needs a random key: apply(..., rng=jax.random.key(0))"
                )
            else:
                key = jax.random.fold_in(jax.random.fold_in(rng, index), layer)
                keep = jax.random.uniform(key, seq.shape, dtype=jnp.float32) >= layer_dropout
                seq = seq * (keep.astype(seq.dtype) / (1.0 - layer_dropout))
        outs = []
        for suffix in ("", "_reverse") if bidirectional else ("",):
            w_hh = weights[f"weight_hh_l{layer}{suffix}"]
            b_ih = weights.get(f"bias_ih_l{layer}{suffix}")
            b_hh = weights.get(f"bias_hh_l{layer}{suffix}")
            w_ih = weights[f"weight_ih_l{layer}{suffix}"]
            xp = jnp.matmul(seq, w_ih.T, precision=lax.Precision.HIGHEST)
            if b_ih is not None:
                xp = xp + (b_ih if mode == "gru" else b_ih + b_hh)
            h0 = jnp.zeros((seq.shape[1], hidden), dtype=seq.dtype)
            kept = b_hh if mode == "gru" else None

            start = (h0, h0) if mode == "lstm" else (h0,)
            _, states = lax.scan(
                lambda carry, xp_t, w_hh=w_hh, kept=kept: recurrent_step(
                    carry, xp_t, mode=mode, w_hh=w_hh, b_hh=kept
                ),
                start,
                xp,
                reverse=bool(suffix),
            )
            outs.append(states)
        seq = outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=2)
    if return_sequences:
        return jnp.swapaxes(seq, 0, 1)
    if not bidirectional:
        return seq[-1]
    return jnp.concatenate([seq[-1, :, :hidden], seq[0, :, hidden:]], axis=1)
