"""The op registry's entries for the sequence ops: attention, positional embedding, the
recurrent layers and the embedding of integer indices, which :mod:`netspec.ops.table`
joins to the others."""

from __future__ import annotations

from netspec.elaborate import convert as c
from netspec.ir import ops
from netspec.ops import attention as attention_rules
from netspec.ops import flops as flop_rules
from netspec.ops import indices as index_rules
from netspec.ops import recurrent as recurrent_rules
from netspec.ops import text as summary_rules
from netspec.ops.facts import OpFacts
from netspec.ops.signature import Param, Signature, build_fields

SEQUENCE_ENTRIES: tuple[OpFacts, ...] = (
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
