"""The op registry: for every op kind of the IR, the one place its framework-free facts
are written.

Each entry names the op's IR class, how the language calls it (its signature, or none
for an op only the checker inserts), its shape rule, its FLOPs, the parameters and state
it owns, how ``netspec summary`` writes it, and the flags the checker's warnings read.
The elaborator, the checker, ``summary`` and the parameter and state lists (and through
them the memory estimate and the initialisers) read these entries; the tables of names
below are derived from them.
"""

from __future__ import annotations

from typing import get_args

from netspec.elaborate import convert as c
from netspec.ir import ops
from netspec.ops import flops as flop_rules
from netspec.ops import params as param_rules
from netspec.ops import resample as resample_rules
from netspec.ops import shapes as shape_rules
from netspec.ops import text as summary_rules
from netspec.ops.facts import OpFacts
from netspec.ops.signature import (
    WEIGHT_PARAMS,
    Param,
    Signature,
    build_dense,
    build_fields,
    validate_dense,
    validate_dropout,
)
from netspec.ops.table_conv import CONV_ENTRIES
from netspec.ops.table_sequence import SEQUENCE_ENTRIES


def _activation(cls: type, *args: Param, positional: int = 0, flops_each: int = 1) -> OpFacts:
    """An elementwise activation whose arguments are the IR fields of the same names."""
    return OpFacts(
        cls,
        Signature(args, positional, build_fields(cls, *(p.name for p in args))),
        shape_rules.same_shape,
        flop_rules.per_output(flops_each),
        activation=True,
    )


_ENTRIES: tuple[OpFacts, ...] = (
    OpFacts(
        ops.Dense,
        Signature(
            (Param("units", c.positive_int, None), *WEIGHT_PARAMS),
            1,
            build_dense,
            example="dense(10)",
            validate=validate_dense,
        ),
        shape_rules.dense,
        flop_rules.dense,
        params=param_rules.dense,
        summary=summary_rules.dense,
        affine=True,
    ),
    *CONV_ENTRIES,
    OpFacts(
        ops.BatchNorm,
        Signature(
            (
                Param("momentum", c.fraction, 0.1),
                Param("eps", c.positive_real, 1e-5),
                Param("affine", c.boolean, True),
            ),
            0,
            build_fields(ops.BatchNorm, "momentum", "eps", "affine"),
        ),
        shape_rules.batchnorm,
        flop_rules.per_output(4),
        params=param_rules.batchnorm,
        state=param_rules.batchnorm_state,
    ),
    # Per-sample normalisation: neither affine nor keeps_affine for W001, since dividing by
    # each sample's own spread is not an affine map of the sample.
    OpFacts(
        ops.LayerNorm,
        Signature(
            (
                Param("axes", c.positive_int, 1),
                Param("eps", c.positive_real, 1e-5),
                Param("affine", c.boolean, True),
            ),
            0,
            build_fields(ops.LayerNorm, "axes", "eps", "affine"),
            example="layer_norm(axes = 3)",
        ),
        shape_rules.layer_norm,
        flop_rules.normalization,
        params=param_rules.layer_norm,
    ),
    OpFacts(
        ops.GroupNorm,
        Signature(
            (
                Param("groups", c.positive_int),
                Param("eps", c.positive_real, 1e-5),
                Param("affine", c.boolean, True),
            ),
            1,
            build_fields(ops.GroupNorm, "groups", "eps", "affine"),
            example="group_norm(8)",
        ),
        shape_rules.group_norm,
        flop_rules.normalization,
        params=param_rules.group_norm,
        summary=summary_rules.first_number("groups"),
    ),
    OpFacts(
        ops.Dropout,
        Signature(
            (Param("p", c.real, 0.5),), 1, build_fields(ops.Dropout, "p"), validate=validate_dropout
        ),
        shape_rules.same_shape,
        flop_rules.none,
        summary=summary_rules.first_number("p"),
        keeps_affine=True,
    ),
    OpFacts(
        ops.Flatten,
        Signature((), 0, build_fields(ops.Flatten)),
        shape_rules.flatten,
        flop_rules.none,
        keeps_affine=True,
        takes="any",
    ),
    OpFacts(
        ops.Reshape,
        Signature(
            (Param("shape", c.int_list),),
            1,
            build_fields(ops.Reshape, "shape"),
            example="reshape(1, 28, 28)",
            variadic=True,
        ),
        shape_rules.reshape,
        flop_rules.none,
        summary=summary_rules.reshape,
        keeps_affine=True,
        takes="any",
    ),
    OpFacts(
        ops.Add,
        Signature((), 0, build_fields(ops.Add), tensors=True, example="add(x, h)"),
        shape_rules.elementwise,
        flop_rules.elementwise,
    ),
    OpFacts(
        ops.Multiply,
        Signature((), 0, build_fields(ops.Multiply), tensors=True, example="multiply(a, b)"),
        shape_rules.elementwise,
        flop_rules.elementwise,
    ),
    OpFacts(
        ops.Concat,
        Signature(
            (Param("axis", c.integer, 0),),
            0,
            build_fields(ops.Concat, "axis"),
            tensors=True,
            example="concat(a, b)",
        ),
        shape_rules.concat,
        flop_rules.none,
    ),
    OpFacts(
        ops.Identity,
        Signature((), 0, build_fields(ops.Identity)),
        shape_rules.same_shape,
        flop_rules.none,
        activation=True,
        keeps_affine=True,
    ),
    OpFacts(
        ops.Standardize,
        None,
        shape_rules.same_shape,
        flop_rules.per_output(2),
        state=param_rules.standardize_state,
    ),
    _activation(ops.Step),
    _activation(ops.Sigmoid),
    _activation(ops.Tanh),
    _activation(ops.Relu),
    _activation(ops.Silu),
    _activation(ops.Mish),
    _activation(ops.Relu6),
    _activation(ops.HardSigmoid),
    _activation(ops.HardSwish),
    OpFacts(
        ops.LeakyRelu,
        Signature(
            (Param("negative_slope", c.real, 0.01),),
            1,
            build_fields(ops.LeakyRelu, "negative_slope"),
        ),
        shape_rules.same_shape,
        flop_rules.per_output(1),
        summary=summary_rules.first_number("negative_slope"),
        activation=True,
    ),
    OpFacts(
        ops.Prelu,
        Signature(
            (Param("per_channel", c.boolean, False), Param("init", c.real, 0.25)),
            0,
            build_fields(ops.Prelu, "per_channel", "init"),
        ),
        shape_rules.same_shape,
        flop_rules.per_output(2),
        params=param_rules.prelu,
        activation=True,
    ),
    _activation(ops.Elu, Param("alpha", c.positive_real, 1.0), positional=1),
    _activation(ops.Selu),
    _activation(ops.Gelu, Param("approximate", c.word("none", "tanh"), "none")),
    _activation(
        ops.Softplus, Param("beta", c.positive_real, 1.0), Param("threshold", c.positive_real, 20.0)
    ),
    OpFacts(
        ops.Softmax,
        Signature((Param("axis", c.integer, 0),), 1, build_fields(ops.Softmax, "axis")),
        shape_rules.softmax,
        flop_rules.per_output(3),
        activation=True,
    ),
    OpFacts(
        ops.LogSoftmax,
        Signature((Param("axis", c.integer, 0),), 1, build_fields(ops.LogSoftmax, "axis")),
        shape_rules.softmax,
        flop_rules.per_output(3),
        activation=True,
    ),
    # -- shape and resampling ops --
    OpFacts(
        ops.Permute,
        Signature(
            (Param("axes", c.int_list),),
            1,
            build_fields(ops.Permute, "axes"),
            example="permute(1, 0)",
            variadic=True,
        ),
        resample_rules.permute,
        flop_rules.none,
        summary=resample_rules.permute_text,
        keeps_affine=True,
        takes="any",
    ),
    OpFacts(
        ops.Transpose,
        Signature(
            (Param("axis0", c.integer), Param("axis1", c.integer)),
            2,
            build_fields(ops.Transpose, "axis0", "axis1"),
            example="transpose(0, 1)",
        ),
        resample_rules.transpose,
        flop_rules.none,
        keeps_affine=True,
        takes="any",
    ),
    OpFacts(
        ops.Slice,
        Signature(
            (
                Param("axis", c.integer),
                Param("start", c.integer),
                Param("stop", c.optional_integer, None),
                Param("step", c.positive_int, 1),
            ),
            4,
            build_fields(ops.Slice, "axis", "start", "stop", "step"),
            example="slice(0, 0, 1)",
        ),
        resample_rules.slice_axis,
        flop_rules.none,
        keeps_affine=True,
        takes="any",
    ),
    OpFacts(
        ops.AdaptiveAvgPool,
        Signature(
            (Param("size", c.pair),),
            1,
            build_fields(ops.AdaptiveAvgPool, "size"),
            example="adaptive_avgpool(7)",
        ),
        resample_rules.adaptive_avgpool,
        resample_rules.adaptive_avgpool_flops,
    ),
    OpFacts(
        ops.Upsample,
        Signature(
            (
                Param("scale", c.pair),
                Param("mode", c.word("nearest", "bilinear"), "nearest"),
                Param("align_corners", c.boolean, False),
            ),
            1,
            build_fields(ops.Upsample, "scale", "mode", "align_corners"),
            example="upsample(2, mode = bilinear)",
            validate=resample_rules.validate_upsample,
        ),
        resample_rules.upsample,
        resample_rules.upsample_flops,
    ),
    *SEQUENCE_ENTRIES,
)


