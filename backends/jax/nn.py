"""Every IR op in JAX, written once: the in-memory backend and the generated module both
call these functions.

``LOWERINGS`` maps each op kind to a :class:`netspec.lowering.Lowering`. Its ``fn`` is a
top-level function of this module or of the modules of the sequence ops it takes in,
``nn_attention.py`` and ``nn_recurrent.py`` (self-contained: it reads only ``math``,
``jax``, ``jnp``, ``lax`` and the other functions of these files, which a generated module
imports or carries too, so the generator copies its source) or one of JAX's own callables
(``framework_name``, which the generator names).
Semantics are those of docs/language.md section 4, which follow PyTorch: NCHW layouts,
OIHW conv weights, [out, in] dense weights, maxpool padding with -inf, avgpool counting
padded cells, batchnorm with PyTorch's running-statistics rule, inverted dropout.

The calling convention is in :mod:`netspec.backends.jax.lowerings`, which names the
function of each op kind and its static arguments without importing JAX.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from netspec.backends.jax.lowerings import CALLS, Static

# The sequence ops live in modules of their own; imported here, so that ``_resolve`` and
# this module's namespace hold every op's function.
from netspec.backends.jax.nn_attention import (  # noqa: F401
    multi_head_attention,
    positional_embedding,
)
from netspec.backends.jax.nn_recurrent import recurrent, recurrent_step  # noqa: F401
from netspec.lowering import Lowering

# -- indices -----------------------------------------------------------------------------


def embedding(x: jax.Array, weight: jax.Array, *, padding_idx: int | None = None) -> jax.Array:
    """Rows of ``weight`` picked by the indices ``x`` (checked to lie in [0, num): take
    would clamp others). As torch.nn.Embedding, the padding row gets no gradient: where
    an index is ``padding_idx`` its row is read through stop_gradient."""
    y = jnp.take(weight, x, axis=0)
    if padding_idx is None:
        return y
    return jnp.where((x == padding_idx)[..., None], lax.stop_gradient(y), y)


# -- affine ------------------------------------------------------------------------------


def dense(x: jax.Array, weight: jax.Array, bias: jax.Array | None = None) -> jax.Array:
    """x W^T (+ b), at full precision: on GPUs JAX's default may use TF32 for float32."""
    y = jnp.matmul(x, weight.T, precision=lax.Precision.HIGHEST)
    return y if bias is None else y + bias


def conv2d(
    x: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    *,
    stride: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    dilation: tuple[int, int],
    groups: int,
) -> jax.Array:
    """A grouped, dilated NCHW convolution with OIHW weights and explicit pads."""
    y = lax.conv_general_dilated(
        x,
        weight,
        window_strides=stride,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        feature_group_count=groups,
        precision=lax.Precision.HIGHEST,
    )
    return y if bias is None else y + bias[None, :, None, None]


def conv2d_transpose(
    x: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    *,
    stride: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    output_padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> jax.Array:
    """PyTorch's conv_transpose2d with its weight [in, out / groups, kh, kw]: a convolution
    of the input dilated by the stride (``lhs_dilation``) with the kernel flipped and its
    in and out swapped per group, padded by dilation * (k - 1) less the side's padding
    (a negative pad crops) and output_padding more at the bottom and right."""
    channels, per_group, kh, kw = weight.shape
    kernel = weight.reshape(groups, channels // groups, per_group, kh, kw)
    kernel = kernel.transpose(0, 2, 1, 3, 4).reshape(groups * per_group, channels // groups, kh, kw)
    kernel = kernel[:, :, ::-1, ::-1]
    pads = []
    for axis, k in enumerate((kh, kw)):
        (before, after), edge = padding[axis], dilation[axis] * (k - 1)
        pads.append((edge - before, edge - after + output_padding[axis]))
    y = lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(1, 1),
        padding=pads,
        lhs_dilation=stride,
        rhs_dilation=dilation,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        feature_group_count=groups,
        precision=lax.Precision.HIGHEST,
    )
    return y if bias is None else y + bias[None, :, None, None]


# -- pools and shapes --------------------------------------------------------------------


def maxpool(
    x: jax.Array,
    *,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
) -> jax.Array:
    """Max over each window; padded cells hold -inf, so they never win (as in PyTorch)."""
    pads = ((0, 0), (0, 0), *padding)
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, *kernel), (1, 1, *stride), pads)


