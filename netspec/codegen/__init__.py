"""Code generation: a checked model as a standalone Python module for one framework.

The generated module depends only on that framework and NumPy (never on netspec), so a
user can keep it. ``generate`` dispatches to ``netspec.codegen.<backend>.generate``.
"""

from __future__ import annotations

import importlib

from netspec._contract import unknown_name
from netspec.codegen.context import CodegenContext, context_for
from netspec.ir import Program

TARGETS = ("torch", "jax", "numpy")


def generate(
    program: Program,
    backend: str,
    *,
    model: str | None = None,
    source_file: str = "<string>",
    source_text: str = "",
) -> str:
    """The source of a standalone module for ``model`` of ``program`` on ``backend``."""
    if backend not in TARGETS:
        raise unknown_name("backend", backend, TARGETS)
    context = context_for(program, model, source_file=source_file, source_text=source_text)
    module = importlib.import_module(f"netspec.codegen.{backend}")
    return module.generate(context)  # type: ignore[no-any-return]


__all__ = ["TARGETS", "CodegenContext", "context_for", "generate"]
