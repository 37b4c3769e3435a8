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

from dataclasses import dataclass
from typing import Any, get_args

from netspec.elaborate import convert as c
from netspec.ir import ops
from netspec.ops import attention as attention_rules
from netspec.ops import flops as flop_rules
from netspec.ops import indices as index_rules
from netspec.ops import params as param_rules
from netspec.ops import recurrent as recurrent_rules
from netspec.ops import resample as resample_rules
from netspec.ops import shapes as shape_rules
from netspec.ops import text as summary_rules
from netspec.ops.signature import (
    WEIGHT_PARAMS,
    Param,
    Signature,
    build_conv,
    build_dense,
    build_fields,
    build_pool,
    output_padding,
    transpose_padding,
    validate_conv,
    validate_conv2d_transpose,
    validate_dense,
    validate_dropout,
)

_NO_PADDING = ((0, 0), (0, 0))


@dataclass(frozen=True)
class OpFacts:
    """What netspec knows about one op kind, apart from any framework."""

    ir: type[Any]
    signature: Signature | None  # None: the language has no word for it
    shape: shape_rules.ShapeRule
    flops: flop_rules.FlopRule
    params: param_rules.ParamRule = param_rules.none
    state: param_rules.StateRule = param_rules.none
    summary: summary_rules.SummaryRule = summary_rules.keywords_only
    activation: bool = False
    # An affine layer; and ops through which an affine map stays affine (for W001).
    affine: bool = False
    keeps_affine: bool = False
    # The input dtypes the op takes: "float" (floating point), "indices" (integers only:
    # embedding) or "any" (ops that only move values, which keep their input's dtype).
    takes: str = "float"

    @property
    def kind(self) -> str:
        return str(self.ir.model_fields["kind"].default)


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
    # -- sequence ops, on [T, D] --
    OpFacts(
        ops.MultiHeadAttention,
        Signature(
            (
                Param("heads", c.positive_int),
                Param("causal", c.boolean, False),
                Param("dropout", c.fraction, 0.0),
                Param("bias", c.boolean, True),
            ),
            1,
            build_fields(ops.MultiHeadAttention, "heads", "causal", "dropout", "bias"),
            example="multi_head_attention(4, causal = true)",
        ),
        attention_rules.multi_head_attention,
        attention_rules.multi_head_attention_flops,
        params=attention_rules.multi_head_attention_params,
        summary=summary_rules.first_number("heads"),
    ),
    OpFacts(
        ops.PositionalEmbedding,
        Signature(
            (Param("init", c.init_scheme, None),),
            0,
            attention_rules.build_positional_embedding,
            example="positional_embedding(init = normal(std = 0.02))",
        ),
        attention_rules.positional_embedding,
        attention_rules.positional_embedding_flops,
        params=attention_rules.positional_embedding_params,
    ),
    # -- recurrent layers: torch.nn.RNN, LSTM and GRU on [T, F] sequences --
    *(
        OpFacts(
            cls,
            recurrent_rules.signature(cls, example),
            recurrent_rules.shape,
            recurrent_rules.flops,
            params=recurrent_rules.params,
            summary=recurrent_rules.summary,
        )
        for cls, example in (
            (ops.Rnn, "rnn(64)"),
            (ops.Lstm, "lstm(64)"),
            (ops.Gru, "gru(64)"),
        )
    ),
    # -- indices --
    OpFacts(
        ops.Embedding,
        index_rules.SIGNATURE,
        index_rules.embedding,
        flop_rules.none,
        params=index_rules.embedding_params,
        summary=index_rules.embedding_text,
        takes="indices",
    ),
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
