"""The IR's sequence ops: attention, positional embedding, the recurrent layers and the
embedding of integer indices, in their written and checked forms (see ``netspec.ir.ops``,
which joins them to the ``Op`` union and re-exports them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from netspec.ir._base import IRModel
from netspec.ir.init import Init, Normal, Regularize

# -- attention and sequences (multi_head_attention, positional_embedding) -------------------
# On a per-sample [T, D] sequence: time first after the batch axis (torch's batch_first).


class MultiHeadAttention(IRModel):
    """Self-attention over the steps of a [T, D] sequence, as
    torch.nn.MultiheadAttention(D, heads, dropout, bias, batch_first=True) called with
    the sequence as query, key and value; ``causal`` masks each step's later steps, and
    ``dropout`` drops attention weights in training. Its parameters have that module's
    names and layouts and start as it draws them (docs/semantics.md)."""

    kind: Literal["multi_head_attention"] = "multi_head_attention"
    heads: Annotated[int, Field(ge=1)]
    causal: bool = False
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    bias: bool = True


class CheckedPositionalEmbedding(IRModel):
    """A learned table of the input's [T, D] shape (``weight``), added to it: step t's
    features get row t (GPT-2's and BERT's learned position embeddings)."""

    kind: Literal["positional_embedding"] = "positional_embedding"


class PositionalEmbedding(CheckedPositionalEmbedding):
    """positional_embedding as written, with the table's initialisation."""

    weight_init: Init = Normal(std=0.02)


# -- recurrent layers (rnn, lstm, gru) ---------------------------------------------------------
# torch.nn.RNN, LSTM and GRU with batch_first=True on a [T, F] sample (T steps of F
# features), from a zero state. Parameters have torch's names, shapes and gate orders
# (``weight_ih_l0``, ``bias_hh_l1_reverse``...). The output is every step, [T, H * D],
# with ``return_sequences``, else the final state [H * D]: the forward direction's last
# step, then (bidirectional) the backward direction's final state, its step 0 (torch's
# h_n of the last layer). ``dropout`` acts between stacked layers in training only.


class CheckedRnn(IRModel):
    """An Elman RNN (torch.nn.RNN): h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)."""

    kind: Literal["rnn"] = "rnn"
    hidden: Annotated[int, Field(ge=1)]
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    layers: Annotated[int, Field(ge=1)] = 1
    bidirectional: bool = False
    dropout: float = 0.0
    bias: bool = True
    return_sequences: bool = False


class Rnn(CheckedRnn):
    """rnn as written; None initialisers mean torch's uniform(-1/sqrt(hidden), 1/sqrt(hidden))."""

    weight_init: Init | None = None
    bias_init: Init | None = None
    regularize: Regularize = Regularize()


class CheckedLstm(IRModel):
    """A long short-term memory layer (torch.nn.LSTM), gates in torch's order i, f, g, o."""

    kind: Literal["lstm"] = "lstm"
    hidden: Annotated[int, Field(ge=1)]
    layers: Annotated[int, Field(ge=1)] = 1
    bidirectional: bool = False
    dropout: float = 0.0
    bias: bool = True
    return_sequences: bool = False


class Lstm(CheckedLstm):
    """lstm as written; None initialisers mean torch's uniform(-1/sqrt(hidden), 1/sqrt(hidden))."""

    weight_init: Init | None = None
    bias_init: Init | None = None
    regularize: Regularize = Regularize()


class CheckedGru(IRModel):
    """A gated recurrent unit layer (torch.nn.GRU), gates in torch's order r, z, n, with
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

    kind: Literal["gru"] = "gru"
    hidden: Annotated[int, Field(ge=1)]
    layers: Annotated[int, Field(ge=1)] = 1
    bidirectional: bool = False
    dropout: float = 0.0
    bias: bool = True
    return_sequences: bool = False


class Gru(CheckedGru):
    """gru as written; None initialisers mean torch's uniform(-1/sqrt(hidden), 1/sqrt(hidden))."""

    weight_init: Init | None = None
    bias_init: Init | None = None
    regularize: Regularize = Regularize()


# -- indices -----------------------------------------------------------------------------------


class CheckedEmbedding(IRModel):
    """torch.nn.Embedding: row ``i`` of ``weight [num, dim]`` for each index ``i``, so an
    index tensor of any shape gains a last axis of ``dim``. The ``padding_idx`` row gets
    no gradient. Checked: ``padding_idx`` is in [0, num) or None."""

    kind: Literal["embedding"] = "embedding"
    num: int
    dim: int
    padding_idx: Annotated[int, Field(ge=0)] | None = None


class Embedding(CheckedEmbedding):
    """An embedding as written: a negative ``padding_idx`` counts from the end, as in
    PyTorch; the weight starts as torch's, normal(0, 1) with the padding row zeroed."""

    padding_idx: int | None = None  # type: ignore[assignment]
    weight_init: Init = Normal(mean=0.0, std=1.0)
    regularize: Regularize = Regularize()