def avgpool(
    x: jax.Array,
    *,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
) -> jax.Array:
    """Mean over each window, zero padding counted in (PyTorch's count_include_pad)."""
    pads = ((0, 0), (0, 0), *padding)
    total = lax.reduce_window(x, 0.0, lax.add, (1, 1, *kernel), (1, 1, *stride), pads)
    return total / (kernel[0] * kernel[1])


def global_avgpool(x: jax.Array) -> jax.Array:
    """[N, C, H, W] or [N, C, L] -> [N, C]: the mean of each channel."""
    return jnp.mean(x, axis=tuple(range(2, x.ndim)))


# conv1d, maxpool1d and avgpool1d are the 2-D ops above over a unit height: [N, C, L] as
# [N, C, 1, L], a [F, C / G, K] weight as [F, C / G, 1, K], (left, right) pads as
# ((0, 0), (left, right)). The unit axis adds no term, so each is exactly its 2-D op.


def conv1d(
    x: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    *,
    stride: int,
    padding: tuple[int, int],
    dilation: int,
    groups: int,
) -> jax.Array:
    """A grouped, dilated NCL convolution with OIL weights and explicit pads."""
    y = conv2d(
        x[:, :, None],
        weight[:, :, None],
        bias,
        stride=(1, stride),
        padding=((0, 0), padding),
        dilation=(1, dilation),
        groups=groups,
    )
    return y[:, :, 0]


def maxpool1d(x: jax.Array, *, kernel: int, stride: int, padding: tuple[int, int]) -> jax.Array:
    """Max over each window of the length; padded cells hold -inf."""
    y = maxpool(x[:, :, None], kernel=(1, kernel), stride=(1, stride), padding=((0, 0), padding))
    return y[:, :, 0]


def avgpool1d(x: jax.Array, *, kernel: int, stride: int, padding: tuple[int, int]) -> jax.Array:
    """Mean over each window of the length, zero padding counted in."""
    y = avgpool(x[:, :, None], kernel=(1, kernel), stride=(1, stride), padding=((0, 0), padding))
    return y[:, :, 0]


def reshape(x: jax.Array, *, shape: tuple[int, ...]) -> jax.Array:
    """Each sample to ``shape`` (flatten is a reshape to one axis)."""
    return x.reshape((x.shape[0], *shape))


def add(*xs: jax.Array) -> jax.Array:
    """The sum of the inputs, left to right."""
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    return y


def multiply(*xs: jax.Array) -> jax.Array:
    """The elementwise product of the inputs, left to right."""
    y = xs[0]
    for x in xs[1:]:
        y = y * x
    return y


def concat(*xs: jax.Array, axis: int) -> jax.Array:
    """The inputs joined along ``axis`` of the batch."""
    return jnp.concatenate(xs, axis=axis)


# -- activations -------------------------------------------------------------------------


def identity(x: jax.Array) -> jax.Array:
    """x itself."""
    return x


def step(x: jax.Array) -> jax.Array:
    """1 where x > 0, else 0. A comparison has no derivative path: the gradient is 0."""
    return (x > 0).astype(x.dtype)


def leaky_relu(x: jax.Array, *, negative_slope: float) -> jax.Array:
    """x where x > 0 strictly, so that at 0 the gradient is the slope, as PyTorch's."""
    return jnp.where(x > 0, x, x * negative_slope)


def prelu(x: jax.Array, weight: jax.Array, *, per_channel: bool) -> jax.Array:
    """Leaky ReLU with a learnt slope: one, or one per channel (axis 1 of the batch)."""
    slope = weight
    if per_channel:
        slope = weight.reshape((weight.shape[0],) + (1,) * (x.ndim - 2))
    return jnp.where(x > 0, x, slope * x)


