"""A data source's ``augment = [...]``: each entry read and checked at its place, and the
option refused on sources that make no images (part of the train section's elaboration)."""

from __future__ import annotations

from typing import Any

from netspec.elaborate import convert as c
from netspec.elaborate.values import Value
from netspec.ir import train as t
from netspec.ir.graph import Span

AUGMENTATIONS: dict[str, type] = {
    "random_crop": t.RandomCrop,
    "random_shift": t.RandomShift,
    "horizontal_flip": t.HorizontalFlip,
    "random_rotate": t.RandomRotate,
}
# Sources whose samples are never images: augmenting them is refused at the option.
NOT_IMAGES = ("linear", "polynomial", "xor", "spirals", "sine", "adding", "copy", "text")
POSITIONAL: dict[type, tuple[str, ...]] = {
    t.RandomCrop: ("padding",),
    t.RandomShift: ("pixels",),
    t.HorizontalFlip: ("p",),
    t.RandomRotate: ("degrees", "interpolation"),
}


def augmentation(value: Value) -> Any:
    """One entry of a data source's ``augment = [...]``: ``random_crop(4)``, ``horizontal_flip``."""
    # The train elaborator's own reading of calls (it imports this module).
    from netspec.elaborate.train import _argument_span, _choose, typed_call

    name, cls = _choose(AUGMENTATIONS, value, "augmentation")
    spec = typed_call(cls, name, value)
    if isinstance(spec, t.HorizontalFlip) and not 0.0 <= spec.p <= 1.0:
        raise c.Invalid(
            f"horizontal_flip: p is a probability in [0, 1], found {spec.p:g}",
            _argument_span(value, cls, "p"),
            code="E004",
        )
    if isinstance(spec, t.RandomRotate) and not 0.0 < spec.degrees <= 180.0:
        raise c.Invalid(
            f"random_rotate: degrees must be in (0, 180], found {spec.degrees:g}",
            _argument_span(value, cls, "degrees"),
            ["the angle is drawn from [-degrees, degrees], e.g. random_rotate(10)"],
            code="E004",
        )
    return spec


def check_augment_source(name: str, spec: Any, span: Span) -> None:
    """Refuse ``augment`` on a source whose samples are never images."""
    if spec.augment and name in NOT_IMAGES:
        raise c.Invalid(
            f"{name} makes no images: augment applies to image sources (mnist, "
            "fashion_mnist, digits, npz, csv) feeding a model input [C, H, W]",
            span,
            [f"drop augment from {name}"],
            code="E004",
        )
