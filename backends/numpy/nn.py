"""Every op of the IR in NumPy, forward and backward: the only place their arithmetic lives.

``LOWERINGS`` maps an op kind to a :class:`netspec.lowering.Lowering`. The in-memory
backend (``_model.py``) interprets it node by node, and the NumPy code generator prints a
call to the same functions on one line per node and copies their source into the
generated module, so both run the same code.

The calling convention, for a node with inputs ``xs``:

- ``y, cache = fn(*xs, **arguments)`` and ``grads = backward(dy, cache, **arguments)``,
  where each function receives the subset of these arguments its signature names: the
  node's parameters and state by attribute (``weight=``, ``bias=``, ``running_mean=``...),
  the static values ``static(node)`` gives (ints, floats, tuples: printable with
  ``repr``), ``train`` (the pass is a training pass), ``rng`` (the model's dropout
  generator), ``workspace`` (a dict kept per node between calls, for buffers worth
  reusing; generated code passes none) and, for the backward of an op with parameters,
  ``need_dx`` (False when the input gradient is not wanted).
- ``backward`` returns the gradient of each input, then that of each parameter it was
  given, in the order of its signature: one array alone when that is the only one.
- Functions are self-contained: they read only ``np``, ``math``, ``sliding_window_view``,
  module constants and each other, so that generated code can carry their source.

The activations and their entries live in :mod:`netspec.backends.numpy.nn_activations`,
the convolution and pools in :mod:`netspec.backends.numpy.nn_conv`, their
one-dimensional forms (over the same kernels) in :mod:`netspec.backends.numpy.nn_conv1d`
(its table ``CONV1D``), the transposed convolution in
:mod:`netspec.backends.numpy.nn_conv_transpose` (its table ``CONV_TRANSPOSE``),
layer_norm and group_norm in :mod:`netspec.backends.numpy.nn_norm` (its table ``NORMS``),
rnn, lstm and gru in :mod:`netspec.backends.numpy.nn_recurrent` (its table ``RECURRENT``),
permute, transpose and slice in :mod:`netspec.backends.numpy.nn_shape`, adaptive pooling
and upsampling in :mod:`netspec.backends.numpy.nn_resample`, attention and the positional
embedding in :mod:`netspec.backends.numpy.nn_attention`, embedding in
:mod:`netspec.backends.numpy.nn_embedding` (its table ``EMBEDDINGS``); ``LOWERINGS`` joins them.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import Any

import numpy as np

from netspec.backends.numpy.nn_activations import ACTIVATIONS
from netspec.backends.numpy.nn_activations import log_softmax_values as log_softmax_values
from netspec.backends.numpy.nn_activations import logistic as logistic
from netspec.backends.numpy.nn_attention import ATTENTION
from netspec.backends.numpy.nn_conv import (
    avgpool,
    avgpool_backward,
    conv2d,
    conv2d_backward,
    global_avgpool,
    global_avgpool_backward,
    maxpool,
    maxpool_backward,
)
from netspec.backends.numpy.nn_conv1d import CONV1D
from netspec.backends.numpy.nn_conv_transpose import CONV_TRANSPOSE
from netspec.backends.numpy.nn_embedding import EMBEDDINGS
from netspec.backends.numpy.nn_norm import NORMS
from netspec.backends.numpy.nn_recurrent import RECURRENT
from netspec.backends.numpy.nn_resample import RESAMPLE_OPS
from netspec.backends.numpy.nn_shape import SHAPE_OPS
from netspec.ir import CheckedNode
from netspec.lowering import Lowering, batch_axis, no_static

# -- dense, normalisation, dropout ------------------------------------------------------------


def dense(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None
) -> tuple[np.ndarray, Any]:
    """y = x W^T + b with W of shape [out, in]."""
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y, x


def dense_backward(
    dy: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    need_dx: bool = True,
) -> tuple:
    """(dx, dweight[, dbias]); dx None unless ``need_dx``. A batch of sequences [N, T, F]
    counts each step as a row of its own."""
    dx = dy @ weight if need_dx else None
    rows = dy.reshape(-1, dy.shape[-1])
    dweight = rows.T @ x.reshape(-1, x.shape[-1])
    return (dx, dweight) if bias is None else (dx, dweight, rows.sum(axis=0))


def batchnorm(
    x: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    train: bool,
    momentum: float,
    eps: float,
) -> tuple[np.ndarray, Any]:
    """Batch normalisation per feature ([N, F]) or per channel ([N, C, H, W]).

    Training normalises with the batch mean and biased variance and moves the running
    statistics in place, towards the mean and the unbiased variance (PyTorch's rule);
    evaluation uses the running statistics.
    """
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if not train:
        invstd = 1.0 / np.sqrt(running_var + eps)
        xhat = (x - running_mean.reshape(shape)) * invstd.reshape(shape)
    else:
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(
                "batchnorm in training needs more than one value per channel, got input "
                f"shape {x.shape}; use a batch of 2 or more, or train=False"
            )
        mean = x.mean(axis=axes)
        centred = x - mean.reshape(shape)
        var = np.mean(centred * centred, axis=axes)
        invstd = 1.0 / np.sqrt(var + eps)
        xhat = centred * invstd.reshape(shape)
        running_mean *= 1.0 - momentum
        running_mean += momentum * mean
        running_var *= 1.0 - momentum
        running_var += (momentum * count / (count - 1)) * var
    y = xhat if weight is None else xhat * weight.reshape(shape) + bias.reshape(shape)
    return y, (xhat, invstd, train)


def batchnorm_backward(
    dy: np.ndarray,
    cache: Any,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    need_dx: bool = True,
) -> Any:
    """(dx, dweight, dbias) with affine, else dx."""
    xhat, invstd, batch_stats = cache
    axes = (0, *range(2, dy.ndim))
    shape = (1, -1) + (1,) * (dy.ndim - 2)
    dparams = ()
    dxhat = dy
    if weight is not None:
        dparams = (np.sum(dy * xhat, axis=axes), dy.sum(axis=axes))
        dxhat = dy * weight.reshape(shape)
    if not need_dx:
        dx = None
    elif not batch_stats:
        dx = dxhat * invstd.reshape(shape)
    else:
        # The batch mean and variance depend on x too: project out their two directions.
        count = dy.size // dy.shape[1]
        mean_d = dxhat.sum(axis=axes).reshape(shape) * (1.0 / count)
        mean_dx = np.sum(dxhat * xhat, axis=axes).reshape(shape) * (1.0 / count)
        dx = (dxhat - mean_d - xhat * mean_dx) * invstd.reshape(shape)
    return (dx, *dparams) if dparams else dx


def standardize(x: np.ndarray, *, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, Any]:
    """(x - mean) / std per element, with the node's fixed statistics (its state)."""
    return (x - mean) / std, std


def standardize_backward(dy: np.ndarray, cache: np.ndarray) -> np.ndarray:
    return dy / cache


def dropout(x: np.ndarray, *, p: float, train: bool, rng: Any) -> tuple[np.ndarray, Any]:
    """Inverted dropout: (y, scale), scale None when it is the identity (evaluation, p 0).

    A unit is kept when a float32 uniform draw u in [0, 1) has u >= p; kept units are
    scaled by 1 / (1 - p). The masks come from the model's own generator.
    """
    if not train or p == 0.0:
        return x, None
    if p >= 1.0:
        scale = np.zeros_like(x)
    else:
        keep = rng.random(x.shape, dtype=np.float32) >= np.float32(p)
        scale = keep.astype(x.dtype)
        scale *= 1.0 / (1.0 - p)
    return x * scale, scale


def dropout_backward(dy: np.ndarray, scale: Any) -> np.ndarray:
    """dy through the kept units, scaled as they were; the identity in evaluation."""
    return dy if scale is None else dy * scale


# -- shape ops and merges -------------------------------------------------------------------


def reshape(x: np.ndarray, *, shape: tuple) -> tuple[np.ndarray, Any]:
    """flatten and reshape: ``shape`` is the per-sample output shape from the checked IR."""
    return x.reshape(x.shape[0], *shape), x.shape[1:]


def reshape_backward(dy: np.ndarray, in_shape: tuple) -> np.ndarray:
    return dy.reshape(dy.shape[0], *in_shape)


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape`` over the axes that broadcasting had stretched."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def add(*xs: np.ndarray) -> tuple[np.ndarray, Any]:
    """Elementwise sum of any number of inputs."""
    y = xs[0] + xs[1]
    for x in xs[2:]:
        y += x
    return y, [x.shape for x in xs]


def add_backward(dy: np.ndarray, shapes: list) -> tuple:
    return tuple(_unbroadcast(dy, shape) for shape in shapes)


def multiply(*xs: np.ndarray) -> tuple[np.ndarray, Any]:
    """Elementwise product of any number of inputs."""
    y = xs[0] * xs[1]
    for x in xs[2:]:
        y *= x
    return y, xs


def multiply_backward(dy: np.ndarray, xs: tuple) -> tuple:
    """Each input's gradient is dy times the product of the others (not y / x: x may
    hold zeros)."""
    out = []
    for i, x in enumerate(xs):
        g = dy
        for j, other in enumerate(xs):
            if j != i:
                g = g * other
        out.append(_unbroadcast(g, x.shape))
    return tuple(out)


def concat(*xs: np.ndarray, axis: int) -> tuple[np.ndarray, Any]:
    """Concatenation along a batch axis; the cache is where dy splits."""
    splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
    return np.concatenate(xs, axis=axis), [int(s) for s in splits]


def concat_backward(dy: np.ndarray, splits: list, *, axis: int) -> tuple:
    return tuple(np.split(dy, splits, axis=axis))


def arguments(fn: Any, available: dict[str, Any], arrays: Collection[str] = ()) -> dict[str, Any]:
    """The entries of ``available`` that ``fn`` names, in the order of its signature; a
    function taking ``**weights`` (a recurrent layer, whose parameters are named per
    layer and direction) also receives the other entries named in ``arrays`` (the
    node's parameters and state), in their order."""
    names = inspect.signature(fn).parameters
    found = {name: available[name] for name in names if name in available}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in names.values()):
        found |= {name: available[name] for name in arrays if name not in found}
    return found


