"""The op registry's entries for convolution and pooling, two- and one-dimensional, which
:mod:`netspec.ops.table` joins to the others."""

from __future__ import annotations

from netspec.elaborate import convert as c
from netspec.ir import ops
from netspec.ops import flops as flop_rules
from netspec.ops import params as param_rules
from netspec.ops import shapes as shape_rules
from netspec.ops import text as summary_rules
from netspec.ops.facts import OpFacts
from netspec.ops.signature import (
    WEIGHT_PARAMS,
    Param,
    Signature,
    build_conv,
    build_fields,
    build_pool,
    output_padding,
    transpose_padding,
    validate_conv,
    validate_conv2d_transpose,
)

_NO_PADDING = ((0, 0), (0, 0))


def _pool_signature(cls: type, example: str, *, one_d: bool = False) -> Signature:
    """A pool's arguments: per axis pairs, or single sizes for a [channels, length] pool."""
    size = c.positive_int if one_d else c.pair
    padding = (c.padding1d, (0, 0)) if one_d else (c.padding, _NO_PADDING)
    return Signature(
        (
            Param("kernel", size),
            Param("stride", size, None),
            Param("padding", *padding),
        ),
        2,
        build_pool(cls),
        example=example,
    )


CONV_ENTRIES: tuple[OpFacts, ...] = (
    OpFacts(
        ops.Conv2d,
        Signature(
            (
                Param("filters", c.positive_int),
                Param("kernel", c.pair),
                Param("stride", c.pair, (1, 1)),
                Param("padding", c.padding, _NO_PADDING),
                Param("dilation", c.pair, (1, 1)),
                Param("groups", c.positive_int, 1),
                *WEIGHT_PARAMS,
            ),
            3,
            build_conv(ops.Conv2d),
            example="conv2d(16, 3, padding = same)",
            validate=validate_conv,
        ),
        shape_rules.conv2d,
        flop_rules.conv,
        params=param_rules.conv2d,
        summary=summary_rules.conv2d,
        affine=True,
    ),
    OpFacts(
        ops.Conv2dTranspose,
        Signature(
            (
                Param("filters", c.positive_int),
                Param("kernel", c.pair),
                Param("stride", c.pair, (1, 1)),
                Param("padding", transpose_padding, _NO_PADDING),
                Param("output_padding", output_padding, (0, 0)),
                Param("dilation", c.pair, (1, 1)),
                Param("groups", c.positive_int, 1),
                *WEIGHT_PARAMS,
            ),
            3,
            build_conv(ops.Conv2dTranspose),
            example="conv2d_transpose(16, 3, stride = 2, padding = 1, output_padding = 1)",
            validate=validate_conv2d_transpose,
        ),
        shape_rules.conv2d_transpose,
        flop_rules.conv2d_transpose,
        params=param_rules.conv2d_transpose,
        summary=summary_rules.conv2d,
        affine=True,
    ),
    OpFacts(
        ops.MaxPool,
        _pool_signature(ops.MaxPool, "maxpool(2)"),
        shape_rules.pool("maxpool"),
        flop_rules.pool,
        summary=summary_rules.pool,
    ),
    OpFacts(
        ops.AvgPool,
        _pool_signature(ops.AvgPool, "avgpool(2)"),
        shape_rules.pool("avgpool"),
        flop_rules.pool,
        summary=summary_rules.pool,
    ),
    OpFacts(
        ops.GlobalAvgPool,
        Signature((), 0, build_fields(ops.GlobalAvgPool)),
        shape_rules.global_avgpool,
        flop_rules.global_avgpool,
    ),
    # One-dimensional convolution and pooling, over [channels, length] samples.
    OpFacts(
        ops.Conv1d,
        Signature(
            (
                Param("filters", c.positive_int),
                Param("kernel", c.positive_int),
                Param("stride", c.positive_int, 1),
                Param("padding", c.padding1d, (0, 0)),
                Param("dilation", c.positive_int, 1),
                Param("groups", c.positive_int, 1),
                *WEIGHT_PARAMS,
            ),
            3,
            build_conv(ops.Conv1d),
            example="conv1d(16, 3, padding = same)",
            validate=validate_conv,
        ),
        shape_rules.conv1d,
        flop_rules.conv,
        params=param_rules.conv1d,
        summary=summary_rules.conv1d,
        affine=True,
    ),
    OpFacts(
        ops.MaxPool1d,
        _pool_signature(ops.MaxPool1d, "maxpool1d(2)", one_d=True),
        shape_rules.pool1d("maxpool1d"),
        flop_rules.pool,
        summary=summary_rules.pool1d,
    ),
    OpFacts(
        ops.AvgPool1d,
        _pool_signature(ops.AvgPool1d, "avgpool1d(2)", one_d=True),
        shape_rules.pool1d("avgpool1d"),
        flop_rules.pool,
        summary=summary_rules.pool1d,
    ),
)
