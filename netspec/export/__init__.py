"""Export of a checked model to other formats: ONNX (``netspec export --format onnx``).

``netspec.export.onnx`` needs the ``onnx`` package (``pip install netspec[onnx]``); it is
imported only when an export is asked for, so the rest of netspec runs without it.
"""

from __future__ import annotations

FORMATS = ("onnx",)
