"""Every op's PyTorch arithmetic, written once, and the table that maps op kinds to it.

``LOWERINGS[op.kind]`` is a :class:`netspec.lowering.Lowering`. Both the in-memory module
(``_module.py``) and the code generator (``netspec/codegen/torch.py``) read it, so the two
compute the same thing by construction: the module calls these functions, and generated
files carry their source (or name torch's own callable, ``framework_name``).

Calling convention, for a node ``n`` with lowering ``L``::

    L.fn(*inputs, **tensors, **L.static(n), [training=...], [generator=...])

- ``inputs`` are the node's input tensors, batched ([N, *per-sample shape]);
- ``tensors`` are the node's parameters and state, keyword arguments named by their IR
  attribute (``weight``, ``bias``, ``running_mean``, ``running_var``, ``mean``, ``std``);
  an absent one (a dense layer without bias) is left to the function's default;
- ``static`` gives plain Python values fixed by the spec (ints, floats, bools, strings,
  tuples), already in the function's terms (explicit pads, batched axes);
- ``training`` (the module's mode) is passed to functions that name it; ``generator``
  (the module's own dropout stream, or None for torch's global one) likewise.

Functions here are self-contained: they use only ``math`` and ``torch``, the imports
every generated file has, and reach torch's functional API as ``torch.nn.functional``
so that a generated class named ``F`` cannot shadow it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from netspec.backends.torch.lowerings import CALLS
from netspec.lowering import Lowering


class Tensors(nn.Module):
    """The parameters and state of one node, under netspec's names (``weight``, ``bias``,
    ``running_mean``...), so that ``state_dict()`` keys are the IR's names.

    ``params`` and ``state`` map each name to (shape, fill): a float fills the tensor
    with that value, None draws it uniformly within +-1/sqrt(fan-in), PyTorch's default
    for a layer's weight. Real values come from netspec's weights (``load_state_dict``).
    """

    def __init__(
        self,
        params: dict[str, tuple[tuple[int, ...], float | None]],
        state: dict[str, tuple[tuple[int, ...], float]] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, (shape, fill) in params.items():
            tensor = torch.empty(shape, dtype=dtype)
            if fill is None:
                bound = 1.0 / math.sqrt(max(1, math.prod(shape[1:])))
                torch.nn.init.uniform_(tensor, -bound, bound)
            else:
                torch.nn.init.constant_(tensor, fill)
            # A dotted name ("out_proj.weight") lives in a submodule, as torch's own
            # modules keep it, so that state_dict() keys match theirs.
            owner = self
            *parts, leaf = name.split(".")
            for part in parts:
                if part not in owner._modules:
                    owner.add_module(part, nn.Module())
                owner = owner._modules[part]  # type: ignore[assignment]
            owner.register_parameter(leaf, nn.Parameter(tensor))
        for name, (shape, fill) in (state or {}).items():
            self.register_buffer(name, torch.full(shape, fill, dtype=dtype))

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={tuple(t.shape)}" for name, t in self.state_dict().items())


# -- the ops ------------------------------------------------------------------------------


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    stride: tuple[int, int] = (1, 1),
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution with explicit, possibly asymmetric, zero padding."""
    (top, bottom), (left, right) = pads
    padding = (top, left)
    if top != bottom or left != right:
        # torch pads both sides equally; asymmetric ("same" with a stride) goes first.
        x = torch.nn.functional.pad(x, (left, right, top, bottom))
        padding = (0, 0)
    return torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups)


def _pool_input(
    x: torch.Tensor,
    pads: tuple[tuple[int, int], tuple[int, int]],
    kernel: tuple[int, int],
    fill: float,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """The pool's input and its own padding. torch pools pad both sides equally, and at
    most half the kernel; other pads are applied here first, with ``fill``."""
    (top, bottom), (left, right) = pads
    if top == bottom and left == right and top <= kernel[0] // 2 and left <= kernel[1] // 2:
        return x, (top, left)
    return torch.nn.functional.pad(x, (left, right, top, bottom), value=fill), (0, 0)


def maxpool(
    x: torch.Tensor,
    *,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
) -> torch.Tensor:
    """Max pooling; padded cells are -inf, so they never win."""
    x, padding = _pool_input(x, pads, kernel, -math.inf)
    return torch.nn.functional.max_pool2d(x, kernel, stride, padding)


def avgpool(
    x: torch.Tensor,
    *,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
) -> torch.Tensor:
    """Average pooling; padded cells count in the divisor, however they are padded."""
    x, padding = _pool_input(x, pads, kernel, 0.0)
    return torch.nn.functional.avg_pool2d(x, kernel, stride, padding, count_include_pad=True)


def global_avgpool(x: torch.Tensor, *, keepdim: bool) -> torch.Tensor:
    """The mean over the axes after the channels: H and W of [N, C, H, W], L of [N, C, L]."""
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=keepdim)