def ir_kinds() -> tuple[str, ...]:
    """Every op kind of the IR, in the order of the ``netspec.ir.ops.Op`` union."""
    union = get_args(ops.Op)[0]
    return tuple(str(cls.model_fields["kind"].default) for cls in get_args(union))


def _registry() -> dict[str, OpFacts]:
    """The entries keyed by kind, in the IR's order; every kind must have one."""
    by_kind = {entry.kind: entry for entry in _ENTRIES}
    kinds = ir_kinds()
    missing = [kind for kind in kinds if kind not in by_kind]
    extra = [kind for kind in by_kind if kind not in kinds]
    if missing or extra or len(by_kind) != len(_ENTRIES):
        raise RuntimeError(
            f"the op registry does not match the IR: no entry for {missing}, "
            f"entries for kinds the IR lacks {extra}, or a kind given twice"
        )
    return {kind: by_kind[kind] for kind in kinds}


OPS: dict[str, OpFacts] = _registry()
KINDS: tuple[str, ...] = tuple(OPS)
# The words of the language, in the IR's order (did-you-mean offers them in this order).
LAYER_NAMES: tuple[str, ...] = tuple(k for k, f in OPS.items() if f.signature is not None)
SIGNATURES: dict[str, Signature] = {
    k: f.signature for k, f in OPS.items() if f.signature is not None
}
MERGE_KINDS: frozenset[str] = frozenset(k for k, s in SIGNATURES.items() if s.tensors)
ACTIVATION_KINDS: frozenset[str] = frozenset(k for k, f in OPS.items() if f.activation)
AFFINE_KINDS: frozenset[str] = frozenset(k for k, f in OPS.items() if f.affine)
KEEPS_AFFINE_KINDS: frozenset[str] = frozenset(k for k, f in OPS.items() if f.keeps_affine)
