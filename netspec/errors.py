"""The one exception type the library raises for bad specs and bad inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netspec.diagnostics import Diagnostic


class NetspecError(Exception):
    """A spec or an input was rejected; ``diagnostics`` holds every problem found."""

    def __init__(self, message: str, diagnostics: tuple[Diagnostic, ...] = ()) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


class ShapeError(NetspecError, ValueError):
    """An array given to a compiled model has the wrong shape or dtype."""
