"""The learnable parameters and the state each op owns, in a stable order.

A parameter rule takes the node's name, the op as written and its first input's shape.
Weights carry the op's penalties; biases, scales and slopes are never penalised. The
initialisation and penalties a spec writes on an op live, after checking, only in these
ParamSpecs; :func:`as_written` puts them back on the op for ``netspec summary``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netspec.ir import ops
from netspec.ir.graph import ParamSpec, StateSpec
from netspec.ir.init import Constant, Regularize

Shape = tuple[int, ...]
ParamRule = Callable[[str, Any, Shape], list[ParamSpec]]
StateRule = Callable[[str, Any, Shape], list[StateSpec]]
_OFF = Regularize.model_construct()


def _param(node: str, attr: str, role: str, shape: Shape, init: Any, regularize: Any) -> ParamSpec:
    return ParamSpec.model_construct(
        name=f"{node}.{attr}",
        node=node,
        attr=attr,
        role=role,
        shape=shape,
        init=init,
        regularize=regularize,
    )


def _state(node: str, attr: str, shape: Shape, fill: float) -> StateSpec:
    return StateSpec.model_construct(
        name=f"{node}.{attr}", node=node, attr=attr, shape=shape, fill=fill
    )


def none(node: str, op: Any, input_shape: Shape) -> list[Any]:
    """Ops that own nothing."""
    return []


def _affine(node: str, op: Any, weight_shape: Shape, units: int) -> list[ParamSpec]:
    """An affine layer's weight (with the op's penalties) and optional bias (none)."""
    specs = [_param(node, "weight", "weight", weight_shape, op.weight_init, op.regularize)]
    if op.bias:
        specs.append(_param(node, "bias", "bias", (units,), op.bias_init, _OFF))
    return specs


def dense(node: str, op: ops.Dense, input_shape: Shape) -> list[ParamSpec]:
    """weight [units, in], bias [units]; ``in`` is the last axis (features per step of a
    sequence)."""
    return _affine(node, op, (op.units, input_shape[-1]), op.units)


def conv2d(node: str, op: ops.Conv2d, input_shape: Shape) -> list[ParamSpec]:
    """weight [filters, in / groups, kh, kw], bias [filters]."""
    kh, kw = op.kernel
    return _affine(node, op, (op.filters, input_shape[0] // op.groups, kh, kw), op.filters)


def conv1d(node: str, op: ops.Conv1d, input_shape: Shape) -> list[ParamSpec]:
    """weight [filters, in / groups, kernel], bias [filters]: torch.nn.Conv1d's."""
    return _affine(node, op, (op.filters, input_shape[0] // op.groups, op.kernel), op.filters)


def conv2d_transpose(node: str, op: ops.Conv2dTranspose, input_shape: Shape) -> list[ParamSpec]:
    """weight [in, filters / groups, kh, kw] (PyTorch's ConvTranspose2d), bias [filters].

    Initialisers read fans from the layout as PyTorch does (fan-in from dimension 1), so
    a scheme draws what torch.nn.init draws for this weight: fan-in is
    filters / groups * kh * kw and fan-out is in * kh * kw.
    """
    kh, kw = op.kernel
    return _affine(node, op, (input_shape[0], op.filters // op.groups, kh, kw), op.filters)


def _scale_shift(node: str, op: Any, shape: Shape) -> list[ParamSpec]:
    """A normalisation's scale (``weight``) and shift (``bias``) of ``shape``, unpenalised,
    with ``affine``; nothing without it."""
    if not op.affine:
        return []
    return [
        _param(node, "weight", "weight", shape, op.weight_init, _OFF),
        _param(node, "bias", "bias", shape, op.bias_init, _OFF),
    ]


def batchnorm(node: str, op: ops.BatchNorm, input_shape: Shape) -> list[ParamSpec]:
    """With ``affine``: a scale (``weight``) and a shift (``bias``) per channel."""
    return _scale_shift(node, op, (input_shape[0],))


def layer_norm(node: str, op: ops.LayerNorm, input_shape: Shape) -> list[ParamSpec]:
    """With ``affine``: a scale and a shift of the normalised axes' shape (torch's
    ``normalized_shape``), one per value of each normalised group."""
    return _scale_shift(node, op, input_shape[len(input_shape) - op.axes :])


def group_norm(node: str, op: ops.GroupNorm, input_shape: Shape) -> list[ParamSpec]:
    """With ``affine``: a scale and a shift per channel (not per group), as torch's."""
    return _scale_shift(node, op, (input_shape[0],))


def batchnorm_state(node: str, op: ops.BatchNorm, input_shape: Shape) -> list[StateSpec]:
    """The running statistics per channel, starting at mean 0 and variance 1."""
    channels = (input_shape[0],)
    return [
        _state(node, "running_mean", channels, 0.0),
        _state(node, "running_var", channels, 1.0),
    ]


def prelu(node: str, op: ops.Prelu, input_shape: Shape) -> list[ParamSpec]:
    """One slope per channel, or one shared slope, starting at ``init``."""
    count = input_shape[0] if op.per_channel else 1
    init = Constant.model_construct(value=op.init)
    return [_param(node, "weight", "slope", (count,), init, _OFF)]


def standardize_state(node: str, op: ops.Standardize, input_shape: Shape) -> list[StateSpec]:
    """Fixed feature statistics of the input's shape; the identity (0 and 1) until
    training sets them from the training split."""
    return [_state(node, "mean", input_shape, 0.0), _state(node, "std", input_shape, 1.0)]


def as_written(op: Any, written: type[Any], params: list[ParamSpec]) -> Any:
    """The checked ``op`` as an instance of its ``written`` class: the fields the rules
    above moved into ``params`` (initialisation, penalties, a slope's starting value)
    taken back from them. Geometry stays as checked (explicit pads, axes from 0)."""
    fields = written.model_fields
    values = {name: getattr(op, name) for name in type(op).model_fields}
    # Imported here: the recurrent rules build on this module's helpers.
    from netspec.ops.recurrent import GATES, written_inits

    if op.kind in GATES:
        # Several weights per layer, named per layer and direction, share one initialiser.
        return written.model_construct(**values, **written_inits(op.hidden, params))
    for spec in params:
        if spec.role == "slope" and "init" in fields:
            values["init"] = spec.init.value
        elif spec.attr == "weight" and "weight_init" in fields:
            values["weight_init"] = spec.init
            if "regularize" in fields:
                values["regularize"] = spec.regularize
        elif spec.attr == "bias" and "bias_init" in fields:
            values["bias_init"] = spec.init
    return written.model_construct(**values)