# -- the table --------------------------------------------------------------------------------


def _conv_window(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {"stride": op.stride, "dilation": op.dilation, "groups": op.groups, "pads": op.padding}


def _pool_window(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {"kernel": op.kernel, "stride": op.stride, "pads": op.padding}


def _out_shape(node: CheckedNode) -> dict[str, Any]:
    return {"shape": node.output.shape}


def _fields(*names: str) -> Any:
    """``static`` reading the op fields ``names`` as they are."""
    return lambda node: {name: getattr(node.op, name) for name in names}


def _pair(fn: Any, backward: Any, static: Any = no_static) -> Lowering:
    return Lowering(fn=fn, static=static, backward=backward)


LOWERINGS: dict[str, Lowering] = {
    "dense": _pair(dense, dense_backward),
    "conv2d": _pair(conv2d, conv2d_backward, _conv_window),
    "maxpool": _pair(maxpool, maxpool_backward, _pool_window),
    "avgpool": _pair(avgpool, avgpool_backward, _pool_window),
    "global_avgpool": _pair(global_avgpool, global_avgpool_backward, _out_shape),
    "batchnorm": _pair(batchnorm, batchnorm_backward, _fields("momentum", "eps")),
    "standardize": _pair(standardize, standardize_backward),
    "dropout": _pair(dropout, dropout_backward, _fields("p")),
    "flatten": _pair(reshape, reshape_backward, _out_shape),
    "reshape": _pair(reshape, reshape_backward, _out_shape),
    "add": _pair(add, add_backward),
    "multiply": _pair(multiply, multiply_backward),
    "concat": _pair(concat, concat_backward, batch_axis("axis")),
    **CONV1D,
    **CONV_TRANSPOSE,
    **NORMS,
    **RECURRENT,
    **ACTIVATIONS,
    **SHAPE_OPS,
    **RESAMPLE_OPS,
    **ATTENTION,
    **EMBEDDINGS,
}
