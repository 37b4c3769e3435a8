"""Dense, batchnorm, standardize, dropout, the shape ops and the merges, forward and backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from netspec.backends.numpy._kernel import Context, Kernel, Params, batch_axis, channel_shape
from netspec.errors import ShapeError
from netspec.ir import CheckedNode
from netspec.ir.ops import BatchNorm, Concat, Dropout


class DenseKernel(Kernel):
    """y = x W^T + b with W of shape [out, in]."""

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        x = xs[0]
        y = x @ params[self.names["weight"]].T
        if "bias" in self.names:
            y += params[self.names["bias"]]
        return y, x

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        x: np.ndarray = cache
        grads[self.names["weight"]] = dy.T @ x
        if "bias" in self.names:
            grads[self.names["bias"]] = dy.sum(axis=0)
        return [dy @ params[self.names["weight"]] if need[0] else None]


class BatchNormKernel(Kernel):
    """Batch normalisation per feature (1-D input) or per channel ([C, H, W] input).

    Training normalises with the batch mean and biased variance and moves the running
    statistics by ``momentum`` towards the batch mean and the *unbiased* variance, as
    PyTorch does; evaluation normalises with the running statistics.
    """

    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        op = node.op
        assert isinstance(op, BatchNorm)
        self.op = op
        rank = len(in_shapes[0])
        self.axes = (0, *range(2, rank + 1))  # every axis but the channel axis
        self.bshape = channel_shape(rank)

    def _affine(self, xhat: np.ndarray, params: Params) -> np.ndarray:
        if "weight" not in self.names:
            return xhat
        gamma = params[self.names["weight"]].reshape(self.bshape)
        beta = params[self.names["bias"]].reshape(self.bshape)
        return xhat * gamma + beta

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        x = xs[0]
        mean_name, var_name = self.names["running_mean"], self.names["running_var"]
        if not ctx.train:
            invstd = 1.0 / np.sqrt(ctx.state[var_name] + self.op.eps)
            xhat = (x - ctx.state[mean_name].reshape(self.bshape)) * invstd.reshape(self.bshape)
            return self._affine(xhat, params), (xhat, invstd, False)
        count = x.size // x.shape[1]
        if count < 2:
            raise ShapeError(
                f"batchnorm {self.node.name!r} in training needs more than one value per "
                f"channel, got input shape {x.shape}; use a batch of 2 or more, or eval mode"
            )
        mean = x.mean(axis=self.axes)
        centred = x - mean.reshape(self.bshape)
        var = np.mean(centred * centred, axis=self.axes)
        invstd = 1.0 / np.sqrt(var + self.op.eps)
        xhat = centred * invstd.reshape(self.bshape)
        m = self.op.momentum
        running_mean, running_var = ctx.state[mean_name], ctx.state[var_name]
        # In place, so that the model's state arrays are the ones that move.
        running_mean *= 1.0 - m
        running_mean += m * mean
        running_var *= 1.0 - m
        running_var += (m * count / (count - 1)) * var
        return self._affine(xhat, params), (xhat, invstd, True)

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        xhat, invstd, batch_stats = cache
        if "weight" in self.names:
            grads[self.names["weight"]] = np.sum(dy * xhat, axis=self.axes)
            grads[self.names["bias"]] = dy.sum(axis=self.axes)
            dxhat = dy * params[self.names["weight"]].reshape(self.bshape)
        else:
            dxhat = dy
        if not need[0]:
            return [None]
        if not batch_stats:
            return [dxhat * invstd.reshape(self.bshape)]
        # The mean and variance depend on x too: project out their two directions.
        count = dy.size // dy.shape[1]
        mean_d = dxhat.sum(axis=self.axes).reshape(self.bshape) * (1.0 / count)
        mean_dx = np.sum(dxhat * xhat, axis=self.axes).reshape(self.bshape) * (1.0 / count)
        return [(dxhat - mean_d - xhat * mean_dx) * invstd.reshape(self.bshape)]


class StandardizeKernel(Kernel):
    """(x - mean) / std per element, with the node's fixed statistics (its state)."""

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        std = ctx.state[self.names["std"]]
        return (xs[0] - ctx.state[self.names["mean"]]) / std, std

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        return [dy / cache if need[0] else None]


class DropoutKernel(Kernel):
    """Inverted dropout: in training keep each unit with probability 1 - p and scale it
    by 1 / (1 - p); identity in evaluation. Masks come from the model's own stream."""

    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        op = node.op
        assert isinstance(op, Dropout)
        self.p = op.p

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        x = xs[0]
        if not ctx.train or self.p == 0.0:
            return x, None
        if self.p >= 1.0:
            scale = np.zeros_like(x)
        else:
            keep = ctx.rng.random(x.shape, dtype=np.float32) >= np.float32(self.p)
            scale = keep.astype(x.dtype)
            scale *= 1.0 / (1.0 - self.p)
        return x * scale, scale

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        if not need[0]:
            return [None]
        return [dy if cache is None else dy * cache]


class ReshapeKernel(Kernel):
    """flatten and reshape: the per-sample output shape comes from the checked IR."""

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        x = xs[0]
        return x.reshape(x.shape[0], *self.out_shape), None

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        return [dy.reshape(dy.shape[0], *self.in_shapes[0]) if need[0] else None]


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape`` over the axes that broadcasting had stretched."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


class AddKernel(Kernel):
    """Elementwise sum of any number of inputs."""

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        return y, [x.shape for x in xs]

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        return [_unbroadcast(dy, s) if n else None for s, n in zip(cache, need, strict=True)]


class MultiplyKernel(Kernel):
    """Elementwise product of any number of inputs."""

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y *= x
        return y, xs

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        xs: list[np.ndarray] = cache
        out: list[np.ndarray | None] = []
        for i, x in enumerate(xs):
            if not need[i]:
                out.append(None)
                continue
            # The product of the other inputs, not y / x: x may hold zeros.
            g = dy
            for j, other in enumerate(xs):
                if j != i:
                    g = g * other
            out.append(_unbroadcast(g, x.shape))
        return out


class ConcatKernel(Kernel):
    """Concatenation along a per-sample axis (0 = channels / features)."""

    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        op = node.op
        assert isinstance(op, Concat)
        self.axis = batch_axis(op.axis)
        rank = len(in_shapes[0])
        per_sample_axis = op.axis if op.axis >= 0 else rank + op.axis
        sizes = [shape[per_sample_axis] for shape in in_shapes]
        self.splits = [int(v) for v in np.cumsum(sizes)[:-1]]

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        return np.concatenate(xs, axis=self.axis), None

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        parts = np.split(dy, self.splits, axis=self.axis)
        return [p if n else None for p, n in zip(parts, need, strict=True)]