def hard_sigmoid(x: jax.Array) -> jax.Array:
    """min(max(x + 3, 0), 6) / 6 with PyTorch's gradient: 0 at and beyond -3 and 3, and
    inside, 1/6 rounded to float32 (its backward's constant ``1.0f / 6.0f``, kept in
    float64 too). The second term is exactly 0 forward; backward it gives relu6's mask
    (0 at the kinks) times that constant."""
    ramp = jax.nn.relu6(x + 3)
    slope = jnp.asarray(jnp.float32(1.0 / 6.0), dtype=x.dtype)
    return lax.stop_gradient(ramp / 6) + (ramp - lax.stop_gradient(ramp)) * slope


def gelu(x: jax.Array, *, approximate: str) -> jax.Array:
    """GELU: the erf form as PyTorch writes it, or JAX's tanh approximation."""
    if approximate == "tanh":
        return jax.nn.gelu(x, approximate=True)
    return 0.5 * x * (1.0 + lax.erf(x * math.sqrt(0.5)))


def softplus(x: jax.Array, *, beta: float, threshold: float) -> jax.Array:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch).

    exp only sees the other side, so neither branch can overflow and put a NaN into the
    gradient through jnp.where.
    """
    scaled = x * beta
    above = scaled > threshold
    safe = jnp.where(above, 0.0, scaled)
    return jnp.where(above, x, jnp.log1p(jnp.exp(safe)) / beta)


# -- state and randomness ----------------------------------------------------------------


def layer_norm(
    x: jax.Array,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    *,
    axes: tuple[int, ...],
    eps: float,
) -> jax.Array:
    """Each sample normalised over its trailing batch axes ``axes`` together, with their
    mean and biased variance, then scaled and shifted elementwise by ``weight`` and
    ``bias`` (of those axes' shape), as torch.nn.LayerNorm; the same in training and
    evaluation. The variance is taken of the centred values, as PyTorch's kernels do."""
    centred = x - jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.mean(centred * centred, axis=axes, keepdims=True)
    y = centred * lax.rsqrt(var + eps)
    return y if weight is None else y * weight + bias


def group_norm(
    x: jax.Array,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    *,
    groups: int,
    eps: float,
) -> jax.Array:
    """Each sample of [N, C, ...] normalised per group of C / groups consecutive channels
    (with all their other axes) with the group's mean and biased variance, then scaled
    and shifted per channel, as torch.nn.GroupNorm; the same in training and evaluation."""
    grouped = x.reshape(x.shape[0], groups, -1)
    centred = grouped - jnp.mean(grouped, axis=2, keepdims=True)
    var = jnp.mean(centred * centred, axis=2, keepdims=True)
    y = (centred * lax.rsqrt(var + eps)).reshape(x.shape)
    if weight is None:
        return y
    channel = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return y * weight.reshape(channel) + bias.reshape(channel)


def standardize(x: jax.Array, *, mean: jax.Array, std: jax.Array) -> jax.Array:
    """(x - mean) / std per element; the statistics are fixed: no gradient reaches them."""
    return (x - lax.stop_gradient(mean)) / lax.stop_gradient(std)


def batchnorm(
    x: jax.Array,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    *,
    running_mean: jax.Array,
    running_var: jax.Array,
    train: bool,
    momentum: float,
    eps: float,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Batch normalisation per feature ([N, F]) or per channel ([N, C, H, W]).

    Training normalises with the batch mean and biased variance and returns the running
    statistics moved towards the mean and the unbiased variance (PyTorch's rule);
    evaluation uses the running statistics and returns them unchanged.
    Returns (y, running_mean, running_var).
    """
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if train:
        count = x.size // x.shape[1]
        if count < 2:
            # PyTorch refuses this too: the unbiased variance divides by count - 1.
            raise ValueError(
                "batchnorm in training needs more than one value per channel, got input "
                f"shape {x.shape}; use a batch of 2 or more, or train=False"
            )
        mean = jnp.mean(x, axis=axes)
        centred = x - mean.reshape(shape)
        var = jnp.mean(centred * centred, axis=axes)  # biased: used to normalise
        unbiased = lax.stop_gradient(var) * (count / (count - 1))
        running_mean = (1 - momentum) * running_mean + momentum * lax.stop_gradient(mean)
        running_var = (1 - momentum) * running_var + momentum * unbiased
    else:
        mean, var = running_mean, running_var
        centred = x - mean.reshape(shape)
    y = centred * lax.rsqrt(var + eps).reshape(shape)
    if weight is not None:
        y = y * weight.reshape(shape) + bias.reshape(shape)
    return y, running_mean, running_var


def dropout(x: jax.Array, *, p: float, train: bool, rng: jax.Array | None, index: int) -> jax.Array:
    """Inverted dropout in training: keep where a float32 uniform u >= p, scale by
    1 / (1 - p); the identity in evaluation. The node folds its position in the model
    into ``rng``, so its masks do not depend on which other nodes draw. Uniforms are
    float32 whatever the model's dtype, so float32 and float64 models drop the same units.
    """
    if not train or p == 0.0:
        return x
    if p >= 1.0:
        return jnp.zeros_like(x)
    if rng is None:
        raise ValueError(
            "dropout in training mode needs a random key: apply(..., rng=jax.random.key(0))"
        )
    keep = jax.random.uniform(jax.random.fold_in(rng, index), x.shape, dtype=jnp.float32) >= p
    return x * (keep.astype(x.dtype) / (1.0 - p))


# -- resampling --------------------------------------------------------------------------
# Separable linear maps, output = Wh @ x @ Ww^T, with PyTorch's weights (docs/semantics.md):
# adaptive windows floor(i n / out) to ceil((i + 1) n / out); bilinear sources
# (i + 0.5) / scale - 0.5 clamped at 0, or i (n - 1) / (out - 1) with align_corners.


def adaptive_weights(size: int, out: int) -> list[list[float]]:
    """The [out, size] weights of PyTorch's adaptive average windows along one axis."""
    rows = []
    for i in range(out):
        lo, hi = (i * size) // out, -(-((i + 1) * size) // out)
        rows.append([1.0 / (hi - lo) if lo <= j < hi else 0.0 for j in range(size)])
    return rows


def bilinear_weights(size: int, scale: int, align_corners: bool) -> list[list[float]]:
    """The [size * scale, size] weights of PyTorch's bilinear upsampling along one axis."""
    out = size * scale
    rows = []
    for i in range(out):
        if align_corners:
            src = i * ((size - 1) / (out - 1)) if out > 1 else 0.0
        else:
            src = max((1.0 / scale) * (i + 0.5) - 0.5, 0.0)
        lo = int(src)
        hi = lo + 1 if lo < size - 1 else lo
        row = [0.0] * size
        row[lo] += 1.0 - (src - lo)
        row[hi] += src - lo
        rows.append(row)
    return rows


def separable(x: jax.Array, rows: list[list[float]], cols: list[list[float]]) -> jax.Array:
    """rows @ x @ cols^T over the last two axes of an [N, C, H, W] batch."""
    wh = jnp.asarray(rows, dtype=x.dtype)
    ww = jnp.asarray(cols, dtype=x.dtype)
    return jnp.matmul(jnp.matmul(wh, x), ww.T)


def adaptive_avgpool(x: jax.Array, *, size: tuple[int, int]) -> jax.Array:
    """torch.nn.AdaptiveAvgPool2d(size)."""
    rows = adaptive_weights(x.shape[2], size[0])
    return separable(x, rows, adaptive_weights(x.shape[3], size[1]))


def upsample(x: jax.Array, *, scale: tuple[int, int], mode: str, align_corners: bool) -> jax.Array:
    """torch.nn.Upsample(scale_factor=scale, mode=mode): legacy nearest repeats each
    pixel; bilinear weighs the two neighbours of each source position per axis."""
    if mode == "nearest":
        return jnp.repeat(jnp.repeat(x, scale[0], axis=2), scale[1], axis=3)
    rows = bilinear_weights(x.shape[2], scale[0], align_corners)
    return separable(x, rows, bilinear_weights(x.shape[3], scale[1], align_corners))


# -- the table ---------------------------------------------------------------------------


def _resolve(name: str, static: Static) -> Lowering:
    """A function of this module by bare name, or JAX's own callable by dotted path."""
    if "." not in name:
        return Lowering(fn=globals()[name], static=static)
    target: Any = jax
    for part in name.split(".")[1:]:
        target = getattr(target, part)
    return Lowering(fn=target, static=static, framework_name=name)


LOWERINGS: dict[str, Lowering] = {
    kind: _resolve(name, static) for kind, (name, static) in CALLS.items()
}