# conv1d, maxpool1d and avgpool1d are the 2-D ops above over a unit height: [N, C, L] as
# [N, C, 1, L], a [F, C / G, K] weight as [F, C / G, 1, K], (left, right) pads as
# ((0, 0), (left, right)). The unit axis adds no term, so each is exactly its 2-D op.


def conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    stride: int = 1,
    pads: tuple[int, int] = (0, 0),
    dilation: int = 1,
    groups: int = 1,
) -> torch.Tensor:
    """1-D convolution with explicit, possibly asymmetric, zero padding, as nn.Conv1d."""
    y = conv2d(
        x.unsqueeze(2),
        weight.unsqueeze(2),
        bias,
        stride=(1, stride),
        pads=((0, 0), pads),
        dilation=(1, dilation),
        groups=groups,
    )
    return y.squeeze(2)


def maxpool1d(
    x: torch.Tensor, *, kernel: int, stride: int, pads: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """Max pooling over the length; padded cells are -inf, so they never win."""
    y = maxpool(x.unsqueeze(2), kernel=(1, kernel), stride=(1, stride), pads=((0, 0), pads))
    return y.squeeze(2)


def avgpool1d(
    x: torch.Tensor, *, kernel: int, stride: int, pads: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """Average pooling over the length; padded cells count in the divisor."""
    y = avgpool(x.unsqueeze(2), kernel=(1, kernel), stride=(1, stride), pads=((0, 0), pads))
    return y.squeeze(2)


def batchnorm(
    x: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    *,
    training: bool,
    momentum: float,
    eps: float,
) -> torch.Tensor:
    """Batch normalisation over axis 1, as torch.nn.BatchNorm with a fixed momentum but
    without the num_batches_tracked counter (unused with a fixed momentum). In training
    mode the running statistics move in place, with the unbiased batch variance."""
    return torch.nn.functional.batch_norm(
        x, running_mean, running_var, weight, bias, training, momentum, eps
    )


def standardize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std per element, with fixed statistics of the training data."""
    return (x - mean) / std


def dropout(
    x: torch.Tensor, *, p: float, training: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Inverted dropout; masks come from ``generator``, or from torch's global generator
    (F.dropout) when it is None. The identity outside training."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return x * 0.0
    if generator is None:
        return torch.nn.functional.dropout(x, p, training=True)
    keep = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator)
    return x * keep * (1.0 / (1.0 - p))


def reshape(x: torch.Tensor, *, shape: tuple[int, ...]) -> torch.Tensor:
    """Each sample to ``shape`` (the batch axis stays)."""
    return x.reshape((x.shape[0], *shape))


def add(*xs: torch.Tensor) -> torch.Tensor:
    """The elementwise sum of two or more tensors."""
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


def multiply(*xs: torch.Tensor) -> torch.Tensor:
    """The elementwise product of two or more tensors."""
    total = xs[0]
    for x in xs[1:]:
        total = total * x
    return total


def concat(*xs: torch.Tensor, dim: int) -> torch.Tensor:
    """The tensors joined along the batched axis ``dim``."""
    return torch.cat(xs, dim=dim)


def identity(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself."""
    return x


def step(x: torch.Tensor) -> torch.Tensor:
    """1 where x > 0, else 0; a comparison has no gradient path, so the gradient is 0."""
    return (x > 0).to(x.dtype)


def slice_axis(x: torch.Tensor, *, dim: int, start: int, stop: int, step: int) -> torch.Tensor:
    """``x[start:stop:step]`` along ``dim``, with the checker's resolved bounds."""
    return x[(slice(None),) * dim + (slice(start, stop, step),)]


# -- sequence ops, on [N, T, D] --------------------------------------------------------------


def multi_head_attention(
    x: torch.Tensor,
    in_proj_weight: torch.Tensor,
    in_proj_bias: torch.Tensor | None = None,
    out_proj_weight: torch.Tensor | None = None,
    out_proj_bias: torch.Tensor | None = None,
    *,
    heads: int,
    causal: bool = False,
    p: float = 0.0,
    training: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Self-attention of each [T, D] sequence of ``x``, as torch.nn.MultiheadAttention with
    batch_first=True and query, key and value all ``x``: the projections and
    scaled_dot_product_attention (its fused kernels). Dropout (probability ``p``) on the
    attention weights in training draws from ``generator`` when one is given (the kernels
    draw from torch's global generator only), so that path computes the weights itself."""
    n, steps, width = x.shape
    qkv = torch.nn.functional.linear(x, in_proj_weight, in_proj_bias)
    q, k, v = qkv.view(n, steps, 3, heads, width // heads).permute(2, 0, 3, 1, 4).unbind(0)
    p = p if training else 0.0
    if p > 0.0 and generator is not None:
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(width // heads))
        if causal:
            future = torch.ones(steps, steps, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        keep = torch.empty_like(weights).bernoulli_(1.0 - p, generator=generator)
        out = (weights * keep * (1.0 / (1.0 - p))) @ v
    else:
        out = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=p, is_causal=causal
        )
    joined = out.transpose(1, 2).reshape(n, steps, width)
    return torch.nn.functional.linear(joined, out_proj_weight, out_proj_bias)


def positional_embedding(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x`` plus the learned [T, D] table, for every sample."""
    return x + weight


def recurrent(
    x: torch.Tensor,
    *,
    mode: str,
    layers: int,
    bidirectional: bool,
    layer_dropout: float,
    return_sequences: bool,
    training: bool,
    generator: torch.Generator | None = None,
    **weights: torch.Tensor,
) -> torch.Tensor:
    """torch.nn.RNN, LSTM or GRU (``mode`` rnn_tanh, rnn_relu, lstm, gru) with
    batch_first on [N, T, F], from a zero state, in torch's fused kernel (the call
    nn.LSTM makes) over the flat weights of torch's names. Every step [N, T, H D] with
    ``return_sequences``, else the final states [N, H D] (the backward direction's is
    its step 0). Between layers, in training, ``layer_dropout`` draws from ``generator`` as
    the dropout op does: the layers then run one call each; without a generator the
    kernel drops itself, from torch's global generator."""
    call = {
        "lstm": torch.lstm,
        "gru": torch.gru,
        "rnn_tanh": torch.rnn_tanh,
        "rnn_relu": torch.rnn_relu,
    }[mode]
    hidden = weights["weight_hh_l0"].shape[1]
    directions = 2 if bidirectional else 1
    bias = "bias_ih_l0" in weights
    parts = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")[: 4 if bias else 2]
    per_layer = [
        [
            weights[f"{part}_l{layer}{suffix}"]
            for suffix in ("", "_reverse")[:directions]
            for part in parts
        ]
        for layer in range(layers)
    ]

    def run(seq: torch.Tensor, flat: list[torch.Tensor], count: int, p: float) -> torch.Tensor:
        h0 = seq.new_zeros(count * directions, seq.shape[0], hidden)
        state = (h0, h0) if mode == "lstm" else h0
        return call(seq, state, flat, bias, count, p, training, bidirectional, True)[0]

    if training and layer_dropout > 0.0 and generator is not None and layers > 1:
        seq = run(x, per_layer[0], 1, 0.0)
        for flat in per_layer[1:]:
            if layer_dropout >= 1.0:
                seq = seq * 0.0
            else:
                keep = torch.empty_like(seq).bernoulli_(1.0 - layer_dropout, generator=generator)
                seq = seq * keep * (1.0 / (1.0 - layer_dropout))
            seq = run(seq, flat, 1, 0.0)
    else:
        seq = run(x, [w for flat in per_layer for w in flat], layers, layer_dropout)
    if return_sequences:
        return seq
    if directions == 1:
        return seq[:, -1]
    return torch.cat((seq[:, -1, :hidden], seq[:, 0, hidden:]), dim=1)


# -- the table -----------------------------------------------------------------------------


def _resolve(name: str) -> Callable[..., Any]:
    # A bare name is a function of this module; a dotted one is torch's own callable.
    if "." not in name:
        return globals()[name]  # type: ignore[no-any-return]
    return operator.attrgetter(name.removeprefix("torch."))(torch)  # type: ignore[no-any-return]


LOWERINGS: dict[str, Lowering] = {
    kind: Lowering(_resolve(name), static, framework_name=name if "." in name else None)
    for kind, (name, static) in CALLS.items()
}
