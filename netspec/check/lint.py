"""Warnings: code that is legal but almost certainly not what the author meant."""

from __future__ import annotations

from netspec.diagnostics import Diagnostics, Label
from netspec.ir.graph import CheckedModel, Span
from netspec.ir.train import TrainSpec
from netspec.ops import AFFINE_KINDS, KEEPS_AFFINE_KINDS


def lint(
    model: CheckedModel,
    spans: dict[str, Span],
    train: TrainSpec | None,
    diagnostics: Diagnostics,
) -> None:
    by_name = {node.name: node for node in model.nodes}
    for node in model.nodes:
        if node.op.kind in AFFINE_KINDS and node.inputs:
            source = by_name.get(node.inputs[0])
            # An affine layer seen through these still composes with the next one into
            # a single affine map.
            while source is not None and source.op.kind in KEEPS_AFFINE_KINDS:
                source = by_name.get(source.inputs[0])
            if source is not None and source.op.kind in AFFINE_KINDS:
                diagnostics.warning(
                    "W001",
                    f"{node.op.kind} follows {source.op.kind} with no nonlinearity between them",
                    spans.get(node.name),
                    labels=[
                        Label.model_construct(
                            span=spans[source.name], message="the earlier affine layer"
                        )
                    ]
                    if source.name in spans
                    else [],
                    notes=[
                        "two affine maps compose to one: the extra layer adds parameters, "
                        "not expressiveness"
                    ],
                    help=["insert an activation, e.g. -> relu ->"],
                )
        if node.op.kind == "dropout" and node.op.p == 1.0:
            diagnostics.warning(
                "W003",
                "dropout(1) drops every unit: in training its output is all zeros",
                spans.get(node.name),
                help=["p is the fraction dropped; use a value in [0, 1), e.g. 0.5"],
            )
    if train is not None and train.loss.kind == "softmax_cross_entropy" and model.nodes:
        last = by_name[model.output]
        if last.op.kind in ("softmax", "log_softmax"):
            diagnostics.warning(
                "W002",
                f"the model ends in {last.op.kind}, and softmax_cross_entropy applies its own",
                spans.get(last.name),
                notes=[
                    "the loss is computed on the softmax of these outputs, which flattens "
                    "the gradients and slows training"
                ],
                help=[f"remove the final {last.op.kind}; the model then outputs logits"],
            )
