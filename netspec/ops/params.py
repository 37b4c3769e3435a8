"""The learnable parameters and running state each op owns, in a stable order."""

from __future__ import annotations

from typing import Any

from netspec.ir.graph import ParamSpec, StateSpec
from netspec.ir.init import Constant, Regularize

Shape = tuple[int, ...]
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


def _affine(node: str, op: Any, weight_shape: Shape, units: int) -> list[ParamSpec]:
    """An affine layer's weight (with the op's penalties) and optional bias (none)."""
    specs = [_param(node, "weight", "weight", weight_shape, op.weight_init, op.regularize)]
    if op.bias:
        specs.append(_param(node, "bias", "bias", (units,), op.bias_init, _OFF))
    return specs


def params_of(node: str, op: Any, input_shape: Shape) -> list[ParamSpec]:
    """Parameters of one node; weights carry the op's penalties, nothing else does."""
    if op.kind == "dense":
        return _affine(node, op, (op.units, input_shape[0]), op.units)
    if op.kind == "conv2d":
        kh, kw = op.kernel
        return _affine(node, op, (op.filters, input_shape[0] // op.groups, kh, kw), op.filters)
    if op.kind == "batchnorm" and op.affine:
        channels = (input_shape[0],)
        return [
            ParamSpec.model_construct(
                name=f"{node}.weight",
                node=node,
                attr="weight",
                role="weight",
                shape=channels,
                init=op.weight_init,
                regularize=_OFF,
            ),
            ParamSpec.model_construct(
                name=f"{node}.bias",
                node=node,
                attr="bias",
                role="bias",
                shape=channels,
                init=op.bias_init,
                regularize=_OFF,
            ),
        ]
    if op.kind == "prelu":
        count = input_shape[0] if op.per_channel else 1
        return [
            ParamSpec.model_construct(
                name=f"{node}.weight",
                node=node,
                attr="weight",
                role="slope",
                shape=(count,),
                init=Constant.model_construct(value=op.init),
                regularize=_OFF,
            )
        ]
    return []


def state_of(node: str, op: Any, input_shape: Shape) -> list[StateSpec]:
    if op.kind != "batchnorm":
        return []
    channels = (input_shape[0],)
    return [
        StateSpec.model_construct(
            name=f"{node}.running_mean", node=node, attr="running_mean", shape=channels, fill=0.0
        ),
        StateSpec.model_construct(
            name=f"{node}.running_var", node=node, attr="running_var", shape=channels, fill=1.0
        ),
    ]
