"""Colours and line styles shared by the SVG, PNG and PDF renderers."""

from __future__ import annotations

# (fill, stroke) per node category: one hue per family of ops.
COLORS: dict[str, tuple[str, str]] = {
    "input": ("#e4ecf7", "#34558b"),
    "output": ("#e4ecf7", "#34558b"),
    "conv": ("#dbe9f6", "#4a7ab0"),
    "dense": ("#e9e1f4", "#7459a6"),
    "norm": ("#fbf1cf", "#a8871c"),
    "act": ("#e3f1dc", "#5b8c3e"),
    "pool": ("#d9efed", "#3f8f89"),
    "merge": ("#fde3cf", "#c46a1d"),
    "other": ("#efefef", "#7a7a7a"),
}
# (fill, stroke, dash pattern) per cluster kind.
CLUSTERS: dict[str, tuple[str, str, tuple[float, ...]]] = {
    "block": ("#f6f6f4", "#8c8c8c", ()),
    "repeat": ("#fbfbfb", "#8c8c8c", (6.0, 3.0)),
    "copy": ("#ffffff", "#a8a8a8", (2.0, 2.0)),
}
TEXT = "#1b1b1b"
DETAIL = "#555555"
LABEL = "#444444"
EDGE = "#555555"
FONT_FAMILIES = ("DejaVu Sans Mono", "Menlo", "Consolas", "Liberation Mono", "monospace")


def corner(role: str, height: float) -> float:
    """Corner radius: inputs and the output are pills, ops rounded boxes."""
    return height / 2 if role in ("input", "output") else 4.0
