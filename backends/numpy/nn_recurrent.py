"""The recurrent layers in NumPy, forward and backpropagation through time: rnn, lstm, gru.

Part of :mod:`netspec.backends.numpy.nn` (whose calling convention they follow and whose
``LOWERINGS`` takes :data:`RECURRENT` in). They compute torch.nn.RNN, LSTM and GRU with
``batch_first=True`` from a zero state, with torch's parameters (``weight_ih_l0``,
``bias_hh_l1_reverse``..., gates stacked in torch's order: LSTM i, f, g, o; GRU r, z,
n). A layer's parameters are named per layer and direction, so the functions take them
as ``**weights``: every parameter of the node, in the IR's (torch's) order; the
backward returns their gradients in the order it was given them.

Speed: each layer and direction projects the inputs of all its steps in one matrix
product (``x W_ih^T``, the biases added once), so the loop over time holds one product
``h W_hh^T`` per step, into preallocated buffers. The backward mirrors it: the loop over
time makes the pre-activation gradients and one ``dG W_hh`` product per step, and the
weight gradients and the input gradient are one product each over all steps afterwards.
Work is time-major ([T, N, ...], each step's rows contiguous); the states of a direction
sit at rows 1..T of a buffer of T + 2 rows whose first and last rows stay zero, so the
previous state of step t is row t (forward) or row t + 2 (backward) without a branch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netspec.lowering import Lowering, recurrent_static

# -- one direction of one layer ----------------------------------------------------------


def recurrent_sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The logistic function through tanh, 0.5 (1 + tanh(x / 2)): no overflow for any x."""
    np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def recurrent_direction(
    mode: str, xp: np.ndarray, w_hh: np.ndarray, b_hh: Any, reverse: bool
) -> tuple[np.ndarray, tuple]:
    """Run one direction over the projected inputs ``xp`` [T, N, G H]. Returns the states
    [T + 2, N, H] (state of step t at row t + 1) and what the backward needs."""
    if mode == "lstm":
        return recurrent_lstm(xp, w_hh, reverse)
    steps, batch, rows = xp.shape
    hidden = w_hh.shape[1]
    states = np.zeros((steps + 2, batch, hidden), dtype=xp.dtype)
    acts = np.empty((steps, batch, rows), dtype=xp.dtype)
    hidden_n = np.empty((steps, batch, hidden), dtype=xp.dtype) if mode == "gru" else None
    product = np.empty((batch, rows), dtype=xp.dtype)
    w_hh_t = w_hh.T
    h2 = 2 * hidden
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        prev = t + 2 if reverse else t
        np.matmul(states[prev], w_hh_t, out=product)
        a = acts[t]
        if mode == "gru":
            if b_hh is not None:
                product += b_hh
            np.add(xp[t, :, :h2], product[:, :h2], out=a[:, :h2])
            recurrent_sigmoid(a[:, :h2], a[:, :h2])
            hidden_n[t] = product[:, h2:]
            n = a[:, h2:]
            np.multiply(a[:, :hidden], product[:, h2:], out=n)
            n += xp[t, :, h2:]
            np.tanh(n, out=n)
            # h = n + z (h_prev - n)
            h = states[t + 1]
            np.subtract(states[prev], n, out=h)
            h *= a[:, hidden:h2]
            h += n
            continue
        np.add(xp[t], product, out=a)
        if mode == "rnn_tanh":
            np.tanh(a, out=a)
            states[t + 1] = a
        else:
            np.maximum(a, 0.0, out=a)
            states[t + 1] = a
    return states, (mode, reverse, states, acts, None, None, hidden_n)


