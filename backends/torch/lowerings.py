"""Which torch function computes each op kind, and the static arguments a node gives it.

Torch-free, so that the code generator reads it without importing torch. A bare name is
a function of ``nn.py`` (where each op's arithmetic is written once); a dotted name is
torch's own callable. ``nn.LOWERINGS`` resolves the names into
:class:`netspec.lowering.Lowering` entries for the in-memory module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netspec.ir import CheckedNode
from netspec.lowering import batch_axis, no_static, recurrent_static

Static = Callable[[CheckedNode], dict[str, Any]]


def _conv(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {
        "stride": tuple(op.stride),
        "pads": op.padding,
        "dilation": tuple(op.dilation),
        "groups": op.groups,
    }


def _conv_transpose(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {
        "stride": tuple(op.stride),
        # The checker allows only the same padding on both sides, as torch's.
        "padding": (op.padding[0][0], op.padding[1][0]),
        "output_padding": tuple(op.output_padding),
        "groups": op.groups,
        "dilation": tuple(op.dilation),
    }


def _pool(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {
        "kernel": tuple(op.kernel),
        "stride": tuple(op.stride),
        "pads": op.padding,
    }


def _conv1d(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {"stride": op.stride, "pads": op.padding, "dilation": op.dilation, "groups": op.groups}


def _pool1d(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {"kernel": op.kernel, "stride": op.stride, "pads": op.padding}


def _fields(*names: str) -> Static:
    """The op's own fields under their IR names."""

    def static(node: CheckedNode) -> dict[str, Any]:
        return {name: getattr(node.op, name) for name in names}

    return static


def _keepdim(node: CheckedNode) -> dict[str, Any]:
    return {"keepdim": len(node.output.shape) > 1}


def _shape(node: CheckedNode) -> dict[str, Any]:
    return {"shape": tuple(node.output.shape)}


def _layer_norm(node: CheckedNode) -> dict[str, Any]:
    # torch names the normalised axes by their sizes: the sample's last ``axes`` sizes.
    op: Any = node.op
    shape = tuple(node.output.shape)
    return {"normalized_shape": shape[len(shape) - op.axes :], "eps": op.eps}


def _group_norm(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {"num_groups": op.groups, "eps": op.eps}


def _flatten(node: CheckedNode) -> dict[str, Any]:
    return {"start_dim": 1}


def _permute(node: CheckedNode) -> dict[str, Any]:
    return {"dims": (0, *(a + 1 for a in node.op.axes))}  # type: ignore[union-attr]


def _transpose(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {"dim0": op.axis0 + 1, "dim1": op.axis1 + 1}  # type: ignore[union-attr]


def _slice(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {"dim": op.axis + 1, "start": op.start, "stop": op.stop, "step": op.step}  # type: ignore[union-attr]


def _adaptive(node: CheckedNode) -> dict[str, Any]:
    return {"output_size": tuple(node.op.size)}  # type: ignore[union-attr]


def _interpolate(node: CheckedNode) -> dict[str, Any]:
    # F.interpolate with scale_factor; torch refuses align_corners for nearest, so it is
    # given only to bilinear.
    op = node.op
    found = {"scale_factor": tuple(float(s) for s in op.scale), "mode": op.mode}  # type: ignore[union-attr]
    if op.mode == "bilinear":  # type: ignore[union-attr]
        found["align_corners"] = op.align_corners  # type: ignore[union-attr]
    return found


def _attention(node: CheckedNode) -> dict[str, Any]:
    # The probability as ``p``, the dropout op's word (``dropout`` names a function).
    op: Any = node.op
    return {"heads": op.heads, "causal": op.causal, "p": op.dropout}


F = "torch.nn.functional."

CALLS: dict[str, tuple[str, Static]] = {
    "dense": (F + "linear", no_static),
    "conv2d": ("conv2d", _conv),
    "conv2d_transpose": (F + "conv_transpose2d", _conv_transpose),
    "maxpool": ("maxpool", _pool),
    "avgpool": ("avgpool", _pool),
    "global_avgpool": ("global_avgpool", _keepdim),
    "conv1d": ("conv1d", _conv1d),
    "maxpool1d": ("maxpool1d", _pool1d),
    "avgpool1d": ("avgpool1d", _pool1d),
    "batchnorm": ("batchnorm", _fields("momentum", "eps")),
    "layer_norm": (F + "layer_norm", _layer_norm),
    "group_norm": (F + "group_norm", _group_norm),
    "dropout": ("dropout", _fields("p")),
    "flatten": ("torch.flatten", _flatten),
    "reshape": ("reshape", _shape),
    "add": ("add", no_static),
    "multiply": ("multiply", no_static),
    "concat": ("concat", batch_axis("dim")),
    "identity": ("identity", no_static),
    "standardize": ("standardize", no_static),
    "step": ("step", no_static),
    "sigmoid": ("torch.sigmoid", no_static),
    "tanh": ("torch.tanh", no_static),
    "relu": (F + "relu", no_static),
    "silu": (F + "silu", no_static),
    "mish": (F + "mish", no_static),
    "relu6": (F + "relu6", no_static),
    "hard_sigmoid": (F + "hardsigmoid", no_static),
    "hard_swish": (F + "hardswish", no_static),
    "leaky_relu": (F + "leaky_relu", _fields("negative_slope")),
    "prelu": (F + "prelu", no_static),
    "elu": (F + "elu", _fields("alpha")),
    "selu": (F + "selu", no_static),
    "gelu": (F + "gelu", _fields("approximate")),
    "softplus": (F + "softplus", _fields("beta", "threshold")),
    "softmax": (F + "softmax", batch_axis("dim")),
    "log_softmax": (F + "log_softmax", batch_axis("dim")),
    "permute": ("torch.permute", _permute),
    "transpose": ("torch.transpose", _transpose),
    "slice": ("slice_axis", _slice),
    "adaptive_avgpool": (F + "adaptive_avg_pool2d", _adaptive),
    "upsample": (F + "interpolate", _interpolate),
    "multi_head_attention": ("multi_head_attention", _attention),
    "positional_embedding": ("positional_embedding", no_static),
    # torch's fused kernels (torch.lstm...), called as nn.LSTM calls them.
    "rnn": ("recurrent", recurrent_static),
    "lstm": ("recurrent", recurrent_static),
    "gru": ("recurrent", recurrent_static),
    # Rows of weight by index; the padding_idx row gets no gradient.
    "embedding": (F + "embedding", _fields("padding_idx")),
}
