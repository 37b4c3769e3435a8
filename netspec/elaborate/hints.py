"""Targeted help for argument names carried over from Keras and PyTorch.

Edit distance alone gives poor advice for these: ``activation`` (on a layer without
it) is closest to ``dilation``, ``kernel_size`` to nothing useful. Each entry says what
netspec writes instead; it is consulted before the did-you-mean suggestion.
"""

from __future__ import annotations

from collections.abc import Sequence

CHAIN_ACTIVATION = (
    "{kind} has no activation argument: chain the activation after it, e.g. {kind}(...) -> "
    "{name} (dense, conv2d, conv1d and conv2d_transpose also take activation = {name})"
)
NAME_ACTIVATION = (
    "pass the activation by name, {kind}(..., activation = {name}), or chain it after the "
    "layer: {kind}(...) -> {name}"
)
INFERRED_INPUT = (
    "netspec infers input sizes from the previous layer: drop {key} "
    "(only the output size is written, e.g. {example})"
)

# Keras / PyTorch name -> the netspec argument that means the same, where there is one.
_RENAMED: dict[str, str] = {
    "kernel_size": "kernel",
    "pool_size": "kernel",
    "strides": "stride",
    "dilation_rate": "dilation",
    "out_channels": "filters",
    "out_features": "units",
    "use_bias": "bias",
    "epsilon": "eps",
    "elementwise_affine": "affine",
    "num_groups": "groups",
    "rate": "p",
    "kernel_initializer": "init",
    "weight_init": "init",
    "bias_initializer": "bias_init",
    "kernel_regularizer": "regularize",
    "dim": "axis",
    "alpha": "negative_slope",
    "units": "filters",
    "filters": "units",
    "hidden_size": "hidden",
    "num_layers": "layers",
}
_INPUT_SIZES = (
    "in_channels",
    "in_features",
    "input_shape",
    "input_dim",
    "num_features",
    "input_size",
)
# torch's recurrent layers read [N, T, F] only with batch_first=True, netspec's always.
BATCH_FIRST = (
    "netspec's sequences are always batch first ([T, F] per sample, as torch's "
    "batch_first = True): drop batch_first"
)
# torch.nn.LayerNorm's and GroupNorm's sizes of the input, which netspec infers.
NORMALIZED_SHAPE = (
    "layer_norm counts the axes it normalises from the end of each sample (netspec knows "
    "their sizes): axes = 1 for the last one, axes = 3 for a whole [C, H, W] sample"
)
NUM_CHANNELS = "netspec infers the channels from the previous layer: drop num_channels"


def foreign_argument(kind: str, key: str, names: Sequence[str], example: str) -> list[str]:
    """Help for ``kind(key = ...)`` when ``key`` is a Keras or PyTorch habit, else []."""
    if key == "activation":
        return [activation_help(kind, "relu", keyword=False)]
    if key in _INPUT_SIZES:
        return [INFERRED_INPUT.format(key=key, example=example or f"{kind}(...)")]
    if key == "normalized_shape" and "axes" in names:
        return [NORMALIZED_SHAPE]
    if key == "num_channels" and "groups" in names:
        return [NUM_CHANNELS]
    if key == "inplace":
        return ["netspec has no in-place operations: drop inplace"]
    if key == "bias" and "bias" not in names:
        if "affine" in names:
            return [f"{kind}'s scale and shift are switched together: affine = false"]
        return [f"{kind} has no bias"]
    if key == "padding_mode":
        return ["padding is always with zeros in netspec: drop padding_mode"]
    if key == "batch_first":
        return [BATCH_FIRST]
    if key == "nonlinearity" and "hidden" in names:
        return [f"{kind}'s gates are fixed (sigmoid and tanh); rnn takes nonlinearity = relu"]
    if key == "units" and "hidden" in names:
        return [f"netspec calls it 'hidden': {kind}(hidden = ...)"]
    renamed = _RENAMED.get(key)
    if renamed is not None and renamed in names:
        return [f"netspec calls it '{renamed}': {kind}({renamed} = ...)"]
    return []


def activation_help(kind: str, name: str, *, keyword: bool) -> str:
    """Where an activation goes: the ``activation`` argument of a layer that has one
    (``keyword``), else a stage chained after the layer."""
    return (NAME_ACTIVATION if keyword else CHAIN_ACTIVATION).format(kind=kind, name=name)


def quoted_word(found: str, choices: Sequence[str]) -> list[str]:
    """Help for a word written as a string (``padding = "same"``): netspec has no quotes."""
    if found in choices:
        return [f"write it without quotes: {found}"]
    lowered = found.lower()
    if lowered in choices:
        return [f"write it without quotes, in lower case: {lowered}"]
    return []