def recurrent_direction_backward(
    d_out: np.ndarray, saved: tuple, w_hh: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Backpropagation through time of one direction, given the gradient ``d_out`` [T, N,
    H] of its states. Returns the gradient of the projected inputs [T, N, G H], that of
    ``h W_hh^T + b_hh`` where it differs (gru: None otherwise), and the previous states
    each step read [T, N, H] (for the weight gradient)."""
    if saved[0] == "lstm":
        return recurrent_lstm_backward(d_out, saved, w_hh)
    mode, reverse, states, acts, _, _, hidden_n = saved
    steps, batch, _ = acts.shape
    hidden = w_hh.shape[1]
    h2 = 2 * hidden
    d_pre = np.empty_like(acts)
    d_hh = np.empty_like(acts) if mode == "gru" else None
    dh_next = np.zeros((batch, hidden), dtype=acts.dtype)
    for t in range(steps) if reverse else range(steps - 1, -1, -1):
        prev = t + 2 if reverse else t
        dh = d_out[t] + dh_next
        a, g = acts[t], d_pre[t]
        if mode == "gru":
            r, z, n = a[:, :hidden], a[:, hidden:h2], a[:, h2:]
            dn = dh * (1.0 - z) * (1.0 - n * n)
            g[:, h2:] = dn
            g[:, hidden:h2] = dh * (states[prev] - n) * z * (1.0 - z)
            g[:, :hidden] = dn * hidden_n[t] * r * (1.0 - r)
            k = d_hh[t]
            k[:, :h2] = g[:, :h2]
            np.multiply(dn, r, out=k[:, h2:])
            dh_next = dh * z + k @ w_hh
        else:
            slope = (1.0 - a * a) if mode == "rnn_tanh" else (a > 0.0)
            np.multiply(dh, slope, out=g)
            dh_next = g @ w_hh
    previous = states[2:] if reverse else states[:steps]
    return d_pre, d_hh, previous


def recurrent_lstm(xp: np.ndarray, w_hh: np.ndarray, reverse: bool) -> tuple[np.ndarray, tuple]:
    """The LSTM's direction, gate-major: each step's gates are [4, N, H], one contiguous
    block per gate, which NumPy's elementwise loops run faster than [N, 4H] column
    slices. sigmoid(a) = (1 + tanh(a / 2)) / 2: with the rows of i, f and o halved
    (exactly: a power of two) one tanh over the four gates serves the three sigmoids and
    g's tanh."""
    steps, batch, rows = xp.shape
    hidden = rows // 4
    half = np.array([0.5, 0.5, 1.0, 0.5], dtype=xp.dtype)[:, None, None]
    # [T, 4, N, H], halved on the way (one pass makes both the layout and the scaling).
    gates_in = xp.reshape(steps, batch, 4, hidden).transpose(0, 2, 1, 3) * half
    # [4, H_in, H]: a state [N, H_in] times it is the step's gates [4, N, H].
    w_gates = np.ascontiguousarray((w_hh.reshape(4, hidden, hidden) * half).transpose(0, 2, 1))
    states = np.zeros((steps + 2, batch, hidden), dtype=xp.dtype)
    cells = np.zeros((steps + 2, batch, hidden), dtype=xp.dtype)
    cell_tanh = np.empty((steps, batch, hidden), dtype=xp.dtype)
    acts = np.empty((steps, 4, batch, hidden), dtype=xp.dtype)
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        prev = t + 2 if reverse else t
        a = acts[t]
        np.matmul(states[prev], w_gates, out=a)
        a += gates_in[t]
        np.tanh(a, out=a)
        a[:2] *= 0.5
        a[:2] += 0.5
        a[3] *= 0.5
        a[3] += 0.5
        c = cells[t + 1]
        np.multiply(a[1], cells[prev], out=c)
        c += a[0] * a[2]
        np.tanh(c, out=cell_tanh[t])
        np.multiply(a[3], cell_tanh[t], out=states[t + 1])
    return states, ("lstm", reverse, states, acts, cells, cell_tanh, None)


def recurrent_lstm_backward(
    d_out: np.ndarray, saved: tuple, w_hh: np.ndarray
) -> tuple[np.ndarray, None, np.ndarray]:
    """The LSTM's backpropagation through time. Every factor that does not depend on the
    incoming gradient is made first, over all steps at once: with c_prev and tc =
    tanh(c) of each step, its gate gradients are (i, f, g) = dc * (g i (1 - i),
    c_prev f (1 - f), i (1 - g^2)) and o = dh * tc o (1 - o), with
    dc = dh * o (1 - tc^2) + dc_next, so the loop holds five products and the gates'
    matmuls. Returns the gate gradients in torch's [T, N, 4H] layout."""
    _, reverse, states, acts, cells, cell_tanh, _ = saved
    steps, _, batch, hidden = acts.shape
    i, f, g, o = acts[:, 0], acts[:, 1], acts[:, 2], acts[:, 3]
    c_prev = cells[2:] if reverse else cells[:steps]
    factors = np.empty((steps, 3, batch, hidden), dtype=acts.dtype)
    np.multiply(g, i * (1.0 - i), out=factors[:, 0])
    np.multiply(c_prev, f * (1.0 - f), out=factors[:, 1])
    np.multiply(i, 1.0 - g * g, out=factors[:, 2])
    to_o = cell_tanh * o * (1.0 - o)
    to_c = o * (1.0 - cell_tanh * cell_tanh)
    d_pre = np.empty((steps, 4, batch, hidden), dtype=acts.dtype)
    dh = np.zeros((batch, hidden), dtype=acts.dtype)
    dc = np.zeros((batch, hidden), dtype=acts.dtype)
    scratch = np.empty((batch, hidden), dtype=acts.dtype)
    w_gates = w_hh.reshape(4, hidden, hidden)
    for t in range(steps) if reverse else range(steps - 1, -1, -1):
        dh += d_out[t]
        step = d_pre[t]
        np.multiply(dh, to_o[t], out=step[3])
        np.multiply(dh, to_c[t], out=scratch)
        dc += scratch
        np.multiply(factors[t], dc, out=step[:3])
        dc *= f[t]
        # The previous state's gradient: each gate's gradient through its rows of W_hh.
        np.matmul(step[0], w_gates[0], out=dh)
        for gate in (1, 2, 3):
            np.matmul(step[gate], w_gates[gate], out=scratch)
            dh += scratch
    previous = states[2:] if reverse else states[:steps]
    return d_pre.transpose(0, 2, 1, 3).reshape(steps, batch, 4 * hidden), None, previous


# -- the layer ---------------------------------------------------------------------------


def recurrent(
    x: np.ndarray,
    *,
    mode: str,
    layers: int,
    bidirectional: bool,
    layer_dropout: float,
    return_sequences: bool,
    train: bool,
    rng: Any,
    **weights: np.ndarray,
) -> tuple[np.ndarray, Any]:
    """torch.nn.RNN (``mode`` rnn_tanh, rnn_relu), LSTM (lstm) or GRU (gru) on a batch
    [N, T, F], from a zero state: every step [N, T, H D] with ``return_sequences``, else
    the final states [N, H D] (the backward direction's is its step 0). In training,
    ``layer_dropout`` drops outputs between layers as the dropout op does (a float32 uniform
    u >= p keeps a value, scaled by 1 / (1 - p), from the model's generator)."""
    seq = np.ascontiguousarray(x.transpose(1, 0, 2))
    steps = seq.shape[0]
    directions = ("", "_reverse") if bidirectional else ("",)
    saved_layers = []
    masks = []
    for layer in range(layers):
        if layer > 0 and train and layer_dropout > 0.0:
            if layer_dropout >= 1.0:
                mask = np.zeros_like(seq)
            else:
                keep = rng.random(seq.shape, dtype=np.float32) >= np.float32(layer_dropout)
                mask = keep.astype(seq.dtype) * (1.0 / (1.0 - layer_dropout))
            masks.append(mask)
            seq = seq * mask
        outs = []
        saved = []
        for suffix in directions:
            w_ih = weights[f"weight_ih_l{layer}{suffix}"]
            w_hh = weights[f"weight_hh_l{layer}{suffix}"]
            b_ih = weights.get(f"bias_ih_l{layer}{suffix}")
            b_hh = weights.get(f"bias_hh_l{layer}{suffix}")
            # One 2-D product over all steps: NumPy runs a [T, N, F] @ [F, G] product as
            # T small ones.
            xp = (seq.reshape(-1, seq.shape[2]) @ w_ih.T).reshape(steps, -1, w_ih.shape[0])
            if b_ih is not None:
                # gru adds b_hh inside r * (W_hn h + b_hn); the others add it once here.
                xp += b_ih if mode == "gru" else b_ih + b_hh
            states, cache = recurrent_direction(
                mode, xp, w_hh, b_hh if mode == "gru" else None, bool(suffix)
            )
            outs.append(states[1 : steps + 1])
            saved.append(cache)
        saved_layers.append((seq, saved))
        seq = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
    hidden = saved_layers[-1][1][0][2].shape[2]
    if return_sequences:
        y = np.ascontiguousarray(seq.transpose(1, 0, 2))
    elif bidirectional:
        y = np.concatenate([seq[steps - 1, :, :hidden], seq[0, :, hidden:]], axis=1)
    else:
        y = seq[steps - 1].copy()
    return y, (mode, hidden, return_sequences, saved_layers, masks)


def recurrent_backward(
    dy: np.ndarray, cache: Any, need_dx: bool = True, **weights: np.ndarray
) -> tuple:
    """(dx, then the gradient of each of ``weights`` in the order given)."""
    _, hidden, return_sequences, saved_layers, masks = cache
    steps, batch = saved_layers[0][0].shape[:2]
    directions = len(saved_layers[0][1])
    if return_sequences:
        d_seq = np.ascontiguousarray(dy.transpose(1, 0, 2))
    else:
        d_seq = np.zeros((steps, batch, hidden * directions), dtype=dy.dtype)
        d_seq[steps - 1, :, :hidden] = dy[:, :hidden]
        if directions == 2:
            d_seq[0, :, hidden:] = dy[:, hidden:]
    grads: dict[str, np.ndarray] = {}
    d_in = None
    for layer in range(len(saved_layers) - 1, -1, -1):
        seq, saved = saved_layers[layer]
        want_dx = need_dx or layer > 0
        d_in = np.zeros_like(seq) if want_dx else None
        for index, cache_dir in enumerate(saved):
            suffix = "_reverse" if index else ""
            w_ih = weights[f"weight_ih_l{layer}{suffix}"]
            w_hh = weights[f"weight_hh_l{layer}{suffix}"]
            d_out = d_seq[:, :, index * hidden : (index + 1) * hidden]
            d_pre, d_hh, previous = recurrent_direction_backward(d_out, cache_dir, w_hh)
            rows = d_pre.shape[2]
            flat = d_pre.reshape(-1, rows)
            d_rec = flat if d_hh is None else d_hh.reshape(-1, rows)
            grads[f"weight_ih_l{layer}{suffix}"] = flat.T @ seq.reshape(-1, seq.shape[2])
            grads[f"weight_hh_l{layer}{suffix}"] = d_rec.T @ previous.reshape(-1, hidden)
            grads[f"bias_ih_l{layer}{suffix}"] = flat.sum(axis=0)
            grads[f"bias_hh_l{layer}{suffix}"] = d_rec.sum(axis=0)
            if d_in is not None:
                d_in += (d_pre.reshape(-1, rows) @ w_ih).reshape(d_in.shape)
        if layer > 0:
            if masks:
                d_in *= masks[layer - 1]
            d_seq = d_in
    dx = None if d_in is None else np.ascontiguousarray(d_in.transpose(1, 0, 2))
    return (dx, *(grads[name] for name in weights))


# -- the table -----------------------------------------------------------------------------


RECURRENT: dict[str, Lowering] = {
    kind: Lowering(fn=recurrent, static=recurrent_static, backward=recurrent_backward)
    for kind in ("rnn", "lstm", "gru")
}
