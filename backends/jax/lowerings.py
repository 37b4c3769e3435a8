"""Which JAX function computes each op kind, and the static arguments a node gives it.

JAX-free, so that the code generator reads it without importing JAX. A bare name is a
function of ``nn.py`` (where each op's arithmetic is written once, the sequence ops' in
``nn_attention.py`` and ``nn_recurrent.py``, which it takes in); a dotted name is
JAX's own callable. ``nn.LOWERINGS`` resolves the names into
:class:`netspec.lowering.Lowering` entries for the in-memory backend.

The calling convention, for a node with batched inputs ``xs``::

    fn(*xs, **params, **state, **static(node), [train=...], [rng=..., index=...])

``params`` and ``state`` are the node's arrays by attribute (``weight``, ``running_mean``);
``train`` goes to functions that take it, and ``rng`` (the model's key for this call,
None in evaluation) with ``index`` (the node's position in the model) to those that draw
random numbers. A function that takes both state and ``train`` moves its state in
training: it returns the output and the new value of each state argument, in the node's
state order; every other function returns the output alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from netspec.ir import CheckedNode
from netspec.lowering import Definition, batch_axis, last_axes, no_static, recurrent_static
from netspec.lowering import definitions as read_definitions

Static = Callable[[CheckedNode], dict[str, Any]]
# nn.py and the modules of the sequence ops whose functions it takes in.
NN_SOURCES = tuple(
    Path(__file__).with_name(name) for name in ("nn.py", "nn_attention.py", "nn_recurrent.py")
)


def _window(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {"kernel": op.kernel, "stride": op.stride, "padding": op.padding}  # type: ignore[union-attr]


def _conv2d(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {
        "stride": op.stride,  # type: ignore[union-attr]
        "padding": op.padding,  # type: ignore[union-attr]
        "dilation": op.dilation,  # type: ignore[union-attr]
        "groups": op.groups,  # type: ignore[union-attr]
    }


def _conv1d(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {
        "stride": op.stride,  # type: ignore[union-attr]
        "padding": op.padding,  # type: ignore[union-attr]
        "dilation": op.dilation,  # type: ignore[union-attr]
        "groups": op.groups,  # type: ignore[union-attr]
    }


def _conv2d_transpose(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {
        "stride": op.stride,
        "padding": op.padding,
        "output_padding": op.output_padding,
        "dilation": op.dilation,
        "groups": op.groups,
    }


def _fields(*names: str) -> Static:
    """The op's own fields under their IR names."""
    return lambda node: {name: getattr(node.op, name) for name in names}


