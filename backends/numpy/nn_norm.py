"""Per-sample normalisation in NumPy, forward and backward: layer_norm and group_norm.

Part of :mod:`netspec.backends.numpy.nn` (whose calling convention they follow and whose
``LOWERINGS`` takes :data:`NORMS` in). Both normalise each sample with its own mean and
biased variance, as torch.nn.LayerNorm and torch.nn.GroupNorm: no running statistics, so
training and evaluation compute the same. Like every backend function they are copied as
they are into generated NumPy modules, so they read only ``np`` and each other.

The backward is the standard one of a normalisation over a group of m values: with
``xhat = (x - mean) / sqrt(var + eps)`` and ``dxhat`` the gradient reaching ``xhat``,
``dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)``, the two
means taken over the group; the mean and the variance depend on x, and this projects out
their two directions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netspec.ir import CheckedNode
from netspec.lowering import Lowering, last_axes


def normalized(x: np.ndarray, axes: tuple, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(xhat, 1 / sqrt(var + eps)) of x over ``axes``, with the biased variance; the
    second keeps the reduced axes (size 1), to broadcast back."""
    centred = x - x.mean(axis=axes, keepdims=True)
    invstd = 1.0 / np.sqrt(np.mean(centred * centred, axis=axes, keepdims=True) + eps)
    return centred * invstd, invstd


def normalized_backward(
    dxhat: np.ndarray, xhat: np.ndarray, invstd: np.ndarray, axes: tuple
) -> np.ndarray:
    """The gradient of x from that of xhat, through the mean and variance over ``axes``."""
    mean_d = dxhat.mean(axis=axes, keepdims=True)
    mean_dx = np.mean(dxhat * xhat, axis=axes, keepdims=True)
    return (dxhat - mean_d - xhat * mean_dx) * invstd


def layer_norm(
    x: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    axes: tuple,
    eps: float,
) -> tuple[np.ndarray, Any]:
    """Each sample normalised over its trailing batch axes ``axes`` together, then scaled
    and shifted elementwise by ``weight`` and ``bias`` (of those axes' shape)."""
    xhat, invstd = normalized(x, axes, eps)
    y = xhat if weight is None else xhat * weight + bias
    return y, (xhat, invstd, axes)


def layer_norm_backward(
    dy: np.ndarray,
    cache: Any,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    need_dx: bool = True,
) -> Any:
    """(dx, dweight, dbias) with affine, else dx; dx None unless ``need_dx``."""
    xhat, invstd, axes = cache
    dxhat = dy
    dparams = ()
    if weight is not None:
        # The scale and shift are shared by every sample and leading axis.
        leading = tuple(range(dy.ndim - len(axes)))
        dparams = (np.sum(dy * xhat, axis=leading), dy.sum(axis=leading))
        dxhat = dy * weight
    dx = normalized_backward(dxhat, xhat, invstd, axes) if need_dx else None
    return (dx, *dparams) if dparams else dx


def group_norm(
    x: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    groups: int,
    eps: float,
) -> tuple[np.ndarray, Any]:
    """Each sample of [N, C, ...] normalised per group of C / groups consecutive channels
    (with all their other axes), then scaled and shifted per channel."""
    grouped = x.reshape(x.shape[0], groups, -1)
    xhat, invstd = normalized(grouped, (2,), eps)
    xhat = xhat.reshape(x.shape)
    channel = (1, -1) + (1,) * (x.ndim - 2)
    y = xhat if weight is None else xhat * weight.reshape(channel) + bias.reshape(channel)
    return y, (xhat, invstd, groups)


def group_norm_backward(
    dy: np.ndarray,
    cache: Any,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    need_dx: bool = True,
) -> Any:
    """(dx, dweight, dbias) with affine, else dx; dx None unless ``need_dx``."""
    xhat, invstd, groups = cache
    dxhat = dy
    dparams = ()
    if weight is not None:
        others = (0, *range(2, dy.ndim))
        dparams = (np.sum(dy * xhat, axis=others), dy.sum(axis=others))
        dxhat = dy * weight.reshape((1, -1) + (1,) * (dy.ndim - 2))
    dx = None
    if need_dx:
        grouped = (dy.shape[0], groups, -1)
        dx = normalized_backward(
            dxhat.reshape(grouped), xhat.reshape(grouped), invstd, (2,)
        ).reshape(dy.shape)
    return (dx, *dparams) if dparams else dx


# -- the table --------------------------------------------------------------------------------


def _trailing_axes(node: CheckedNode) -> dict[str, Any]:
    """The checked ``axes`` count as the batch axes it names: the sample's last ones."""
    op: Any = node.op
    return {"axes": last_axes(node, op.axes), "eps": op.eps}


def _groups(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {"groups": op.groups, "eps": op.eps}


NORMS: dict[str, Lowering] = {
    "layer_norm": Lowering(fn=layer_norm, static=_trailing_axes, backward=layer_norm_backward),
    "group_norm": Lowering(fn=group_norm, static=_groups, backward=group_norm_backward),
}
