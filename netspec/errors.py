"""The exceptions netspec raises for bad specs and bad inputs: one root, NetspecError.

Every error says what happened and what was expected in ``message``; how to fix it is
data, ``help`` (one line each), as a :class:`netspec.diagnostics.Diagnostic` carries it.
``str(error)`` renders both, the help lines indented under the message. Subclasses also
derive from the builtin exception a caller would expect (``ValueError`` for a bad value,
``NotImplementedError`` for an op a target cannot run), as Lark's
``ConfigurationError(LarkError, ValueError)`` does, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netspec.diagnostics import Diagnostic

HELP_PREFIX = "\n  help: "


class NetspecError(Exception):
    """A spec or an input was rejected; ``diagnostics`` holds every problem the front end
    found, ``help`` the ways to fix it (possibly none).

    A message written with its help inline (``"...\\n  help: ..."``) is split, so that
    ``help`` is filled for every error and ``message`` holds only what happened.
    """

    def __init__(
        self,
        message: str,
        diagnostics: tuple[Diagnostic, ...] = (),
        *,
        help: str | Sequence[str] = (),
    ) -> None:
        given = (help,) if isinstance(help, str) else tuple(help)
        what, *inline = message.split(HELP_PREFIX)
        self.message = what
        self.help: tuple[str, ...] = (*inline, *given)
        self.diagnostics = diagnostics
        super().__init__("".join([what, *(HELP_PREFIX + line for line in self.help)]))

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from its attributes rather than by calling __init__ again, whose
        # keyword-only arguments differ between subclasses (pickling, multiprocessing).
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(
    cls: type[NetspecError], args: tuple[object, ...], state: dict[str, object]
) -> NetspecError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ShapeError(NetspecError, ValueError):
    """An array given to a compiled model has the wrong shape, dtype or values."""


class UnknownNameError(NetspecError, ValueError):
    """A name (of a loss, an optimizer, a backend...) that is not one of the known ones.

    ``name`` is what was given and ``choices`` the names that would have been accepted.
    """

    def __init__(
        self,
        message: str,
        *,
        name: object,
        choices: Sequence[str],
        help: str | Sequence[str] = (),
    ) -> None:
        super().__init__(message, help=help)
        self.name = name
        self.choices = tuple(choices)


class UnsupportedOpError(NetspecError, NotImplementedError):
    """A backend or code generator has no lowering for an op kind of the IR."""

    def __init__(self, message: str, *, target: str, kind: str) -> None:
        super().__init__(message)
        self.target = target
        self.kind = kind
