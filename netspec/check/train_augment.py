"""A data source's ``augment`` list against the model it feeds (part of
:class:`netspec.check.train.TrainChecker`).

Augmentations move, mirror and rotate images, so they need samples the model takes as
one image ``[C, H, W]`` of floats; the elaborator already refuses them on sources that
make no images at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netspec.diagnostics import Label
from netspec.ir.graph import INDEX_DTYPES, CheckedModel
from netspec.ir.train import RandomCrop, RandomShift
from netspec.ops.shapes import fmt

if TYPE_CHECKING:
    from netspec.check.train import TrainChecker


def check_augment(checker: TrainChecker, model: CheckedModel) -> None:
    """Report augmentations the model's input or the train section cannot take."""
    augment = checker.spec.data.augment
    if not augment:
        return
    names = ", ".join(entry.kind for entry in augment)
    if len(model.inputs) != 1:
        checker.error(
            "data",
            f"augment ({names}) needs a model of one image input, but model '{model.name}' "
            f"has {len(model.inputs)} inputs",
            help=["drop augment, or augment the images before writing the file"],
        )
        return
    spec = model.inputs[0]
    labels = [
        Label.model_construct(span=span, message=f"{spec.name} is {fmt(tuple(spec.shape))}")
        for span in checker.input_spans.values()
    ]
    if len(spec.shape) != 3 or spec.dtype in INDEX_DTYPES:
        checker.error(
            "data",
            f"augment ({names}) needs image samples [C, H, W] of floats, but model "
            f"'{model.name}' takes {spec.name}: {spec.dtype}{fmt(tuple(spec.shape))}",
            labels=labels,
            help=["drop augment, or give the model an image input such as [1, 28, 28]"],
        )
        return
    if checker.spec.target == "input":
        checker.error(
            "data",
            "augment with target input would change each input but not its target",
            labels=checker.label("target", "each sample is its own target"),
            help=["drop augment, or train on the data's targets"],
        )
    height, width = spec.shape[1], spec.shape[2]
    for entry in augment:
        if isinstance(entry, RandomCrop | RandomShift):
            pixels = entry.padding if isinstance(entry, RandomCrop) else entry.pixels
            if pixels >= min(height, width):
                checker.error(
                    "data",
                    f"{entry.kind} moves images by up to {pixels} pixels, but they are only "
                    f"{height} x {width}: some would be blank",
                    labels=labels,
                    help=[f"use fewer than {min(height, width)} pixels, e.g. {entry.kind}(2)"],
                )