def _layer_norm(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {"axes": last_axes(node, op.axes), "eps": op.eps}


def _shape(node: CheckedNode) -> dict[str, Any]:
    # The checked output shape already resolves any -1 of a reshape.
    return {"shape": node.output.shape}


def _permute(node: CheckedNode) -> dict[str, Any]:
    return {"axes": (0, *(a + 1 for a in node.op.axes))}  # type: ignore[union-attr]


def _swap(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {"axis1": op.axis0 + 1, "axis2": op.axis1 + 1}  # type: ignore[union-attr]


def _slice(node: CheckedNode) -> dict[str, Any]:
    op = node.op
    return {
        "start_index": op.start,  # type: ignore[union-attr]
        "limit_index": op.stop,  # type: ignore[union-attr]
        "stride": op.step,  # type: ignore[union-attr]
        "axis": op.axis + 1,  # type: ignore[union-attr]
    }


def _attention(node: CheckedNode) -> dict[str, Any]:
    # The probability as ``p``, the dropout op's word (``dropout`` names a function).
    op: Any = node.op
    return {"heads": op.heads, "causal": op.causal, "p": op.dropout}


CALLS: dict[str, tuple[str, Static]] = {
    "dense": ("dense", no_static),
    "conv2d": ("conv2d", _conv2d),
    "conv2d_transpose": ("conv2d_transpose", _conv2d_transpose),
    "maxpool": ("maxpool", _window),
    "avgpool": ("avgpool", _window),
    "global_avgpool": ("global_avgpool", no_static),
    "conv1d": ("conv1d", _conv1d),
    "maxpool1d": ("maxpool1d", _window),
    "avgpool1d": ("avgpool1d", _window),
    "flatten": ("reshape", _shape),
    "reshape": ("reshape", _shape),
    "add": ("add", no_static),
    "multiply": ("multiply", no_static),
    "concat": ("concat", batch_axis("axis")),
    "identity": ("identity", no_static),
    "step": ("step", no_static),
    # jax.nn.relu has PyTorch's gradient 0 at 0 (jnp.maximum(x, 0) would give 0.5).
    "relu": ("jax.nn.relu", no_static),
    "silu": ("jax.nn.silu", no_static),
    "mish": ("jax.nn.mish", no_static),
    # jax.nn.relu6 has PyTorch's gradient 0 at 0 and at 6.
    "relu6": ("jax.nn.relu6", no_static),
    # PyTorch's hardsigmoid gradient is 1/6 rounded to float32: nn.py's function has it.
    "hard_sigmoid": ("hard_sigmoid", no_static),
    # x * hard_sigmoid(x): PyTorch's gradient, 0 at -3 and 1 at 3 (relu6's zeros there).
    "hard_swish": ("jax.nn.hard_swish", no_static),
    "sigmoid": ("jax.nn.sigmoid", no_static),
    "tanh": ("jax.numpy.tanh", no_static),
    "leaky_relu": ("leaky_relu", _fields("negative_slope")),
    "prelu": ("prelu", _fields("per_channel")),
    # jax.nn.elu keeps exp away from large x and has PyTorch's gradient (alpha) at 0.
    "elu": ("jax.nn.elu", _fields("alpha")),
    # PyTorch's scale and alpha; the gradient at 0 is scale * alpha, as PyTorch's.
    "selu": ("jax.nn.selu", no_static),
    "gelu": ("gelu", _fields("approximate")),
    "softplus": ("softplus", _fields("beta", "threshold")),
    "softmax": ("jax.nn.softmax", batch_axis("axis")),
    "log_softmax": ("jax.nn.log_softmax", batch_axis("axis")),
    "standardize": ("standardize", no_static),
    "batchnorm": ("batchnorm", _fields("momentum", "eps")),
    "layer_norm": ("layer_norm", _layer_norm),
    "group_norm": ("group_norm", _fields("groups", "eps")),
    "dropout": ("dropout", _fields("p")),
    "permute": ("jax.numpy.transpose", _permute),
    "transpose": ("jax.numpy.swapaxes", _swap),
    "slice": ("jax.lax.slice_in_dim", _slice),
    "adaptive_avgpool": ("adaptive_avgpool", _fields("size")),
    "upsample": ("upsample", _fields("scale", "mode", "align_corners")),
    "multi_head_attention": ("multi_head_attention", _attention),
    "positional_embedding": ("positional_embedding", no_static),
    # lax.scan over the steps; the inputs' projection is one product per layer.
    "rnn": ("recurrent", recurrent_static),
    "lstm": ("recurrent", recurrent_static),
    "gru": ("recurrent", recurrent_static),
    "embedding": ("embedding", _fields("padding_idx")),
}


def definitions() -> dict[str, Definition]:
    """Every top-level function of ``nn.py`` and of the modules it takes functions from,
    read from their source (JAX is not imported)."""
    return read_definitions(*NN_SOURCES)


def conventions(name: str) -> frozenset[str]:
    """Which of the convention's extra arguments the function ``name`` takes: ``train``,
    ``rng`` (which comes with ``index``). JAX's own callables take neither."""
    if "." in name:
        return frozenset()
    return definitions()[name].parameters & {"train", "rng"}


def moved_state(name: str, node: CheckedNode) -> tuple[str, ...]:
    """The state attributes the node's function returns after its output (in training)."""
    if "train" not in conventions(name):
        return ()
    return tuple(full.rpartition(".")[2] for full in node.state)
