"""The record of what netspec knows about one op kind (:class:`OpFacts`), which every entry of
the op registry (:mod:`netspec.ops.table` and the topic modules it joins) fills in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netspec.ops import flops as flop_rules
from netspec.ops import params as param_rules
from netspec.ops import shapes as shape_rules
from netspec.ops import text as summary_rules
from netspec.ops.signature import Signature


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
